"""Predictor (PyTorch) and OrtPredictor (onnxruntime, torch-free): sizes, padding, agreement, no torch."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from unetkit.data.io import normalize
from unetkit.inference.pipeline import geometry_from_config, mask_from_probs
from unetkit.inference.predictor import Predictor, geometry_from_model
from unetkit.model_files.model_config import ONNX_NAME, ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import (
    create_model,
    unet_original_input_size_for_output,
    unet_original_output_size,
)

SRC = Path(__file__).resolve().parents[2] / "src"


def make_model(arch: str = "unet", num_classes: int = 3, in_channels: int = 1):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    kwargs = {"in_channels": in_channels, "num_classes": num_classes, "depth": 2, "base_channels": 4}
    model = create_model(arch, **kwargs).eval()
    config = ModelConfig(
        architecture=arch,
        model_kwargs=kwargs,
        class_names=[f"c{i}" for i in range(num_classes)],
        mean=[0.5] * in_channels,
        std=[0.25] * in_channels,
    )
    return model, config


def export_onnx_dir(model: torch.nn.Module, config: ModelConfig, folder: Path, size: int) -> Path:
    save_model(model, config, folder)
    x = torch.randn(1, config.in_channels, size, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (x,),
            str(folder / ONNX_NAME),
            dynamo=False,
            input_names=["images"],
            output_names=["logits"],
            opset_version=17,
            dynamic_axes={
                "images": {0: "batch", 2: "height", 3: "width"},
                "logits": {0: "batch", 2: "h", 3: "w"},
            },
        )
    return folder


def test_whole_image_odd_size_equals_direct_forward() -> None:
    model, config = make_model()
    image = np.random.default_rng(0).integers(0, 256, (37, 53, 1), dtype=np.uint8)
    logits = Predictor(model, config).predict_logits(image)
    with torch.inference_mode():
        direct = model(torch.from_numpy(normalize(image, config.mean, config.std))[None])[0].numpy()
    assert logits.shape == (3, 37, 53) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, direct, atol=1e-6)


def test_large_images_are_tiled_automatically(caplog: pytest.LogCaptureFixture) -> None:
    from unetkit.inference.pipeline import AUTO_TILE_PIXELS, AUTO_TILE_SIZE

    model, config = make_model()
    predictor = Predictor(model, config)  # tile_size=None: automatic
    assert predictor.tile_plan(37, 53)[0] == (37, 53)  # small: one pass over the whole image
    side = int(AUTO_TILE_PIXELS**0.5) + 1
    with caplog.at_level(logging.INFO, logger="unetkit.inference.pipeline"):
        for _ in range(3):  # e.g. a split of large images, or the views of TTA
            tile, _ = predictor.tile_plan(side, side)
    assert tile == (AUTO_TILE_SIZE, AUTO_TILE_SIZE)
    said = [r for r in caplog.records if "is large" in r.getMessage() and r.levelno == logging.INFO]
    assert len(said) == 1  # once per predictor, not once per image and view
    image = np.random.default_rng(1).integers(0, 256, (side, 40, 1), dtype=np.uint8)
    assert predictor.predict_logits(image).shape == (3, side, 40)


def test_predict_returns_argmax_mask_and_normalised_probs() -> None:
    model, config = make_model()
    image = np.random.default_rng(1).integers(0, 256, (37, 101), dtype=np.uint8)  # 2-D gray works too
    mask, probs = Predictor(model, config, tile_size=32, batch_size=2).predict(image)
    assert mask.shape == (37, 101) and mask.dtype == np.uint8
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(mask, probs.argmax(axis=0))
    binary = np.array([[[0.2, 0.7]]], dtype=np.float32)
    np.testing.assert_array_equal(mask_from_probs(binary), [[0, 1]])  # K == 1: threshold 0.5


def test_unet_original_whole_and_tiled_agree() -> None:
    model, config = make_model("unet_original", num_classes=2)
    image = np.random.default_rng(2).integers(0, 256, (45, 70, 1), dtype=np.uint8)
    whole = Predictor(model, config).predict_logits(image)
    tiled = Predictor(model, config, tile_size=50, overlap=0.5, batch_size=3).predict_logits(image)
    assert whole.shape == (2, 45, 70)
    assert np.abs(whole - tiled).max() < 1e-5
    # The whole pass is one mirror-padded valid input: check against a hand-built one.
    b = model.border
    h_in, w_in = (unet_original_input_size_for_output(n, depth=2) for n in (45, 70))
    x = normalize(image, config.mean, config.std)
    padded = np.pad(x, ((0, 0), (b, h_in - 45 - b), (b, w_in - 70 - b)), mode="reflect")
    with torch.inference_mode():
        ref = model(torch.from_numpy(padded)[None])[0, :, :45, :70].numpy()
    np.testing.assert_allclose(whole, ref, atol=1e-5)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_config_and_model_geometry_agree_for_unet_original(depth: int) -> None:
    """The onnxruntime path (config only) tiles like the PyTorch path (model attributes).

    The size arithmetic itself is tested in tests/test_geometry.py (one implementation, unetkit.geometry).
    """
    config = ModelConfig(
        "unet_original", {"in_channels": 1, "num_classes": 2, "depth": depth}, ["a", "b"], [0.5], [0.25]
    )
    geo = geometry_from_config(config)
    model = create_model("unet_original", in_channels=1, num_classes=2, depth=depth, base_channels=2)
    torch_geo = geometry_from_model(model)
    assert (geo.border, geo.grid, geo.size_divisor) == (
        torch_geo.border,
        torch_geo.grid,
        torch_geo.size_divisor,
    )
    for n in (1, 7, 100, 389):
        assert geo.input_side(n) == torch_geo.input_side(n)
        assert unet_original_output_size(geo.input_side(n), depth) >= n


def test_geometry_from_config_reads_the_stated_geometry_and_falls_back_for_old_files() -> None:
    _, config = make_model()
    assert config.geometry is None  # a config.json written before the geometry was stored
    assert geometry_from_config(config).size_divisor == 4  # fallback: 2 ** depth
    config.geometry = {"size_divisor": 8, "border": 0}
    assert geometry_from_config(config).size_divisor == 8


def test_gray_and_rgb_arrays_are_converted_as_files_are_and_other_channel_counts_named() -> None:
    """A trial: a 2-D fluorescence array on an RGB model was refused, though predict converts such files."""
    model, config = make_model()
    rgb_model, rgb_config = make_model(in_channels=3)
    gray = np.random.default_rng(3).integers(0, 256, (20, 24), dtype=np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    rgb_predictor = Predictor(rgb_model, rgb_config)
    expected = rgb_predictor.predict_logits(rgb)
    np.testing.assert_allclose(rgb_predictor.predict_logits(gray), expected, atol=1e-6)
    predictor = Predictor(model, config)
    np.testing.assert_allclose(predictor.predict_logits(rgb), predictor.predict_logits(gray), atol=1e-6)
    with pytest.raises(ValueError, match="image has 5 channels but the model expects 1; give it 1 channel"):
        predictor.predict(np.zeros((8, 8, 5), dtype=np.uint8))
    with pytest.raises(ValueError, match="tile_size must be a positive int"):
        Predictor(model, config, tile_size=0)


def test_ort_predictor_matches_torch(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from unetkit.inference.ort_backend import OrtPredictor

    model, config = make_model()
    folder = export_onnx_dir(model, config, tmp_path / "m", size=32)
    image = np.random.default_rng(3).integers(0, 256, (37, 45, 1), dtype=np.uint8)
    expected = Predictor(model, config, tile_size=32, tta="flips").predict_probs(image)
    got = OrtPredictor(folder, tile_size=32, tta="flips").predict_probs(image)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    with pytest.raises(FileNotFoundError, match=r"model\.onnx not found"):
        OrtPredictor(tmp_path)


def test_every_engine_runs_at_the_thread_count_asked_for(tmp_path: Path) -> None:
    """``load_predictor(num_threads=N)`` (``unetkit serve --threads``): onnxruntime's session gets N intra-op
    threads and one inter-op thread, torch N for each forward pass (tests/inference/test_s15.py), not the
    process's N from the load on; None leaves each engine at its default."""
    pytest.importorskip("onnxruntime")
    from unetkit.inference.backends import load_predictor

    model, config = make_model()
    folder = export_onnx_dir(model, config, tmp_path / "m", size=32)
    asked = load_predictor(folder, backend="onnxruntime", num_threads=3).session.get_session_options()
    assert (asked.intra_op_num_threads, asked.inter_op_num_threads) == (3, 1)
    default = load_predictor(folder, backend="onnxruntime").session.get_session_options()
    assert (default.intra_op_num_threads, default.inter_op_num_threads) == (0, 0)  # 0: onnxruntime decides
    before = torch.get_num_threads()
    wanted = 1 if before > 1 else 2  # a count torch does not have already
    assert load_predictor(folder, backend="torch", num_threads=wanted).num_threads == wanted
    assert torch.get_num_threads() == before  # the process's count is the caller's
    with pytest.raises(ValueError, match="num_threads must be a positive int, got 0"):
        load_predictor(folder, backend="onnxruntime", num_threads=0)


def test_ort_path_runs_without_torch(tmp_path: Path) -> None:
    """The onnxruntime backend and the predict CLI (scoring included) work with ``import torch`` blocked."""
    pytest.importorskip("onnxruntime")
    model, config = make_model("unet_original", num_classes=2)
    # Tiles of 60 (a valid unet_original input); the exported graph itself accepts any valid size.
    folder = export_onnx_dir(model, config, tmp_path / "m", size=60)
    image = np.random.default_rng(4).integers(0, 256, (41, 50, 1), dtype=np.uint8)
    expected = Predictor(model, config, tile_size=60).predict_probs(image)
    np.save(tmp_path / "image.npy", image)
    np.save(tmp_path / "expected.npy", expected)
    from PIL import Image

    Image.fromarray(image[..., 0]).save(tmp_path / "img.png")
    (tmp_path / "gt").mkdir()
    truth = (expected.argmax(0) == 1).astype(np.uint8)
    truth[:5] = 1 - truth[:5]  # five wrong rows: the scores must show them
    Image.fromarray(truth).save(tmp_path / "gt" / "img.png")
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None  # any "import torch" now raises ImportError
        import argparse
        import numpy as np
        from unetkit.inference import OrtPredictor
        from unetkit.cli import predict

        image = np.load({str(tmp_path / "image.npy")!r})
        got = OrtPredictor({str(folder)!r}, tile_size=60).predict_probs(image)
        assert np.abs(got - np.load({str(tmp_path / "expected.npy")!r})).max() < 1e-4
        parser = argparse.ArgumentParser()
        predict.add_arguments(parser)
        args = parser.parse_args([{str(folder)!r}, {str(tmp_path / "img.png")!r}, "--out",
                                  {str(tmp_path / "out")!r}, "--backend", "onnxruntime", "--tile-size", "60",
                                  "--instances", "watershed", "--probs", "npy", "--quiet",
                                  "--masks", {str(tmp_path / "gt")!r}, "--isbi"])
        assert predict.run(args) == 0
        loaded = [m for m, v in sys.modules.items() if v is not None]
        assert not any(m == "torch" or m.startswith("torch.") for m in loaded)
        print("OK")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("OK")
    assert (tmp_path / "out" / "masks" / "img.png").is_file()
    assert (tmp_path / "out" / "instances" / "img.png").is_file()
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    wrong = float((truth != expected.argmax(0)).mean())
    assert metrics["images"] == 1 and metrics["pixel_error"] == pytest.approx(wrong, abs=1e-9)


def test_small_images_are_padded_to_the_models_smallest_input() -> None:
    """SegNet states min_side = 2 ** stages in its geometry; a 5 x 6 image is mirrored up to it."""
    model = create_model(
        "segnet", in_channels=1, num_classes=2, channels=(4, 8, 8), convs_per_stage=(1, 1, 1)
    )
    config = ModelConfig("segnet", {"in_channels": 1, "num_classes": 2}, ["a", "b"], [0.5], [0.25])
    assert model.geometry().min_side == 8
    mask, probs = Predictor(model.eval(), config).predict(np.full((5, 6, 1), 100, dtype=np.uint8))
    assert mask.shape == (5, 6) and probs.shape == (2, 5, 6)


def _count_tiles_run(predictor: Any) -> list[int]:
    """Record the batch sizes the predictor's backend runs (its forward passes)."""
    ran: list[int] = []
    forward = predictor._predict_batch

    def counting(batch: np.ndarray) -> np.ndarray:
        ran.append(len(batch))
        return forward(batch)

    predictor._predict_batch = counting
    return ran


@pytest.mark.parametrize(("tta", "expected_total"), [(False, 4), ("flips", 16), (True, 28)])
def test_progress_counts_the_tiles_of_one_image_over_every_tta_view(tta: Any, expected_total: int) -> None:
    """One ``progress(done, total)`` sequence per image, TTA views together: the total is known at the first
    call and equals the tiles run, ``done`` only grows, and the last call is ``(total, total)`` (the CLI's
    tile bar opens on the first call and closes on the last). A 45 x 70 image in tiles of (32, 64) takes
    2 x 2 tiles; its rotated views (70 x 45) take 3 x 1, so the 8 views of D4 take 4 x 4 + 4 x 3 = 28."""
    model, config = make_model()
    calls: list[tuple[int, int]] = []
    predictor = Predictor(
        model, config, tile_size=(32, 64), batch_size=3, tta=tta, progress=lambda d, t: calls.append((d, t))
    )
    ran = _count_tiles_run(predictor)
    image = np.random.default_rng(4).integers(0, 256, (45, 70, 1), dtype=np.uint8)
    for predict in (predictor.predict, predictor.predict_logits):
        calls.clear(), ran.clear()
        predict(image)
        done = [d for d, _ in calls]
        assert sum(ran) == expected_total == predictor.tiles_per_image(45, 70)
        assert {t for _, t in calls} == {expected_total} and calls[-1] == (expected_total, expected_total)
        assert done == sorted(set(done))  # strictly increasing: never back to 0 at the next view


def test_every_backend_reports_tile_progress(tmp_path: Path) -> None:
    """``progress`` reaches the pipeline through ``load_predictor`` for torch, onnxruntime and backend auto
    (here: torch, no export beside the model); OpenVINO: tests/inference/test_ov_backend.py."""
    pytest.importorskip("onnxruntime")
    from unetkit.inference.backends import load_predictor

    model, config = make_model()
    folder = export_onnx_dir(model, config, tmp_path / "m", size=32)
    image = np.random.default_rng(5).integers(0, 256, (45, 70, 1), dtype=np.uint8)
    calls: list[tuple[int, int]] = []
    for backend in ("torch", "onnxruntime", "auto"):
        calls.clear()
        predictor = load_predictor(
            folder, backend=backend, tile_size=32, tta="flips", progress=lambda d, t: calls.append((d, t))
        )
        predictor.predict(image)
        total = predictor.tiles_per_image(45, 70)
        assert total > 4 and calls[-1] == (total, total), backend


def test_the_large_image_message_says_width_x_height(caplog: pytest.LogCaptureFixture) -> None:
    """A 1000-wide, 1100-high image is '1000x1100 (WxH)', as every size the tools show (not H x W)."""
    model, config = make_model()
    with caplog.at_level(logging.INFO, logger="unetkit.inference.pipeline"):
        Predictor(model, config).tile_plan(1100, 1000)
    assert "image 1000x1100 (WxH) is large" in caplog.text


def test_non_uint8_arrays_are_mapped_as_files_are(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A float image in [0, 1] was divided by 255 again (all background) and a 16-bit one not windowed (all
    foreground), silently: every type now reaches the model as the same image read from a file would."""
    import dataclasses

    from PIL import Image

    model, config = make_model()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 52), dtype=np.uint8)
    predictor = Predictor(model, config)
    expected = predictor.predict_logits(image)
    np.testing.assert_allclose(predictor.predict_logits(image.astype(np.float32) / 255), expected, atol=1e-5)
    binary = image > 128
    np.testing.assert_allclose(
        predictor.predict_logits(binary), predictor.predict_logits(binary.astype(np.uint8) * 255), atol=1e-5
    )
    # A model trained on 12-bit data (window 0..4080): 16-bit stored values go through the window.
    windowed = Predictor(model, dataclasses.replace(config, intensity_window=[[0.0, 4080.0]]))
    stored = image.astype(np.uint16) * 16
    got = windowed.predict_logits(stored)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # 12-bit values in a uint16 array for a model trained on 8-bit images: read `>> 8` (16 levels), and said.
    with caplog.at_level(logging.WARNING, logger="unetkit"):
        predictor.predict(stored)
    assert "the uint16 image array:" in caplog.text
    # read_image reads a file as unetkit predict does: the same window.
    Image.fromarray(stored).save(tmp_path / "deep.png")
    assert windowed.read_image(tmp_path / "deep.png").dtype == np.uint8
    np.testing.assert_allclose(
        windowed.predict_logits(windowed.read_image(tmp_path / "deep.png")), expected, atol=1e-5
    )
    with pytest.raises(ValueError, match=r"float32 image array: float values in \[0, 2\].*rescale"):
        predictor.predict(image.astype(np.float32) / 127.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "All-NaN slice" warning leaked before the error
        with pytest.raises(ValueError, match=r"every value is NaN"):
            predictor.predict(np.full((8, 8), np.nan, np.float32))
    # What NumPy arithmetic gives (int64 holding 0..255) is 8-bit data; `>> 8` made it black.
    np.testing.assert_allclose(predictor.predict_logits(image.astype(np.int64)), expected, atol=1e-5)
    with pytest.raises(TypeError, match=r"got list; convert it with np.asarray"):
        predictor.predict([[0, 1]])  # type: ignore[arg-type]
    # A PIL image is read as its stored pixels; a channels-first array is named as such.
    np.testing.assert_allclose(predictor.predict_logits(Image.fromarray(image)), expected, atol=1e-5)
    with pytest.raises(ValueError, match=r"channels first; predict takes \(H, W, C\): pass np.moveaxis"):
        predictor.predict(image[None])


def test_a_stored_uint8_array_is_mapped_by_a_per_image_window_and_its_output_is_not() -> None:
    """A trial: raw uint8 nuclei images (read with PIL) skipped the model's per-image window, up to 3x wrong
    counts. An array the window cannot have produced (too few 0s, or too few 255s with every level used) is
    mapped as a file is; the window's own output (read_image's) goes in unchanged."""
    import dataclasses

    from unetkit.data.io import apply_window, per_image_window

    model, config = make_model()
    predictor = Predictor(model, dataclasses.replace(config, intensity_window=per_image_window(min_span=8)))
    rng = np.random.default_rng(2)
    stored = rng.integers(3, 120, (40, 44), dtype=np.uint8)  # a dim image: no zero, max 119
    mapped = apply_window(stored[..., None], predictor.config.intensity_window)
    assert (mapped == 0).mean() >= 0.01  # the window's output: ~1 % zeros
    expected = predictor.predict_logits(mapped)
    np.testing.assert_allclose(predictor.predict_logits(stored), expected, atol=1e-6)
    np.testing.assert_allclose(predictor.predict_logits(mapped), expected, atol=1e-6)  # not mapped twice
    # Saturated but with no zero (a bright field): not the window's output either (it makes ~1 % zeros).
    bright = stored.copy()
    bright[:2] = 255
    bright_mapped = apply_window(bright[..., None], predictor.config.intensity_window)
    np.testing.assert_allclose(
        predictor.predict_logits(bright), predictor.predict_logits(bright_mapped), atol=1e-6
    )
    assert not np.allclose(predictor.predict_logits(bright), Predictor(model, config).predict_logits(bright))
    # A dark stored image, a quarter black (as 9 of DSB 2018's 598 train+val images): zeros enough for the
    # window's output, but no 255s and every level used, so stored pixels: mapped.
    dark = stored.copy()
    dark[:10] = 0
    dark_mapped = apply_window(dark[..., None], predictor.config.intensity_window)
    np.testing.assert_allclose(
        predictor.predict_logits(dark), predictor.predict_logits(dark_mapped), atol=1e-6
    )
    # The output of a window stretched to its min_span (a flat image): few 255s, but levels skipped: kept.
    flat = rng.integers(50, 54, (40, 44), dtype=np.uint8)
    stretched = apply_window(flat[..., None], predictor.config.intensity_window)
    assert (stretched == 255).mean() < 0.001 and (stretched == 0).mean() >= 0.01
    np.testing.assert_allclose(
        predictor.predict_logits(stretched), Predictor(model, config).predict_logits(stretched), atol=1e-6
    )
    # A fixed window leaves uint8 arrays alone (they are the model's input, as read_image gives it).
    fixed = Predictor(model, dataclasses.replace(config, intensity_window=[[0.0, 4080.0]]))
    np.testing.assert_allclose(
        fixed.predict_logits(stored), Predictor(model, config).predict_logits(stored), atol=1e-6
    )


def test_pil_images_and_array_mistakes_are_read_or_named_as_files_are() -> None:
    """A palette PIL image went in as its raw indices (a silently wrong mask); an RGBA array was told to
    convert gray <-> RGB, a channels-first RGB array on a gray model was called 512 channels, NaN pixels were
    reported as a range and a 0-pixel image crashed in the tiling."""
    from PIL import Image

    model, config = make_model()
    predictor = Predictor(model, config)
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (24, 30), dtype=np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    rgb_model, rgb_config = make_model(in_channels=3)
    rgb_predictor = Predictor(rgb_model, rgb_config)
    expected = rgb_predictor.predict_logits(rgb)
    # A palette image is read through its palette, as a palette file is (indices 0..255 shuffled here).
    order = rng.permutation(256).astype(np.uint8)
    indexed = Image.fromarray(np.argsort(order)[gray].astype(np.uint8), mode="P")
    indexed.putpalette(np.repeat(order[:, None], 3, axis=1).ravel().tolist())
    np.testing.assert_allclose(rgb_predictor.predict_logits(indexed), expected, atol=1e-5)
    # On a gray model too, as a palette file is read (re-check: refused as 3 channels).
    np.testing.assert_allclose(predictor.predict_logits(indexed), predictor.predict_logits(gray), atol=1e-5)
    # An opaque alpha is dropped from a PIL image and from an RGBA array alike, as from a PNG file.
    rgba = np.concatenate([rgb, np.full((24, 30, 1), 255, np.uint8)], axis=2)
    np.testing.assert_allclose(rgb_predictor.predict_logits(Image.fromarray(rgba)), expected, atol=1e-5)
    np.testing.assert_allclose(rgb_predictor.predict_logits(rgba), expected, atol=1e-5)
    with pytest.raises(ValueError, match=r"channels first; predict takes \(H, W, C\)"):
        predictor.predict(np.moveaxis(rgb, -1, 0))
    clean = gray.copy()
    clean[0, 0], clean[0, 1] = 255, 0
    noisy = clean.astype(np.float32) / 255
    noisy[0, 0], noisy[0, 1] = 1.0 + 1e-6, -1e-7  # a resize's rounding noise is read, clipped
    np.testing.assert_allclose(predictor.predict_logits(noisy), predictor.predict_logits(clean), atol=1e-5)
    noisy[1, 1] = np.nan
    with pytest.raises(
        ValueError, match=r"cannot read the float32 image array: 1 of its 720 values are NaN; fill"
    ):
        predictor.predict(noisy)
    with pytest.raises(ValueError, match=r"image is 0x10 pixels .* it is empty"):
        predictor.predict(np.zeros((0, 10), np.uint8))


def test_an_array_conversion_is_said_once_per_predictor(caplog: pytest.LogCaptureFixture) -> None:
    # Trial 27: a loop over 1000 gray arrays for an RGB model logged 1000 identical INFO lines.
    model, config = make_model(in_channels=3)
    gray = np.zeros((20, 24), dtype=np.uint8)
    for predictor in (Predictor(model, config), Predictor(model, config)):
        with caplog.at_level(logging.INFO, logger="unetkit"):
            for _ in range(3):
                predictor.predict(gray)
    line = "image array: 1 channel(s) -> the model's 3"
    said = [r for r in caplog.records if r.getMessage().startswith(line)]
    assert [r.levelno for r in said] == [logging.INFO, logging.INFO]  # once for each predictor
    assert said[0].getMessage().endswith("(logged once per predictor)")
