"""GeoTIFF georeferencing of an input image, carried over to its predicted class mask.

A remote-sensing image is placed on the map by TIFF tags (the GeoTIFF standard: pixel scale, tiepoints or a
transformation matrix, and the coordinate reference system as GeoKeys). A predicted mask has the input's
pixel grid, so the same tags place it on the map too: :func:`read_georef` reads them and
:func:`~unetkit.inference.writers.save_mask_geotiff` writes them into ``masks/<name>.tif``, which GIS tools
(QGIS, ArcGIS, GDAL) overlay on the image. :func:`probs_tags` gives the tags of the probability maps
(``probs/<name>.tif``), and :func:`read_nodata` / :func:`nodata_outside` the input's nodata value and where
its pixels hold it.

The tags are read and written with tifffile rather than GDAL or rasterio: tifffile is already a dependency and
pure Python, while GDAL is a large native library that pip cannot install everywhere. Copying the tags as they
are needs no projection library: nothing here interprets a coordinate.
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import numpy as np

logger = logging.getLogger(__name__)

# The GeoTIFF tags (OGC GeoTIFF 1.1): any one of them makes a TIFF georeferenced.
GEOTIFF_TAGS: dict[int, str] = {
    33550: "ModelPixelScaleTag",
    33922: "ModelTiepointTag",
    34264: "ModelTransformationTag",
    34735: "GeoKeyDirectoryTag",
    34736: "GeoDoubleParamsTag",
    34737: "GeoAsciiParamsTag",
}
# GDAL's own tags, written beside the GeoTIFF ones by GDAL: XML metadata, and the input's nodata value.
GDAL_METADATA = 42112
GDAL_NODATA = 42113

_TIFF_ASCII = 2  # the TIFF datatype of a string tag
# First bytes of a TIFF: little- or big-endian, classic (42) or BigTIFF (43).
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

# One tag as read: (code, TIFF datatype, count, value).
Tag = tuple[int, int, int, Any]
# One tag as tifffile's ``imwrite(extratags=...)`` takes it: a Tag and whether to write it on the first page
# only (a mask has one page).
ExtraTag = tuple[int, int, int, Any, bool]


@dataclass(frozen=True)
class GeoRef:
    """The georeferencing of a TIFF's first image, as stored.

    Attributes:
        shape: (H, W) of the image the tags describe: they place its pixel grid, so they fit only a mask of
            that size.
        tags: the GeoTIFF tags present (:data:`GEOTIFF_TAGS`), and GDAL's :data:`GDAL_METADATA` and
            :data:`GDAL_NODATA` where present, as (code, TIFF datatype, count, value) in ascending code,
            values as tifffile decodes them (tuples of numbers; ``str`` for strings).
    """

    shape: tuple[int, int]
    tags: tuple[Tag, ...]

    def tag(self, code: int) -> Tag | None:
        """The tag ``code`` (e.g. 34735, the GeoKey directory), or None where the file has none."""
        return next((t for t in self.tags if t[0] == code), None)

    @property
    def nodata(self) -> float | None:
        """The image's nodata value (its GDAL_NODATA tag, read with the others: :func:`read_nodata`'s value
        without opening the file again), or None."""
        tag = self.tag(GDAL_NODATA)
        return None if tag is None else _nodata_value(tag[3], "the GeoTIFF")


def _is_tiff(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) in _TIFF_MAGIC


def read_georef(path: str | Path) -> GeoRef | None:
    """The GeoTIFF georeferencing of ``path``'s first image, or None for a file without it.

    None for any file that is not a TIFF (by its first bytes, not its name), a TIFF without GeoTIFF tags
    (GDAL's tags alone do not place an image), and a TIFF tifffile cannot parse (logged at DEBUG: the image
    itself may still be readable by Pillow, and a mask without georeferencing is what predict wrote before).

    Args:
        path: an image file.

    Returns:
        The tags of the first page (the full-resolution image of a cloud-optimized GeoTIFF; its overviews
        follow it), or None.

    Raises:
        OSError: the file cannot be opened.

    Example:
        >>> georef = read_georef("scene.tif")  # doctest: +SKIP
        >>> georef.tag(33550)  # doctest: +SKIP
        (33550, 12, 3, (10.0, 10.0, 0.0))
    """
    path = Path(path)
    if not _is_tiff(path):
        return None
    import tifffile  # only TIFFs need it

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            found = [page.tags.get(code) for code in (*GEOTIFF_TAGS, GDAL_METADATA, GDAL_NODATA)]
            # Inside the ``with``: tifffile reads large tag values from the file when first asked for them.
            tags = tuple(
                (int(tag.code), int(tag.dtype), int(tag.count), tag.value) for tag in found if tag is not None
            )
            shape = (int(page.imagelength), int(page.imagewidth))
    except (tifffile.TiffFileError, ValueError, IndexError) as exc:
        logger.debug("no georeferencing read from %s: tifffile cannot parse it", path, exc_info=exc)
        return None
    if not any(code in GEOTIFF_TAGS for code, *_ in tags):
        return None
    return GeoRef(shape=shape, tags=tags)


def _dataset_metadata(text: str) -> str | None:
    """GDAL_METADATA XML without its per-band items (those with a ``sample`` attribute), or None when nothing
    else is in it or it does not parse.

    The band items describe the input's bands, not the class mask: GDAL and QGIS apply a band's SCALE/OFFSET
    to its values, so a reflectance band's ``SCALE 0.0001`` would show class 3 as 0.0003.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None  # which items are the bands' cannot be told: none is copied
    bands = [item for item in root if item.get("sample") is not None]
    if len(bands) == len(root):
        return None
    if not bands:
        return text  # as stored, byte for byte
    for item in bands:
        root.remove(item)
    return ET.tostring(root, encoding="unicode")


def mask_tags(georef: GeoRef, nodata: int | None = None) -> list[ExtraTag]:
    """The tags of a class mask of the image ``georef`` describes, for tifffile's ``imwrite(extratags=...)``.

    The GeoTIFF tags are copied as stored. GDAL_METADATA keeps only its dataset items (its band items
    describe the input's bands: :func:`_dataset_metadata`). The input's GDAL_NODATA is not copied: it is a
    value of the input's bands (often 0), and on the mask it would hide that class in GIS tools; ``nodata``
    (the mask's void value, e.g. 255 outside ``predict --roi``) is written instead where given.

    Args:
        georef: the input's georeferencing (:func:`read_georef`).
        nodata: the mask's value of pixels without a class, or None.

    Returns:
        (code, TIFF datatype, count, value, writeonce) per tag, strings as UTF-8 bytes (tifffile refuses a
        ``str`` that is not 7-bit ASCII, and GDAL writes UTF-8 into these tags).
    """
    tags: list[ExtraTag] = []
    for code, dtype, count, value in georef.tags:
        if code == GDAL_NODATA:
            continue
        if code == GDAL_METADATA:
            text = value if isinstance(value, str) else bytes(value).decode("utf-8", "replace")
            value = _dataset_metadata(text)
            if value is None:
                continue
        if dtype == _TIFF_ASCII:
            # tifffile counts the bytes (and the closing NUL) itself; the stored count can differ from the
            # decoded string's (trailing NULs are dropped when read).
            data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
            tags.append((code, dtype, 0, data, True))
        else:
            tags.append((code, dtype, count, value, True))
    if nodata is not None:
        tags.append((GDAL_NODATA, _TIFF_ASCII, 0, str(int(nodata)).encode(), True))
    return tags


def probs_tags(
    georef: GeoRef | None, band_names: Sequence[str] | None = None, nodata_nan: bool = False
) -> list[ExtraTag]:
    """The tags of a multi-band probability image (band i: class i), for tifffile's ``imwrite(extratags=)``.

    ``georef``'s tags as :func:`mask_tags` copies them onto a class mask (with ``nodata_nan``, GDAL_NODATA
    ``nan``: the pixels left out, outside an ROI or the input's nodata, hold NaN), and ``band_names`` as
    the bands' descriptions: GDAL_METADATA items ``<Item name="DESCRIPTION" sample="i" role="description">``
    (``sample`` counts bands from 0), which GDAL
    reads as band i + 1's description and QGIS shows as the band's name, each value XML-escaped once more, as
    GDAL writes them (``a &amp;amp; b`` in the file for ``a & b``). They are added to the input's dataset
    items where it has some.

    Args:
        georef: the input's georeferencing (:func:`read_georef`), or None for none.
        band_names: one name per band (the class names), or None for no descriptions.

    Returns:
        (code, TIFF datatype, count, value, writeonce) per tag; empty when there is nothing to write.
    """
    tags = mask_tags(georef) if georef is not None else []
    if nodata_nan:
        tags.append((GDAL_NODATA, _TIFF_ASCII, 0, b"nan", True))
    if not band_names:
        return tags
    stored = next((t for t in tags if t[0] == GDAL_METADATA), None)
    # mask_tags keeps only GDAL_METADATA that parses (its dataset items), as UTF-8 bytes.
    root = ET.fromstring(bytes(stored[3])) if stored else ET.Element("GDALMetadata")
    for i, name in enumerate(band_names):
        item = ET.SubElement(root, "Item", name="DESCRIPTION", sample=str(i), role="description")
        # GDAL escapes an item's value before the XML is written (which escapes it again) and unescapes it
        # after parsing: a value escaped once would lose what follows its first "&" or "<" in GDAL.
        item.text = xml_escape(str(name), {'"': "&quot;"})
    text = ET.tostring(root, encoding="unicode")
    return [*(t for t in tags if t[0] != GDAL_METADATA), (GDAL_METADATA, _TIFF_ASCII, 0, text.encode(), True)]


def read_nodata(path: str | Path) -> float | None:
    """The nodata value of a TIFF: its GDAL_NODATA tag (42113, which GDAL writes), or None.

    The value marks the pixels of the image that hold no data (outside the scene's footprint, a black border
    around a reprojected orthophoto): :func:`nodata_outside` says which they are. GDAL stores one value for
    all bands, as text; it is returned as a float (``nan`` where the tag says so). A value for the stored
    pixels (often 0 in an 8-bit image, -9999 or nan in a float one): compare it with the image as stored
    (:func:`unetkit.data.io.read_raw_image`), before any intensity window or conversion to uint8.

    None for a file that is not a TIFF (by its first bytes, not its name), a TIFF without the tag, one
    tifffile cannot parse (logged at DEBUG), and a tag that is no number (logged as a warning: GDAL would
    not agree on what it means either).

    Args:
        path: an image file.

    Returns:
        The first page's nodata value, or None.

    Raises:
        OSError: the file cannot be opened.

    Example:
        >>> read_nodata("scene.tif")  # doctest: +SKIP
        0.0
    """
    path = Path(path)
    if not _is_tiff(path):
        return None
    import tifffile  # only TIFFs need it

    try:
        with tifffile.TiffFile(path) as tif:
            tag = tif.pages.first.tags.get(GDAL_NODATA)
            value = None if tag is None else tag.value
    except (tifffile.TiffFileError, ValueError, IndexError) as exc:
        logger.debug("no nodata value read from %s: tifffile cannot parse it", path, exc_info=exc)
        return None
    return None if value is None else _nodata_value(value, path)


def _nodata_value(value: Any, where: str | Path) -> float | None:
    """A GDAL_NODATA tag's value (text, as GDAL writes it) as a float; None, with a warning naming ``where``,
    for text that is no number."""
    text = (value if isinstance(value, str) else bytes(value).decode("ascii", "replace")).strip("\x00 \t\r\n")
    try:
        return float(text)
    except ValueError:
        logger.warning("%s has a GDAL_NODATA tag that is no number (%r): no nodata value read", where, text)
        return None


def nodata_outside(image: np.ndarray, nodata: float) -> np.ndarray:
    """Where an image holds no data: bool (H, W), True where every band of the pixel equals ``nodata``.

    GDAL's rule for a nodata value (:func:`read_nodata`): it is compared in the image's own pixel type, so a
    value the type cannot hold (-9999 in a uint8 image, 0.5 in an integer one) matches no pixel, and ``nan``
    matches the NaN pixels of a float image. A pixel is outside only when all its bands hold the value: a
    black pixel of an RGB scene is (0, 0, 0), while a pixel with one band at 0 is data.

    Args:
        image: the pixels as stored (:func:`unetkit.data.io.read_raw_image`: the file's own type, uint8,
            uint16, float32 ...), (H, W) or (H, W, C), before any intensity window or conversion to uint8,
            which would change the values the nodata value is one of. A palette image's nodata value is a
            palette index: compare it with the indices (the TIFF read with tifffile), not with the colours.
        nodata: the nodata value.

    Returns:
        bool (H, W): True outside the data (e.g. the pixels to mark void, 255, in the predicted mask).

    Raises:
        ValueError: ``image`` is not (H, W) or (H, W, C).
        TypeError: ``image`` holds no numbers (not integers, floats or bools).

    Example:
        >>> outside = nodata_outside(read_raw_image("scene.tif"), read_nodata("scene.tif"))  # doctest: +SKIP
    """
    arr = np.asarray(image)
    if arr.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {arr.shape}; pass one image.")
    kind = arr.dtype.kind
    if kind not in "biuf":
        raise TypeError(f"image must hold numbers to compare with a nodata value, got dtype {arr.dtype}.")
    none = np.zeros(arr.shape[:2], dtype=bool)
    value = float(nodata)
    if kind == "f":
        if math.isnan(value):
            return np.isnan(arr) if arr.ndim == 2 else _all_bands(arr, np.isnan)
        with np.errstate(over="ignore"):
            typed = arr.dtype.type(value)
        if math.isinf(typed) and not math.isinf(value):
            return none  # beyond the type's range (-3.4e38 in a float16 image): no pixel holds it
    else:
        lo, hi = (0, 1) if kind == "b" else (np.iinfo(arr.dtype).min, np.iinfo(arr.dtype).max)
        if not (value.is_integer() and lo <= value <= hi):
            return none  # not a value of the type (0.5 or -9999 in a uint8 image): no pixel holds it
        typed = arr.dtype.type(int(value))
    return arr == typed if arr.ndim == 2 else _all_bands(arr, lambda band: band == typed)


def _all_bands(arr: np.ndarray, test: Any) -> np.ndarray:
    """``test`` of each band of (H, W, C), ANDed: one (H, W) bool array at a time, not an (H, W, C) one."""
    out = np.asarray(test(arr[..., 0]))
    for c in range(1, arr.shape[2]):
        out &= test(arr[..., c])
    return out
