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


def test_an_override_of_the_steps_cost_is_named_not_the_machine(tmp_path: Path) -> None:
    """A planner audit: base_channels=24 over the planned 8 made 73 of 294 steps, and the note blamed other
    work on the machine."""
    planned = PlannedFit(None, [], {}, (294, 0.178), ("model.kwargs.base_channels=24",))
    note = _shortfall_note(_run(tmp_path, 73, 58.3), planned)
    assert note.startswith("the budget bought 73 optimizer steps of the 294 the plan predicted for its own")
    assert "model.kwargs.base_channels=24 changed what a step costs" in note and "idle" not in note


def test_fit_dir_keeps_the_overrides_of_a_steps_cost(tmp_path: Path, stopped: list[PlannedFit]) -> None:
    import numpy as np
    from PIL import Image

    from unetkit.cli.main import main

    made = stopped
    root = tmp_path / "data"
    for d in ("images", "masks"):
        (root / d).mkdir(parents=True)
    for i in range(12):
        mask = np.zeros((32, 32), np.uint8)
        mask[4 + i : 12 + i, 4:12] = 255
        Image.fromarray(np.where(mask > 0, 230, 60).astype(np.uint8)).save(root / "images" / f"i{i:02d}.png")
        Image.fromarray(mask).save(root / "masks" / f"i{i:02d}.png")
    args = ["fit", str(root), "--time", "30s", "--threads", "1", "--measure-limit", "2", "--device", "cpu"]
    # data.crop_size=32 is the plan's own crop (whole 32 px images): it changes nothing, so is not named.
    extra = [
        "model.kwargs.base_channels=16",
        "trainer.max_epochs=5",
        "data.crop_size=16",
        "data.crop_size=32",
    ]
    assert main([*args, *extra, f"output.root={tmp_path / 'runs'}"]) == 2
    assert made[-1].step_overrides == ("model.kwargs.base_channels=16", "data.crop_size=16")


def test_a_negative_budget_reaches_the_budgets_own_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--time -1m` was argparse's 'expected one argument' (the value looks like an option)."""
    from unetkit.cli.main import main

    assert main(["fit", str(tmp_path), "--time", "-1m"]) == 2
    err = capsys.readouterr().err
    # A negative duration is said as 0 is (trial 27: '-3' was 'not a duration', '0' 'must be positive').
    assert "time budget '-1m' must be positive; write e.g. 20m" in err and "expected one argument" not in err
