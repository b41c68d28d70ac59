"""``unetkit predict --outlines``: with instances, ``outlines/<name>.geojson`` holds one polygon per
instance id of ``instances/<name>.png``; asked for without instances, it is refused with the fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_models import predict_two_squares, three_images
from cli_models import tiny_unet as unet
from PIL import Image

from unetkit.cli.main import main


def test_outlines_come_one_per_instance_beside_the_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    predict_two_squares(monkeypatch)
    images = three_images(tmp_path / "images")
    out = tmp_path / "out"
    args = ["predict", str(unet(tmp_path / "model")), str(images / "a.png"), "--out", str(out), "-q",
            "--instances", "components", "--tta", "none", "--outlines"]  # fmt: skip
    assert main(args) == 0
    with Image.open(out / "instances" / "a.png") as img:
        labels = np.asarray(img)
    features = json.loads((out / "outlines" / "a.geojson").read_text())["features"]
    assert [f["properties"]["id"] for f in features] == [1, 2] and labels.max() == 2
    first = np.asarray(features[0]["geometry"]["coordinates"][0])
    assert (first[:, 0].min(), first[:, 1].min(), first[:, 0].max(), first[:, 1].max()) == (2, 2, 8, 8)
    # A later run without --outlines removes this image's outlines as stale.
    assert main(args[:-1]) == 0
    assert not (out / "outlines" / "a.geojson").exists()


def test_outlines_without_instances_are_refused_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = three_images(tmp_path / "images")
    model = unet(tmp_path / "model")
    out = tmp_path / "out"
    assert (
        main(["predict", str(model), str(images), "--out", str(out), "--outlines", "--instances", "none"])
        == 2
    )
    assert (
        "--outlines draws instances and --instances none asks for none; drop one" in capsys.readouterr().err
    )
    # A model not trained on instances predicts none by default: the fix names the option.
    assert main(["predict", str(model), str(images), "--out", str(out), "--outlines"]) == 2
    err = capsys.readouterr().err
    assert "predicts none by default: add --instances auto (or components, watershed)" in err
    assert not out.exists()
