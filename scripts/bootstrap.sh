#!/usr/bin/env bash
# Create or refresh .venv: torch==2.14.1 + torchvision==0.29.1 first (they lie on local disk for Python 3.11;
# a CUDA build that runs on the CPU: Mask R-CNN needs torchvision, which does not import beside the 2.13 CPU
# wheel), then unetkit with its extras.
# Re-running is cheap: the install is skipped while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
if [ ! -x "$VENV/bin/python" ]; then
  echo "[bootstrap] creating $VENV"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.unetkit-stamp"
want=$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[bootstrap] installing dependencies into $VENV (first run takes a few minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
  "$VENV/bin/python" -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
  "$VENV/bin/python" -m pip install -q -e ".[dev]" "torch==2.14.1" "torchvision==0.29.1"
  echo "$want" > "$stamp"
fi
