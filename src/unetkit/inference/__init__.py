"""Tiled inference, TTA, instance splitting and output writers.

Importing this package never imports torch: :class:`Predictor` (PyTorch) is loaded lazily on first access,
so the onnxruntime path (:class:`OrtPredictor`) runs on machines without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from unetkit.inference.tiling import gaussian_importance_map, tile_inference
from unetkit.inference.tta import DIHEDRAL, tta_probs

_LAZY = {
    "Predictor": "unetkit.inference.predictor",
    "OrtPredictor": "unetkit.inference.ort_backend",
    "BasePredictor": "unetkit.inference.pipeline",
    "instances_from_mask": "unetkit.inference.instances",
    "list_instance_methods": "unetkit.inference.instances",
    "register_instance_method": "unetkit.inference.instances",
}

__all__ = ["DIHEDRAL", "gaussian_importance_map", "tile_inference", "tta_probs", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
