"""``predict --roi``: outside an image's region of interest the prediction is void, nothing is scored or
counted; masks and ROIs pair with the images as ``fit`` pairs them (DRIVE's names)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unetkit.data.io import MaskEncoding
from unetkit.inference.batch import GroundTruth, OutputOptions, find_mask, predict_files
from unetkit.inference.writers import save_mask_png
from unetkit.model_files.model_config import ModelConfig
from unetkit.planning.discovery import Companions


class _Squares:
    """Predicts class 1 in two 4x4 squares (top left, bottom right) of a 16x16 image, class 0 elsewhere."""

    def __init__(self) -> None:
        self.config = ModelConfig("unet", {"in_channels": 1, "num_classes": 2}, ["bg", "fg"], [0.5], [0.25])

    def predict(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        mask = np.zeros((h, w), np.int64)
        mask[1:5, 1:5] = 1
        mask[11:15, 11:15] = 1
        probs = np.stack([1.0 - mask, mask]).astype(np.float32)
        return mask, probs


def _save(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


@pytest.fixture
def drive(tmp_path: Path) -> Path:
    """DRIVE's names: images/01_test.tif, mask/01_test_mask.gif (the field of view: the left half) and
    1st_manual/01_manual1.gif (the truth: foreground in both squares)."""
    root = tmp_path / "test"
    _save(root / "images" / "01_test.tif", np.full((16, 16), 128, np.uint8))
    fov = np.zeros((16, 16), np.uint8)
    fov[:, :8] = 255
    _save(root / "mask" / "01_test_mask.gif", fov)
    truth = np.zeros((16, 16), np.uint8)
    truth[1:5, 1:5] = 255
    truth[11:15, 11:15] = 255
    _save(root / "1st_manual" / "01_manual1.gif", truth)
    return root


def test_outside_the_roi_the_mask_is_void_and_nothing_is_counted_or_scored(
    drive: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    truth = GroundTruth(drive / "1st_manual", MaskEncoding("binary", num_classes=2))
    result = predict_files(
        _Squares(),
        [drive / "images" / "01_test.tif"],
        out,
        outputs=OutputOptions(instances="components"),
        ground_truth=truth,
        roi=drive / "mask",
    )
    assert not result.failures and not result.unscored  # 01_manual1 pairs with 01_test, as fit pairs them
    mask = _read(out / "masks" / "01_test.png")
    assert (mask[:, 8:] == 255).all()  # void outside the field of view
    assert mask[1:5, 1:5].min() == 1 and mask[:, :8].max() == 1
    # Only the square inside is an instance; the other lay outside.
    labels = _read(out / "instances" / "01_test.png")
    assert labels[:, 8:].max() == 0 and labels[1:5, 1:5].min() > 0
    row = next(csv.DictReader((out / "summary.csv").open()))
    assert row["instances"] == "1"
    assert row["roi"] == str(drive / "mask" / "01_test_mask.gif")
    assert float(row["frac_fg"]) == pytest.approx(16 / (16 * 8))  # of the pixels inside
    assert float(row["frac_bg"]) + float(row["frac_fg"]) == pytest.approx(1.0)
    # Scored inside only: 16 * 8 pixels, all right.
    assert result.scores is not None
    assert sum(result.scores["support"]) == 16 * 8
    assert result.scores["pixel_accuracy"] == pytest.approx(1.0)
    # The overlay leaves void untinted: outside, it is the image.
    overlay = _read(out / "overlays" / "01_test.png")
    assert (overlay[:, 8:] == 128).all()


def test_void_has_the_models_void_colour_in_the_mask_png(tmp_path: Path) -> None:
    mask = np.array([[0, 1], [255, 1]], np.uint8)
    save_mask_png(tmp_path / "m.png", mask, num_classes=2, void_color=(10, 20, 30))
    with Image.open(tmp_path / "m.png") as img:
        assert img.mode == "P"
        assert img.getpalette()[255 * 3 : 256 * 3] == [10, 20, 30]
        assert np.array_equal(np.asarray(img), mask)


def test_an_image_without_an_roi_fails_naming_the_folder(drive: Path, tmp_path: Path) -> None:
    _save(drive / "images" / "02_test.tif", np.full((16, 16), 128, np.uint8))
    failed: list[tuple[Path, Exception]] = []
    result = predict_files(
        _Squares(),
        sorted((drive / "images").iterdir()),
        tmp_path / "out",
        roi=drive / "mask",
        on_error=lambda p, e: failed.append((p, e)),
    )
    assert len(result.rows) == 1 and len(failed) == 1
    assert failed[0][0].name == "02_test.tif"
    assert f"no ROI for 02_test.tif in {drive / 'mask'}" in str(failed[0][1])
    assert not (tmp_path / "out" / "masks" / "02_test.png").exists()


def test_an_roi_of_another_size_fails_naming_both_files(drive: Path, tmp_path: Path) -> None:
    _save(drive / "mask" / "01_test_mask.gif", np.full((12, 16), 255, np.uint8))
    failed: list[Exception] = []
    predict_files(
        _Squares(),
        [drive / "images" / "01_test.tif"],
        tmp_path / "out",
        roi=drive / "mask",
        on_error=lambda p, e: failed.append(e),
    )
    message = str(failed[0])
    assert "01_test_mask.gif is 16x12 (WxH)" in message and "01_test.tif is 16x16" in message


def test_a_missing_roi_folder_is_refused_before_anything_is_written(drive: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"ROI folder .*nowhere does not exist"):
        predict_files(
            _Squares(), [drive / "images" / "01_test.tif"], tmp_path / "out", roi=tmp_path / "nowhere"
        )
    assert not (tmp_path / "out").exists()


def test_companions_pair_as_discovery_pairs(tmp_path: Path) -> None:
    files = [Path(n) for n in ("21_manual1.gif", "22_training_mask.gif", "23.png", "23_mask.png", "x_gt.png")]
    found = Companions(files)
    assert found.find("21_training") == Path("21_manual1.gif")  # by key
    assert found.find("22_training") == Path("22_training_mask.gif")  # stem + mask suffix
    assert found.find("23") == Path("23.png")  # the same stem first
    assert found.find("x") == Path("x_gt.png")
    assert found.find("24_training") is None
    with pytest.raises(ValueError, match=r"a_mask.png and .*a_gt.png both pair with image 'a'"):
        Companions([Path("a_mask.png"), Path("a_gt.png")]).find("a")
    # find_mask (unetkit kmeans --masks) takes the same rule.
    _save(tmp_path / "21_manual1.gif", np.zeros((4, 4), np.uint8))
    assert find_mask(tmp_path, "21_training") == tmp_path / "21_manual1.gif"


def test_the_figure_blanks_the_prediction_outside_the_field_of_view(
    drive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import unetkit.viz.figures as figures
    from unetkit.evaluation import evaluate_split

    drawn: dict[str, list[np.ndarray]] = {}

    def record(images: list, targets: list, preds: list, *args: object, **kwargs: object) -> None:
        drawn.update(targets=targets, preds=preds)

    monkeypatch.setattr(figures, "plot_prediction_grid", record)
    mask = drive / "1st_manual" / "01_manual1.gif"
    encoding = MaskEncoding(
        "binary", num_classes=2, rois={str(mask): str(drive / "mask" / "01_test_mask.gif")}
    )
    scores, _ = evaluate_split(
        _Squares(),
        [(drive / "images" / "01_test.tif", mask)],
        encoding,
        ["bg", "fg"],
        out_dir=tmp_path / "ev",
    )
    assert (drawn["targets"][0][:, 8:] == 255).all()
    assert (drawn["preds"][0][:, 8:] == 255).all()  # not the square the model drew there
    assert drawn["preds"][0][1:5, 1:5].min() == 1
    assert sum(scores["support"]) == 16 * 8


def test_predict_tints_class_0_when_it_is_no_background(tmp_path: Path) -> None:
    """Street scenes: predicted sky (class 0) is tinted in its colour, not left like 'no colour'."""
    squares = _Squares()
    squares.config = ModelConfig(
        "unet", {"in_channels": 1, "num_classes": 3}, ["sky", "road", "car"], [0.5], [0.25],
        class_colors=[[128, 128, 128], [255, 0, 0], [0, 255, 0]],
    )  # fmt: skip
    image = _save(tmp_path / "street.png", np.full((16, 16), 100, np.uint8))
    predict_files(squares, [image], tmp_path / "out")
    overlay = _read(tmp_path / "out" / "overlays" / "street.png")
    assert (overlay[8, 0] == 114).all()  # sky (class 0): (100 + 128) / 2
