#!/usr/bin/env bash
# Speed benchmark against MONAI and segmentation_models.pytorch, in one process (see benchmarks/README.md).
# Creates .venv-bench (torch + the peers + unetkit, ~6 GB) on first use, then runs benchmarks/speed.py;
# extra arguments go to speed.py (e.g. --repeats 5, --device cuda, --sizes 256).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-bench
TORCH_PIN=(torch==2.14.1 torchvision==0.29.1)  # smp needs torchvision; keep the pair matched
if [ ! -f "$VENV/.unetkit-bench-stamp" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install "${TORCH_PIN[@]}"
  "$VENV/bin/pip" install "${TORCH_PIN[@]}" monai segmentation-models-pytorch onnx onnxruntime onnxscript \
    numpy pillow scipy scikit-image safetensors pyyaml tqdm lightning torchmetrics albumentations==2.0.8 \
    matplotlib tifffile
  "$VENV/bin/pip" install -e . --no-deps
  touch "$VENV/.unetkit-bench-stamp"
fi
exec "$VENV/bin/python" benchmarks/speed.py --out benchmarks/results/speed "$@"
