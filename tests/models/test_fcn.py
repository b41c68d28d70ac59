"""FCN-32s/16s/8s: additive skip fusion, bilinear deconvolution, pluggable encoder."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from unetkit.models import FCN, create_model
from unetkit.models.fcn import bilinear_upsampling_weight

SMALL = {"encoder_channels": (4, 4, 8, 8, 8), "convs_per_stage": (1, 1, 1, 1, 1), "head_channels": 8}


@pytest.mark.parametrize(("name", "fusions"), [("fcn32s", 0), ("fcn16s", 1), ("fcn8s", 2)])
def test_variants_fuse_pool4_and_pool3(name: str, fusions: int) -> None:
    model = create_model(name, in_channels=3, num_classes=4, **SMALL)
    assert len(model.fusions) == fusions
    # pool4 (8 channels, stride 16) then pool3 (8 channels, stride 8) are scored by 1x1 convs.
    assert [f.score.in_channels for f in model.fusions] == [8, 8][:fusions]
    assert model.final_up.stride == ((32, 32), (16, 16), (8, 8))[fusions]


def test_fusion_is_elementwise_addition() -> None:
    # With fixed bilinear upsampling (weights summing to 1), adding a constant c to the pool4 score map adds
    # exactly c to every output logit: only an additive fusion behaves like that.
    model = create_model("fcn16s", in_channels=3, num_classes=4, upsample="bilinear", **SMALL).eval()
    x = torch.randn(1, 3, 40, 56)
    score = model.fusions[0].score
    with torch.no_grad():
        nn.init.normal_(score.weight)
        score.bias.zero_()
        base = model(x)
        score.bias.fill_(0.75)
        shifted = model(x)
    torch.testing.assert_close(shifted - base, torch.full_like(base, 0.75))


def test_fcn8s_differs_from_fcn32s_with_same_encoder_weights() -> None:
    fcn32 = create_model("fcn32s", in_channels=3, num_classes=4, **SMALL).eval()
    fcn8 = create_model("fcn8s", in_channels=3, num_classes=4, **SMALL).eval()
    shared = {k: v for k, v in fcn32.state_dict().items() if not k.startswith("final_up.")}
    missing, unexpected = fcn8.load_state_dict(shared, strict=False)
    assert not unexpected and all(k.startswith(("fusions.", "final_up.")) for k in missing)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for fusion in fcn8.fusions:
            nn.init.normal_(fusion.score.weight)
        assert not torch.allclose(fcn8(x), fcn32(x))
        assert torch.equal(fcn8.encoder(x)[-1], fcn32.encoder(x)[-1])


def test_score_maps_are_zero_initialised() -> None:
    model = create_model("fcn8s", in_channels=3, num_classes=4, **SMALL)
    assert all(f.score.weight.abs().sum() == 0 and f.score.bias.abs().sum() == 0 for f in model.fusions)


@pytest.mark.parametrize("factor", [2, 8])
def test_bilinear_deconvolution_matches_interpolate(factor: int) -> None:
    channels = 3
    deconv = nn.ConvTranspose2d(channels, channels, 2 * factor, factor, factor // 2, bias=False)
    with torch.no_grad():
        deconv.weight.copy_(bilinear_upsampling_weight(channels, 2 * factor))
        x = torch.randn(1, channels, 6, 7)
        up = deconv(x)
        reference = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert up.shape == reference.shape
    inner = slice(factor, -factor)  # the deconvolution zero-pads at the border where interpolate clamps
    torch.testing.assert_close(up[..., inner, inner], reference[..., inner, inner])


class _TinyEncoder(nn.Module):
    """Follows the Encoder interface: strided convs at strides 8, 16, 32."""

    in_channels = 2
    out_channels = (5, 6, 7)
    reductions = (8, 16, 32)

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(2, 5, 8, stride=8)
        self.mid = nn.Conv2d(5, 6, 2, stride=2)
        self.deep = nn.Conv2d(6, 7, 2, stride=2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x8 = self.stem(x)
        x16 = self.mid(x8)
        return [x8, x16, self.deep(x16)]


def test_pluggable_encoder() -> None:
    model = FCN(in_channels=2, num_classes=3, encoder=_TinyEncoder(), head_channels=4).eval()
    assert [f.score.in_channels for f in model.fusions] == [6, 5]
    with torch.no_grad():
        assert model(torch.randn(1, 2, 50, 70)).shape == (1, 3, 50, 70)


class _StrideEncoder(_TinyEncoder):
    in_channels = 3
    reductions = (4, 16, 32)


def test_encoder_errors() -> None:
    with pytest.raises(ValueError, match=r"needs encoder maps at strides \(32, 16, 8\).*lacks \[8\]"):
        FCN(3, 2, encoder=_StrideEncoder())
    with pytest.raises(TypeError, match="encoder must provide in_channels, out_channels and reductions"):
        FCN(3, 2, encoder=nn.Conv2d(3, 3, 1))
    with pytest.raises(ValueError, match=r"encoder.in_channels \(2\) != in_channels \(3\)"):
        FCN(3, 2, encoder=_TinyEncoder())
    with pytest.raises(ValueError, match="either encoder or encoder_channels"):
        FCN(2, 2, encoder=_TinyEncoder(), encoder_channels=(4, 4, 4, 4, 4))
    with pytest.raises(ValueError, match=r"Unknown FCN variant '4s'.*Available: 16s, 32s, 8s"):
        FCN(3, 2, variant="4s", **SMALL)
    with pytest.raises(ValueError, match=r"Unknown upsample 'nearest'.*Available: bilinear, transpose"):
        FCN(3, 2, upsample="nearest", **SMALL)


@pytest.mark.parametrize("name", ["fcn32s", "fcn16s", "fcn8s"])
def test_a_keyword_the_fcns_do_not_take_is_named_with_a_did_you_mean(name: str) -> None:
    # As for every other model (a U-Net plan's base_channels had given a bare FCN.__init__ TypeError).
    with pytest.raises(TypeError, match=rf"'base_channels'.*model '{name}'.*Did you mean 'head_channels'"):
        create_model(name, in_channels=1, num_classes=2, base_channels=8)
    with pytest.raises(TypeError, match="'variant'"):  # the builder fixes it
        create_model(name, in_channels=1, num_classes=2, variant="8s")
    assert create_model(name, in_channels=1, num_classes=2, dropout=0.0, **SMALL).variant == name[3:]
