"""Small dataset folders for the planning tests, written under pytest's tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image


def write(path: Path, array: np.ndarray) -> Path:
    """Save ``array`` with Pillow (format from the suffix); 16-bit gray arrays as 16-bit PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def binary_mask(i: int, size: int = 32) -> np.ndarray:
    """0/255 mask with an 8x8 square whose position depends on ``i``."""
    m = np.zeros((size, size), np.uint8)
    r = 4 + (i * 3) % (size - 12)
    m[r : r + 8, 4:12] = 255
    return m


def gray_image(i: int, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(i)
    return rng.integers(40, 200, (size, size), dtype=np.uint8)


MakeDataset = Callable[..., Path]


@pytest.fixture
def make_dataset(tmp_path: Path) -> MakeDataset:
    """``make_dataset(n=12, mask_dir="masks", suffix="", ext=".png", mask=binary_mask, image=gray_image)``."""

    def make(
        n: int = 12,
        *,
        root: Path | None = None,
        mask_dir: str = "masks",
        suffix: str = "",
        ext: str = ".png",
        mask: Callable[[int], np.ndarray] = binary_mask,
        image: Callable[[int], np.ndarray] = gray_image,
    ) -> Path:
        root = root or tmp_path / "data"
        for i in range(n):
            write(root / "images" / f"img{i:02d}.png", image(i))
            write(root / mask_dir / f"img{i:02d}{suffix}{ext}", mask(i))
        return root

    return make


@pytest.fixture
def px() -> SimpleNamespace:
    """The helpers of this module for tests: ``px.write``, ``px.binary_mask``, ``px.gray_image``."""
    return SimpleNamespace(write=write, binary_mask=binary_mask, gray_image=gray_image)


@pytest.fixture
def two_threads() -> Iterator[None]:
    """torch at 2 threads during the test, the caller's count after: the thread probe runs only where torch
    has more than one thread, and a count a plan left behind shows against 2."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)
