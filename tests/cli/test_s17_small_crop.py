"""``unetkit fit DIR data.crop_size=7``: one console warning when a crop set on the command line is smaller
than the model's smallest forward pass (a padded U-Net pads to ``2**depth``) or than the median object
extent, naming the plan's own crop and its reason (a user trial's 7 px crops trained without a word)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from unetkit.cli.fit import small_crop_warning
from unetkit.cli.main import main
from unetkit.cli.plan import PlannedFit
from unetkit.training.config import load_config

FAST = ["--threads", "1", "--measure-limit", "2", "--device", "cpu", "--split", "train=0:6,val=6:8"]


def _folder(root: Path, n: int = 8) -> Path:
    """``n`` 64x64 gray images, each with one 20x20 square object (the median object extent: 20 px)."""
    for d in ("images", "masks"):
        (root / d).mkdir(parents=True)
    for i in range(n):
        mask = np.zeros((64, 64), np.uint8)
        mask[8 + i : 28 + i, 10:30] = 255
        Image.fromarray(np.where(mask > 0, 220, 50).astype(np.uint8)).save(root / "images" / f"i{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"i{i}.png")
    return root


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning: data.crop_size")]


@pytest.mark.slow  # 8 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_fit_dir_warns_of_a_crop_below_the_pass_side_and_the_objects(
    tmp_path: Path, stopped: list[PlannedFit], capsys: pytest.CaptureFixture[str]
) -> None:
    root = _folder(tmp_path / "data")
    runs = f"output.root={tmp_path / 'runs'}"
    assert main(["fit", str(root), "--time", "1m", *FAST, "data.crop_size=7", runs]) == 2
    planned = stopped[-1]
    assert planned.crop_choice is not None and planned.crop_choice[0] is not None
    h, w = planned.crop_choice[0]
    (line,) = _warnings(capsys.readouterr().err)
    depth = yaml.safe_load(str(planned.files["plan.yaml"]))["model"]["kwargs"]["depth"]
    side = 2**depth
    assert line.startswith(
        f"warning: data.crop_size gives 7x7 (WxH) crops, below the {side} px side of the model's smallest "
        f"forward pass (unet pads each crop up to a multiple of {side} px: {1 - 49 / side**2:.0%} of what it "
        "sees is padding) and below the median object extent 20 px (most objects do not fit in a crop); "
        f"the plan chose {w}x{h} (WxH): "
    )
    assert line.endswith(": drop data.crop_size to train it")
    # Above the pass side, below the objects: the objects only.
    assert main(["fit", str(root), "--time", "1m", *FAST, f"data.crop_size={side + 4}", runs]) == 2
    (line,) = _warnings(capsys.readouterr().err)
    assert "forward pass" not in line and "below the median object extent 20 px" in line
    # The plan's own crop, and a crop large enough, say nothing.
    assert main(["fit", str(root), "--time", "1m", *FAST, f"data.crop_size=[{h},{w}]", runs]) == 2
    assert _warnings(capsys.readouterr().err) == []


def test_fit_with_a_plan_file_names_the_plan_files_crop(
    tmp_path: Path, stopped: list[PlannedFit], capsys: pytest.CaptureFixture[str]
) -> None:
    root = _folder(tmp_path / "data")
    plan = tmp_path / "p" / "plan.yaml"
    assert main(["plan", str(root), "--time", "1m", "--out", str(plan), *FAST]) == 0
    h, w = yaml.safe_load(plan.read_text())["data"]["crop_size"]
    capsys.readouterr()
    runs = f"output.root={tmp_path / 'runs'}"
    assert main(["fit", str(root), "--plan", str(plan), "data.crop_size=7", runs]) == 2
    (line,) = _warnings(capsys.readouterr().err)
    assert "below the median object extent 20 px" in line  # the fingerprint of the plan's dataset.json
    assert f"; the plan chose {w}x{h} (WxH): " in line


def test_without_a_plan_only_the_pass_side_is_known() -> None:
    config = load_config(None, ["model.kwargs.depth=3", "data.crop_size=5"])
    line = small_crop_warning(config, None, ["data.crop_size=5"])
    assert line == (
        "data.crop_size gives 5x5 (WxH) crops, below the 8 px side of the model's smallest forward pass "
        "(unet pads each crop up to a multiple of 8 px: 61% of what it sees is padding); "
        "raise data.crop_size to at least 8"
    )
    # Not set on the command line (a config file's own value): not this warning's business.
    assert small_crop_warning(config, None, ["trainer.max_epochs=1"]) == ""
    config = load_config(None, ["model.kwargs.depth=3", "data.crop_size=8"])
    assert small_crop_warning(config, None, ["data.crop_size=8"]) == ""
