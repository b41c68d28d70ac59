"""A resumed run keeps the plan's prediction: ``unetkit fit --resume`` is made without the plan, and its
train.json had ``predicted_steps: null``, so the shortfall note of a busy machine was lost (user trial)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from training_helpers import TIME_PACED

from unetkit.training.config import load_config
from unetkit.training.fit import fit

BUDGET = "trainer.max_time_minutes=0.05"  # 3 s: the budget, not max_epochs, ends the run


def test_a_resume_records_the_plans_prediction_and_names_the_shortfall(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from unetkit.training.task import SegmentationTask

    def crash(self: SegmentationTask, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.current_epoch == 1 and batch_idx == 1:
            raise RuntimeError("crash")

    monkeypatch.setattr(SegmentationTask, "on_train_batch_end", crash, raising=False)
    config = load_config("synthetic", [*TIME_PACED, f"output.root={tmp_path}", "output.name=r", BUDGET])
    # A prediction far above what 3 s buy, with an override that changed a step's cost: the note names it.
    with pytest.raises(RuntimeError, match="crash"):
        fit(config, predicted=(100_000, 0.001), step_overrides=["data.batch_size=2"])
    run = tmp_path / "r"
    assert not (run / "train.json").exists() and (run / "checkpoints" / "last.ckpt").is_file()
    monkeypatch.undo()

    # As `unetkit fit --resume RUN` calls it: the run's config, no plan, so no prediction given.
    result = fit(load_config(run / "config.yaml"), resume=run, command=f"unetkit fit --resume {run}")
    record = json.loads((run / "train.json").read_text())
    assert record["resumed"] is True and record["budget_stop_step"]
    assert (record["predicted_steps"], record["predicted_step_seconds"]) == (100_000, 0.001)
    assert result.predicted == (100_000, 0.001)
    assert result.shortfall.startswith(f"the budget bought {record['budget_stop_step']} optimizer steps")
    assert "data.batch_size=2 changed what a step costs" in result.shortfall


def test_a_run_without_a_prediction_resumes_without_one(tmp_path: Path) -> None:
    """No plan (a config file) or an older run's started.json: nothing is made up."""
    from unetkit.training.fit import _prediction_record, _started_prediction

    assert _prediction_record(None, ("model.kwargs.depth=3",)) == {}
    (tmp_path / "started.json").write_text(json.dumps({"command": "unetkit fit --config c.yaml"}))
    assert _started_prediction(tmp_path) == (None, ())
    recorded = {"command": None, **_prediction_record((714, 0.2), ())}
    (tmp_path / "started.json").write_text(json.dumps(recorded))
    assert _started_prediction(tmp_path) == ((714, 0.2), ())
    (tmp_path / "started.json").write_text("not json")
    assert _started_prediction(tmp_path) == (None, ())
