"""Band-by-band prediction: tile_rows yields each row once, in order, holding one tile row of sums; the mask
of a large image is made without its (K, H, W) maps; tiles are normalised per batch with the same floats."""

from __future__ import annotations

import itertools
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from unetkit.data.io import normalize
from unetkit.geometry import ModelGeometry
from unetkit.inference.pipeline import BasePredictor
from unetkit.inference.tiling import tile_inference, tile_rows
from unetkit.inference.tta import tta_probs, tta_probs_bands
from unetkit.model_files.model_config import ModelConfig


def mixing_fn(classes: int, border: int = 0):  # type: ignore[no-untyped-def]
    """A deterministic 'network': K different nonlinear mixes of the input channels, minus ``border``."""

    def predict(batch: np.ndarray) -> np.ndarray:
        x = batch[:, :, border : batch.shape[2] - border, border : batch.shape[3] - border]
        s = x.sum(axis=1)
        return np.stack([np.sin((k + 1) * s) + 0.1 * k for k in range(classes)], axis=1).astype(np.float32)

    return predict


@pytest.mark.parametrize(
    "shape,tile,border,grid,batch,overlap",
    [
        ((1, 97, 61), 32, 0, 1, 3, 0.25),
        ((2, 40, 200), 24, 4, 8, 5, 0.5),  # unpadded, origins on the grid, batches across tile rows
        ((1, 20, 30), 64, 0, 1, 4, 0.25),  # one tile larger than the image, centred before row 0
        ((3, 130, 17), 16, 0, 1, 1, 0.0),
    ],
)
def test_bands_cover_each_row_once_in_order_and_equal_the_whole_result(
    shape: tuple[int, int, int], tile: int, border: int, grid: int, batch: int, overlap: float
) -> None:
    image = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    kwargs: dict[str, Any] = dict(overlap=overlap, batch_size=batch, border=border, grid=grid)
    whole = tile_inference(image, mixing_fn(3, border), tile + 2 * border, **kwargs)
    rows = []
    for row, logits in tile_rows(image, mixing_fn(3, border), tile + 2 * border, **kwargs):
        rows.append((row, logits.shape[1]))
        assert logits.shape[0] == 3 and logits.shape[2] == shape[2]
        np.testing.assert_array_equal(logits, whole[:, row : row + logits.shape[1]])  # bitwise
    assert rows[0][0] == 0 and all(r + n == nxt for (r, n), (nxt, _) in itertools.pairwise(rows))
    assert sum(n for _, n in rows) == shape[1]
    if shape[1] > 2 * tile:
        assert len(rows) > 1, "a tall image must come in several bands"


def test_tile_rows_holds_one_tile_row_not_the_whole_image() -> None:
    classes, height, width, tile = 8, 2048, 512, 128
    image = np.zeros((1, height, width), dtype=np.float32)
    whole_bytes = classes * height * width * 4  # 32 MiB: what tile_inference holds
    tracemalloc.start()
    try:
        for _ in tile_rows(image, mixing_fn(classes), tile, batch_size=2):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < whole_bytes / 4, f"peak {peak / 2**20:.1f} MiB for the bands of a {whole_bytes} B map"


def test_tta_by_bands_equals_tta_of_whole_logits() -> None:
    image = np.random.default_rng(2).normal(size=(2, 45, 70)).astype(np.float32)

    def whole(view: np.ndarray) -> np.ndarray:
        return tile_inference(np.ascontiguousarray(view), mixing_fn(4), 32, batch_size=3)

    def bands(view: np.ndarray) -> Any:
        return tile_rows(view, mixing_fn(4), 32, batch_size=3)

    for views in ("d4", "flips", ("identity",), ("rot90", "antitranspose")):
        np.testing.assert_array_equal(tta_probs_bands(image, bands, views), tta_probs(image, whole, views))


class Mixing(BasePredictor):
    """The pipeline over :func:`mixing_fn` (a padded 'network' of any size, K classes)."""

    def __init__(self, classes: int, channels: int = 2, **options: Any) -> None:
        config = ModelConfig(
            architecture="unet",
            model_kwargs={"in_channels": channels, "num_classes": classes, "depth": 2},
            class_names=[f"c{i}" for i in range(classes)],
            mean=[0.4] * channels,
            std=[0.3] * channels,
        )
        geometry = ModelGeometry()
        super().__init__(config, geometry, **options)
        self.calls: list[tuple[str, tuple[int, ...]]] = []

    def _predict_batch(self, batch: np.ndarray) -> np.ndarray:
        self.calls.append((str(batch.dtype), batch.shape))
        return mixing_fn(self.config.num_classes)(batch)


@pytest.mark.parametrize("classes", [1, 3])
@pytest.mark.parametrize("tta", [False, "flips", True])
def test_predict_mask_is_predicts_mask(classes: int, tta: Any) -> None:
    image = np.random.default_rng(3).integers(0, 256, (150, 90, 2), dtype=np.uint8)
    predictor = Mixing(classes, tile_size=48, batch_size=3, tta=tta)
    mask, _ = predictor.predict(image)
    np.testing.assert_array_equal(predictor.predict_mask(image), mask)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= set(range(max(classes, 2)))


def test_tiles_are_normalised_per_batch_to_the_floats_of_the_whole_image() -> None:
    image = np.random.default_rng(4).integers(0, 256, (70, 50, 2), dtype=np.uint8)
    predictor = Mixing(3, tile_size=32, batch_size=2)
    expected = tile_inference(
        normalize(image, [0.4] * 2, [0.3] * 2), mixing_fn(3), 32, batch_size=2
    )  # the whole image normalised first, as before
    np.testing.assert_array_equal(predictor.predict_logits(image), expected)
    assert predictor.calls and all(dtype == "float32" for dtype, _ in predictor.calls)
    np.testing.assert_array_equal(predictor.preprocess(image), normalize(image, [0.4] * 2, [0.3] * 2))


def test_a_large_images_mask_is_made_without_its_class_maps() -> None:
    classes, height, width = 8, 2048, 600
    image = np.zeros((height, width, 1), dtype=np.uint8)
    predictor = Mixing(classes, channels=1, tile_size=128, batch_size=2)
    maps = classes * height * width * 4  # (K, H, W) float32: 37.5 MiB
    tracemalloc.start()
    try:
        predictor.predict_mask(image)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The normalised float32 image alone was 4x the image; the maps 8 classes x 4 bytes per pixel.
    assert peak < maps / 4, f"peak {peak / 2**20:.1f} MiB against {maps / 2**20:.1f} MiB of class maps"


def test_predict_files_without_probs_asks_for_the_mask_only(tmp_path: Path) -> None:
    from PIL import Image

    from unetkit.inference.batch import OutputOptions, predict_files

    pixels = np.random.default_rng(5).integers(0, 256, (40, 30), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    asked: list[str] = []

    class Spy(Mixing):
        def predict(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            asked.append("predict")
            return super().predict(image)

        def predict_mask(self, image: np.ndarray) -> np.ndarray:
            asked.append("predict_mask")
            return super().predict_mask(image)

    spy = Spy(3, channels=1)
    predict_files(spy, [tmp_path / "a.png"], tmp_path / "out", outputs=OutputOptions(overlay=False))
    assert asked == ["predict_mask"]
    predict_files(spy, [tmp_path / "a.png"], tmp_path / "out2", outputs=OutputOptions(probs="npy"))
    assert asked == ["predict_mask", "predict"]
    assert (tmp_path / "out2" / "probs" / "a.npy").is_file()
