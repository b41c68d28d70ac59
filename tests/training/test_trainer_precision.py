"""``trainer.precision: auto`` follows the device the run trains on, not the host (an audit: a CPU run on a
GPU host got 16-mixed, which Lightning turns into bf16 on the CPU)."""

from __future__ import annotations

import pytest
import torch

from unetkit.training.trainer import resolve_precision


@pytest.mark.parametrize(
    ("cuda", "accelerator", "expected"),
    [
        (True, "auto", "16-mixed"),
        (True, "gpu", "16-mixed"),
        (True, "cuda", "16-mixed"),
        (True, "cpu", "32-true"),  # a CPU run on a GPU host: fp32, as the README says
        (False, "auto", "32-true"),
    ],
)
def test_auto_precision_follows_the_runs_device(
    monkeypatch: pytest.MonkeyPatch, cuda: bool, accelerator: str, expected: str
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert resolve_precision("auto", accelerator) == expected
    assert resolve_precision("bf16-mixed", accelerator) == "bf16-mixed"  # named: passed through
