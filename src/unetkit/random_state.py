"""The process's global random streams, kept: library code that draws from them (model initialisation,
Lightning's seeding, timing steps on random data) restores them, so a caller's own stream goes on as if
nothing had drawn from it."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

__all__ = ["process_rng_kept", "python_rng_state", "set_python_rng_state"]

# Environment variables Lightning's seed_everything sets for its dataloader workers.
_SEED_VARIABLES = ("PL_GLOBAL_SEED", "PL_SEED_WORKERS")


@contextlib.contextmanager
def process_rng_kept() -> Iterator[None]:
    """The global random states (Python's, NumPy's, torch's CPU and CUDA ones) and Lightning's seed variables,
    restored on exit: a notebook's own random stream goes on as if the run had not seeded it."""
    # Legacy global NumPy state on purpose: it is what seed_everything reseeds.
    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    env = {name: os.environ.get(name) for name in _SEED_VARIABLES}
    import torch  # here: importing this module stays cheap for torch-free callers

    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)  # noqa: NPY002
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def python_rng_state() -> list[Any]:
    """Python's random state (``random.getstate()``) as nested lists, the form a training checkpoint keeps
    (a resumed run goes on with the stream where it stopped); :func:`set_python_rng_state` reads it back."""
    return _to_lists(random.getstate())  # type: ignore[no-any-return]


def set_python_rng_state(saved: Sequence[Any]) -> None:
    """Python's random state set from :func:`python_rng_state`'s lists (``random.setstate`` takes tuples)."""
    random.setstate(_to_tuples(list(saved)))


def _to_lists(value: Any) -> Any:
    return [_to_lists(v) for v in value] if isinstance(value, (tuple, list)) else value


def _to_tuples(value: Any) -> Any:
    return tuple(_to_tuples(v) for v in value) if isinstance(value, list) else value
