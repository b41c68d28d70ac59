"""A batch of large tiles whose forward pass does not fit in the memory free now runs fewer tiles per pass,
said in one INFO line with the numbers; where not even one tile fits, the image is refused before any tile
runs, in one line naming the tile size, the memory needed and free, and a smaller --tile-size (trial S12:
``--tile-size 2048`` took 4.8 GB with torch and 7.3 GB with OpenVINO, with no word). A batch that fits is
untouched."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from tests.inference.test_s20_bands import Mixing

import unetkit.inference.memory as memory
from unetkit.inference.batch import OutputOptions, predict_files
from unetkit.inference.memory import (
    ENGINE_FACTOR,
    FORWARD_OVERHEAD,
    fit_tile_batch,
    forward_bytes,
    level_widths,
)

GIB = 1024**3
# Mixing is a depth-2 U-Net of the default width: 64, 128, 256.
WIDTHS = (64, 128, 256)


def _free(monkeypatch: pytest.MonkeyPatch, nbytes: int | None) -> None:
    monkeypatch.setattr(memory, "available_memory", lambda: nbytes)


class Batches(Mixing):
    """Records the tiles of every forward pass."""

    def __init__(self, classes: int, **options: Any) -> None:
        super().__init__(classes, **options)
        self.passes: list[int] = []

    def _predict_batch(self, batch: np.ndarray) -> np.ndarray:
        self.passes.append(batch.shape[0])
        return super()._predict_batch(batch)


def test_the_rule_reads_the_widths_of_the_levels() -> None:
    assert level_widths("unet", {"base_channels": 8, "depth": 4}) == (8, 16, 32, 64, 128)
    assert level_widths("unet_original", {"depth": 2}) == (64, 128, 256)
    assert level_widths("unet", {"channels": [16, 24, 40], "depth": 2}) == (16, 24, 40)
    assert level_widths("fcn8s", {}) == (64, 128, 256, 512, 1024)  # others: the default U-Net, above them
    # Base 8 at 2048 x 2048, 4 tiles: 16 bytes x (16 + 16/4 + 32/16 + 64/64 + 128/256) per pixel.
    per_tile = 16 * 23.5 * 2048 * 2048
    assert forward_bytes((8, 16, 32, 64, 128), 4, 2048, 2048) == int(4 * per_tile) + FORWARD_OVERHEAD
    assert forward_bytes(WIDTHS, 1, 100, 100, ENGINE_FACTOR) > forward_bytes(WIDTHS, 1, 100, 100)


def test_a_batch_that_does_not_fit_is_lowered_and_said(monkeypatch: pytest.MonkeyPatch) -> None:
    widths = level_widths("unet", {"base_channels": 8, "depth": 4})
    _free(monkeypatch, 5 * GIB // 2)
    batch, why = fit_tile_batch(widths, (2048, 2048), 4)
    assert batch == 1  # 2 need 3.0 GiB
    assert "\n" not in why
    assert why == (
        "tiles of 2048x2048 px: 1 per forward pass instead of 4: 4 would need about 5.9 GiB and 2.5 GiB of "
        "memory is free; 1 need about 1.5 GiB"
    )
    batch, why = fit_tile_batch(widths, (2048, 2048), 4, reserved=GIB // 2)
    assert batch == 1 and "(2.0 GiB of it beside the image's own 0.5 GiB)" in why
    _free(monkeypatch, 7 * GIB)
    assert fit_tile_batch(widths, (2048, 2048), 4) == (4, "")  # fits: untouched, nothing said
    _free(monkeypatch, None)
    assert fit_tile_batch(widths, (2048, 2048), 4) == (4, "")  # unknown: not checked


def test_not_even_one_tile_is_a_line_naming_the_tile_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    widths = level_widths("unet", {"base_channels": 8, "depth": 4})
    _free(monkeypatch, GIB)
    with pytest.raises(ValueError) as err:
        fit_tile_batch(widths, (2048, 2048), 4)
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(
        "tile of 2048x2048 px: the model's forward pass over one tile needs about 1.5 GiB and 1.0 GiB of "
        "memory is free; pass a smaller tile: --tile-size "
    )
    side = int(text.split("--tile-size ")[1].split()[0])
    assert 512 <= side < 2048 and side % 32 == 0
    assert forward_bytes(widths, 1, side, side) <= GIB < forward_bytes(widths, 1, side + 32, side + 32)
    assert f"(in Python tile_size={side})" in text


def test_a_predictor_lowers_its_batch_before_the_tiles_and_keeps_the_mask(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    image = np.random.default_rng(0).integers(0, 256, (400, 300, 2), dtype=np.uint8)
    # 4 tiles of 256 x 256 need 0.63 GiB + 64 MiB, 2 need 0.34 GiB: free room for 2.
    free = forward_bytes(WIDTHS, 2, 256, 256) + 4 * 3 * 400 * 300 + 400 * 300 + 1024  # + the map and mask
    _free(monkeypatch, free)
    lowered = Batches(3, tile_size=256, batch_size=4)
    with caplog.at_level(logging.INFO, logger="unetkit"):
        mask = lowered.predict_mask(image)
    assert lowered.passes and max(lowered.passes) == 2
    said = [r.getMessage() for r in caplog.records if "per forward pass" in r.getMessage()]
    assert said == [
        f"tiles of 256x256 px: 2 per forward pass instead of 4: 4 would need about 0.5 GiB and "
        f"{free / GIB:.1f} GiB of memory is free; 2 need "
        "about 0.3 GiB"
    ]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="unetkit"):
        lowered.predict_mask(image)  # the same line again: at DEBUG, not repeated per image
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and "forward pass" in r.getMessage()]
    _free(monkeypatch, 64 * GIB)
    fitting = Batches(3, tile_size=256, batch_size=4)
    np.testing.assert_array_equal(fitting.predict_mask(image), mask)  # the same mask, 4 tiles per pass
    assert max(fitting.passes) == 4
    _free(monkeypatch, free)
    probs = Batches(3, tile_size=256, batch_size=4)  # the probabilities: the map is held beside the tiles
    np.testing.assert_array_equal(probs.predict(image)[0], mask)
    assert max(probs.passes) == 2
    # A GPU's passes take the GPU's memory: not checked against the host's.
    gpu = Batches(3, tile_size=256, batch_size=4)
    gpu.device = type("Device", (), {"type": "cuda"})()  # type: ignore[attr-defined]
    gpu.predict_mask(image)
    assert max(gpu.passes) == 4


def test_an_image_whose_one_tile_does_not_fit_fails_alone_before_its_tiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (64, 64, 2), dtype=np.uint8)[..., 0]).save(tmp_path / "small.png")
    Image.fromarray(rng.integers(0, 256, (700, 700), dtype=np.uint8)).save(tmp_path / "large.png")
    # Room for one pass over the small image (one 64 x 64 tile), not for one 512 x 512 tile of the large.
    _free(monkeypatch, forward_bytes(WIDTHS, 1, 400, 400))
    predictor = Batches(3, channels=1, tile_size=512, batch_size=4)
    out = tmp_path / "out"
    result = predict_files(
        predictor, [tmp_path / "small.png", tmp_path / "large.png"], out, outputs=OutputOptions(overlay=False)
    )
    assert [Path(path).name for path, _ in result.failures] == ["large.png"]
    text = str(result.failures[0][1])
    assert text.startswith("tile of 512x512 px: the model's forward pass over one tile needs about 0.5 GiB")
    assert "pass a smaller tile: --tile-size 384 " in text
    assert predictor.passes == [1]  # the small image's one pass; none of the large image's
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["small.png"]


def test_the_exported_engines_count_more(monkeypatch: pytest.MonkeyPatch) -> None:
    from unetkit.inference.ort_backend import OrtPredictor
    from unetkit.inference.ov_backend import OvPredictor

    assert OrtPredictor.forward_memory_factor == OvPredictor.forward_memory_factor == ENGINE_FACTOR > 1
    assert Mixing.forward_memory_factor == 1.0


def test_the_probability_map_is_held_beside_the_tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    image = np.random.default_rng(2).integers(0, 256, (400, 300, 2), dtype=np.uint8)
    # Room for 2 tiles beside the mask, not beside the 3 x 400 x 300 float32 map (1.4 MB) predict() keeps.
    _free(monkeypatch, forward_bytes(WIDTHS, 2, 256, 256) + 400 * 300 + 1024)
    masked = Batches(3, tile_size=256, batch_size=4)
    masked.predict_mask(image)
    assert max(masked.passes) == 2
    kept = Batches(3, tile_size=256, batch_size=4)
    kept.predict(image)
    assert max(kept.passes) == 1
    logits = Batches(3, tile_size=256, batch_size=4)
    logits.predict_logits(image)  # its (K, H, W) logits likewise
    assert max(logits.passes) == 1
