#!/usr/bin/env bash
# Create .venv (if needed) and install flowstone into it, with the extras given as arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv 2>/dev/null || {
    rm -rf .venv
    "$PYTHON" -m pip install --quiet --user virtualenv
    "$PYTHON" -m virtualenv --quiet .venv
  }
fi
extras="${1:-}"
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
# The tests' Azure Blob server, Azurite, comes from the npm registry, pinned by its package-lock.json.
if [[ ",$extras," == *",dev,"* ]]; then
  azurite=tests/servers/azurite
  if [ ! -x "$azurite/node_modules/.bin/azurite-blob" ] \
     || [ "$azurite/package-lock.json" -nt "$azurite/node_modules/.package-lock.json" ]; then
    if command -v npm >/dev/null; then
      npm ci --prefix "$azurite" --no-audit --no-fund --loglevel=error >/dev/null
    else
      echo "npm is missing, so the Azure tests cannot start Azurite: install Node.js and npm (apt-get install npm)." >&2
    fi
  fi
fi
# The card tests drive a real browser: Debian's Chromium and its chromedriver (Selenium comes with the dev extra).
if [[ ",$extras," == *",dev,"* ]] && { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "chromium and chromedriver are missing, so the card tests that use a browser cannot run: install them" \
         "(apt-get install chromium chromium-driver)." >&2
  fi
fi
