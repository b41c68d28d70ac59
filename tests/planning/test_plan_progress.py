"""A plan takes up to a minute: each phase says when it starts, at INFO (a trial's `fit DIR > log` stayed
empty for 60 s, then every plan line came at once)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import unetkit
import unetkit.planning.plan as plan_module


def test_each_planning_phase_logs_a_line_as_it_starts(
    make_dataset: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    two_threads: None,
) -> None:
    class FakeStep:  # a training step of 0.1 s, not run
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.model, self.optimizer = torch.nn.Linear(1, 1), None

        def __call__(self) -> float:
            return 0.1

    monkeypatch.setattr(plan_module, "TrainingStep", FakeStep)
    monkeypatch.setattr(plan_module, "checkpoint_write_seconds", lambda model, optimizer: 0.0)
    with caplog.at_level(logging.INFO, logger="unetkit.planning"):
        unetkit.plan_folder(make_dataset(n=12), budget="2m", device="cpu")
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("planning: ")]
    assert [line.split(" (")[0] for line in said] == [
        "planning: the fingerprint of the data",
        "planning: timing training steps at 1 and 2 threads",
        "planning: timing training steps of 5 U-Net widths on cpu",
        "planning: timing a forward pass for the estimate of the scoring after the budget",
    ], said
    assert said[0].endswith("(12 image/mask pairs)") and said[2].endswith(" s)")
