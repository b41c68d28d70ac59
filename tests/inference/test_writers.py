"""Output files: palette masks keep class indices, atomic writes leave nothing half-written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unetkit.inference.writers import (
    atomic_write,
    class_fractions,
    save_instances_png,
    save_mask_png,
    save_probs,
    write_csv,
)
from unetkit.palette import class_palette


def test_mask_png_is_palette_with_class_values(tmp_path: Path) -> None:
    mask = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    path = save_mask_png(tmp_path / "m.png", mask, num_classes=3)
    with Image.open(path) as img:
        assert img.mode == "P"
        np.testing.assert_array_equal(np.asarray(img), mask)
        palette = np.asarray(img.getpalette()[:9], dtype=np.uint8).reshape(3, 3)
    np.testing.assert_array_equal(palette, class_palette(3))
    with pytest.raises(ValueError, match=r"classes 0\.\.255"):
        save_mask_png(tmp_path / "x.png", np.full((2, 2), 300))

    # The model's class colours make the palette (classes beyond them keep the default colours).
    given = np.array([[128, 64, 128], [250, 170, 30]], dtype=np.uint8)
    with Image.open(save_mask_png(tmp_path / "c.png", mask, num_classes=3, palette=given)) as img:
        palette = np.asarray(img.getpalette()[:9], dtype=np.uint8).reshape(3, 3)
    np.testing.assert_array_equal(palette, [*given, class_palette(3)[2]])


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    def boom(fh):  # type: ignore[no-untyped-def]
        fh.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path / "out.png", boom)
    assert list(tmp_path.iterdir()) == []


def test_probs_instances_csv_roundtrip(tmp_path: Path) -> None:
    probs = np.random.default_rng(0).random((3, 5, 7)).astype(np.float32)
    np.testing.assert_allclose(np.load(save_probs(tmp_path / "p.npy", probs)), probs, atol=1e-3)
    assert np.load(tmp_path / "p.npy").dtype == np.float16
    import tifffile

    # dtype is the stored type for TIFF too (float16 by default): float32 keeps the values exactly.
    np.testing.assert_array_equal(
        tifffile.imread(save_probs(tmp_path / "p.tif", probs, "tiff", np.float32)), probs
    )
    labels = np.array([[0, 1], [300, 65535]], dtype=np.int32)
    with Image.open(save_instances_png(tmp_path / "i.png", labels)) as img:
        np.testing.assert_array_equal(np.asarray(img), labels)
    write_csv(tmp_path / "s.csv", [{"file": "a", "n": 1}], ["file", "n", "empty"])
    assert (tmp_path / "s.csv").read_text() == "file,n,empty\na,1,\n"
    np.testing.assert_allclose(class_fractions(np.array([[0, 1], [1, 1]]), 3), [0.25, 0.75, 0.0])


def test_writers_import_neither_viz_nor_torch() -> None:
    """The palette lives in unetkit.palette: writing masks needs no plotting code (and never torch)."""
    import unetkit.viz.overlay

    assert unetkit.viz.overlay.class_palette is class_palette  # re-exported where it always was
    script = (
        "import sys\n"
        "import unetkit.inference.writers, unetkit.palette\n"
        "bad = [m for m in sys.modules if m.startswith(('unetkit.viz', 'torch', 'matplotlib'))]\n"
        "assert not bad, bad\n"
    )
    src = Path(__file__).resolve().parents[2] / "src"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
