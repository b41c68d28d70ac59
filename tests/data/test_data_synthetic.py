"""Tests for unetkit.data.synthetic: determinism, layout, touching objects, learnable intensity cues."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from unetkit.data.synthetic import make_synthetic_dataset


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("syn"), num_images=12, size=(64, 64), seed=0)


def test_deterministic_bytes(synth: Path, tmp_path: Path) -> None:
    again = make_synthetic_dataset(tmp_path / "again", num_images=12, size=(64, 64), seed=0)
    assert _digest(synth) == _digest(again)
    other = make_synthetic_dataset(tmp_path / "other", num_images=12, size=(64, 64), seed=1)
    assert _digest(other)["images/000.png"] != _digest(synth)["images/000.png"]


def test_layout_and_splits(synth: Path) -> None:
    split = {s: (synth / f"{s}.txt").read_text().split() for s in ("train", "val", "test")}
    assert [len(v) for v in split.values()] == [8, 2, 2]
    assert sorted([s for v in split.values() for s in v]) == [f"{i:03d}" for i in range(12)]
    inst = Image.open(synth / "instances" / "000.png")
    assert inst.mode.startswith("I;16")
    assert Image.open(synth / "images" / "000.png").mode == "L"


def test_masks_instances_consistent_and_touching(synth: Path) -> None:
    touching = 0
    for i in range(12):
        mask = np.asarray(Image.open(synth / "masks" / f"{i:03d}.png"))
        inst = np.asarray(Image.open(synth / "instances" / f"{i:03d}.png")).astype(np.int64)
        assert set(np.unique(mask)) <= {0, 1, 2}
        np.testing.assert_array_equal(mask > 0, inst > 0)
        for k in np.unique(inst[inst > 0]):
            assert len(np.unique(mask[inst == k])) == 1  # one class per instance
        # Touching objects: after closing the 2-px gaps, one foreground component holds >1 object.
        closed, n = ndimage.label(ndimage.binary_closing(inst > 0, iterations=2))
        touching += sum(len(np.unique(inst[(closed == c) & (inst > 0)])) > 1 for c in range(1, n + 1))
    assert touching >= 12


def test_classes_separable_by_intensity(synth: Path) -> None:
    pix = {c: [] for c in range(3)}
    for i in range(12):
        img = ndimage.uniform_filter(
            np.asarray(Image.open(synth / "images" / f"{i:03d}.png"), dtype=float), 3
        )
        mask = np.asarray(Image.open(synth / "masks" / f"{i:03d}.png"))
        inner = ndimage.binary_erosion(mask > 0, iterations=2) | ndimage.binary_erosion(
            mask == 0, iterations=2
        )
        for c in range(3):
            pix[c].append(img[(mask == c) & inner])
    means = {c: np.concatenate(v).mean() for c, v in pix.items()}
    stds = {c: np.concatenate(v).std() for c, v in pix.items()}
    assert means[0] + 3 * stds[0] < means[2] and means[2] + 2 * stds[2] < means[1]


def test_rgb_and_more_classes(tmp_path: Path) -> None:
    root = make_synthetic_dataset(tmp_path, num_images=3, size=(48, 40), num_classes=5, channels=3, seed=2)
    img = Image.open(root / "images" / "000.png")
    assert img.mode == "RGB" and img.size == (40, 48)
    values = set()
    for i in range(3):
        values |= set(np.unique(np.asarray(Image.open(root / "masks" / f"{i:03d}.png"))).tolist())
    assert values <= set(range(5)) and len(values) >= 4
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        make_synthetic_dataset(tmp_path / "x", channels=2)
