"""Score predicted class maps against ground truth without torch: the one scoring path of unetkit.

``unetkit test`` (and the evaluation at the end of ``fit``), ``unetkit predict --masks``, ``unetkit kmeans
--masks`` and the benchmarks all score through :func:`score_predictions` (or its accumulator, for callers
that receive predictions one at a time), so the same predictions always give the same numbers. The math is
:mod:`unetkit.metrics.functional`'s (a NumPy confusion matrix summed over all images, scored once).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from unetkit.constants import IGNORE_INDEX
from unetkit.metrics import functional as MF

__all__ = ["ScoreAccumulator", "image_score_cells", "score_predictions"]


# Pixels counted at a time by ScoreAccumulator.update (its temporaries: about 20 bytes a pixel).
SCORE_BLOCK_PIXELS = 1 << 22


class ScoreAccumulator:
    """Sum a confusion matrix (and the ISBI Rand errors) over images; :meth:`compute` scores the totals.

    Args:
        num_classes: C.
        ignore_index: target value whose pixels are skipped.
        isbi: binary (C = 2) ISBI extras ``pixel_error`` and ``rand_error`` (mean over images where it is
            defined), exactly as :class:`~unetkit.metrics.segmentation.SegmentationMetrics` reports them.
        foreground: the cell class for the Rand error (ISBI convention: cells = 1, membranes = 0).
    """

    def __init__(
        self, num_classes: int, ignore_index: int = IGNORE_INDEX, isbi: bool = False, foreground: int = 1
    ) -> None:
        MF.check_scoring_args(num_classes, isbi)
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.isbi = isbi
        self.foreground = foreground
        self.confmat = np.zeros((num_classes, num_classes), dtype=np.int64)
        self.rand_error_sum = 0.0
        self.rand_error_count = 0
        self.images = 0

    def update(self, pred: np.ndarray, target: np.ndarray) -> dict[str, Any]:
        """Add one image: ``pred`` and ``target`` integer (H, W) class maps of equal shape. Returns that
        image's own scores, by the same rule as the pooled ones (:func:`MF.scores_with_isbi` of its
        confusion matrix): ``miou``, ``iou`` (C,), ``pixel_accuracy``, and ``pixel_error``/``rand_error``
        when ``isbi`` (NaN where undefined), for per-image tables (predict's summary.csv)."""
        pred, target = np.asarray(pred), np.asarray(target)
        if pred.ndim != 2:
            raise ValueError(
                f"pred must be one (H, W) class map, got shape {pred.shape}; pass the mask, "
                "predictor.predict(image)[0] (class probabilities (K, H, W): probs.argmax(0))."
            )
        if pred.shape != target.shape:
            raise ValueError(
                f"Shape mismatch: preds {tuple(pred.shape)} and target {tuple(target.shape)} must be equal "
                "(H, W)."
            )
        # In blocks of rows: the count's int64 copies of a 75-megapixel scene took 2 GB more than predicting
        # it (a GIS trial); the counts add up to the same matrix.
        rows = max(1, SCORE_BLOCK_PIXELS // max(1, pred.shape[1]))
        image = np.zeros_like(self.confmat)
        for r in range(0, max(1, pred.shape[0]), rows):
            image += MF.confusion_matrix(
                pred[r : r + rows], target[r : r + rows], self.num_classes, self.ignore_index
            )
        self.confmat += image
        error = float("nan")
        if self.isbi:
            error = float(MF.rand_error(pred, target, self.foreground))
            if not math.isnan(error):  # undefined for this image: skipped, as in SegmentationMetrics
                self.rand_error_sum += error
                self.rand_error_count += 1
        self.images += 1
        own = MF.scores_with_isbi(image, error if self.isbi else None, 0 if math.isnan(error) else 1)
        return {
            key: own[key]
            for key in ("miou", "iou", "pixel_accuracy", "pixel_error", "rand_error")
            if key in own
        }

    def compute(self) -> dict[str, Any]:
        """Score dict: ``pixel_accuracy``, ``miou``, ``mean_dice`` (np.float64), ``iou``, ``dice``,
        ``support`` (C,) arrays, plus ``pixel_error``/``rand_error`` when ``isbi``; then what the scores
        are made of: ``predicted`` (C,) int64 predicted pixels per class (0 for a class the model never
        outputs) and ``confusion`` (C, C) int64, the summed confusion matrix (rows = true class, columns =
        predicted class; ignored pixels left out)."""
        scores = MF.scores_with_isbi(
            self.confmat, self.rand_error_sum if self.isbi else None, self.rand_error_count
        )
        scores["predicted"] = MF.per_class_counts(self.confmat)["predicted"].copy()
        scores["confusion"] = self.confmat.copy()
        return scores


def score_predictions(
    pairs: Iterable[tuple[np.ndarray, np.ndarray]],
    num_classes: int,
    *,
    ignore_index: int = IGNORE_INDEX,
    isbi: bool = False,
    foreground: int = 1,
) -> dict[str, Any]:
    """Scores of (predicted mask (H, W), ground truth (H, W)) pairs, pooled over all pixels of all pairs.

    Example:
        >>> pred = np.array([[0, 1], [1, 1]]); truth = np.array([[0, 1], [0, 255]])
        >>> round(float(score_predictions([(pred, truth)], 2)["miou"]), 4)
        0.5
    """
    acc = ScoreAccumulator(num_classes, ignore_index=ignore_index, isbi=isbi, foreground=foreground)
    for pred, target in pairs:
        acc.update(pred, target)
    return acc.compute()


def image_score_cells(
    scores: dict[str, Any], class_names: Sequence[str], k: int = 0, isbi: bool = False
) -> dict[str, str]:
    """summary.csv's cells of one image's scores (:meth:`ScoreAccumulator.update`'s dict): ``miou``,
    ``pixel_error`` (two classes) or ``pixel_accuracy``, ``rand_error`` (``--isbi``) and ``iou_<class>``,
    six decimals, '' where undefined (a class in neither mask). With empty ``scores``: the columns, blank,
    for ``k`` classes. The one per-image table of predict's summary.csv and an evaluation's
    ``per_image_<split>.csv``."""
    k = k or len(np.asarray(scores.get("iou", ())))
    isbi = isbi or "rand_error" in scores
    names = ["miou", "pixel_error" if k == 2 else "pixel_accuracy", *(["rand_error"] if isbi else [])]
    iou = np.asarray(scores.get("iou", np.full(k, np.nan)), dtype=np.float64)
    values = [scores.get(name, np.nan) for name in names] + list(iou)
    columns = names + [f"iou_{name}" for name in class_names[:k]]
    return {
        column: "" if np.isnan(float(value)) else f"{float(value):.6f}"
        for column, value in zip(columns, values, strict=True)
    }
