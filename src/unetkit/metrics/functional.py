"""Segmentation metrics as pure functions: confusion matrix, scores derived from it, ISBI measures.

Rule for undefined scores: a class absent from both prediction and target (its row and column of the
confusion matrix are zero) has IoU = Dice = 0 / 0, which we report as NaN ("undefined") and leave out of
the means (``nanmean``). If every class is absent (no valid pixel at all) the means and pixel accuracy are
NaN. A class present in only one of prediction/target has a defined IoU = Dice = 0 and counts in the means.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from skimage.metrics import adapted_rand_error

from unetkit.constants import IGNORE_INDEX

__all__ = [
    "confusion_matrix",
    "per_class_counts",
    "pixel_error",
    "rand_error",
    "scores_from_confusion",
]

ArrayLike = np.ndarray | torch.Tensor


def confusion_matrix(
    preds: torch.Tensor,
    target: torch.Tensor,
    num_classes: int,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """Count pixels per (true class, predicted class) with one ``bincount``.

    Args:
        preds: (N, H, W) (any shape equal to target) integer predicted classes in [0, C).
        target: same shape, integer classes in [0, C) or ``ignore_index`` (those pixels are dropped).
        num_classes: C.

    Returns:
        (C, C) int64 tensor ``cm`` with ``cm[t, p]`` = number of pixels of true class t predicted as p
        (rows = target, columns = prediction), on the device of ``target``.

    Raises:
        ValueError: shape mismatch, or target/pred values outside [0, C) other than ``ignore_index``.
    """
    if preds.shape != target.shape:
        raise ValueError(
            f"Shape mismatch: preds {tuple(preds.shape)} and target {tuple(target.shape)} "
            "must be equal (N, H, W)."
        )
    if preds.is_floating_point() or target.is_floating_point():
        raise TypeError(
            f"preds and target must be integer class maps, got {preds.dtype} and {target.dtype}; "
            "pass logits.argmax(1) as preds."
        )
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}.")
    valid = target != ignore_index
    target_v = target[valid].long()
    preds_v = preds[valid].long()
    bad_t = (target_v < 0) | (target_v >= num_classes)
    if bool(bad_t.any()):
        bad_values = torch.unique(target_v[bad_t]).tolist()[:10]
        raise ValueError(
            f"target contains values {bad_values} outside [0, {num_classes}) "
            f"for num_classes={num_classes} (ignore_index={ignore_index})."
        )
    bad_p = (preds_v < 0) | (preds_v >= num_classes)
    if bool(bad_p.any()):
        raise ValueError(
            f"preds contain values {torch.unique(preds_v[bad_p]).tolist()[:10]} outside [0, {num_classes}) "
            f"for num_classes={num_classes}."
        )
    counts = torch.bincount(target_v * num_classes + preds_v, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).to(torch.int64)


def _float_dtype(device: torch.device) -> torch.dtype:
    # float64 keeps ratios of large pixel counts exact enough; MPS has no float64.
    return torch.float32 if device.type == "mps" else torch.float64


def per_class_counts(cm: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-class ``tp``, ``fp``, ``fn``, ``support`` (true pixels), ``predicted`` pixels; each (C,) int64."""
    if cm.dim() != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix must be square (C, C), got shape {tuple(cm.shape)}.")
    tp = torch.diagonal(cm)
    support = cm.sum(dim=1)
    predicted = cm.sum(dim=0)
    return {"tp": tp, "fp": predicted - tp, "fn": support - tp, "support": support, "predicted": predicted}


def scores_from_confusion(cm: torch.Tensor) -> dict[str, torch.Tensor]:
    """Scores from a (C, C) confusion matrix (rows = target, cols = prediction).

    Returns:
        dict with ``pixel_accuracy`` (scalar, correct / valid pixels), ``iou`` (C,) ``tp / (tp + fp + fn)``,
        ``miou`` (nanmean of iou), ``dice`` (C,) ``2 tp / (2 tp + fp + fn)``, ``mean_dice`` (nanmean),
        ``support`` (C,) int64 true pixels per class. Undefined (0/0) entries are NaN; see the module doc.
    """
    counts = per_class_counts(cm)
    dtype = _float_dtype(cm.device)
    tp = counts["tp"].to(dtype)
    support = counts["support"].to(dtype)
    predicted = counts["predicted"].to(dtype)
    nan = torch.tensor(float("nan"), dtype=dtype, device=cm.device)
    union = support + predicted - tp
    iou = torch.where(union > 0, tp / union.clamp_min(1), nan)
    dice = torch.where(support + predicted > 0, 2 * tp / (support + predicted).clamp_min(1), nan)
    total = cm.sum().to(dtype)
    pixel_accuracy = torch.where(total > 0, tp.sum() / total.clamp_min(1), nan)
    return {
        "pixel_accuracy": pixel_accuracy,
        "iou": iou,
        "miou": torch.nanmean(iou),  # NaN when every entry is NaN
        "dice": dice,
        "mean_dice": torch.nanmean(dice),
        "support": counts["support"],
    }


def _to_numpy(x: ArrayLike) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


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
