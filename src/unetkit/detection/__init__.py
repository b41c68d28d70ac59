"""Mask R-CNN for instance segmentation (torchvision), trained from scratch on small, crowded objects.

* :mod:`~unetkit.detection.maskrcnn`: :func:`build_maskrcnn` (backbone, anchors and heads for nuclei) and
  local weight files;
* :mod:`~unetkit.detection.targets`: instance label images -> torchvision targets, images -> tensors;
* :mod:`~unetkit.detection.predictor`: model folders (safetensors + config.json) and
  :class:`MaskRCNNPredictor` (``predict_instances(image) -> labels``).

Training lives in :mod:`unetkit.training.detection` (``unetkit fit-maskrcnn``).
"""

from __future__ import annotations

from unetkit.detection.maskrcnn import ARCHITECTURE, build_maskrcnn, load_maskrcnn_weights
from unetkit.detection.predictor import (
    CLASS_NAMES,
    Detections,
    MaskRCNNPredictor,
    is_maskrcnn_model,
    load_maskrcnn,
    load_maskrcnn_predictor,
    maskrcnn_config,
    paint_instances,
    save_maskrcnn,
)
from unetkit.detection.targets import image_to_tensor, labels_to_target, to_rgb

__all__ = [
    "ARCHITECTURE",
    "CLASS_NAMES",
    "Detections",
    "MaskRCNNPredictor",
    "build_maskrcnn",
    "image_to_tensor",
    "is_maskrcnn_model",
    "labels_to_target",
    "load_maskrcnn",
    "load_maskrcnn_predictor",
    "load_maskrcnn_weights",
    "maskrcnn_config",
    "paint_instances",
    "save_maskrcnn",
    "to_rgb",
]
