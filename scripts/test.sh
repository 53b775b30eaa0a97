#!/usr/bin/env bash
# Install test dependencies (venv + Debian's Chromium for the browser tests, nginx for the
# hosting test, PostgreSQL for the store tests), run pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    echo "[1/3] Installing Debian's ${missing[*]} (apt-get, a minute or two)"
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
    if [[ " ${missing[*]} " == *" nginx "* ]]; then
      # apt may start the system's nginx on port 80: the hosting test runs its own
      if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl disable --now nginx >/dev/null 2>&1 || true
      elif command -v service >/dev/null 2>&1; then
        service nginx stop >/dev/null 2>&1 || true
      fi
    fi
  else
    echo "missing: run 'sudo apt-get install -y ${missing[*]}' first" >&2
  fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
echo "[2/3] Installing the pinned Python dependencies into .venv (about a minute the first time)"
.venv/bin/python -m pip install --disable-pip-version-check --progress-bar off \
  -r requirements-dev.txt | { grep -v "^Requirement already satisfied" || true; }
.venv/bin/python -m pip install --disable-pip-version-check --progress-bar off \
  -r requirements-cluster.txt | { grep -v "^Requirement already satisfied" || true; }  # Ray
echo "[3/3] Running the test suite"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
