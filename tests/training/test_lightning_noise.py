"""The Lightning warnings unetkit ignores (training.lightning_noise): each one, as Lightning words it, is
ignored; any other warning still shows."""

from __future__ import annotations

import warnings

import pytest

from unetkit.training.lightning_noise import ignore_lightning_noise

# As Lightning 2.6 words them; the last two were printed by fit_folder(device="cpu") on an H100 host.
NOISE = [
    "Checkpoint directory /tmp/run/checkpoints exists and is not empty.",
    "GPU available but not used. You can set it by doing `Trainer(accelerator='gpu')`.",
    "The 'train_dataloader' does not have many workers which may be a bottleneck. Consider increasing the "
    "value of the `num_workers` argument` to `num_workers=15` in the `DataLoader` to improve performance.",
    "The 'val_dataloader' does not have many workers which may be a bottleneck.",
    # Printed by `unetkit fit -q data.dataset=folder ...` on 8 images (trial 20).
    "The number of training batches (2) is smaller than the logging interval Trainer(log_every_n_steps=5). "
    "Set a lower value for log_every_n_steps if you want to see logs for the training epoch.",
]


def shown(message: str) -> list[warnings.WarningMessage]:
    """The warnings a Lightning-like ``warnings.warn(message)`` shows after ``ignore_lightning_noise``."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        ignore_lightning_noise()
        warnings.warn(message, UserWarning, stacklevel=1)
    return seen


@pytest.mark.parametrize("message", NOISE)
def test_lightning_noise_is_ignored(message: str) -> None:
    assert shown(message) == []


def test_other_warnings_still_show() -> None:
    assert len(shown("Your `val_dataloader`'s sampler has shuffling enabled")) == 1
