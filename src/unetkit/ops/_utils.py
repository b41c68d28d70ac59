"""Small shared helpers for the NumPy reference ops: argument normalisation and validation."""

from __future__ import annotations

import numbers
from typing import TypeAlias, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from unetkit.options import check_int, to_pair  # noqa: F401  (re-exported for ops)

ScalarT = TypeVar("ScalarT", bound=np.generic)

IntPair: TypeAlias = int | tuple[int, int]
"""An int used for both spatial axes, or a ``(height, width)`` pair (PyTorch's ``_pair`` convention)."""


def as_chw(x: ArrayLike, name: str = "x") -> tuple[NDArray[np.float64], bool]:
    """Return ``x`` as a float64 (C, H, W) array and whether it was given as a single (H, W) plane.

    The ops compute in float64 so the lecture examples come out exact and results can be compared with
    PyTorch at a tight tolerance; callers squeeze the channel axis back when the flag is True.
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 2:
        return arr[np.newaxis], True
    if arr.ndim == 3:
        return arr, False
    raise ValueError(f"{name} must have shape (C, H, W) or (H, W), got an array of shape {arr.shape}.")


def restore_rank(y: NDArray[ScalarT], was_2d: bool) -> NDArray[ScalarT]:
    """Drop the channel axis of a (1, H, W) result when the input was given as (H, W)."""
    return y[0] if was_2d else y


def scale_pair(scale: object, name: str = "scale") -> tuple[float, float]:
    """Return a positive ``(scale_h, scale_w)`` float pair from a number or a pair of numbers."""
    if isinstance(scale, numbers.Real) and not isinstance(scale, bool):
        pair = (float(scale), float(scale))
    elif (
        isinstance(scale, (tuple, list))
        and len(scale) == 2
        and all(isinstance(s, numbers.Real) and not isinstance(s, bool) for s in scale)
    ):
        pair = (float(scale[0]), float(scale[1]))
    else:
        raise TypeError(f"{name} must be a number or a pair of numbers (h, w), got {scale!r}.")
    if not (pair[0] > 0 and pair[1] > 0 and np.isfinite(pair).all()):
        raise ValueError(f"{name} must be positive and finite, got {scale!r}.")
    return pair


def as_weight4d(weight: ArrayLike, layout: str) -> NDArray[np.float64]:
    """Kernel as float64 4-D ``layout`` (e.g. "(C_out, C_in/groups, kH, kW)"); a 2-D (kH, kW) kernel is one
    single-channel filter."""
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim == 2:
        w = w[np.newaxis, np.newaxis]
    if w.ndim != 4:
        raise ValueError(f"weight must have shape {layout} or (kH, kW), got {w.shape}.")
    return w
