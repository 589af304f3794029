#!/usr/bin/env bash
# Set everything up and run every check and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh dev
.venv/bin/ruff check src tests bench examples
.venv/bin/mypy
.venv/bin/lint-imports
.venv/bin/pytest -n 2 "$@"
