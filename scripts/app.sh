#!/usr/bin/env bash
# Install the runtime dependencies in .venv and start the dashboard on the bundled samples.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  echo "[1/3] Creating the virtual environment .venv"
  python3 -m venv .venv
fi
echo "[2/3] Installing the pinned dependencies (about a minute the first time: torch is large)"
.venv/bin/python -m pip install --disable-pip-version-check --progress-bar on \
  -r requirements.txt | { grep -v "^Requirement already satisfied" || true; }
echo "[3/3] Starting the app: open the URL below (the first page loads PyTorch, a few seconds)"
exec .venv/bin/python -m streamlit run app.py "$@"
