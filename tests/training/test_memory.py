"""A training step that cannot fit in memory is refused in one line before anything runs (a user trial's
``model.kwargs.depth=12`` and ``data.crop_size=4096`` overrides grew until the kernel killed the run)."""

from __future__ import annotations

import pytest

import unetkit.devices as devices
from unetkit.training.memory import check_step_memory, step_memory

GB = 10**9
UNET = {"in_channels": 1, "num_classes": 2, "base_channels": 8}


def test_the_estimate_grows_with_depth_and_crop_and_says_the_padded_side() -> None:
    plan = step_memory("unet", {**UNET, "depth": 4}, 8, (128, 128))
    deep = step_memory("unet", {**UNET, "depth": 12}, 8, (128, 128))
    large = step_memory("unet", {**UNET, "depth": 4}, 8, (4096, 4096))
    assert plan is not None and deep is not None and large is not None
    assert plan.total < 1 * GB  # what the planner picks fits anywhere
    assert deep.weights > 100 * GB and deep.padded_side == 4096  # 2**12: every crop padded to 4096 px
    assert large.activations > 32 * plan.activations * 30  # (4096/128)^2 = 1024x the pixels
    assert step_memory("no_such_model", {}, 1, (8, 8)) is None  # skipped, not an error of its own


def test_a_step_above_the_free_memory_is_one_line_naming_what_to_lower(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(devices, "available_memory", lambda: 16 * GB)
    check_step_memory("unet", {**UNET, "depth": 4}, 8, (128, 128))  # fits: nothing said
    check_step_memory("unet", {**UNET, "depth": 12}, 8, None)  # whole images: not estimated
    with pytest.raises(ValueError) as err:
        check_step_memory("unet", {**UNET, "depth": 12}, 8, (128, 128))
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(
        "one training step of unet (base_channels=8, depth=12) on batches of 8 crops of 128x128"
    )
    assert "the net pads each crop up to 4096 px" in text and "but this machine has 16.0 GB free" in text
    assert text.endswith("lower model.kwargs.depth or base_channels, data.crop_size or data.batch_size (the "
                         "plan's own values fit: drop the override)")  # fmt: skip
