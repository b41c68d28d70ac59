"""SegNet: decoder unpools with the encoder's max-pooling indices."""

from __future__ import annotations

import pytest
import torch

from unetkit.models import SegNet


def test_unpool_puts_values_back_at_encoder_argmax() -> None:
    model = SegNet(in_channels=1, num_classes=2, channels=(4, 6), convs_per_stage=(1, 1)).eval()
    captured: dict[str, torch.Tensor] = {}
    model.encoder[1].register_forward_hook(
        lambda _m, _i, out: captured.update(pooled=out[0], indices=out[1], size=torch.tensor(out[2]))
    )
    model.decoder[0].unpool.register_forward_hook(lambda _m, _i, out: captured.update(unpooled=out))
    with torch.no_grad():
        model(torch.randn(2, 1, 38, 46))
    pooled, indices, unpooled = captured["pooled"], captured["indices"], captured["unpooled"]
    assert unpooled.shape[-2:] == tuple(captured["size"].tolist()) == (19, 23)  # odd pre-pool size restored
    flat = unpooled.flatten(2)
    # Each pooled value sits exactly at its argmax index...
    torch.testing.assert_close(flat.gather(2, indices.flatten(2)), pooled.flatten(2), rtol=0, atol=0)
    # ...and everything else is zero.
    flat = flat.clone()
    flat.scatter_(2, indices.flatten(2), 0.0)
    assert flat.abs().sum() == 0


@pytest.mark.parametrize("size", [(37, 45), (32, 32), (9, 11)])
def test_odd_sizes(size: tuple[int, int]) -> None:
    model = SegNet(3, 5, channels=(4, 8, 8), convs_per_stage=(1, 1, 1)).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, *size)).shape == (1, 5, *size)


def test_decoder_mirrors_encoder_widths() -> None:
    model = SegNet(3, 5, channels=(4, 8, 16), convs_per_stage=(1, 2, 3))
    assert [len(stage.conv) for stage in model.decoder] == [3, 2, 1]
    assert [stage.conv[-1][0].out_channels for stage in model.decoder] == [8, 4, 4]


def test_vgg16_default_has_13_encoder_convs() -> None:
    with torch.device("meta"):
        model = SegNet(3, 5)
    assert sum(len(stage.conv) for stage in model.encoder) == 13


def test_mismatched_lengths() -> None:
    with pytest.raises(
        ValueError, match=r"channels and convs_per_stage need one entry per stage, got \[4, 8\]"
    ):
        SegNet(3, 2, channels=(4, 8), convs_per_stage=(1,))


def test_an_input_below_the_minimum_side_is_a_value_error_naming_both() -> None:
    model = SegNet(in_channels=1, num_classes=2).eval()  # 5 poolings: at least 32 px
    with torch.no_grad():
        for size in ((20, 40), (40, 31)):
            with pytest.raises(ValueError, match=rf"input side {min(size)} is smaller than the minimum 32"):
                model(torch.randn(1, 1, *size))
        assert model(torch.randn(1, 1, 32, 33)).shape == (1, 2, 32, 33)
