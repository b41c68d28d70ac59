"""Instance ids past a 16-bit PNG's 65535 (a whole slide of nuclei) are written as a 32-bit TIFF, not refused
after the prediction: :func:`unetkit.inference.writers.instances_suffix` picks the file; predict uses it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from unetkit.inference.writers import instances_suffix, save_instances, save_instances_png


def _labels(top: int) -> np.ndarray:
    labels = np.zeros((4, 5), dtype=np.int32)
    labels[0, :3] = [1, 2, top]
    return labels


def test_the_suffix_is_png_up_to_65535_ids_and_tif_past_them() -> None:
    assert instances_suffix(_labels(65535)) == ".png"
    assert instances_suffix(_labels(65536)) == ".tif"
    assert instances_suffix(np.zeros((0, 0), dtype=np.int32)) == ".png"


def test_a_tif_holds_ids_past_65535_exactly(tmp_path: Path) -> None:
    labels = _labels(70_000)
    written = save_instances(tmp_path / "slide.tif", labels)
    back = tifffile.imread(written)
    assert back.dtype == np.uint32
    np.testing.assert_array_equal(back, labels)


def test_a_png_holds_16_bit_ids_and_refuses_more_naming_the_tif(tmp_path: Path) -> None:
    labels = _labels(65535)
    with Image.open(save_instances(tmp_path / "a.png", labels)) as img:
        np.testing.assert_array_equal(np.asarray(img), labels)
    with pytest.raises(ValueError, match=r"got max 65536; write them as a 32-bit TIFF"):
        save_instances_png(tmp_path / "b.png", _labels(65536))
    assert not (tmp_path / "b.png").exists()


def test_other_suffixes_and_negative_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.png or \.tif, got .*x\.jpg"):
        save_instances(tmp_path / "x.jpg", _labels(3))
    with pytest.raises(ValueError, match="non-negative, got min -1"):
        save_instances(tmp_path / "x.tif", _labels(-1))
