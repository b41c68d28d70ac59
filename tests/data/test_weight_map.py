"""U-Net paper weight map and its on-disk cache."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy import ndimage

from unetkit.data import weight_map as wm
from unetkit.data.weight_map import WeightMapCache, unet_weight_map


def _two_squares() -> np.ndarray:
    """40 x 52 semantic mask: squares at cols 10..24 and 27..41 (rows 10..29), a 2-px gap at cols 25, 26.

    Mirror-symmetric: fliplr maps col c to 51 - c, so 10 <-> 41, 24 <-> 27, 25 <-> 26.
    """
    mask = np.zeros((40, 52), dtype=np.int64)
    mask[10:30, 10:25] = 1
    mask[10:30, 27:42] = 1
    return mask


def _brute_force(instances: np.ndarray, w0: float, sigma: float) -> np.ndarray:
    """Border term with a full-image EDT per object and an exact sort (no truncation)."""
    ids = [i for i in np.unique(instances) if i != 0]
    dists = np.sort(np.stack([ndimage.distance_transform_edt(instances != i) for i in ids]), axis=0)
    border = w0 * np.exp(-((dists[0] + dists[1]) ** 2) / (2 * sigma**2))
    return np.where(instances == 0, border, 0.0)


def test_two_touching_squares_hand_checked() -> None:
    mask = _two_squares()
    w = unet_weight_map(mask, w0=10.0, sigma=5.0)
    assert w.dtype == np.float32 and w.shape == mask.shape
    # Balanced w_c: 2080 pixels, 600 foreground, 1480 background, K = 2 -> n / (K * n_k).
    w_bg, w_fg = 2080 / (2 * 1480), 2080 / (2 * 600)
    # Gap pixel (20, 25): d1 = 1 (to col 24), d2 = 2 (to col 27).
    assert w[20, 25] == pytest.approx(w_bg + 10 * math.exp(-(3**2) / (2 * 25)), rel=1e-6)
    assert w[20, 25] > w_bg + 8  # ~ w_c + w0
    # Far corner: d1 = sqrt(200), d2 = sqrt(10^2 + 27^2) -> border term ~ 1e-16.
    assert w[0, 0] == pytest.approx(w_bg, abs=1e-6)
    np.testing.assert_allclose(w[mask == 1], w_fg, rtol=1e-6)  # no border term inside objects
    np.testing.assert_array_equal(w, np.fliplr(w))


def test_matches_brute_force_on_random_instances() -> None:
    rng = np.random.default_rng(0)
    inst = np.zeros((96, 96), dtype=np.int64)
    for k in range(1, 15):
        y, x = rng.integers(0, 88, 2)
        inst[y : y + rng.integers(2, 9), x : x + rng.integers(2, 9)] = k
    w = unet_weight_map(inst, w0=10.0, sigma=5.0, class_weights=None, from_instances=True)
    expected = 1.0 + _brute_force(inst, 10.0, 5.0)
    np.testing.assert_allclose(w, expected, rtol=1e-6, atol=1e-6)


def test_instances_separate_touching_objects_that_semantic_mode_merges() -> None:
    inst = np.zeros((20, 30), dtype=np.int64)
    inst[5:15, 5:15] = 1
    inst[5:15, 15:25] = 2  # shares an edge with object 1
    semantic = (inst > 0).astype(np.int64)
    w_sem = unet_weight_map(semantic, class_weights=None)
    w_inst = unet_weight_map(inst, class_weights=None, from_instances=True)
    np.testing.assert_array_equal(w_sem, np.ones_like(w_sem))  # one component: no d2, no border term
    # Pixel (4, 14) above object 1's last column: d1 = 1 (to (5, 14)), d2 = sqrt(2) (to (5, 15)).
    assert w_inst[4, 14] == pytest.approx(1 + 10 * math.exp(-((1 + math.sqrt(2)) ** 2) / 50), rel=1e-6)


def test_ignore_pixels_get_zero_and_do_not_count_for_balance() -> None:
    mask = _two_squares()
    mask[0, :] = 255
    w = unet_weight_map(mask)
    assert (w[0] == 0).all()
    w_bg = (2080 - 52) / (2 * (1480 - 52))
    assert w[1, 0] == pytest.approx(w_bg, abs=1e-6)


def test_class_weight_options() -> None:
    mask = _two_squares()
    w = unet_weight_map(mask, class_weights={0: 1.0, 1: 3.0}, w0=0.0)
    assert set(np.unique(w).tolist()) == {1.0, 3.0}
    assert w[mask == 1].min() == 3.0
    with pytest.raises(ValueError, match=r"no entry for classes \[1\]"):
        unet_weight_map(mask, class_weights={0: 1.0})
    w_fg2 = unet_weight_map(mask * 2, class_weights=None, foreground_classes=[1], w0=10.0)
    np.testing.assert_array_equal(w_fg2, np.ones_like(w_fg2))  # no objects of class 1 -> no border


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"\(H, W\) integer array, got shape \(2, 2, 2\)"):
        unet_weight_map(np.zeros((2, 2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="sigma > 0"):
        unet_weight_map(np.zeros((4, 4), dtype=np.int64), sigma=0.0)


def test_512_with_100_objects_is_fast() -> None:
    inst = np.zeros((512, 512), dtype=np.int64)
    for k in range(100):
        y, x = divmod(k, 10)
        inst[y * 51 + 3 : y * 51 + 50, x * 51 + 3 : x * 51 + 50] = k + 1
    start = time.perf_counter()
    w = unet_weight_map(inst, from_instances=True)
    assert time.perf_counter() - start < 2.0
    assert w.max() > 5  # 4-px gaps between neighbours get a real border term


def test_cache_computes_once_and_keys_on_mask_and_params(tmp_path, monkeypatch) -> None:
    calls: list[int] = []
    original = wm.unet_weight_map

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    cache = WeightMapCache(tmp_path / "wm", w0=10.0, sigma=3.0)
    monkeypatch.setattr(wm, "unet_weight_map", counting)
    mask = _two_squares()
    first = cache.get("img/0 1", mask)
    second = cache.get("img/0 1", mask)
    assert len(calls) == 1
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, original(mask, w0=10.0, sigma=3.0))
    files = sorted(p.name for p in (tmp_path / "wm").iterdir())
    assert len(files) == 1 and files[0].startswith("img_0_1-") and files[0].endswith(".npy")
    changed = mask.copy()
    changed[0, 0] = 1
    assert cache.path_for("img/0 1", changed) != cache.path_for("img/0 1", mask)
    other = WeightMapCache(tmp_path / "wm", w0=10.0, sigma=5.0)
    assert other.path_for("img/0 1", mask) != cache.path_for("img/0 1", mask)


def test_cache_recovers_from_corrupt_file_and_rejects_bad_params(tmp_path) -> None:
    cache = WeightMapCache(tmp_path)
    mask = _two_squares()
    cache.path_for("a", mask).write_bytes(b"not an npy file")
    np.testing.assert_array_equal(cache.get("a", mask), unet_weight_map(mask))
    assert not list(tmp_path.glob("*.tmp"))
    with pytest.raises(TypeError, match="invalid unet_weight_map parameter"):
        WeightMapCache(tmp_path, sigmaa=3.0)
