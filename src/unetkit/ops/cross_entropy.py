"""Per-pixel cross-entropy with one-hot targets, as a readable NumPy reference.

The lecture's loss, written out: one-hot encode the label map, softmax the logits of every pixel over the
classes, take ``-log`` of the probability of the true class, and average over the labelled pixels (pixels
equal to ``ignore_index`` count neither in the sum nor in the divisor). ``-log p_true`` is computed as
``log(sum_j exp(z_j)) - z_true``, the same number, which stays finite where ``p_true`` underflows to 0.
``torch.nn.functional.cross_entropy`` with the same ``ignore_index`` is the oracle in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from unetkit.constants import IGNORE_INDEX
from unetkit.ops._utils import check_int

__all__ = ["CrossEntropySteps", "cross_entropy", "cross_entropy_steps", "log_sum_exp", "one_hot", "softmax"]


def _labels(labels: ArrayLike, num_classes: int, ignore_index: int) -> NDArray[np.int64]:
    """Labels as an int64 (H, W) array; a value that is neither a class nor ``ignore_index`` is an error."""
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise ValueError(f"labels must be an (H, W) map of class indices, got shape {arr.shape}.")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"labels must be integers (class indices), got dtype {arr.dtype}.")
    arr = arr.astype(np.int64)
    bad = (arr != ignore_index) & ((arr < 0) | (arr >= num_classes))
    if bad.any():
        values = sorted({int(v) for v in arr[bad]})
        raise ValueError(
            f"labels hold {values}, outside the classes 0..{num_classes - 1} and not ignore_index "
            f"{ignore_index}; pass the right num_classes or mark unlabelled pixels with {ignore_index}."
        )
    return arr


def one_hot(labels: ArrayLike, num_classes: int, ignore_index: int = IGNORE_INDEX) -> NDArray[np.float64]:
    """One-hot encoding ``(num_classes, H, W)`` of an (H, W) label map; ignored pixels are all zeros.

    Raises ValueError for a label outside ``0..num_classes-1`` that is not ``ignore_index``.
    """
    num_classes = check_int(num_classes, "num_classes", minimum=1)
    arr = _labels(labels, num_classes, ignore_index)
    classes = np.arange(num_classes)[:, np.newaxis, np.newaxis]
    return (arr[np.newaxis] == classes).astype(np.float64)


def softmax(logits: ArrayLike, axis: int = 0) -> NDArray[np.float64]:
    """Softmax along ``axis`` (the class axis of (K, H, W) logits): ``exp(z_k) / sum_j exp(z_j)``."""
    z = np.asarray(logits, dtype=np.float64)
    # Subtracting the per-pixel maximum changes nothing mathematically and keeps exp() from overflowing.
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_sum_exp(logits: ArrayLike, axis: int = 0) -> NDArray[np.float64]:
    """``log(sum_j exp(z_j))`` along ``axis``, as ``m + log(sum_j exp(z_j - m))`` with ``m`` the maximum:
    no exp() overflows, and the largest term is exp(0) = 1, so the sum never underflows to 0."""
    z = np.asarray(logits, dtype=np.float64)
    m = z.max(axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.exp(z - m).sum(axis=axis))


@dataclass(frozen=True)
class CrossEntropySteps:
    """Every intermediate of :func:`cross_entropy_steps`, for printing or checking.

    Attributes:
        one_hot: (K, H, W) one-hot targets (all zeros at ignored pixels).
        probs: (K, H, W) softmax probabilities.
        true_prob: (H, W) probability of each pixel's true class, ``sum_k one_hot * probs`` (NaN where
            ignored).
        pixel_loss: (H, W) ``-log(true_prob)`` (NaN where ignored), computed in its log-sum-exp form
            ``log(sum_j exp(z_j)) - z_true`` (:func:`log_sum_exp`): the same number, and finite where
            ``true_prob`` underflows to 0 (a logit gap beyond about 745), as PyTorch's is.
        log_sum_exp: (H, W) ``log(sum_j exp(z_j))`` of every pixel, stable (the per-pixel maximum taken out).
        valid: (H, W) bool, the pixels that count.
        loss: the mean of ``pixel_loss`` over the valid pixels.
    """

    one_hot: NDArray[np.float64]
    probs: NDArray[np.float64]
    true_prob: NDArray[np.float64]
    pixel_loss: NDArray[np.float64]
    valid: NDArray[np.bool_]
    loss: float
    log_sum_exp: NDArray[np.float64] | None = None


def cross_entropy_steps(
    logits: ArrayLike, labels: ArrayLike, ignore_index: int = IGNORE_INDEX
) -> CrossEntropySteps:
    """Per-pixel cross-entropy of (K, H, W) ``logits`` against an (H, W) label map, step by step.

    Equals ``F.cross_entropy(logits[None], labels[None], ignore_index=ignore_index)``.

    Raises:
        ValueError: logits not (K, H, W), a label/logit size mismatch, a label outside the classes, or
            every pixel ignored (the mean over no pixels is undefined; PyTorch returns NaN).
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 3:
        raise ValueError(f"logits must have shape (K, H, W) (classes first), got {z.shape}.")
    if np.shape(labels) != z.shape[1:]:
        raise ValueError(
            f"labels have shape {np.shape(labels)} but the logits' images are {z.shape[1:]}; "
            "give one label per pixel."
        )
    targets = one_hot(labels, z.shape[0], ignore_index)
    valid = targets.sum(axis=0) > 0
    if not valid.any():
        raise ValueError(f"every pixel is ignore_index {ignore_index}; give at least one labelled pixel.")
    probs = softmax(z, axis=0)
    # The one-hot vector picks the true class's probability: sum_k y_k p_k = p_true.
    true_prob = np.where(valid, (targets * probs).sum(axis=0), np.nan)
    # -log p_true = -log(exp(z_true) / sum_j exp(z_j)) = log(sum_j exp(z_j)) - z_true: the same loss, but
    # p_true underflows to 0 for a logit gap beyond about 745 (-log 0 = inf), while this stays finite, as
    # F.cross_entropy does (it computes log_softmax).
    lse = log_sum_exp(z, axis=0)
    true_logit = (targets * z).sum(axis=0)
    pixel_loss = np.where(valid, lse - true_logit, np.nan)
    loss = float(pixel_loss[valid].mean())
    return CrossEntropySteps(targets, probs, true_prob, pixel_loss, valid, loss, lse)


def cross_entropy(logits: ArrayLike, labels: ArrayLike, ignore_index: int = IGNORE_INDEX) -> float:
    """Mean per-pixel cross-entropy over the labelled pixels (see :func:`cross_entropy_steps`)."""
    return cross_entropy_steps(logits, labels, ignore_index).loss
