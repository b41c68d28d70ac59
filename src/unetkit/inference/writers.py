"""Prediction files, each written atomically (temp file in the same folder + ``os.replace``).

A crash or a failing input never leaves a half-written file behind: the target name appears only once its
content is complete. Formats:

* class mask: 8-bit palette ('P') PNG. Pixel values are the class indices (0..K-1, also for binary models:
  0/1, not 0/255; 255 is void: outside ``predict --roi``), and the embedded palette (the model's class
  colours, :func:`unetkit.palette.palette_for`) makes viewers show colours. Read it back with
  ``np.asarray(Image.open(path))`` (do not ``convert("RGB")``).
* class mask of a georeferenced input: also a GeoTIFF carrying its georeferencing (:func:`save_mask_geotiff`).
* probabilities: ``.npy`` (float16 by default: half the size, ~3 significant digits) or float32 TIFF
  (K pages of (H, W)).
* overlay: RGB PNG.
* instances: 16-bit grayscale PNG (0 = background, 1..n instances; n <= 65535).
* summary: CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image

from unetkit.constants import IGNORE_INDEX
from unetkit.files import atomic_write, atomic_write_bytes
from unetkit.inference.georef import GeoRef, mask_tags
from unetkit.palette import class_palette

# What ``--probs`` / ``PredictOptions.probs`` accept ("none": no probability maps; the others: save_probs's).
PROB_FORMATS = ("none", "npy", "tiff")


def save_mask_png(
    path: str | Path,
    mask: np.ndarray,
    num_classes: int | None = None,
    palette: np.ndarray | None = None,
    void_color: tuple[int, int, int] | None = None,
) -> Path:
    """Class-index mask (H, W) -> palette PNG (values = class indices). Colours: ``palette`` (uint8 (K, 3),
    the model's class colours, :func:`~unetkit.palette.palette_for`), classes beyond it ``class_palette``'s;
    void (IGNORE_INDEX, 255: outside ``predict --roi``) in ``void_color`` when given (fewer than 255 classes).
    """
    if mask.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {mask.shape}.")
    hi = int(mask.max()) if mask.size else 0
    if mask.size and int(mask.min()) < 0:
        raise ValueError(f"mask has negative values (min {int(mask.min())}); expected class indices.")
    if hi > 255:
        raise ValueError(f"mask has class {hi}; palette PNGs hold classes 0..255.")
    k = max(num_classes or 0, hi + 1)
    # putpalette turns the "L" image into "P" with the class indices as palette indices.
    img = Image.fromarray(mask.astype(np.uint8, copy=False))
    table = np.zeros((256, 3), dtype=np.uint8)
    table[:k] = class_palette(k)
    if palette is not None:
        given = np.asarray(palette, dtype=np.uint8)[:256]
        if given.ndim != 2 or given.shape[1] != 3:
            raise ValueError(f"palette must be (K, 3), got shape {given.shape}.")
        table[: len(given)] = given
    if void_color is not None and (num_classes or 0) <= IGNORE_INDEX:
        table[IGNORE_INDEX] = void_color
    img.putpalette(table.ravel().tolist())
    return atomic_write(path, lambda fh: img.save(fh, format="PNG"))


def save_mask_geotiff(
    path: str | Path,
    mask: np.ndarray,
    georef: GeoRef,
    num_classes: int | None = None,
    palette: np.ndarray | None = None,
    nodata: int | None = None,
) -> Path:
    """Class-index mask (H, W) -> GeoTIFF with the georeferencing of the image it was predicted from, which
    GIS tools overlay on that image. Written with tifffile (no GDAL: see :mod:`unetkit.inference.georef`),
    deflate-compressed.

    Args:
        path: the ``.tif`` to write (atomically: temp file + rename).
        mask: class indices, (H, W), the size of the image ``georef`` describes.
        georef: that image's georeferencing (:func:`~unetkit.inference.georef.read_georef`); its GeoTIFF tags
            are copied as stored (:func:`~unetkit.inference.georef.mask_tags` says what else is).
        num_classes: the model's class count: with the mask's largest value it picks the pixel type, so every
            mask of a run has the same one: uint8 up to 256 classes, uint16 up to 65536, int32 beyond.
        palette: uint8 (K, 3) class colours, stored as the TIFF's colour map (uint8 masks only) so GIS tools
            show the classes in colour; classes beyond it get :func:`~unetkit.palette.class_palette`'s.
        nodata: the value of pixels without a class (255, void, outside ``predict --roi``), written as GDAL's
            nodata so GIS tools show them transparent; None: every pixel has a class.

    Returns:
        ``path``.

    Raises:
        ValueError: the mask is not (H, W) of the georeferenced image's size, or holds negative values.
    """
    if mask.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {mask.shape}.")
    if tuple(mask.shape) != georef.shape:
        # The tags place the image's pixel grid: on a grid of another size they would misplace the mask.
        raise ValueError(
            f"mask is {mask.shape[1]}x{mask.shape[0]} (WxH) but the georeferencing is for a "
            f"{georef.shape[1]}x{georef.shape[0]} image; write the mask at its image's size."
        )
    if mask.size and int(mask.min()) < 0:
        raise ValueError(f"mask has negative values (min {int(mask.min())}); expected class indices.")
    hi = max((num_classes or 1) - 1, int(mask.max()) if mask.size else 0, nodata or 0)
    dtype = np.uint8 if hi <= 0xFF else np.uint16 if hi <= 0xFFFF else np.int32
    arr = mask.astype(dtype, copy=False)
    options: dict[str, Any] = {"photometric": "minisblack"}
    if dtype == np.uint8 and palette is not None:
        # A TIFF colour map is uint16 (3, 256): each 8-bit colour scaled to 16 bits (x 257).
        table = np.zeros((256, 3), dtype=np.uint16)
        table[: hi + 1] = class_palette(hi + 1)
        given = np.asarray(palette, dtype=np.uint8)[:256]
        if given.ndim != 2 or given.shape[1] != 3:
            raise ValueError(f"palette must be (K, 3), got shape {given.shape}.")
        table[: len(given)] = given
        options = {"photometric": "palette", "colormap": (table * 257).T}
    extratags = mask_tags(georef, nodata)
    import tifffile

    def write(fh: IO[bytes]) -> None:
        # Deflate: every GeoTIFF reader decodes it, and class masks shrink many times. metadata=None: no
        # tifffile JSON description, the tags say all a GIS tool needs.
        tifffile.imwrite(fh, arr, compression="zlib", metadata=None, extratags=extratags, **options)

    return atomic_write(path, write)


def save_rgb_png(path: str | Path, rgb: np.ndarray, compress_level: int = 6) -> Path:
    """uint8 (H, W, 3) -> PNG. ``compress_level`` 0-9 (zlib): 1 encodes a 512 x 512 overlay about 3x faster
    than the default 6 for files about 10 % larger (``unetkit serve`` writes one per request)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}.")
    img = Image.fromarray(rgb)
    return atomic_write(path, lambda fh: img.save(fh, format="PNG", compress_level=compress_level))


def save_instances_png(path: str | Path, labels: np.ndarray) -> Path:
    """Instance labels (H, W) -> 16-bit PNG."""
    if labels.ndim != 2:
        raise ValueError(f"labels must be (H, W), got shape {labels.shape}.")
    hi = int(labels.max()) if labels.size else 0
    if hi > 65535 or (labels.size and int(labels.min()) < 0):
        raise ValueError(f"instance labels must be in 0..65535 for a 16-bit PNG, got max {hi}.")
    img = Image.fromarray(labels.astype(np.uint16))
    return atomic_write(path, lambda fh: img.save(fh, format="PNG"))


def save_probs(path: str | Path, probs: np.ndarray, fmt: str = "npy", dtype: Any = np.float16) -> Path:
    """(K, H, W) probabilities -> ``.npy`` (``dtype``) or float32 ``.tif`` (K pages)."""
    if fmt == "npy":
        arr = probs.astype(dtype, copy=False)
        return atomic_write(path, lambda fh: np.save(fh, arr))
    if fmt == "tiff":
        import tifffile

        arr = probs.astype(np.float32, copy=False)

        def write(fh: IO[bytes]) -> None:
            tifffile.imwrite(fh, arr, photometric="minisblack")

        return atomic_write(path, write)
    raise ValueError(f"unknown probability format {fmt!r}; use one of: {', '.join(PROB_FORMATS[1:])}")


def write_csv(path: str | Path, rows: Iterable[Mapping[str, Any]], fieldnames: Sequence[str]) -> Path:
    """Rows -> CSV with the given columns (missing cells empty)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fieldnames), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return atomic_write_bytes(path, buf.getvalue().encode())


def class_fractions(mask: np.ndarray, num_classes: int) -> np.ndarray:
    """Fraction of the pixels of classes ``0..num_classes-1`` per class (void pixels not counted): float64
    (num_classes,)."""
    counts = np.bincount(mask.ravel(), minlength=num_classes)[:num_classes]
    # Of the classified pixels: void (outside ``predict --roi``) is no class's.
    return counts / max(int(counts.sum()), 1)
