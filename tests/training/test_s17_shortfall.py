"""A budgeted run that made far fewer steps than its plan predicted says so from Python too (trial 17: runC
made 89 of 714 predicted steps on a shared machine; train.json held no prediction and fit_folder said
nothing). One rule (unetkit.planning.shortfall) for ``unetkit fit`` and ``fit_folder``."""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from training_helpers import TIME_PACED, index_mask_folder

import unetkit
from unetkit.planning import folder
from unetkit.planning.shortfall import (
    plan_file_prediction,
    prediction_at_budget,
    shortfall_note,
    summary_prediction,
)
from unetkit.training.config import load_config
from unetkit.training.fit import RunResult, fit

NOTE = "the budget bought 197 optimizer steps of the 1014 the plan predicted"


def test_the_rule_names_a_run_with_fewer_than_half_the_predicted_steps() -> None:
    note = shortfall_note((1014, 0.103), 197, 118.0)
    assert note.startswith(NOTE) and "(0.60 s/step against 0.103 s/step measured)" in note
    assert "idle" in note and "\n" not in note
    assert shortfall_note((1014, 0.103), 506, 118.0) != ""  # just under half: named
    assert shortfall_note((1014, 0.103), 507, 118.0) == ""  # half of the steps or more: nothing to say
    assert shortfall_note(None, 197, 118.0) == ""  # no plan
    assert shortfall_note((1014, 0.103), None, 118.0) == ""  # not stopped by the budget
    overridden = shortfall_note((294, 0.178), 73, 58.3, ("model.kwargs.base_channels=24",))
    assert (
        "model.kwargs.base_channels=24 changed what a step costs" in overridden and "idle" not in overridden
    )


def test_the_prediction_is_the_plans_at_the_runs_budget() -> None:
    assert summary_prediction({"predicted_steps": 714, "predicted_step_seconds": 0.084}) == (714, 0.084)
    assert summary_prediction({"predicted_steps": None}) is None
    assert prediction_at_budget((400, 0.1), 2, 1) == (200, 0.1)  # an override of the budget: fewer steps
    assert prediction_at_budget((400, 0.1), 2, 2) == (400, 0.1)
    assert prediction_at_budget((400, 0.1), 2, None) is None  # no budget: no step count to compare
    assert prediction_at_budget(None, 2, 1) is None


def _record(run: Path) -> dict[str, Any]:
    return dict(json.loads((run / "train.json").read_text()))


@pytest.mark.slow  # 8 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_fit_records_the_prediction_beside_the_steps_made(tmp_path: Path) -> None:
    """About 4 s of training (TIME_PACED's budget stop), predicted 100000 steps: the shortfall is named."""
    runs = f"output.root={tmp_path}"
    budget = ["trainer.max_time_minutes=0.07", "trainer.check_val_every_n_epoch=1000"]
    config = load_config("synthetic", [*TIME_PACED, *budget, runs, "output.name=b"])
    result = fit(config, predicted=(100000, 0.001))
    record = _record(result.run_dir)
    assert record["predicted_steps"] == 100000 and record["predicted_step_seconds"] == 0.001
    assert 0 < record["budget_stop_step"] < 50000
    assert result.predicted == (100000, 0.001)
    assert result.shortfall.startswith(f"the budget bought {record['budget_stop_step']} optimizer steps of")
    assert "100000 the plan predicted" in result.shortfall
    # Without a budget nothing stops it at a step count: null, and no note.
    config = load_config(
        "synthetic", [*TIME_PACED, "trainer.max_epochs=1", "schedule.by=epoch", runs, "output.name=e"]
    )
    result = fit(config, predicted=(100000, 0.001))
    record = _record(result.run_dir)
    assert record["predicted_steps"] is None and record["predicted_step_seconds"] is None
    assert result.predicted is None and result.shortfall == ""


def _folder(root: Path, n: int = 12) -> Path:
    return index_mask_folder(root, n, binary=True)


FAST: dict[str, Any] = {"threads": 1, "measure_limit": 2.0, "device": "cpu"}


@pytest.fixture
def trained(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """fit's keywords, per call; training is stubbed: a run that made 3 steps of the prediction."""
    calls: list[dict[str, Any]] = []

    def stub(config: Any, **kwargs: Any) -> RunResult:
        calls.append(kwargs)
        note = shortfall_note(kwargs["predicted"], 3, 60.0, kwargs["step_overrides"])
        return RunResult(Path("run"), {}, "", 60.0, predicted=kwargs["predicted"], shortfall=note)

    monkeypatch.setattr("unetkit.training.fit.fit", stub)
    return calls


def test_fit_folder_passes_the_plans_prediction_and_logs_the_shortfall(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    trained: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    plans: list[Any] = []
    real = folder.plan_folder

    @functools.wraps(real)  # its signature: fit_folder checks keywords against it
    def recorded(*args: Any, **kwargs: Any) -> Any:
        plans.append(real(*args, **kwargs))
        return plans[-1]

    monkeypatch.setattr("unetkit.planning.folder.plan_folder", recorded)
    root = _folder(tmp_path / "data")
    wide = "model.kwargs.base_channels=24"
    with caplog.at_level(logging.WARNING, logger="unetkit"):
        result = unetkit.fit_folder(
            root, "1m", out=tmp_path / "r", overrides=["trainer.max_time_minutes=0.5", wide], **FAST
        )
    steps, seconds = summary_prediction(plans[0].plan.summary) or (0, 0.0)
    assert steps > 0
    # The run's budget is half the plan's: half the steps, at the seconds per step measured.
    assert trained[0]["predicted"] == result.predicted == (max(1, round(steps / 2)), seconds)
    assert trained[0]["step_overrides"] == (wide,)
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("unetkit")]
    assert [r.getMessage() for r in warned] == [result.shortfall]
    assert f"{wide} changed what a step costs" in result.shortfall


def test_fit_folder_with_a_plan_file_predicts_from_its_header(
    tmp_path: Path, trained: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    from unetkit.cli.plan import write_plan_files

    root = _folder(tmp_path / "data").resolve()
    plan = tmp_path / "plans" / "plan.yaml"
    plan.parent.mkdir()
    write_plan_files(unetkit.plan_folder(root, budget="1m", **FAST), plan, plan.with_name("dataset.json"))
    import yaml

    wanted = plan_file_prediction(plan.read_text(), yaml.safe_load(plan.read_text()))
    assert wanted is not None
    with caplog.at_level(logging.WARNING, logger="unetkit"):
        result = unetkit.fit_folder(root, plan=plan, out=tmp_path / "r")
    assert trained[0]["predicted"] == result.predicted == wanted and trained[0]["step_overrides"] == ()
    assert "other work on the machine" in result.shortfall
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [result.shortfall]


def test_fit_dir_passes_the_prediction_and_prints_the_note(
    tmp_path: Path, trained: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    from unetkit.cli.main import main

    root = _folder(tmp_path / "data")
    args = ["fit", str(root), "--time", "1m", "--threads", "1", "--measure-limit", "2", "--device", "cpu"]
    assert main([*args, f"output.root={tmp_path / 'runs'}"]) == 0
    predicted = trained[0]["predicted"]
    assert predicted is not None and predicted[0] > 0
    err = capsys.readouterr().err
    assert f"note: the budget bought 3 optimizer steps of the {predicted[0]} the plan predicted" in err
