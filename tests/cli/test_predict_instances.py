"""``unetkit predict --instances auto|maskrcnn|METHOD``: one interface for semantic models and Mask R-CNN."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from unetkit.cli.main import main
from unetkit.inference import instance_predictor as ip
from unetkit.inference.instances import instances_from_mask
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model


def unet(folder: Path, num_classes: int = 2, extra: dict | None = None) -> Path:
    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "num_classes": num_classes, "depth": 2, "base_channels": 4}
    names = ["bg", *[f"c{i}" for i in range(1, num_classes)]]
    config = ModelConfig("unet", kwargs, class_names=names, mean=[0.5], std=[0.25], extra=extra or {})
    return save_model(create_model("unet", **kwargs), config, folder)


def pixel_model(folder: Path, extra: dict) -> Path:
    """A 3-class (background / interior / boundary) model that is fixed thresholds of the gray value (a 1x1
    pixel classifier with set weights): > ~220 interior, ~60-220 boundary, darker background."""
    kwargs = {"in_channels": 1, "num_classes": 3, "hidden_channels": 1, "num_layers": 1, "norm": "none"}
    model = create_model("pixel_classifier", **kwargs)
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
        first, head = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        first.weight.fill_(1.0)  # h = relu((x / 255 - 0.5) / 0.25)
        head.weight[1].fill_(5.0)
        head.bias[1] = -5.0  # interior: 5h - 5
        head.weight[2].fill_(2.0)
        head.bias[2] = -0.5  # boundary: 2h - 0.5
    config = ModelConfig(
        "pixel_classifier", kwargs, ["bg", "interior", "boundary"], [0.5], [0.25], extra=extra
    )
    return save_model(model, config, folder)


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    one = np.zeros((24, 30), dtype=np.uint8)
    one[2:8, 2:9] = 240  # two bright blobs and a dim one
    one[12:20, 15:27] = 200
    one[3:6, 20:23] = 90
    Image.fromarray(one).save(folder / "one.png")
    Image.fromarray(np.full((16, 16), 230, dtype=np.uint8)).save(folder / "two.png")
    return folder


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


def test_auto_uses_the_method_the_model_was_trained_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = pixel_model(tmp_path / "model", {"instance_method": "boundary", "instance_classes": [1, 2]})
    folder = tmp_path / "touching"
    folder.mkdir()
    image = np.zeros((16, 22), dtype=np.uint8)
    image[4:12, 3:10], image[4:12, 10], image[4:12, 11:18] = 240, 150, 240  # two nuclei, a seam between
    Image.fromarray(image).save(folder / "pair.png")
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(folder / "empty.png")
    out = tmp_path / "out"
    argv = ["predict", str(model), str(folder), "--out", str(out), "--instances", "auto", "-q"]
    assert main([*argv, "--probs", "npy", "--probs-dtype", "float32", "--min-size", "2"]) == 0
    assert "instances: boundary (foreground [1, 2], min_size 2" in capsys.readouterr().out
    mask = read_png(out / "masks" / "pair.png")
    assert set(np.unique(mask)) == {0, 1, 2} and instances_from_mask(mask, [1, 2], "components")[1] == 1
    rows = {Path(r["file"]).stem: r for r in csv.DictReader((out / "summary.csv").open())}
    expected, count = instances_from_mask(
        mask, [1, 2], "boundary", 2, probs=np.load(out / "probs" / "pair.npy")
    )
    np.testing.assert_array_equal(read_png(out / "instances" / "pair.png").astype(np.int32), expected)
    assert count == 2 and int(rows["pair"]["instances"]) == 2 and int(rows["empty"]["instances"]) == 0
    # The overlay outlines each instance (in its instance colour), so the split shows where it was made.
    from unetkit.palette import class_palette
    from unetkit.viz.instances import draw_instance_outlines
    from unetkit.viz.overlay import overlay

    plain = overlay(image[..., None], mask, class_palette(3), 0.5)
    outlined = draw_instance_outlines(plain, read_png(out / "instances" / "pair.png").astype(np.int32))
    np.testing.assert_array_equal(read_png(out / "overlays" / "pair.png"), outlined)
    assert (outlined != plain).any()


def test_maskrcnn_model_writes_instances_mask_and_outlined_overlay(
    fake_maskrcnn_dir: Path, images: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert (
        main(["predict", str(fake_maskrcnn_dir), str(images), "--out", str(out), "--score-threshold", "0.7"])
        == 0
    )
    labels = read_png(out / "instances" / "one.png").astype(np.int32)
    assert labels.max() == 2 and labels[4, 21] == 0  # the dim blob is below the score threshold
    np.testing.assert_array_equal(read_png(out / "masks" / "one.png"), (labels > 0).astype(np.uint8))
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [int(r["instances"]) for r in rows] == [2, 1]
    assert {"frac_background", "frac_nucleus"} <= set(rows[0])
    overlay = read_png(out / "overlays" / "one.png")
    from unetkit.viz.instances import draw_instance_outlines, instance_colors

    assert (overlay[2, 2] == instance_colors(2)[labels[2, 2]]).all()  # an outline pixel in its colour
    assert (overlay[13:19, 16:26] != instance_colors(2)[2]).any(axis=-1).all()  # the interior is not
    plain = read_png(out / "overlays" / "two.png")
    assert plain.shape == (16, 16, 3)
    np.testing.assert_array_equal(overlay, draw_instance_outlines(overlay, labels))  # outlines drawn already
    # The same through --instances maskrcnn, explicitly.
    assert main(["predict", str(fake_maskrcnn_dir), str(images), "--out", str(tmp_path / "o2"), "-q",
                 "--instances", "maskrcnn", "--score-threshold", "0.7"]) == 0  # fmt: skip
    np.testing.assert_array_equal(read_png(tmp_path / "o2" / "instances" / "one.png"), labels)


def test_methods_that_do_not_fit_the_model_exit_2_with_one_line(
    fake_maskrcnn_dir: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = unet(tmp_path / "model", 2)
    cases = [
        ([str(model), "--instances", "boundary"], "methods that fit: components, watershed"),
        ([str(model), "--instances", "maskrcnn"], "needs a Mask R-CNN model folder"),
        ([str(fake_maskrcnn_dir), "--instances", "watershed"], "Methods that fit: maskrcnn"),
        ([str(fake_maskrcnn_dir), "--probs", "npy"], "gives no class probabilities"),
        ([str(model), "--score-threshold", "0.3"], "--score-threshold applies to Mask R-CNN"),
    ]
    capsys.readouterr()
    for args, message in cases:
        out = tmp_path / "never"
        assert main(["predict", args[0], str(images), "--out", str(out), "-q", *args[1:]]) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1, err
        assert not out.exists()


def test_a_maskrcnn_model_without_torchvision_exits_2_naming_its_install(
    images: Path, tmp_path: Path, maskrcnn_without_torchvision: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The loader's own import fails as without torchvision; the line is the one ``unetkit serve`` shows
    (one home: ``instance_predictor._load_maskrcnn``)."""
    model = maskrcnn_without_torchvision
    out = tmp_path / "never"
    capsys.readouterr()
    assert main(["predict", str(model), str(images), "--out", str(out), "-q"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {model} is a Mask R-CNN model, which needs torchvision (not installed): "
        f"{ip.pip_install('torchvision')}"
    )
    assert ip._requirement("torchvision").startswith("torchvision>=") and not out.exists()
