"""``unetkit fit DIR --time T`` interrupted while it trains, then ``unetkit fit --resume RUN``: train.json
keeps the plan's prediction (a user trial found ``predicted_steps: null`` after the resume, and the shortfall
note lost) and every other key an uninterrupted run writes."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from test_fit_dir import FAST, make_folder

from unetkit.cli.main import main

# Two epochs: the first writes last.ckpt, the second is interrupted.
TWO_EPOCHS = ["trainer.max_epochs=2", "model.kwargs.base_channels=4", "data.repeat=1"]


def test_a_resumed_run_keeps_the_plans_prediction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from unetkit.training.task import SegmentationTask

    root = make_folder(tmp_path / "data")
    run = tmp_path / "runs" / "r"
    step = SegmentationTask.training_step

    def interrupted(self: SegmentationTask, batch: Any, batch_idx: int) -> Any:
        if self.current_epoch == 1:  # a scheduler's kill in the second epoch (the CLI's SIGTERM handler)
            os.kill(os.getpid(), signal.SIGTERM)
        return step(self, batch, batch_idx)

    monkeypatch.setattr(SegmentationTask, "training_step", interrupted)
    argv = ["fit", str(root), "--time", "0.5m", *FAST, "--out", str(run), "--score", "val", *TWO_EPOCHS]
    assert main(argv) == 143
    assert not (run / "train.json").exists()
    started = json.loads((run / "started.json").read_text())
    assert started["predicted_steps"] > 0 and started["predicted_step_seconds"] > 0
    monkeypatch.undo()
    capsys.readouterr()

    assert main(["fit", "--resume", str(run)]) == 0
    record = json.loads((run / "train.json").read_text())
    # The keys of an uninterrupted budgeted run, and the resume's own (with what it redid, trial 25 S2).
    assert set(record) == {
        "train_seconds", "resumed", "command", "timer_seconds", "budget_seconds", "budget_stop_step",
        "budget_stop_epoch", "predicted_steps", "predicted_step_seconds", "resumed_with", "redone_seconds",
        "redone_steps",
    }  # fmt: skip
    assert record["predicted_steps"] == started["predicted_steps"]
    assert record["predicted_step_seconds"] == started["predicted_step_seconds"]
    assert record["command"] == started["command"] and record["resumed"] is True
    assert record["budget_seconds"] == 30.0
