"""max/avg pooling, max-unpooling and bed-of-nails against torch.nn.functional."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from unetkit.ops import avg_pool2d, bed_of_nails_unpool, max_pool2d, max_unpool2d

RTOL = 1e-10
SHAPES = [(2, 6, 6), (3, 7, 5), (1, 9, 8)]
# (kernel_size, stride, padding); stride None = kernel size like PyTorch.
GEOMETRIES = [
    (2, None, 0),
    (3, 2, 1),
    ((3, 2), 2, 0),
    ((3, 2), (1, 2), (1, 0)),
    (3, 1, 0),
    ((2, 4), (2, 3), (1, 2)),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("kernel", "stride", "padding"), GEOMETRIES)
def test_max_pool2d_values_and_indices_match_torch(
    shape: tuple[int, int, int],
    kernel: int | tuple[int, int],
    stride: int | None,
    padding: int | tuple[int, int],
) -> None:
    x = np.random.default_rng(sum(shape)).standard_normal(shape)
    values, indices = max_pool2d(x, kernel, stride, padding)
    ref_v, ref_i = F.max_pool2d(torch.from_numpy(x), kernel, stride, padding, return_indices=True)
    np.testing.assert_array_equal(values, ref_v.numpy())
    np.testing.assert_array_equal(indices, ref_i.numpy())
    assert indices.dtype == np.int64
    # And max-unpooling puts them back where torch does.
    np.testing.assert_array_equal(
        max_unpool2d(values, indices, shape[-2:]),
        F.max_unpool2d(ref_v, ref_i, kernel, stride, padding, output_size=shape[-2:]).numpy(),
    )


def test_max_pool2d_ties_pick_the_first_maximum_like_torch() -> None:
    x = np.random.default_rng(3).integers(0, 3, size=(4, 8, 8)).astype(np.float64)  # many ties
    values, indices = max_pool2d(x, 3, 2, 1)
    ref_v, ref_i = F.max_pool2d(torch.from_numpy(x), 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(values, ref_v.numpy())
    np.testing.assert_array_equal(indices, ref_i.numpy())


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("kernel", "stride", "padding"), GEOMETRIES)
def test_avg_pool2d_matches_torch(
    shape: tuple[int, int, int],
    kernel: int | tuple[int, int],
    stride: int | None,
    padding: int | tuple[int, int],
) -> None:
    x = np.random.default_rng(sum(shape) + 1).standard_normal(shape)
    for count_include_pad in (True, False):
        ours = avg_pool2d(x, kernel, stride, padding, count_include_pad=count_include_pad)
        ref = F.avg_pool2d(torch.from_numpy(x), kernel, stride, padding, count_include_pad=count_include_pad)
        np.testing.assert_allclose(ours, ref.numpy(), rtol=RTOL, atol=1e-12, err_msg=f"{count_include_pad=}")


def test_bed_of_nails_places_values_top_left() -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    out = bed_of_nails_unpool(x, (2, 3))
    assert out.shape == (2, 6, 12)
    np.testing.assert_array_equal(out[:, ::2, ::3], x)
    assert np.count_nonzero(out) == x.size


def test_pooling_errors() -> None:
    with pytest.raises(ValueError, match="padding 2 along axis 0 is more than half the kernel size 3"):
        max_pool2d(np.zeros((6, 6)), 3, padding=2)
    with pytest.raises(ValueError, match=r"output size would be 0.*padded input M\+2P = 2"):
        avg_pool2d(np.zeros((2, 2)), 3)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 16\) .*got values in \[0, 16\]"):
        max_unpool2d(np.ones((2, 2)), np.array([[0, 1], [2, 16]]), (4, 4))
    with pytest.raises(ValueError, match="indices must have the same shape as x"):
        max_unpool2d(np.ones((2, 2)), np.array([0, 1, 2, 3]), (4, 4))
    with pytest.raises(TypeError, match="indices must be integers"):
        max_unpool2d(np.ones((2, 2)), np.zeros((2, 2)), (4, 4))
    with pytest.raises(ValueError, match="factor must be >= 1"):
        bed_of_nails_unpool(np.ones((2, 2)), 0)
