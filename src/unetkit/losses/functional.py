"""Pure loss functions for multi-class segmentation.

Every function takes raw ``logits`` of shape (N, C, H, W) and an ``int64`` ``target`` of shape (N, H, W)
whose pixels equal to ``ignore_index`` (default :data:`unetkit.constants.IGNORE_INDEX` = 255) are skipped.
All losses return a scalar tensor. When *every* pixel of the batch is ignored they return ``0`` (still
connected to the graph, so ``backward()`` works) instead of the NaN that ``F.cross_entropy`` gives: a crop
made only of void pixels must not poison a training run.

The nn.Module wrappers in ``cross_entropy.py``, ``dice.py``, ``focal.py`` only store settings and call these.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F

from unetkit.constants import IGNORE_INDEX
from unetkit.options import check_int, look_up_option
from unetkit.tracing import is_tracing

__all__ = [
    "check_alpha",
    "check_gamma",
    "check_logits_target",
    "check_num_classes",
    "cross_entropy",
    "focal_loss",
    "one_hot_cross_entropy",
    "one_hot_with_ignore",
    "soft_dice_loss",
    "weighted_cross_entropy",
]

ClassWeights = Sequence[float] | torch.Tensor | None


#: Why one class (a single sigmoid logit) is refused: its foreground 1 would be "outside [0, 1)". The
#: same words as :data:`unetkit.metrics.functional.ONE_CLASS_MESSAGE` (losses do not import metrics).
ONE_CLASS_MESSAGE = (
    "{what}: unetkit trains binary segmentation as 2 classes (softmax over background/foreground); "
    "use num_classes=2."
)


def check_num_classes(num_classes: object) -> int:
    """``num_classes`` as an int >= 2 (TypeError/ValueError otherwise; one class gets the binary advice)."""
    classes = check_int(num_classes, "num_classes", minimum=1)
    if classes == 1:
        raise ValueError(ONE_CLASS_MESSAGE.format(what="num_classes=1"))
    return classes


def check_gamma(gamma: object) -> float:
    """The focal ``gamma`` as a float: a finite real number >= 0 (TypeError/ValueError otherwise)."""
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real):
        raise TypeError(f"gamma must be a number >= 0 (e.g. 2.0), got {type(gamma).__name__}: {gamma!r}.")
    if not math.isfinite(gamma) or gamma < 0:
        raise ValueError(f"gamma must be a finite number >= 0 (e.g. 2.0), got {gamma}.")
    return float(gamma)


def check_alpha(alpha: object) -> float | list[float] | None:
    """The focal ``alpha``: None, a number in [0, 1] (2 classes) or one finite weight >= 0 per class."""
    if alpha is None:
        return None
    if isinstance(alpha, numbers.Real) and not isinstance(alpha, bool):
        if not 0 <= float(alpha) <= 1:
            raise ValueError(f"a scalar alpha is the weight of class 1 and must be in [0, 1], got {alpha}.")
        return float(alpha)
    values = alpha.tolist() if isinstance(alpha, torch.Tensor) else alpha
    if (
        not isinstance(values, Sequence)
        or isinstance(values, str)
        or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values)
    ):
        raise TypeError(
            f"alpha must be None, a number in [0, 1] or a list of per-class weights, got {alpha!r}."
        )
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise ValueError(f"alpha weights must be finite and >= 0, got {list(values)}.")
    return [float(v) for v in values]


def check_logits_target(
    logits: torch.Tensor,
    target: torch.Tensor,
    ignore_index: int = IGNORE_INDEX,
    weight_map: torch.Tensor | None = None,
) -> None:
    """Validate a (logits, target[, weight_map]) triple; raise ValueError/TypeError with a fix.

    Shape:
        logits: (N, C, H, W) float. target: (N, H, W) integer with values in [0, C) or ``ignore_index``.
        weight_map: (N, H, W) float.
    """
    if not torch.is_floating_point(logits):
        raise TypeError(f"logits must be a floating-point tensor (N, C, H, W), got dtype {logits.dtype}.")
    if logits.dim() != 4 or target.dim() != 3 or logits.shape[:1] + logits.shape[2:] != target.shape:
        raise ValueError(
            f"Shape mismatch: logits {tuple(logits.shape)} must be (N, C, H, W) and target "
            f"{tuple(target.shape)} must be (N, H, W) with the same N, H, W."
        )
    if target.dtype.is_floating_point or target.dtype == torch.bool:
        raise TypeError(
            f"target must be an integer class-index tensor (use .long()), got dtype {target.dtype}."
        )
    if logits.shape[1] == 1:
        raise ValueError(ONE_CLASS_MESSAGE.format(what="logits with one channel"))
    if weight_map is not None and weight_map.shape != target.shape:
        raise ValueError(
            f"Shape mismatch: weight_map {tuple(weight_map.shape)} must equal target {tuple(target.shape)}."
        )
    if is_tracing():
        return
    num_classes = logits.shape[1]
    bad = ((target < 0) | (target >= num_classes)) & (target != ignore_index)
    if bool(bad.any()):
        values = torch.unique(target[bad]).tolist()[:10]
        raise ValueError(
            f"target contains values {values} outside [0, {num_classes}) for num_classes={num_classes} "
            f"(ignore_index={ignore_index}); remap them or set ignore_index."
        )


def _class_weight_tensor(class_weights: ClassWeights, num_classes: int, like: torch.Tensor) -> torch.Tensor:
    weights = torch.as_tensor(class_weights, dtype=like.dtype, device=like.device)
    if weights.shape != (num_classes,):
        raise ValueError(
            f"class_weights must have one entry per class ({num_classes}), got shape {tuple(weights.shape)}."
        )
    return weights


def _zero_like_graph(logits: torch.Tensor) -> torch.Tensor:
    # A zero that keeps ``logits`` in the autograd graph (all gradients are exactly 0).
    return logits.sum() * 0.0


def one_hot_with_ignore(
    target: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> tuple[torch.Tensor, torch.Tensor]:
    """One-hot encode ``target`` with ignored pixels set to all-zero rows.

    Returns:
        ``(one_hot, valid)``: one_hot (N, C, H, W) float32 and valid (N, H, W) bool.
    """
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target))
    one_hot = F.one_hot(safe.long(), num_classes).permute(0, 3, 1, 2).to(torch.float32)  # (N, C, H, W)
    return one_hot * valid.unsqueeze(1), valid


def one_hot_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    class_weights: ClassWeights = None,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """Cross-entropy written as the lecture formula, with an explicit one-hot ``y``.

    ``L = (1 / |V|) * sum_{x in V} -sum_c y_c(x) log softmax_c(logits(x))`` where ``V`` is the set of valid
    (non-ignored) pixels over all N images. This materialises an (N, C, H, W) one-hot tensor, so it is meant
    for teaching and verification; training uses :func:`cross_entropy` (same value, no one-hot).

    With ``class_weights`` ``w``, each pixel's term is multiplied by ``w[target(x)]`` and the sum is divided
    by ``sum_{x in V} w[target(x)]`` (not by ``|V|``): that is exactly what ``F.cross_entropy(weight=w)`` does
    with ``reduction="mean"``, so the two agree.

    Shape:
        logits (N, C, H, W) float, target (N, H, W) int64 -> scalar.
    """
    check_logits_target(logits, target, ignore_index)
    num_classes = logits.shape[1]
    y, valid = one_hot_with_ignore(target, num_classes, ignore_index)
    log_probs = F.log_softmax(logits, dim=1)
    per_pixel = -(y.to(log_probs.dtype) * log_probs).sum(dim=1)  # (N, H, W); 0 on ignored pixels
    if class_weights is None:
        pixel_weight = valid.to(log_probs.dtype)
    else:
        weights = _class_weight_tensor(class_weights, num_classes, log_probs)
        # y is zero on ignored pixels, so this already excludes them.
        pixel_weight = torch.einsum("nchw,c->nhw", y.to(log_probs.dtype), weights)
    if not is_tracing() and not bool(valid.any()):
        return _zero_like_graph(logits)
    return (pixel_weight * per_pixel).sum() / pixel_weight.sum()


def cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    class_weights: ClassWeights = None,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """Mean cross-entropy over valid pixels via ``F.cross_entropy``; equals :func:`one_hot_cross_entropy`.

    Differs from ``F.cross_entropy`` only in validating its inputs and in returning 0 instead of NaN when
    every pixel is ignored.
    """
    check_logits_target(logits, target, ignore_index)
    weight = None if class_weights is None else _class_weight_tensor(class_weights, logits.shape[1], logits)
    if not is_tracing() and not bool((target != ignore_index).any()):
        return _zero_like_graph(logits)
    return F.cross_entropy(logits, target.long(), weight=weight, ignore_index=ignore_index)


def weighted_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    weight_map: torch.Tensor,
    class_weights: ClassWeights = None,
    ignore_index: int = IGNORE_INDEX,
    normalization: Literal["mean", "weight_sum"] = "mean",
) -> torch.Tensor:
    """Pixel-weighted cross-entropy: the U-Net paper's energy ``E = sum_x w(x) log p_{l(x)}(x)``.

    Ronneberger et al., "U-Net: Convolutional Networks for Biomedical Image Segmentation", MICCAI 2015, eq. 1.
    The paper sums over pixels; we normalise so the scale does not depend on the crop size:

    - ``"mean"`` (default): ``sum_{x in V} w(x) * ce(x) / |V|``, the paper's energy divided by the number of
      valid pixels. The loss grows with the weights (a w0 = 10 border really counts 10x more).
    - ``"weight_sum"``: ``sum_{x in V} w(x) * ce(x) / sum_{x in V} w(x)``, a weighted average (the same
      normalisation ``F.cross_entropy`` uses for class weights).

    ``class_weights`` (optional) multiply the map: ``w(x) = weight_map(x) * class_weights[target(x)]``. The
    paper's map from :func:`unetkit.data.weight_map.unet_weight_map` already contains class balancing,
    so usually leave it ``None``.

    Shape:
        logits (N, C, H, W) float, target (N, H, W) int64, weight_map (N, H, W) float -> scalar.
    """
    check_logits_target(logits, target, ignore_index, weight_map=weight_map)
    normalization = look_up_option(normalization, ("mean", "weight_sum"), "normalization")  # type: ignore[assignment]
    valid = target != ignore_index
    per_pixel = F.cross_entropy(
        logits, target.long(), ignore_index=ignore_index, reduction="none"
    )  # (N, H, W)
    weights = weight_map.to(per_pixel.dtype) * valid
    if class_weights is not None:
        cw = _class_weight_tensor(class_weights, logits.shape[1], per_pixel)
        weights = weights * cw[torch.where(valid, target, torch.zeros_like(target)).long()]
    denom = valid.sum().to(per_pixel.dtype) if normalization == "mean" else weights.sum()
    if not is_tracing() and not bool(denom > 0):
        return _zero_like_graph(logits)
    return (weights * per_pixel).sum() / denom


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    gamma: float = 2.0,
    alpha: float | ClassWeights = None,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """Multi-class focal loss ``FL = -alpha_t (1 - p_t)^gamma log p_t``, averaged over valid pixels.

    Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017. ``p_t`` is the softmax probability of the
    true class. ``gamma = 0`` with ``alpha = None`` is exactly the mean cross-entropy.

    Args:
        gamma: focusing parameter (>= 0).
        alpha: ``None`` (no class factor), a per-class sequence of length C, or a float for C = 2 meaning
            ``alpha`` for class 1 and ``1 - alpha`` for class 0 as in the paper. The sum is divided by the
            number of valid pixels (not by the sum of ``alpha_t``, unlike weighted ``F.cross_entropy``).

    Shape:
        logits (N, C, H, W) float, target (N, H, W) int64 -> scalar.
    """
    check_logits_target(logits, target, ignore_index)
    gamma = check_gamma(gamma)
    num_classes = logits.shape[1]
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target)).long()
    log_pt = F.log_softmax(logits, dim=1).gather(1, safe.unsqueeze(1)).squeeze(1)  # (N, H, W)
    # Clamp so (1 - p_t)^gamma has a finite gradient when p_t rounds to 1 and 0 < gamma < 1.
    modulating = (1.0 - log_pt.exp()).clamp_min(1e-12) ** gamma
    loss = -modulating * log_pt
    if alpha is not None:
        if isinstance(alpha, float | int):
            if num_classes != 2:
                raise ValueError(
                    f"A scalar alpha={alpha} is only defined for 2 classes (got C={num_classes}); pass a "
                    "per-class list instead."
                )
            alpha = [1.0 - float(alpha), float(alpha)]
        loss = loss * _class_weight_tensor(alpha, num_classes, loss)[safe]
    if not is_tracing() and not bool(valid.any()):
        return _zero_like_graph(logits)
    return (loss * valid).sum() / valid.sum()


def soft_dice_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    num_classes: int,
    ignore_index: int = IGNORE_INDEX,
    smooth: float = 1.0,
    classes_absent: Literal["exclude", "include"] = "exclude",
) -> torch.Tensor:
    """Multi-class soft Dice loss ``1 - mean_c dice_c`` computed over the whole batch.

    For each class c, with softmax probabilities ``p_c`` and one-hot target ``y_c`` over the valid pixels of
    all N images: ``dice_c = (2 * sum p_c y_c + smooth) / (sum p_c + sum y_c + smooth)``.

    Rule for classes absent from the batch (a class is *absent* when no valid target pixel has that class):

    - ``"exclude"`` (default): absent classes are left out of the mean; the loss averages the present
      classes only. Probability mass wrongly put on an absent class is still penalised, because it is
      missing from the present classes' intersections. If no class is present (every pixel ignored) the
      loss is 0.
    - ``"include"``: every class enters the mean. An absent class then scores
      ``smooth / (sum p_c + smooth)``: 1 (no loss) when it also received no probability mass, lower as
      mass is put on it.

    Shape:
        logits (N, C, H, W) float, target (N, H, W) int64 -> scalar.
    """
    check_logits_target(logits, target, ignore_index)
    if logits.shape[1] != num_classes:
        raise ValueError(
            f"logits have {logits.shape[1]} channels but num_classes={num_classes}; they must match."
        )
    if smooth < 0:
        raise ValueError(f"smooth must be >= 0, got {smooth}.")
    classes_absent = look_up_option(classes_absent, ("exclude", "include"), "classes_absent")  # type: ignore[assignment]
    y, valid = one_hot_with_ignore(target, num_classes, ignore_index)
    probs = F.softmax(logits, dim=1) * valid.unsqueeze(1)  # (N, C, H, W), 0 on ignored pixels
    y = y.to(probs.dtype)
    dims = (0, 2, 3)
    intersection = (probs * y).sum(dims)  # (C,)
    cardinality = probs.sum(dims) + y.sum(dims)  # (C,)
    # clamp_min guards smooth = 0 with a class absent from both target and prediction (0 / 0).
    dice = (2.0 * intersection + smooth) / (cardinality + smooth).clamp_min(1e-12)
    if classes_absent == "include":
        return 1.0 - dice.mean()
    present = y.sum(dims) > 0
    if not is_tracing() and not bool(present.any()):
        return _zero_like_graph(logits)
    return 1.0 - (dice * present).sum() / present.sum()
