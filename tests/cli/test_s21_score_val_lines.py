"""``unetkit fit DIR --score val``: the plan's estimate of the scoring after the budget (the evaluate.tta
line) names the val images the run scores, not the folder's test split (a user trial's line said "scoring 2
test images" under --score val)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from test_fit_dir import FAST, make_folder

from unetkit.cli.plan import PlannedFit, scored_split
from unetkit.planning.plan import after_budget_text


def _fingerprint(test: int) -> SimpleNamespace:
    # 1 Mpx training images: the instance grid over 10 val images is 22 s (INSTANCE_GRID_S_PER_MPIX).
    return SimpleNamespace(num_images={"train": 40, "val": 10, "test": test}, train_pixels=40_000_000)


@pytest.mark.parametrize("instances", [False, True])
@pytest.mark.parametrize("val_pass_s", [2.5, 25.0])  # 3 s an image (seconds), 30 s (minutes)
def test_the_estimate_names_the_split_scored(instances: bool, val_pass_s: float) -> None:
    """split='val' estimates the val scoring as a folder without test images would; None/'test': test."""
    with_test, without_test = _fingerprint(20), _fingerprint(0)
    on_val = after_budget_text(with_test, val_pass_s, 8, instances, split="val")
    assert "scoring 10 val images" in on_val and "test" not in on_val
    assert on_val == after_budget_text(without_test, val_pass_s, 8, instances)
    for split in (None, "test"):
        assert "scoring 20 test images" in after_budget_text(with_test, val_pass_s, 8, instances, split=split)


def test_the_scored_split_is_the_last_given() -> None:
    assert scored_split(["trainer.max_epochs=2", "evaluate.split=val"]) == "val"
    assert scored_split(["evaluate.split=val", "evaluate.split = test"]) == "test"
    assert scored_split(["evaluate.tta=false"]) is None


@pytest.mark.slow  # 5 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_fit_score_val_prints_the_val_scoring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stopped: list[PlannedFit]
) -> None:
    root = make_folder(tmp_path / "data")  # 8 train, 2 val, 2 test images
    args = ["fit", str(root), "--time", "30s", *FAST, f"output.root={tmp_path / 'runs'}"]
    from unetkit.cli.main import main

    assert main([*args, "--score", "val"]) == 2  # the fixture stops it before training
    tta = [line for line in capsys.readouterr().out.splitlines() if line.lstrip().startswith("evaluate.tta:")]
    assert len(tta) == 1 and "scoring 2 val images with 8 views" in tta[0] and "test" not in tta[0]
    assert main(args) == 2
    tta = [line for line in capsys.readouterr().out.splitlines() if line.lstrip().startswith("evaluate.tta:")]
    assert len(tta) == 1 and "scoring 2 test images with 8 views" in tta[0]
