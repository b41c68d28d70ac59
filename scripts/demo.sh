#!/usr/bin/env bash
# The README's main job: create/refresh .venv, then train, evaluate, predict and draw figures on the
# embedded synthetic data (runs/demo). Extra args go to `unetkit demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/unetkit demo "$@"
