#!/usr/bin/env bash
# The README's test command: create/refresh .venv, then run the test suite (extra args go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
