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


def epoch_steps(samples: int, batch_size: int) -> int:
    """Optimizer steps of one training epoch over ``samples`` items: whole batches only (the last, partial
    batch is dropped, so BatchNorm never sees a batch of one), unless there is only one batch."""
    if samples <= batch_size:
        return 1 if samples > 0 else 0
    return samples // batch_size


def drops_last_batch(samples: int, batch_size: int) -> bool:
    """Whether a training epoch over ``samples`` items drops its partial last batch (:func:`epoch_steps`)."""
    return samples > batch_size
