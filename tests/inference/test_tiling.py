"""Overlap-tile inference core (NumPy): padding indices, weights, exactness, bounds, batching, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from unetkit.inference.tiling import (
    count_tiles,
    gaussian_importance_map,
    pad_indices,
    tile_inference,
    tile_starts,
)
from unetkit.models import create_model, unet_original_input_size_for_output


def torch_fn(model: torch.nn.Module):  # type: ignore[no-untyped-def]
    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(batch)).numpy()

    return predict


def crop_fn(border: int):  # type: ignore[no-untyped-def]
    """A 'network' that returns its input minus ``border`` per side: tiling must rebuild the image."""
    return lambda b: b[:, :, border : b.shape[2] - border, border : b.shape[3] - border].copy()


@pytest.mark.parametrize("mode", ["reflect", "symmetric", "edge"])
@pytest.mark.parametrize("length,before,after", [(5, 3, 2), (4, 9, 11), (1, 2, 3), (7, 0, 6)])
def test_pad_indices_match_numpy_pad(mode: str, length: int, before: int, after: int) -> None:
    x = np.arange(length) * 10
    if mode == "reflect" and length == 1:
        expected = np.zeros(length + before + after, dtype=int)  # np.pad reflect of one value = that value
    else:
        expected = np.pad(x, (before, after), mode=mode)
    got = x[pad_indices(np.arange(-before, length + after), length, mode)]
    np.testing.assert_array_equal(got, expected)


def test_pad_indices_constant_marks_outside() -> None:
    np.testing.assert_array_equal(pad_indices(np.arange(-2, 5), 3, "constant"), [-1, -1, 0, 1, 2, -1, -1])


def test_tile_starts_hand_computed() -> None:
    # length 100, tile 32, step 24: n = ceil(68 / 24) + 1 = 4 tiles spread over [0, 68].
    assert tile_starts(100, 32, 24) == [0, 23, 45, 68]
    assert tile_starts(32, 32, 24) == [0]
    assert tile_starts(20, 32, 24) == [-6]  # shorter than the tile: one tile, centred
    # Unpadded grid: origins on multiples of 16, the last tile may run past the end.
    assert tile_starts(100, 36, 32, grid=16) == [0, 32, 64]
    assert tile_starts(101, 36, 32, grid=16) == [0, 32, 64, 96]
    with pytest.raises(ValueError, match="multiple of grid"):
        tile_starts(100, 36, 30, grid=16)


def test_gaussian_map_symmetric_positive_cached() -> None:
    w = gaussian_importance_map((32, 20))
    assert w.shape == (32, 20) and w.dtype == np.float32
    assert w.max() == pytest.approx(1.0) and w.min() > 0
    np.testing.assert_array_equal(w, w[::-1, :])  # symmetric: centre at (n - 1) / 2
    np.testing.assert_array_equal(w, w[:, ::-1])
    # sigma = 32 / 8 = 4 along H: weight at the edge (15.5 px from the centre) relative to the centre row.
    assert w[0, 9] / w[15, 9] == pytest.approx(
        np.exp(-0.5 * (15.5 / 4) ** 2) / np.exp(-0.5 * (0.5 / 4) ** 2), rel=1e-5
    )
    assert gaussian_importance_map((32, 20)) is w
    assert not w.flags.writeable


@pytest.mark.parametrize("blend", ["gaussian", "uniform"])
@pytest.mark.parametrize(
    "shape,tile", [((37, 101), 32), ((20, 13), 32), ((64, 64), 32), ((33, 47), (16, 24))]
)
def test_blending_weights_sum_to_one_and_rebuild_image(blend: str, shape: tuple[int, int], tile: int) -> None:
    # An identity "network": any correct normalisation of the blend weights returns the image itself.
    image = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    out = tile_inference(image, lambda b: b.copy(), tile, overlap=0.5, blend=blend, batch_size=3)
    np.testing.assert_allclose(out, image, atol=1e-5)
    ones = tile_inference(image, lambda b: np.ones_like(b[:, :1]), tile, blend=blend)
    np.testing.assert_allclose(ones, 1.0, atol=1e-6)


@pytest.mark.parametrize("pad_mode", ["reflect", "constant"])
def test_unpadded_crop_network_rebuilds_image(pad_mode: str) -> None:
    image = np.random.default_rng(1).standard_normal((1, 37, 101)).astype(np.float32)
    out = tile_inference(image, crop_fn(10), 40, border=10, grid=4, pad_mode=pad_mode, blend="gaussian")
    np.testing.assert_allclose(out, image, atol=1e-6)  # weighted mean of equal values: rounding only


def test_unpadded_unet_tiling_is_exact() -> None:
    """Tiled unet_original equals one pass over the mirror-padded image (the paper's overlap-tile)."""
    model = create_model("unet_original", in_channels=1, num_classes=2, depth=2, base_channels=4).eval()
    b, g = model.border, model.size_divisor
    assert (b, g) == (20, 4)
    image = np.random.default_rng(0).standard_normal((1, 45, 70)).astype(np.float32)
    tiled = tile_inference(image, torch_fn(model), 60, overlap=0.25, border=b, grid=g, batch_size=3)
    h_in, w_in = (unet_original_input_size_for_output(n, depth=2) for n in (45, 70))
    padded = np.pad(image, ((0, 0), (b, h_in - 45 - b), (b, w_in - 70 - b)), mode="reflect")
    whole = torch_fn(model)(padded[None])[0][:, :45, :70]
    assert np.abs(tiled - whole).max() < 1e-5


# Measured on this tiny unet (depth 2, width 4, seed 0, 64x96 image, tile 32): max |tiled - whole| divided by
# max |whole logits| = 1.2e-4 (gaussian, overlap 0.5), 2.1e-3 (gaussian, 0.25), 2.8e-2 (uniform, 0.25).
# Padded nets see zeros at tile edges, so the seams differ; the Gaussian map down-weights exactly those
# pixels. Bounds asserted below: 5e-4, 5e-3 and 6e-2 (a margin of ~2-4x over the measurement).
@pytest.mark.parametrize(
    "blend,overlap,bound", [("gaussian", 0.5, 5e-4), ("gaussian", 0.25, 5e-3), ("uniform", 0.25, 6e-2)]
)
def test_padded_unet_tiled_close_to_whole(blend: str, overlap: float, bound: float) -> None:
    torch.manual_seed(0)
    model = create_model("unet", in_channels=1, num_classes=2, depth=2, base_channels=4).eval()
    image = np.random.default_rng(0).standard_normal((1, 64, 96)).astype(np.float32)
    whole = torch_fn(model)(image[None])[0]
    tiled = tile_inference(image, torch_fn(model), 32, overlap=overlap, blend=blend)
    rel = np.abs(tiled - whole).max() / np.abs(whole).max()
    assert rel < bound
    assert rel > 0  # the bound is about a real difference, not an identical copy


def test_batch_size_does_not_change_result() -> None:
    torch.manual_seed(0)
    model = create_model("unet", in_channels=1, num_classes=3, depth=2, base_channels=4).eval()
    image = np.random.default_rng(2).standard_normal((1, 37, 101)).astype(np.float32)
    results = [tile_inference(image, torch_fn(model), 32, batch_size=bs) for bs in (1, 3, 8)]
    assert results[0].shape == (3, 37, 101)
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], atol=1e-6)


def test_progress_reports_every_batch() -> None:
    calls: list[tuple[int, int]] = []
    image = np.zeros((1, 40, 40), dtype=np.float32)
    tile_inference(
        image, lambda b: b.copy(), 16, overlap=0.0, batch_size=4, progress=lambda d, t: calls.append((d, t))
    )
    # 40 px, tile 16, step 16: ceil(24 / 16) + 1 = 3 origins per axis -> 9 tiles in batches of 4.
    assert calls == [(4, 9), (8, 9), (9, 9)]


def test_errors_are_actionable() -> None:
    image = np.zeros((1, 16, 16), dtype=np.float32)
    identity = lambda b: b.copy()  # noqa: E731
    with pytest.raises(ValueError, match=r"overlap must be >= 0 and < 1, got 1\.0"):
        tile_inference(image, identity, 8, overlap=1.0)
    with pytest.raises(ValueError, match="leaves no output with border 4"):
        tile_inference(image, identity, 8, border=4)
    with pytest.raises(ValueError, match=r"expected \(1, K, 4, 4\)"):
        tile_inference(image, identity, 8, border=2, batch_size=1)
    with pytest.raises(ValueError, match=r"Unknown blend mode 'gausian'\. Did you mean 'gaussian'"):
        tile_inference(image, identity, 8, blend="gausian")
    with pytest.raises(ValueError, match="larger than the output tile"):
        tile_inference(image, identity, 8, step=9)
    with pytest.raises(TypeError, match="must be float"):
        tile_inference(image.astype(np.uint8), identity, 8)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        tile_inference(image[0], identity, 8)


@pytest.mark.parametrize(
    ("shape", "options"),
    [
        ((40, 40), {"tile_size": 16, "overlap": 0.0}),
        ((37, 101), {"tile_size": (16, 24), "overlap": 0.25}),
        ((37, 101), {"tile_size": 16, "step": (5, 9)}),
        ((9, 7), {"tile_size": 16}),  # smaller than one tile
        ((45, 70), {"tile_size": 20, "border": 2, "grid": 4, "overlap": 0.5}),  # unpadded: origins on a grid
    ],
)
def test_count_tiles_is_the_total_tile_inference_reports(
    shape: tuple[int, int], options: dict[str, Any]
) -> None:
    """The total is known before any tile runs (a per-image progress total over TTA views needs it)."""
    border = options.get("border", 0)
    seen: list[int] = []

    def predict(batch: np.ndarray) -> np.ndarray:
        seen.append(len(batch))
        return batch[:, :, border : batch.shape[2] - border, border : batch.shape[3] - border].copy()

    calls: list[tuple[int, int]] = []
    image = np.zeros((1, *shape), dtype=np.float32)
    tile_inference(image, predict, batch_size=3, progress=lambda d, t: calls.append((d, t)), **options)
    assert count_tiles(*shape, **options) == sum(seen) == calls[-1][0] == calls[-1][1]
