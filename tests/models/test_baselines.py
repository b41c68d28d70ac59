"""The lecture's ladder of baselines: pixel_classifier, wide_cnn, fcn_reshape, encoder_decoder."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from unetkit.models import EncoderDecoder, FCNReshape, PixelClassifier, WideCNN


def _changed_pixels(model: nn.Module, size: int, at: tuple[int, int]) -> torch.Tensor:
    """Boolean (H, W) map of output pixels that change when one input pixel changes."""
    model.eval()
    x = torch.randn(1, model.in_channels, size, size)
    y = x.clone()
    y[..., at[0], at[1]] += 5.0
    with torch.no_grad():
        return (model(x) - model(y)).abs().amax(dim=(0, 1)) > 1e-6


def test_pixel_classifier_sees_only_its_own_pixel() -> None:
    model = PixelClassifier(3, 4, hidden_channels=8, num_layers=3)
    assert all(m.kernel_size == (1, 1) for m in model.modules() if isinstance(m, nn.Conv2d))
    changed = _changed_pixels(model, 9, (4, 5))
    assert changed.nonzero().tolist() == [[4, 5]]


def test_wide_cnn_receptive_field_without_downsampling() -> None:
    model = WideCNN(1, 2, channels=(4, 4), kernel_sizes=(7, 5))
    assert all(m.stride == (1, 1) for m in model.modules() if isinstance(m, nn.Conv2d))
    changed = _changed_pixels(model, 21, (10, 10))
    rows, cols = changed.nonzero().T
    # Receptive radius (7 - 1) / 2 + (5 - 1) / 2 = 5 around the changed pixel.
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (5, 15, 5, 15)


def test_wide_cnn_rejects_even_kernels() -> None:
    with pytest.raises(ValueError, match=r"kernel_sizes must be odd.*got \[7, 4\]"):
        WideCNN(1, 2, channels=(4, 4), kernel_sizes=(7, 4))


def test_fcn_reshape_fixed_size_and_dense_head() -> None:
    model = FCNReshape(3, 2, input_size=(32, 48), channels=(4, 8), hidden_features=16).eval()
    assert model.fixed_input_size == (32, 48)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    # Flatten 8 channels x (32/4) x (48/4), then 16 -> 2 x 32 x 48 logits.
    assert [(m.in_features, m.out_features) for m in linears] == [(8 * 8 * 12, 16), (16, 2 * 32 * 48)]
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 48)).shape == (2, 2, 32, 48)


def test_fcn_reshape_wrong_size_names_expected_size() -> None:
    model = FCNReshape(3, 2, input_size=32, channels=(4, 8), hidden_features=16)
    with pytest.raises(ValueError, match=r"built for input size \(32, 32\), got \(32, 33\)"):
        model(torch.randn(1, 3, 32, 33))


@pytest.mark.parametrize(
    ("input_size", "match"),
    [(2, r"input_size \(2, 2\) is too small for 2 poolings"), ((32, 32, 3), "an int or an \\(H, W\\) pair")],
)
def test_fcn_reshape_bad_input_size(input_size: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FCNReshape(3, 2, input_size=input_size, channels=(4, 8))  # type: ignore[arg-type]


def test_encoder_decoder_has_no_skips() -> None:
    model = EncoderDecoder(1, 2, base_channels=4, depth=2)
    assert not any(up.use_skip for up in model.ups)
    assert [up.conv[0][0].in_channels for up in model.ups] == [8, 4]
    assert all(up.up[0].mode == "bilinear" for up in model.ups)
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 1, 37, 45)).shape == (1, 2, 37, 45)
