"""``predict --masks``: ground truth stored another way than the run's masks (colour vs class values) is
refused per file with the command-line fix, and the line saying how ground truth is read names the void."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from unetkit.cli.main import main
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model

SIZES = {"one": (20, 24), "two": (16, 20)}
COLOURS = {0: [0, 255, 0], 1: [255, 0, 0], 2: [0, 0, 255]}


def _run(tmp_path: Path, options: dict[str, Any] | None) -> Path:
    """A run folder (``config.yaml`` with these ``data.options``; None: a bare model folder) of a
    3-class gray model."""
    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "num_classes": 3, "depth": 2, "base_channels": 4}
    config = ModelConfig("unet", kwargs, class_names=["bg", "a", "b"], mean=[0.5], std=[0.25])
    run = tmp_path / "run"
    save_model(create_model("unet", **kwargs), config, run / "model")
    if options is None:
        return run / "model"
    (run / "config.yaml").write_text(yaml.safe_dump({"data": {"dataset": "folder", "options": options}}))
    return run


def _data(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(images, colour masks, class-value masks) of two gray images; the top row void (black / 9)."""
    images, colour, gray = tmp_path / "images", tmp_path / "colour", tmp_path / "gray"
    for folder in (images, colour, gray):
        folder.mkdir()
    rng = np.random.default_rng(0)
    for name, (h, w) in SIZES.items():
        Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).save(images / f"{name}.png")
        classes = rng.integers(0, 3, (h, w)).astype(np.uint8)
        rgb = np.asarray([COLOURS[c] for c in range(3)], np.uint8)[classes]
        rgb[0] = 0
        Image.fromarray(rgb).save(colour / f"{name}.png")
        classes[0] = 9
        Image.fromarray(classes).save(gray / f"{name}.png")
    return images, colour, gray


PALETTE = {"mask_kind": "palette", "num_classes": 3, "colors": COLOURS, "ignore_colors": [[0, 0, 0]]}
INDEX = {"mask_kind": "index", "num_classes": 3, "ignore_values": [9]}


def test_the_ground_truth_line_of_a_colour_run_names_its_void_colours(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Trial #10: "ground truth read as the run read its masks: palette (...)" left the void out, while an
    # index run's line says "index, void [11]".
    images, colour, _ = _data(tmp_path)
    run = _run(tmp_path, PALETTE)
    out = tmp_path / "out"
    assert main(["predict", str(run), str(images), "--out", str(out), "--masks", str(colour), "-q"]) == 0
    assert "read as the run read its masks: palette, void [[0, 0, 0]] (" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "truth", "said", "fix"),
    [
        # Trial #3: an index run scored against colour masks said "use MaskEncoding(kind='palette', ...)".
        (INDEX, "colour", "is a colour image", "was trained on masks that hold class values (index)"),
        (PALETTE, "gray", "holds one value per pixel (gray), not colours", "--mask-encoding index"),
        # No run folder says how its masks were read: the class values given (default index) apply.
        (None, "colour", "is a colour image", "pass that run's folder as MODEL"),
    ],
)
def test_masks_stored_another_way_than_the_runs_name_the_command_line_fix(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    options: dict[str, Any] | None,
    truth: str,
    said: str,
    fix: str,
) -> None:
    images, colour, gray = _data(tmp_path)
    model = _run(tmp_path, options)
    masks = colour if truth == "colour" else gray
    out = tmp_path / "out"
    assert main(["predict", str(model), str(images), "--out", str(out), "--masks", str(masks), "-q"]) == 2
    err = capsys.readouterr().err
    for name in SIZES:
        assert f"mask {masks / name}.png {said}; " in err
    assert err.count(fix) == 2 and "MaskEncoding" not in err
    assert "nothing was written" in err and not out.exists()
