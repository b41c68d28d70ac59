"""Batch prediction over files: inputs, the per-image predict/write loop, ground truth and its scores.

The library behind ``unetkit predict`` (and the input/ground-truth helpers of ``unetkit kmeans``): expand
files, folders (optionally with their sub-folders) and globs; convert gray <-> RGB images to the model's
channel count; segment each image with any predictor of
:func:`~unetkit.inference.backends.load_predictor`; write masks, overlays, probabilities and instances and a
``summary.csv``; instances come from any :class:`~unetkit.inference.instance_predictor.InstancePredictor`
(a semantic model plus an instance method, or a Mask R-CNN); with ground truth, score through
:class:`~unetkit.metrics.scoring.ScoreAccumulator` (the scoring of ``unetkit test``) into ``metrics.json`` /
``metrics.md``. Never prints and never imports torch: the CLI owns the console (progress bar, error lines)
through the ``progress`` and ``on_error`` callbacks.
"""

from __future__ import annotations

import errno
import glob
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from unetkit.constants import IGNORE_INDEX, OVERLAY_ALPHA
from unetkit.data.io import (
    IMAGE_EXTENSIONS,
    MaskEncoding,
    UnknownColoursError,
    Window,
    as_model_input,
    convert_channels,
    image_from_raw,
    is_hidden,
    is_per_image,
    read_mask,
    read_raw_image,
    read_roi,
    window_mismatch,
)
from unetkit.evaluation import instance_section, scored_views, write_metrics_files
from unetkit.files import broken_link
from unetkit.metrics.report import format_metrics_table
from unetkit.metrics.scoring import ScoreAccumulator, image_score_cells
from unetkit.options import look_up_option

logger = logging.getLogger(__name__)

__all__ = [
    "BatchResult",
    "CompanionFiles",
    "GroundTruth",
    "Inputs",
    "OutputOptions",
    "PredictInterrupted",
    "class_names_for",
    "engine_of",
    "expand_inputs",
    "find_inputs",
    "find_mask",
    "model_image",
    "output_names",
    "predict_files",
    "read_ground_truth",
    "skipped_note",
    "write_batch_metrics",
]

MASK_VALUES = ("class", "stored")


def _is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS and not is_hidden(name)


def _image_files(candidates: Sequence[Path]) -> list[Path]:
    """The regular files among ``candidates`` (sorted), and the links that lead nowhere (dangling, or a
    loop): kept as inputs, so that each fails alone with one line naming the link (:func:`broken_link`)
    while the other images are segmented, instead of being skipped as no image or stopping the batch."""
    return sorted(p for p in candidates if p.is_file() or (p.is_symlink() and broken_link(p)))


def _sub_folder_images(folder: Path) -> list[tuple[Path, list[Path]]]:
    """``(sub-folder, its image candidates)`` for each non-hidden sub-folder of ``folder``, at any depth, that
    holds images. Linked folders are followed, each real folder once (a link to a parent does not loop)."""
    seen = {folder.resolve()}
    found: list[tuple[Path, list[Path]]] = []
    top = True
    for root, dirs, names in os.walk(folder, followlinks=True):
        keep = []
        for d in sorted(dirs):
            real = Path(root, d).resolve()
            if is_hidden(d) or real in seen:
                continue
            seen.add(real)
            keep.append(d)
        dirs[:] = keep  # prune in place: os.walk descends only into these
        if not top:
            images = [Path(root, n) for n in names if _is_image_name(n)]
            if images:
                found.append((Path(root), images))
        top = False
    return found


@dataclass
class Inputs:
    """What :func:`find_inputs` found.

    Attributes:
        files: image files, de-duplicated, in input order (each folder's sorted by relative path).
        names: output base name per file: the stem, or with ``recursive`` the path relative to its folder
            INPUT without the suffix (``day1/x``), so that equal names in different sub-folders never share an
            output; suffixed ``__2``, ``__3`` ... where names still collide.
        missing: the patterns that matched nothing.
        unread: folder INPUT -> (sub-folders holding images, their images) left unread (``recursive`` off).
        skipped: the files in folder INPUTs that are not images by their extension (not ``IMAGE_EXTENSIONS``:
            a ``.webp``, a ``.txt``), hidden files aside: not read (:func:`skipped_note` names them).
    """

    files: list[Path]
    names: list[str]
    missing: list[str]
    unread: dict[str, tuple[int, int]] = field(default_factory=dict)
    skipped: list[Path] = field(default_factory=list)
    # True when every input stem ended in nnU-Net's one-channel suffix (case_020_0000) and ``names`` are the
    # cases (case_020), as nnU-Net names its predictions, so that masks pair with labelsTr/labelsTs.
    cases: bool = False


def _nnunet_case(stem: str) -> str | None:
    """The case of an nnU-Net image stem (``case_020`` for ``case_020_0000``): the stem without discovery's
    channel suffix (:data:`~unetkit.planning.discovery.NNUNET_CHANNEL`) when that is ``_0000``, nnU-Net's
    only channel of one-channel data; None for any other stem (``frame_0012`` is no channel file)."""
    from unetkit.planning.discovery import NNUNET_CHANNEL  # lazily: discovery is a large import

    found = NNUNET_CHANNEL.search(stem)
    if found is None or found.group(1) != "0000" or found.start() == 0:
        return None
    return stem[: found.start()]


def _case_names(bases: Sequence[str]) -> list[str] | None:
    """``bases`` without nnU-Net's ``_0000`` (``day1/case_020_0000`` -> ``day1/case_020``) when every base
    carries it and no two cases are equal; else None: the full stems stay, so no two inputs share an
    output."""
    cases = []
    for base in bases:
        folder, _, leaf = base.rpartition("/")
        case = _nnunet_case(leaf)
        if case is None:
            return None
        cases.append(f"{folder}/{case}" if folder else case)
    return cases if cases and len(set(cases)) == len(cases) else None


def skipped_note(skipped: Sequence[Path], shown: int = 3) -> str:
    """One line naming the files of folder INPUTs that were not read, by extension ('' when none)."""
    if not skipped:
        return ""
    by_ext: dict[str, list[Path]] = {}
    for p in skipped:
        by_ext.setdefault(p.suffix.lower() or "(no extension)", []).append(p)
    parts = []
    for ext, paths in sorted(by_ext.items()):
        names = ", ".join(p.name for p in paths[:shown]) + (" ..." if len(paths) > shown else "")
        parts.append(f"{len(paths)} {ext} ({names})")
    return (
        f"{len(skipped)} file(s) in the input folder(s) were skipped, their extension not one of the image "
        f"extensions predict reads from folders ({' '.join(IMAGE_EXTENSIONS)}): {'; '.join(parts)}; convert "
        "images among them to PNG"
    )


def find_inputs(patterns: Sequence[str], recursive: bool = False) -> Inputs:
    """Images from paths, folders and globs. A folder gives its own images, and with ``recursive`` those of
    its sub-folders at any depth too; hidden files and folders (a leading '.') are skipped. When every image
    is an nnU-Net channel file (``case_020_0000.png``), the output names are the cases (``case_020``:
    :attr:`Inputs.cases`), unless two would be equal."""
    pairs: list[tuple[Path, str]] = []
    missing: list[str] = []
    unread: dict[str, tuple[int, int]] = {}
    skipped: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            found = _image_files([p for p in path.iterdir() if _is_image_name(p.name)])
            skipped.extend(
                sorted(p for p in path.iterdir() if not is_hidden(p.name) and not _is_image_name(p.name)
                       and p.is_file())
            )  # fmt: skip
            subs = _sub_folder_images(path)
            if recursive:
                for _sub, candidates in subs:
                    found.extend(_image_files(candidates))
                found.sort(key=lambda p: p.relative_to(path).parts)
            elif subs:
                unread[pattern] = (len(subs), sum(len(images) for _, images in subs))
            named = [(p, p.relative_to(path).with_suffix("").as_posix()) for p in found]
        elif path.exists() or path.is_symlink():  # a link to nothing fails alone, naming what it is
            named = [(path, path.stem)]
        elif glob.has_magic(pattern):
            matched = _image_files([Path(p) for p in glob.glob(pattern, recursive=True)])
            named = [(p, p.stem) for p in matched]
        else:
            named = []
        if not named:
            missing.append(pattern)
        pairs.extend(named)
    seen: set[Path] = set()
    unique = []
    for f, name in pairs:
        try:
            key = f.resolve()
        except (OSError, RuntimeError):  # a symlink loop: its own input, failing alone when read
            key = f.absolute()
        if key not in seen:
            seen.add(key)
            unique.append((f, name))
    bases = [n for _, n in unique]
    cases = _case_names(bases)
    return Inputs(
        files=[f for f, _ in unique],
        names=_unique_names(bases) if cases is None else cases,
        missing=missing,
        unread=unread,
        skipped=skipped,
        cases=cases is not None,
    )


def expand_inputs(patterns: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Files from paths, folders (not their sub-folders) and globs (sorted, de-duplicated); also the patterns
    that matched nothing. :func:`find_inputs` also gives output names and the sub-folders left unread."""
    found = find_inputs(patterns)
    return found.files, found.missing


def _unique_names(bases: Sequence[str]) -> list[str]:
    counts: dict[str, int] = {}
    names = []
    for base in bases:
        n = counts.get(base, 0) + 1
        counts[base] = n
        names.append(base if n == 1 else f"{base}__{n}")
    return names


def output_names(files: Sequence[Path]) -> list[str]:
    """Output base name per input: the file stem, suffixed ``__2``, ``__3`` ... when stems collide."""
    return _unique_names([f.stem for f in files])


_CHANNEL_KINDS = {1: "gray", 3: "RGB"}
# How predict converts an image to the model's channel count (the conversions training may opt in to).
CONVERSIONS = {3: "gray -> RGB (gray replicated)", 1: "RGB -> gray (ITU-R 601 luma)"}


# TIFF Photometric (tag 262) values whose three channels are colour: RGB, palette, YCbCr, CIE/ICC/ITU Lab.
_COLOUR_PHOTOMETRIC = (2, 3, 6, 8, 9, 10)
# Formats whose three channels are colour by definition (a TIFF's may be any three bands).
_COLOUR_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def _channels_text(channels: int, kind: str | None) -> str:
    return f"{channels} channel{'s' if channels != 1 else ''}" + (f" ({kind})" if kind else "")


def _stored_kind(path: Path, channels: int) -> str | None:
    """What the ``channels`` stored channels of the file at ``path`` are, where the file says so: "gray" for
    one, "RGB" for three of a photo format (PNG, JPEG, BMP, GIF, WebP) or of a TIFF whose Photometric tag is
    colour (RGB, palette, YCbCr, Lab); else None: a TIFF's three channels may be three fluorescence stains
    (trial L: "has 3 channels (RGB)" for one). A file that cannot be opened here is judged by its suffix."""
    if channels == 1:
        return "gray"
    if channels != 3:
        return None
    from PIL import Image

    try:
        with Image.open(path) as img:  # the header only
            if img.format != "TIFF":
                return "RGB"
            photometric = img.tag_v2.get(262)  # type: ignore[attr-defined]
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return "RGB" if path.suffix.lower() in _COLOUR_SUFFIXES else None
    return "RGB" if photometric in _COLOUR_PHOTOMETRIC else None


def model_image(
    raw: np.ndarray, path: str | Path, channels: int, window: Window | None = None
) -> tuple[np.ndarray, bool, str | None]:
    """uint8 ``(H, W, channels)`` for a model of ``channels`` input channels from the stored pixels ``raw``
    (:func:`~unetkit.data.io.read_raw_image`), whether it was converted gray <-> RGB to get there, and why
    its stored values are far outside the model's fixed intensity ``window`` (an 8-bit image for a model
    trained on 16-bit ones: :func:`~unetkit.data.io.window_mismatch`; one line without the file name) or None.

    Unlike training (where a mismatch may be a config error), prediction converts gray to RGB and RGB to gray
    always: the user cannot retrain. Any other mismatch is a ValueError naming the file, what the model
    expects and the fix. Values outside the window are only reported: the image is read as it is, since only
    the user knows whether it was saved at another bit depth.
    """
    path = Path(path)
    stored = raw.shape[2]
    if stored != channels and not (stored in _CHANNEL_KINDS and channels in _CHANNEL_KINDS):
        # Before the window: a model's window has one [lo, hi] per model channel, and its own refusal would
        # blame the window's pair count for the image's channel count.
        raise ValueError(
            f"{path} has {_channels_text(stored, _stored_kind(path, stored))} but the model expects "
            f"{_channels_text(channels, _CHANNEL_KINDS.get(channels))}; "
            f"predict converts only between gray and RGB: save the image with {channels} channel(s), or use "
            f"a model trained on {stored}-channel images"
        )
    converted = False
    if (
        window is not None
        and not is_per_image(window)  # a per-image window fits any channel count
        and len(np.asarray(window).reshape(-1, 2)) > 1
        and raw.dtype.kind in "ui"
        and stored in _CHANNEL_KINDS
        and channels in _CHANNEL_KINDS
        and stored != channels
    ):
        # A window of one [lo, hi] per model channel maps stored values of the model's channel count:
        # convert the stored pixels first (convert_channels keeps their 16-bit type).
        raw, converted = convert_channels(raw, channels), True
    try:
        image = image_from_raw(raw, path, None, window=window)
    except ValueError as exc:
        if raw.shape[2] in _CHANNEL_KINDS:
            raise  # not about channels (bit depth, float range, ...): io's message says it all
        raise ValueError(
            f"{exc}; the model expects {_channels_text(channels, _CHANNEL_KINDS.get(channels))}"
        ) from exc
    # Checked on the stored values the window just mapped (the window fits their channel count).
    mismatch = window_mismatch(raw, window)
    if image.shape[2] == channels:
        return as_model_input(image), converted, mismatch
    # gray <-> RGB (others refused above)
    return as_model_input(convert_channels(image, channels)), True, mismatch


def _truth_folder(folder: Path, name: str) -> Path:
    """Where the ground truth (or ROI) of output ``name`` is: the mirrored sub-folder (``day1/x`` ->
    ``folder/day1``) where it exists, so equal stems of different sub-folders get their own masks; else
    ``folder``."""
    sub = folder / Path(name).parent
    return sub if sub.is_dir() else folder


class CompanionFiles:
    """Masks or ROIs of the inputs, by discovery's pairing rule
    (:class:`~unetkit.planning.discovery.Companions`), then for an nnU-Net image (``case_020_0000``) by its
    case (``case_020``); each folder is listed once."""

    def __init__(self, root: Path, what: str) -> None:
        self.root, self.what = Path(root), what
        self._listed: dict[Path, Any] = {}

    def find(self, name: str, stem: str, image: Path | None = None) -> Path | None:
        """The file of the input with output ``name`` and file stem ``stem``, or None. ``image``: the input's
        own file, which is never its own mask or ROI (an input kept beside its labels, ``big.png`` and
        ``big_labels.png`` in one folder: ``big_labels.png``)."""
        from unetkit.planning.discovery import Companions

        folder = _truth_folder(self.root, name)
        if folder not in self._listed:
            self._listed[folder] = Companions(
                p for p in folder.iterdir() if p.is_file() and _is_image_name(p.name)
            )
        found: Path | None = self._listed[folder].find(stem, self.what, image)
        case = _nnunet_case(stem)
        if found is None and case is not None:
            # nnU-Net's image case_020_0000 (_0000: its channel) has the mask case_020 (labelsTr/, labelsTs/).
            found = self._listed[folder].find(case, self.what, image)
        return found


def find_mask(folder: str | Path | CompanionFiles, stem: str, image: Path | None = None) -> Path:
    """Ground-truth file for ``stem`` in ``folder``: the same stem, or a mask-suffixed or paired one
    (``stem_mask.png``; DRIVE's ``21_manual1.gif`` for ``21_training``; nnU-Net's ``case_020.png`` for
    ``case_020_0000``). Pass a :class:`CompanionFiles` when
    looking up many stems: it lists the folder once. ``image``: the input's own file, never its own mask."""
    masks = folder if isinstance(folder, CompanionFiles) else CompanionFiles(Path(folder), "mask")
    found = masks.find(stem, stem, image)
    if found is not None:
        return found
    case = _nnunet_case(stem)
    looked = f"{stem}.png, {stem}_mask.png" + ("" if case is None else f", {case}.png")
    raise ValueError(f"no ground-truth mask for {stem!r} in {masks.root} (looked for {looked}, ...)")


def read_ground_truth(
    folder: str | Path | CompanionFiles,
    stem: str,
    encoding: MaskEncoding,
    shape: tuple[int, ...],
    other_kind_fix: str = "",
    image: Path | None = None,
) -> np.ndarray:
    """Class-index mask ``(H, W)`` of ``stem`` in ``folder`` (:func:`find_mask`; ``image``, the input's own
    file, is never its mask); must match ``shape``.

    ``other_kind_fix``: for a mask stored another way than ``encoding`` reads (:func:`other_kind`), the fix
    in the caller's words (a command's options) replaces :func:`~unetkit.data.io.read_mask`'s, which names
    the Python API; '' keeps that one.
    """
    return _read_sized(find_mask(folder, stem, image), encoding, shape, other_kind_fix)


def other_kind(path: Path, encoding: MaskEncoding) -> str:
    """How mask ``path`` is stored when that is not how ``encoding`` reads masks: "is a colour image" for a
    class-value encoding, "holds one value per pixel (gray), not colours" for a palette one; else ''.
    Reads the file (called when reading it failed)."""
    from unetkit.planning.discovery import read_mask_values

    colour = encoding.kind == "palette"
    try:
        raw = read_mask_values(path, colour=colour)
    except ValueError:
        return ""  # unreadable: read_mask's own error says so
    if colour and raw.ndim == 2:
        return "holds one value per pixel (gray), not colours"
    if not colour and raw.ndim == 3:
        return "is a colour image"
    return ""


def unreadable_file(exc: BaseException) -> bool:
    """Whether a ``read_mask`` error says the file could not be decoded at all (corrupt, truncated, not an
    image, not readable: Pillow's OSError or SyntaxError in its chain), not that what it holds does not fit
    (another kind of mask, a value without a class)."""
    seen: BaseException | None = exc
    for _ in range(8):  # the chain is short; bounded all the same
        if seen is None:
            return False
        if isinstance(seen, (OSError, SyntaxError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# More distinct colours than this in a colour file read as a mask: a photo, not a mask drawn in colours.
PHOTO_COLOURS = 256


def _looks_like_photo(path: Path) -> bool:
    """Whether ``path`` is a colour image of more than :data:`PHOTO_COLOURS` colours (an input image, not a
    mask of class colours or of coloured objects). Reads the file (called when reading it as a mask
    failed); an unreadable one is not."""
    from unetkit.planning.discovery import read_mask_values

    try:
        raw = read_mask_values(path, colour=True)
    except ValueError:
        return False
    if raw.ndim != 3 or raw.shape[2] < 3:
        return False
    rgb = raw[..., :3].astype(np.int64)
    packed = (rgb[..., 0] << 32) | (rgb[..., 1] << 16) | rgb[..., 2]  # 16 bits a channel: any depth
    return len(np.unique(packed)) > PHOTO_COLOURS


# What a gray mask holds, for instance labels (True) and for class values (False).
_GRAY_MASKS = {
    True: "instance labels hold one gray value per object (8/16-bit gray, 0 background)",
    False: "class-value masks hold one gray value per class",
}


def compact_classes(target: np.ndarray) -> np.ndarray:
    """A class map (int64 from read_mask) in the smallest unsigned type its values fit: held while the tiles
    run, 1 byte a pixel instead of 8 for up to 256 values (void 255 included)."""
    if not target.size:
        return target
    low, high = int(target.min()), int(target.max())
    if low >= 0 and high <= np.iinfo(np.uint8).max:
        return target.astype(np.uint8)
    if low >= 0 and high <= np.iinfo(np.uint16).max:
        return target.astype(np.uint16)
    return target


def _read_sized(
    path: Path,
    encoding: MaskEncoding,
    shape: tuple[int, ...],
    other_kind_fix: str = "",
    unknown_colour_fix: Callable[[tuple[tuple[int, int, int], ...]], str] | None = None,
) -> np.ndarray:
    try:
        target = read_mask(path, encoding)
    except UnknownColoursError as exc:
        if unknown_colour_fix is None:
            raise
        raise ValueError(f"{exc.head}; {unknown_colour_fix(exc.colours)}") from exc
    except ValueError as exc:
        stored = other_kind(path, encoding) if other_kind_fix else ""
        if not stored:
            raise
        if encoding.kind != "palette" and _looks_like_photo(path):
            # A colour file of many colours where one gray value per pixel is read: an input image (a photo)
            # paired as the mask, not a mask saved another way (a colour mask has a few colours).
            labels = encoding.kind == "instances"
            held = _GRAY_MASKS[labels]
            stored += f" (RGB), which looks like a photo, not a {'label image' if labels else 'mask'}: {held}"
        raise ValueError(f"mask {path} {stored}; {other_kind_fix}") from exc
    if target.shape != tuple(shape):
        have, want = f"{target.shape[1]}x{target.shape[0]}", f"{shape[1]}x{shape[0]}"
        raise ValueError(
            f"ground truth mask {path} is {have} (WxH), its image {want}; resize or re-export the mask to "
            f"{want}"
        )
    return target


def class_names_for(config: Any) -> list[str]:
    """Names of the classes found in predicted masks: the config's, or ``class_<i>``.

    A one-logit (sigmoid) model predicts 0 (background) / 1 (its one named class), so it gets two names.
    """
    k = int(config.num_classes)
    names = list(config.class_names) if len(config.class_names) == k else [f"class_{i}" for i in range(k)]
    if k == 1:
        names = ["background", names[0] if names[0] != "class_0" else "foreground"]
    return names


def classes_and_colours(predictor: Any) -> tuple[list[str], np.ndarray]:
    """(class names of the predicted mask values, their colours uint8 (K, 3)): the one rule of ``predict`` and
    ``serve``. A semantic predictor: its config's classes (:func:`class_names_for`) in its colours. An
    :class:`~unetkit.inference.instance_predictor.InstancePredictor`: its classes, in the colours of the
    semantic model under it (watershed instances), or the default colours for a Mask R-CNN (its config is a
    dict without colours)."""
    from unetkit.inference.instance_predictor import InstancePredictor
    from unetkit.palette import palette_for

    if isinstance(predictor, InstancePredictor):
        names = list(predictor.class_names)
        config = getattr(getattr(predictor, "predictor", predictor), "config", None)
        return names, palette_for(None if isinstance(config, dict) else config, min(len(names), 256))
    names = class_names_for(predictor.config)
    return names, palette_for(predictor.config, min(len(names), 256))


def _void_colour(predictor: Any) -> tuple[int, int, int]:
    """The colour of void (outside an ROI) in predicted mask PNGs: the model's recorded void colour, else the
    figures' (:data:`~unetkit.palette.IGNORE_COLOR`)."""
    from unetkit.palette import IGNORE_COLOR, void_color_for

    config = getattr(getattr(predictor, "predictor", predictor), "config", None)
    found = None if isinstance(config, dict) else void_color_for(config)
    return tuple(IGNORE_COLOR) if found is None else found  # type: ignore[return-value]


# The stored values of binary 0/255 training masks (background, foreground).
BINARY_STORED_VALUES = (0, 255)


def _stored_lookup(
    predictor: Any, palette: np.ndarray, binary: bool = False, roi: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(class index -> stored value lookup uint8 (256,), stored value -> class colour (256, 3)) for
    ``--mask-values stored``; void (IGNORE_INDEX) stays void. ``binary``: the model was trained on binary
    0/255 masks (:attr:`OutputOptions.binary_masks`), written back as 0/255 (not with ``roi``: 255 is also
    void there). A model that records no stored values is a one-line error."""
    from unetkit.model_files.model_config import stored_values_of

    config = getattr(getattr(predictor, "predictor", predictor), "config", None)
    values = None if isinstance(config, dict) else stored_values_of(config)
    if values is None and binary and len(palette) == 2:
        if roi:
            raise ValueError(
                "--mask-values stored writes this binary model's foreground as 255, the value that marks "
                "pixels outside --roi; drop one of them (masks/ then hold 0/1 with void 255, or 0/255)"
            )
        lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
        lut[:2] = BINARY_STORED_VALUES
        colours = np.zeros((256, 3), dtype=np.uint8)
        colours[list(BINARY_STORED_VALUES)] = palette
        return lut, colours
    if values is None or len(values) != len(palette) or max(values) >= IGNORE_INDEX:
        raise ValueError(
            "--mask-values stored: this model records no stored mask values of its own (its training masks "
            "held the class indices or colours, or its run folder, whose config.yaml says whether they were "
            "binary 0/255, is not given); drop --mask-values, masks/ hold class indices"
        )
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    lut[: len(values)] = values
    colours = np.zeros((256, 3), dtype=np.uint8)
    colours[values] = palette
    return lut, colours


def engine_of(predictor: Any) -> tuple[str, str, Path] | None:
    """``(backend, precision, model file)`` that run ``predictor`` (predict's ``engine:`` line and its
    metrics.json/summary.csv words), from its ``engine()``; None where it does not say (a model passed in)."""
    semantic = getattr(predictor, "predictor", predictor)  # an instance predictor wraps the semantic one
    describe = getattr(semantic, "engine", None)
    engine = describe() if callable(describe) else None
    return None if engine is None else (engine[0], engine[1], Path(engine[2]))


def write_batch_metrics(
    out_dir: str | Path, scores: dict[str, Any], class_names: Sequence[str], images: int, **extra: Any
) -> str:
    """Write ``metrics.json`` (``images``, then ``extra``, then the scores) and ``metrics.md``; returns the
    markdown table."""
    write_metrics_files(out_dir, "metrics", scores, class_names, images=images, **extra)
    table = format_metrics_table({k: v for k, v in scores.items() if k != "instances"}, list(class_names))
    if scores.get("instances"):
        table += "\n\n" + instance_section(scores["instances"])
    return table


@dataclass(frozen=True)
class OutputOptions:
    """What :func:`predict_files` writes per image besides ``masks/<name>.png``.

    Attributes:
        probs: "none", "npy" or "tiff": probability maps under ``probs/``.
        probs_dtype: "float16" or "float32" for ``npy``.
        overlay: colour overlay PNG under ``overlays/``.
        alpha: overlay colour weight.
        instances: "none", "auto" (the model's own method), "maskrcnn" or a registered instance method
            (``list_instance_methods()``: "components", "watershed", "boundary", ...): 16-bit instance labels
            under ``instances/``.
        foreground: classes forming instances (None: every class but 0).
        min_size: drop instances smaller than this (pixels); None: the value ``unetkit fit`` chose on
            validation images for the model's own method, else 0.
        min_distance: watershed: minimum distance between seeds; None: the recorded value, else 5.
        mask_values: "class" (the class index, 0..K-1) or "stored" (the value each class had in the training
            masks, where the model records them: :func:`~unetkit.model_files.model_config.stored_values_of`)
            in ``masks/``; a model trained on binary 0/255 masks (``binary_masks``) writes 0/255.
        binary_masks: the model was trained on binary 0/255 masks (its run's ``config.yaml`` says so:
            ``unetkit predict`` reads it), for ``mask_values="stored"``.
        outlines: with instances, each instance's outline as GeoJSON under ``outlines/``
            (:func:`~unetkit.inference.writers.save_outlines_geojson`: QuPath imports it).
    """

    probs: str = "none"
    probs_dtype: str = "float16"
    overlay: bool = True
    alpha: float = OVERLAY_ALPHA
    instances: str = "none"
    foreground: tuple[int, ...] | None = None
    min_size: int | None = None
    min_distance: int | None = None
    mask_values: str = "class"
    binary_masks: bool = False
    outlines: bool = False

    def __post_init__(self) -> None:
        from unetkit.inference.instance_predictor import list_instance_predictor_methods
        from unetkit.inference.writers import PROB_FORMATS

        object.__setattr__(self, "probs", look_up_option(self.probs, PROB_FORMATS, "probability output"))

        # Looked up when the options are made, so methods registered by plugins are accepted too.
        methods = ("none", *list_instance_predictor_methods())
        object.__setattr__(self, "instances", look_up_option(self.instances, methods, "instances"))
        object.__setattr__(
            self, "probs_dtype", look_up_option(self.probs_dtype, ("float16", "float32"), "dtype")
        )
        object.__setattr__(self, "mask_values", look_up_option(self.mask_values, MASK_VALUES, "mask values"))
        # Checked here, when the options are made, rather than by the overlay drawing after each image's
        # inference (the overlay's own rule).
        from unetkit.viz.overlay import check_alpha

        check_alpha(self.alpha)


@dataclass(frozen=True)
class GroundTruth:
    """Where the true masks of the inputs are and how to read and score them.

    Attributes:
        folder: masks named like the images (``<stem>.png`` or ``<stem>_mask.png``).
        encoding: how the mask files store classes.
        ignore_index: ground-truth value whose pixels are not scored.
        isbi: also score the ISBI 2012 pixel and Rand errors (binary data).
        other_kind_fix: what to do about a mask stored another way than ``encoding`` reads (a colour image
            for class values, a gray one for colours), in the caller's words (:func:`read_ground_truth`).
    """

    folder: Path
    encoding: MaskEncoding
    ignore_index: int = IGNORE_INDEX
    isbi: bool = False
    other_kind_fix: str = ""
    # A colour mask's few colours its class table lacks -> the fix in the caller's words (the run's classes
    # file no longer matters once the model is trained); None keeps read_mask's (edit the classes file).
    unknown_colour_fix: Callable[[tuple[tuple[int, int, int], ...]], str] | None = None


@dataclass
class BatchResult:
    """What :func:`predict_files` did: one summary row per segmented image, the failed inputs, scores."""

    rows: list[dict[str, Any]]
    failures: list[tuple[Path, Exception]]
    class_names: list[str]
    scores: dict[str, Any] | None = None
    unscored: list[Path] = field(default_factory=list)  # segmented, but no ground truth in the folder
    # Segmented, but its ground truth could not be read (a corrupt or truncated file): (the image, why, in one
    # line naming the mask file); left out of the scores as the unscored ones are.
    unread_truth: list[tuple[Path, str]] = field(default_factory=list)
    table: str | None = None
    columns: list[str] = field(default_factory=list)
    scored: int = 0  # images scored against their ground truth (metrics.json's "images")
    # Segmented after a gray <-> RGB conversion to the model's channel count (``conversion`` says which);
    # ``model_converts``: the model's training converted such images too (its config's convert_channels).
    converted: list[Path] = field(default_factory=list)
    conversion: str = ""
    model_converts: bool = False
    # Segmented although its stored values are far outside the model's intensity window (an 8-bit image for a
    # model trained on 16-bit ones): (file, why, from :func:`model_image`); also summary.csv's window_note.
    window_notes: list[tuple[Path, str]] = field(default_factory=list)
    # Outputs of an earlier run into the same folder for an image this run segmented, of a kind this run did
    # not write (instances/x.png when this run writes no instances): removed, so none passes for this run's.
    removed: list[Path] = field(default_factory=list)


class PredictInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM, as the CLI raises it) during :func:`predict_files`, raised once the images
    completed before it have their ``summary.csv`` (and, with ground truth, ``metrics.json`` /
    ``metrics.md``), written atomically; the image that was being written has no outputs (none of an
    earlier run either, so no image mixes two runs' files).

    Attributes:
        result: the completed images' :class:`BatchResult` (``rows``: what ``summary.csv`` lists).
        total: how many inputs there were.
        out: the output folder.
        written: whether ``out`` holds anything of this run (False: nothing was written, and a folder created
            by the run was removed again).
        exit_code: the interrupt's own ``exit_code`` where it had one (SIGTERM's 143), carried over.
    """

    def __init__(self, result: BatchResult, total: int, out: Path, written: bool) -> None:
        super().__init__(f"after {len(result.rows)} of {total} images")
        self.result, self.total, self.out, self.written = result, total, out, written


# GDAL's "persistent auxiliary metadata" file beside a raster: a mask GeoTIFF's class names.
SIDECAR = ".aux.xml"
# Sub-folder -> file extensions of every per-image output predict_files may write.
OUTPUT_KINDS: dict[str, tuple[str, ...]] = {
    # .tif: the GeoTIFF mask of a georeferenced input, with GDAL's sidecar naming its classes
    "masks": (".png", ".tif", f".tif{SIDECAR}"),
    "overlays": (".png",),
    "probs": (".npy", ".tif"),
    "instances": (".png", ".tif"),
    "outlines": (".geojson",),
}


def _save_names(path: Path, class_names: Sequence[str], colors: np.ndarray | None) -> Path:
    """:func:`~unetkit.inference.writers.save_class_names_sidecar` as a job of :func:`_write_all`, which
    names the file written (``<mask>.tif.aux.xml``) where the writer takes the mask's path."""
    from unetkit.inference.writers import save_class_names_sidecar

    return save_class_names_sidecar(path.with_name(path.name.removesuffix(SIDECAR)), class_names, colors)


def _output_paths(out: Path, name: str) -> list[Path]:
    """Every output path an image of output ``name`` can have under ``out`` (:data:`OUTPUT_KINDS`)."""
    return [out / sub / f"{name}{ext}" for sub, exts in OUTPUT_KINDS.items() for ext in exts]


def _write_all(jobs: Sequence[tuple[Path, Callable[[Path], object]]]) -> None:
    """Call each ``save(path)``; if one fails (OSError, e.g. a full disk), remove what this call wrote and
    re-raise the error naming the output path; any other error also removes what this call wrote."""
    written: list[Path] = []
    for path, save in jobs:
        try:
            save(path)
        except KeyboardInterrupt:
            for done in written:  # the save itself leaves no file (atomic_write)
                done.unlink(missing_ok=True)
            raise
        except OSError as exc:
            for done in (*written, path):
                done.unlink(missing_ok=True)
            if exc.filename is None:
                raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
            raise
        except Exception:
            # A writer's refusal (a ValueError: a mask its format cannot hold) fails this input: its files
            # written so far go too, so that no image keeps some of its outputs.
            for done in written:
                done.unlink(missing_ok=True)
            raise
        written.append(path)


def _unexpected(path: Path, exc: Exception) -> RuntimeError:
    """An unexpected error (not a bad input) raised while predicting ``path``, as one line naming the file and
    the error type: reported like a bad input, so the other images still complete."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    error = RuntimeError(
        f"{path}: prediction failed ({type(exc).__name__}: {first or 'no message'}); the other images are "
        "unaffected: report this with the image's size if it persists"
    )
    error.__cause__ = exc
    return error


def _paths(files: object) -> list[Path]:
    """``predict_files``'s ``files`` as Paths: str and Path (os.PathLike) items are taken (a str had failed
    with "'str' object has no attribute 'stem'"); one path instead of a list, or another item, is a
    TypeError naming the fix."""
    if isinstance(files, (str, os.PathLike)):
        raise TypeError(
            f"files must be a list of image paths, got the single path {os.fspath(files)!r}; pass "
            f"[{os.fspath(files)!r}] (find_inputs(folder) lists a folder's images)"
        )
    paths = []
    for item in files:  # type: ignore[attr-defined]
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(
                f"files must hold image paths (str or Path), got {type(item).__name__} {item!r}; to segment "
                "an image array call predictor.predict(image)"
            )
        paths.append(Path(item))
    return paths


def predict_files(
    predictor: Any,
    files: Sequence[str | Path],
    out_dir: str | Path,
    *,
    outputs: OutputOptions | None = None,
    ground_truth: GroundTruth | None = None,
    on_error: Callable[[Path, Exception], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    names: Sequence[str] | None = None,
    roi: str | Path | None = None,
) -> BatchResult:
    """Segment every file with ``predictor`` and write the outputs under ``out_dir``.

    Writes per image ``masks/<name>.png`` (palette PNG, value = class index) and what ``outputs`` asks for,
    then ``summary.csv`` and, with ``ground_truth``, ``metrics.json`` + ``metrics.md``. A name with
    sub-folders (``day1/x``, from :func:`find_inputs` with ``recursive``) writes ``masks/day1/x.png`` ...,
    and ``summary.csv`` then has an ``output`` column naming it. Gray images for an RGB model and RGB images
    for a gray model are converted (:func:`model_image`; ``BatchResult.converted``); an image whose stored
    values are far outside the model's intensity window is segmented as it is and noted
    (``BatchResult.window_notes``, and a ``window_note`` column in ``summary.csv``). A failing input
    (unreadable image, wrong channels, ground truth of another size: ValueError, TypeError, OSError; or
    any other error an engine raises on that image, as one line naming the file: a RuntimeError) is
    recorded, passed to ``on_error(path, exc)``, and leaves no files behind (a failed write, e.g. a full
    disk, removes that input's outputs and names the file it could not write); the others complete. An
    image whose ground-truth file cannot be decoded (corrupt, truncated) is segmented and left out of the
    scores (``BatchResult.unread_truth``: why, naming the file), as one without a mask is. When
    every input fails, an output folder created here is removed again (no ``summary.csv``).

    Interrupted (KeyboardInterrupt: Ctrl-C, or SIGTERM as the CLI raises it): ``summary.csv`` (and the
    metrics with ``ground_truth``) of the images completed so far is written, the outputs of the image being
    written are removed, and :class:`PredictInterrupted` is raised. In a folder used before, ``summary.csv``
    then lists this run's completed images only, as after a whole run; a folder created here that got
    nothing is removed.

    A georeferenced input (a GeoTIFF: :func:`~unetkit.inference.georef.read_georef`) also gets
    ``masks/<name>.tif``: its mask (the PNG's values) carrying its georeferencing, which GIS tools overlay on
    the image (:func:`~unetkit.inference.writers.save_mask_geotiff`; void, outside ``roi``, as nodata).

    Args:
        predictor: any backend's predictor (``predict(image) -> (mask, probs)``, ``config``), or an
            :class:`~unetkit.inference.instance_predictor.InstancePredictor` (then ``instances/`` is always
            written; a Mask R-CNN's mask is ``labels > 0`` and its overlay draws the instance outlines).
        files: image paths, str or Path (see :func:`find_inputs`).
        out_dir: output folder (created).
        outputs: per-image extras (default :class:`OutputOptions`).
        ground_truth: score the predictions against these masks (paired as ``fit`` pairs them; an input is
            never its own mask); ``summary.csv`` then ends with a ``mask_file`` column naming the mask each
            image was paired with ('' for none). ``metrics.json`` records the engine that ran (``engine``:
            backend and precision, ``engine_model``: its file) and ``summary.csv`` has an ``engine`` column,
            where the predictor says (``engine()``).
        on_error: called with each failed input and its error.
        progress: called as ``progress(images_done, images_total)`` after each input.
        names: output base name per file (:attr:`Inputs.names`; default :func:`output_names`); a name's
            sub-folders also select the ground-truth (and ROI) sub-folder of that name where it exists.
        roi: a folder of region-of-interest (field-of-view) masks, paired with the images as ``fit`` pairs
            them (:func:`~unetkit.data.io.read_roi`: non-zero inside). Outside its ROI an image's mask is
            void (IGNORE_INDEX, 255), its overlay untinted, its instances removed, its ground truth not
            scored, and its summary fractions count the pixels inside only (``roi`` column: the file).
            Probability maps still cover the whole image. An image without an ROI fails, naming the folder.
    """
    from unetkit.inference.georef import nodata_outside, read_georef
    from unetkit.inference.instance_predictor import InstancePredictor, instance_predictor_for
    from unetkit.inference.writers import (
        class_fractions,
        instances_suffix,
        save_instances,
        save_mask_geotiff,
        save_mask_png,
        save_outlines_geojson,
        save_probs,
        save_rgb_png,
        write_csv,
    )
    from unetkit.viz.overlay import display_image, prediction_overlay, untinted_class

    files = _paths(files)
    opts = outputs or OutputOptions()
    instancer: InstancePredictor | None = None
    if isinstance(predictor, InstancePredictor):
        instancer = predictor
    elif opts.instances != "none":
        instancer = instance_predictor_for(
            predictor,
            opts.instances,
            foreground=opts.foreground,
            min_size=opts.min_size,
            min_distance=opts.min_distance,
        )
    class_names, palette = classes_and_colours(predictor if instancer is None else instancer)
    void = _void_colour(predictor if instancer is None else instancer)
    untinted = untinted_class(class_names)
    stored = (
        _stored_lookup(
            predictor if instancer is None else instancer, palette, opts.binary_masks, roi is not None
        )
        if opts.mask_values == "stored"
        else None
    )
    if instancer is not None:
        in_channels = instancer.in_channels
        convert, window = instancer.convert_channels, instancer.intensity_window
        if opts.probs != "none" and not instancer.has_probs:
            raise ValueError(
                f"a {instancer.method} model gives no class probabilities; drop --probs {opts.probs}."
            )
    else:
        in_channels = int(predictor.config.in_channels)
        convert = bool(getattr(predictor.config, "convert_channels", False))
        window = getattr(predictor.config, "intensity_window", None)
    k = len(class_names)  # >= 2: a one-logit model predicts 0/1
    found = engine_of(predictor if instancer is None else instancer)
    engine = None if found is None else (f"{found[0]} {found[1]}", str(found[2]))  # ("openvino int8", file)
    scorer = None
    score_columns: list[str] = []
    objects = None  # instance scores: ground truth of instance labels, predicted with instances
    if ground_truth is not None:
        scorer = ScoreAccumulator(k, ignore_index=ground_truth.ignore_index, isbi=ground_truth.isbi)
        score_columns = list(image_score_cells({}, class_names, k, ground_truth.isbi))
        truths = CompanionFiles(Path(ground_truth.folder), "mask")
        if instancer is not None and ground_truth.encoding.kind == "instances":
            from unetkit.data.instances import read_label_image
            from unetkit.metrics.instance import InstanceScoreAccumulator

            objects = InstanceScoreAccumulator()  # AP50, AP75, mAP, SEG as `unetkit test` scores them
    if roi is not None and not Path(roi).is_dir():
        raise ValueError(f"ROI folder {roi} does not exist; pass the folder of region-of-interest masks")
    rois = None if roi is None else CompanionFiles(Path(roi), "ROI")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(errno.EEXIST, "exists and is not a folder", str(out))
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    names = output_names(files) if names is None else list(names)
    if len(names) != len(files):
        raise ValueError(f"{len(names)} output names for {len(files)} files; give one name per file")
    # An "output" column where an output is not named by its file's stem: sub-folders (day1/x), or a
    # collision's suffix (x.jpg and x.png -> x and x__2).
    nested = any(n != f.stem for f, n in zip(files, names))
    rows: list[dict[str, Any]] = []
    failures: list[tuple[Path, Exception]] = []
    unscored: list[Path] = []
    unread_truth: list[tuple[Path, str]] = []
    scored = 0
    converted: list[Path] = []
    window_notes: list[tuple[Path, str]] = []
    removed: list[Path] = []

    def _batch_result() -> BatchResult:
        columns = [
            "file",
            *(["output"] if nested else []),
            *(["roi"] if rois is not None else []),
            "height",
            "width",
        ]
        columns += [*[f"frac_{n}" for n in class_names], "instances", "seconds"]
        # Only when an image needs it, as "output": a run of fitting images keeps its usual columns.
        columns += ["window_note"] if window_notes else []
        # With ground truth: which mask file each image was scored against ('' for none), so that a wrong
        # pairing shows.
        columns += ["mask_file"] if ground_truth is not None else []
        # Each scored image's own scores (blank for an image without ground truth): per-slice QA reads these
        # first (trials 22 and 25); the pooled scores are metrics.json's.
        columns += score_columns
        # The engine that made every row ("openvino int8", "torch fp32 on cpu"): backend auto may pick an
        # INT8 export, whose results differ slightly from PyTorch's.
        columns += ["engine"] if engine is not None else []
        return BatchResult(
            rows=rows,
            failures=failures,
            class_names=class_names,
            columns=columns,
            unscored=unscored,
            unread_truth=unread_truth,
            scored=scored,
            converted=converted,
            conversion=CONVERSIONS.get(in_channels, ""),
            model_converts=convert,
            window_notes=window_notes,
            removed=removed,
        )

    def _finish(result: BatchResult) -> None:
        """summary.csv of ``rows`` and, with ground truth, the metrics of the scored ones."""
        write_csv(out / "summary.csv", rows, result.columns)
        scored = result.scored
        if scorer is not None and scored:
            result.scores = scorer.compute()
            if objects is not None and instancer is not None:
                result.scores["instances"] = {
                    "method": instancer.method,
                    "params": dict(instancer.params),
                    **objects.compute(),
                }
            # "images": those scored; "not_scored": those segmented without (readable) ground truth.
            result.table = write_batch_metrics(
                out, result.scores, class_names, scored, not_scored=len(rows) - scored,
                tta=scored_views(predictor),
                **({} if engine is None else {"engine": engine[0], "engine_model": engine[1]}),
            )  # fmt: skip
        elif scorer is not None:
            # Nothing of this run scored: an earlier run's metrics would pass for this summary's.
            for stale in (out / "metrics.json", out / "metrics.md"):
                stale.unlink(missing_ok=True)

    writing: str | None = None  # the output name of the image whose files are being written
    try:
        for index, (path, name) in enumerate(zip(files, names)):
            start = time.perf_counter()
            try:
                link = broken_link(path)
                if link is not None:
                    raise ValueError(f"{path} is {link}; fix or remove the link")
                raw = read_raw_image(path)
                image, was_converted, window_note = model_image(raw, path, in_channels, window)
                georef = read_georef(path)  # None unless a GeoTIFF: its tags only, no pixels
                shape = image.shape[:2]
                # A GeoTIFF's nodata pixels (GDAL_NODATA: a reprojected scene's border) are left out as an
                # ROI's outside is: void in the mask (the mask GeoTIFF's nodata), unscored, untinted (a GIS
                # trial's nodata border came out as trees).
                inside: np.ndarray | None = None
                nodata = georef.nodata if georef is not None else None
                if nodata is not None:
                    outside = nodata_outside(raw, nodata)
                    if outside.any():
                        inside = ~outside
                        logger.info(
                            "%s: %d pixels hold its nodata value %g: left out (void %d in the mask, the mask "
                            "GeoTIFF's nodata)", path, int(outside.sum()), nodata, IGNORE_INDEX,
                        )  # fmt: skip
                del raw
                # The ROI and the ground truth are read before the tiles run: a mask that does not fit fails
                # this image at once, not after minutes of tiles of a large scene (a GIS trial).
                roi_file = None
                if rois is not None:
                    roi_file = rois.find(name, path.stem, path)
                    if roi_file is None:
                        raise ValueError(
                            f"no ROI for {path.name} in {rois.root} (looked for the same stem, or with a "
                            "suffix such as _mask or _fov); add one, or predict it without --roi"
                        )
                    in_roi = read_roi(roi_file, shape, paired_with=f"image {path}")
                    inside = in_roi if inside is None else inside & in_roi
                target = None
                truth_error = ""
                # An image without a mask in the ground-truth folder is segmented and left unscored (a folder
                # of new images with a few annotated is common), and so is one whose mask file cannot be
                # decoded (corrupt, truncated): its prediction does not depend on it. A mask that reads but
                # does not fit (wrong size, another kind of mask, a value without a class) is an error: the
                # pairing or the options are wrong.
                mask_file = ""  # summary.csv's mask_file: the file paired with this image as its ground truth
                truth = None
                if ground_truth is not None:
                    truth = truths.find(name, path.stem, path)
                    if truth is not None:
                        mask_file = str(truth)
                        try:
                            target = compact_classes(
                                _read_sized(
                                    truth,
                                    ground_truth.encoding,
                                    shape,
                                    ground_truth.other_kind_fix,
                                    ground_truth.unknown_colour_fix,
                                )
                            )
                        except ValueError as exc:
                            if not unreadable_file(exc):
                                raise
                            truth, truth_error = None, str(exc)
                    if target is not None and inside is not None:
                        target = np.where(inside, target, ground_truth.ignore_index).astype(target.dtype)
                true_labels = None
                if objects is not None and truth is not None and instancer is not None:
                    true_labels = read_label_image(truth, shape)
                    if inside is not None:
                        true_labels = np.where(inside, true_labels, 0)
                labels: np.ndarray | None = None
                count: int | None = None
                if instancer is not None:
                    prediction = instancer.predict(image)
                    mask, probs = prediction.mask, prediction.probs
                    labels, count = prediction.labels, prediction.count
                elif opts.probs == "none" and hasattr(predictor, "predict_mask"):
                    # No probabilities asked for: the mask alone, made band by band without TTA, so that
                    # a large scene never holds its (K, H, W) float32 maps (BasePredictor.predict_mask).
                    mask, probs = predictor.predict_mask(image), None
                else:
                    mask, probs = predictor.predict(image)
                if inside is not None:
                    mask = np.where(inside, mask, IGNORE_INDEX).astype(mask.dtype, copy=False)
                    if labels is not None:
                        labels = np.where(inside, labels, 0).astype(labels.dtype, copy=False)
                        count = len(np.unique(labels[labels > 0]))
                # Everything computed: only now write, so a failing input leaves no files behind (a failing
                # write, e.g. a full disk, removes the files this input already wrote).
                classes: int | None
                if stored is None:
                    values, colours, classes = mask, palette, k
                else:
                    lut, colours = stored
                    values, classes = lut[mask], None
                save_mask = partial(
                    save_mask_png, mask=values, num_classes=classes, palette=colours, void_color=void
                )
                jobs: list[tuple[Path, Callable[[Path], object]]] = [
                    (out / "masks" / f"{name}.png", save_mask)
                ]
                if georef is not None:
                    # A georeferenced input's mask also as a GeoTIFF with its georeferencing, which GIS tools
                    # overlay on the image (the same values and colours as the PNG; void is its nodata).
                    save_geo = partial(
                        save_mask_geotiff,
                        mask=values,
                        georef=georef,
                        num_classes=classes,
                        palette=colours,
                        nodata=IGNORE_INDEX if inside is not None else None,
                    )
                    jobs.append((out / "masks" / f"{name}.tif", save_geo))
                    if stored is None:  # class indices: a GDAL sidecar names them (QGIS shows the names)
                        names_file = out / "masks" / f"{name}.tif{SIDECAR}"
                        jobs.append(
                            (names_file, partial(_save_names, class_names=class_names, colors=colours))
                        )
                if opts.probs != "none" and probs is not None:  # None only for Mask R-CNN (refused above)
                    ext = "npy" if opts.probs == "npy" else "tif"
                    save = partial(
                        save_probs, probs=probs, fmt=opts.probs, dtype=np.dtype(opts.probs_dtype),
                        # A one-logit model's one band is its foreground's probability (class 1's name).
                        georef=georef, class_names=class_names[len(class_names) - probs.shape[0] :],
                        outside=None if inside is None or opts.probs != "tiff" else ~inside,
                    )  # fmt: skip
                    jobs.append((out / "probs" / f"{name}.{ext}", save))
                if opts.overlay:
                    # With instances (asked for, or a Mask R-CNN's own) each is outlined: the one overlay
                    # drawing.
                    rgb = prediction_overlay(image, mask, palette, opts.alpha, labels, background=untinted)
                    if inside is not None:  # outside the region of interest (or nodata): the image as it is
                        rgb[~inside] = display_image(image)[~inside]
                    jobs.append((out / "overlays" / f"{name}.png", partial(save_rgb_png, rgb=rgb)))
                if labels is not None:  # a 16-bit PNG, a 32-bit TIFF past 65535 objects
                    file = out / "instances" / f"{name}{instances_suffix(labels)}"
                    jobs.append((file, partial(save_instances, labels=labels)))
                    if opts.outlines:
                        outline = partial(
                            save_outlines_geojson, labels=labels, mask=mask, class_names=class_names
                        )
                        jobs.append((out / "outlines" / f"{name}.geojson", outline))
                writing = name  # from here until its row is kept, this image's files are in flux
                _write_all(jobs)
                written = {path for path, _ in jobs}
                for stale in _output_paths(out, name):
                    # An earlier run's output of this image that this run does not write (instances/x.png
                    # from a run with --instances, probs/x.npy ...): it would pass for this run's.
                    if stale not in written and stale.is_file():
                        stale.unlink()
                        removed.append(stale)
                own: dict[str, Any] = {}
                if scorer is not None and target is not None:
                    own = image_score_cells(scorer.update(mask, target), class_names)
                    scored += 1
                if objects is not None and true_labels is not None and labels is not None:
                    objects.update(true_labels, labels)
            except (ValueError, TypeError, OSError) as exc:
                failures.append((path, exc))
                if on_error is not None:
                    on_error(path, exc)
            except Exception as exc:  # an engine's own error (onnxruntime, OpenVINO, torch) on this image
                # The console gets one line (on_error); the traceback goes to the log at DEBUG, shown with
                # `unetkit predict -v`, so that the error can be reported.
                logger.debug("unexpected error while predicting %s", path, exc_info=exc)
                exc = _unexpected(path, exc)
                failures.append((path, exc))
                if on_error is not None:
                    on_error(path, exc)
            else:
                fractions = class_fractions(mask, k)
                row: dict[str, Any] = {"file": str(path), "height": mask.shape[0], "width": mask.shape[1]}
                if nested:
                    row["output"] = name
                if roi_file is not None:
                    row["roi"] = str(roi_file)
                row.update({f"frac_{n}": f"{f:.6f}" for n, f in zip(class_names, fractions)})
                row["instances"] = "" if count is None else count
                row["seconds"] = f"{time.perf_counter() - start:.3f}"
                rows.append(row)
                if truth_error:
                    unread_truth.append((path, truth_error))
                elif ground_truth is not None and target is None:
                    unscored.append(path)
                if was_converted:
                    converted.append(path)
                if window_note is not None:
                    row["window_note"] = window_note
                    window_notes.append((path, window_note))
                if ground_truth is not None:
                    row["mask_file"] = mask_file  # '' where the folder holds no mask of this image
                    row.update({column: own.get(column, "") for column in score_columns})
                if engine is not None:
                    row["engine"] = engine[0]
                writing = None
            if progress is not None:
                progress(index + 1, len(files))
    except KeyboardInterrupt as stop:
        touched = bool(rows) or bool(removed)
        if writing is not None:
            # Interrupted while its files were written: drop them all (an earlier run's too), so that no image
            # keeps a mix of two runs' outputs and none is left that summary.csv does not list.
            for stale in _output_paths(out, writing):
                if stale.is_file():
                    stale.unlink()
                    touched = True
        result = _batch_result()
        if touched:
            _finish(result)
        elif created:
            shutil.rmtree(out, ignore_errors=True)
        interrupted = PredictInterrupted(result, len(files), out, written=touched)
        if hasattr(stop, "exit_code"):
            interrupted.exit_code = stop.exit_code  # type: ignore[attr-defined]
        raise interrupted from stop
    result = _batch_result()
    if not rows and files:
        # Every input failed: leave no output folder behind (one made here, with only empty sub-folders).
        if created:
            shutil.rmtree(out, ignore_errors=True)
        return result
    _finish(result)
    logger.debug("%d image(s) segmented, %d failed", len(rows), len(failures))
    return result
