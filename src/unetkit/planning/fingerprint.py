"""Fingerprint: the numbers a plan is made from (torch-free; NumPy and SciPy).

Image sizes, channels, intensity statistics per channel (and the normalisation they call for), class
frequencies in pixels, object sizes per class (connected components) and the dataset size. Only the
**training split** is read (choices are made on training data, never on validation or test images), and
only a deterministic subsample of it: up to ``max_images`` images evenly spaced over the sorted training
names, which keeps a fingerprint within seconds on a few hundred images.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from unetkit.constants import IGNORE_INDEX
from unetkit.data.instance_targets import instance_target
from unetkit.data.io import (
    PER_IMAGE_PERCENTILES,
    WINDOW_PERCENTILES,
    MaskEncoding,
    bit_depth,
    convert_channels,
    deep_bit_depth,
    is_per_image,
    per_image_window,
    read_mask,
    read_raw_image,
    read_roi,
    to_uint8,
    window_from_pixels,
)
from unetkit.data.sampling import evenly_spaced
from unetkit.planning.discovery import DatasetLayout, MaskInfo, Sample, read_mask_values
from unetkit.planning.discovery.encoding import wrapped_ids_note

logger = logging.getLogger(__name__)

DEFAULT_MAX_IMAGES = 48
# Pixels per image used for the intensity statistics (a strided subsample: statistics, not training).
_INTENSITY_PIXELS = 65536
# Exposure differs from image to image when the 90th percentile of the training images' own bright ends
# (each image's PER_IMAGE_PERCENTILES[1]-th percentile) is at least this many times the 10th: non-photo
# images are then mapped each by its own percentiles (a per-image window). DSB2018 (fluorescence of many
# exposures) passes, ISBI 2012 (one EM stack) does not (tests/planning/test_real_data.py); on DSB2018 the
# per-image window gained validation Dice at equal steps (benchmarks/results/per_image_window/).
EXPOSURE_SPREAD = 2.0
# A class whose components are at least this share of the image's short side is "stuff" (sky, road,
# background): its size says nothing about the receptive field an object needs.
STUFF_EXTENT_SHARE = 0.5
# Components smaller than this (px) are fragments (resampling noise, label speckle), not objects.
MIN_OBJECT_AREA = 9


@dataclass(frozen=True)
class ClassStats:
    """Pixels and objects of one class over the sampled training masks.

    ``extent`` is the longer side of a component's bounding box (px): the length a receptive field must see.
    ``objects`` counts connected components of at least ``MIN_OBJECT_AREA`` px (instance labels for 16-bit
    instance masks); median and percentiles are over those objects. ``coverage_extent`` is the pixel-weighted
    median extent (half the class's pixels lie in components at least this long): ``stuff`` classes (sky,
    road, membranes) have one about the size of the image.
    """

    index: int
    name: str
    pixel_fraction: float
    image_fraction: float
    objects: int = 0
    extent_median: float = 0.0
    extent_p10: float = 0.0
    extent_p90: float = 0.0
    area_median: float = 0.0
    area_p10: float = 0.0
    coverage_extent: float = 0.0
    stuff: bool = False


@dataclass(frozen=True)
class Fingerprint:
    """What :func:`fingerprint` measured; plain data (``to_dict()`` for JSON/YAML)."""

    root: str
    num_images: dict[str, int]
    train_pixels: int
    channels: int
    size_median: tuple[int, int]
    size_min: tuple[int, int]
    size_max: tuple[int, int]
    distinct_sizes: int
    intensity: dict[str, list[float]]  # mean, std, p0.5, p50, p99.5 per channel, on the 0..255 scale
    gray_as_rgb: float  # share of sampled RGB images with R = G = B (fluorescence stored as RGB)
    normalization: str  # "zscore" or "unit" (x / 255)
    mean: tuple[float, ...]  # what the plan puts in data.options (pixel values in [0, 1])
    std: tuple[float, ...]
    normalization_reason: str
    classes: tuple[ClassStats, ...]
    ignore_fraction: float
    vertical_asymmetry: float  # total variation between the class mix of the top and bottom halves
    sampled_images: int
    seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)
    bit_depth: int = 8  # of the stored pixels (16 for uint16 microscopy; 0 for float images)
    # Deeper than 8 bits: per channel [lo, hi] of stored values mapped onto the 0..255 scale above; or
    # {"percentiles": [lo, hi]} where exposure differs between images (each image by its own percentiles).
    intensity_window: list[list[float]] | dict[str, Any] | None = None
    window_reason: str = ""
    exposure_spread: float = 0.0  # 90th / 10th percentile of the images' own bright ends (EXPOSURE_SPREAD)
    # How often turning random images upside down gives as large a vertical_asymmetry (_upright_p): 13 images
    # of randomly placed blobs once differed by 0.10, the plan's threshold, by chance. 0.0: not measured.
    upright_p: float = 0.0
    # The stored pixel type(s) of the sampled images ("uint16"; "uint8/uint16" where they differ): with
    # bit_depth, what the plan's report says of the images (images_text). "": not recorded (older plans).
    dtype: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["classes"] = [asdict(c) for c in self.classes]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fingerprint:
        """The fingerprint :meth:`to_dict` wrote (dataset.json's ``fingerprint``): plan.png redrawn for a
        reused plan file. Raises KeyError or TypeError for a dict of another shape."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["classes"] = tuple(ClassStats(**c) for c in data["classes"])
        for name in ("size_median", "size_min", "size_max", "mean", "std", "notes"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)


def mask_encoding(layout: DatasetLayout) -> MaskEncoding | None:
    """The :class:`MaskEncoding` of ``layout`` (None for instance labels, which are decoded here)."""
    from unetkit.data.mask_options import mask_info_encoding

    if layout.mask.kind == "instances":
        return None
    return mask_info_encoding(layout.mask)  # one rule: kmeans reads ground truth through it too


def _classes_and_objects(
    sample: Sample,
    encoding: MaskEncoding | None,
    num_classes: int,
    target: MaskInfo | None = None,
    label_types: dict[Path, tuple[str, int]] | None = None,
) -> tuple[np.ndarray, list[tuple[int, np.ndarray, np.ndarray]]]:
    """(class map int64 (H, W) with IGNORE_INDEX, [(class, extents, areas) of its components]).

    Instance labels give their objects directly (touching nuclei stay separate); other encodings use
    8-connected components of each class. ``label_types``: filled with each instance label file's stored
    type and highest id (from the values read here: wrapped 8-bit ids, :func:`_wrapped_ids`).
    """
    objects: list[tuple[int, np.ndarray, np.ndarray]] = []
    if encoding is None:
        target = target or MaskInfo("instances", 2, ("background", "foreground"))
        raw = read_mask_values(sample.mask)
        if raw.ndim != 2:
            raise ValueError(f"instance label image {sample.mask} is a colour image; store labels in gray")
        # The classes trained from the labels (object/background, or a boundary/energy target's).
        classes = instance_target(raw, target.target, target.target_params).astype(np.int64)
        found = ndimage.find_objects(raw.astype(np.int64))
        inst_ext = [max(s[0].stop - s[0].start, s[1].stop - s[1].start) for s in found if s is not None]
        inst_area = np.bincount(raw.ravel().astype(np.int64))[1:]
        if label_types is not None:
            label_types[sample.mask] = (str(raw.dtype), len(inst_area))  # the highest id (bincount's length)
        objects.append((1, np.asarray(inst_ext, dtype=float), inst_area[inst_area > 0].astype(float)))
    else:
        classes = read_mask(sample.mask, encoding)
    if sample.roi is not None:
        classes = np.where(read_roi(sample.roi, classes.shape, f"mask {sample.mask}"), classes, IGNORE_INDEX)
    if encoding is not None:
        structure = np.ones((3, 3), dtype=bool)
        for c in range(num_classes):
            labels, n = ndimage.label(classes == c, structure=structure)
            if n == 0:
                continue
            slices = ndimage.find_objects(labels)
            ext = np.asarray([max(s[0].stop - s[0].start, s[1].stop - s[1].start) for s in slices], float)
            areas = np.bincount(labels.ravel())[1:].astype(float)
            objects.append((c, ext, areas))
    return classes, objects


# nnU-Net's normalisation by a dataset.json channel name (casefolded, as nnU-Net looks them up); any other
# name gets its per-image z-score (NNUNET_PER_IMAGE).
NNUNET_NORMALIZATION = {
    "ct": "clip to the foreground's 0.5-99.5 percentiles, then z-score with the foreground's mean/std",
    "nonorm": "leave the stored values as they are",
    "rgb_to_0_1": "divide by 255",
    "rescale_to_0_1": "rescale each image's own min..max onto 0..1",
}
NNUNET_PER_IMAGE = "z-score each image with its own mean/std"
# Channel names whose nnU-Net rule a fixed x / 255 honours (noNorm up to the scale: nothing from the data).
UNIT_CHANNEL_NAMES = {"rgb_to_0_1", "nonorm"}


def _nnunet_rule(names: Sequence[str]) -> str:
    """``dataset.json's channel_names say CT: nnU-Net would clip ...``: what nnU-Net does with ``names``."""
    rules = [NNUNET_NORMALIZATION.get(n.casefold(), NNUNET_PER_IMAGE) for n in names]
    said = f"dataset.json's channel_names say {', '.join(names)}: nnU-Net would "
    if len(set(rules)) == 1:
        return said + rules[0]
    return said + "; ".join(f"{r} (channel {i}, {n})" for i, (n, r) in enumerate(zip(names, rules)))


def is_ct(names: Sequence[str]) -> bool:
    """Whether dataset.json's channel ``names`` (nnU-Net's) are all CT: one foreground window for them all."""
    return bool(names) and all(n.casefold() == "ct" for n in names)


def declared_unit(names: Sequence[str]) -> bool:
    """Whether dataset.json's channel ``names`` (nnU-Net's) ask for a fixed scale: every one rgb_to_0_1 or
    noNorm. No per-image window then either: the scale is the same for every image."""
    return bool(names) and all(n.casefold() in UNIT_CHANNEL_NAMES for n in names)


def _normalization(
    channels: int,
    gray_as_rgb: float,
    mean: np.ndarray,
    std: np.ndarray,
    p_lo: np.ndarray,
    p_hi: np.ndarray,
    sampled: int = 0,
    names: Sequence[str] = (),
    ct_clipped: bool = False,
    depth: str = "",
) -> tuple[str, tuple[float, ...], tuple[float, ...], str]:
    """x / 255 for natural colour photos, a z-score (one mean/std for all images) for everything else;
    an nnU-Net dataset.json's channel ``names`` decide where unetkit can follow them.

    RGB photos are divided by 255 (their 0..255 scale means the same for every camera; nnU-Net's
    rgb_to_0_1), other images (microscopy, EM, MRI) get a z-score because their intensity range is arbitrary.
    Without channel names the pixels tell: three distinct colour channels -> photo. ``gray_as_rgb`` is the
    share of the ``sampled`` images stored as RGB with R = G = B; the reason says it where the set is mixed
    (DSB 2018: about a fifth colour histology among gray fluorescence). With ``names``: all rgb_to_0_1 or
    noNorm -> x / 255; CT -> z-score (``ct_clipped``: ``mean``/``std`` are the foreground's, after the
    foreground-percentile window of :func:`_ct_window`: nnU-Net's CT rule); other names keep the pixels'
    choice. The reason says what nnU-Net would do and where unetkit differs (one mean/std per channel for
    all images, no per-image z-score). ``depth`` (``16-bit (uint16)``) is said of non-photo images.
    """
    of = f" of the {sampled} sampled images" if sampled else " of the sampled images"
    colour = 1.0 - gray_as_rgb
    nnunet = _nnunet_rule(names) if names else ""
    if declared_unit(names):
        differs = (
            "; unetkit divides by 255 all the same, a fixed scale that takes nothing from the data"
            if any(n.casefold() == "nonorm" for n in names)
            else ""
        )
        return "unit", (0.0,) * channels, (1.0,) * channels, f"x / 255 ({nnunet}{differs})"
    ct = is_ct(names)
    if _is_photo(channels, gray_as_rgb) and not ct:
        mixed = (
            f"; {gray_as_rgb:.0%}{of} are gray stored as RGB (R = G = B), under half, and share the scale"
            if gray_as_rgb > 0
            else ""
        )
        differs = f"; {nnunet}; unetkit divides colour photos by 255 all the same" if names else ""
        return (
            "unit",
            (0.0,) * channels,
            (1.0,) * channels,
            "x / 255 (colour photos, as nnU-Net's rgb_to_0_1: three distinct colour channels, one 0..255 "
            f"scale{mixed}{differs})",
        )
    deep = f"{depth} " if depth else ""
    if channels == 1:
        what = f"{deep}gray images"
    elif channels == 3 and colour > 0:
        what = (
            f"{gray_as_rgb:.0%}{of} are gray stored as RGB (R = G = B) and {colour:.0%} colour: mostly "
            "gray, not a set of colour photos, so one z-score for all, the colour ones included"
        )
    elif channels == 3:
        what = f"every one{of} is gray stored as RGB (R = G = B)"
    else:
        what = f"{depth}, {channels} channels, not RGB" if depth else f"{channels} channels, not RGB"
    span = _spans(p_lo, p_hi)
    if ct_clipped:
        return (
            "zscore",
            tuple(round(float(m) / 255.0, 5) for m in mean),
            tuple(round(max(float(s), 1.0) / 255.0, 5) for s in std),
            "z-score with the training foreground's mean/std after the foreground-percentile window "
            f"({nnunet}; unetkit does so on the 0..255 scale the window maps onto)",
        )
    if ct:  # float pixels, or no foreground in the sampled masks: no window to clip with
        differs = (
            f"; {nnunet}; unetkit z-scores with the mean/std of all the sampled training pixels, unclipped "
            "(float pixels or no foreground sampled: no clipping window)"
        )
    elif names:
        differs = f"; {nnunet}; unetkit uses one mean/std for all images"
    else:
        differs = ""
    return (
        "zscore",
        tuple(round(float(m) / 255.0, 5) for m in mean),
        tuple(round(max(float(s), 1.0) / 255.0, 5) for s in std),
        f"z-score with the training images' mean/std (non-photo images: {what}; 0.5-99.5 percentile range "
        f"{span} of 0..255 is arbitrary{differs})",
    )


# Random upside-down turnings of the sampled images that _upright_p compares the observed asymmetry with.
UPRIGHT_PERMUTATIONS = 400


def _class_mix_difference(top: np.ndarray, bottom: np.ndarray) -> float:
    """Total variation between the class mix (shares) of the pooled top halves and bottom halves."""
    t_share = top / max(int(top.sum()), 1)
    b_share = bottom / max(int(bottom.sum()), 1)
    return 0.5 * float(np.abs(t_share - b_share).sum())


def _upright_p(top: np.ndarray, bottom: np.ndarray, differences: np.ndarray, observed: float) -> float:
    """The share of random upside-down turnings of the images (each image turned or not, at random; seeded)
    whose pooled class mix differs between top and bottom at least as much as ``observed`` (a sign-flip
    permutation test: without an up, a turned image is as likely as the image). ``differences``: (images, K)
    per-image top-half counts less bottom-half counts. A few images cannot show an up: 4 images give at
    best 1/16."""
    if len(differences) == 0:
        return 1.0
    rng = np.random.default_rng(0)
    turned = rng.integers(0, 2, size=(UPRIGHT_PERMUTATIONS, len(differences)))
    moved = turned @ differences  # (P, K): what the turned images move from the top halves to the bottom
    tops, bottoms = top - moved, bottom + moved
    t_share = tops / np.maximum(tops.sum(axis=1, keepdims=True), 1)
    b_share = bottoms / np.maximum(bottoms.sum(axis=1, keepdims=True), 1)
    tv = 0.5 * np.abs(t_share - b_share).sum(axis=1)
    return float((1 + np.count_nonzero(tv >= observed - 1e-12)) / (UPRIGHT_PERMUTATIONS + 1))


def fingerprint(layout: DatasetLayout, *, max_images: int = DEFAULT_MAX_IMAGES) -> Fingerprint:
    """Measure ``layout``'s training split (up to ``max_images`` images, evenly spaced; deterministic)."""
    start = time.perf_counter()
    train = layout.samples_of("train") or list(layout.samples)
    sampled = evenly_spaced(train, max_images)
    encoding = mask_encoding(layout)
    num_classes = layout.mask.num_classes
    names = list(layout.mask.class_names)
    sizes = dict(zip((s.name for s in layout.samples), layout.sizes))
    train_sizes = np.asarray([sizes[s.name] for s in train if s.name in sizes] or [(0, 0)])
    counts = np.zeros(num_classes, dtype=np.int64)
    images_with = np.zeros(num_classes, dtype=np.int64)
    top = np.zeros(num_classes, dtype=np.int64)
    bottom = np.zeros(num_classes, dtype=np.int64)
    top_minus_bottom: list[np.ndarray] = []  # per image: its top half's class counts less its bottom half's
    ignored = 0
    total = 0
    extents: list[list[np.ndarray]] = [[] for _ in range(num_classes)]
    areas: list[list[np.ndarray]] = [[] for _ in range(num_classes)]
    pixels: list[np.ndarray] = []
    # A float image's sampled values (a per-image window reads them, not its 8-bit reading:
    # io.float_per_image), else None: the window's spans and the mean/std are measured on what it reads.
    fine: list[np.ndarray | None] = []
    gray_rgb = 0
    brights: list[float] = []  # each image's bright end (its brightest channel's upper per-image percentile)
    spans: list[np.ndarray] = []  # each image's span per channel between its per-image percentiles
    depths: dict[int, str] = {}
    label_types: dict[Path, tuple[str, int]] = {}  # instance label file -> (stored type, highest id)
    dtypes: set[str] = set()
    channel_brights: list[np.ndarray] = []  # each image's upper per-image percentile per channel
    modalities = _channel_names(layout.channel_names, layout.channels)
    # Stored pixels (N, C) of classes other than 0, for a CT window only (nothing else reads them).
    foreground: list[np.ndarray] | None = [] if is_ct(modalities) else None
    for sample in sampled:
        # Stored values (the window of deep images is measured on them), without an alpha channel.
        raw = read_raw_image(sample.image)
        depths.setdefault(bit_depth(raw), sample.image.name)
        dtypes.add(str(raw.dtype))
        floats = None
        if raw.dtype.kind == "f":
            # Its NaN and range checks, naming the file: float pixels joined to other images' went on to
            # fail with NumPy's bare "cannot convert float NaN to integer" (a remote-sensing trial). Then
            # its 8-bit reading, what every reader windows (io.float_to_uint8): measured on floats, the
            # exposure spread and min_span never chose the per-image window raw / 255.0 gets as raw. The
            # values are kept too: a per-image window reads them (io.float_per_image), on the 8-bit scale
            # (x * 255), so its spans are measured on them (raw / 255.0's are raw's exactly).
            eight = to_uint8(raw, sample.image)
            if raw.shape[2] == layout.channels:
                floats = raw
            raw = eight
        image = _as_channels(raw, layout.channels)
        if (
            image.shape[2] == 3
            and np.array_equal(image[..., 0], image[..., 1])
            and np.array_equal(image[..., 0], image[..., 2])
        ):
            gray_rgb += 1
        stride = max(1, int(np.sqrt(image.shape[0] * image.shape[1] / _INTENSITY_PIXELS)))
        pixels.append(image[::stride, ::stride].reshape(-1, image.shape[2]))
        sampled_floats = None if floats is None else floats[::stride, ::stride].reshape(-1, image.shape[2])
        fine.append(sampled_floats)
        # Per-image percentiles on the 8-bit scale a per-image window reads (a float image's x * 255, in
        # float32 as io.apply_window takes it: raw / 255.0 gives raw's levels exactly).
        levels = pixels[-1] if sampled_floats is None else _float_levels(sampled_floats)
        ends = np.percentile(levels, PER_IMAGE_PERCENTILES, axis=0)  # (2, C)
        brights.append(float(ends[1].max()))
        channel_brights.append(ends[1])
        spans.append(ends[1] - ends[0])
        classes, objects = _classes_and_objects(sample, encoding, num_classes, layout.mask, label_types)
        if foreground is not None:
            strided = classes[::stride, ::stride].reshape(-1)
            foreground.append(pixels[-1][(strided > 0) & (strided != IGNORE_INDEX)])
        valid = classes != IGNORE_INDEX
        total += int(classes.size)
        ignored += int((~valid).sum())
        hist = np.bincount(classes[valid].ravel(), minlength=num_classes)[:num_classes]
        counts += hist
        images_with += hist > 0
        half = classes.shape[0] // 2
        halves = [
            np.bincount(part[part != IGNORE_INDEX].ravel(), minlength=num_classes)[:num_classes]
            for part in (classes[:half], classes[half:])
        ]
        top += halves[0]
        bottom += halves[1]
        top_minus_bottom.append(halves[0] - halves[1])
        for c, ext, area in objects:
            extents[c].append(ext)
            areas[c].append(area)
    depth, fixed, window_reason = _window(depths, np.concatenate(pixels))
    window: list[list[float]] | dict[str, Any] | None = fixed
    gray_share = gray_rgb / len(sampled) if layout.channels == 3 else 0.0
    spread, why = _exposure(brights, np.asarray(channel_brights))
    fg = np.concatenate(foreground) if foreground else np.empty((0, layout.channels))
    # nnU-Net's CT rule where unetkit can follow it: integer pixels (a window clips and maps only those),
    # foreground in the sampled masks. The window replaces a deep image's; the z-score is the foreground's.
    ct = is_ct(modalities) and len(fg) > 0 and 0 not in depths
    if ct:
        window, window_reason = _ct_window(fg)
    elif (
        not _is_photo(layout.channels, gray_share)
        and spread >= EXPOSURE_SPREAD
        and not declared_unit(modalities)
    ):
        # The narrowest training span of each channel bounds that channel's window: a background tile's
        # noise is not stretched to full contrast (false objects), while every sampled training image keeps
        # its own window. Per channel: a dim stain's spans lie far below a bright one's, and the bright
        # channel's narrowest span left a dim channel unstretched (ch1 at most 171 of 255, trial finding 1d).
        # One number where every channel's is the same (one channel; gray stored as RGB, as DSB2018's): what
        # a model folder kept before, and means the same.
        narrowest = [max(1.0, round(float(v), 1)) for v in np.min(np.stack(spans), axis=0)]
        same = len(set(narrowest)) == 1
        window, window_reason = (
            per_image_window(min_span=narrowest[0] if same else narrowest),
            why + f"; {_min_span_text(narrowest)}, so an empty field or background tile keeps its noise dark",
        )
    # On the 0..255 scale the model will see (read_image's rule for the stored values).
    stacked = np.concatenate(
        [
            to_uint8((p if f is None or not is_per_image(window) else f)[:, None, :], s.image, window)[
                :, 0, :
            ]
            for p, f, s in zip(pixels, fine, sampled)
        ]
    ).astype(np.float64)
    mean, std = stacked.mean(0), stacked.std(0)
    p_lo, p50, p_hi = np.percentile(stacked, [0.5, 50, 99.5], axis=0)
    channels = layout.channels
    z_mean, z_std = mean, std
    if ct:  # nnU-Net's CT z-score: the foreground's mean/std, on the scale the window maps it onto
        fg_scaled = to_uint8(fg[:, None, :], "foreground pixels", window)[:, 0, :].astype(np.float64)
        z_mean, z_std = fg_scaled.mean(0), fg_scaled.std(0)
    stored = "/".join(sorted(dtypes))
    norm, n_mean, n_std, reason = _normalization(
        channels,
        gray_share,
        z_mean,
        z_std,
        p_lo,
        p_hi,
        len(sampled),
        modalities,
        ct_clipped=ct,
        depth=_depth_text(depth, stored),
    )
    if layout.channel_names and not modalities:
        reason += (
            f"; dataset.json's channel_names ({', '.join(layout.channel_names)}) name "
            f"{len(layout.channel_names)} channels, the images have {channels}: not followed"
        )
    short_side = float(np.median(train_sizes.min(axis=1)))
    labelled = max(int(counts.sum()), 1)
    stats = []
    for c in range(num_classes):
        all_ext = np.concatenate(extents[c]) if extents[c] else np.zeros(0)
        all_area = np.concatenate(areas[c]) if areas[c] else np.zeros(0)
        keep = all_area >= MIN_OBJECT_AREA
        ext, area = all_ext[keep], all_area[keep]
        med = float(np.median(ext)) if ext.size else 0.0
        coverage = _weighted_median(all_ext, all_area)
        stats.append(
            ClassStats(
                index=c,
                name=names[c],
                pixel_fraction=round(float(counts[c]) / labelled, 6),
                image_fraction=round(float(images_with[c]) / len(sampled), 4),
                objects=int(ext.size),
                extent_median=round(med, 1),
                extent_p10=round(float(np.percentile(ext, 10)), 1) if ext.size else 0.0,
                extent_p90=round(float(np.percentile(ext, 90)), 1) if ext.size else 0.0,
                area_median=float(np.median(area)) if area.size else 0.0,
                area_p10=round(float(np.percentile(area, 10)), 1) if area.size else 0.0,
                coverage_extent=coverage,
                stuff=coverage >= STUFF_EXTENT_SHARE * short_side,
            )
        )
    asymmetry = _class_mix_difference(top, bottom)
    notes = []
    if len(sampled) < len(train):
        notes.append(
            f"read {len(sampled)} of {len(train)} training images (evenly spaced over the sorted names)"
        )
    wrapped = _wrapped_ids(label_types, layout.notes)
    if wrapped:
        notes.append(wrapped)
    absent = [names[c] for c in range(num_classes) if not counts[c]]
    if absent and counts.sum():
        # A class the classes file lists that no mask read holds: the model cannot learn it from these (a
        # trial's classes.json listed one no training mask held, and nothing said so).
        read = f"{len(sampled)} training masks read" + (
            f" (of {len(train)})" if len(sampled) < len(train) else ""
        )
        notes.append(
            f"class(es) {', '.join(absent)} in none of the {read}: the model cannot learn a class it never "
            "sees; add training images that hold it, or drop it from the classes file"
        )
    return Fingerprint(
        root=str(layout.root),
        num_images={k: len(v) for k, v in layout.splits.items()},
        train_pixels=int((train_sizes[:, 0] * train_sizes[:, 1]).sum()),
        channels=channels,
        size_median=_pair(np.median(train_sizes, axis=0)),
        size_min=_pair(train_sizes.min(axis=0)),
        size_max=_pair(train_sizes.max(axis=0)),
        distinct_sizes=len({tuple(s) for s in train_sizes.tolist()}),
        intensity={
            "mean": _r(mean),
            "std": _r(std),
            "p0.5": _r(p_lo),
            "p50": _r(p50),
            "p99.5": _r(p_hi),
        },
        gray_as_rgb=round(gray_share, 3),
        normalization=norm,
        mean=n_mean,
        std=n_std,
        normalization_reason=reason,
        classes=tuple(stats),
        ignore_fraction=round(ignored / max(total, 1), 6),
        vertical_asymmetry=round(asymmetry, 4),
        upright_p=round(_upright_p(top, bottom, np.array(top_minus_bottom), asymmetry), 4),
        sampled_images=len(sampled),
        seconds=round(time.perf_counter() - start, 2),
        notes=tuple(notes),
        bit_depth=depth,
        intensity_window=window,
        window_reason=window_reason,
        exposure_spread=round(spread, 2),
        dtype=stored,
    )


def _depth_text(depth: int, dtype: str) -> str:
    """``16-bit (uint16)``, ``float (float32)``; the bit depth alone without a ``dtype``."""
    bits = f"{depth}-bit" if depth else "float"
    return f"{bits} ({dtype})" if dtype else bits


def images_text(fp: Fingerprint) -> str:
    """``16-bit (uint16), 2 channels``: the stored pixels of a fingerprint's images, as the plan says them
    (a trial's 16-bit 2-channel TIFFs were said as '2 channel(s)' only)."""
    return f"{_depth_text(fp.bit_depth, fp.dtype)}, {fp.channels} channel{'' if fp.channels == 1 else 's'}"


def _float_levels(values: np.ndarray) -> np.ndarray:
    """Float pixels in [0, 1] on the 8-bit scale as a per-image window reads them: float32 ``x * 255``."""
    return (values.astype(np.float32) * np.float32(255.0)).astype(np.float64)


def _min_span_text(narrowest: Sequence[float]) -> str:
    """The plan's words for a per-image window's ``min_span``: one for every channel, or each channel's."""
    if len(set(narrowest)) == 1:
        each = "" if len(narrowest) == 1 else ", in every channel"
        return f"a window is at least {narrowest[0]:g} levels wide (the narrowest training image's{each})"
    each = ", ".join(f"ch{i} {v:g}" for i, v in enumerate(narrowest))
    return f"a window is at least {each} levels wide (each channel's narrowest training image's)"


def _spans(lo: Sequence[float] | np.ndarray, hi: Sequence[float] | np.ndarray) -> str:
    """``12..200`` for one channel, ``ch0 12..200, ch1 40..90`` for several: one range per channel."""
    pairs = [f"{a:.0f}..{b:.0f}" for a, b in zip(lo, hi)]
    return pairs[0] if len(pairs) == 1 else ", ".join(f"ch{i} {p}" for i, p in enumerate(pairs))


def _wrapped_ids(label_types: dict[Path, tuple[str, int]], said: Sequence[str]) -> str | None:
    """The note on sampled 8-bit instance label files whose ids reach 255 among deeper ones (ids past 255
    may have wrapped), for files discovery's sample did not name (``said``: its notes); None if none."""
    deep = [p for p, (dtype, _) in label_types.items() if dtype != "uint8"]
    full = [p for p, (dtype, top) in label_types.items() if dtype == "uint8" and top == 255]
    named = " ".join(said)
    unsaid = [p for p in full if f"{p.parent.name}/{p.name}" not in named]
    if not deep or not unsaid:
        return None
    return wrapped_ids_note(unsaid, len(deep), label_types[deep[0]][0])


def _as_channels(raw: np.ndarray, channels: int) -> np.ndarray:
    """Stored pixels (H, W, C) with ``channels`` channels, in their own type: the few images of another
    channel count (``convert_channels``) converted as training reads them (read_raw_image drops alpha)."""
    return raw if raw.shape[2] == channels else convert_channels(raw, channels)


def _channel_names(names: Sequence[str], channels: int) -> tuple[str, ...]:
    """dataset.json's channel ``names`` for images of ``channels`` channels: as given where they count as
    many, one name for every channel of an RGB file, else none (the reason says they were not followed)."""
    if len(names) == channels:
        return tuple(names)
    return tuple(names) * channels if len(names) == 1 else ()


def _is_photo(channels: int, gray_as_rgb: float) -> bool:
    """Natural colour photos: three channels, most images not gray stored as RGB."""
    return channels == 3 and gray_as_rgb < 0.5


def _exposure(brights: Sequence[float], per_channel: np.ndarray | None = None) -> tuple[float, str]:
    """(spread, why) of the images' own bright ends: the 90th over the 10th percentile across images.

    ``brights``: each image's brightest channel's upper percentile (the spread is theirs); ``per_channel``
    (images, C): each channel's, for the range the reason gives per channel where there are several (a
    dim channel's range was hidden behind the bright one's).
    """
    if len(brights) < 2:
        return 1.0, ""
    p10, p90 = np.percentile(np.asarray(brights, dtype=np.float64), [10, 90])
    spread = float(p90 / max(p10, 1.0))
    lo, hi = PER_IMAGE_PERCENTILES
    span = f"{p10:.0f}..{p90:.0f}, 10th-90th percentile over the training images"
    if per_channel is not None and per_channel.ndim == 2 and per_channel.shape[1] > 1:
        c10, c90 = np.percentile(per_channel.astype(np.float64), [10, 90], axis=0)
        span = (
            f"{_spans(c10, c90)} (10th-90th percentile over the training images); the brightest channel's "
            f"{p10:.0f}..{p90:.0f}"
        )
    return spread, (
        f"per image: exposure differs between images (their own {hi:g}th percentiles span "
        f"{span}: {spread:.1f}x >= "
        f"{EXPOSURE_SPREAD:g}x), so each "
        f"image is mapped by its own {lo:g}-{hi:g} percentiles onto 0..255 (csbdeep's normalize); evidence: "
        "benchmarks/results/per_image_window/ (DSB2018 validation, equal steps)"
    )


def _window(depths: dict[int, str], raw: np.ndarray) -> tuple[int, list[list[float]] | None, str]:
    """(bit depth, intensity window or None, why) of the sampled stored pixels ``raw`` (N, C).

    8-bit images need no window. Deeper ones get the window of their training pixels: ``>> 8`` would keep
    only the top 8 bits, so a 12-bit camera's 0..4095 (or microscopy spanning 1000..5000 of 65535) would
    be left with 16 grey levels.
    """
    depth = deep_bit_depth(depths)
    if depth is None:
        return (8 if 8 in depths else 0), None, ""
    window = window_from_pixels(raw)
    values = _spans(raw.min(axis=0), raw.max(axis=0))
    levels = len(np.unique(raw.astype(np.int64) >> 8)) if depth == 16 else 0
    span = _spans([a for a, _ in window], [b for _, b in window])
    low, high = WINDOW_PERCENTILES
    reason = (
        f"{depth}-bit images with values {values}: stored values {span} (the training pixels' "
        f"{low:g}-{high:g} percentiles) mapped linearly onto 0..255"
    )
    if levels:
        reason += f" (reading them >> 8 would keep {levels} grey levels)"
    return depth, window, reason


# nnU-Net's CT clip: the foreground's 0.5th and 99.5th percentiles.
CT_PERCENTILES = (0.5, 99.5)


def _ct_window(fg: np.ndarray) -> tuple[list[list[float]], str]:
    """(window, why): the stored values of the foreground pixels ``fg`` (N, C) between their
    :data:`CT_PERCENTILES`, clipped and mapped onto 0..255, as nnU-Net clips CT before its z-score."""
    lo, hi = np.percentile(fg.astype(np.float64), CT_PERCENTILES, axis=0)
    hi = np.maximum(hi, lo + 1.0)  # a constant foreground still gets a valid (lo < hi) window
    window = [[float(np.floor(a)), float(np.ceil(b))] for a, b in zip(lo, hi)]
    span = _spans([a for a, _ in window], [b for _, b in window])
    low, high = CT_PERCENTILES
    return window, (
        f"CT (dataset.json's channel_names): stored values clipped to {span}, the {low:g}-{high:g} "
        f"percentiles of the {len(fg)} sampled foreground pixels (nnU-Net's CT clip), mapped linearly onto "
        "0..255"
    )


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    if not values.size:
        return 0.0
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def _pair(values: Sequence[float] | np.ndarray) -> tuple[int, int]:
    return int(values[0]), int(values[1])


def _r(values: np.ndarray) -> list[float]:
    return [round(float(v), 2) for v in values]
