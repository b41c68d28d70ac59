"""``unetkit predict`` inputs: sub-folders (the unread note, ``--recursive`` with mirrored outputs) and images
whose channel count differs from the model's (gray <-> RGB converted, others refused)."""

from __future__ import annotations

import csv
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from unetkit.cli.main import main
from unetkit.data.io import apply_window, convert_channels
from unetkit.inference.batch import find_inputs, model_image
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model


def _model(folder: Path, channels: int, convert: bool = False) -> Path:
    torch.manual_seed(0)
    kwargs = {"in_channels": channels, "num_classes": 3, "depth": 2, "base_channels": 4}
    config = ModelConfig(
        "unet", kwargs, ["bg", "a", "b"], [0.5] * channels, [0.25] * channels, convert_channels=convert
    )
    return save_model(create_model("unet", **kwargs), config, folder)


def _image(path: Path, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def _mask(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


@pytest.fixture
def scans(tmp_path: Path) -> Path:
    """scans/top.png, scans/day1/x.png (20x24), scans/day2/x.png (18x16), scans/day2/late/y.png, and hidden
    files and folders that must never be read."""
    root = tmp_path / "scans"
    _image(root / "top.png", (16, 16))
    _image(root / "day1" / "x.png", (20, 24), seed=1)
    _image(root / "day2" / "x.png", (18, 16), seed=2)
    _image(root / "day2" / "late" / "y.png", (16, 20), seed=3)
    (root / "day1" / "._x.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS metadata, no image
    _image(root / ".thumbs" / "t.png", (8, 8))
    return root


def test_unread_sub_folders_are_named_in_one_line(
    tmp_path: Path, scans: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _model(tmp_path / "model", 1)
    out = tmp_path / "out"
    assert main(["predict", str(model), str(scans), "--out", str(out), "-q"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    assert err == [
        f"note: 3 image(s) in 3 sub-folder(s) of {scans} were not read; add --recursive to read them"
    ]
    assert sorted(p.name for p in (out / "masks").rglob("*")) == ["top.png"]  # the existing behaviour
    # A folder whose images are all in sub-folders: the error says where they are and how to read them.
    (scans / "top.png").unlink()
    assert main(["predict", str(model), str(scans), "--out", str(tmp_path / "o2"), "-q"]) == 2
    err_text = capsys.readouterr().err
    assert "no input images found" in err_text and "3 image(s) in 3 sub-folder(s)" in err_text
    assert "--recursive" in err_text and len(err_text.strip().splitlines()) == 1


def test_recursive_mirrors_sub_folders_and_skips_hidden(
    tmp_path: Path, scans: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _model(tmp_path / "model", 1)
    out = tmp_path / "out"
    assert main(["predict", str(model), str(scans), "--out", str(out), "--recursive", "-q"]) == 0
    assert "note: " not in capsys.readouterr().err
    masks = sorted(p.relative_to(out / "masks").as_posix() for p in (out / "masks").rglob("*.png"))
    assert masks == ["day1/x.png", "day2/late/y.png", "day2/x.png", "top.png"]  # no .thumbs, no ._x
    # Same name, different sub-folders: each its own output (sizes tell them apart).
    assert _mask(out / "masks" / "day1" / "x.png").shape == (20, 24)
    assert _mask(out / "masks" / "day2" / "x.png").shape == (18, 16)
    assert (out / "overlays" / "day2" / "late" / "y.png").is_file()
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["output"] for r in rows] == ["day1/x", "day2/late/y", "day2/x", "top"]
    assert [Path(r["file"]) for r in rows] == [
        scans / "day1/x.png", scans / "day2/late/y.png", scans / "day2/x.png", scans / "top.png"
    ]  # fmt: skip


def test_recursive_reads_ground_truth_from_mirrored_sub_folders(tmp_path: Path, scans: Path) -> None:
    model = _model(tmp_path / "model", 1)
    out = tmp_path / "out"
    assert main(["predict", str(model), str(scans), "--out", str(out), "--recursive", "-q"]) == 0
    gt = tmp_path / "gt"
    for mask in (out / "masks").rglob("*.png"):
        target = gt / mask.relative_to(out / "masks")
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_mask(mask)).save(target)  # a perfect prediction, of each image's own size
    args = ["predict", str(model), str(scans), "--out", str(out), "--recursive", "--masks", str(gt), "-q"]
    assert main(args) == 0  # day1/x and day2/x differ in size: a mask of the other would be an error
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == 4 and metrics["pixel_accuracy"] == 1.0


def test_recursive_follows_a_link_to_a_parent_once(tmp_path: Path, scans: Path) -> None:
    os.symlink("..", scans / "day1" / "up")  # day1/up -> scans: a loop for a naive walk
    found = find_inputs([str(scans)], recursive=True)
    assert [f.relative_to(scans).as_posix() for f in found.files] == [
        "day1/x.png", "day2/late/y.png", "day2/x.png", "top.png"
    ]  # fmt: skip
    assert found.names == ["day1/x", "day2/late/y", "day2/x", "top"]


@pytest.mark.parametrize(("model_channels", "image_channels"), [(3, 1), (1, 3)])
def test_gray_and_rgb_images_are_converted_to_the_models_channels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model_channels: int, image_channels: int
) -> None:
    model = _model(tmp_path / "model", model_channels)
    images, same = tmp_path / "images", tmp_path / "same"
    same.mkdir()
    shape = (20, 24) if image_channels == 1 else (20, 24, 3)
    for name, seed in (("a", 1), ("b", 2)):
        pixels = _image(images / f"{name}.png", shape, seed)
        # The converted image, saved with the model's channels: the masks must match it exactly.
        as_model = convert_channels(pixels.reshape(20, 24, image_channels), model_channels)
        Image.fromarray(as_model[..., 0] if model_channels == 1 else as_model).save(same / f"{name}.png")
    out, ref = tmp_path / "out", tmp_path / "ref"
    assert main(["predict", str(model), str(images), "--out", str(out), "-q"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    how = "gray -> RGB (gray replicated)" if model_channels == 3 else "RGB -> gray (ITU-R 601 luma)"
    assert len(notes) == 1 and notes[0].startswith(f"note: 2 image(s) converted {how} for the model")
    assert "its training saw no such images" in notes[0]
    assert main(["predict", str(model), str(same), "--out", str(ref), "-q"]) == 0
    assert "converted" not in capsys.readouterr().err
    for name in ("a", "b"):
        np.testing.assert_array_equal(
            _mask(out / "masks" / f"{name}.png"), _mask(ref / "masks" / f"{name}.png")
        )


def test_the_note_says_when_training_converted_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _model(tmp_path / "model", 3, convert=True)
    _image(tmp_path / "images" / "g.png", (16, 16))
    assert main(["predict", str(model), str(tmp_path / "images"), "--out", str(tmp_path / "out"), "-q"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    assert notes == [
        "note: 1 image(s) converted gray -> RGB (gray replicated) for the model (g.png); as its training "
        "converted such images"
    ]


def test_other_channel_counts_fail_naming_the_file_and_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _model(tmp_path / "model", 1)
    images = tmp_path / "images"
    _image(images / "ok.png", (16, 16))
    # Five bands (multispectral): neither gray nor RGB.
    bands = np.random.default_rng(0).integers(0, 256, (16, 16, 5), dtype=np.uint8)
    tifffile.imwrite(images / "bands.tif", bands, photometric="minisblack", planarconfig="contig")
    out = tmp_path / "out"
    assert main(["predict", str(model), str(images), "--out", str(out), "-q"]) == 3
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(err) == 1 and "bands.tif" in err[0]
    assert "the model expects 1 channel (gray)" in err[0] and "when training" not in err[0]
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["ok.png"]


@pytest.mark.parametrize("stored", [2, 4])
def test_model_image_refuses_what_it_cannot_convert(stored: int) -> None:
    raw = np.random.default_rng(0).integers(0, 255, (4, 4, stored), dtype=np.uint8)  # last: no opaque alpha
    with pytest.raises(ValueError, match=r"x\.png .*the model expects 3 channels \(RGB\)"):
        model_image(raw, "x.png", 3)
    gray = np.zeros((4, 4, 1), np.uint8)
    with pytest.raises(ValueError, match=r"x\.png has 1 channel \(gray\) but the model expects 2 channels; "):
        model_image(gray, "x.png", 2)
    image, converted, note = model_image(gray, "x.png", 1)
    assert not converted and note is None and image.shape == (4, 4, 1)


def test_model_image_converts_deep_pixels_before_a_per_channel_window() -> None:
    raw = np.arange(16, dtype=np.uint16).reshape(4, 4, 1) * 2000  # inside every channel's window: no note
    window = [[0, 30000], [1000, 40000], [0, 60000]]  # one [lo, hi] per model channel (RGB)
    image, converted, note = model_image(raw, "deep.tif", 3, window)
    assert converted and note is None
    np.testing.assert_array_equal(image, apply_window(np.repeat(raw, 3, axis=2), window))


def test_model_image_names_an_image_far_outside_the_window_and_reads_it_as_it_is() -> None:
    eight = np.tile(np.arange(256, dtype=np.uint8), (4, 1))[..., None]
    image, converted, note = model_image(eight, "eight.png", 3, [[0, 63182]])
    assert converted and note is not None and note.startswith("8-bit values 0..255 (uint8)")
    # Not rescaled: the window maps 0..255 to 0..1, as the model would see it without the note.
    np.testing.assert_array_equal(image, apply_window(np.repeat(eight, 3, axis=2), [[0, 63182]]))


def test_predict_notes_each_image_far_outside_the_models_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _model(tmp_path / "model", 1)
    config = ModelConfig.load(model)
    config.intensity_window = [[0.0, 63182.0]]  # trained on 16-bit images
    config.save(model)
    images = tmp_path / "images"
    _image(images / "eight.png", (16, 16))
    deep = np.linspace(0, 63182, 16 * 16).reshape(16, 16).astype(np.uint16)
    Image.fromarray(deep).save(images / "deep.png")
    out = tmp_path / "out"
    assert main(["predict", str(model), str(images), "--out", str(out), "-q"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1, notes
    assert notes[0].startswith(f"note: {images / 'eight.png'}: 8-bit values 0..255 (uint8) against the model")
    assert "[0, 63182]" in notes[0] and "save the image at the bit depth" in notes[0]
    with (out / "summary.csv").open() as fh:
        rows = {Path(r["file"]).name: r for r in csv.DictReader(fh)}
    assert rows["eight.png"]["window_note"] == notes[0].split(": ", 2)[2]
    assert rows["deep.png"]["window_note"] == ""


def test_window_notes_past_the_first_few_are_counted() -> None:
    from unetkit.cli.predict import WINDOW_NOTES_SHOWN, _window_notes

    notes = [(Path(f"img{i}.png"), "why") for i in range(WINDOW_NOTES_SHOWN + 2)]
    lines = _window_notes(notes, Path("out"))
    assert lines[:WINDOW_NOTES_SHOWN] == [f"img{i}.png: why" for i in range(WINDOW_NOTES_SHOWN)]
    assert len(lines) == WINDOW_NOTES_SHOWN + 1 and lines[-1].startswith("2 more image(s)")
    assert _window_notes(notes[:1], Path("out")) == ["img0.png: why"]


def test_a_dataset_folder_points_at_its_images_and_masks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trial predicted roads/val: the hint said --recursive, which then segmented the masks as photos."""
    model = _model(tmp_path / "model", 1)
    val = tmp_path / "roads" / "val"
    _image(val / "images" / "a.png", (16, 16))
    _image(val / "masks" / "a_label.png", (16, 16))
    out = tmp_path / "out"
    assert main(["predict", str(model), str(val), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert (
        f"holds a dataset's images/ and masks/: predict {val / 'images'} (add --masks {val / 'masks'}" in err
    )
    assert "--recursive" not in err
    assert main(["predict", str(model), str(val), "--out", str(out), "-q", "--recursive"]) == 0
    assert "--recursive segments its masks too" in capsys.readouterr().err


def test_an_nnunet_dataset_folder_points_at_imagests_and_labelstr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trial predicted the nnU-Net dataset root: the hint said --recursive (which segments labelsTr too)
    and asked to convert dataset.json to PNG."""
    model = _model(tmp_path / "model", 1)
    root = tmp_path / "Dataset001_Cells"
    _image(root / "imagesTr" / "case_000_0000.png", (16, 16))
    _image(root / "labelsTr" / "case_000.png", (16, 16))
    _image(root / "imagesTs" / "case_001_0000.png", (16, 16))
    (root / "dataset.json").write_text('{"labels": {"background": 0, "cell": 1}}')
    assert main(["predict", str(model), str(root), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert (
        f"is in nnU-Net's layout: predict {root / 'imagesTs'} (or {root / 'imagesTr'} --masks "
        f"{root / 'labelsTr'} to score the training cases)" in err
    )
    assert "--recursive" not in err and "dataset.json" not in err


def test_inputs_sharing_a_name_are_named_in_a_note_and_a_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _model(tmp_path / "model", 1)
    _image(tmp_path / "in" / "x.png", (16, 16))
    _image(tmp_path / "in" / "x.tif", (16, 16), seed=1)
    out = tmp_path / "out"
    assert main(["predict", str(model), str(tmp_path / "in"), "--out", str(out), "-q"]) == 0
    assert "1 input(s) share a name with another and are written with a suffix" in capsys.readouterr().err
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert sorted((Path(r["file"]).name, r["output"]) for r in rows) == [("x.png", "x"), ("x.tif", "x__2")]


def test_images_above_pillows_bomb_limit_are_read_by_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 14000 x 14000 PNG was refused as 'corrupt' (Pillow's decompression-bomb guard): the library names
    the guard and the fix; the command line lifts it, as predict reads any size."""
    from PIL import Image as PILImage

    from unetkit.data.io import read_image

    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 500)  # 40 x 40 = 1600 > 2 x 500: refused by Pillow
    big = tmp_path / "big" / "big.png"
    _image(big, (40, 40))
    with pytest.raises(ValueError, match=r"has 1600 pixels, more than Pillow's decompression-bomb limit"):
        read_image(big, 1)
    model = _model(tmp_path / "model", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PILImage.DecompressionBombWarning)
        assert main(["predict", str(model), str(big), "--out", str(tmp_path / "out"), "-q"]) == 0
    assert _mask(tmp_path / "out" / "masks" / "big.png").shape == (40, 40)


def test_predict_notes_12bit_data_given_to_a_model_trained_on_8bit_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _model(tmp_path / "model", 1)  # no intensity window: trained on 8-bit images
    image = tmp_path / "img16.png"
    Image.fromarray(np.linspace(0, 4080, 16 * 16).reshape(16, 16).astype(np.uint16)).save(image)
    out = tmp_path / "out"
    assert main(["predict", str(model), str(image), "--out", str(out), "-q"]) == 0
    err = capsys.readouterr().err
    assert f"note: {image}: values 0..4080 (uint16) read with >> 8 (the model was trained on 8-bit" in err
    with (out / "summary.csv").open() as fh:
        assert "read with >> 8" in next(csv.DictReader(fh))["window_note"]


def test_predict_notes_earlier_outputs_and_tiles_below_the_receptive_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _model(tmp_path / "model", 1)  # depth 2: receptive field 44 px
    _image(tmp_path / "a.png", (64, 64))
    _image(tmp_path / "b.png", (64, 64), seed=1)
    out = tmp_path / "out"
    assert main(["predict", str(model), str(tmp_path / "a.png"), "--out", str(out), "-q"]) == 0
    assert "earlier run" not in capsys.readouterr().err
    assert (
        main(["predict", str(model), str(tmp_path / "b.png"), "--out", str(out), "-q", "--tile-size", "33"])
        == 0
    )
    err = capsys.readouterr().err
    assert "also holds the outputs of 1 other image(s) from an earlier run" in err
    assert "--tile-size 33 is below the model's receptive field (44 px)" in err
    assert (
        main(["predict", str(model), str(tmp_path / "b.png"), "--out", str(out), "-q", "--tile-size", "56"])
        == 0
    )
    assert "receptive field" not in capsys.readouterr().err
    # Scores of an earlier run stay beside this run's summary: said so when this run scored nothing.
    (out / "metrics.json").write_text("{}")
    assert main(["predict", str(model), str(tmp_path / "b.png"), "--out", str(out), "-q"]) == 0
    assert "metrics.json (and metrics.md) are an earlier run's scores" in capsys.readouterr().err


def test_a_kaggle_layout_folder_points_at_its_images_not_at_recursive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user trial's predict on kaggle_layout/ said "add --recursive", which would segment every nucleus's
    mask PNG as an image."""
    model = _model(tmp_path / "model", 1)
    kaggle = tmp_path / "kaggle_layout"
    for sample in ("a1", "b2"):
        _image(kaggle / sample / "images" / f"{sample}.png", (16, 16))
        for k in range(2):
            _image(kaggle / sample / "masks" / f"n{k}.png", (16, 16))
    out = tmp_path / "out"
    assert main(["predict", str(model), str(kaggle), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert (
        f"is in Kaggle DSB 2018's layout (<id>/images/, <id>/masks/): predict '{kaggle}/*/images/*.png'"
        in err
    )
    assert f"unetkit convert kaggle {kaggle} --out OUT" in err and "--recursive" not in err
    assert main(["predict", str(model), f"{kaggle}/*/images/*.png", "--out", str(out), "-q"]) == 0
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["a1.png", "b2.png"]


def test_predict_names_an_input_path_that_does_not_exist_and_a_glob_that_matches_nothing(
    tmp_path: Path, scans: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Trial 20: a mistyped folder was 'no input images found in missing/folder', as kmeans said until it
    named the path; a folder that exists but holds no images keeps that message."""
    model = _model(tmp_path / "model", 1)

    def error(*inputs: str) -> str:
        out = str(tmp_path / "out")
        assert main(["predict", str(model), *inputs, "--out", out, "-q"]) == 2
        return capsys.readouterr().err.strip()

    absent = tmp_path / "missing" / "folder"
    assert error(str(absent)) == f"error: input {absent} does not exist; check the path."
    pattern = str(tmp_path / "nothing*.png")
    assert error(pattern) == f"error: no file matches {pattern}; check the pattern."
    (tmp_path / "empty").mkdir()
    assert error(str(tmp_path / "empty")).startswith(f"error: no input images found in {tmp_path / 'empty'}")
    # Beside images that are found: one line per input that gave none, the others segmented.
    assert main(["predict", str(model), str(scans), str(absent), "--out", str(tmp_path / "o"), "-q"]) == 3
    assert f"error: input {absent} does not exist; check the path" in capsys.readouterr().err.splitlines()
