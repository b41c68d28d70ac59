"""Nearest / bilinear / bicubic upsampling against torch.nn.functional.interpolate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from unetkit.ops import upsample_bicubic, upsample_bilinear, upsample_nearest

RTOL = 1e-10
SHAPES = [(2, 3, 4), (1, 5, 5), (3, 4, 7)]
SCALES = [2, 3, 1.5, (2, 3), 0.5, 2.5, 1.0]


def _torch(
    x: np.ndarray, scale: float | tuple[float, float], mode: str, align_corners: bool | None
) -> np.ndarray:
    out = F.interpolate(torch.from_numpy(x)[None], scale_factor=scale, mode=mode, align_corners=align_corners)
    return out[0].numpy()


@pytest.mark.parametrize("scale", SCALES)
def test_nearest_matches_torch_exactly(scale: float | tuple[float, float]) -> None:
    rng = np.random.default_rng(0)
    for shape in SHAPES:
        x = rng.standard_normal(shape)
        np.testing.assert_array_equal(
            upsample_nearest(x, scale), _torch(x, scale, "nearest", None), err_msg=f"{shape=}"
        )


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("align_corners", [False, True])
def test_bilinear_matches_torch(scale: float | tuple[float, float], align_corners: bool) -> None:
    rng = np.random.default_rng(1)
    for shape in SHAPES:
        x = rng.standard_normal(shape)
        ours = upsample_bilinear(x, scale, align_corners=align_corners)
        ref = _torch(x, scale, "bilinear", align_corners)
        np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=1e-12, err_msg=f"{shape=}")


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("align_corners", [False, True])
def test_bicubic_matches_torch(scale: float | tuple[float, float], align_corners: bool) -> None:
    rng = np.random.default_rng(2)
    for shape in SHAPES:
        x = rng.standard_normal(shape)
        ours = upsample_bicubic(x, scale, align_corners=align_corners)
        ref = _torch(x, scale, "bicubic", align_corners)
        np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=1e-12, err_msg=f"{shape=}")


def test_scale_shortcuts_match_torch() -> None:
    """Sizes where PyTorch ignores the exact factor: same size (1.05) and double size (2.05)."""
    x = np.random.default_rng(4).standard_normal((1, 10, 10))
    for scale in (1.05, 2.05):
        np.testing.assert_array_equal(upsample_nearest(x, scale), _torch(x, scale, "nearest", None))
        np.testing.assert_allclose(
            upsample_bilinear(x, scale), _torch(x, scale, "bilinear", False), rtol=RTOL, atol=1e-12
        )


def test_bicubic_overshoots_like_torch_and_keeps_2d_rank() -> None:
    step = np.array([[0.0, 0.0, 1.0, 1.0]] * 2)
    out = upsample_bicubic(step, 2)
    assert out.shape == (4, 8)
    assert out.min() < 0 and out.max() > 1  # Keys kernel with a=-0.75 rings at edges; no clamping.


def test_upsample_errors() -> None:
    with pytest.raises(ValueError, match="scale must be positive and finite, got 0"):
        upsample_nearest(np.ones((2, 2)), 0)
    with pytest.raises(ValueError, match="gives output size 0; use a larger scale"):
        upsample_bilinear(np.ones((2, 2)), 0.4)
    with pytest.raises(TypeError, match="scale must be a number or a pair"):
        upsample_bicubic(np.ones((2, 2)), "2")  # type: ignore[arg-type]


def test_nearest_source_index_is_computed_in_float32_like_torch() -> None:
    """For scale 1.3 on 31 pixels, float32 and float64 give a different source pixel for one output."""
    x = np.arange(31.0).reshape(1, 1, 31)
    ours = upsample_nearest(x, (1, 1.3))
    np.testing.assert_array_equal(ours, _torch(x, (1, 1.3), "nearest", None))
    float64_index = np.minimum(np.floor(np.arange(ours.shape[-1]) * (1 / 1.3)), 30)
    assert (ours[0, 0] != float64_index).any()  # the case really distinguishes the two
