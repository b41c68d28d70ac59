"""A per-image intensity window's ``min_span`` is one value per channel (trial finding 1d): one span for all
channels was the narrowest training span of the bright channel, so a 2-channel fluorescence set's dim stain
(spans down to 985 against ch0's 2308) was never stretched to full range (ch1 at most 171 of 255), in
training and prediction alike. The plan now records each channel's narrowest training span; a model folder
whose config.json holds one number still reads every channel through that one span, as before."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from unetkit.data.datasets.folder import _window as folder_window
from unetkit.data.datasets.registry import get_dataset_spec
from unetkit.data.io import (
    apply_window,
    per_image_window,
    read_image,
    read_raw_image,
    to_uint8,
    window_mismatch,
)
from unetkit.inference.batch import model_image
from unetkit.inference.predictor import Predictor
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model
from unetkit.planning import discover, fingerprint
from unetkit.planning.plan import dataset_config
from unetkit.training.fit import _window_json

OLD = {"percentiles": [1.0, 99.8], "min_span": 2308.0}  # an old model folder's window: one span for all
SPANS = [2308.0, 985.0]
KWARGS = {"in_channels": 2, "num_classes": 2, "depth": 2, "base_channels": 4}


def _tiff(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, pixels.astype(np.uint16), photometric="minisblack", planarconfig="contig")
    return path


def _dim_second_channel(path: Path) -> Path:
    """A bright stain (span ~13600) and a dim one whose 1-99.8 % span (~1190) lies between its own min_span
    (985) and the bright channel's (2308)."""
    rng = np.random.default_rng(7)
    return _tiff(path, np.stack([rng.integers(300, 14000, (40, 44)), rng.integers(300, 1500, (40, 44))], -1))


def _old_reading(raw: np.ndarray, span: float) -> np.ndarray:
    """The per-image window as unetkit applied it before spans were per channel (one span, every channel)."""
    flat = raw.reshape(-1, raw.shape[2]).astype(np.float32)
    lo, hi = np.percentile(flat, [1.0, 99.8], axis=0).astype(np.float64)
    hi = np.maximum(hi, lo + span)
    scale = (255.0 / (hi - lo)).astype(np.float32)
    return np.clip(np.rint((raw.astype(np.float32) - lo.astype(np.float32)) * scale), 0, 255).astype(np.uint8)


def _config(window: object) -> ModelConfig:
    return ModelConfig(
        architecture="unet",
        model_kwargs=dict(KWARGS),
        class_names=["bg", "fg"],
        mean=[0.5],
        std=[0.25],
        intensity_window=window,  # type: ignore[arg-type]
    )


def _model_folder(folder: Path, window: dict) -> Path:  # type: ignore[type-arg]
    torch.manual_seed(0)
    model = create_model("unet", **KWARGS).eval()
    save_model(model, _config(None), folder)
    # config.json as an older (or newer) unetkit wrote it, window and all
    data = json.loads((folder / "config.json").read_text())
    data["intensity_window"] = window
    (folder / "config.json").write_text(json.dumps(data))
    return folder


def test_the_plan_gives_each_channel_its_narrowest_training_span(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    (root / "masks").mkdir(parents=True)
    for i in range(12):  # exposures 1x..4x: a per-image window; ch1 a dimmer stain than ch0
        scale = 1 + i % 4
        pixels = np.stack(
            [
                rng.integers(200, 200 + 3000 * scale, (32, 32)),
                rng.integers(200, 200 + 1000 * scale, (32, 32)),
            ],
            -1,
        )
        _tiff(root / "images" / f"im{i:02d}.tif", pixels)
        mask = np.zeros((32, 32), np.uint8)
        mask[4:12, 4 + i : 12 + i] = 255
        Image.fromarray(mask).save(root / "masks" / f"im{i:02d}.png")
    layout = discover(root)
    fp = fingerprint(layout)
    # Each channel's own narrowest span among the sampled training images (all of them here: 32x32 each).
    spans = np.stack(
        [
            np.ptp(np.percentile(read_raw_image(s.image).reshape(-1, 2), [1.0, 99.8], axis=0), axis=0)
            for s in layout.samples_of("train")
        ]
    )
    expected = [round(float(v), 1) for v in spans.min(axis=0)]
    assert expected[1] < expected[0] / 2  # the dim stain's spans: what one span for all lost
    assert fp.intensity_window == {"percentiles": [1.0, 99.8], "min_span": expected}
    assert f"a window is at least ch0 {expected[0]:g}, ch1 {expected[1]:g} levels wide" in fp.window_reason
    data, reasons, _ = dataset_config(layout, fp)
    assert data["options"]["intensity_window"]["min_span"] == expected
    assert f"ch1 {expected[1]:g}" in reasons["data.options.intensity_window"]
    # Training reads through it: the spec keeps the list, config.json gets it, a model config takes it.
    spec = get_dataset_spec("folder", root, **data["options"])
    assert spec.intensity_window == fp.intensity_window
    saved = _window_json(spec.intensity_window)
    assert saved["min_span"] == expected
    config = _config(saved)
    assert config.intensity_window == saved


def test_an_old_model_folder_with_one_span_predicts_as_before(tmp_path: Path) -> None:
    path = _dim_second_channel(tmp_path / "x.tif")
    raw = read_raw_image(path)
    before = _old_reading(raw, 2308.0)
    assert before[..., 1].max() < 200  # the dim channel: never stretched by the one span
    predictor = Predictor.from_path(_model_folder(tmp_path / "old", OLD))
    assert predictor.config.intensity_window == OLD
    read = predictor.read_image(path)  # predict's reading (and serve's: model_image)
    np.testing.assert_array_equal(read, before)
    np.testing.assert_array_equal(model_image(raw, path, 2, OLD)[0], before)
    np.testing.assert_array_equal(read_image(path, 2, window=OLD), before)  # training's reading
    # The same span in every channel, as a list, reads the same.
    np.testing.assert_array_equal(apply_window(raw, per_image_window(min_span=[2308, 2308])), before)
    mask, _ = predictor.predict(read)
    assert mask.shape == raw.shape[:2]


def test_a_dim_channel_is_stretched_by_its_own_span(tmp_path: Path) -> None:
    path = _dim_second_channel(tmp_path / "x.tif")
    raw = read_raw_image(path)
    window = per_image_window(min_span=SPANS)
    predictor = Predictor.from_path(_model_folder(tmp_path / "new", window))
    assert predictor.config.intensity_window == {"percentiles": [1.0, 99.8], "min_span": SPANS}
    old = _old_reading(raw, 2308.0)
    for image in (
        predictor.read_image(path),  # predict
        model_image(raw, path, 2, predictor.config.intensity_window)[0],  # predict_files and serve
        read_image(path, 2, window=window),  # training data
    ):
        assert image[..., 1].max() == 255 and old[..., 1].max() < 200  # stretched to full range now
        # ch1's span is above its own min_span: its own percentiles map it; ch0 as before.
        np.testing.assert_array_equal(image[..., 1], apply_window(raw, per_image_window())[..., 1])
        np.testing.assert_array_equal(image[..., 0], old[..., 0])
    # A dim image whose ch1 span is under 985 is still held to 985 in that channel only.
    dark = raw.copy()
    dark[..., 1] = 300 + (raw[..., 1] - 300) // 4  # span ~300
    np.testing.assert_array_equal(apply_window(dark, window)[..., 1], _old_reading(dark, 985.0)[..., 1])


def test_min_span_lists_are_checked() -> None:
    image = np.zeros((8, 8, 2), np.uint16)
    with pytest.raises(ValueError, match=r"has 2 channels but .*min_span has 3 values"):
        apply_window(image, per_image_window(min_span=[10, 20, 30]))
    with pytest.raises(ValueError, match=r"min_span must be a number > 0 .* or a list"):
        per_image_window(min_span=[10, 0])
    with pytest.raises(ValueError, match=r'"min_span" \[10, 20, 30\] has 3 values for in_channels=2'):
        _config({"percentiles": [1, 99.8], "min_span": [10, 20, 30]})
    with pytest.raises(ValueError, match=r'takes only an optional "min_span" > 0'):
        _config({"percentiles": [1, 99.8], "min_span": [10, -1]})
    with pytest.raises(ValueError, match=r"dataset 'folder': intensity_window: min_span .* in_channels=2"):
        folder_window({"percentiles": [1, 99.8], "min_span": [1, 2, 3]}, [], 2)
    # An 8-bit image against a deeper span names the channel whose span it cannot reach.
    eight = np.random.default_rng(1).integers(2, 140, (20, 20, 2), dtype=np.uint8)
    note = window_mismatch(eight, per_image_window(min_span=[200, 985]))
    assert note is not None and note.startswith("channel 1: 8-bit") and "985 levels wide" in note
    assert window_mismatch(eight, per_image_window(min_span=[200, 250])) is None


# A float image through a per-image window (the brief's second part): its 8-bit reading, round(x * 255), was
# windowed, so a dim float image kept the few levels its values covered on 0..255.


def _dim(seed: int = 0, gain: float = 1.0) -> np.ndarray:
    """A dim 16-bit acquisition (background ~300, three nuclei ramping up ~900 * gain above it)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:48, :48]
    image = 300 + rng.normal(0, 20, (48, 48))
    for cy, cx in [(12, 12), (30, 34), (38, 10)]:
        image += np.clip(900 * gain * (1 - np.hypot(yy - cy, xx - cx) / 9), 0, None)
    return np.clip(image, 0, 65535).astype(np.uint16)[..., None]


def test_a_float_image_is_windowed_from_its_own_values(tmp_path: Path) -> None:
    stored = _dim()
    floats = (stored / 65535.0).astype(np.float32)  # as a float TIFF holds it: ~4 levels of 0..255
    window = per_image_window()
    deep = apply_window(stored, window)  # the same image read from its 16-bit values
    eight = apply_window(np.rint(floats * 255).astype(np.uint8), window)  # the 8-bit reading's window
    assert len(np.unique(eight)) <= 6 and len(np.unique(deep)) > 200
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, floats[..., 0])
    torch.manual_seed(0)
    kwargs = {**KWARGS, "in_channels": 1}
    config = ModelConfig(
        architecture="unet",
        model_kwargs=kwargs,
        class_names=["bg", "fg"],
        mean=[0.5],
        std=[0.25],
        intensity_window=window,
    )
    predictor = Predictor(create_model("unet", **kwargs).eval(), config)
    seen: list[np.ndarray] = []
    model_input = predictor.model_input
    predictor.model_input = lambda image: seen.append(model_input(image)) or seen[-1]  # type: ignore[method-assign]
    predictor.predict(floats)  # an array: windowed once, from its values
    for image in (
        read_image(path, 1, window=window),  # training data
        model_image(read_raw_image(path), path, 1, window)[0],  # predict_files and serve
        predictor.read_image(path),
        seen[0],
    ):
        assert np.abs(image.astype(int) - deep.astype(int)).max() <= 1  # its gradations kept
    # An 8-bit image saved as floats (raw / 255.0) still reads bit for bit as its 8-bit image, every level
    # of it (float32(k / 255) * 255 is k), a window whose ends fall on levels (ties: rint(25.5)) included.
    ramp = np.arange(48 * 48).reshape(48, 48, 1)
    for eight_bit in (
        (ramp % 256).astype(np.uint8),
        (ramp % 11).astype(np.uint8),
        (stored >> 2).astype(np.uint8),
    ):
        for spanned in (window, per_image_window(min_span=40.0)):
            expected = apply_window(eight_bit, spanned)
            for dtype in (np.float32, np.float64):
                got = to_uint8((eight_bit / 255.0).astype(dtype), "the float image array", spanned)
                np.testing.assert_array_equal(got, expected)
    file_read = read_image(_float_tiff(tmp_path / "e.tif", eight_bit / 255.0), 1, window=window)
    np.testing.assert_array_equal(file_read, apply_window(eight_bit, window))


def _float_tiff(path: Path, pixels: np.ndarray) -> Path:
    tifffile.imwrite(path, pixels.astype(np.float32)[..., 0])
    return path


def test_the_plan_measures_float_spans_on_their_own_values(tmp_path: Path) -> None:
    root = tmp_path / "floats"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    levels = {}
    for i in range(12):  # exposures 1x..4x: a per-image window
        floats = _dim(i, gain=1 + i % 4) / 65535.0
        _float_tiff(root / "images" / f"im{i:02d}.tif", floats)
        mask = np.zeros((48, 48), np.uint8)
        mask[4:12, 4:12] = 255
        Image.fromarray(mask).save(root / "masks" / f"im{i:02d}.png")
        levels[f"im{i:02d}.tif"] = floats.astype(np.float32).astype(np.float64) * 255.0
    layout = discover(root)
    fp = fingerprint(layout)
    spans = [np.ptp(np.percentile(levels[s.image.name], [1.0, 99.8])) for s in layout.samples_of("train")]
    expected = round(float(min(spans)), 1)
    assert expected != round(expected)  # the 8-bit reading's spans were whole levels
    assert fp.intensity_window == per_image_window(min_span=expected)
    # The mean (the model's normalisation) of what the window makes of the float values, as training reads.
    windowed = [
        to_uint8(levels[s.image.name] / 255.0, s.image, fp.intensity_window)
        for s in layout.samples_of("train")
    ]
    assert fp.mean[0] == pytest.approx(np.concatenate(windowed).mean() / 255.0, abs=1e-5)
