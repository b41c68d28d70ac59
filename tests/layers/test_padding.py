"""pad_to_multiple and crop_center."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from unetkit.layers import crop_center, pad_to_multiple


def test_pad_to_multiple_reflects_bottom_right() -> None:
    x = torch.arange(2 * 5 * 6, dtype=torch.float32).view(1, 2, 5, 6)
    padded = pad_to_multiple(x, 4)
    assert padded.shape == (1, 2, 8, 8)
    assert torch.equal(padded, F.pad(x, (0, 2, 0, 3), mode="reflect"))
    assert torch.equal(padded[..., :5, :6], x)


def test_pad_to_multiple_falls_back_to_replicate_when_too_small() -> None:
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    padded = pad_to_multiple(x, 8)  # a pad of 6 > size 2 cannot reflect
    assert padded.shape == (1, 1, 8, 8)
    assert padded[0, 0, 7, 7] == 4.0 and padded[0, 0, 0, 7] == 2.0 and padded[0, 0, 7, 0] == 3.0


def test_pad_to_multiple_no_op_returns_input() -> None:
    x = torch.randn(1, 1, 16, 8)
    assert pad_to_multiple(x, 8) is x


def test_pad_to_multiple_rejects_non_4d() -> None:
    with pytest.raises(ValueError, match=r"expects an \(N, C, H, W\) tensor, got shape \(5, 6\)"):
        pad_to_multiple(torch.zeros(5, 6), 4)


def test_crop_center() -> None:
    x = torch.arange(36.0).view(1, 1, 6, 6)
    assert torch.equal(crop_center(x, (2, 2)), torch.tensor([[[[14.0, 15.0], [20.0, 21.0]]]]))
    assert torch.equal(
        crop_center(x, (5, 6)), x[..., :5, :]
    )  # odd difference: extra row dropped at the bottom
    with pytest.raises(ValueError, match=r"crop size \(7, 6\) is larger than the input size \(6, 6\)"):
        crop_center(x, (7, 6))
