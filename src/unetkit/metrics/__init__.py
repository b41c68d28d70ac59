"""unetkit.metrics: confusion-matrix based segmentation metrics, ISBI measures, reports.

Importing this package never imports torch: :class:`SegmentationMetrics` (torchmetrics, for training) is
loaded on first access, so the onnxruntime path scores with :func:`score_predictions` alone.
"""

from __future__ import annotations

import importlib
from typing import Any

from unetkit.metrics.functional import (
    confusion_matrix,
    per_class_counts,
    pixel_error,
    rand_error,
    scores_from_confusion,
)
from unetkit.metrics.report import format_metrics_table, scores_to_flat_dict
from unetkit.metrics.scoring import ScoreAccumulator, score_predictions

# Instance metrics (SciPy) load on first access too: scipy.optimize is slow to import.
_INSTANCE = (
    "IOU_THRESHOLDS",
    "InstanceScoreAccumulator",
    "InstanceScores",
    "label_overlap",
    "score_instances",
)
_LAZY = {
    "SegmentationMetrics": "unetkit.metrics.segmentation",
    **dict.fromkeys(_INSTANCE, "unetkit.metrics.instance"),
}

__all__ = [
    "ScoreAccumulator",
    "SegmentationMetrics",
    "confusion_matrix",
    "format_metrics_table",
    "per_class_counts",
    "pixel_error",
    "rand_error",
    "score_predictions",
    "scores_from_confusion",
    "scores_to_flat_dict",
    *_INSTANCE,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
