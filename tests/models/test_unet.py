"""UNet: lecture parameter counts, options, and arbitrary input sizes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from unetkit.models import UNet, create_model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def tiny_unet(**kwargs: object) -> UNet:
    return UNet(in_channels=1, num_classes=2, base_channels=4, depth=2, **kwargs)


def test_ai_vietnam_lecture_parameter_count() -> None:
    with torch.device("meta"):
        model = create_model("unet", in_channels=1, num_classes=2, upsample="transpose4")
    assert count_parameters(model) == 39_392_386


def test_vanderbilt_lecture_parameter_count() -> None:
    with torch.device("meta"):
        model = create_model("unet", in_channels=1, num_classes=2, norm="none", upsample="transpose")
    assert count_parameters(model) == 31_030_658


@pytest.mark.parametrize("size", [(37, 53), (3, 5), (16, 16), (1, 1)])
def test_any_input_size_returns_that_size(size: tuple[int, int]) -> None:
    model = tiny_unet().eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, *size)).shape == (1, 2, *size)


def test_non_multiple_input_is_reflect_padded_then_cropped() -> None:
    model = tiny_unet().eval()
    x = torch.randn(1, 1, 37, 53)
    padded = F.pad(x, (0, 3, 0, 3), mode="reflect")  # up to 40 x 56, multiples of 2**2
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.encode_decode(padded)[..., :37, :53])


def test_multiple_input_is_not_padded() -> None:
    model = tiny_unet().eval()
    x = torch.randn(1, 1, 16, 24)
    with torch.no_grad():
        assert torch.equal(model(x), model.encode_decode(x))


@pytest.mark.parametrize(
    ("norm", "norm_type", "has_bias"),
    [
        ("batch", nn.BatchNorm2d, False),
        ("instance", nn.InstanceNorm2d, False),
        ("group", nn.GroupNorm, False),
        ("none", None, True),
    ],
)
def test_norm_option(norm: str, norm_type: type | None, has_bias: bool) -> None:
    model = tiny_unet(norm=norm).eval()
    norms = [m for m in model.modules() if isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm))]
    # 2 norms per DoubleConv: stem + depth downs + depth ups.
    assert len(norms) == (0 if norm_type is None else 2 * (1 + 2 * 2))
    assert all(type(m) is norm_type for m in norms)
    convs3 = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert all((m.bias is not None) == has_bias for m in convs3)
    with torch.no_grad():
        assert model(torch.randn(2, 1, 20, 20)).shape == (2, 2, 20, 20)


def test_conv_bias_can_be_forced() -> None:
    model = tiny_unet(norm="batch", conv_bias=True)
    assert model.stem[0][0].bias is not None


@pytest.mark.parametrize(
    ("upsample", "kernel"),
    [("transpose", (2, 2)), ("transpose4", (4, 4)), ("bilinear", "bilinear"), ("nearest", "nearest")],
)
def test_upsample_option(upsample: str, kernel: object) -> None:
    model = tiny_unet(upsample=upsample).eval()
    up = model.ups[0].up
    if isinstance(kernel, tuple):
        assert isinstance(up, nn.ConvTranspose2d) and up.kernel_size == kernel and up.stride == (2, 2)
    else:
        assert up[0].mode == kernel and isinstance(up[1], nn.Conv2d)
    assert up(torch.randn(1, 16, 5, 7)).shape == (1, 8, 10, 14)  # doubles H, W; halves 16 -> 8 channels
    with torch.no_grad():
        assert model(torch.randn(1, 1, 24, 20)).shape == (1, 2, 24, 20)


def test_skip_off_has_no_concatenation() -> None:
    with_skip, without = tiny_unet(), tiny_unet(skip=False)
    # Decoder DoubleConv input: upsampled (c_l) + skip (c_l) with skips, upsampled only without.
    assert [up.conv[0][0].in_channels for up in with_skip.ups] == [16, 8]
    assert [up.conv[0][0].in_channels for up in without.ups] == [8, 4]
    with torch.no_grad():
        assert without.eval()(torch.randn(1, 1, 21, 19)).shape == (1, 2, 21, 19)


def test_dropout_on_in_train_mode_off_in_eval() -> None:
    model = tiny_unet(dropout=0.5)
    # After each of the 2 poolings and each of the 2 concatenations (Keras start_neurons U-Net).
    assert sum(isinstance(m, nn.Dropout) for m in model.modules()) == 4
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        model.train()
        assert not torch.equal(model(x), model(x))
        model.eval()
        assert torch.equal(model(x), model(x))


def test_no_dropout_layers_by_default() -> None:
    assert not any(isinstance(m, nn.Dropout) for m in tiny_unet().modules())


def test_explicit_channels() -> None:
    model = UNet(1, 3, depth=2, channels=(4, 6, 10))
    assert model.channels == (4, 6, 10)
    assert model.downs[1].conv[0][0].out_channels == 10
    assert model(torch.randn(1, 1, 12, 12)).shape == (1, 3, 12, 12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"norm": "batchnorm"}, r"Unknown norm 'batchnorm'. Did you mean 'batch'\? Available: batch, group"),
        ({"upsample": "deconv"}, r"Unknown upsample 'deconv'.*Available: bilinear, nearest, transpose"),
        ({"channels": (4, 8)}, r"channels must have depth \+ 1 = 3 entries, got 2.*pass depth=1"),
        ({"channels": (4, 8, 16), "base_channels": 4}, "either base_channels"),
        ({"dropout": 1.0}, r"dropout must be a float in \[0, 1\), got 1.0"),
        ({"depth": 0}, "depth must be a positive int, got 0"),
    ],
)
def test_bad_options(kwargs: dict[str, object], match: str) -> None:
    kwargs = {"depth": 2, **kwargs}
    if "channels" not in kwargs:
        kwargs.setdefault("base_channels", 4)
    with pytest.raises(ValueError, match=match):
        UNet(1, 2, **kwargs)  # type: ignore[arg-type]


def test_skip_must_be_bool() -> None:
    with pytest.raises(TypeError, match="skip must be True or False, got 'no'"):
        tiny_unet(skip="no")
