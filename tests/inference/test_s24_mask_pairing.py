"""``predict --masks DIR`` where DIR also holds the inputs (trial 23, F1): an input is never its own mask
(``big.png`` beside ``big_labels.png`` pairs with ``big_labels.png``), a colour file read as a label image is
said to look like a photo, and summary.csv names the mask file each image was scored against."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.inference.test_georef_predict import _Squares  # predicts a 4x4 square (top left)

from unetkit.data.io import MaskEncoding
from unetkit.inference.batch import CompanionFiles, GroundTruth, predict_files
from unetkit.planning.discovery import Companions


def _save(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "summary.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_an_input_beside_its_labels_is_scored_against_the_labels_not_itself(tmp_path: Path) -> None:
    folder = tmp_path / "big"
    image = _save(folder / "big.png", np.full((16, 16, 3), 7, np.uint8))  # gray as RGB: value 7 everywhere
    truth = np.zeros((16, 16), np.uint8)
    truth[1:5, 1:5] = 1
    labels = _save(folder / "big_labels.png", truth)
    result = predict_files(
        _Squares(), [image], tmp_path / "out", ground_truth=GroundTruth(folder, MaskEncoding("index", 2))
    )
    assert result.failures == [] and result.scored == 1 and result.unscored == []
    assert result.scores is not None and result.scores["miou"] == pytest.approx(1.0)
    assert "mask_file" in result.columns and result.columns[-1] == "iou_fg"  # then the image's own scores
    assert [row["mask_file"] for row in _rows(tmp_path / "out")] == [str(labels)]


def test_an_input_alone_in_the_masks_folder_has_no_mask_rather_than_itself(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    image = _save(folder / "a.png", np.full((16, 16), 1, np.uint8))  # would read as a valid class mask
    other = _save(folder / "b.png", np.full((16, 16), 1, np.uint8))
    _save(tmp_path / "masks" / "b.png", np.zeros((16, 16), np.uint8))
    result = predict_files(
        _Squares(), [image], tmp_path / "out", ground_truth=GroundTruth(folder, MaskEncoding("index", 2))
    )
    assert result.scored == 0 and result.unscored == [image]
    assert [row["mask_file"] for row in _rows(tmp_path / "out")] == [""]
    # The mask column is there with every scored run; a mask found elsewhere is named.
    scored = predict_files(
        _Squares(),
        [image, other],
        tmp_path / "out2",
        ground_truth=GroundTruth(tmp_path / "masks", MaskEncoding("index", 2)),
    )
    assert [row["mask_file"] for row in _rows(tmp_path / "out2")] == ["", str(tmp_path / "masks" / "b.png")]
    assert scored.scored == 1
    # Without ground truth summary.csv keeps its columns.
    plain = predict_files(_Squares(), [image], tmp_path / "out3")
    assert "mask_file" not in plain.columns


def test_companions_pass_over_the_image_itself_by_path_or_link(tmp_path: Path) -> None:
    image = _save(tmp_path / "x.png", np.zeros((4, 4), np.uint8))
    labels = _save(tmp_path / "x_labels.png", np.zeros((4, 4), np.uint8))
    pairs = Companions([image, labels])
    assert pairs.find("x") == image  # without the image named: the same stem, as before
    assert pairs.find("x", image=image) == labels
    assert pairs.find("x", image=tmp_path / "." / "x.png") == labels  # another spelling of the same path
    alone = Companions([image])
    assert alone.find("x", image=image) is None
    assert CompanionFiles(tmp_path, "mask").find("x", "x", image) == labels


def test_a_colour_file_read_as_instance_labels_is_refused_as_a_photo(tmp_path: Path) -> None:
    image = _save(tmp_path / "in" / "cell.png", np.full((32, 32), 9, np.uint8))
    rng = np.random.default_rng(0)
    _save(tmp_path / "masks" / "cell.png", rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))  # ~1000 colours
    truth = GroundTruth(
        tmp_path / "masks",
        MaskEncoding("instances", 2),
        other_kind_fix="pass --masks a folder of label images",
    )
    result = predict_files(_Squares(), [image], tmp_path / "out", ground_truth=truth)
    assert len(result.failures) == 1
    message = str(result.failures[0][1])
    assert message.startswith(f"mask {tmp_path / 'masks' / 'cell.png'} is a colour image (RGB), which looks ")
    assert "looks like a photo, not a label image" in message and "one gray value per object" in message
    assert message.endswith("; pass --masks a folder of label images")
    # A mask drawn in a few colours is a colour mask, not a photo: said as before.
    drawn = np.zeros((32, 32, 3), np.uint8)
    drawn[4:9, 4:9] = (255, 0, 0)
    _save(tmp_path / "masks" / "cell.png", drawn)
    result = predict_files(_Squares(), [image], tmp_path / "out", ground_truth=truth)
    message = str(result.failures[0][1])
    assert (
        message
        == f"mask {tmp_path / 'masks' / 'cell.png'} is a colour image; pass --masks a folder of label images"
    )
