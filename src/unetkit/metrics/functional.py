"""Segmentation metrics as pure functions: confusion matrix, scores derived from it, ISBI measures.

Rule for undefined scores: a class absent from both prediction and target (its row and column of the
confusion matrix are zero) has IoU = Dice = 0 / 0, which we report as NaN ("undefined") and leave out of
the means (``nanmean``). If every class is absent (no valid pixel at all) the means and pixel accuracy are
NaN. A class present in only one of prediction/target has a defined IoU = Dice = 0 and counts in the means.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage
from skimage.metrics import adapted_rand_error

from unetkit.constants import IGNORE_INDEX
from unetkit.options import check_positive_int

__all__ = [
    "confusion_matrix",
    "per_class_counts",
    "pixel_error",
    "rand_error",
    "scores_from_confusion",
    "scores_with_isbi",
]

# NumPy arrays or torch tensors. This module never imports torch itself, so the onnxruntime path (no torch
# installed) scores with the same code as training; a torch tensor in gives torch tensors out.
ArrayLike = Any


def _is_torch(x: object) -> bool:
    # Duck-typed so that NumPy-only callers never import torch.
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def confusion_matrix(
    preds: ArrayLike,
    target: ArrayLike,
    num_classes: int,
    ignore_index: int = IGNORE_INDEX,
) -> ArrayLike:
    """Count pixels per (true class, predicted class) with one ``bincount``.

    Args:
        preds: (N, H, W) (any shape equal to target) integer predicted classes in [0, C); a NumPy array or
            a torch tensor (counted on its device).
        target: same shape and kind, integer classes in [0, C) or ``ignore_index`` (those pixels are dropped).
        num_classes: C.

    Returns:
        (C, C) int64 ``cm`` with ``cm[t, p]`` = number of pixels of true class t predicted as p (rows =
        target, columns = prediction): a tensor on the device of ``target`` for tensors, else an ndarray.

    Raises:
        ValueError: shape mismatch, or target/pred values outside [0, C) other than ``ignore_index``.
    """
    if tuple(preds.shape) != tuple(target.shape):
        raise ValueError(
            f"Shape mismatch: preds {tuple(preds.shape)} and target {tuple(target.shape)} "
            "must be equal (N, H, W)."
        )
    torch_in = _is_torch(target)
    if torch_in != _is_torch(preds):
        raise TypeError("preds and target must both be torch tensors or both be NumPy arrays.")
    floating = (
        (preds.is_floating_point() or target.is_floating_point())
        if torch_in
        else (np.issubdtype(preds.dtype, np.floating) or np.issubdtype(target.dtype, np.floating))
    )
    if floating:
        raise TypeError(
            f"preds and target must be integer class maps, got {preds.dtype} and {target.dtype}; "
            "pass logits.argmax(1) as preds."
        )
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}.")
    valid = target != ignore_index
    if torch_in:
        target_v, preds_v = target[valid].long(), preds[valid].long()
    else:
        target_v, preds_v = target[valid].astype(np.int64), preds[valid].astype(np.int64)
    bad_t = (target_v < 0) | (target_v >= num_classes)
    if bool(bad_t.any()):
        bad_values = _unique(target_v[bad_t])
        if num_classes == 2 and min(bad_values) > 1:
            # Two classes and ids above 1: almost always an instance label image (one id per object).
            fix = (
                "instance labels (0 = background)? pass labels > 0 as the truth, or score the objects with "
                "unetkit.metrics.score_instances(labels, predicted_labels)"
            )
        else:
            fix = "pass num_classes=<the number of classes>, or ignore_index=<the truth's void value>"
        raise ValueError(
            f"target contains values {bad_values} outside [0, {num_classes}) "
            f"for num_classes={num_classes} (ignore_index={ignore_index}); {fix}."
        )
    bad_p = (preds_v < 0) | (preds_v >= num_classes)
    if bool(bad_p.any()):
        raise ValueError(
            f"preds contain values {_unique(preds_v[bad_p])} outside [0, {num_classes}) "
            f"for num_classes={num_classes}."
        )
    flat = target_v * num_classes + preds_v
    if torch_in:
        import torch

        return (
            torch.bincount(flat, minlength=num_classes * num_classes)
            .to(torch.int64)
            .reshape(num_classes, num_classes)
        )
    return (
        np.bincount(flat, minlength=num_classes * num_classes)
        .astype(np.int64)
        .reshape(num_classes, num_classes)
    )


def _unique(values: ArrayLike) -> list[int]:
    array = values.detach().cpu().numpy() if _is_torch(values) else np.asarray(values)
    return [int(v) for v in np.unique(array)[:10]]


def per_class_counts(cm: ArrayLike) -> dict[str, ArrayLike]:
    """Per-class ``tp``, ``fp``, ``fn``, ``support`` (true pixels), ``predicted`` pixels; each (C,) int64."""
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix must be square (C, C), got shape {tuple(cm.shape)}.")
    tp = cm.diagonal()
    support = cm.sum(1)
    predicted = cm.sum(0)
    return {"tp": tp, "fp": predicted - tp, "fn": support - tp, "support": support, "predicted": predicted}


def scores_from_confusion(cm: ArrayLike) -> dict[str, ArrayLike]:
    """Scores from a (C, C) confusion matrix (rows = target, cols = prediction).

    Returns:
        dict with ``pixel_accuracy`` (scalar, correct / valid pixels), ``iou`` (C,) ``tp / (tp + fp + fn)``,
        ``miou`` (nanmean of iou), ``dice`` (C,) ``2 tp / (2 tp + fp + fn)``, ``mean_dice`` (nanmean),
        ``support`` (C,) int64 true pixels per class. Undefined (0/0) entries are NaN; see the module doc.
        NumPy in: float64 NumPy scalars/arrays out. Tensor in: tensors on its device (float32 on MPS,
        which has no float64) computed by the same NumPy code (the matrix is only C x C).
    """
    if _is_torch(cm):
        import torch

        scores = scores_from_confusion(cm.detach().cpu().numpy())
        dtype = torch.float32 if cm.device.type == "mps" else torch.float64
        return {
            k: torch.as_tensor(v, device=cm.device, dtype=torch.int64 if k == "support" else dtype)
            for k, v in scores.items()
        }
    cm = np.asarray(cm, dtype=np.int64)
    counts = per_class_counts(cm)
    # float64 keeps ratios of large pixel counts exact enough.
    tp = counts["tp"].astype(np.float64)
    support = counts["support"].astype(np.float64)
    predicted = counts["predicted"].astype(np.float64)
    union = support + predicted - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
        dice = np.where(support + predicted > 0, 2 * tp / np.maximum(support + predicted, 1), np.nan)
    total = float(cm.sum())
    pixel_accuracy = np.float64(tp.sum() / total) if total > 0 else np.float64(np.nan)
    return {
        "pixel_accuracy": pixel_accuracy,
        "iou": iou,
        "miou": _nanmean(iou),  # NaN when every entry is NaN
        "dice": dice,
        "mean_dice": _nanmean(dice),
        "support": counts["support"],
    }


def _nanmean(values: np.ndarray) -> np.float64:
    # np.nanmean warns on all-NaN input; the NaN result is the documented answer, not a problem.
    finite = values[~np.isnan(values)]
    return np.float64(finite.mean()) if finite.size else np.float64(np.nan)


def scores_with_isbi(
    cm: ArrayLike, rand_error_sum: ArrayLike | float | None = None, rand_error_count: ArrayLike | int = 0
) -> dict[str, ArrayLike]:
    """:func:`scores_from_confusion` plus ``pixel_error`` for binary (2-class) scores and, when
    ``rand_error_sum`` is given, ``rand_error`` too (the ISBI extras).

    ``pixel_error`` = 1 - pixel accuracy (mismatched / valid pixels over all images): the headline of binary
    segmentation (ISBI 2012 as ``unetkit fit DIR`` reads it from a plain folder, vessels, membranes);
    ``rand_error`` = ``rand_error_sum / rand_error_count`` (the mean over images where it is defined; NaN when
    none is).
    The one place that turns accumulated counts into the reported score dict, used by
    :class:`~unetkit.metrics.segmentation.SegmentationMetrics` and
    :func:`~unetkit.metrics.scoring.score_predictions`.
    """
    scores = scores_from_confusion(cm)
    if rand_error_sum is None:
        if tuple(cm.shape) == (2, 2):
            scores["pixel_error"] = 1.0 - scores["pixel_accuracy"]
        return scores
    scores["pixel_error"] = 1.0 - scores["pixel_accuracy"]
    value = np.float64(float(rand_error_sum) / int(rand_error_count)) if int(rand_error_count) > 0 else np.nan
    if _is_torch(cm):
        import torch

        scores["rand_error"] = torch.tensor(float(value), dtype=torch.float64, device=cm.device)
    else:
        scores["rand_error"] = np.float64(value)
    return scores


def _to_numpy(x: ArrayLike) -> np.ndarray:
    return x.detach().cpu().numpy() if _is_torch(x) else np.asarray(x)


def pixel_error(pred: ArrayLike, target: ArrayLike, ignore_index: int | None = IGNORE_INDEX) -> float:
    """ISBI 2012 pixel error: fraction of (non-ignored) pixels whose predicted label differs from the truth.

    For binary maps this is the challenge's squared Euclidean distance between the label images divided by
    the number of pixels. Returns NaN when no pixel is valid.
    """
    pred_np, target_np = _to_numpy(pred), _to_numpy(target)
    if pred_np.shape != target_np.shape:
        raise ValueError(f"Shape mismatch: pred {pred_np.shape} and target {target_np.shape} must be equal.")
    valid = np.ones(target_np.shape, bool) if ignore_index is None else target_np != ignore_index
    n = int(valid.sum())
    if n == 0:
        return float("nan")
    return float(np.count_nonzero(pred_np[valid] != target_np[valid]) / n)


def rand_error(
    pred: ArrayLike,
    target: ArrayLike,
    foreground: int = 1,
) -> float:
    """ISBI 2012 foreground-restricted Rand error of one binary image: ``1 - F`` of Rand precision/recall.

    Convention (ours, ISBI data): cells = ``foreground`` (1), membranes = 0. The true and the predicted
    segmentations are the 4-connected components of the cell class (``scipy.ndimage.label``); membrane
    pixels get label 0. ``skimage.metrics.adapted_rand_error(true, pred)`` then ignores pixels that are
    membrane (or ``ignore_index``, which is never the foreground) in the *truth*, while predicted membrane
    pixels inside true cells still count as one extra segment. We return skimage's error ``are = 1 - F``:
    0 for identical segmentations, larger for splits and merges.

    Shape:
        pred, target: (H, W) integer label maps. Returns NaN when the truth has fewer than 2 foreground
        pixels (no pixel pairs: the score is 0/0).
    """
    pred_np, target_np = _to_numpy(pred), _to_numpy(target)
    if pred_np.shape != target_np.shape or pred_np.ndim != 2:
        raise ValueError(
            f"rand_error needs two (H, W) maps of equal shape, got pred {pred_np.shape} and target "
            f"{target_np.shape}."
        )
    true_fg = target_np == foreground
    if int(true_fg.sum()) < 2:
        return float("nan")
    true_segments, _ = ndimage.label(true_fg)
    pred_segments, _ = ndimage.label(pred_np == foreground)
    # precision/recall may be 0/0 (e.g. every predicted segment is one pixel); the F-score is still defined.
    with np.errstate(divide="ignore", invalid="ignore"):
        error, _, _ = adapted_rand_error(true_segments, pred_segments, ignore_labels=(0,))
    return float(error)


#: Why one class (a single sigmoid logit) is refused: a target's foreground 1 would be "outside [0, 1)".
ONE_CLASS_MESSAGE = (
    "{what}: unetkit trains binary segmentation as 2 classes (softmax over background/foreground); "
    "use num_classes=2."
)


def check_scoring_args(num_classes: object, isbi: bool) -> int:
    """The one check of a scorer's settings (torch :class:`SegmentationMetrics` and NumPy
    :class:`ScoreAccumulator` alike): ``num_classes`` a positive int; the ISBI measures need binary data."""
    classes = check_positive_int(num_classes, "num_classes")
    if classes == 1:
        raise ValueError(ONE_CLASS_MESSAGE.format(what="num_classes=1"))
    if isbi and classes != 2:
        raise ValueError(f"isbi=True needs binary data (num_classes=2), got num_classes={classes}.")
    return classes
