"""A budgeted fit that bought far fewer steps than its plan predicted says so (a trial's busy machine: 197 of
1014 steps, and nothing said)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unetkit.cli.fit import _shortfall_note
from unetkit.cli.plan import PlannedFit


def _run(tmp_path: Path, steps: int | None, seconds: float = 118.0) -> Path:
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    (run / "train.json").write_text(json.dumps({"train_seconds": seconds, "budget_stop_step": steps}))
    return run


def test_a_shortfall_is_named_with_both_step_times(tmp_path: Path) -> None:
    planned = PlannedFit(None, [], {}, predicted=(1014, 0.103))
    note = _shortfall_note(_run(tmp_path, 197), planned)
    assert note.startswith("the budget bought 197 optimizer steps of the 1014 the plan predicted")
    assert "(0.60 s/step against 0.103 s/step measured)" in note and "idle" in note
    assert _shortfall_note(_run(tmp_path, 600), planned) == ""  # most of the plan's steps: nothing to say
    assert _shortfall_note(_run(tmp_path, None), planned) == ""  # not stopped by a budget
    assert _shortfall_note(_run(tmp_path, 197), PlannedFit(None, [], {})) == ""  # a reused plan file


def test_a_negative_budget_reaches_the_budgets_own_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--time -1m` was argparse's 'expected one argument' (the value looks like an option)."""
    from unetkit.cli.main import main

    assert main(["fit", str(tmp_path), "--time", "-1m"]) == 2
    err = capsys.readouterr().err
    assert "time budget '-1m' is not a duration; write e.g. 20m" in err and "expected one argument" not in err
