"""Reading images and masks from disk, and normalising images.

This module must not import torch: the onnxruntime prediction path uses it on machines without torch.

Conversions done by :func:`read_image` (and only these; anything else is refused with a ValueError):

* Images with more than 8 bits (``uint16``, 32-bit integers) are mapped through the dataset's **intensity
  window** when one is given (``window``: per channel ``[lo, hi]`` of stored values, linearly onto 0..255 and
  clipped; :func:`estimate_window` measures it on training images, the model keeps it in its config so that
  prediction maps pixels the same way). Without a window, 16-bit values are reduced with ``value >> 8`` (the
  same fixed map for every image; no per-image min-max stretch). A window applies to 8-bit images too, so
  one rule maps every stored value the model sees; :func:`window_mismatch` says when an image's values are
  far outside it (an 8-bit image for a model trained on 16-bit ones), for prediction to report: nothing is
  rescaled to fit.
* Float TIFFs with values in [0, 1] are read as the 8-bit image ``round(value * 255)``, intensity window
  included (:func:`float_to_uint8`: ``raw / 255.0`` reads as ``raw``); other float ranges are refused, and so
  is a float image against a fixed window of values deeper than 8 bits (its bit depth is unknown). Through a
  per-image window, a float image is mapped from its own values (``value * 255``, unrounded:
  :func:`float_per_image`), so a dim one keeps its gradations (``raw / 255.0`` still reads as ``raw``).
* RGBA / LA images (a PNG's transparency, a TIFF whose ExtraSamples tag says alpha) whose alpha is fully
  opaque lose the alpha channel; transparent pixels are refused.
* A TIFF's channels are channels, however many: samples per pixel (interleaved or planar; ExtraSamples
  "unspecified" is data, e.g. a second microscope channel or a near-infrared band) and the channels of an
  ImageJ hyperstack (axes ``CYX``). A TIFF stack (pages along z, time, or pages without channel metadata,
  as ``tifffile.imwrite`` stores a (2, H, W) array) is refused rather than read as its first page.
* Palette ('P') images are converted to RGB; CMYK/YCbCr/LAB/HSV images to RGB; 1-bit images to 0/255.
* The EXIF orientation tag is applied (as viewers, browsers, annotation tools and Detectron2 apply it): an
  image (and a mask) is read upright, as it is shown, and :func:`image_header` gives the shown size (an
  orientation of 5..8 swaps width and height). A PNG's tag counts only before its pixel data, where
  browsers read it; TIFFs read with tifffile keep their stored orientation.
* A channel count that differs from ``channels`` is refused (gray->RGB and RGB->gray would hide a config
  error) unless ``convert=True`` is passed explicitly.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from unetkit.constants import IGNORE_INDEX
from unetkit.options import look_up_option

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif")


def is_hidden(path: str | Path) -> bool:
    """Whether a file or folder is hidden (its name starts with "."): never data. macOS's ``._name.jpg``
    (AppleDouble) lies beside every file copied from a Mac and fails to decode; ``.thumbs/`` and ``.git/``
    hold no samples. Discovery, the training folders, predict and the converters all skip by this one rule, so
    a folder that ``plan`` accepts also fits and predicts."""
    return Path(path).name.startswith(".")


MASK_KINDS = ("index", "binary", "palette", "remap", "instances")
# An intensity window: per channel (lo, hi) of stored pixel values (or one pair for every channel), or
# {"percentiles": [lo, hi]}: each image mapped by its own percentiles of each channel (per-image window).
Window = Sequence[Sequence[float]] | Mapping[str, Sequence[float]]

_TIFF_SUFFIXES = (".tif", ".tiff")
# Log each kind of implicit conversion once per process: a data loader reads every file every epoch.
_logged_conversions: set[str] = set()


def _log_once(kind: str, message: str) -> None:
    if kind not in _logged_conversions:
        _logged_conversions.add(kind)
        logger.info(message + " (logged once per process)")
    else:
        logger.debug(message)


class _StackError(ValueError):
    """A multi-page TIFF: refused as it is, not retried with tifffile."""


# What to do with a file that cannot be decoded: said after every "corrupt or not an image" error, so that
# the user is not left with Pillow's words alone ("image file is truncated").
CORRUPT_FIX = "re-save it, or remove it from the folder (and its mask, in a training folder)"
CORRUPT_MASK_FIX = "re-save it, or remove it from the folder (and its image)"


def _corrupt(path: Path, reason: object) -> ValueError:
    return ValueError(
        f"cannot read image {path}: {reason}; the file is corrupt or not an image: {CORRUPT_FIX}"
    )


def _too_large(path: Path, err: Exception, what: str = "image") -> ValueError:
    """Pillow's decompression-bomb guard refused ``path`` (library use: the command line lifts the guard)."""
    found = re.search(r"\((\d+) pixels\)", str(err))
    size = f" has {int(found.group(1))} pixels, more than" if found else " exceeds"
    return ValueError(
        f"cannot read {what} {path}: it{size} Pillow's decompression-bomb limit ({Image.MAX_IMAGE_PIXELS} "
        "pixels); the unetkit command line reads it, and in Python set PIL.Image.MAX_IMAGE_PIXELS = None "
        "first if you trust the file"
    )


def _corrupt_mask(path: Path, reason: object) -> ValueError:
    return ValueError(
        f"cannot read mask {path}: {reason}; the file is corrupt or not an image: {CORRUPT_MASK_FIX}"
    )


# Pillow modes whose last band is an alpha channel (a PNG's transparency); palette images with a
# transparent entry are converted to RGBA first.
_ALPHA_MODES = ("LA", "RGBA", "PA", "La", "RGBa")
# TIFF ExtraSamples (tag 338) values that mark an extra sample as alpha (1 associated, 2 unassociated);
# 0 (unspecified) is one more channel of data (a second microscope channel, a near-infrared band).
_TIFF_ALPHA = (1, 2)


# EXIF orientation (tag 0x0112) -> the transpose that shows the image upright (Pillow's exif_transpose
# table); 1 (and any value outside 2..8) is upright already.
EXIF_ORIENTATION_TAG = 0x0112
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation of an opened (not yet loaded) image: 1..8, 1 when absent or unreadable.

    Read before the pixels are decoded, so that the header and the decoded image agree: a PNG's eXIf chunk
    counts only before the pixel data (where browsers honour it; Pillow's ``getexif`` would decode the
    whole image to look after it).
    """
    if img.format == "PNG" and "exif" not in img.info:
        return 1
    try:
        value = int(img.getexif().get(EXIF_ORIENTATION_TAG, 1))
    except (OSError, SyntaxError, ValueError, TypeError, KeyError):
        return 1
    return value if value in _UPRIGHT else 1


def _upright(img: Image.Image, orientation: int) -> Image.Image:
    """``img`` (loaded) turned as its EXIF ``orientation`` says viewers show it (palette and mode kept)."""
    method = _UPRIGHT.get(orientation)
    return img if method is None else img.transpose(method)


def _load_raw(path: Path) -> tuple[np.ndarray, bool]:
    """Decode ``path`` into an array without value conversions; returns (array, its last channel is alpha).
    The EXIF orientation is applied (the image as viewers show it)."""
    path = Path(path)
    if not path.is_file():
        what = "it is a folder, not an image file" if path.is_dir() else "no such file"
        raise ValueError(f"cannot read image {path}: {what}")
    try:
        with Image.open(path) as opened:
            if _needs_tifffile(opened):
                return _read_tiff(path)
            orientation = _orientation(opened)
            opened.load()  # decode now so truncated files fail here, not later inside numpy
            return pil_pixels(_upright(opened, orientation))
    except _StackError:
        raise
    except Image.DecompressionBombError as err:
        raise _too_large(path, err) from err
    except (OSError, SyntaxError, ValueError) as err:
        if path.suffix.lower() in _TIFF_SUFFIXES:
            # Pillow cannot decode some valid TIFFs (float32 RGB, 16-bit RGB, 2-sample 16-bit, tiled or
            # compressed variants).
            try:
                return _read_tiff(path)
            except _StackError:
                raise
            except Exception as tiff_err:
                raise _corrupt(path, f"{err}; tifffile: {tiff_err}") from tiff_err
        raise _corrupt(path, err) from err


def pil_pixels(img: Image.Image) -> tuple[np.ndarray, bool]:
    """The pixels of a loaded PIL image as shown, without value conversions: palette, CMYK/YCbCr/LAB/HSV and
    1-bit images converted (to RGB(A), RGB, 0/255); returns (array, its last channel is alpha)."""
    mode = img.mode
    if mode == "P":
        # Keep transparency information: a palette with a transparent entry becomes RGBA.
        alpha = "transparency" in img.info
        return np.asarray(img.convert("RGBA" if alpha else "RGB")), alpha
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(img.convert("RGB")), False
    if mode == "1":
        return np.asarray(img, dtype=np.uint8) * np.uint8(255), False
    if mode == "PA":
        return np.asarray(img.convert("RGBA")), True
    return np.asarray(img), mode in _ALPHA_MODES


def pil_image_array(img: Image.Image, name: str = "the PIL image") -> np.ndarray:
    """A PIL image as :func:`read_raw_image` gives a file: (H, W, C) as shown (:func:`pil_pixels`), an opaque
    alpha channel dropped (a transparent one is a ValueError naming ``name``)."""
    arr, alpha = pil_pixels(img)
    if arr.ndim == 2:
        arr = arr[..., None]
    if alpha and arr.ndim == 3 and arr.shape[2] > 1:
        arr = _drop_opaque_alpha(arr, Path(name))
    return arr


def _needs_tifffile(img: Image.Image) -> bool:
    """A TIFF that Pillow would not read faithfully: several pages (channels or a stack), 16-bit colour
    (Pillow reduces it to 8 bits itself), extra samples that are data (Pillow reads a 2-sample 8-bit TIFF
    as gray, dropping the second channel)."""
    if img.format != "TIFF":
        return False
    return (
        getattr(img, "n_frames", 1) > 1
        or (img.mode in ("RGB", "RGBA") and _tiff_bits(img) > 8)
        or (img.mode in ("LA", "RGBA") and not _tiff_alpha(img))
        or int(img.tag_v2.get(277, 1)) != len(img.getbands())  # type: ignore[attr-defined]
    )


def _tiff_alpha(img: Image.Image) -> bool:
    """Whether an opened TIFF marks its extra sample as alpha (ExtraSamples 1 or 2) rather than data (0)."""
    extra = img.tag_v2.get(338, 2)  # type: ignore[attr-defined]
    extra = extra if isinstance(extra, tuple) else (extra,)
    return bool(extra) and int(extra[-1]) in _TIFF_ALPHA


def _tiff_bits(img: Image.Image) -> int:
    """The largest BitsPerSample (TIFF tag 258) of an opened TIFF (8 when the tag is missing)."""
    bits = img.tag_v2.get(258, 8)  # type: ignore[attr-defined]
    return max(bits) if isinstance(bits, tuple) else int(bits)


# Axes a TIFF series may hold besides the image's own (tifffile's letters): what a stack is said to hold.
# ``Q`` (tifffile: no axis metadata) and ``I`` (a plain sequence of pages) say nothing about the pages.
_UNKNOWN_AXES = "QI"
_STACK_WORDS = {"Z": "z-slices", "T": "time points", "Q": "pages", "I": "pages"}
# An (H, W, C) array saved as H pages of W x C pixels: C is a few channels (a page that narrow is no image),
# or more (a multispectral image) where H and W are both many times C.
_HWC_MAX_CHANNELS = 4
_HWC_MAX_BANDS = 16
_CHANNELS_FIX = "tifffile.imwrite(path, array, photometric='minisblack', planarconfig='contig')"


def _looks_hwc(count: int, height: int, width: int) -> bool:
    """Whether ``count`` pages (or channels) of ``height`` x ``width`` pixels look like an (H, W, C) array
    (``count`` x ``height`` x ``width``) saved with its first axis as pages: ``width`` is its channels."""
    if width <= _HWC_MAX_CHANNELS:
        return min(count, height) > _HWC_MAX_CHANNELS
    return width <= _HWC_MAX_BANDS and min(count, height) >= 4 * width


def _stack_words(axis: str, count: int) -> str:
    """``3 z-slices``, ``2 pages``; an axis with no plain word by tifffile's name (``4 along lambda``)."""
    import tifffile

    word = _STACK_WORDS.get(axis)
    return f"{count} {word}" if word else f"{count} along {tifffile.TIFF.AXES_NAMES.get(axis, axis)}"


def _projection_fix(axes: str, shape: tuple[int, ...]) -> str:
    """The maximum projection of a z-stack (the usual 2-D image of one) and how to save it as one image."""
    axis = axes.index("Z")
    rest = "".join(a for a, n in zip(axes, shape) if a != "Z" and (n > 1 or a in "YX"))
    keywords = {
        "YX": "",
        "YXS": ", photometric='minisblack', planarconfig='contig'",
        "SYX": ", photometric='minisblack', planarconfig='separate'",
        "CYX": ", imagej=True, metadata={'axes': 'CYX'}",
    }.get(rest)
    projection = f"array.max(axis={axis})"
    if keywords is None:
        return f"its maximum projection {projection} as one image"
    return f"its maximum projection as one image: tifffile.imwrite(path, {projection}{keywords})"


def _stack_message(path: Path, axes: str, shape: tuple[int, ...]) -> str:
    """Why a TIFF series is not one 2-D image, in the user's words (pages, z-slices), and the usual fix: the
    (H, W, C) array tifffile saved as H pages of W x C pixels, a few full-size pages that may be channels, a
    z-stack's maximum projection."""
    size = dict(zip(axes, shape))
    if "Y" not in axes or "X" not in axes:
        return (
            f"cannot read image {path}: its first TIFF series holds no 2-D image (shape "
            f"{'x'.join(map(str, shape))}, axes {axes}); unetkit reads one 2-D image per file: save the "
            f"image with {_CHANNELS_FIX} (array as (H, W) or (H, W, C))"
        )
    height, width = size["Y"], size["X"]
    stack = [(a, n) for a, n in zip(axes, shape) if a not in "YXSC" and n > 1]
    pages = int(np.prod([n for _, n in stack]))
    if len(stack) == 1 and stack[0][0] in _UNKNOWN_AXES and axes.endswith("YX"):
        count = stack[0][1]
        if _looks_hwc(count, height, width):
            # tifffile.imwrite takes the last axis of an (H, W, 2) array as samples only with
            # photometric='minisblack': without it, it writes H pages of W x 2 pixels.
            return (
                f"cannot read image {path}: {count} pages of {height}x{width} pixels: this looks like an "
                f"(H, W, {width}) array ({count}x{height}x{width}) saved without photometric='minisblack': "
                f"save it with {_CHANNELS_FIX}"
            )
        if count <= _HWC_MAX_CHANNELS and min(height, width) > _HWC_MAX_CHANNELS:
            return (
                f"cannot read image {path}: {count} pages of {height}x{width} pixels without axis metadata "
                "(channels, z-slices or time points?); unetkit reads one 2-D image per file: if these "
                f"{count} pages are channels, save them as one image with tifffile.imwrite(path, array, "
                f"photometric='minisblack', planarconfig='separate') (array as ({count}, H, W); or "
                f"{_CHANNELS_FIX} with array as (H, W, {count})); if they are a z-stack or time series, save "
                "each page as its own image"
            )
    what = " x ".join(_stack_words(a, n) for a, n in stack)
    channels = size.get("C", 1) * size.get("S", 1)
    held = f" with {channels} channels each" if channels > 1 else ""
    unknown = all(a in _UNKNOWN_AXES for a, _ in stack)
    if unknown:
        if len(stack) > 1:
            layout = f" (a {'x'.join(map(str, shape))} array)"
            fix = "save each 2-D image as its own file"
        else:
            layout = ""
            fix = (
                "save each page as its own image, or, for a z-stack, its maximum projection "
                "array.max(axis=0) as one image"
            )
            if not held:
                fix += (
                    f"; if the {pages} pages are channels, save them as one image with "
                    "tifffile.imwrite(path, array, photometric='minisblack', planarconfig='separate')"
                )
        return (
            f"cannot read image {path}: {pages} pages of {height}x{width} pixels{held}{layout} without axis "
            f"metadata (a z-stack or time series?); unetkit reads one 2-D image per file: {fix}"
        )
    kinds = {a for a, _ in stack}
    if kinds == {"Z"}:
        fix = f"save each z-slice as its own image, or {_projection_fix(axes, shape)}"
        kind = "a z-stack"
    elif kinds == {"T"}:
        fix = "save each time point as its own image"
        kind = "a time series"
    else:
        fix = "save each 2-D image as its own file"
        kind = "a TIFF stack"
    return (
        f"cannot read image {path}: {kind} ({what} of {height}x{width} pixels{held}); unetkit reads one 2-D "
        f"image per file: {fix}"
    )


def _tiff_channels(path: Path, axes: str, shape: tuple[int, ...]) -> list[str]:
    """The axes of a TIFF series that make up one 2-D image with channels (``Y``, ``X``, samples ``S`` and
    ImageJ channels ``C``); anything else of length > 1 (``Z``, ``T``, pages ``Q``/``I``) is a stack,
    refused (:func:`_stack_message` says what it looks like) rather than read as its first image."""
    stack = [(a, n) for a, n in zip(axes, shape) if a not in "YXSC" and n > 1]
    if stack or "Y" not in axes or "X" not in axes:
        raise _StackError(_stack_message(path, axes, shape))
    size = dict(zip(axes, shape))
    if axes == "CYX" and _looks_hwc(size["C"], size["Y"], size["X"]):
        # An (H, W, 2) array saved with imagej=True (or axes CYX): H channels of W x 2 pixels, not an image.
        channels, height, width = shape
        raise _StackError(
            f"cannot read image {path}: {channels} channels of {height}x{width} pixels: this looks like an "
            f"(H, W, {width}) array ({channels}x{height}x{width}) saved as channels-first (axes CYX): save "
            f"it with {_CHANNELS_FIX}, or as an ImageJ hyperstack with tifffile.imwrite(path, "
            "array.transpose(2, 0, 1), imagej=True, metadata={'axes': 'CYX'})"
        )
    return [a for a in axes if a in "YXSC"]


def _tiff_header(path: Path) -> tuple[int, int, int]:
    """(H, W, C) of a TIFF's first series from its tags (no pixels decoded), as :func:`_read_tiff` reads."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        axes, shape = str(series.axes), tuple(series.shape)
        extra = tuple(int(e) for e in (tif.pages[0].extrasamples or ()))  # type: ignore[union-attr]
    _tiff_channels(path, axes, shape)
    size = dict(zip(axes, shape))
    channels = size.get("S", 1) * size.get("C", 1)
    alpha = channels > 1 and bool(extra) and extra[-1] in _TIFF_ALPHA
    return size["Y"], size["X"], channels - alpha


def _yx(series: Any) -> tuple[int, ...]:
    """A tifffile series' (height, width)."""
    return tuple(int(n) for a, n in zip(str(series.axes), series.shape) if a in "YX")


def _read_tiff(path: Path) -> tuple[np.ndarray, bool]:
    """A TIFF's first series as (H, W[, C]) with tifffile, and whether its last channel is alpha.

    The series' axes say what each dimension is (:func:`_tiff_channels`): samples per pixel (stored
    interleaved or planar) and ImageJ channels are channels; a stack is refused. Pages of other sizes
    (thumbnails, pyramid levels) are other series and are left alone.
    """
    import tifffile  # only TIFFs that Pillow cannot read faithfully need it

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        axes = str(series.axes)
        size = _yx(series)
        same_size = sum(1 for other in tif.series[1:] if _yx(other) == size)
        if same_size:
            # Thumbnails and pyramid levels are smaller and rightly skipped; a page of the same size is
            # another image (a gray page after an RGB one), and only the first is read: said, not silent.
            logger.warning(
                "%s holds %d more image(s) of its first one's size (TIFF pages of another kind); only the "
                "first, %s, is read: save each image as its own file",
                path, same_size, "x".join(str(n) for n in series.shape),
            )  # fmt: skip
        extra = tuple(int(e) for e in (tif.pages[0].extrasamples or ()))  # type: ignore[union-attr]
        names = _tiff_channels(path, axes, tuple(series.shape))
        arr = np.asarray(series.asarray())
    arr = arr.reshape([n for a, n in zip(axes, arr.shape) if a in "YXSC"])
    order = [names.index("Y"), names.index("X")] + [i for i, a in enumerate(names) if a in "SC"]
    arr = np.transpose(arr, order)
    if arr.ndim == 4:  # both C and S (an ImageJ hyperstack of RGB pages): one channel axis
        arr = arr.reshape(*arr.shape[:2], -1)
    alpha = arr.ndim == 3 and bool(extra) and extra[-1] in _TIFF_ALPHA
    return arr, alpha


# How far a float image may stray outside [0, 1] and still be read (clipped): half an 8-bit step, the rounding
# noise of a resize or a colour conversion, which round(x * 255) maps to 0 or 255 anyway.
FLOAT_SLACK = 0.5 / 255


def _named(path: Path | str) -> str:
    """``image PATH`` for a file; an array's description (``the float32 image array``) as it is."""
    return str(path) if str(path).startswith("the ") else f"image {path}"


def _float_named(path: Path | str) -> str:
    """``float image PATH`` for a file; an array's description (``the float64 image array``) as it is."""
    return str(path) if str(path).startswith("the ") else f"float image {path}"


def _check_floats(arr: np.ndarray, path: Path | str) -> None:
    """A float image's values: no NaN, within [0, 1] (give or take :data:`FLOAT_SLACK`); else a ValueError
    naming ``path`` and the fix."""
    nan = int(np.count_nonzero(np.isnan(arr)))
    if nan == arr.size:  # nanmin would warn "All-NaN slice" on the way to the error
        raise ValueError(f"cannot read {_named(path)}: every value is NaN; save the image's real values")
    if nan:
        raise ValueError(
            f"cannot read {_named(path)}: {nan} of its {arr.size} values are NaN; fill them "
            "(e.g. np.nan_to_num(image)) or save the image's real values"
        )
    flo, fhi = float(arr.min()), float(arr.max())
    if flo < -FLOAT_SLACK or fhi > 1.0 + FLOAT_SLACK:
        raise ValueError(
            f"cannot read {_named(path)}: float values in [{flo:.6g}, {fhi:.6g}]; only floats in "
            "[0, 1] are supported, rescale the image to [0, 1] or save it as 8- or 16-bit integers "
            "(16-bit images are read through an intensity window)"
        )


def float_to_uint8(arr: np.ndarray, path: Path | str, window: Window | None = None) -> np.ndarray:
    """A float image (H, W[, C]) in [0, 1] as the 8-bit image ``round(x * 255)`` (NaN and other ranges are a
    ValueError naming ``path``): what :func:`to_uint8` (files) and a predictor (arrays) then read as they read
    that 8-bit image, through the intensity ``window`` as well, so ``raw / 255.0`` reads as ``raw``.

    A fixed ``window`` whose upper end lies above 255 (measured on deeper images, e.g. 16-bit) is a
    ValueError: a float's bit depth is unknown (``x / 65535``? ``x / 4095``?), so no 8-bit reading maps
    onto it."""
    _check_floats(arr, path)
    if window is not None and not is_per_image(window):
        top = float(np.asarray(window, dtype=np.float64).reshape(-1, 2)[:, 1].max())
        if top > 255:
            fix = (
                # An array: the caller holds (or can read) the stored integers.
                "pass the stored integer image instead (e.g. the uint16 array read from the file, or "
                "predictor.read_image(path))"
                if str(path).startswith("the ")
                else "save it as the integers it was recorded in (as the training images were)"
            )
            raise ValueError(
                f"cannot read {_named(path)}: floats in [0, 1] are read as 8 bits (round(x * 255)), but the "
                f"model's intensity window {_window_text(window)} maps values deeper than 8 bits and a "
                f"float's bit depth is unknown; {fix}"
            )
    # "float image the float64 image array in [0, 1] ..., then as it is" read garbled (trial 27).
    _log_once(
        "float",
        f"{_float_named(path)}: values in [0, 1] read as the 8-bit image round(x * 255), then as any 8-bit "
        "image is",
    )
    return _by_rows(arr, lambda rows: np.rint(np.clip(rows, 0.0, 1.0) * 255.0).astype(np.uint8))


def float_per_image(arr: np.ndarray, path: Path | str, window: Window | None) -> np.ndarray | None:
    """A float image (H, W, C) in [0, 1] through the per-image ``window``, mapped from its own values on the
    8-bit scale (``x * 255`` in float32, unrounded: the window's percentiles and ``min_span`` are on that
    scale), or None when the window is not per-image (:func:`float_to_uint8` reads it then). Its 8-bit
    reading kept a few levels of a dim image (a 16-bit acquisition saved as x / 65535, 900 levels over its
    background: 4 levels, which the window then stretched to 0..255). An 8-bit image saved as floats
    (``raw / 255.0``, float32 or float64) still reads bit for bit as ``raw``: ``float32(k / 255) * 255`` is
    ``k`` exactly for every level k. NaN and values outside [0, 1] are a ValueError naming ``path``."""
    if not is_per_image(window):
        return None
    _check_floats(arr, path)
    _log_once(
        "float-window",
        f"{_float_named(path)}: values in [0, 1] mapped from their own x * 255 by the per-image window",
    )
    return apply_window(arr, window, path)  # type: ignore[arg-type]


def to_uint8(arr: np.ndarray, path: Path | str, window: Window | None = None) -> np.ndarray:
    """Stored pixels (H, W, C) of ``path`` -> uint8, as documented in the module docstring (``window``: the
    intensity window, of integer images and of a float image's 8-bit reading, :func:`float_to_uint8`, or for
    a per-image window of its own values, :func:`float_per_image`)."""
    if arr.dtype.kind == "f":
        # One rule for every reader (training, predict, serve, the Python predictor): a float image is its
        # 8-bit reading, windowed as an 8-bit image is. It skipped the window before, so a per-image
        # window's model saw raw / 255.0 unmapped (trial 22: 3.1 % foreground against 32.5 % for raw).
        # Through a per-image window, from its own values (a dim image's gradations between 8-bit levels).
        windowed = float_per_image(arr, path, window)
        if windowed is not None:
            return windowed
        arr = float_to_uint8(arr, path, window)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * np.uint8(255)
    if arr.dtype.kind in "ui" and window is not None:
        return apply_window(arr, window, path)
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind in "ui":
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 65535:
            raise ValueError(
                f"cannot read {_named(path)}: integer values {lo}..{hi} do not fit 16 bits; "
                "convert it to an 8- or 16-bit image"
            )
        _log_once("16bit", f"16-bit image {path} reduced to 8 bits with value >> 8 (no intensity window)")
        return (arr.astype(np.uint16) >> 8).astype(np.uint8)
    raise ValueError(
        f"cannot read {_named(path)}: unsupported pixel type {arr.dtype}; save it as 8- or 16-bit integers "
        "or as floats in [0, 1]"
    )


# What a channel stored as alpha may really be, by the channel count (2: gray + alpha, 4: RGB + alpha; only
# a TIFF holds 4 bands otherwise, so a 4-channel PNG's alpha is taken as one).
_DATA_CHANNEL = {2: "a second microscope channel", 4: "a near-infrared band"}


def _opaque(arr: np.ndarray) -> float:
    """The alpha value of an opaque pixel in ``arr``'s type: its maximum (255 for uint8), 1.0 for floats."""
    return float(np.iinfo(arr.dtype).max) if arr.dtype.kind in "ui" else 1.0


def _drop_opaque_alpha(arr: np.ndarray, path: Path, file: bool = True) -> np.ndarray:
    """``arr`` (H, W, C) without its last channel, an alpha that must be opaque everywhere (transparent pixels
    have no defined colour). ``file``: ``arr`` was read from the file ``path`` (its refusal then says how to
    store a data channel so that it is not read as alpha)."""
    if not np.all(arr[..., -1] == _opaque(arr)):
        raise ValueError(
            f"{_named(path)} has an alpha channel with transparent pixels; flatten it onto a background "
            "(e.g. save it as RGB) so the colour of transparent pixels is defined"
            + (
                # A file only: an array's channels are the caller's to choose. A 4-band TIFF written with
                # tifffile's defaults marks its near-infrared band as alpha (a remote-sensing trial), and
                # "save it as RGB" would drop the band the classes differ in.
                f"; if that channel is data ({_DATA_CHANNEL.get(arr.shape[2], 'a band')}), save it as a "
                "TIFF whose samples are all bands (tifffile.imwrite(path, array_hwc, "
                "photometric='minisblack', planarconfig='contig'))"
                if file and (arr.shape[2] == 2 or path.suffix.lower() in (".tif", ".tiff"))
                else ""
            )
        )
    _log_once("alpha", f"opaque alpha channel of {path} dropped")
    return arr[..., :-1]


def drop_array_alpha(arr: np.ndarray, channels: int, name: str) -> np.ndarray:
    """An image array (H, W, C) given in place of a file, its alpha handled as a file's is
    (:func:`read_raw_image`): an opaque alpha channel dropped, a transparent one refused (ValueError naming
    ``name``, e.g. "the uint8 image array").

    An array carries no mode to say which channel is alpha: the last of 2 (gray + alpha) or 4 (RGBA) counts
    as alpha only when the model reads another count than ``channels``, so a 2- or 4-channel model's data
    channel is never taken for one. Opaque is the type's maximum (255 for uint8, 1.0 for floats), as for
    files. Two channels whose second is not opaque are refused by their count (two stains, more likely than a
    transparent gray image), naming the model's count and how to get there.
    """
    if arr.ndim != 3 or arr.shape[2] not in (2, 4) or arr.shape[2] == channels:
        return arr
    if arr.shape[2] == 2 and not np.all(arr[..., 1] == _opaque(arr)):
        # Two channels whose second is not an opaque alpha: two stains far more often than gray + alpha
        # (trial 22), so the count is named, with the model's, not a transparency to flatten.
        fix = {
            1: "pass one channel (e.g. image[..., 0])",
            3: "pass one channel (e.g. image[..., 0], converted to RGB) or stack three (e.g. "
            "np.dstack([image, np.zeros_like(image[..., :1])]))",
        }.get(channels, f"give it {channels} channels")
        raise ValueError(f"{name} has 2 channels but the model expects {channels}; {fix}")
    return _drop_opaque_alpha(arr, Path(name), file=False)


def convert_channels(arr: np.ndarray, channels: int) -> np.ndarray:
    """(H, W, 1) gray -> RGB (replicated) or (H, W, 3) RGB -> gray (ITU-R 601 luma), in ``arr``'s own
    integer type (uint8 here; the fingerprint converts stored 16-bit pixels too)."""
    if arr.shape[2] == 1 and channels == 3:
        return np.repeat(arr, 3, axis=2)
    if arr.shape[2] == 3 and channels == 1:
        # ITU-R 601 luma, the same weights as Pillow's convert("L").
        luma = arr.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return np.clip(np.rint(luma), 0, np.iinfo(arr.dtype).max).astype(arr.dtype)[..., None]
    raise ValueError(f"cannot convert {arr.shape[2]} channels to {channels}")


def read_raw_image(path: str | Path) -> np.ndarray:
    """The stored pixel values of an image as (H, W, C) in the file's own type (uint8, uint16, ...).

    Palette, CMYK and 1-bit images are converted as :func:`read_image` converts them, and an opaque alpha
    channel is dropped (a transparent one is refused); nothing else is. C is any channel count: a TIFF's
    samples or ImageJ channels (two microscope channels, multispectral bands) are channels.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"image path must be a str or Path, got {path!r}; for an array, predict it directly")
    path = Path(path)
    arr, alpha = _load_raw(path)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise ValueError(f"cannot read image {path}: got an array of shape {arr.shape}; expected a 2-D image")
    if alpha and arr.shape[2] > 1:
        arr = _drop_opaque_alpha(arr, path)
    return arr


def read_image(
    path: str | Path, channels: int | None = None, *, convert: bool = False, window: Window | None = None
) -> np.ndarray:
    """Read an image as uint8 (H, W, C): 1 (gray), 3 (RGB) or any other count of channels (a TIFF's).

    Args:
        path: image file (PNG, JPEG, TIFF, BMP).
        channels: expected channel count (the model's ``in_channels``); a mismatch is a ValueError unless
            ``convert`` is True, which replicates gray to RGB or takes the ITU-R 601 luma of RGB.
        convert: opt in to the gray<->RGB conversion (e.g. Oxford Pet has a few grayscale JPEGs).
        window: the intensity window (per channel ``[lo, hi]`` of stored values, or one for all channels)
            that maps integer pixels onto 0..255 (:func:`apply_window`); None: 16-bit values ``>> 8``.
    """
    return image_from_raw(read_raw_image(path), path, channels, convert=convert, window=window)


def image_from_raw(
    raw: np.ndarray,
    path: str | Path,
    channels: int | None = None,
    *,
    convert: bool = False,
    window: Window | None = None,
) -> np.ndarray:
    """:func:`read_image` of stored pixels already read with :func:`read_raw_image` (``path`` names the file
    in errors): for a caller that chooses the window from the stored values without reading the file twice."""
    path = Path(path)
    stored = raw.shape[2]
    if channels is not None and stored != channels and not (convert and channels in (1, 3)):
        # Refused before the intensity window is applied: a model's window has one [lo, hi] per model channel,
        # and its own refusal would blame the window's pair count for the image's channel count.
        fix = {1: "convert the image (e.g. to grayscale)", 3: "convert the image (e.g. to RGB)"}.get(
            channels, f"save the image with {channels} channels"
        )
        raise ValueError(
            f"{path} has {stored} channels but the model expects {channels}; {fix}, or when training, set "
            f"in_channels={stored}"
        )
    arr = to_uint8(raw, path, window)
    if channels is not None and stored != channels:  # convert: between gray and RGB only (checked above)
        _log_once(f"convert{channels}", f"image {path} converted from {stored} to {channels} channels")
        arr = convert_channels(arr, channels)
    return as_model_input(np.ascontiguousarray(arr))


class ModelInput(np.ndarray):
    """uint8 (H, W, C) pixels as a model takes them: a file read with its intensity window applied
    (:func:`read_image`, :func:`image_from_raw`, ``predict``'s and ``serve``'s reading). Prediction takes
    such an array as it is. A plain uint8 array, for a model with a per-image window, is judged by its
    histogram (``window_output_like``): a file read with PIL is mapped, the window's output is not; a
    16-bit image whose dim channel was stretched to the window's ``min_span`` looked like stored pixels and
    was mapped a second time, near black (trial 26: 0 nuclei found of 15 in a correctly saved image)."""


def as_model_input(image: np.ndarray) -> np.ndarray:
    """``image`` (uint8 (H, W, C), the model's input) marked as such: a :class:`ModelInput` view, no copy."""
    return image.view(ModelInput)


def is_model_input(image: object) -> bool:
    """Whether ``image`` is a uint8 array marked as the model's input (:func:`as_model_input`)."""
    return isinstance(image, ModelInput) and image.dtype == np.uint8


# ------------------------------------------------------------------------------------- intensity windows

# Percentiles of the pooled training pixels that bound the window: wide enough that bright objects keep their
# gradations (a nucleus's inner texture), narrow enough that a few hot pixels do not squeeze every other
# value into a handful of levels (what a plain min-max would do).
WINDOW_PERCENTILES = (0.05, 99.95)
# A per-image window's percentiles: csbdeep/StarDist's normalize(x, 1, 99.8), the field's usual choice for
# microscopy whose exposure differs from image to image.
PER_IMAGE_PERCENTILES = (1.0, 99.8)
_PER_IMAGE_PIXELS = 1 << 22  # pixels a per-image window's percentiles are measured on (a strided subsample)
# Images per estimate (evenly spaced over the given list) and pixels per image (a strided subsample).
WINDOW_IMAGES = 48
_WINDOW_PIXELS = 65536


def per_image_window(
    percentiles: Sequence[float] = PER_IMAGE_PERCENTILES, min_span: float | Sequence[float] | None = None
) -> dict[str, Any]:
    """The window that maps each image by its own ``percentiles`` (per channel) onto 0..255.

    ``min_span`` (stored values): the narrowest ``hi - lo`` a window may have, one number for every channel
    or a list with one per channel. An image whose percentiles lie closer in a channel (an empty field, a
    background tile: nothing but noise) is mapped there through a window this wide from its ``lo``, so its
    noise is not stretched to full contrast; the plan sets it per channel to the narrowest span of that
    channel among the training images, which it then leaves unchanged (a dim stain's channel has its own,
    narrower spans than a bright one's)."""
    window: dict[str, Any] = {"percentiles": [float(percentiles[0]), float(percentiles[1])]}
    if min_span is not None:
        window["min_span"] = _checked_min_span(min_span)
    return window


def is_per_image(window: Window | None) -> bool:
    """Whether ``window`` maps each image by its own percentiles (:func:`per_image_window`)."""
    return isinstance(window, Mapping)


def window_percentiles(window: Mapping[str, Any]) -> tuple[float, float]:
    """(lo, hi) of a per-image window ``{"percentiles": [lo, hi]}``, checked: 0 <= lo < hi <= 100."""
    given = window.get("percentiles")
    known = set(window) <= {"percentiles", "min_span"}
    if known and isinstance(given, (list, tuple)) and len(given) == 2:
        try:
            low, high = float(given[0]), float(given[1])
        except (TypeError, ValueError):
            low, high = 0.0, -1.0
        if 0.0 <= low < high <= 100.0:
            return low, high
    raise ValueError(
        f"a per-image intensity window is {{'percentiles': [lo, hi]}} with 0 <= lo < hi <= 100 (and "
        f"optionally 'min_span' > 0), got {dict(window)!r}; e.g. {per_image_window()}"
    )


def _is_span(value: Any) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float, np.integer, np.floating))
        and bool(np.isfinite(value) and value > 0)
    )


def _checked_min_span(value: Any) -> float | list[float]:
    """A ``min_span`` as a window keeps it: a float (every channel) or a list of floats (one per channel)."""
    if _is_span(value):
        return float(value)
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) and all(_is_span(v) for v in value):
        return [float(v) for v in value]
    raise ValueError(
        "a per-image intensity window's min_span must be a number > 0 (every channel) or a list of numbers "
        f"> 0 (one per channel), got {value!r}"
    )


def window_min_span(window: Mapping[str, Any]) -> float | list[float]:
    """The narrowest span (stored values) of a per-image window (:func:`per_image_window`): one number for
    every channel, or a list with one per channel, each at least 1; 1 when it records none (a model planned
    before the rule: only a flat channel was widened)."""
    value = _checked_min_span(window.get("min_span", 1.0))
    return max(value, 1.0) if isinstance(value, float) else [max(v, 1.0) for v in value]


def window_min_spans(window: Mapping[str, Any], channels: int, path: Path | str = "image") -> np.ndarray:
    """The per-image ``window``'s narrowest span for each of an image's ``channels`` (float64, (C,)): a
    number (a model folder written before spans were per channel) or a one-value list serves every channel.
    A gray image read by a model of several channels (``convert_channels``: it is replicated to each) takes
    the narrowest of the model's spans. Any other count is a ValueError naming ``path``."""
    value = window_min_span(window)
    spans = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if len(spans) == channels:
        return spans
    if len(spans) == 1:
        return np.repeat(spans, channels)
    if channels == 1:
        return spans.min(keepdims=True)
    raise ValueError(
        f"image {path} has {channels} channels but the per-image intensity window's min_span has "
        f"{len(spans)} values {value}; give one per channel (or one number for all)"
    )


def _window_arrays(window: Window, arr: np.ndarray, path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """Per channel (lo, hi) of stored values that ``window`` maps onto 0..255 for the image ``arr``."""
    channels = arr.shape[2]
    if isinstance(window, Mapping):
        low, high = window_percentiles(window)
        # Percentiles of a strided subsample on large images: a slide of 20k x 20k would otherwise be copied
        # to float and sorted whole (GBs) for two numbers that ~4M pixels give as well.
        step = max(1, int(np.ceil(np.sqrt(arr.shape[0] * arr.shape[1] / _PER_IMAGE_PIXELS))))
        flat = arr[::step, ::step].reshape(-1, channels).astype(np.float32)
        if arr.dtype.kind == "f":  # a float image in [0, 1]: on the 8-bit scale its min_span is measured on
            flat *= np.float32(255.0)
        lo, hi = np.percentile(flat, [low, high], axis=0).astype(np.float64)
        # At least min_span wide: a flat channel maps to black, not a division by zero, and a tile of
        # background noise stays dark instead of being stretched into false objects.
        # Each channel by its own span: a dim stain's channel is narrower in every training image.
        return lo, np.maximum(hi, lo + window_min_spans(window, channels, path))
    pairs = np.asarray(window, dtype=np.float64).reshape(-1, 2)
    if len(pairs) == 1:
        pairs = np.repeat(pairs, channels, axis=0)
    if len(pairs) != channels:
        raise ValueError(
            f"image {path} has {channels} channels but the intensity window has {len(pairs)} "
            "[lo, hi] pairs; give one pair per channel (or one for all)"
        )
    lo, hi = pairs[:, 0], pairs[:, 1]
    if np.any(hi <= lo):
        raise ValueError(f"intensity window {pairs.tolist()} needs lo < hi in every channel")
    return lo, hi


def apply_window(arr: np.ndarray, window: Window, path: Path | str = "image") -> np.ndarray:
    """Stored values (H, W, C) -> uint8: ``(value - lo) * 255 / (hi - lo)`` per channel, rounded, clipped;
    (lo, hi) fixed by the window, or the image's own percentiles for a per-image window. A float image's
    values (in [0, 1]) are taken on the 8-bit scale, ``value * 255`` (:func:`float_per_image`)."""
    lo, hi = _window_arrays(window, arr, path)
    scale = (255.0 / (hi - lo)).astype(np.float32)
    low = lo.astype(np.float32)
    unit = np.float32(255.0) if arr.dtype.kind == "f" else None

    def mapped(rows: np.ndarray) -> np.ndarray:
        values = rows.astype(np.float32)
        if unit is not None:
            values *= unit
        return np.clip(np.rint((values - low) * scale), 0, 255).astype(np.uint8)

    return _by_rows(arr, mapped)


# Pixel arithmetic on large images runs on bands of about this many values: the float32 temporaries of a
# whole 8000 x 6000 4-band scene were about three 768 MB copies at once (trial 19: 2.7 GB to read a 384 MB
# file), a band's are a few MB. The values are the same (each is computed on its own).
_BAND_VALUES = 1 << 22


def _by_rows(arr: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``fn`` (a per-value uint8 map of (h, W[, C]) rows) applied to ``arr`` (H, W[, C]) in bands of rows."""
    rows = max(1, _BAND_VALUES // max(1, int(np.prod(arr.shape[1:]))))
    if arr.shape[0] <= rows:
        return fn(arr)
    out = np.empty(arr.shape, dtype=np.uint8)
    for r in range(0, arr.shape[0], rows):
        out[r : r + rows] = fn(arr[r : r + rows])
    return out


# When an image's stored values do not fit a model's fixed window (window_mismatch): this share of one
# channel's pixels below lo or above hi (mapped to 0 or 255 alike), or values that fill no more than this
# lower part of the window (12-bit data in a uint16 file against a window measured on 16-bit images: 4095 of
# 63182, 6.5 %, all mapped to 0..17).
WINDOW_OUTSIDE_SHARE = 0.99
WINDOW_FILL_SHARE = 1 / 8
# Above the window's top a lower share is enough: the window's hi is the training pixels' 99.8th percentile,
# so an image with most of its pixels above it is mapped mostly to white (a 16-bit image saved at full scale,
# 0..65535, against a window measured on 3000..13000: 97% above). Below lo stays at WINDOW_OUTSIDE_SHARE:
# fluorescence and dark-field images are mostly background near lo, and a dimmer field is no error.
WINDOW_ABOVE_SHARE = 0.5
_WINDOW_FIX = "save the image at the bit depth (and value range) the model was trained on (not rescaled here)"


def _per_image_mismatch(image: np.ndarray, window: Mapping[str, Any]) -> str | None:
    """Why integer pixels ``image`` cannot fit a per-image ``window``: their type's whole range is narrower
    than the window's ``min_span`` in a channel (an 8-bit image for a model trained on deeper ones: its
    window is stretched to that span, near black; trial 26's 8-bit copy found 0 nuclei, unsaid); else None."""
    if image.dtype.kind not in "ui" or not image.size:
        return None
    arr = image if image.ndim == 3 else image[..., None]
    try:
        spans = window_min_spans(window, arr.shape[2])
    except ValueError:
        return None  # a channel count the window cannot read: apply_window says so, naming the file
    top = int(np.iinfo(image.dtype).max)
    if spans.max() <= top:
        return None
    flat = arr.reshape(-1, arr.shape[2])
    if arr.shape[2] == 1 or np.all(spans == spans[0]):
        where, values, span = "", flat, float(spans[0])
    else:  # the channel of the widest span: the darkest reading
        c = int(np.argmax(spans))
        where, values, span = f"channel {c}: ", flat[:, c], float(spans[c])
    vmin, vmax = int(values.min()), int(values.max())
    bits = 8 * arr.dtype.itemsize
    seen = int(np.clip(np.rint((vmax - vmin) * 255.0 / span), 0, 255))
    return (
        f"{where}{bits}-bit values {vmin}..{vmax} ({arr.dtype}) against the model's per-image intensity "
        f"window, at least {_number(span)} levels wide (its training images were deeper than {bits} bits, "
        f"e.g. 16-bit); the model sees at most 0..{seen} of 0..255; {_WINDOW_FIX}"
    )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _window_text(window: Window) -> str:
    pairs = np.asarray(window, dtype=np.float64).reshape(-1, 2)
    texts = [f"[{_number(a)}, {_number(b)}]" for a, b in pairs]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"


def window_mismatch(image: np.ndarray, window: Window | None) -> str | None:
    """Why the stored pixels ``image`` (H, W, C) are far outside the fixed intensity ``window`` that maps them
    (per channel ``[lo, hi]``), or None when they fit (or there is no fixed window, or float pixels: their
    8-bit reading is refused against a deeper window, :func:`float_to_uint8`).

    The reason is one line for a note, without the file name: the values and dtype, the window, what the
    model sees and what to do. Far outside means: the image's type cannot reach ``hi`` (an 8-bit image
    against a window of 16-bit values), or at least ``WINDOW_OUTSIDE_SHARE`` of one channel's pixels lie
    below ``lo`` (``WINDOW_ABOVE_SHARE`` above ``hi``: a deeper image saved at full scale), or its values
    fill at most ``WINDOW_FILL_SHARE`` of the window from ``lo`` (12-bit data in a uint16 file against a
    16-bit window). Either way the model sees a near-black (or
    white) image and likely predicts all background; the image is not rescaled, since only the user knows
    how it was saved. Without a window (a model trained on 8-bit images) a deeper integer image is read with
    the fixed ``>> 8`` rule, whose window is 0..65535: 12-bit data in it is named too.
    """
    shifted = window is None and image.dtype.kind in "ui" and image.dtype.itemsize == 2
    if shifted:
        window = [[0, 65535]]  # to_uint8's >> 8
    if isinstance(window, Mapping):
        return _per_image_mismatch(image, window)
    if window is None or image.dtype.kind not in "uib":
        return None
    arr = image if image.ndim == 3 else image[..., None]
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * np.uint8(255)  # as to_uint8 reads it
    lo, hi = _window_arrays(window, arr, "image")
    flat = arr.reshape(-1, arr.shape[2])
    if not flat.size:
        return None
    vmin, vmax = flat.min(axis=0), flat.max(axis=0)
    # Shares on a strided subsample: a 20k x 20k slide would otherwise make full-size boolean copies.
    step = max(1, int(np.ceil(np.sqrt(arr.shape[0] * arr.shape[1] / _PER_IMAGE_PIXELS))))
    sample = arr[::step, ::step].reshape(-1, arr.shape[2])
    below, above = (sample < lo).mean(axis=0), (sample > hi).mean(axis=0)
    seen = np.clip(np.rint((np.stack([vmin, vmax]) - lo) * 255.0 / (hi - lo)), 0, 255).astype(int)
    top = np.iinfo(arr.dtype).max
    for c in range(arr.shape[2]):
        where = f"channel {c}: " if arr.shape[2] > 1 else ""
        values = f"{where}values {int(vmin[c])}..{int(vmax[c])} ({arr.dtype})"
        against = (
            "read with >> 8 (the model was trained on 8-bit images)"
            if shifted
            else f"against the model's intensity window {_window_text(window)}"
        )
        low, high = seen[0, c], seen[1, c]
        sees = f"the model sees {low}" + ("" if low == high else f"..{high}") + " of 0..255"
        if top < hi[c]:
            bits = 8 * arr.dtype.itemsize
            return (
                f"{bits}-bit {values} {against}, whose upper end {_number(hi[c])} needs more than {bits} "
                f"bits (a model trained on deeper images); {sees}; {_WINDOW_FIX}"
            )
        share, side = (below[c], "below") if below[c] >= above[c] else (above[c], "above")
        if share >= (WINDOW_OUTSIDE_SHARE if side == "below" else WINDOW_ABOVE_SHARE):
            return f"{values} {against}: {share:.1%} of the pixels lie {side} it ({sees}); {_WINDOW_FIX}"
        if vmax[c] >= lo[c] and vmax[c] - lo[c] <= WINDOW_FILL_SHARE * (hi[c] - lo[c]):
            fill = (vmax[c] - lo[c]) / (hi[c] - lo[c])
            return (
                f"{values} {against}: they fill only its lower {fill:.1%} ({sees}; data of fewer bits in a "
                f"{8 * arr.dtype.itemsize}-bit file?); {_WINDOW_FIX}; a field that is merely dark or empty "
                "needs no fix"
            )
    return None


def window_from_pixels(pixels: np.ndarray) -> list[list[float]]:
    """The intensity window (per channel [lo, hi]) of pooled stored pixel values (N, C)."""
    lo, hi = np.percentile(pixels.astype(np.float64), WINDOW_PERCENTILES, axis=0)
    hi = np.maximum(hi, lo + 1.0)  # a constant channel still gets a valid (lo < hi) window
    return [[float(np.floor(a)), float(np.ceil(b))] for a, b in zip(lo, hi)]


def bit_depth(arr: np.ndarray) -> int:
    """8 for uint8/bool images, 16 for uint16, 32 for 32-bit integers, 0 for floats."""
    if arr.dtype.kind == "f":
        return 0
    return 8 if arr.dtype.itemsize == 1 else 8 * arr.dtype.itemsize


def deep_bit_depth(depths: Mapping[int, str | Path]) -> int | None:
    """The bit depth of images deeper than 8 bits (``depths``: bit depth -> an example file), None when
    they are all 8-bit (or float); a ValueError naming two files when 8-bit (or float: read as 8 bits) and
    deeper images are mixed (one intensity window cannot map both ranges)."""
    deep = sorted(d for d in depths if d > 8)
    if not deep:
        return None
    for shallow, kind in ((8, "8-bit"), (0, "float")):  # a float image is read as 8 bits (float_to_uint8)
        if shallow in depths:
            raise ValueError(
                f"images mix bit depths: {depths[shallow]} is {kind}, {depths[deep[0]]} is {deep[0]}-bit; "
                "save them all with one bit depth (one intensity window cannot map both ranges)"
            )
    return deep[-1]


def estimate_window(paths: Sequence[str | Path], max_images: int = WINDOW_IMAGES) -> list[list[float]] | None:
    """The intensity window of ``paths`` (up to ``max_images`` evenly spaced), or None when they are 8-bit.

    Raises ValueError naming two files when the images mix 8-bit and deeper integer pixels (one window
    cannot map both ranges; save them with one bit depth).
    """
    paths = list(paths)
    if len(paths) > max_images:
        paths = [paths[round(i * (len(paths) - 1) / (max_images - 1))] for i in range(max_images)]
    samples: list[np.ndarray] = []
    depths: dict[int, Path] = {}
    for path in paths:
        raw = read_raw_image(path)
        depths.setdefault(bit_depth(raw), Path(path))
        stride = max(1, int(np.sqrt(raw.shape[0] * raw.shape[1] / _WINDOW_PIXELS)))
        samples.append(raw[::stride, ::stride].reshape(-1, raw.shape[2]))
    if deep_bit_depth(depths) is None:
        return None
    if len({s.shape[1] for s in samples}) > 1:
        return None  # mixed channel counts: the dataset's own check names the files
    return window_from_pixels(np.concatenate(samples))


# Pillow modes read as one channel (an "LA" alpha is dropped when the image is read).
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def oriented_header(path: str | Path, *, verify: bool = False) -> tuple[int, int, int, int]:
    """(H, W, C) from the file header without decoding the pixels, C as :func:`read_image` gives it (alpha
    not counted, palette as RGB, a TIFF's samples and ImageJ channels counted; a TIFF stack is refused).
    H and W are the shown size: an EXIF orientation of 5..8 (turned by 90 degrees) swaps them, as
    :func:`read_image` reads the image upright.

    The fourth item is the EXIF orientation applied (1..8; 1: stored upright, or a TIFF read with
    tifffile). ``verify``: also check PNGs for truncation/CRC errors with Pillow's ``verify``.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"cannot read image {path}: no such file")
    try:
        with Image.open(path) as img:
            width, height = img.size
            mode = img.mode
            tiff = _needs_tifffile(img)
            orientation = 1 if tiff else _orientation(img)
            if orientation >= 5:  # 5..8 turn the image by 90 degrees
                width, height = height, width
            if verify and not tiff:
                img.verify()
    except Image.DecompressionBombError as err:
        raise _too_large(path, err) from err
    except (OSError, SyntaxError, ValueError) as err:
        if path.suffix.lower() in _TIFF_SUFFIXES:
            try:
                return (*_tiff_header(path), 1)
            except _StackError:
                raise
            except Exception as tiff_err:  # tifffile's own errors carry no file name
                raise _corrupt(path, f"{err}; tifffile: {tiff_err}") from tiff_err
        raise _corrupt(path, err) from err
    if tiff:
        return (*_tiff_header(path), 1)
    return height, width, 1 if mode in _GRAY_MODES else 3, orientation


def image_header(path: str | Path, *, verify: bool = False) -> tuple[int, int, int]:
    """(H, W, C) from the file header without decoding the pixels (:func:`oriented_header`: the shown size,
    C as :func:`read_image` gives it)."""
    height, width, channels, _ = oriented_header(path, verify=verify)
    return height, width, channels


def image_info(path: str | Path) -> tuple[int, int, int]:
    """:func:`image_header` of ``path``, PNGs also checked for truncation/CRC errors (Pillow's ``verify``)."""
    return image_header(path, verify=True)


# ----------------------------------------------------------------------------------------------------- masks

# How a config declares binary masks: the fix a 0/255 mask read as class indices gets unless its caller
# names its own option (:class:`LooksBinaryError`).
LOOKS_BINARY_FIX = "set mask_kind: binary (data.options.mask_kind=...)"


class LooksBinaryError(ValueError):
    """A 0/255 mask read as class indices (the most common slip, issue 12). :func:`read_mask` says the config
    key that fixes it; a command with its own option says that instead (``with_fix``): the rule of when a
    mask looks binary stays here, the wording of the fix is the caller's.

    Made from the whole message (``str(exc)``), as pickling and a DataLoader worker's re-raise make it again;
    ``problem``: the message without its fix (:meth:`of`).
    """

    def __init__(self, message: str, problem: str = "") -> None:
        super().__init__(message)
        self.problem = problem or message

    @classmethod
    def of(cls, problem: str, fix: str = LOOKS_BINARY_FIX) -> LooksBinaryError:
        """``problem`` (which mask holds which values) followed by ``fix``."""
        return cls(f"{problem}; values 0/255 look like a binary mask: {fix}", problem)

    def with_fix(self, fix: str) -> LooksBinaryError:
        """The same error naming ``fix`` (a command line's option) as what to do."""
        return self.of(self.problem, fix)


@dataclass(frozen=True)
class MaskEncoding:
    """How the values stored in a mask file map to class indices.

    Attributes:
        kind: "index" (the stored value is the class index), "binary" (0/255 or 0/1 -> class 0/1),
            "palette" (RGB colour per class, ``colors``), "remap" (stored value -> class, ``mapping``;
            a class may be IGNORE_INDEX), "instances" (instance label images, e.g. 16-bit: 0 -> class 0,
            every other value -> class 1; or the classes of ``instance_target``).
        num_classes: number of classes the model predicts; valid class indices are 0..num_classes-1.
        ignore_values: stored values that become IGNORE_INDEX (e.g. CamVid 11 = void). For "palette",
            use ``ignore_colors`` instead.
        colors: class index -> (R, G, B), for kind "palette".
        ignore_colors: RGB colours mapped to IGNORE_INDEX, for kind "palette".
        mapping: stored value -> class index (or IGNORE_INDEX), for kind "remap".
        rois: mask file -> region-of-interest file (same size; 0 outside): pixels outside the ROI become
            IGNORE_INDEX, so the loss and the metrics skip them (e.g. a retina's field of view).
        instance_target: for kind "instances": the class map derived from each label image
            (:func:`unetkit.data.instance_targets.instance_target`): "semantic" (object / background),
            "boundary" (background / interior / boundary) or "energy" (background / energy levels 1..K);
            ``instance_params`` its parameters (``radius``, ``levels``), ``num_classes`` its class count.
    """

    kind: str
    num_classes: int
    ignore_values: tuple[int, ...] = ()
    colors: Mapping[int, tuple[int, int, int]] | None = None
    ignore_colors: tuple[tuple[int, int, int], ...] = ()
    mapping: Mapping[int, int] | None = field(default=None)
    rois: Mapping[str, str] | None = None
    instance_target: str = "semantic"
    instance_params: Mapping[str, object] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", look_up_option(self.kind, MASK_KINDS, "mask encoding kind"))
        if not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {self.num_classes!r}")
        object.__setattr__(self, "ignore_values", tuple(int(v) for v in self.ignore_values))
        if self.kind != "instances" and (self.instance_target != "semantic" or self.instance_params):
            raise ValueError(
                f"instance_target={self.instance_target!r} needs instance label masks (mask kind "
                f"'instances'), got mask kind {self.kind!r}; drop instance_target or use instance labels"
            )
        if self.kind == "instances" and (self.instance_target != "semantic" or self.instance_params):
            # Imported here: the onnxruntime prediction path reads semantic masks without SciPy.
            from unetkit.data.instance_targets import check_instance_target, instance_target_classes

            target, params = check_instance_target(self.instance_target, self.instance_params)
            object.__setattr__(self, "instance_target", target)
            object.__setattr__(self, "instance_params", params)
            expected = len(instance_target_classes(target, params))
            if self.num_classes != expected:
                raise ValueError(
                    f"mask encoding 'instances' with instance_target {target!r} has {expected} classes, got "
                    f"num_classes={self.num_classes}; drop num_classes (or set it to {expected})"
                )
        elif self.kind in ("binary", "instances") and self.num_classes != 2:
            raise ValueError(f"mask encoding {self.kind!r} needs num_classes=2, got {self.num_classes}")
        if self.kind == "palette":
            if not self.colors:
                raise ValueError("mask encoding 'palette' needs colors={class_index: (R, G, B), ...}")
            bad = sorted(c for c in self.colors if not 0 <= c < self.num_classes)
            if bad:
                raise ValueError(f"palette colors name classes {bad} outside 0..{self.num_classes - 1}")
        if self.kind == "remap":
            if not self.mapping:
                raise ValueError("mask encoding 'remap' needs mapping={stored_value: class_index, ...}")
            bad = sorted(
                c for c in self.mapping.values() if not (0 <= c < self.num_classes or c == IGNORE_INDEX)
            )
            if bad:
                raise ValueError(
                    f"remap mapping targets {bad} are outside 0..{self.num_classes - 1} and not "
                    f"IGNORE_INDEX={IGNORE_INDEX}"
                )
        if self.num_classes > IGNORE_INDEX:
            raise ValueError(f"num_classes={self.num_classes} collides with IGNORE_INDEX={IGNORE_INDEX}")


def _lut_for(encoding: MaskEncoding, size: int) -> np.ndarray:
    """Lookup table stored value -> class (int64); -1 marks values that are not allowed."""
    lut = np.full(size, -1, dtype=np.int64)
    if encoding.kind == "index":
        n = min(encoding.num_classes, size)
        lut[:n] = np.arange(n)
    elif encoding.kind == "remap":
        assert encoding.mapping is not None  # checked in __post_init__
        for value, cls in encoding.mapping.items():
            if 0 <= value < size:
                lut[value] = cls
    for value in encoding.ignore_values:
        if 0 <= value < size:
            lut[value] = IGNORE_INDEX
    return lut


def _present(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values of a uint8/uint16 array (bincount is much faster than np.unique here)."""
    if values.dtype in (np.uint8, np.uint16):
        return np.flatnonzero(np.bincount(values.ravel(), minlength=1))
    return np.unique(values)


def mask_palette(path: str | Path) -> np.ndarray | None:
    """The palette (256, 3) uint8 of a palette ('P') mask whose indices may be its classes (a PNG, TIFF or
    BMP; missing entries black, as Pillow's ``convert("RGB")`` shows them); None for any other file (GIF
    masks are always read by colour)."""
    try:
        with Image.open(path) as img:
            if img.mode != "P" or img.format == "GIF":
                return None
            flat = list(img.getpalette("RGB") or [])
    except (OSError, SyntaxError, ValueError):
        return None
    flat = (flat + [0] * 768)[:768]
    return np.asarray(flat, dtype=np.uint8).reshape(256, 3)


def _transparent_mask(arr: np.ndarray, path: Path) -> None:
    """A ValueError for a mask whose alpha (the last channel of ``arr``) is below opaque anywhere: the colour
    under a transparent pixel is hidden from whoever drew the mask, so it is no class."""
    transparent = int(np.count_nonzero(arr[..., -1] < 255))
    if transparent:
        raise ValueError(
            f"mask {path} has {transparent} transparent pixels (alpha below 255), whose hidden colour would "
            "become a class; flatten the masks onto their background colour, or save them without alpha "
            "(RGB or gray)"
        )


def _read_mask_array(path: Path, *, colour: bool = False) -> np.ndarray:
    """Raw stored mask values: (H, W) integers, or (H, W, 3) uint8 for colour masks, upright (the EXIF
    orientation applied, as for images). A palette ('P') mask keeps its indices, unless ``colour``: then it
    is read through its palette (``convert("RGB")``), as it is shown. An alpha channel must be opaque."""
    if not path.is_file():
        raise ValueError(f"cannot read mask {path}: no such file")
    try:
        with Image.open(path) as opened:
            orientation = _orientation(opened)
            if opened.format in JPEG_FORMATS:
                return _jpeg_binary_mask(opened, path, orientation)
            opened.load()
            img = _upright(opened, orientation)
            if img.mode == "P" and (colour or opened.format == "GIF"):
                # GIF stores every image with a palette in arbitrary order: its colours (gray values), not
                # its indices, are the labels; so are a colour mask's (discovery decides, detect_encoding).
                # read_mask reduces gray-as-RGB to one channel. A transparent palette entry shows no colour.
                if opened.format != "GIF" and "transparency" in img.info:
                    _transparent_mask(np.asarray(img.convert("RGBA")), path)
                arr = np.asarray(img.convert("RGB"))
            elif img.mode in ("P", "L", "I;16", "I;16B", "I;16L", "I", "1", "F"):
                # For 'P' masks the palette index is the class (e.g. Pascal VOC), so do not convert to RGB.
                # 'F' (float32) is checked below to hold whole numbers (_integer_mask).
                arr = np.asarray(img)
                if img.mode == "1":
                    arr = arr.astype(np.uint8)
            elif img.mode in ("RGB", "RGBA"):
                arr = np.asarray(img)
                if img.mode == "RGBA":
                    _transparent_mask(arr, path)
                arr = arr[..., :3]
            elif img.mode == "LA":
                arr = np.asarray(img)
                _transparent_mask(arr, path)
                arr = arr[..., 0]
            else:
                raise ValueError(
                    f"cannot read mask {path}: unsupported image mode {img.mode!r}; save the mask as 8- or "
                    "16-bit gray (class values), palette or RGB (colours)"
                )
    except Image.DecompressionBombError as err:
        raise _too_large(path, err, "mask") from err
    except (OSError, SyntaxError) as err:
        if path.suffix.lower() not in _TIFF_SUFFIXES:
            raise _corrupt_mask(path, err) from err
        import tifffile

        try:
            arr = np.asarray(tifffile.imread(path))
        except Exception as tiff_err:  # truncated data raises zlib/ValueError errors without a file name
            raise _corrupt_mask(path, f"{err}; tifffile: {tiff_err}") from tiff_err
    return _integer_mask(arr, path)


def _integer_mask(arr: np.ndarray, path: Path) -> np.ndarray:
    """``arr`` as stored integers: a float mask (ImageJ/Fiji and NumPy pipelines save labels as float32) whose
    values are all whole numbers in 0..65535 becomes uint16; any other float mask is a ValueError."""
    if arr.dtype.kind in "ui":
        return arr
    if arr.dtype.kind == "b":
        return arr.astype(np.uint8)
    if arr.dtype.kind != "f":
        raise ValueError(f"mask {path} has non-integer pixel type {arr.dtype}; masks must store integers")
    finite = np.isfinite(arr)
    whole = finite & (arr == np.round(arr))
    if not whole.all():
        example = arr[~whole].flat[0]
        raise ValueError(
            f"cannot read mask {path}: it holds non-integer float values (e.g. {example:g}, {arr.dtype}); "
            "class indices and instance labels are whole numbers: save the labels as 8- or 16-bit integers"
        )
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if lo < 0 or hi > 65535:
        raise ValueError(
            f"cannot read mask {path}: it holds float values {lo:g}..{hi:g}, outside 0..65535; save the "
            "labels as 8- or 16-bit integers (relabel instances 1..N)"
        )
    # uint16 whatever the range: a float label image is read as a 16-bit one (discovery then takes values
    # above the small class indices for instance labels, as it does for 16-bit masks).
    return arr.astype(np.uint16)


# Pillow's names of JPEG data (MPO: a camera's multi-picture JPEG), told by the content, not the suffix.
JPEG_FORMATS = ("JPEG", "MPO")


def is_jpeg(path: str | Path) -> bool:
    """Whether ``path`` holds JPEG data, whatever its suffix (a JPEG saved under a .png name is still lossy);
    reads the header only. An unreadable file is not a JPEG here: its reader names the problem."""
    try:
        with Image.open(path) as opened:
            return opened.format in JPEG_FORMATS
    except (OSError, ValueError):
        return False


# A JPEG mask is read as a binary mask when at most this share of its pixels lies further than
# JPEG_MASK_TOLERANCE from 0 and from 255 (the ringing at the object's edges).
JPEG_MASK_MID_SHARE = 0.05
JPEG_MASK_TOLERANCE = 32


def _jpeg_binary_mask(img: Image.Image, path: Path, orientation: int = 1) -> np.ndarray:
    """A JPEG mask as 0/255 uint8 when it is a binary mask smeared by the compression, else a ValueError.

    Lossy compression smears class values at every edge (a 0/1 mask gains 2, 3, ... there), so class
    indices cannot be read back from a JPEG. A 0/255 mask survives as values near 0 and near 255 (Kvasir-SEG
    ships its polyp masks as JPEGs: 0..8 and 247..255, gray or RGB): thresholded at 128 (luma) it is the
    mask that was saved. Only such a mask is read: it must hold foreground (a pixel >= 128) and at most
    ``JPEG_MASK_MID_SHARE`` of its pixels further than ``JPEG_MASK_TOLERANCE`` from both ends.
    """
    try:
        img.load()
        luma = np.asarray(_upright(img, orientation).convert("L"))
    except (OSError, SyntaxError, ValueError) as err:
        raise _corrupt_mask(path, err) from err
    bright = luma >= 128
    off = np.where(bright, 255 - luma.astype(np.int16), luma) > JPEG_MASK_TOLERANCE
    if bright.any() and off.mean() <= JPEG_MASK_MID_SHARE:
        return np.where(bright, np.uint8(255), np.uint8(0))
    raise ValueError(
        f"cannot read mask {path}: it is a JPEG, and masks must be lossless (PNG/TIFF) unless binary (near 0 "
        "and near 255, read thresholded at 128); save the mask as PNG (from the original labels, not from "
        "this JPEG)"
    )


def _format_values(values: Sequence[int] | np.ndarray, limit: int = 10) -> str:
    vals = [int(v) for v in values]
    text = ", ".join(str(v) for v in vals[:limit])
    return text + (f", ... ({len(vals)} in total)" if len(vals) > limit else "")


def read_mask(path: str | Path, encoding: MaskEncoding) -> np.ndarray:
    """Read a mask file and return class indices as int64 (H, W); ignored pixels are IGNORE_INDEX.

    Raises ValueError naming the file when a stored value (or colour) has no class. With ``encoding.rois``
    the pixels outside the mask's ROI are IGNORE_INDEX too.
    """
    path = Path(path)
    # Colour masks are read by the colours shown: a palette ('P') file through its palette.
    out = _decode_mask(_read_mask_array(path, colour=encoding.kind == "palette"), encoding, path)
    roi = encoding.rois.get(str(path)) if encoding.rois else None
    return out if roi is None else apply_roi(out, Path(roi), path)


def read_roi(
    roi_path: str | Path, shape: tuple[int, ...] | None = None, paired_with: str | Path = ""
) -> np.ndarray:
    """A region of interest (field of view) file -> bool (H, W), True inside: the one rule of training,
    scoring, figures and ``predict --roi``. Any non-zero value (any non-zero channel of a colour file) is
    inside.

    Args:
        roi_path: the ROI image (any mask format :func:`read_mask_values` reads: PNG, GIF, TIFF, ...).
        shape: (H, W) it must have (its image's or mask's size), or None for any.
        paired_with: the file it belongs to, named in the size error.
    """
    roi_path = Path(roi_path)
    roi = _read_mask_array(roi_path)
    if shape is not None and roi.shape[:2] != tuple(shape[:2]):
        other = f"{paired_with} is" if paired_with else "its image is"
        raise ValueError(
            f"ROI {roi_path} is {roi.shape[1]}x{roi.shape[0]} (WxH) but {other} {shape[1]}x{shape[0]}; "
            "resize the ROI to its image's size (nearest) or fix the pairing"
        )
    inside = np.asarray(roi.any(axis=2) if roi.ndim == 3 else roi > 0, dtype=bool)
    return inside


def apply_roi(classes: np.ndarray, roi_path: Path, mask_path: Path) -> np.ndarray:
    """``classes`` (H, W) with IGNORE_INDEX outside the ROI (:func:`read_roi`)."""
    inside = read_roi(roi_path, classes.shape, paired_with=f"mask {mask_path}")
    return np.where(inside, classes, IGNORE_INDEX)


def _decode_mask(raw: np.ndarray, encoding: MaskEncoding, path: Path) -> np.ndarray:
    """Stored values (from :func:`_read_mask_array`) -> class indices int64 (H, W)."""
    if encoding.kind == "palette":
        return _decode_palette(raw, encoding, path)
    if raw.ndim == 3:
        if (
            raw.shape[2] == 3
            and np.array_equal(raw[..., 0], raw[..., 1])
            and np.array_equal(raw[..., 0], raw[..., 2])
        ):
            raw = raw[..., 0]  # gray stored as RGB: lossless to take one channel
        elif encoding.kind == "instances":
            # A label image's colour rendering (each object drawn in a colour): its objects cannot be read
            # back from the colours reliably (two touching objects may share one).
            raise ValueError(
                f"mask {path} is a colour image, while these masks are read as instance labels (one gray "
                "value per object, 0 background): save the label image itself (8- or 16-bit, one channel), "
                "not its colour rendering"
            )
        else:
            raise ValueError(
                f"mask {path} is a colour image, while these masks are read as class values (one gray value "
                "per class): save it as the others are, or read every mask by its colours (a classes.json "
                "naming each class's colour; from Python MaskEncoding(kind='palette', colors=...))"
            )
    if raw.dtype.kind == "i" and raw.size and int(raw.min()) < 0:
        raise ValueError(f"mask {path} has negative values (min {int(raw.min())}); masks must be >= 0")
    if encoding.kind == "binary":
        return _decode_binary(raw, encoding, path)
    if encoding.kind == "instances":
        if encoding.instance_target == "semantic":
            out = (raw > 0).astype(np.int64)  # every instance label is foreground
        else:
            from unetkit.data.instance_targets import instance_target

            # Derived per label image before any augmentation: geometric transforms then move the class map
            # with the image (nearest), as they move any class mask.
            labels = np.where(np.isin(raw, encoding.ignore_values), 0, raw) if encoding.ignore_values else raw
            out = instance_target(labels, encoding.instance_target, encoding.instance_params).astype(np.int64)
        if encoding.ignore_values:
            out[np.isin(raw, encoding.ignore_values)] = IGNORE_INDEX
        return out
    if raw.dtype in (np.uint8, np.uint16):
        lut = _lut_for(encoding, 256 if raw.dtype == np.uint8 else 65536)
        present = _present(raw)
        bad = present[lut[present] < 0]
        out = lut[raw]
    else:
        present, inverse = np.unique(raw, return_inverse=True)
        lut = _lut_for(encoding, int(present.max()) + 1 if present.size else 1)
        classes = lut[present]
        bad = present[classes < 0]
        out = classes[inverse].reshape(raw.shape)
    if bad.size:
        what = "are not in the remap mapping" if encoding.kind == "remap" else "are outside the classes"
        # Name the options that declare the value (a plan reads a sample of the training masks only, so a
        # value of a validation or test mask is first met here).
        v = int(bad[0])
        fix = (
            f"fix the mask, or declare {v} as void (fit DIR: --void {v}; predict: --ignore-values {v}) or as "
            "a class (classes.json, or num_classes)"
        )
        if encoding.kind == "remap" and encoding.mapping is not None:
            # The stored values the user declared (classes.json's values), not the class indices they map to.
            stored = sorted(int(k) for k in encoding.mapping)
            known = f"the stored values declared: {stored}, from classes.json or data.options.mapping"
        else:
            known = (
                f"num_classes={encoding.num_classes}, valid 0..{encoding.num_classes - 1}, "
                f"ignore_values={list(encoding.ignore_values)}"
            )
        problem = f"mask {path} has values {_format_values(bad)} that {what} ({known})"
        if encoding.kind == "index" and set(present.tolist()) <= {0, 255}:
            raise LooksBinaryError.of(problem)
        raise ValueError(f"{problem}; {fix}")
    return out


def _decode_binary(raw: np.ndarray, encoding: MaskEncoding, path: Path) -> np.ndarray:
    present = set(_present(raw).tolist()) - set(encoding.ignore_values)
    if present <= {0, 1}:
        high = 1
    elif present <= {0, 255}:
        high = 255
    elif present <= {0, 65535}:  # a 16-bit binary mask at full scale, as 0/255 is for 8 bits
        high = 65535
    else:
        # Said for the command line and a config alike: a plan reads a sample of the training masks only, so
        # a validation or test mask is first read here, by fit (the Python-API kind='index' helped no one).
        void = (
            ", pass --void 255 if 255 marks pixels to ignore," if {1, 255} <= present <= {0, 1, 255} else ""
        )
        raise ValueError(
            f"binary mask {path} has values {_format_values(sorted(present))}; expected only 0/255 or only "
            "0/1 (or only 0/65535 in 16 bits): fix the mask (a resized or JPEG-saved mask: re-save it "
            f"losslessly, resized with nearest neighbour){void} or read the masks as classes: unetkit "
            "plan/fit DIR --mask-kind index (or remap), in a config data.options.mask_kind"
        )
    out = (raw == high).astype(np.int64)
    if encoding.ignore_values:
        out[np.isin(raw, encoding.ignore_values)] = IGNORE_INDEX
    return out


# A colour within this many levels (RGB distance) of the line between two class colours of a mask, or of one
# of them, is a blend of them: what bilinear resizing or antialiased drawing makes at a class edge (rounding
# and a second resize move a blend a level or two off the line; junctions of three classes lie further).
BLEND_LEVELS = 4
# Unknown colours a mask must hold before they are read as blends: fewer are named one by one, as a slip to
# fix or a class to add (a single grey between black and white is a colour, not a resize).
MIN_BLEND_COLOURS = 8
# The share of the unknown colours' pixels that must be blends for a mask to be called resized: a resized
# CamVid mask's were 91 % (its colours 55 %: the rest lie at three-class corners, a few pixels each).
BLEND_PIXEL_SHARE = 0.5
# Unknown colours this many or more are no new classes (a class palette holds tens of colours).
MANY_COLOURS = 64
# The colours (and base colours) the blend share is measured on: the most frequent ones, to bound the cost.
_BLEND_COLOURS_MEASURED = 4096
_BLEND_BASE_MAX = 32


def _rgb_of(packed: np.ndarray) -> np.ndarray:
    """Packed 0xRRGGBB values -> (N, 3) float64 RGB."""
    packed = np.asarray(packed, dtype=np.int64).reshape(-1)
    return np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=1).astype(np.float64)


def colour_text(packed: int) -> str:
    """0xRRGGBB -> ``"(r, g, b)"``."""
    return f"({packed >> 16 & 255}, {packed >> 8 & 255}, {packed & 255})"


def blend_share(colours: np.ndarray, counts: np.ndarray, base: np.ndarray) -> float:
    """The share of the pixels of ``colours`` (packed RGB, with their pixel ``counts``) whose colour lies
    within :data:`BLEND_LEVELS` of the segment between two ``base`` colours (packed RGB; or of one of them):
    blends of the base colours, as a bilinear resize or antialiased drawing makes. Measured on the
    :data:`_BLEND_COLOURS_MEASURED` most frequent colours and the first :data:`_BLEND_BASE_MAX` base colours
    (vectorised: colours x base pairs)."""
    colours = np.asarray(colours, dtype=np.int64).reshape(-1)
    counts = np.asarray(counts, dtype=np.float64).reshape(-1)
    if colours.size == 0 or np.size(base) == 0:
        return 0.0
    if colours.size > _BLEND_COLOURS_MEASURED:
        keep = np.argsort(-counts, kind="stable")[:_BLEND_COLOURS_MEASURED]
        colours, counts = colours[keep], counts[keep]
    u = _rgb_of(colours)  # (N, 3)
    b = _rgb_of(np.asarray(base)[:_BLEND_BASE_MAX])  # (K, 3)
    best = np.full(len(u), np.inf)
    for start in b:  # segments start -> every base colour (start -> start: the colour itself)
        step = b - start  # (K, 3)
        length2 = np.maximum((step * step).sum(axis=1), 1.0)  # (K,)
        off = u - start  # (N, 3)
        t = np.clip(off @ step.T / length2, 0.0, 1.0)  # (N, K)
        rest = off[:, None, :] - t[..., None] * step[None, :, :]  # (N, K, 3)
        best = np.minimum(best, np.sqrt((rest * rest).sum(axis=2)).min(axis=1))
    return float(counts[best <= BLEND_LEVELS].sum() / counts.sum())


def looks_resized(colours: np.ndarray, counts: np.ndarray, base: np.ndarray) -> bool:
    """Whether unknown ``colours`` (packed RGB, with pixel ``counts``) of a mask whose class colours are
    ``base`` look like a resized or antialiased mask's blends: :data:`MIN_BLEND_COLOURS` or more of them,
    and :data:`BLEND_PIXEL_SHARE` of their pixels or more between (or within a few levels of) base colours."""
    if np.size(colours) < MIN_BLEND_COLOURS:
        return False
    return blend_share(colours, counts, base) >= BLEND_PIXEL_SHARE


def colour_examples(colours: np.ndarray, counts: np.ndarray, limit: int = 5) -> str:
    """``"(255, 0, 255): 400 px, (0, 5, 7): 3 px"``: the ``limit`` colours (packed RGB) covering the most
    pixels, with their pixel counts, then how many more."""
    colours = np.asarray(colours, dtype=np.int64).reshape(-1)
    counts = np.asarray(counts, dtype=np.int64).reshape(-1)
    order = np.lexsort((colours, -counts))[:limit]
    text = ", ".join(f"{colour_text(int(colours[i]))}: {int(counts[i])} px" for i in order)
    more = colours.size - len(order)
    return f"{text} and {more} more" if more else text


RESIZED_FIX = "it looks resized or antialiased; re-save it with nearest-neighbour resizing (no smoothing)"


def _decode_palette(raw: np.ndarray, encoding: MaskEncoding, path: Path) -> np.ndarray:
    if raw.ndim != 3 or raw.shape[2] != 3 or raw.dtype != np.uint8:
        raise ValueError(f"palette mask {path} must be an 8-bit RGB image, got shape {raw.shape} {raw.dtype}")
    # Pack RGB into one int so each colour is a single value: 0xRRGGBB.
    packed = (raw[..., 0].astype(np.int32) << 16) | (raw[..., 1].astype(np.int32) << 8) | raw[..., 2]
    table: dict[int, int] = {}
    assert encoding.colors is not None
    for cls, (r, g, b) in encoding.colors.items():
        table[(int(r) << 16) | (int(g) << 8) | int(b)] = int(cls)
    for r, g, b in encoding.ignore_colors:
        table[(int(r) << 16) | (int(g) << 8) | int(b)] = IGNORE_INDEX
    # One look-up per pixel in a table of every 24-bit colour (32 MB): np.unique's sort of a 75-megapixel
    # mask held about 20 bytes a pixel more (a GIS trial scoring a large scene).
    lut = np.full(1 << 24, -1, dtype=np.int16)
    for colour, cls in table.items():
        lut[colour] = cls
    classes = lut[packed]
    if int(classes.min(initial=0)) < 0:  # a colour the table lacks: the slow path, for the message
        present, inverse, counts = np.unique(packed, return_inverse=True, return_counts=True)
        known = np.isin(present, np.fromiter(table, dtype=np.int64, count=len(table)))
        raise _unknown_colours_error(path, present, counts, known, inverse.reshape(packed.shape))
    del packed
    return classes.astype(np.int64)


class UnknownColoursError(ValueError):
    """A palette mask holds a few colours its class table lacks (a stray brush stroke, a void colour the table
    does not list). ``head`` is the message without its fix and ``colours`` the colours (R, G, B), most pixels
    first, so that a caller where the classes file no longer matters (predict scoring a trained model's ground
    truth) can name its own fix."""

    def __init__(self, head: str, fix: str, colours: tuple[tuple[int, int, int], ...]) -> None:
        super().__init__(f"{head}; {fix}")
        self.head = head
        self.colours = colours


CLASSES_FILE_FIX = (
    "fix the mask, or add each colour to the classes file (classes.json or classes.csv) as a class or as "
    "void (or, where data.options gives the colours, to colors= or ignore_colors=)"
)


def _unknown_colours_error(
    path: Path, present: np.ndarray, counts: np.ndarray, known: np.ndarray, inverse: np.ndarray
) -> ValueError:
    """The one-line error for a palette mask holding colours its table lacks: a resized or antialiased mask
    (many colours, most blends of its class colours) is told to re-save with nearest-neighbour resizing;
    many other colours are no class palette; a few are named with their pixels (and where the first lies),
    to fix or to add to the classes file (an :class:`UnknownColoursError`)."""
    unknown, unknown_counts = present[~known], counts[~known]
    n = int(unknown.size)
    examples = colour_examples(unknown, unknown_counts)
    if looks_resized(unknown, unknown_counts, present[known]):
        return ValueError(
            f"palette mask {path} holds {n} colours not in the class colour table (e.g. {examples}), most "
            f"between listed class colours: {RESIZED_FIX}"
        )
    if n >= MANY_COLOURS:
        return ValueError(
            f"palette mask {path} holds {n} colours not in the class colour table (e.g. {examples}): too "
            "many for new classes, and most are no blend of the class colours (a photo, or a mask saved "
            "lossily?); save the mask losslessly with one listed colour per class"
        )
    # Where the most frequent unknown colour lies: a 20x20 patch is found at once in an editor.
    order = np.lexsort((unknown, -unknown_counts))
    first = int(np.flatnonzero(~known)[order[0]])
    ys, xs = np.nonzero(inverse == first)
    where = f"{'the first' if n > 1 else 'it'} lies within x {xs.min()}..{xs.max()}, y {ys.min()}..{ys.max()}"
    head = (
        f"palette mask {path} has {n} colour{'s' if n > 1 else ''} not in the class colour table: "
        f"{examples} ({where})"
    )
    colours = tuple((int(c) >> 16 & 255, int(c) >> 8 & 255, int(c) & 255) for c in np.asarray(unknown)[order])
    return UnknownColoursError(head, CLASSES_FILE_FIX, colours)


# ---------------------------------------------------------------------------------------------- normalising


def normalize(image: np.ndarray, mean: Sequence[float] | float, std: Sequence[float] | float) -> np.ndarray:
    """uint8 (H, W, C) -> float32 (C, H, W) computing ``(x / 255 - mean) / std`` per channel."""
    if image.ndim != 3:
        raise ValueError(f"normalize expects an (H, W, C) image, got shape {image.shape}")
    channels = image.shape[2]
    mean_arr = np.asarray(mean, dtype=np.float32).reshape(-1)
    std_arr = np.asarray(std, dtype=np.float32).reshape(-1)
    if mean_arr.size not in (1, channels) or std_arr.size not in (1, channels):
        raise ValueError(
            f"mean/std have {mean_arr.size}/{std_arr.size} values but the image has {channels} channels; "
            "give one value per channel"
        )
    mean_arr = np.broadcast_to(mean_arr, (channels,))
    std_arr = np.broadcast_to(std_arr, (channels,))
    if np.any(std_arr <= 0):
        raise ValueError(f"std must be > 0, got {list(std_arr)}")
    x = image.astype(np.float32).transpose(2, 0, 1) * np.float32(1.0 / 255.0)
    return np.ascontiguousarray((x - mean_arr[:, None, None]) / std_arr[:, None, None], dtype=np.float32)
