"""Trial fixes of ``unetkit predict``: bad option values refused before any model loads; an interrupted run
leaves a summary of what it completed; an --out that cannot be created says so; a Mask R-CNN is scored
against instance labels, takes --tta none and names the options it ignores; --foreground 0 is refused."""

from __future__ import annotations

import csv
import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
from cli_models import three_images
from cli_models import tiny_unet as unet
from PIL import Image

from unetkit.cli import predict as cli_predict
from unetkit.cli.errors import check_out_folder, creation_error
from unetkit.cli.main import main
from unetkit.inference import predictor as torch_predictor
from unetkit.inference import writers


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return three_images(tmp_path / "images")


@pytest.fixture
def no_model_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if predict gets as far as loading a model."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the options were checked")

    monkeypatch.setattr(cli_predict, "build_predictor", refuse)


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--overlap", "1.5"], "--overlap: overlap must be >= 0 and < 1, got 1.5."),
        (["--tta", "bogus"], "--tta: unknown TTA transform 'bogus': give a set (d4, flips or none)"),
        (["--batch-size", "0"], "--batch-size must be a positive int, got 0."),
        (["--alpha", "3"], "--alpha: alpha must be in [0, 1], got 3.0."),
        (["--min-size", "-5"], "--min-size must be >= 0, got -5."),
        (["--min-distance", "0"], "--min-distance must be >= 1, got 0."),
        (["--foreground", "0", "1"], "--foreground 0 1: class 0 is not an object class"),
    ],
)
def test_bad_option_values_are_refused_before_the_model_loads(
    tmp_path: Path,
    images: Path,
    no_model_load: None,
    option: list[str],
    expected: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = unet(tmp_path / "model")
    out = tmp_path / "out"
    capsys.readouterr()
    rc = main(["predict", str(model), str(images), "--out", str(out), "-q", *option])
    lines = error_lines(capsys.readouterr().err)
    assert rc == 2
    assert len(lines) == 1 and lines[0].startswith(f"error: {expected}"), lines
    assert not out.exists()


def test_foreground_0_names_the_models_valid_range(
    tmp_path: Path, images: Path, no_model_load: None, capsys: pytest.CaptureFixture[str]
) -> None:
    model = unet(tmp_path / "model")
    capsys.readouterr()
    rc = main(["predict", str(model), str(images), "--out", str(tmp_path / "o"), "--foreground", "0", "1"])
    (line,) = error_lines(capsys.readouterr().err)
    assert rc == 2
    assert "name class indices in 1..1 (cell; class 0 is bg)" in line


def test_creation_error_says_cannot_be_created_not_does_not_exist(tmp_path: Path) -> None:
    exc = FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(tmp_path / "x"))
    message = creation_error(tmp_path / "x", exc)
    assert message.startswith(f"{tmp_path / 'x'}: cannot be created ({tmp_path} exists but")
    assert "does not exist" not in message and message.endswith("write the output elsewhere.")
    denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(tmp_path / "y"))
    assert f"cannot be created (permission denied in {tmp_path})" in creation_error(tmp_path / "y", denied)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_out_under_proc_cannot_be_created(
    tmp_path: Path, images: Path, no_model_load: None, capsys: pytest.CaptureFixture[str]
) -> None:
    model = unet(tmp_path / "model")
    capsys.readouterr()
    rc = main(["predict", str(model), str(images), "--out", "/proc/unetkit_x", "-q"])
    (line,) = error_lines(capsys.readouterr().err)
    assert rc == 2
    assert line.startswith("error: --out /proc/unetkit_x: cannot be created (")
    assert "does not exist" not in line


def test_out_check_leaves_no_folder(tmp_path: Path) -> None:
    check_out_folder(tmp_path / "a" / "b" / "c")
    assert not (tmp_path / "a").exists()


def read_summary(out: Path) -> list[dict[str, str]]:
    with open(out / "summary.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def interrupt_on_b(monkeypatch: pytest.MonkeyPatch) -> None:
    original = torch_predictor.Predictor._predict_batch

    def stops_at_b(self: torch_predictor.Predictor, batch: np.ndarray) -> np.ndarray:
        if batch.shape[-1] == 40:  # b.png only
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(torch_predictor.Predictor, "_predict_batch", stops_at_b)


def test_interrupt_writes_the_summary_of_the_completed_images(
    tmp_path: Path, images: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model = unet(tmp_path / "model")
    interrupt_on_b(monkeypatch)
    out = tmp_path / "fresh"
    masks = tmp_path / "truth"
    masks.mkdir()
    for name in ("a", "b", "c"):
        shape = np.asarray(Image.open(images / f"{name}.png")).shape
        Image.fromarray(np.zeros(shape, np.uint8)).save(masks / f"{name}.png")
    capsys.readouterr()
    rc = main(["predict", str(model), str(images), "--out", str(out), "--backend", "torch", "--tta", "none",
               "--masks", str(masks), "-q"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 130
    assert f"interrupted after 1 of 3 images; {out} holds their outputs (summary.csv lists them)" in err
    assert [Path(r["file"]).name for r in read_summary(out)] == ["a.png"]
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["a.png"]
    assert json.loads((out / "metrics.json").read_text())["images"] == 1


def test_interrupt_in_a_reused_folder_leaves_no_summary_that_disagrees(
    tmp_path: Path, images: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model = unet(tmp_path / "model")
    out = tmp_path / "out"
    args = ["predict", str(model), str(images), "--out", str(out), "--backend", "torch"]
    args += ["--tta", "none", "-q"]
    assert main(args) == 0
    assert len(read_summary(out)) == 3
    # Interrupted while b's files are written (its new mask already in place, its overlay not yet).
    original = writers.save_rgb_png

    def stops_at_b(path: Path, *a: object, **kw: object) -> Path:
        if Path(path).name == "b.png":
            raise KeyboardInterrupt
        return original(path, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(writers, "save_rgb_png", stops_at_b)
    capsys.readouterr()
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 130
    assert f"interrupted after 1 of 3 images; {out} holds their outputs (summary.csv lists them)" in err
    assert "its 1 other mask(s) are from an earlier run and not in summary.csv" in err
    assert [Path(r["file"]).name for r in read_summary(out)] == ["a.png"]
    # b has no outputs at all (no new mask beside an old overlay); c keeps the earlier run's, unlisted.
    assert not any(p.stem == "b" for p in out.rglob("*.png"))
    assert (out / "masks" / "c.png").is_file()
    assert not list(out.rglob("*.tmp"))


def test_interrupt_before_any_image_leaves_no_folder(
    tmp_path: Path, images: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model = unet(tmp_path / "model")

    def stops(self: torch_predictor.Predictor, batch: np.ndarray) -> np.ndarray:
        raise KeyboardInterrupt

    monkeypatch.setattr(torch_predictor.Predictor, "_predict_batch", stops)
    out = tmp_path / "none"
    capsys.readouterr()
    rc = main(["predict", str(model), str(images), "--out", str(out), "--backend", "torch", "-q"])
    assert rc == 130
    assert f"interrupted after 0 of 3 images; nothing was written to {out}" in capsys.readouterr().err
    assert not out.exists()


@pytest.fixture
def blobs(tmp_path: Path) -> tuple[Path, Path]:
    """Two images of bright blobs and their instance labels (16-bit); the second label misses a blob."""
    images, labels = tmp_path / "blob_images", tmp_path / "blob_labels"
    images.mkdir()
    labels.mkdir()
    image = np.zeros((24, 30), np.uint8)
    image[2:8, 2:9] = 240
    image[12:20, 15:27] = 200
    label = np.zeros((24, 30), np.uint16)
    label[2:8, 2:9] = 7
    label[12:20, 15:27] = 300
    Image.fromarray(image).save(images / "one.png")
    Image.fromarray(label).save(labels / "one.png")
    Image.fromarray(image).save(images / "two.png")
    label[12:20, 15:27] = 0
    Image.fromarray(label).save(labels / "two.png")
    return images, labels


def test_maskrcnn_is_scored_against_instance_labels(
    fake_maskrcnn_dir: Path, blobs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images, labels = blobs
    out = tmp_path / "scored"
    rc = main(
        ["predict", str(fake_maskrcnn_dir), str(images), "--out", str(out), "--masks", str(labels), "-q"]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "ground truth read as instance labels" in captured.err
    scores = json.loads((out / "metrics.json").read_text())
    assert scores["instances/method"] == "maskrcnn" and scores["instances/n_true"] == 3
    # one: both blobs found (AP 1); two: one of two predictions is unmatched (AP 1/2) -> mean 0.75.
    for key in ("ap50", "ap75", "map"):
        assert scores[f"instances/{key}"] == pytest.approx(0.75)
    assert "AP50" in captured.out


def test_maskrcnn_takes_tta_none_and_notes_the_options_it_ignores(
    fake_maskrcnn_dir: Path, blobs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images, _ = blobs
    base = ["predict", str(fake_maskrcnn_dir), str(images), "-q"]
    assert main([*base, "--out", str(tmp_path / "a"), "--tta", "none"]) == 0
    assert "do not apply" not in capsys.readouterr().err
    rc = main([*base, "--out", str(tmp_path / "b"), "--min-distance", "3", "--tile-size", "256",
               "--instances", "none"])  # fmt: skip
    notes = [line for line in capsys.readouterr().err.splitlines() if "apply" in line]
    assert rc == 0
    assert notes == [
        "note: --tile-size, --min-distance, --instances none do not apply to a Mask R-CNN model and are "
        "ignored (it does not tile, and its instances are its own output: instances/ is always written)"
    ]
    assert (tmp_path / "b" / "instances" / "one.png").is_file()
    rc = main([*base, "--out", str(tmp_path / "c"), "--tta"])
    (line,) = error_lines(capsys.readouterr().err)
    assert rc == 2 and line.startswith("error: --tta d4: test-time augmentation is not available")
    assert not (tmp_path / "c").exists()


def test_an_out_that_is_a_file_asks_for_a_folder_not_to_remove_it(tmp_path: Path) -> None:
    """A user trial's --out named an input image; the error said "remove it or choose another path"."""
    image = tmp_path / "cells.png"
    image.write_bytes(b"png")
    with pytest.raises(ValueError) as err:
        check_out_folder(image)
    assert str(err.value) == f"--out {image} is a file; --out names a folder for the outputs: give a folder"
    assert image.read_bytes() == b"png"
