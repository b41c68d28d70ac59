"""Prediction files, each written atomically (temp file in the same folder + ``os.replace``).

A crash or a failing input never leaves a half-written file behind: the target name appears only once its
content is complete. Formats:

* class mask: 8-bit palette ('P') PNG. Pixel values are the class indices (0..K-1, also for binary models:
  0/1, not 0/255; 255 is void: outside ``predict --roi``), and the embedded palette (the model's class
  colours, :func:`unetkit.palette.palette_for`) makes viewers show colours. Read it back with
  ``np.asarray(Image.open(path))`` (do not ``convert("RGB")``).
* class mask of a georeferenced input: also a GeoTIFF carrying its georeferencing (:func:`save_mask_geotiff`).
* probabilities: ``.npy`` (float16 by default: half the size, ~3 significant digits) or a multi-band TIFF
  (band i: class i; float16 or float32, deflate-compressed; a georeferenced input's GeoTIFF tags and the class
  names as band descriptions: :func:`save_probs`).
* class names of a mask GeoTIFF: a GDAL ``.aux.xml`` sidecar (:func:`save_class_names_sidecar`).
* overlay: RGB PNG.
* instances: 16-bit grayscale PNG (0 = background, 1..n instances) up to 65535 instances; past that (a large
  slide of nuclei) a 32-bit grayscale TIFF, deflate-compressed (:func:`instances_suffix`).
* instance outlines: GeoJSON, one polygon per instance in pixel coordinates, which QuPath imports as
  detections and GIS tools draw (:func:`save_outlines_geojson`).
* summary: CSV.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image

from unetkit.constants import IGNORE_INDEX
from unetkit.files import atomic_write, atomic_write_bytes, atomic_write_text
from unetkit.inference.georef import GeoRef, mask_tags, probs_tags
from unetkit.palette import class_palette

logger = logging.getLogger(__name__)

# What ``--probs`` / ``PredictOptions.probs`` accept ("none": no probability maps; the others: save_probs's).
PROB_FORMATS = ("none", "npy", "tiff")
# The pixel types of a probability TIFF (GDAL reads float16 as Float32 before GDAL 3.11, as Float16 since).
PROB_TIFF_DTYPES = ("float16", "float32")
# Past this many bytes of pixels a TIFF is written as BigTIFF (GDAL and QGIS read it): a classic TIFF's
# offsets end at 4 GiB, and tifffile picks BigTIFF by itself only for uncompressed data. The margin (32 MiB)
# is tifffile's own, more than deflate can add to incompressible data.
BIGTIFF_BYTES = 2**32 - 2**25


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


INSTANCE_PNG_MAX = 0xFFFF  # ids a 16-bit PNG holds; PNG has no 32-bit grayscale


def instances_suffix(labels: np.ndarray) -> str:
    """The file suffix of instance ``labels`` (H, W): ``.png`` (16-bit) while the ids fit it, else ``.tif``
    (32-bit), so a whole slide with more than 65535 objects is written, not refused after its prediction."""
    hi = int(labels.max()) if labels.size else 0
    return ".png" if hi <= INSTANCE_PNG_MAX else ".tif"


def save_instances(path: str | Path, labels: np.ndarray) -> Path:
    """Instance labels (H, W) -> ``path``: a 16-bit PNG for ``.png``, a 32-bit TIFF for ``.tif``/``.tiff``
    (:func:`instances_suffix` picks the one that holds the ids)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".png":
        return save_instances_png(path, labels)
    if suffix not in (".tif", ".tiff"):
        raise ValueError(f"instance labels are written as .png or .tif, got {path}.")
    if labels.ndim != 2:
        raise ValueError(f"labels must be (H, W), got shape {labels.shape}.")
    if labels.size and int(labels.min()) < 0:
        raise ValueError(f"instance labels must be non-negative, got min {int(labels.min())}.")
    arr = labels.astype(np.uint32, copy=False)
    import tifffile

    def write(fh: IO[bytes]) -> None:
        tifffile.imwrite(fh, arr, photometric="minisblack", compression="zlib", metadata=None)

    return atomic_write(path, write)


def save_instances_png(path: str | Path, labels: np.ndarray) -> Path:
    """Instance labels (H, W) -> 16-bit PNG (ids 0..65535)."""
    if labels.ndim != 2:
        raise ValueError(f"labels must be (H, W), got shape {labels.shape}.")
    hi = int(labels.max()) if labels.size else 0
    if labels.size and int(labels.min()) < 0:
        raise ValueError(f"instance labels must be non-negative, got min {int(labels.min())}.")
    if hi > INSTANCE_PNG_MAX:
        raise ValueError(
            f"instance labels must be in 0..65535 for a 16-bit PNG, got max {hi}; write them as a 32-bit "
            "TIFF (save_instances with a .tif path)."
        )
    img = Image.fromarray(labels.astype(np.uint16))
    return atomic_write(path, lambda fh: img.save(fh, format="PNG"))


def instance_outlines(
    labels: np.ndarray, mask: np.ndarray | None = None, class_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Instance ``labels`` (H, W; 0 background) -> a GeoJSON FeatureCollection: one Polygon per instance,
    its outer outline in pixel coordinates (x right, y down; a pixel's corners at integers, so the outline
    runs along pixel edges, cut diagonally at corners: marching squares at level 0.5). Properties: ``id``
    (the label), ``area_px``, ``objectType: "detection"`` and, with the class ``mask`` and ``class_names``,
    ``classification.name``: the class most of its pixels have (QuPath reads both).

    An instance in several pieces keeps its largest piece's outline, and holes are not drawn: the id file
    stays the exact record. Hand-written on scikit-image's contours: QuPath and GIS tools read GeoJSON, and
    no library here writes label images as it.
    """
    from scipy import ndimage
    from skimage.measure import find_contours

    if labels.ndim != 2:
        raise ValueError(f"labels must be (H, W), got shape {labels.shape}.")
    if mask is not None and mask.shape != labels.shape:
        raise ValueError(f"mask is {mask.shape} but labels are {labels.shape}; give the mask of the labels.")
    features: list[dict[str, Any]] = []
    ids = labels.astype(np.int64, copy=False)
    for index, box in enumerate(ndimage.find_objects(ids), start=1):
        if box is None:
            continue  # an id no pixel has
        inside = ids[box] == index
        # Padded by one pixel: every outline closes within the crop.
        contours = find_contours(np.pad(inside, 1).astype(np.float32), 0.5)
        if not contours:
            continue
        ring = max(contours, key=len)
        top, left = box[0].start - 1, box[1].start - 1  # the crop's origin, less the padding
        # (row, col) of pixel centres -> x, y with pixel corners at integers: + 0.5.
        xy = [[round(float(c) + left + 0.5, 2), round(float(r) + top + 0.5, 2)] for r, c in ring]
        if xy[0] != xy[-1]:
            xy.append(xy[0])
        properties: dict[str, Any] = {"id": index, "area_px": int(inside.sum()), "objectType": "detection"}
        if mask is not None and class_names is not None:
            counts = np.bincount(mask[box][inside].ravel().astype(np.int64))
            top_class = int(counts.argmax())
            if top_class < len(class_names):
                properties["classification"] = {"name": str(class_names[top_class])}
        geometry = {"type": "Polygon", "coordinates": [xy]}
        features.append({"type": "Feature", "geometry": geometry, "properties": properties})
    return {"type": "FeatureCollection", "features": features}


def save_outlines_geojson(
    path: str | Path,
    labels: np.ndarray,
    mask: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
) -> Path:
    """:func:`instance_outlines` of ``labels`` -> ``path`` (GeoJSON, written atomically)."""
    import json

    return atomic_write_text(path, json.dumps(instance_outlines(labels, mask, class_names)) + "\n")


def save_probs(
    path: str | Path,
    probs: np.ndarray,
    fmt: str = "npy",
    dtype: Any = np.float16,
    *,
    georef: GeoRef | None = None,
    class_names: Sequence[str] | None = None,
    outside: np.ndarray | None = None,
) -> Path:
    """(K, H, W) class probabilities -> ``.npy`` or a multi-band TIFF, written atomically.

    ``fmt="npy"``: the array as ``dtype`` (``np.load`` gives (K, H, W)); ``georef`` and ``class_names`` are
    not stored (a .npy has no place for them).

    ``fmt="tiff"``: ONE image of K bands (band i + 1 in GDAL/QGIS, sample i in TIFF terms: class i), stored
    band after band (PLANARCONFIG separate, MINISBLACK with K - 1 unspecified extra samples, which GDAL reads
    as K bands), as ``dtype`` (float16 or float32), deflate-compressed (lossless; with TIFF's floating-point
    predictor where the ``imagecodecs`` package is installed: smaller files, read by GDAL and tifffile too).
    ``tifffile.imread(path)`` gives (K, H, W) in ``dtype`` ((H, W) for K = 1); GDAL gives K bands. With
    ``georef`` (the input's, :func:`~unetkit.inference.georef.read_georef`) the file carries the same
    georeferencing tags as the mask GeoTIFF (:func:`save_mask_geotiff`), so GIS tools place it on the map;
    with ``class_names`` the bands are named (GDAL band descriptions,
    :func:`~unetkit.inference.georef.probs_tags`). Past 4 GiB of pixels the file is a BigTIFF.

    Args:
        path: the file to write.
        probs: (K, H, W) probabilities (any float or integer type; converted to ``dtype``).
        fmt: "npy" or "tiff" (:data:`PROB_FORMATS` less "none").
        dtype: the stored type: any for npy; float16 (default: half the size, ~3 significant digits) or
            float32 for tiff.
        georef: the georeferencing of the image the probabilities were predicted from, or None; tiff only.
        class_names: K class names, band i's name class i's; tiff only.
        outside: bool (H, W), True where no class is predicted (outside an ROI, the input's nodata), or
            None; tiff only: those pixels hold NaN in every band and the file's GDAL_NODATA is ``nan``, as the
            mask GeoTIFF's void is its nodata (a GIS tool then shows them as no data, not as the model's
            scores of pixels it was told to leave out).

    Returns:
        ``path``.

    Raises:
        ValueError: an unknown ``fmt``; for tiff: ``probs`` not (K, H, W), ``dtype`` neither float16 nor
            float32, ``georef`` for an image of another size, or not K ``class_names``.
    """
    if fmt == "npy":
        arr = probs.astype(dtype, copy=False)
        return atomic_write(path, lambda fh: np.save(fh, arr))
    if fmt == "tiff":
        return _save_probs_tiff(path, probs, dtype, georef, class_names, outside)
    raise ValueError(f"unknown probability format {fmt!r}; use one of: {', '.join(PROB_FORMATS[1:])}")


def _save_probs_tiff(
    path: str | Path,
    probs: np.ndarray,
    dtype: Any,
    georef: GeoRef | None,
    class_names: Sequence[str] | None,
    outside: np.ndarray | None = None,
) -> Path:
    if probs.ndim != 3:
        raise ValueError(f"probabilities must be (K, H, W), got shape {probs.shape}.")
    stored = np.dtype(dtype)
    if stored.name not in PROB_TIFF_DTYPES:
        raise ValueError(
            f"probability TIFFs are {' or '.join(PROB_TIFF_DTYPES)}, got dtype {stored.name}; pass one of "
            "those (or write fmt='npy')."
        )
    k, h, w = probs.shape
    if georef is not None and georef.shape != (h, w):
        raise ValueError(
            f"probabilities are {w}x{h} (WxH) but the georeferencing is for a "
            f"{georef.shape[1]}x{georef.shape[0]} image; write them at their image's size."
        )
    names = None if class_names is None else [str(n) for n in class_names]
    if names is not None and len(names) != k:
        raise ValueError(f"{len(names)} class names for {k} probability bands; pass one name per class.")
    if outside is not None and outside.shape != (h, w):
        raise ValueError(f"outside is {outside.shape}, probabilities (K, H, W) {probs.shape}; pass (H, W).")
    arr = probs.astype(stored, copy=False)
    left_out = outside is not None and bool(outside.any())
    if left_out:
        if arr is probs:  # the caller's array: not changed in place
            arr = arr.copy()
        arr[:, outside] = np.nan
    options: dict[str, Any] = {"photometric": "minisblack"}
    if k > 1:  # (K, H, W): one band per class, as GDAL reads them (K = 1: tifffile writes one (H, W) band)
        options["planarconfig"] = "separate"
    predictor = _float_predictor()
    if predictor is not None:
        options["predictor"] = predictor
    extratags = probs_tags(georef, names, nodata_nan=left_out)
    import tifffile

    def write(fh: IO[bytes]) -> None:
        # Deflate level 1: the low bits of float probabilities are noise to it; on a 1024x1024 crop of trial
        # 24's 11-class scene (float16) level 6's files were within 3 % of level 1's size and took 1.5-1.8x
        # as long. metadata=None: no tifffile JSON description, the tags say all a GIS tool needs.
        tifffile.imwrite(
            fh,
            arr,
            compression="zlib",
            compressionargs={"level": 1},
            bigtiff=arr.nbytes > BIGTIFF_BYTES,
            metadata=None,
            extratags=extratags,
            **options,
        )

    return atomic_write(path, write)


@functools.cache
def _float_predictor() -> int | None:
    """3 (TIFF's floating-point predictor) where tifffile can encode it, else None (no predictor).

    tifffile encodes it only with the optional ``imagecodecs`` package; deflate itself needs only Python's
    zlib. A tiny image is written once to find out, so a tifffile that one day does without imagecodecs is
    used as it is.
    """
    import tifffile

    try:
        tifffile.imwrite(io.BytesIO(), np.zeros((2, 16), np.float32), compression="zlib", predictor=3)
    except Exception as exc:  # tifffile says KeyError "requires the 'imagecodecs' package"; others by version
        logger.debug("no floating-point predictor for probability TIFFs: %s", exc)
        return None
    return 3


# GDAL's raster attribute table codes (gdal.h): column types and usages.
_RAT_INTEGER, _RAT_STRING = 0, 2
_RAT_NAME, _RAT_VALUE, _RAT_RED, _RAT_GREEN, _RAT_BLUE = 2, 5, 6, 7, 8


def save_class_names_sidecar(
    tif_path: str | Path, class_names: Sequence[str], colors: np.ndarray | None = None
) -> Path:
    """Name the classes of a mask GeoTIFF for GIS tools: a GDAL PAM sidecar ``<tif_path>.aux.xml``.

    GDAL (and so QGIS, which opens rasters through GDAL) reads a file's ``.aux.xml`` beside it: this one holds
    the mask band's category names (value i: ``class_names[i]``, shown by ``gdalinfo`` and in QGIS's
    identify results and legend) and a thematic raster attribute table with a ``Value`` and a ``Class``
    column (and ``Red``/``Green``/``Blue`` with ``colors``), which QGIS (3.30 and later) can classify and
    style the layer by. Values without a class (255, void, the mask's nodata outside ``predict --roi``) are
    in neither. Written atomically (temp file + rename); an older sidecar is replaced.

    Args:
        tif_path: the mask GeoTIFF (:func:`save_mask_geotiff`); the sidecar's name is its name + ``.aux.xml``.
            It need not exist yet.
        class_names: the model's class names, class index i's at i.
        colors: uint8 (N, 3) class colours, as given to :func:`save_mask_geotiff` (``palette``) so both say
            the same; classes beyond N get :func:`~unetkit.palette.class_palette`'s. None: no colour columns.

    Returns:
        The sidecar's path.

    Raises:
        ValueError: no class names, or ``colors`` not (N, 3).
        TypeError: a class name that is not a string.
    """
    names = list(class_names)
    if not names:
        raise ValueError("no class names given; pass the model's class names, one per class index.")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"class names must be strings, got {name!r}; pass str(name) for each class.")
    table = None
    if colors is not None:
        given = np.asarray(colors)
        if given.ndim != 2 or given.shape[1] != 3:
            raise ValueError(f"colors must be (N, 3), got shape {given.shape}.")
        table = class_palette(len(names)).astype(np.int64)
        n = min(len(given), len(names))
        table[:n] = given[:n].astype(np.uint8)
    root = ET.Element("PAMDataset")
    band = ET.SubElement(root, "PAMRasterBand", band="1")
    categories = ET.SubElement(band, "CategoryNames")
    for name in names:
        ET.SubElement(categories, "Category").text = name
    rat = ET.SubElement(band, "GDALRasterAttributeTable", tableType="thematic")
    columns = [("Value", _RAT_INTEGER, _RAT_VALUE), ("Class", _RAT_STRING, _RAT_NAME)]
    if table is not None:
        columns += [("Red", _RAT_INTEGER, _RAT_RED), ("Green", _RAT_INTEGER, _RAT_GREEN)]
        columns += [("Blue", _RAT_INTEGER, _RAT_BLUE)]
    for i, (column, kind, usage) in enumerate(columns):
        field = ET.SubElement(rat, "FieldDefn", index=str(i))
        ET.SubElement(field, "Name").text = column
        ET.SubElement(field, "Type").text = str(kind)
        ET.SubElement(field, "Usage").text = str(usage)
    for value, name in enumerate(names):
        row = ET.SubElement(rat, "Row", index=str(value))
        cells = [str(value), name] + ([str(int(c)) for c in table[value]] if table is not None else [])
        for cell in cells:
            ET.SubElement(row, "F").text = cell
    ET.indent(root, space="  ")
    tif_path = Path(tif_path)
    sidecar = tif_path.with_name(tif_path.name + ".aux.xml")
    return atomic_write_text(sidecar, ET.tostring(root, encoding="unicode") + "\n")


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
