"""Tests for unetkit.data.transforms: no label interpolation, alignment, padding, determinism, elastic."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from unetkit.constants import IGNORE_INDEX
from unetkit.data.transforms import build_transforms, elastic_deform, pad_to_size, random_displacement_field


def _encoded(h: int = 40, w: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mask of blocky classes 0..4 and an image whose pixel value encodes the class (40 * class + 20)."""
    rng = np.random.default_rng(seed)
    mask = np.kron(rng.integers(0, 5, (h // 8, w // 8)), np.ones((8, 8), dtype=np.int64)).astype(np.int64)
    image = (mask * 40 + 20).astype(np.uint8)[..., None]
    return image, mask


@pytest.mark.parametrize(
    "kwargs",
    [
        {"crop_size": 24, "scale": None, "color": False},
        {"crop_size": (64, 48), "scale": None, "color": False},  # larger than the image: padding
        {"crop_size": 32, "scale": (0.5, 1.5), "color": False},
        {"crop_size": 32, "scale": None, "color": False, "elastic": True},
        {"crop_size": None, "scale": None, "color": False, "elastic": True},
    ],
)
def test_labels_never_interpolated_and_aligned(kwargs: dict) -> None:
    image, mask = _encoded()
    t = build_transforms(True, seed=0, **kwargs)
    for _ in range(8):
        img, m, _ = t(image, mask)
        assert m.dtype == np.int64 and img.dtype == np.uint8 and img.shape[:2] == m.shape
        assert set(np.unique(m)) <= {0, 1, 2, 3, 4, IGNORE_INDEX}
        labelled = m != IGNORE_INDEX
        if kwargs.get("elastic") or kwargs.get("scale"):
            # Interpolated images blur across class edges; away from edges the encoding must still hold.
            decoded = np.rint((img[..., 0].astype(float) - 20) / 40)
            flat = ndimage.maximum_filter(m, 3) == ndimage.minimum_filter(m, 3)
            inner = labelled & flat
            assert inner.sum() > 100
            assert (decoded == m)[inner].mean() > 0.97
        else:
            np.testing.assert_array_equal(img[..., 0][labelled], (m * 40 + 20)[labelled])


def test_crop_larger_than_image_pads_reflect_and_ignore() -> None:
    image = np.arange(4 * 6, dtype=np.uint8).reshape(4, 6, 1)
    mask = np.ones((4, 6), dtype=np.int64)
    weight = np.full((4, 6), 2.0, dtype=np.float32)
    img, m, w = pad_to_size(image, mask, weight, (8, 6))
    assert img.shape == (8, 6, 1)
    np.testing.assert_array_equal(img[:2, :, 0], image[2:0:-1, :, 0])  # numpy "reflect" = mirror w/o edge
    assert np.all(m[:2] == IGNORE_INDEX) and np.all(m[2:6] == 1) and np.all(m[6:] == IGNORE_INDEX)
    assert np.all(w[:2] == 0) and np.all(w[2:6] == 2)
    t = build_transforms(True, (12, 12), flips=False, rot90=False, scale=None, color=False, seed=0)
    img, m, _ = t(image, mask)
    assert img.shape == (12, 12, 1) and (m == IGNORE_INDEX).sum() == 144 - 24 and (m == 1).sum() == 24


def test_weight_map_transformed_with_mask() -> None:
    image, mask = _encoded()
    weight = (mask * 1.5 + 0.25).astype(np.float32)
    t = build_transforms(True, 32, scale=(0.7, 1.3), elastic=True, seed=1)
    for _ in range(5):
        _, m, w = t(image, mask, weight)
        assert w is not None and w.dtype == np.float32
        labelled = m != IGNORE_INDEX
        np.testing.assert_allclose(w[labelled], m[labelled] * 1.5 + 0.25)  # nearest: exact values
        assert np.all(w[~labelled] == 0)


def test_deterministic_with_seed() -> None:
    image, mask = _encoded()
    outs = []
    for seed in (5, 5, 6):
        t = build_transforms(True, 24, elastic=True, seed=seed)
        outs.append([t(image, mask)[0] for _ in range(3)])
    assert all(np.array_equal(a, b) for a, b in zip(outs[0], outs[1]))
    assert not all(np.array_equal(a, b) for a, b in zip(outs[0], outs[2]))
    t = build_transforms(True, 24, elastic=True, seed=5)
    first = t(image, mask)[0]
    t.reseed(5)
    np.testing.assert_array_equal(t(image, mask)[0], first)


def test_eval_is_identity() -> None:
    image, mask = _encoded(40, 32)
    img, m, w = build_transforms(False, crop_size=16)(image, mask)
    assert img is image and np.array_equal(m, mask) and w is None


@pytest.mark.parametrize("vertical", [True, False])
def test_vertical_flips_only_when_asked(vertical: bool) -> None:
    # A scene with an up: the top rows are "sky" (1), the bottom rows "road" (2); a stripe on the left adds
    # 2 to both, so that mirror flips show too.
    mask = np.zeros((16, 12), np.int64)
    mask[:8], mask[8:] = 1, 2
    mask[:, :3] += 2
    image = (mask * 40).astype(np.uint8)[..., None]
    t = build_transforms(True, None, rot90=False, scale=None, color=False, seed=0, vertical_flips=vertical)
    outs = [t(image, mask)[1] for _ in range(40)]
    assert any(set(np.unique(m[:, :3])) == {1, 2} for m in outs)  # mirror flips happen either way
    sky_on_top = [set(np.unique(m[:8])) == {1, 3} for m in outs]
    assert all(sky_on_top) is (not vertical)


def test_rot90_keeps_shape_of_non_square_images() -> None:
    image, mask = _encoded(40, 32)
    t = build_transforms(True, None, scale=None, color=False, seed=0)
    shapes = {t(image, mask)[1].shape for _ in range(20)}
    assert shapes == {(40, 32)}
    square = build_transforms(True, 24, scale=None, color=False, seed=0)
    img, m = _encoded(40, 40)
    rotated = [square(img, m)[1] for _ in range(30)]
    assert len({r.tobytes() for r in rotated}) > 4


def test_elastic_field_statistics() -> None:
    rng = np.random.default_rng(0)
    corners = []
    for _ in range(400):
        dy, dx = random_displacement_field((33, 33), rng, grid_size=3, sigma=10.0)
        # The spline interpolates: grid points (corners, edge centres, centre) carry the N(0, 10^2) draws.
        corners.extend([dy[0, 0], dx[16, 16], dy[32, 16], dx[0, 32]])
        assert np.abs(np.diff(dy, axis=0)).max() < 10  # smooth: no per-pixel noise
    corners_arr = np.array(corners)
    assert abs(corners_arr.std() - 10.0) < 0.6 and abs(corners_arr.mean()) < 0.8


def test_elastic_zero_sigma_is_identity() -> None:
    image, mask = _encoded()
    img, m, _ = elastic_deform(image, mask, None, np.random.default_rng(0), sigma=0.0)
    np.testing.assert_array_equal(img, image)
    np.testing.assert_array_equal(m, mask)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="crop_size"):
        build_transforms(True, (0, 4))
    with pytest.raises(ValueError, match="scale"):
        build_transforms(True, 8, scale=(1.2, 0.8))
    t = build_transforms(True, 8)
    with pytest.raises(ValueError, match="same height and width"):
        t(np.zeros((8, 8, 1), np.uint8), np.zeros((8, 9), np.int64))


def test_separable_field_equals_2d_spline() -> None:
    """The separable field equals direct 2-D cubic-spline interpolation of the same coarse grid."""
    from scipy import ndimage

    for shape, grid in [((33, 47), 3), ((20, 16), 4)]:
        dy, dx = random_displacement_field(shape, np.random.default_rng(3), grid_size=grid, sigma=10.0)
        coarse = np.random.default_rng(3).normal(0.0, 10.0, size=(2, grid, grid))
        rr, cc = np.meshgrid(
            np.linspace(0, grid - 1, shape[0]), np.linspace(0, grid - 1, shape[1]), indexing="ij"
        )
        for got, c in zip((dy, dx), coarse, strict=True):
            want = ndimage.map_coordinates(c, [rr, cc], order=3, mode="nearest")
            np.testing.assert_allclose(got, want, atol=1e-9)


def test_elastic_moves_image_mask_and_weight_together() -> None:
    """One field for all: a mask/weight equal to a thresholded image stays (almost) equal after warping."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    blobs = ((np.sin(yy / 5.0) * np.cos(xx / 7.0)) > 0.2).astype(np.uint8)
    image = np.repeat((blobs * 200 + 20)[..., None], 6, axis=2).astype(np.uint8)  # 6 channels: > cv2's 4
    mask = blobs.astype(np.int64)
    img, m, w = elastic_deform(image, mask, blobs.astype(np.float32), rng, sigma=10.0)
    assert img.shape == image.shape and m.dtype == np.int64 and w is not None
    assert not np.array_equal(m, mask)  # it did deform
    np.testing.assert_array_equal(img[..., 0], img[..., 5])  # every channel group warped the same
    np.testing.assert_array_equal(m, w.astype(np.int64))  # mask and weight: same nearest sampling
    agree = ((img[..., 0] > 120) == (m == 1)).mean()
    assert agree > 0.97, agree  # bicubic image vs nearest mask differ only on a few edge pixels


def _sparse() -> tuple[np.ndarray, np.ndarray]:
    """400x400: a large class-1 square and one 4x4 speck of class 2 in a corner; some void."""
    image = np.random.default_rng(0).integers(0, 255, (400, 400, 1), dtype=np.uint8)
    mask = np.zeros((400, 400), np.int64)
    mask[200:300, 200:300] = 1
    mask[10:14, 380:384] = 2
    mask[390:, :] = IGNORE_INDEX
    return image, mask


@pytest.mark.parametrize("num_classes", [None, 3])
@pytest.mark.parametrize(("share", "lo", "hi"), [(0.0, 0.0, 0.03), (1 / 3, 0.25, 0.42), (1.0, 1.0, 1.0)])
def test_foreground_crops_hold_the_rare_class_in_their_share(
    share: float, lo: float, hi: float, num_classes: int | None
) -> None:
    image, mask = _sparse()
    t = build_transforms(True, 64, seed=0, num_classes=num_classes, flips=False, rot90=False, color=False,
                         scale=None, foreground_crops=share, foreground_classes=(2,))  # fmt: skip
    hits = np.mean([(t(image, mask)[1] == 2).any() for _ in range(300)])
    assert lo <= hits <= hi  # uniform crops hit the speck about 1% of the time
    # Void (IGNORE_INDEX) is not a class to crop around.
    void_only = np.full((400, 400), IGNORE_INDEX, np.int64)
    void_only[:100] = 0
    assert t(image, void_only)[1].shape == (64, 64)


def test_foreground_crops_reproducible_and_checked() -> None:
    image, mask = _sparse()
    runs = []
    for _ in range(2):
        t = build_transforms(True, 64, seed=3, foreground_crops=0.5)
        runs.append([t(image, mask)[1] for _ in range(10)])
    assert all(np.array_equal(a, b) for a, b in zip(*runs))
    with pytest.raises(ValueError, match="foreground_crops must lie in"):
        build_transforms(True, 64, foreground_crops=1.5)
    with pytest.raises(ValueError, match="foreground_classes must list class indices"):
        build_transforms(True, 64, foreground_crops=0.3, foreground_classes=(0,))
