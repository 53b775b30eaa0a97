"""mlcore: the Classifier Studio engine, from a raw table to a trained, explained, exported
PyTorch classifier. Importable and testable without Streamlit."""
__version__ = "0.1.0"
