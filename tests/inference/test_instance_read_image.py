"""The instance predictor reads a file as its model reads it (trial finding 2): ``read_image`` delegates to
the semantic predictor's, and a Mask R-CNN applies its recorded window and gives 3 channels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from test_instance_predictor import fake_maskrcnn, save_threshold_model  # noqa: F401  (a fixture)

from unetkit.inference.backends import load_predictor
from unetkit.inference.instance_predictor import load_instance_predictor


def test_a_semantic_instance_predictor_reads_as_its_predictor(tmp_path: Path) -> None:
    folder = save_threshold_model(tmp_path / "m")
    path = tmp_path / "deep.png"
    values = (np.arange(30 * 20).reshape(30, 20) * 100).astype(np.uint16)  # 16-bit, no window: value >> 8
    Image.fromarray(values).save(path)
    instances = load_instance_predictor(folder, "components")
    image = instances.read_image(path)
    np.testing.assert_array_equal(image, load_predictor(folder).read_image(path))
    assert image.dtype == np.uint8 and image.shape == (30, 20, 1)
    calls: list[Path] = []
    instances.predictor.read_image = lambda p: calls.append(p) or image  # type: ignore[attr-defined]
    instances.read_image(path)
    assert calls == [path]  # delegated, not re-implemented


def test_a_maskrcnn_instance_predictor_applies_its_window(fake_maskrcnn: Path, tmp_path: Path) -> None:  # noqa: F811
    config_path = fake_maskrcnn / "model" / "config.json"
    config = json.loads(config_path.read_text())
    config["intensity_window"] = {"percentiles": [1.0, 99.8]}
    config_path.write_text(json.dumps(config))
    path = tmp_path / "dim.png"
    dim = np.tile(np.linspace(10, 60, 24).astype(np.uint8), (16, 1))  # a dim gray image: max 60
    Image.fromarray(dim).save(path)
    image = load_instance_predictor(fake_maskrcnn).read_image(path)
    assert image.shape == (16, 24, 3) and image.dtype == np.uint8
    assert image.max() == 255 and image.min() == 0  # mapped by the image's own percentiles
