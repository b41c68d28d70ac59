"""ConvNormAct, DoubleConv, Down, UpCat, get_upsample_layer, SegmentationHead."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from unetkit.layers import ConvNormAct, DoubleConv, Down, SegmentationHead, UpCat, get_upsample_layer


def test_conv_norm_act_layout_and_default_bias() -> None:
    block = ConvNormAct(3, 8, norm="batch")
    assert [type(m) for m in block] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    assert block[0].bias is None  # redundant with the norm's shift
    assert ConvNormAct(3, 8, norm="none")[0].bias is not None
    assert len(ConvNormAct(3, 8, act=False)) == 2


@pytest.mark.parametrize(("padding", "size"), [("same", 11), (0, 7)])
def test_double_conv_padding(padding: int | str, size: int) -> None:
    block = DoubleConv(2, 4, padding=padding, norm="none")
    assert block(torch.randn(1, 2, 11, 11)).shape == (1, 4, size, size)


def test_conv_norm_act_rejects_bad_padding() -> None:
    with pytest.raises(ValueError, match="padding must be 'same' or an int >= 0, got 'valid'"):
        ConvNormAct(3, 8, padding="valid")


def test_down_halves_then_convolves() -> None:
    down = Down(4, 8, norm="none").eval()
    x = torch.randn(1, 4, 9, 10)
    out = down(x)
    assert out.shape == (1, 8, 4, 5)
    torch.testing.assert_close(out, down.conv(nn.functional.max_pool2d(x, 2)))


@pytest.mark.parametrize("mode", ["transpose", "transpose4", "bilinear", "nearest"])
def test_upsample_layer_doubles_size(mode: str) -> None:
    assert get_upsample_layer(mode, 6, 3)(torch.randn(2, 6, 5, 4)).shape == (2, 3, 10, 8)


def test_upcat_crops_skip_centre_and_concatenates() -> None:
    block = UpCat(8, 4, 4, upsample="transpose", padding=0, norm="none")
    x, skip = torch.randn(1, 8, 5, 5), torch.randn(1, 4, 14, 16)
    captured: dict[str, torch.Tensor] = {}
    block.conv.register_forward_pre_hook(lambda _m, args: captured.update(cat=args[0]))
    out = block(x, skip)
    assert out.shape == (1, 4, 6, 6)  # 10 x 10 after up-conv, minus 4 from two valid 3x3 convs
    cat = captured["cat"]
    assert cat.shape == (1, 8, 10, 10)
    assert torch.equal(cat[:, :4], skip[..., 2:12, 3:13])  # centred crop, skip channels first
    torch.testing.assert_close(cat[:, 4:], block.up(x))


def test_upcat_without_skip_and_missing_skip() -> None:
    no_skip = UpCat(8, 0, 4)
    assert no_skip(torch.randn(1, 8, 3, 3)).shape == (1, 4, 6, 6)
    with pytest.raises(ValueError, match="skip_channels > 0 but forward got skip=None"):
        UpCat(8, 4, 4)(torch.randn(1, 8, 3, 3))
    with pytest.raises(ValueError, match=r"skip_channels must be an int >= 0 \(0 = no skip\), got -1"):
        UpCat(8, -1, 4)


def test_segmentation_head() -> None:
    head = SegmentationHead(8, 3)
    assert head.kernel_size == (1, 1) and head.bias is not None
    assert head(torch.randn(2, 8, 5, 7)).shape == (2, 3, 5, 7)
