"""Trial findings on ``unetkit predict``: an engine error on one image, stale outputs of a reused folder,
the model's own instances by default, binary 0/255 stored values, skipped files named, model-path advice,
and ``benchmark`` at a tiny size."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from cli_models import predict_two_squares, three_images
from cli_models import tiny_unet as unet
from PIL import Image

from unetkit.cli.main import main
from unetkit.inference import predictor as torch_predictor


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return three_images(tmp_path / "images")


def test_engine_error_on_one_image_is_one_line(
    tmp_path: Path, images: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model = unet(tmp_path / "model")
    original = torch_predictor.Predictor._predict_batch

    def fails_on_b(self: torch_predictor.Predictor, batch: np.ndarray) -> np.ndarray:
        if batch.shape[-1] == 40:  # b.png only
            raise RuntimeError("Pad reflect: post-pad exceeds maximum\nsecond line of the engine")
        return original(self, batch)

    monkeypatch.setattr(torch_predictor.Predictor, "_predict_batch", fails_on_b)
    out = tmp_path / "out"
    rc = main(["predict", str(model), str(images), "--out", str(out), "--backend", "torch", "-q"])
    err = capsys.readouterr().err
    assert rc == 3
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "b.png: prediction failed (RuntimeError: Pad reflect" in lines[0]
    assert "Traceback" not in err and "second line" not in err
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [Path(r["file"]).name for r in rows] == ["a.png", "c.png"]


def test_reused_folder_loses_this_images_stale_outputs(
    tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = unet(tmp_path / "model")
    out = tmp_path / "out"
    assert main(["predict", str(model), str(images), "--out", str(out), "-q", "--instances", "components",
                 "--probs", "npy"]) == 0  # fmt: skip
    assert (out / "instances" / "a.png").is_file() and (out / "probs" / "a.npy").is_file()
    capsys.readouterr()
    assert main(["predict", str(model), str(images / "a.png"), "--out", str(out), "-q"]) == 0
    err = capsys.readouterr().err
    assert not (out / "instances" / "a.png").exists() and not (out / "probs" / "a.npy").exists()
    assert (out / "instances" / "b.png").is_file()  # another image's outputs stay
    assert "also holds the outputs of 2 other image(s)" in err
    assert "removed 2 earlier output(s) of this run's images that this run did not write" in err
    assert "instances/a.png" in err


def test_more_instances_than_a_16_bit_png_holds_are_a_32_bit_tiff(
    tmp_path: Path, images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A whole slide can hold more than 65535 nuclei; here the PNG's limit is lowered to 1 id.
    import tifffile

    from unetkit.inference import writers

    predict_two_squares(monkeypatch)
    model = unet(tmp_path / "model")
    out = tmp_path / "out"
    args = ["predict", str(model), str(images / "a.png"), "--out", str(out), "-q",
            "--instances", "components", "--tta", "none"]  # fmt: skip
    assert main(args) == 0
    png = out / "instances" / "a.png"
    with Image.open(png) as img:
        labels = np.asarray(img)
    assert labels.max() == 2
    monkeypatch.setattr(writers, "INSTANCE_PNG_MAX", 1)
    assert main(args) == 0
    tif = tifffile.imread(out / "instances" / "a.tif")
    assert tif.dtype == np.uint32
    np.testing.assert_array_equal(tif, labels)
    assert not png.exists()  # the earlier run's PNG is this image's stale output
    monkeypatch.setattr(writers, "INSTANCE_PNG_MAX", 65535)
    assert main(args) == 0
    assert png.is_file() and not (out / "instances" / "a.tif").exists()  # and so is the TIFF now


def test_model_trained_on_instances_writes_them_by_default(tmp_path: Path, images: Path) -> None:
    model = unet(tmp_path / "model", extra={"instance_method": "components"})
    out = tmp_path / "out"
    assert main(["predict", str(model), str(images / "a.png"), "--out", str(out), "-q"]) == 0
    assert (out / "instances" / "a.png").is_file()
    assert next(csv.DictReader((out / "summary.csv").open()))["instances"] != ""
    off = tmp_path / "off"
    assert main(["predict", str(model), str(images / "a.png"), "--out", str(off), "-q",
                 "--instances", "none"]) == 0  # fmt: skip
    assert not (off / "instances").exists()
    plain = unet(tmp_path / "plain")
    none = tmp_path / "none"
    assert main(["predict", str(plain), str(images / "a.png"), "--out", str(none), "-q"]) == 0
    assert not (none / "instances").exists()


def test_mask_values_stored_writes_0_255_for_a_binary_run(tmp_path: Path, images: Path) -> None:
    run = tmp_path / "run"
    unet(run / "model")
    data = {"dataset": "folder", "options": {"num_classes": 2, "mask_kind": "binary"}}
    (run / "config.yaml").write_text(yaml.safe_dump({"data": data}))
    out = tmp_path / "out"
    assert main(["predict", str(run), str(images / "a.png"), "--out", str(out), "-q",
                 "--mask-values", "stored"]) == 0  # fmt: skip
    stored = np.asarray(Image.open(out / "masks" / "a.png"))
    assert main(["predict", str(run), str(images / "a.png"), "--out", str(tmp_path / "cls"), "-q"]) == 0
    classes = np.asarray(Image.open(tmp_path / "cls" / "masks" / "a.png"))
    np.testing.assert_array_equal(stored, classes.astype(np.uint8) * 255)


def test_folder_names_the_files_it_skips(
    tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = unet(tmp_path / "model")
    Image.open(images / "a.png").save(images / "d.webp")
    (images / "notes.txt").write_text("x")
    (images / ".hidden.webp").write_bytes(b"")
    assert main(["predict", str(model), str(images), "--out", str(tmp_path / "out"), "-q"]) == 0
    err = capsys.readouterr().err
    assert "2 file(s) in the input folder(s) were skipped" in err
    assert "1 .txt (notes.txt); 1 .webp (d.webp)" in err and "hidden" not in err
    only = tmp_path / "only"
    only.mkdir()
    shutil.move(images / "d.webp", only / "d.webp")
    assert main(["predict", str(model), str(only), "--out", str(tmp_path / "o2"), "-q"]) == 2
    assert "no input images found" in (err := capsys.readouterr().err) and "1 .webp (d.webp)" in err


def test_model_path_advice_works(tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from unetkit.export import export_onnx
    from unetkit.model_files.model_io import load_model

    model = unet(tmp_path / "model")
    export_onnx(*load_model(model), tmp_path / "export")
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    shutil.copy2(tmp_path / "export" / "model.onnx", renamed / "nuclei.onnx")
    shutil.copy2(tmp_path / "export" / "config.json", renamed / "config.json")
    out = str(tmp_path / "out")
    assert main(["predict", str(renamed / "nuclei.onnx"), str(images / "a.png"), "--out", out]) == 2
    err = capsys.readouterr().err
    assert f"rename it to {renamed / 'model.onnx'} (beside its" in err and "pass its folder" not in err
    (renamed / "nuclei.onnx").rename(renamed / "model.onnx")  # the advice, followed
    assert main(["predict", str(renamed / "model.onnx"), str(images / "a.png"), "--out", out, "-q"]) == 0
    capsys.readouterr()
    assert main(["predict", str(images / "b.png"), str(images / "a.png"), "--out", out]) == 2
    err = capsys.readouterr().err
    assert "b.png: not a model file; MODEL is a run folder" in err
    assert "pass its folder" not in err and str(images) + " " not in err


def test_benchmark_runs_at_a_tiny_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from unetkit.export import export_onnx
    from unetkit.model_files.model_io import load_model

    model = unet(tmp_path / "model")
    export_onnx(*load_model(model), model / "export")
    assert main(["benchmark", str(model), "--size", "2", "--batch", "1", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "input (1, 1, 4, 4)" in out and "| onnxruntime | fp32 |" in out


def test_instance_labels_as_ground_truth_score_the_objects(
    tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    unet(run / "model", extra={"instance_method": "components"})
    data = {"dataset": "folder", "options": {"num_classes": 2, "mask_kind": "instances"}}
    (run / "config.yaml").write_text(yaml.safe_dump({"data": data}))
    masks = tmp_path / "masks"
    masks.mkdir()
    for name in ("a", "b", "c"):
        shape = np.asarray(Image.open(images / f"{name}.png")).shape
        labels = np.zeros(shape, dtype=np.uint16)
        labels[4:12, 4:12] = 1
        labels[14:18, 2:6] = 2
        Image.fromarray(labels).save(masks / f"{name}.png")
    out = tmp_path / "out"
    assert main(["predict", str(run), str(images), "--out", str(out), "-q", "--masks", str(masks)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"instances/ap50", "instances/ap75", "instances/map", "instances/seg"} <= set(metrics)
    assert metrics["instances/method"] == "components"
    assert "| AP50 | AP75 | mAP | SEG |" in (out / "metrics.md").read_text()
    assert "| AP50 | AP75 | mAP | SEG |" in capsys.readouterr().out  # the console's table too
