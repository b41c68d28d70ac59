"""Any folder of images and masks (``dataset: folder``): encoding, splits and statistics from options.

Three ways to name the files, from plain options (YAML or ``data.options.KEY=VALUE``):

* ``root/images`` + ``root/masks`` (or ``image_dir``/``mask_dir``): a mask is ``<image stem><mask_suffix>``;
* ``split_dirs``: ``root/train/images``, ``root/val/masks``...: the sub-folders are the splits;
* ``pairs``: ``{name: [image, mask]}`` or ``{name: [image, mask, roi]}`` (paths relative to ``root``), for
  names that no suffix rule pairs (``21_training.tif`` with ``21_manual1.gif``); ``unetkit fit DIR`` writes
  them from its discovery.

``roi_dir`` (or a third path per pair) adds a region of interest per image: pixels where the ROI is 0 become
IGNORE_INDEX in the target, so the loss and the metrics skip them.

Instance label masks (``mask_kind: instances``) train a semantic model (``instance_target: semantic``, label >
0 is foreground), a boundary-aware one (``boundary``: background / interior / boundary, ``boundary_radius``)
or the Deep Watershed Transform's energy levels (``energy``: background / level_1..K, ``energy_levels``); the
target is derived from each label image when it is read (:mod:`unetkit.data.instance_targets`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unetkit.data.datasets.registry import DatasetSpec, register_dataset
from unetkit.data.folder import (
    Pair,
    _list_files,
    compute_mean_std,
    find_pairs,
    split_by_fraction,
    split_by_lists,
    split_by_ranges,
)
from unetkit.data.instance_targets import instance_target_classes
from unetkit.data.io import (
    IMAGE_EXTENSIONS,
    MaskEncoding,
    Window,
    estimate_window,
    per_image_window,
    window_min_span,
    window_percentiles,
)
from unetkit.data.mask_options import class_colors_by_index, class_count, encoding_of, instance_target_of
from unetkit.palette import palette_for


@dataclass(frozen=True)
class FolderSpec(DatasetSpec):
    """A :class:`DatasetSpec` whose pairs are listed by name (``table``: name -> (image, mask)).

    ``splits`` holds names of ``table``: image stems for one image folder, ``<split>/<stem>`` for split
    sub-folders, the keys of ``pairs`` for explicit pairs.
    """

    table: Mapping[str, Pair] = field(default_factory=dict)

    def pairs(self, split: str) -> list[Pair]:
        if split not in self.splits:
            raise ValueError(
                f"dataset {self.name!r} has no split {split!r}; available: {', '.join(self.splits)}"
            )
        unknown = [n for n in self.splits[split] if n not in self.table]
        if unknown:
            raise ValueError(
                f"split {split!r} of dataset {self.name!r} names {unknown[0]!r}, which has no image/mask "
                f"pair (e.g. {next(iter(self.table))!r}); fix the split"
            )
        return [self.table[n] for n in self.splits[split]]


def _roi_table(image_dir: Path, pairs: Sequence[Pair], roi_dir: Path, roi_suffix: str) -> dict[str, str]:
    """mask path -> ROI path, the ROI named ``<image stem><roi_suffix>`` in ``roi_dir``."""
    rois = _list_files(roi_dir, IMAGE_EXTENSIONS, "roi")
    out: dict[str, str] = {}
    for image, mask in pairs:
        roi = rois.get(image.stem + roi_suffix)
        if roi is None:
            raise ValueError(
                f"image {image} has no ROI named {image.stem + roi_suffix}.* in roi folder {roi_dir}; add "
                "it (or set roi_suffix), or drop roi_dir"
            )
        out[str(mask)] = str(roi)
    return out


def _explicit_pairs(
    root: Path | None, pairs: Mapping[str, Sequence[str | Path]]
) -> tuple[dict[str, Pair], dict[str, str]]:
    """``{name: [image, mask(, roi)]}`` -> (name -> (image, mask), mask -> roi); paths relative to root."""
    base = root if root is not None else Path()
    table: dict[str, Pair] = {}
    rois: dict[str, str] = {}
    if not pairs:
        raise ValueError("dataset 'folder': pairs={} is empty; give {name: [image, mask]} per sample")
    for name, files in pairs.items():
        if isinstance(files, (str, Path)) or len(files) not in (2, 3):
            raise ValueError(
                f"dataset 'folder': pairs[{name!r}] = {files!r}; give [image, mask] or [image, mask, roi]"
            )
        paths = [base / Path(f) for f in files]
        for what, path in zip(("image", "mask", "roi"), paths):
            if not path.is_file():
                raise ValueError(f"pairs[{name!r}]: {what} file {path} does not exist; fix the pair list")
        table[str(name)] = (paths[0], paths[1])
        if len(paths) == 3:
            rois[str(paths[1])] = str(paths[2])
    return table, rois


def _split_dir_pairs(
    root: Path,
    split_dirs: Sequence[str] | Mapping[str, str],
    image_dir: str | Path,
    mask_dir: str | Path,
    roi_dir: str | Path | None,
    mask_suffix: str,
    roi_suffix: str,
) -> tuple[dict[str, Pair], dict[str, str], dict[str, list[str]]]:
    """Pairs of ``root/<split folder>/<image_dir>`` etc.; names ``<split>/<stem>``; the splits."""
    folders = dict(split_dirs) if isinstance(split_dirs, Mapping) else {str(s): str(s) for s in split_dirs}
    table: dict[str, Pair] = {}
    rois: dict[str, str] = {}
    splits: dict[str, list[str]] = {}
    for split, folder in folders.items():
        base = root / folder
        if not base.is_dir():
            raise ValueError(
                f"split folder {base} does not exist; split_dirs names the folders (under root) of each split"
            )
        found = find_pairs(base / image_dir, base / mask_dir, mask_suffix=mask_suffix)
        if roi_dir is not None:
            rois |= _roi_table(base / image_dir, found, base / roi_dir, roi_suffix)
        splits[split] = [f"{split}/{image.stem}" for image, _ in found]
        table |= {f"{split}/{image.stem}": (image, mask) for image, mask in found}
    return table, rois, splits


@register_dataset("folder")
def build_folder(
    root: Path | None,
    *,
    image_dir: str | Path | None = None,
    mask_dir: str | Path | None = None,
    roi_dir: str | Path | None = None,
    encoding: MaskEncoding | None = None,
    num_classes: int | None = None,
    mask_kind: str = "index",
    ignore_values: Sequence[int] = (),
    colors: Mapping[Any, Sequence[int]] | None = None,
    ignore_colors: Sequence[Sequence[int]] = (),
    mapping: Mapping[Any, int] | None = None,
    mask_suffix: str = "",
    roi_suffix: str = "",
    split_dirs: Sequence[str] | Mapping[str, str] | None = None,
    pairs: Mapping[str, Sequence[str | Path]] | None = None,
    in_channels: int = 3,
    split_lists: Mapping[str, Any] | None = None,
    split_ranges: Mapping[str, tuple[int, int]] | None = None,
    split_fractions: Mapping[str, float] | None = None,
    seed: int = 0,
    class_names: Sequence[str] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    instance_target: str = "semantic",
    boundary_radius: int = 2,
    energy_levels: Sequence[int] | None = None,
    intensity_window: Window | None = None,
    convert_channels: bool = False,
) -> DatasetSpec:
    """Images and masks from ``root`` (images/, masks/), ``image_dir``/``mask_dir``, ``split_dirs`` or pairs.

    The mask encoding is ``encoding``, or built from plain YAML/CLI options (``num_classes``, ``mask_kind``:
    index, binary, palette, remap or instances (label images: 0 background, any other value foreground),
    ``ignore_values``, palette ``colors``/``ignore_colors``, remap ``mapping``). ``colors`` (class -> RGB, any
    mask kind) are also the colours the classes are drawn in (``DatasetSpec.class_colors``, kept in the
    model's config.json; classes without one take the default palette's). ``roi_dir`` holds one ROI per
    image (``<image stem><roi_suffix>``; 0 = outside, ignored). ``split_dirs`` (a list of split folder names
    under ``root``, or split -> folder) takes ``image_dir``/``mask_dir``/``roi_dir`` as names inside each
    (default images, masks). Otherwise splits come from ``split_lists`` (split -> list file or names),
    ``split_ranges`` (split -> (first, stop) over the sorted names) or ``split_fractions`` (seeded shuffle;
    default 70/15/15). ``mean``/``std`` default to the train split's. With instance labels,
    ``instance_target`` (semantic, boundary or energy; ``boundary_radius``, ``energy_levels``) sets the
    classes trained; ``num_classes`` and ``class_names`` then default to the target's.
    ``intensity_window`` (per channel [lo, hi] of stored values, or one pair) maps 16-bit images onto 0..255;
    by default it is measured on the train split when its images are deeper than 8 bits
    (:func:`unetkit.data.io.estimate_window`), and mean/std are computed after it. ``convert_channels``
    reads images of another channel count as ``in_channels`` (gray replicated to RGB, or RGB to luma).
    """
    target, target_params = instance_target_of(
        mask_kind, encoding, instance_target, boundary_radius, energy_levels
    )
    if target != "semantic" and class_names is None:
        class_names = instance_target_classes(target, target_params)
    if encoding is None:  # checked before the folder is listed
        num_classes = class_count(num_classes, mask_kind, target, target_params)
    rois: dict[str, str] = {}
    given_splits: dict[str, list[str]] | None = None
    if pairs is not None:
        named = [k for k, v in (("image_dir", image_dir), ("mask_dir", mask_dir), ("roi_dir", roi_dir),
                                ("split_dirs", split_dirs), ("mask_suffix", mask_suffix)) if v]  # fmt: skip
        if named:
            raise ValueError(
                f"dataset 'folder': pairs name every file, so {', '.join(named)} would be ignored; drop "
                f"{named[0]} (or drop pairs)"
            )
        table, rois = _explicit_pairs(root, pairs)
        first_image, first_mask = next(iter(table.values()))
        image_dir, mask_dir = first_image.parent, first_mask.parent
    elif split_dirs is not None:
        if root is None:
            raise ValueError(
                "dataset 'folder': split_dirs needs root=... (the folder holding the split folders)"
            )
        if split_lists is not None or split_ranges is not None or split_fractions is not None:
            raise ValueError(
                "dataset 'folder': split_dirs already gives the splits; drop split_lists/ranges/fractions"
            )
        table, rois, given_splits = _split_dir_pairs(
            Path(root),
            split_dirs,
            image_dir or "images",
            mask_dir or "masks",
            roi_dir,
            mask_suffix,
            roi_suffix,
        )
        first_image, first_mask = next(iter(table.values()))
        image_dir, mask_dir = first_image.parent, first_mask.parent
    else:
        if image_dir is None or mask_dir is None:
            if root is None:
                raise ValueError(
                    "dataset 'folder' needs root=... (with images/ and masks/) or image_dir= and mask_dir="
                )
            image_dir = image_dir or Path(root) / "images"
            mask_dir = mask_dir or Path(root) / "masks"
        found = find_pairs(Path(image_dir), Path(mask_dir), mask_suffix=mask_suffix)
        if roi_dir is not None:
            roi_path = Path(roi_dir) if root is None or Path(roi_dir).is_absolute() else Path(root) / roi_dir
            rois = _roi_table(Path(image_dir), found, roi_path, roi_suffix)
        table = {image.stem: (image, mask) for image, mask in found}
    image_dir, mask_dir = Path(image_dir), Path(mask_dir)
    root = Path(root) if root is not None else image_dir.parent
    if encoding is None:
        encoding = encoding_of(
            mask_kind, int(num_classes), ignore_values, colors, ignore_colors, mapping,  # type: ignore[arg-type]
            target, target_params,
        )  # fmt: skip
        if rois:
            encoding = dataclasses.replace(encoding, rois=rois)
    elif rois:
        encoding = dataclasses.replace(encoding, rois=dict(encoding.rois or {}) | rois)
    class_tuple = tuple(class_names or [f"class_{i}" for i in range(encoding.num_classes)])
    class_colors = _class_colors(
        colors if colors is not None else encoding.colors, encoding.num_classes, class_tuple
    )
    names = list(table)
    if given_splits is not None:
        splits = given_splits
    elif split_lists is not None:
        splits = split_by_lists(names, split_lists)
    elif split_ranges is not None:
        splits = split_by_ranges(names, split_ranges)
    else:
        fractions = split_fractions or {"train": 0.7, "val": 0.15, "test": 0.15}
        splits = split_by_fraction(names, fractions, seed=int(seed))
    train_pairs = [table[n] for n in (splits.get("train") or names)]
    window = _window(intensity_window, train_pairs, int(in_channels))
    if mean is None or std is None:
        mean, std = compute_mean_std(train_pairs, int(in_channels), window=window, convert=convert_channels)
    return FolderSpec(
        name="folder",
        root=root,
        image_dir=image_dir,
        mask_dir=mask_dir,
        encoding=encoding,
        class_names=class_tuple,
        in_channels=int(in_channels),
        num_classes=encoding.num_classes,
        mean=tuple(mean),
        std=tuple(std),
        splits=splits,
        mask_suffix=mask_suffix,
        table=table,
        intensity_window=window,
        class_colors=class_colors,
        convert_channels=bool(convert_channels),
    )


def _class_colors(
    given: Mapping[Any, Sequence[int]] | None, num_classes: int, class_names: Sequence[str]
) -> tuple[tuple[int, int, int], ...] | None:
    """One RGB per class: the ``colors`` given (class -> RGB, for any mask kind), the rest
    :func:`~unetkit.palette.palette_for`'s by ``class_names`` (a named class 0 left without a colour is not
    stored as the background's black); None when no colour was given."""
    if not given:
        return None
    given = class_colors_by_index(given)
    bad = sorted(k for k in given if not 0 <= k < num_classes)
    if bad:
        raise ValueError(
            f"dataset 'folder': colors name classes {bad} outside 0..{num_classes - 1}; give colours of the "
            "classes trained (class index -> [R, G, B])"
        )
    rows = palette_for(given, num_classes, class_names=class_names)
    return tuple((int(r), int(g), int(b)) for r, g, b in rows)


def _window(
    given: Any, train: Sequence[Pair], in_channels: int
) -> tuple[tuple[float, float], ...] | dict[str, Any] | None:
    """The dataset's intensity window: ``given`` (checked), else measured on the training images (None for
    8-bit ones). A per-image window (``{"percentiles": [lo, hi]}``) maps each image by its own percentiles,
    each channel at least its ``min_span`` wide (one number for all channels, or a list with one each)."""
    if isinstance(given, Mapping):
        try:
            window = per_image_window(
                window_percentiles(given), window_min_span(given) if "min_span" in given else None
            )
            span = window.get("min_span")
            if isinstance(span, list) and len(span) not in (1, in_channels):
                raise ValueError(
                    f"min_span {span} has {len(span)} values for in_channels={in_channels}; give one per "
                    "channel (or one number for all)"
                )
            return window
        except ValueError as exc:
            raise ValueError(f"dataset 'folder': intensity_window: {exc}") from exc
    if given is None:
        measured = estimate_window([image for image, _ in train])
        return None if measured is None else tuple((lo, hi) for lo, hi in measured)
    pairs = [list(p) for p in given] if isinstance(given, (list, tuple)) else None
    if not pairs or any(len(p) != 2 or not all(isinstance(v, (int, float)) for v in p) for p in pairs):
        raise ValueError(
            f"dataset 'folder': intensity_window must be [[lo, hi], ...] (one pair per channel, or one for "
            f"all), got {given!r}; e.g. intensity_window=[[100, 4000]]"
        )
    if any(hi <= lo for lo, hi in pairs):
        raise ValueError(f"dataset 'folder': intensity_window {pairs} needs lo < hi in every pair")
    return tuple((float(lo), float(hi)) for lo, hi in pairs)
