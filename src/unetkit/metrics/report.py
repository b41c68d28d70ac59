"""Human- and logger-friendly views of the score dict of ``scores_from_confusion``/``SegmentationMetrics``.

The dict holds scalars (``miou``, ...) and per-class (C,) arrays or tensors (``iou``, ``dice``,
``support``); the scoring path's :meth:`~unetkit.metrics.scoring.ScoreAccumulator.compute` adds
``predicted`` (C,) pixels and the ``confusion`` matrix (C, C), from which a class the model never predicts
is named (:func:`never_predicted`). Torch-free: tensors are read through their ``tolist``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "confusion_record",
    "format_metrics_table",
    "never_predicted",
    "never_predicted_line",
    "scores_to_flat_dict",
]

ABSENT = "n/a (absent)"
NEVER = "never predicted"
_PER_CLASS = ("iou", "dice", "support", "predicted")
# Entries of the score dict that are not one number per class: written by write_metrics_files on their own.
_MATRICES = ("confusion",)
_SCALARS = (
    ("miou", "mean IoU"),
    ("mean_dice", "mean Dice"),
    ("pixel_accuracy", "pixel accuracy"),
    ("pixel_error", "pixel error"),
    ("rand_error", "Rand error"),
)


def _as_list(value: Any) -> list[float]:
    if hasattr(value, "detach"):  # a torch tensor, without importing torch
        value = value.detach().cpu().tolist()
    return [float(v) for v in np.asarray(value, dtype=np.float64).reshape(-1)]


def _check_names(scores: Mapping[str, object], class_names: Sequence[str]) -> None:
    if "iou" not in scores:
        raise ValueError(
            f"scores must contain per-class 'iou' (from scores_from_confusion), got {sorted(scores)}."
        )
    n = len(_as_list(scores["iou"]))  # type: ignore[arg-type]
    if len(class_names) != n:
        raise ValueError(f"class_names has {len(class_names)} names but scores have {n} classes.")


def _fmt(value: float) -> str:
    return ABSENT if math.isnan(value) else f"{value:.4f}"


def never_predicted(scores: Mapping[str, Any], class_names: Sequence[str]) -> list[str]:
    """The classes present in the ground truth (``support`` > 0) that the model never predicts (``predicted``
    0 pixels), in class order; ``[]`` when ``scores`` hold no ``predicted`` counts.

    Such a class scores IoU = Dice = 0, as one predicted in the wrong places does: this tells them apart.
    A class absent from the truth is not listed (its scores are n/a, and no prediction was expected).
    """
    if "predicted" not in scores or "support" not in scores:
        return []
    predicted, support = _as_list(scores["predicted"]), _as_list(scores["support"])
    return [n for n, p, t in zip(class_names, predicted, support, strict=True) if p == 0 and t > 0]


def never_predicted_line(
    scores: Mapping[str, Any], class_names: Sequence[str], split: str | None = None, hint: str | None = None
) -> str:
    """One line such as ``5 of 11 classes never predicted on val: pole, sign, ...; <hint>``, or ``""`` when
    the model predicts every class present in the truth (:func:`never_predicted`)."""
    names = never_predicted(scores, class_names)
    if not names:
        return ""
    where = f" on {split}" if split else ""
    noun = "class" if len(class_names) == 1 else "classes"
    line = f"{len(names)} of {len(class_names)} {noun} {NEVER}{where}: {', '.join(names)}"
    return f"{line}; {hint}" if hint else line


def majority_baseline_line(
    support: Sequence[float], class_names: Sequence[str], pixel_error: bool = False
) -> str:
    """What predicting every pixel as the most frequent true class scores, from the true pixel counts
    ``support``: ``baseline (every pixel foreground, the most frequent class): pixel accuracy 0.7919, mean
    IoU 0.3960``. A model near it has learnt nothing (a trial's 1x1 pixel classifier scored pixel error
    0.2080 where this baseline has 0.2081). Its IoU is the class's share for that class, 0 for the other
    classes present, as the scores count them; ``pixel_error`` adds the ISBI pixel error (1 - accuracy)."""
    total = float(sum(support))
    if total <= 0:
        return "baseline: no true pixel to score"
    top = int(np.argmax(support))
    share = float(support[top]) / total
    present = sum(1 for count in support if count > 0)
    error = f", pixel error {_fmt(1.0 - share)}" if pixel_error else ""
    return (
        f"baseline (every pixel {class_names[top]}, the most frequent class): pixel accuracy {_fmt(share)}, "
        f"mean IoU {_fmt(share / present)}{error}"
    )


def format_metrics_table(
    scores: Mapping[str, Any],
    class_names: Sequence[str],
    split: str | None = None,
    hint: str | None = None,
) -> str:
    """Markdown table ``| class | IoU | Dice | pixels | predicted |`` then mean IoU, mean Dice, pixel accuracy
    lines, and, when some class of the truth is never predicted, :func:`never_predicted_line` (naming
    ``split``, ending with ``hint``).

    ``pixels`` is the number of true (target) pixels of the class, ``predicted`` the number of pixels
    predicted as it (column present when ``scores`` hold ``predicted``; ``0, never predicted`` marks a class
    of the truth the model never outputs). NaN (class absent from prediction and target) is shown as
    ``n/a (absent)``. ISBI extras (``pixel_error``, ``rand_error``) are appended when present, then what
    the all-majority baseline scores (:func:`majority_baseline_line`) when ``support`` is given.
    """
    _check_names(scores, class_names)
    iou = _as_list(scores["iou"])
    dice = _as_list(scores["dice"]) if "dice" in scores else [float("nan")] * len(iou)
    support = _as_list(scores["support"]) if "support" in scores else None
    predicted = _as_list(scores["predicted"]) if "predicted" in scores else None
    never = set(never_predicted(scores, class_names))
    if predicted is None:
        rows = ["| class | IoU | Dice | pixels |", "|---|---:|---:|---:|"]
    else:
        rows = ["| class | IoU | Dice | pixels | predicted |", "|---|---:|---:|---:|---:|"]
    for i, name in enumerate(class_names):
        pixels = "" if support is None else str(int(support[i]))
        row = f"| {name} | {_fmt(iou[i])} | {_fmt(dice[i])} | {pixels} |"
        if predicted is not None:
            row += f" {int(predicted[i])}{', ' + NEVER if name in never else ''} |"
        rows.append(row)
    rows.append("")
    for key, label in _SCALARS:
        if key in scores:
            rows.append(f"{label}: {_fmt(_as_list(scores[key])[0])}")
    if support is not None:
        rows.append(majority_baseline_line(support, class_names, "pixel_error" in scores))
    line = never_predicted_line(scores, class_names, split, hint)
    if line:
        rows.append(line)
    return "\n".join(rows)


def confusion_record(scores: Mapping[str, Any], class_names: Sequence[str]) -> dict[str, Any]:
    """The confusion matrix of ``scores`` as ``metrics_<split>.json`` keeps it: ``{"rows": "true class",
    "columns": "predicted class", "classes": [...], "counts": [[int, ...], ...]}`` (pixel counts; ignored
    pixels, void, are not in it); ``{}`` when ``scores`` hold none."""
    if "confusion" not in scores:
        return {}
    matrix = scores["confusion"]
    if hasattr(matrix, "detach"):
        matrix = matrix.detach().cpu().numpy()
    counts = np.asarray(matrix, dtype=np.int64)
    k = len(class_names)
    if counts.shape != (k, k):
        raise ValueError(f"scores['confusion'] has shape {counts.shape}, expected ({k}, {k}).")
    return {
        "rows": "true class",
        "columns": "predicted class",
        "void": "excluded",
        "classes": list(class_names),
        "counts": counts.tolist(),
    }


def scores_to_flat_dict(scores: Mapping[str, Any], class_names: Sequence[str]) -> dict[str, float]:
    """Flatten to ``{"miou": ..., "iou/<class>": ..., "dice/<class>": ..., "support/<class>": ...}`` floats.

    Scalars keep their key; per-class vectors (also ``predicted``) become ``"<key>/<class name>"``; the
    ``confusion`` matrix is left out (:func:`confusion_record`). NaN stays ``float("nan")``
    (``json.dumps`` writes ``NaN``; CSV writers write ``nan``).
    """
    _check_names(scores, class_names)
    flat: dict[str, float] = {}
    for key, value in scores.items():
        if key in _MATRICES:  # not one number per class: confusion_record writes it
            continue
        values = _as_list(value)
        if key in _PER_CLASS or len(values) > 1:
            if len(values) != len(class_names):
                raise ValueError(f"scores[{key!r}] has {len(values)} entries, expected {len(class_names)}.")
            flat.update({f"{key}/{name}": v for name, v in zip(class_names, values)})
        else:
            flat[key] = values[0]
    return flat
