"""``unetkit fit DIR [--plan FILE] KEY=VALUE``: what the overrides change is named (and only that), the run
folder's plan.yaml and plan.png show the values trained, and a reused plan's step prediction is kept so a
shortfall names an override that changed a step's cost (planner audit)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

from unetkit.cli.fit import _shortfall_note
from unetkit.cli.main import main
from unetkit.cli.plan import PlannedFit, at_run_budget, plan_prediction
from unetkit.planning.folder import overridden_plan_text

FAST = ["--threads", "1", "--measure-limit", "2", "--device", "cpu"]

PLAN = """\
# unetkit plan /data --time 1m --device cpu: planned in 3.2s
# measured training steps (forward, CE + Dice, backward, AdamW on random data) and the budget:
#   unet b8 d3 32x48 x32 bf16-mixed: 0.038s/step -> 446 steps, 11.2 epochs of 40 (checkpoint 0.01s)
#   unet b12 d3 32x48 x32 bf16-mixed: 0.061s/step -> 280 steps, 7.0 epochs of 40 (checkpoint 0.01s)
data:
  # 32x48 (WxH): whole images
  crop_size: [48, 32]
  batch_size: 32
  # flips: no up
  augment: {flips: true, elastic: true}
model:
  name: unet
  kwargs:
    # base 8: the narrowest gets the most (446)
    base_channels: 8
    depth: 3
# AdamW lr 0.002: the ISBI sweep
optim: {name: adamw, lr: 0.002}
trainer:
  # the time budget
  max_time_minutes: 1
  precision: bf16-mixed
evaluate:
  checkpoint: last
"""


def test_a_reused_plan_predicts_from_its_header_row_of_the_trained_candidate() -> None:
    loaded = yaml.safe_load(PLAN)
    assert plan_prediction(PLAN, loaded) == (446, 0.038)
    # Edited by hand to a measured width: that width's row; to an unmeasured one: no prediction.
    loaded["model"]["kwargs"]["base_channels"] = 12
    assert plan_prediction(PLAN, loaded) == (280, 0.061)
    loaded["model"]["kwargs"]["base_channels"] = 24
    assert plan_prediction(PLAN, loaded) is None
    assert plan_prediction("trainer: {}\n", {"trainer": {}}) is None


def test_a_budget_set_on_the_command_line_scales_the_prediction() -> None:
    plan = {"trainer": {"max_time_minutes": 2}}
    assert at_run_budget((400, 0.1), plan, ["trainer.max_time_minutes=1"]) == (200, 0.1)
    assert at_run_budget((400, 0.1), plan, ["trainer.max_epochs=3"]) == (400, 0.1)
    assert at_run_budget(None, plan, ["trainer.max_time_minutes=1"]) is None


def test_a_plan_file_shows_the_values_set_on_the_command_line() -> None:
    text = overridden_plan_text(
        PLAN,
        ["model.kwargs.base_channels=24", "optim.lr=0.01", "evaluate.split=val", "output.root=/x", "depth=3"],
    )
    loaded = yaml.safe_load(text)
    assert loaded["model"]["kwargs"]["base_channels"] == 24 and loaded["optim"]["lr"] == 0.01
    assert loaded["evaluate"] == {"checkpoint": "last", "split": "val"}
    assert "output" not in loaded  # where the run goes is no choice of the plan's
    lines = text.splitlines()
    at = lines.index("    base_channels: 24")
    assert lines[at - 1] == (
        "    # set on the command line (the plan chose 8: base 8: the narrowest gets the most (446))"
    )
    at = lines.index("optim: {name: adamw, lr: 0.01}")
    assert (
        lines[at - 1] == "# lr set on the command line (the plan chose 0.002: AdamW lr 0.002: the ISBI sweep)"
    )
    at = lines.index("  split: val")
    assert lines[at - 1] == "  # set on the command line (the plan left it at the config's default)"
    assert lines[:4] == PLAN.splitlines()[:4]  # the header and the rest as they were
    # A value the plan already has changes nothing.
    assert overridden_plan_text(PLAN, ["trainer.max_time_minutes=1"]) == PLAN


def _folder(root: Path, n: int = 12) -> Path:
    for d in ("images", "masks"):
        (root / d).mkdir(parents=True)
    for i in range(n):
        mask = np.zeros((32, 32), np.uint8)
        mask[4 + i : 12 + i, 4:12] = 255
        image = np.where(mask > 0, 230, 60).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"i{i:02d}.png")
        Image.fromarray(mask).save(root / "masks" / f"i{i:02d}.png")
    return root


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The plans plan.png is drawn from, in order (drawn as ever)."""
    import unetkit.viz.plan_figure as plan_figure

    plans: list[Any] = []
    real = plan_figure.plan_figure_png

    def recorded(plan: Any, fp: Any) -> bytes:
        plans.append(plan)
        return real(plan, fp)

    monkeypatch.setattr(plan_figure, "plan_figure_png", recorded)
    return plans


def test_fit_with_a_plan_file_names_an_override_of_the_steps_cost(
    tmp_path: Path, stopped: list[PlannedFit], capsys: pytest.CaptureFixture[str], drawn: list[Any]
) -> None:
    """A planner audit: with --plan FILE a run slowed by base_channels=24 got no note naming it; its run
    folder's plan.yaml and plan.png kept the plan's width."""
    root = _folder(tmp_path / "data")
    plan = tmp_path / "p" / "plan.yaml"
    assert main(["plan", str(root), "--time", "1m", "--out", str(plan), *FAST]) == 0
    loaded = yaml.safe_load(plan.read_text())
    width, threads = loaded["model"]["kwargs"]["base_channels"], loaded["trainer"]["num_threads"]
    capsys.readouterr()
    runs = f"output.root={tmp_path / 'runs'}"
    wide = f"model.kwargs.base_channels={width + 16}"
    # --threads as the plan timed it changes nothing: not an override of the step's cost.
    assert main(["fit", str(root), "--plan", str(plan), "--threads", str(threads), wide, runs]) == 2
    planned = stopped[-1]
    assert planned.predicted is not None and planned.predicted[0] > 0
    assert planned.step_overrides == (wide,)
    assert f"with {wide} {runs}\n" in capsys.readouterr().out
    (tmp_path / "run").mkdir()
    steps = max(1, planned.predicted[0] // 4)
    (tmp_path / "run" / "train.json").write_text(f'{{"train_seconds": 60, "budget_stop_step": {steps}}}')
    note = _shortfall_note(tmp_path / "run", planned)
    assert f"{wide} changed what a step costs" in note and "other work" not in note
    # The run folder's plan.yaml holds the width trained, its reason the plan's choice.
    kept = yaml.safe_load(planned.files["plan.yaml"])
    assert kept["model"]["kwargs"]["base_channels"] == width + 16
    assert f"# set on the command line (the plan chose {width}: base {width}" in planned.files["plan.yaml"]
    # plan.png drawn again with that width, the measured widths' bars from the plan file's header.
    assert planned.files["plan.png"] != (plan.parent / "plan.png").read_bytes()
    assert drawn[-1].config["model"]["kwargs"]["base_channels"] == width + 16
    assert [r["base_channels"] for r in drawn[-1].table] == [r["base_channels"] for r in drawn[0].table]
    # A dataset.json of an older unetkit (no fingerprint): the figure as it was, and the run goes on.
    dataset = plan.parent / "dataset.json"
    dataset.write_text(
        json.dumps({k: v for k, v in json.loads(dataset.read_text()).items() if k != "fingerprint"})
    )
    assert main(["fit", str(root), "--plan", str(plan), wide, runs]) == 2
    assert stopped[-1].files["plan.png"] == (plan.parent / "plan.png").read_bytes()
    assert "stopped before training" in capsys.readouterr().err


def test_fit_dir_names_only_overrides_that_change_the_plan(
    tmp_path: Path,
    stopped: list[PlannedFit],
    capsys: pytest.CaptureFixture[str],
    drawn: list[Any],
) -> None:
    """--score val where the plan already scores val (no test split) was listed as an override; the run
    folder's plan.yaml and plan.png kept the plan's width under a header naming the override."""
    root = _folder(tmp_path / "data")
    runs = f"output.root={tmp_path / 'runs'}"
    cmd = ["fit", str(root), "--time", "1m", "--split", "train=0:9,val=9:12", "--score", "val", *FAST]
    assert main([*cmd, "model.kwargs.base_channels=40", runs]) == 2
    printed = capsys.readouterr().out
    assert "evaluate.split: val:" in printed  # the plan scores val by itself
    (line,) = [x for x in printed.splitlines() if x.startswith("overridden on the command line:")]
    assert line == f"overridden on the command line: model.kwargs.base_channels=40 {runs}"
    text = str(stopped[-1].files["plan.yaml"])
    assert text.startswith(f"# overridden on the command line: model.kwargs.base_channels=40 {runs}\n")
    assert yaml.safe_load(text)["model"]["kwargs"]["base_channels"] == 40
    assert "# set on the command line (the plan chose " in text and "output" not in yaml.safe_load(text)
    assert drawn[-1].config["model"]["kwargs"]["base_channels"] == 40  # plan.png draws the width trained
