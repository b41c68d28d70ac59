"""Instance segmentation metrics on label images: IoU matching, average precision, SEG, splits and merges.

NumPy/SciPy only (torch-free). A label image is an (H, W) array of non-negative integers: 0 = background,
every other value one object (ids need not be consecutive).

* **Overlap**: a sparse contingency table of the two label images, built with one ``np.unique`` over the
  pixels where both are foreground (paired ``(true, pred)`` ids packed into one int64 key). Cost
  O(pixels log pixels) and memory O(overlapping pairs), whatever the number of objects; no per-object masks.
* **Matching** at IoU threshold t: one-to-one, a pair matches when IoU > t (strictly, as the DSB2018 scoring
  kernel; StarDist uses >=, which only differs for an IoU exactly equal to t). For t >= 0.5 the matching is
  unique without any optimisation: IoU(p, a) > 0.5 means p overlaps a by more than half of p, so p can have
  such a partner only once (and vice versa). For t < 0.5 it is found with
  ``scipy.optimize.linear_sum_assignment`` with StarDist's cost, which first maximises the number of matches,
  then their total IoU.
* **Average precision** at t (DSB2018, StarDist): ``AP_t = TP / (TP + FP + FN)``; ``map`` is its mean over
  t = 0.5, 0.55, ..., 0.95. An image with no true and no predicted object scores 1 (nothing to find and
  nothing found wrongly; StarDist's 0/0 gives 0 there; no DSB2018 image is empty).
* **SEG** (Cell Tracking Challenge): for each reference (true) object R the predicted object S with
  ``|R ∩ S| > |R| / 2`` (at most one exists), scored ``|R ∩ S| / |R ∪ S|``; a reference without such an S
  scores 0; SEG is the mean over reference objects (NaN for an image without reference objects).
* **Splits and merges**, by the same more-than-half rule from both sides: a *split* is a true object that
  holds more than half of the pixels of each of two or more predicted objects (it was cut into pieces); a
  *merge* is a predicted object that holds more than half of the pixels of each of two or more true objects
  (they were fused). Each object has at most one such partner, so a count never double-counts an object.

Over a dataset (:class:`InstanceScoreAccumulator`): AP values are computed per image and averaged over
images, as the DSB2018 leaderboard did (every image weighs the same, whatever its number of nuclei; this is
the number papers on DSB2018 report). The pooled variant (TP/FP/FN summed over images first, StarDist's
``matching_dataset``) is reported beside it as ``*_pooled``. SEG is pooled over reference objects, as the
Cell Tracking Challenge computes it; splits and merges are summed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = [
    "IOU_THRESHOLDS",
    "InstanceScoreAccumulator",
    "InstanceScores",
    "Overlap",
    "flat_instance_scores",
    "format_instance_table",
    "label_overlap",
    "match_instances",
    "score_instances",
]

# Literals rather than np.arange: each is the double nearest to its decimal, exactly as an IoU of, say,
# 11/20 computes to, so "IoU > t" is decided correctly at the boundary.
IOU_THRESHOLDS: tuple[float, ...] = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def _check_labels(labels: object, name: str) -> np.ndarray:
    if not isinstance(labels, np.ndarray) or labels.ndim != 2:
        got = labels.shape if isinstance(labels, np.ndarray) else type(labels).__name__
        raise ValueError(f"{name} must be an (H, W) label image, got {got}.")
    if labels.dtype == np.bool_:
        return labels.astype(np.uint8)
    if labels.dtype.kind not in "ui":
        raise ValueError(
            f"{name} must hold integer labels, got dtype {labels.dtype}; convert with astype(int)."
        )
    if labels.dtype.kind == "i" and labels.size and int(labels.min()) < 0:
        raise ValueError(f"{name} has negative labels (min {int(labels.min())}); labels must be >= 0.")
    return labels


def _object_ids(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids (n,), index (H*W,) int64 with 0 = background and k = ids[k - 1], areas (n,) int64)."""
    flat = labels.ravel()
    top = int(flat.max()) if flat.size else 0
    if top <= max(4 * flat.size, 65536):
        if flat.dtype == np.uint64:
            flat = flat.astype(np.int64)  # bincount refuses uint64; the values are small here
        # Ids of a label image are small: a bincount and a lookup table are O(pixels), 5x faster than the
        # sort inside np.unique(return_inverse=True) on a 1-megapixel image.
        counts = np.bincount(flat, minlength=1)
        ids = np.flatnonzero(counts[1:]) + 1
        lut = np.zeros(counts.size, dtype=np.int64)
        lut[ids] = np.arange(1, ids.size + 1)
        return ids, lut[flat], counts[ids].astype(np.int64)
    ids, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    inverse = inverse.astype(np.int64, copy=False)
    if ids.size and ids[0] == 0:
        return ids[1:], inverse, counts[1:].astype(np.int64)
    return ids, inverse + 1, counts.astype(np.int64)  # no background pixel at all


@dataclass(frozen=True)
class Overlap:
    """Sparse contingency table of a true and a predicted label image.

    Attributes:
        true_ids, pred_ids: (n_true,), (n_pred,) object labels present (sorted, 0 excluded).
        true_areas, pred_areas: (n_true,), (n_pred,) pixels per object.
        pair_true, pair_pred: (P,) indices into ``true_ids`` / ``pred_ids`` of every overlapping pair.
        pair_intersection: (P,) overlapping pixels of each pair (> 0).
    """

    true_ids: np.ndarray
    pred_ids: np.ndarray
    true_areas: np.ndarray
    pred_areas: np.ndarray
    pair_true: np.ndarray
    pair_pred: np.ndarray
    pair_intersection: np.ndarray

    @property
    def n_true(self) -> int:
        return int(self.true_ids.size)

    @property
    def n_pred(self) -> int:
        return int(self.pred_ids.size)

    @property
    def pair_iou(self) -> np.ndarray:
        """(P,) IoU of each overlapping pair (float64)."""
        inter = self.pair_intersection.astype(np.float64)
        union = self.true_areas[self.pair_true] + self.pred_areas[self.pair_pred] - self.pair_intersection
        return inter / union

    def iou_matrix(self) -> np.ndarray:
        """Dense (n_true, n_pred) IoU matrix (0 where objects do not overlap)."""
        out = np.zeros((self.n_true, self.n_pred), dtype=np.float64)
        out[self.pair_true, self.pair_pred] = self.pair_iou
        return out


def label_overlap(true: np.ndarray, pred: np.ndarray) -> Overlap:
    """Sparse contingency table of two (H, W) label images (see :class:`Overlap`)."""
    true = _check_labels(true, "true labels")
    pred = _check_labels(pred, "predicted labels")
    if true.shape != pred.shape:
        raise ValueError(f"true and predicted labels differ in size: {true.shape} vs {pred.shape}.")
    true_ids, t_index, true_areas = _object_ids(true)
    pred_ids, p_index, pred_areas = _object_ids(pred)
    both = (t_index > 0) & (p_index > 0)
    # One key per (true, pred) pixel pair; np.unique counts every overlapping pair at once.
    stride = np.int64(pred_ids.size + 1)
    keys, counts = np.unique(t_index[both] * stride + p_index[both], return_counts=True)
    return Overlap(
        true_ids=true_ids,
        pred_ids=pred_ids,
        true_areas=true_areas,
        pred_areas=pred_areas,
        pair_true=(keys // stride - 1).astype(np.int64),
        pair_pred=(keys % stride - 1).astype(np.int64),
        pair_intersection=counts.astype(np.int64),
    )


def match_instances(ov: Overlap, threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-to-one matching of true and predicted objects with IoU > ``threshold``.

    Returns:
        (true_index (M,), pred_index (M,), iou (M,)): indices into ``ov.true_ids`` / ``ov.pred_ids``.
    """
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"IoU threshold must be in [0, 1), got {threshold}.")
    iou = ov.pair_iou
    keep = iou > threshold
    t_idx, p_idx, scores = ov.pair_true[keep], ov.pair_pred[keep], iou[keep]
    if threshold >= 0.5 or scores.size == 0:
        return t_idx, p_idx, scores  # unique: see the module docstring
    # Below 0.5 an object may have several candidates: solve the assignment on the candidates only.
    rows, t_local = np.unique(t_idx, return_inverse=True)
    cols, p_local = np.unique(p_idx, return_inverse=True)
    matrix = np.zeros((rows.size, cols.size), dtype=np.float64)
    matrix[t_local, p_local] = scores
    # StarDist's cost: -1 per match dominates (the IoU term sums to at most 1/2), so the number of matches
    # is maximised first, then the total IoU among maximum matchings.
    n = min(rows.size, cols.size)
    cost = -(matrix > threshold).astype(np.float64) - matrix / (2 * n)
    r, c = linear_sum_assignment(cost)
    ok = matrix[r, c] > threshold
    return rows[r[ok]], cols[c[ok]], matrix[r[ok], c[ok]]


def _ap(tp: int, n_true: int, n_pred: int) -> float:
    denominator = n_true + n_pred - tp  # TP + FP + FN
    return 1.0 if denominator == 0 else tp / denominator


@dataclass(frozen=True)
class InstanceScores:
    """Instance scores of one image (or the counts behind them).

    Attributes:
        n_true, n_pred: objects in the true and the predicted label image.
        thresholds: IoU thresholds of ``tp``.
        tp: true positives (matched pairs) at each threshold.
        seg_sum: sum of the SEG Jaccard values over the reference objects (SEG = seg_sum / n_true).
        splits: true objects split into two or more predicted objects.
        merges: predicted objects that merge two or more true objects.
    """

    n_true: int
    n_pred: int
    thresholds: tuple[float, ...]
    tp: tuple[int, ...]
    seg_sum: float
    splits: int
    merges: int

    def _index(self, threshold: float) -> int:
        for i, t in enumerate(self.thresholds):
            if math.isclose(t, threshold, abs_tol=1e-9):
                return i
        raise ValueError(f"IoU threshold {threshold} was not scored; scored: {list(self.thresholds)}.")

    def ap(self, threshold: float) -> float:
        """TP / (TP + FP + FN) at ``threshold`` (1.0 when there is no true and no predicted object)."""
        return _ap(self.tp[self._index(threshold)], self.n_true, self.n_pred)

    def fp(self, threshold: float) -> int:
        return self.n_pred - self.tp[self._index(threshold)]

    def fn(self, threshold: float) -> int:
        return self.n_true - self.tp[self._index(threshold)]

    @property
    def ap50(self) -> float:
        return self.ap(0.5)

    @property
    def ap75(self) -> float:
        return self.ap(0.75)

    @property
    def map(self) -> float:
        """Mean of AP over ``thresholds`` (0.5:0.05:0.95 by default)."""
        return float(np.mean([_ap(tp, self.n_true, self.n_pred) for tp in self.tp]))

    @property
    def seg(self) -> float:
        """Cell Tracking Challenge SEG (NaN without reference objects)."""
        return self.seg_sum / self.n_true if self.n_true else math.nan

    def as_dict(self) -> dict[str, Any]:
        """Counts and scores as plain Python values (JSON-ready; ap50/ap75 only when scored)."""
        out = asdict(self)
        out["thresholds"] = list(self.thresholds)
        out["tp"] = list(self.tp)
        out["map"] = self.map
        out["seg"] = self.seg
        for key, t in (("ap50", 0.5), ("ap75", 0.75)):
            if any(math.isclose(t, x, abs_tol=1e-9) for x in self.thresholds):
                out[key] = self.ap(t)
        return out


def _check_thresholds(thresholds: Sequence[float]) -> tuple[float, ...]:
    ts = tuple(float(t) for t in thresholds)
    if not ts or any(not 0.0 <= t < 1.0 for t in ts):
        raise ValueError(f"IoU thresholds must be a non-empty list of values in [0, 1), got {list(ts)}.")
    return ts


def score_instances(
    true: np.ndarray, pred: np.ndarray, thresholds: Sequence[float] = IOU_THRESHOLDS
) -> InstanceScores:
    """Score one predicted (H, W) label image against the true one (see the module docstring)."""
    ts = _check_thresholds(thresholds)
    ov = label_overlap(true, pred)
    tp = tuple(int(match_instances(ov, t)[0].size) for t in ts)
    inter = ov.pair_intersection
    # "More than half" compared in integers (2 * inter > area): no rounding at exactly one half.
    covers = 2 * inter > ov.true_areas[ov.pair_true]  # pred holds > half of the true object
    belongs = 2 * inter > ov.pred_areas[ov.pair_pred]  # true holds > half of the predicted object
    seg_sum = float(ov.pair_iou[covers].sum())
    merges = int(np.count_nonzero(np.bincount(ov.pair_pred[covers], minlength=ov.n_pred) >= 2))
    splits = int(np.count_nonzero(np.bincount(ov.pair_true[belongs], minlength=ov.n_true) >= 2))
    return InstanceScores(ov.n_true, ov.n_pred, ts, tp, seg_sum, splits, merges)


class InstanceScoreAccumulator:
    """Scores a dataset image by image; :meth:`compute` gives the dataset scores.

    Example::

        acc = InstanceScoreAccumulator()
        for true, pred in pairs:
            acc.update(true, pred)
        acc.compute()["map"]
    """

    def __init__(self, thresholds: Sequence[float] = IOU_THRESHOLDS) -> None:
        self.thresholds = _check_thresholds(thresholds)
        self.images: list[InstanceScores] = []

    def update(self, true: np.ndarray, pred: np.ndarray) -> InstanceScores:
        """Score one image and keep its counts; returns its :class:`InstanceScores`."""
        scores = score_instances(true, pred, self.thresholds)
        self.images.append(scores)
        return scores

    def compute(self) -> dict[str, Any]:
        """Dataset scores: ``ap50``, ``ap75``, ``map`` (means over images, DSB2018), ``seg`` (pooled over
        reference objects, CTC), ``ap_per_threshold``, the ``*_pooled`` AP variants (counts summed over
        images), and the totals ``images``, ``n_true``, ``n_pred``, ``splits``, ``merges``."""
        if not self.images:
            raise ValueError("no image was scored; call update(true, pred) first.")
        per_image = np.array(
            [[_ap(tp, s.n_true, s.n_pred) for tp in s.tp] for s in self.images], dtype=np.float64
        )  # (images, thresholds)
        n_true = sum(s.n_true for s in self.images)
        n_pred = sum(s.n_pred for s in self.images)
        tp_total = np.sum([s.tp for s in self.images], axis=0)
        pooled = np.array([_ap(int(tp), n_true, n_pred) for tp in tp_total])
        image_mean = per_image.mean(axis=0)
        out: dict[str, Any] = {
            "images": len(self.images),
            "n_true": n_true,
            "n_pred": n_pred,
        }
        for key, t in (("ap50", 0.5), ("ap75", 0.75)):
            i = next((k for k, x in enumerate(self.thresholds) if math.isclose(x, t, abs_tol=1e-9)), None)
            if i is not None:
                out[key] = float(image_mean[i])
                out[f"{key}_pooled"] = float(pooled[i])
        out["map"] = float(image_mean.mean())
        out["map_pooled"] = float(pooled.mean())
        out["seg"] = sum(s.seg_sum for s in self.images) / n_true if n_true else math.nan
        out["splits"] = sum(s.splits for s in self.images)
        out["merges"] = sum(s.merges for s in self.images)
        out["ap_per_threshold"] = {f"{t:.2f}": float(v) for t, v in zip(self.thresholds, image_mean)}
        return out


# The dataset scores reported everywhere (``unetkit test``, the benchmark), in table order.
SUMMARY_KEYS = ("ap50", "ap75", "map", "seg", "splits", "merges")


def flat_instance_scores(scores: dict[str, Any], prefix: str = "instances/") -> dict[str, Any]:
    """:meth:`InstanceScoreAccumulator.compute` output as flat ``{prefix + key: value}`` (JSON-ready;
    ``ap_per_threshold`` stays one nested dict)."""
    return {f"{prefix}{key}": value for key, value in scores.items()}


def format_instance_table(scores: dict[str, Any]) -> str:
    """Markdown ``| AP50 | AP75 | mAP | SEG | splits | merges |`` of the dataset scores, then the object
    counts line."""

    def cell(key: str) -> str:
        value = scores[key]
        if isinstance(value, (int, np.integer)):
            return str(int(value))
        return "n/a" if math.isnan(float(value)) else f"{float(value):.4f}"

    return "\n".join(
        [
            "| AP50 | AP75 | mAP | SEG | splits | merges |",
            "|---:|---:|---:|---:|---:|---:|",
            "| " + " | ".join(cell(k) for k in SUMMARY_KEYS) + " |",
            "",
            f"objects: {scores['n_true']} true, {scores['n_pred']} predicted in {scores['images']} images "
            "(AP: per image, mean over images; SEG: pooled over true objects)",
        ]
    )
