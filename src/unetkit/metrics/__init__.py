"""unetkit.metrics: confusion-matrix based segmentation metrics, ISBI measures, reports."""

from unetkit.metrics.functional import (
    confusion_matrix,
    per_class_counts,
    pixel_error,
    rand_error,
    scores_from_confusion,
)
from unetkit.metrics.report import format_metrics_table, scores_to_flat_dict
from unetkit.metrics.segmentation import SegmentationMetrics

__all__ = [
    "SegmentationMetrics",
    "confusion_matrix",
    "format_metrics_table",
    "per_class_counts",
    "pixel_error",
    "rand_error",
    "scores_from_confusion",
    "scores_to_flat_dict",
]
