"""``unetkit predict`` end to end on a tiny saved model: outputs, partial failure, metrics, model errors."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from unetkit.cli.main import main
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "num_classes": 3, "depth": 2, "base_channels": 4}
    model = create_model("unet", **kwargs)
    config = ModelConfig("unet", kwargs, class_names=["bg", "a", "b"], mean=[0.5], std=[0.25])
    return save_model(model, config, tmp_path / "model")


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (37, 45), dtype=np.uint8)).save(folder / "one.png")
    Image.fromarray(rng.integers(0, 256, (40, 33), dtype=np.uint8)).save(folder / "two.png")
    return folder


def test_predict_writes_all_outputs(model_dir: Path, images: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = main([
        "predict", str(model_dir), str(images), "--out", str(out), "--tile-size", "32", "--tta", "flips",
        "--probs", "npy", "--instances", "components", "--quiet",
    ])  # fmt: skip
    assert code == 0
    with Image.open(out / "masks" / "one.png") as img:
        assert img.mode == "P" and img.size == (45, 37)
        mask = np.asarray(img)
    probs = np.load(out / "probs" / "one.npy")
    assert probs.shape == (3, 37, 45) and probs.dtype == np.float16
    np.testing.assert_array_equal(mask, probs.astype(np.float32).argmax(0))
    with Image.open(out / "overlays" / "two.png") as img:
        assert img.mode == "RGB" and img.size == (33, 40)
    with Image.open(out / "instances" / "one.png") as img:
        instances = np.asarray(img)
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [Path(r["file"]).name for r in rows] == ["one.png", "two.png"]
    assert rows[0]["height"] == "37" and rows[0]["width"] == "45"
    fractions = [float(rows[0][f"frac_{c}"]) for c in ("bg", "a", "b")]
    np.testing.assert_allclose(fractions, np.bincount(mask.ravel(), minlength=3) / mask.size, atol=1e-6)
    assert int(rows[0]["instances"]) == instances.max()


@pytest.mark.parametrize("instances", ["none", "components"])
def test_the_models_class_colours_draw_its_masks_and_overlays(
    images: Path, tmp_path: Path, instances: str
) -> None:
    colours = [[10, 20, 30], [128, 64, 128], [250, 170, 30]]  # e.g. road = (128, 64, 128) in classes.json
    kwargs = {"in_channels": 1, "num_classes": 3, "depth": 2, "base_channels": 4}
    model = create_model("unet", **kwargs)
    head = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        head.bias.copy_(torch.tensor([0.0, 50.0, 0.0]))  # class 1 everywhere: the overlay must draw it
    config = ModelConfig("unet", kwargs, ["bg", "road", "b"], [0.5], [0.25], class_colors=colours)
    model_dir = save_model(model, config, tmp_path / "coloured")
    out = tmp_path / "out"
    args = [str(model_dir), str(images), "--out", str(out), "--alpha", "1", "--instances", instances]
    assert main(["predict", *args, "--quiet"]) == 0
    for name in ("one", "two"):
        with Image.open(out / "masks" / f"{name}.png") as img:
            palette = np.asarray(img.getpalette()[:9]).reshape(3, 3)
            assert (np.asarray(img) == 1).all()
        np.testing.assert_array_equal(palette, colours)  # viewers show the mask in the given colours
        rgb = np.asarray(Image.open(out / "overlays" / f"{name}.png"))
        assert (rgb == colours[1]).all()  # alpha 1: the class colour itself


def test_partial_failure_exit_3(
    model_dir: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    # Five bands (multispectral): no gray <-> RGB conversion makes them the model's (gray) input.
    bands = np.random.default_rng(0).integers(0, 256, (8, 8, 5), dtype=np.uint8)
    tifffile.imwrite(images / "bands.tif", bands, photometric="minisblack", planarconfig="contig")
    out = tmp_path / "out"
    code = main(
        ["predict", str(model_dir), str(images), str(tmp_path / "missing.png"), "--out", str(out), "-q"]
    )
    assert code == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("error: ") for line in err)
    assert any("broken.png" in line for line in err) and any(
        "bands.tif" in line and "model expects 1 channel" in line for line in err
    )
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["one.png", "two.png"]  # the others completed
    assert not any(p.name.endswith(".tmp") for p in out.rglob("*"))


def test_masks_give_metrics(
    model_dir: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["predict", str(model_dir), str(images), "--out", str(out), "--no-overlay", "-q"]) == 0
    gt = tmp_path / "gt"
    gt.mkdir()
    masks = {}
    for name in ("one", "two"):
        pred = np.asarray(Image.open(out / "masks" / f"{name}.png"))
        truth = pred.copy()
        truth[:5] = (truth[:5] + 1) % 3  # corrupt the first 5 rows
        masks[name] = (pred, truth)
        Image.fromarray(truth).save(gt / f"{name}.png")
    capsys.readouterr()
    assert main(["predict", str(model_dir), str(images), "--out", str(out), "--masks", str(gt), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "| class | IoU | Dice | pixels |" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    correct = sum(int((p == t).sum()) for p, t in masks.values())
    total = sum(t.size for _, t in masks.values())
    assert metrics["images"] == 2
    assert metrics["pixel_accuracy"] == pytest.approx(correct / total)
    cm = np.zeros((3, 3), dtype=np.int64)
    for p, t in masks.values():
        np.add.at(cm, (t.ravel(), p.ravel()), 1)
    iou_a = cm[1, 1] / (cm[1].sum() + cm[:, 1].sum() - cm[1, 1])
    assert metrics["iou/a"] == pytest.approx(iou_a)


def test_images_without_ground_truth_are_segmented_not_scored(
    model_dir: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gt = tmp_path / "gt"
    gt.mkdir()
    Image.fromarray(np.zeros((37, 45), np.uint8)).save(gt / "one.png")  # two.png has no mask
    out = tmp_path / "out"
    assert main(["predict", str(model_dir), str(images), "--out", str(out), "--masks", str(gt), "-q"]) == 0
    captured = capsys.readouterr()
    assert "1 image(s) have no mask in" in captured.err and "two.png" in captured.err
    assert "metrics over 1 image(s)" in captured.out
    assert json.loads((out / "metrics.json").read_text())["images"] == 1
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["one.png", "two.png"]


def test_masks_are_read_as_the_run_read_them(
    tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    # A run folder whose masks stored 10/20/30 for the classes and 99 for void (mask_kind remap).
    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "num_classes": 3, "depth": 2, "base_channels": 4}
    config = ModelConfig("unet", kwargs, class_names=["bg", "a", "b"], mean=[0.5], std=[0.25])
    run = tmp_path / "run"
    save_model(create_model("unet", **kwargs), config, run / "model")
    options = {"mask_kind": "remap", "num_classes": 3, "mapping": {10: 0, 20: 1, 30: 2, 99: 255}}
    (run / "config.yaml").write_text(yaml.safe_dump({"data": {"dataset": "folder", "options": options}}))
    out = tmp_path / "out"
    assert main(["predict", str(run), str(images), "--out", str(out), "--no-overlay", "-q"]) == 0
    gt = tmp_path / "gt"
    gt.mkdir()
    for name in ("one", "two"):
        pred = np.asarray(Image.open(out / "masks" / f"{name}.png"))
        stored = np.array([10, 20, 30], np.uint8)[pred]
        stored[:3] = 99  # void rows: not scored
        Image.fromarray(stored).save(gt / f"{name}.png")
    capsys.readouterr()
    for model in (run, run / "model"):
        assert main(["predict", str(model), str(images), "--out", str(out), "--masks", str(gt), "-q"]) == 0
        assert "ground truth read as the run read its masks: remap 10->0" in capsys.readouterr().err
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["pixel_accuracy"] == 1.0 and metrics["images"] == 2
    # Options given on the command line win: these values are no class indices of a 3-class model.
    args = ["predict", str(run), str(images), "--out", str(tmp_path / "o2"), "--masks", str(gt), "-q"]
    assert main([*args, "--mask-encoding", "index"]) == 2
    assert "outside the classes" in capsys.readouterr().err


def test_model_errors_exit_2(
    model_dir: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "o")
    weights = (model_dir / "model.safetensors").read_bytes()
    (model_dir / "model.safetensors").unlink()
    assert main(["predict", str(model_dir), str(images), "--out", out]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "model.safetensors" in err and len(err.splitlines()) == 1
    (model_dir / "model.safetensors").write_bytes(weights)
    config = json.loads((model_dir / "config.json").read_text())
    config["architecture"] = "unet_typo"
    (model_dir / "config.json").write_text(json.dumps(config))
    assert main(["predict", str(model_dir), str(images), "--out", out]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "unet_typo" in err and len(err.splitlines()) == 1
    assert main(["predict", str(model_dir), str(tmp_path / "nothing*.png"), "--out", out]) == 2
    assert "no file matches" in capsys.readouterr().err


def test_predict_takes_every_registered_instance_method(
    model_dir: Path, images: Path, tmp_path: Path
) -> None:
    """`--instances boundary` (a 3-class model: background, interior, boundary) goes through the registry."""
    from unetkit.inference.instances import instances_from_mask, list_instance_methods

    assert "boundary" in list_instance_methods()
    out = tmp_path / "out"
    code = main(
        ["predict", str(model_dir), str(images), "--out", str(out), "--instances", "boundary", "--quiet"]
    )
    assert code == 0
    with Image.open(out / "masks" / "one.png") as img:
        mask = np.asarray(img)
    with Image.open(out / "instances" / "one.png") as img:
        labels = np.asarray(img).astype(np.int32)
    expected, count = instances_from_mask(mask, [1, 2], "boundary")
    assert labels.max() == count
    np.testing.assert_array_equal(labels > 0, expected > 0)


def test_a_large_image_shows_a_bar_over_its_tiles(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An image predicted in many tiles gets a bar "tiles of NAME" (the images bar sits at 0/N until the
    image is done); an image of a few tiles gets none, and --quiet draws no bar at all."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    rng = np.random.default_rng(7)
    Image.fromarray(rng.integers(0, 256, (20, 24), dtype=np.uint8)).save(folder / "a_small.png")  # 2 x 2
    Image.fromarray(rng.integers(0, 256, (64, 96), dtype=np.uint8)).save(folder / "b_big.png")  # 4 x 6
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # bars are drawn in a terminal only
    args = ["predict", str(model_dir), str(folder), "--out", str(tmp_path / "out"), "--tile-size", "16"]
    assert main([*args, "--overlap", "0"]) == 0
    err = capsys.readouterr().err
    assert "tiles of b_big.png" in err and "/24 [" in err  # named after the image being tiled
    assert "tiles of a_small.png" not in err
    assert main([*args, "--overlap", "0", "--quiet"]) == 0
    assert "tiles of" not in capsys.readouterr().err


def _recording_model(folder: Path, extra: dict) -> Path:
    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "num_classes": 3, "depth": 2, "base_channels": 4}
    config = ModelConfig("unet", kwargs, class_names=["bg", "a", "b"], mean=[0.5], std=[0.25], extra=extra)
    model = create_model("unet", **kwargs)
    with torch.no_grad():
        model.head.weight.mul_(50)  # every class predicted somewhere, not one everywhere
    return save_model(model, config, folder)


def test_mask_values_stored_writes_the_training_masks_values(
    tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model trained on masks storing 0/10/20 says that masks/ hold class indices, and --mask-values stored
    writes 0/10/20 (the palette still gives each its class colour)."""
    model = _recording_model(tmp_path / "model", {"stored_values": [0, 10, 20]})
    by_class, by_value = tmp_path / "c", tmp_path / "v"
    assert main(["predict", str(model), str(images), "--out", str(by_class), "-q"]) == 0
    assert "masks/ hold class indices 0..2; the training masks stored other values (class->stored: 0->0, " \
        "1->10, 2->20): add --mask-values stored" in capsys.readouterr().err  # fmt: skip
    assert (
        main(["predict", str(model), str(images), "--out", str(by_value), "-q", "--mask-values", "stored"])
        == 0
    )
    assert "mask-values" not in capsys.readouterr().err
    for name in ("one", "two"):
        with (
            Image.open(by_class / "masks" / f"{name}.png") as a,
            Image.open(by_value / "masks" / f"{name}.png") as b,
        ):
            classes, values = np.asarray(a), np.asarray(b)
            assert len(np.unique(classes)) > 1
            assert np.array_equal(values, np.array([0, 10, 20], np.uint8)[classes])
            assert np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB")))
    # A model without stored values refuses it in one line, before writing anything.
    plain = _recording_model(tmp_path / "plain", {})
    out = tmp_path / "p"
    assert main(["predict", str(plain), str(images), "--out", str(out), "-q", "--mask-values", "stored"]) == 2
    assert "records no stored mask values" in capsys.readouterr().err and not out.exists()


def test_predict_uses_the_tta_the_run_scored_with(
    tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _recording_model(tmp_path / "model", {"tta": "identity,hflip"})
    runs = {}
    for name, extra in (("default", []), ("given", ["--tta", "identity,hflip"]), ("none", ["--tta", "none"])):
        out = tmp_path / name
        assert (
            main(["predict", str(model), str(images), "--out", str(out), "-q", "--probs", "npy", *extra]) == 0
        )
        runs[name] = (np.load(out / "probs" / "one.npy"), capsys.readouterr().err)
    assert "test-time augmentation identity,hflip, as the run scored this model" in runs["default"][1]
    assert "test-time augmentation" not in runs["given"][1] + runs["none"][1]
    assert np.array_equal(runs["default"][0], runs["given"][0])
    assert not np.array_equal(runs["default"][0], runs["none"][0])
    # With instances, the printed parameters name the TTA the masks used (they said tta False).
    out = tmp_path / "inst"
    assert main(["predict", str(model), str(images), "--out", str(out), "--instances", "components"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("instances: "))
    assert "tta identity,hflip" in line and "tta False" not in line
