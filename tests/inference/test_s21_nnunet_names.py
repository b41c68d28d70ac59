"""``unetkit predict`` on nnU-Net's raw layout: the image ``case_020_0000`` (``_0000``: its one channel) pairs
with the mask ``labelsTr/case_020``, and its outputs are named after the case (``masks/case_020.png``), as
nnU-Net names its predictions, unless two inputs would then share a name."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from unetkit.cli.main import main
from unetkit.data.io import MaskEncoding
from unetkit.inference.batch import (
    CompanionFiles,
    GroundTruth,
    OutputOptions,
    find_inputs,
    find_mask,
    predict_files,
)
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model

CASES = ["case_000.png", "case_001.png", "case_002.png"]  # the outputs of the fixture's images


class _Square:
    """Predicts class 1 in a 4x4 square at the top left of an image, class 0 elsewhere."""

    def __init__(self) -> None:
        self.config = ModelConfig("unet", {"in_channels": 1, "num_classes": 2}, ["bg", "cell"], [0.5], [0.25])

    def predict(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mask = np.zeros(image.shape[:2], np.int64)
        mask[:4, :4] = 1
        return mask, np.stack([1.0 - mask, mask]).astype(np.float32)


def _save(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


@pytest.fixture
def nnunet(tmp_path: Path) -> Path:
    """nnU-Net's raw layout: imagesTr/case_00{0,1,2}_0000.png (16x16 gray), labelsTr/case_00{0,1,2}.png (the
    top left 4x4 square is class 1) and dataset.json."""
    root = tmp_path / "Dataset001_Cells"
    truth = np.zeros((16, 16), np.uint8)
    truth[:4, :4] = 1
    for i in range(3):
        _save(root / "imagesTr" / f"case_00{i}_0000.png", np.full((16, 16), 40 * i, np.uint8))
        _save(root / "labelsTr" / f"case_00{i}.png", truth)
    (root / "dataset.json").write_text(
        json.dumps({"channel_names": {"0": "EM"}, "labels": {"background": 0, "cell": 1}, "numTraining": 3,
                    "file_ending": ".png"})
    )  # fmt: skip
    return root


def test_an_nnunet_image_pairs_with_the_mask_of_its_case(nnunet: Path) -> None:
    assert find_mask(nnunet / "labelsTr", "case_001_0000") == nnunet / "labelsTr" / "case_001.png"
    # A mask with the image's full stem still comes first.
    _save(nnunet / "labelsTr" / "case_001_0000.png", np.zeros((16, 16), np.uint8))
    assert find_mask(nnunet / "labelsTr", "case_001_0000") == nnunet / "labelsTr" / "case_001_0000.png"
    # Only _0000, nnU-Net's one channel, is stripped: frame_0012 is no channel file.
    _save(nnunet / "labelsTr" / "frame.png", np.zeros((16, 16), np.uint8))
    assert CompanionFiles(nnunet / "labelsTr", "mask").find("frame_0012", "frame_0012") is None
    with pytest.raises(ValueError, match=r"case_009\.png"):
        find_mask(nnunet / "labelsTr", "case_009_0000")


def test_outputs_of_nnunet_inputs_are_named_after_the_case(nnunet: Path, tmp_path: Path) -> None:
    found = find_inputs([str(nnunet / "imagesTr")])
    assert found.cases and found.names == ["case_000", "case_001", "case_002"]
    out = tmp_path / "out"
    result = predict_files(
        _Square(),
        found.files,
        out,
        outputs=OutputOptions(overlay=True),
        ground_truth=GroundTruth(nnunet / "labelsTr", MaskEncoding("index", num_classes=2)),
        names=found.names,
    )
    assert not result.failures and not result.unscored and result.scored == 3
    assert result.scores is not None and result.scores["miou"] == pytest.approx(1.0)
    for sub in ("masks", "overlays"):
        assert sorted(p.name for p in (out / sub).iterdir()) == CASES
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [(Path(r["file"]).name, r["output"]) for r in rows] == [
        (f"case_00{i}_0000.png", f"case_00{i}") for i in range(3)
    ]
    assert json.loads((out / "metrics.json").read_text())["images"] == 3


def test_full_stems_stay_unless_every_input_is_an_nnunet_channel_file(tmp_path: Path) -> None:
    pixels = np.zeros((8, 8), np.uint8)
    # Two inputs of one case (case_000_0000.png and .tif) would share case_000: the full stems stay.
    _save(tmp_path / "same" / "case_000_0000.png", pixels)
    _save(tmp_path / "same" / "case_000_0000.tif", pixels)
    found = find_inputs([str(tmp_path / "same")])
    assert not found.cases and found.names == ["case_000_0000", "case_000_0000__2"]
    # One input without the suffix: the folder is not nnU-Net's.
    _save(tmp_path / "mixed" / "a_0000.png", pixels)
    _save(tmp_path / "mixed" / "b.png", pixels)
    found = find_inputs([str(tmp_path / "mixed")])
    assert not found.cases and found.names == ["a_0000", "b"]
    # Another four-digit number is no channel (frames of a sequence); a bare _0000 has no case.
    for stem in ("frame_0012", "_0000"):
        _save(tmp_path / stem / f"{stem}.png", pixels)
        assert find_inputs([str(tmp_path / stem)]).names == [stem]
    # With --recursive the case keeps its sub-folder.
    _save(tmp_path / "deep" / "day1" / "case_000_0000.png", pixels)
    _save(tmp_path / "deep" / "day2" / "case_000_0000.png", pixels)
    found = find_inputs([str(tmp_path / "deep")], recursive=True)
    assert found.cases and found.names == ["day1/case_000", "day2/case_000"]


def test_the_cli_scores_an_nnunet_folder_and_says_how_it_names_the_outputs(
    nnunet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "num_classes": 2, "depth": 2, "base_channels": 4}
    config = ModelConfig("unet", kwargs, ["bg", "cell"], [0.5], [0.25])
    model = save_model(create_model("unet", **kwargs), config, tmp_path / "model")
    out = tmp_path / "preds"
    args = ["predict", str(model), str(nnunet / "imagesTr"), "--masks", str(nnunet / "labelsTr")]
    assert main([*args, "--out", str(out), "-q"]) == 0
    captured = capsys.readouterr()
    assert "3 image(s) segmented (3 scored), 0 failed" in captured.out
    notes = [line for line in captured.err.splitlines() if "nnU-Net" in line]
    assert len(notes) == 1 and "named after the case (case_000.png)" in notes[0], captured.err
    assert "share a name" not in captured.err
    assert sorted(p.name for p in (out / "masks").iterdir()) == CASES
