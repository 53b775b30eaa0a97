"""Streamlit-side helpers shared by the pages: per-session state and the sidebar."""
