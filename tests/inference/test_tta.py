"""Test-time augmentation: group structure, probability averaging, equivariance through the predictor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from unetkit.inference.predictor import Predictor
from unetkit.inference.tta import DIHEDRAL, FLIPS, TRANSFORMS, resolve_tta, softmax_, tta_probs
from unetkit.model_files.model_config import ModelConfig
from unetkit.models import create_model


def make_config(in_channels: int = 1, num_classes: int = 3) -> ModelConfig:
    return ModelConfig(
        architecture="unet",
        model_kwargs={"in_channels": in_channels, "num_classes": num_classes},
        class_names=[f"c{i}" for i in range(num_classes)],
        mean=[0.5] * in_channels,
        std=[0.25] * in_channels,
    )


class PointwiseNet(nn.Module):
    """1x1 convolution: commutes with every flip and rotation, so TTA must not change its output."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.conv = nn.Conv2d(in_channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_each_inverse_undoes_its_transform_and_group_is_d4() -> None:
    x = np.arange(2 * 3 * 5).reshape(2, 3, 5)
    images = set()
    for name, (forward, inverse) in TRANSFORMS.items():
        np.testing.assert_array_equal(inverse(forward(x)), x, err_msg=name)
        images.add(forward(x[0]).tobytes() + bytes(forward(x[0]).shape))
    assert len(images) == 8  # eight distinct elements
    square = np.arange(16).reshape(4, 4)
    np.testing.assert_array_equal(TRANSFORMS["rot90"][0](square), np.rot90(square))
    np.testing.assert_array_equal(TRANSFORMS["antitranspose"][0](square), square[::-1, ::-1].T)


def test_resolve_tta_options() -> None:
    assert resolve_tta(False) == ()
    assert resolve_tta(True) == DIHEDRAL and len(DIHEDRAL) == 8
    assert resolve_tta("flips") == FLIPS
    assert resolve_tta("identity,hflip") == ("identity", "hflip")
    with pytest.raises(ValueError, match="unknown TTA transform 'rot45'"):
        resolve_tta(["identity", "rot45"])


def test_softmax_and_sigmoid_in_place() -> None:
    logits = np.array([[[0.0]], [[np.log(3.0)]]], dtype=np.float32)
    np.testing.assert_allclose(softmax_(logits)[:, 0, 0], [0.25, 0.75], rtol=1e-6)
    single = np.array([[[0.0, np.log(3.0)]]], dtype=np.float32)
    np.testing.assert_allclose(softmax_(single)[0, 0], [0.5, 0.75], rtol=1e-6)


def test_tta_averages_probabilities_not_logits() -> None:
    # Logits depend on orientation: identity view gives [4, 0], hflip view gives [0, 0] at every pixel.
    def logits_fn(x: np.ndarray) -> np.ndarray:
        value = 4.0 if x[0, 0, 0] == 0 else 0.0
        out = np.zeros((2, *x.shape[1:]), dtype=np.float32)
        out[0] = value
        return out

    image = np.zeros((1, 1, 2), dtype=np.float32)
    image[0, 0, 1] = 1.0  # hflip moves the 1 to the first pixel
    probs = tta_probs(image, logits_fn, ["identity", "hflip"])
    p4 = 1.0 / (1.0 + np.exp(-4.0))
    np.testing.assert_allclose(probs[0, 0], (p4 + 0.5) / 2, rtol=1e-6)  # mean of softmaxes, not of logits


def test_tta_probs_takes_a_setting_string_like_resolve_tta() -> None:
    # An orientation-dependent model: each view gives other probabilities, so a wrong set would show.
    def logits_fn(x: np.ndarray) -> np.ndarray:
        return np.stack([x[0], -x[0]]).astype(np.float32)

    image = np.arange(12, dtype=np.float32).reshape(1, 3, 4) / 12.0
    np.testing.assert_array_equal(tta_probs(image, logits_fn, "flips"), tta_probs(image, logits_fn, FLIPS))
    np.testing.assert_array_equal(
        tta_probs(image, logits_fn, "hflip"), tta_probs(image, logits_fn, ["hflip"])
    )
    np.testing.assert_array_equal(
        tta_probs(image, logits_fn, "hflip,vflip"), tta_probs(image, logits_fn, ["hflip", "vflip"])
    )
    # "none" (resolve_tta's no TTA) is the plain prediction's probabilities.
    plain = softmax_(logits_fn(image))
    np.testing.assert_array_equal(tta_probs(image, logits_fn, "none"), plain)
    np.testing.assert_array_equal(tta_probs(image, logits_fn, "off"), plain)


def test_tta_leaves_an_equivariant_model_unchanged() -> None:
    torch.manual_seed(0)
    model = PointwiseNet(1, 3)
    image = np.random.default_rng(0).integers(0, 256, (21, 34, 1), dtype=np.uint8)
    plain = Predictor(model, make_config(), tile_size=16).predict_probs(image)
    with_tta = Predictor(model, make_config(), tile_size=16, tta=True).predict_probs(image)
    np.testing.assert_allclose(with_tta, plain, atol=1e-6)


@pytest.mark.parametrize("transform", ["rot90", "transpose", "hflip"])
def test_tta_of_transformed_image_is_transformed_tta(transform: str) -> None:
    """Full D4 TTA is exactly equivariant, also with tiling and padding inside (non-square image)."""
    torch.manual_seed(0)
    model = create_model("unet", in_channels=1, num_classes=2, depth=2, base_channels=4).eval()
    predictor = Predictor(model, make_config(num_classes=2), tile_size=24, overlap=0.25, tta=True)
    image = np.random.default_rng(1).integers(0, 256, (30, 44, 1), dtype=np.uint8)
    forward = TRANSFORMS[transform][0]
    expected = forward(predictor.predict_probs(image))
    got = predictor.predict_probs(np.ascontiguousarray(forward(image[..., 0]))[..., None])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # Without TTA the same model is *not* equivariant: the check above is not vacuous.
    plain = Predictor(model, make_config(num_classes=2), tile_size=24, overlap=0.25)
    diff = np.abs(
        plain.predict_probs(np.ascontiguousarray(forward(image[..., 0]))[..., None])
        - forward(plain.predict_probs(image))
    )
    assert diff.max() > 1e-3


def test_tta_logits_are_log_of_mean_probs() -> None:
    torch.manual_seed(0)
    model = create_model("unet", in_channels=1, num_classes=3, depth=2, base_channels=4).eval()
    predictor = Predictor(model, make_config(), tta="flips")
    image = np.random.default_rng(2).integers(0, 256, (16, 20, 1), dtype=np.uint8)
    probs = predictor.predict_probs(image)
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.exp(predictor.predict_logits(image)), probs, atol=1e-6)
