"""Python's random state in a training checkpoint: one helper pair (unetkit.random_state) for both fits."""

from __future__ import annotations

import io
import random

import torch

from unetkit.random_state import python_rng_state, set_python_rng_state
from unetkit.training import detection, task


def test_pythons_random_state_survives_a_weights_only_checkpoint() -> None:
    random.seed(3)
    random.random()
    saved = python_rng_state()
    expected = [random.random() for _ in range(3)]
    buffer = io.BytesIO()
    torch.save({"rng_state": {"python": saved}}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)  # as a resume reads it: lists, no tuples
    random.seed(99)
    set_python_rng_state(loaded["rng_state"]["python"])
    assert [random.random() for _ in range(3)] == expected


def test_both_fits_save_and_restore_it_through_the_one_helper_pair() -> None:
    # The semantic and the Mask R-CNN task had byte-for-byte copies of the conversion.
    for module in (task, detection):
        assert module.python_rng_state is python_rng_state
        assert module.set_python_rng_state is set_python_rng_state
        assert not hasattr(module, "_to_lists") and not hasattr(module, "_to_tuples")
