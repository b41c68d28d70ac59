"""Deterministic subsamples: the one home for "a few items spread over many" (NumPy only, no torch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def evenly_spaced(items: Sequence[T], count: int) -> list[T]:
    """Up to ``count`` items spread evenly over ``items``, the first and the last included (all of them when
    ``count >= len(items)``). Sorted names often run in groups (sequences, patients, cities): an even spread
    takes from every group, where the first ``count`` would take one."""
    if len(items) <= count:
        return list(items)
    idx = np.linspace(0, len(items) - 1, max(count, 0)).round().astype(int)
    return [items[i] for i in sorted(set(idx.tolist()))]
