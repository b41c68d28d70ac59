"""Human- and logger-friendly views of the score dict of ``scores_from_confusion``/``SegmentationMetrics``.

The dict holds scalars (``miou``, ...) and per-class (C,) arrays or tensors (``iou``, ``dice``,
``support``). Torch-free: tensors are read through their ``tolist``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["format_metrics_table", "scores_to_flat_dict"]

ABSENT = "n/a (absent)"
_PER_CLASS = ("iou", "dice", "support")
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


def format_metrics_table(scores: Mapping[str, Any], class_names: Sequence[str]) -> str:
    """Markdown table ``| class | IoU | Dice | pixels |`` then mean IoU, mean Dice, pixel accuracy lines.

    ``pixels`` is the number of true (target) pixels of the class. NaN (class absent from prediction and
    target) is shown as ``n/a (absent)``. ISBI extras (``pixel_error``, ``rand_error``) are appended when
    present.
    """
    _check_names(scores, class_names)
    iou = _as_list(scores["iou"])
    dice = _as_list(scores["dice"]) if "dice" in scores else [float("nan")] * len(iou)
    support = _as_list(scores["support"]) if "support" in scores else None
    rows = ["| class | IoU | Dice | pixels |", "|---|---:|---:|---:|"]
    for i, name in enumerate(class_names):
        pixels = "" if support is None else str(int(support[i]))
        rows.append(f"| {name} | {_fmt(iou[i])} | {_fmt(dice[i])} | {pixels} |")
    rows.append("")
    for key, label in _SCALARS:
        if key in scores:
            rows.append(f"{label}: {_fmt(_as_list(scores[key])[0])}")
    return "\n".join(rows)


def scores_to_flat_dict(scores: Mapping[str, Any], class_names: Sequence[str]) -> dict[str, float]:
    """Flatten to ``{"miou": ..., "iou/<class>": ..., "dice/<class>": ..., "support/<class>": ...}`` floats.

    Scalars keep their key; per-class vectors become ``"<key>/<class name>"``. NaN stays ``float("nan")``
    (``json.dumps`` writes ``NaN``; CSV writers write ``nan``).
    """
    _check_names(scores, class_names)
    flat: dict[str, float] = {}
    for key, value in scores.items():
        values = _as_list(value)
        if key in _PER_CLASS or len(values) > 1:
            if len(values) != len(class_names):
                raise ValueError(f"scores[{key!r}] has {len(values)} entries, expected {len(class_names)}.")
            flat.update({f"{key}/{name}": v for name, v in zip(class_names, values)})
        else:
            flat[key] = values[0]
    return flat
