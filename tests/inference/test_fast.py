"""optimize_for_inference: BatchNorm folding, channels_last, compile; logits equal eager within 1e-4."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch import nn

from unetkit.inference.fast import (
    InferenceModel,
    count_batchnorm,
    fuse_conv_bn,
    optimize_for_inference,
    resolve_mode,
)
from unetkit.models import create_model


def _randomize_norms(model: nn.Module) -> nn.Module:
    """Non-trivial running statistics and affine parameters, so folding really changes the weights."""
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                if m.running_mean is not None:
                    m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.5)
                    m.running_var.copy_(torch.rand(m.num_features, generator=gen) * 2 + 0.2)
                if m.affine:
                    m.weight.copy_(torch.randn(m.num_features, generator=gen))
                    m.bias.copy_(torch.randn(m.num_features, generator=gen))
    return model.eval()


def _tiny_unet(**kwargs: object) -> nn.Module:
    model = create_model("unet", in_channels=1, num_classes=3, base_channels=4, depth=2, **kwargs)
    return _randomize_norms(model)


@pytest.mark.parametrize("mode", ["eager", "fused", "channels_last"])
@pytest.mark.parametrize("upsample", ["transpose", "bilinear"])
def test_fast_modes_match_eager_logits(mode: str, upsample: str) -> None:
    model = _tiny_unet(upsample=upsample)
    x = torch.randn(2, 1, 40, 24)
    with torch.no_grad():
        expected = model(x)
    fast = optimize_for_inference(model, mode=mode)
    got = fast(x)
    assert got.shape == expected.shape
    assert got.is_contiguous()  # NCHW logits even in channels_last mode
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_fused_model_has_no_batchnorm_and_original_is_untouched() -> None:
    model = _tiny_unet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    n_bn = count_batchnorm(model)
    assert n_bn == 2 * (1 + 2 + 2)  # DoubleConv in the stem, 2 downs and 2 ups
    fused = optimize_for_inference(model, mode="fused")
    assert count_batchnorm(fused) == 0
    assert count_batchnorm(model) == n_bn
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_channels_last_weights_are_nhwc() -> None:
    fast = optimize_for_inference(_tiny_unet(), mode="channels_last")
    conv = next(m for m in fast.modules() if isinstance(m, nn.Conv2d) and m.in_channels > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv.weight.is_contiguous()


def test_fold_matches_hand_computed_affine() -> None:
    conv = nn.Conv2d(1, 1, 1, bias=False)
    norm = nn.BatchNorm2d(1)
    with torch.no_grad():
        conv.weight.fill_(2.0)
        norm.running_mean.fill_(1.0)
        norm.running_var.fill_(4.0 - norm.eps)  # sqrt(var + eps) = 2
        norm.weight.fill_(3.0)
        norm.bias.fill_(0.5)
    fused = fuse_conv_bn(nn.Sequential(conv, norm))
    folded = fused[0]
    # y = 3 * (2x - 1) / 2 + 0.5 = 3x - 1
    assert isinstance(fused[1], nn.Identity)
    assert folded.weight.item() == pytest.approx(3.0)
    assert folded.bias.item() == pytest.approx(-1.0)


def test_conv_transpose_followed_by_batchnorm_is_folded() -> None:
    seq = _randomize_norms(nn.Sequential(nn.ConvTranspose2d(3, 5, 4, stride=2, padding=1), nn.BatchNorm2d(5)))
    x = torch.randn(1, 3, 6, 7)
    with torch.no_grad():
        expected = seq(x)
    fused = fuse_conv_bn(seq)
    assert count_batchnorm(fused) == 0
    with torch.no_grad():
        torch.testing.assert_close(fused(x), expected, atol=1e-5, rtol=0)


class _NotSequential(nn.Module):
    """BatchNorm registered after the conv but applied to another tensor: must NOT be folded."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.norm = nn.BatchNorm2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.norm(x)


def test_pairs_outside_sequential_and_unfoldable_norms_are_kept() -> None:
    no_stats = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2, track_running_stats=False))
    wrong_width = nn.Sequential(nn.Conv2d(2, 2, 1), nn.ReLU(), nn.BatchNorm2d(2))
    for module in (_NotSequential(), no_stats, wrong_width):
        module = _randomize_norms(module)
        x = torch.randn(2, 2, 5, 5)
        with torch.no_grad():
            expected = module(x)
        fused = fuse_conv_bn(module)
        assert count_batchnorm(fused) == 1
        with torch.no_grad():
            torch.testing.assert_close(fused(x), expected)


def test_geometry_is_kept_for_the_predictor() -> None:
    from unetkit.inference.predictor import geometry_from_model

    model = create_model("unet_original", in_channels=1, num_classes=2, base_channels=2, depth=2).eval()
    fast = optimize_for_inference(model, mode="fused")
    assert isinstance(fast, InferenceModel)
    assert fast.geometry() == model.geometry() == geometry_from_model(fast)
    assert fast.geometry().border > 0 and fast.num_classes == model.num_classes


def test_predictor_accepts_the_optimized_model() -> None:
    from unetkit.inference import Predictor
    from unetkit.model_files.model_config import ModelConfig

    model = _tiny_unet()
    config = ModelConfig(
        architecture="unet",
        model_kwargs={"in_channels": 1, "num_classes": 3},
        class_names=["a", "b", "c"],
        mean=[0.5],
        std=[0.25],
    )
    image = np.random.default_rng(0).integers(0, 256, size=(37, 29), dtype=np.uint8)
    ref = Predictor(model, config, tile_size=24, overlap=0.25).predict_logits(image)
    got = Predictor(
        optimize_for_inference(model, "channels_last"), config, tile_size=24, overlap=0.25
    ).predict_logits(image)
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)


def test_inference_model_refuses_training_and_bad_input() -> None:
    fast = optimize_for_inference(_tiny_unet(), mode="fused")
    with pytest.raises(ValueError, match="inference only"):
        fast.train()
    with pytest.raises(ValueError, match="channels_last"):
        optimize_for_inference(_tiny_unet(), mode="chanels_last")
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        optimize_for_inference("unet", mode="eager")  # type: ignore[arg-type]


def test_auto_mode_resolves_by_device() -> None:
    assert resolve_mode("auto", "cpu") == "channels_last"
    assert resolve_mode("Fused", "cpu") == "fused"


@pytest.mark.skipif(
    os.environ.get("UNETKIT_TEST_COMPILE") != "1",
    reason="torch.compile takes 1-2 min even for a tiny model; set UNETKIT_TEST_COMPILE=1",
)
def test_compile_with_freezing_matches_eager() -> None:
    model = _tiny_unet()
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        expected = model(x)
    fast = optimize_for_inference(model, mode="compile")
    torch.testing.assert_close(fast(x), expected, atol=1e-4, rtol=0)
    assert fast.mode == "compile"  # did not fall back
