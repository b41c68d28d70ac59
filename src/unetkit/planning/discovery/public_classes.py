"""The classes of public layouts read as their benchmarks read them: Pascal VOC's 21 (by value or VOC's
colour map), LoveDA's seven (0 void) and Oxford-IIIT Pet's trimaps (the border void).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from unetkit.constants import IGNORE_INDEX
from unetkit.palette import _voc_color
from unetkit.planning.discovery.folders import VOC_VOID
from unetkit.planning.discovery.layout import MaskInfo
from unetkit.planning.discovery.split_folders import _Base

# The 21 classes of Pascal VOC's segmentation challenge, by mask value (the devkit's order).
VOC_CLASS_NAMES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)  # fmt: skip

# LoveDA (land cover, Wang et al. 2021) as downloaded: Train/, Val/ and Test/ each hold the domains Urban/ and
# Rural/, each with images_png/ and (not Test/) masks_png/. Mask 0 is no-data (void); 1..7 are the classes
# below, drawn in the colours of the authors' COLOR_MAP (Semantic_Segmentation/data/loveda.py).
LOVEDA_GROUPS = ("urban", "rural")
LOVEDA_DIRS = ("images_png", "masks_png")
LOVEDA_CLASS_NAMES = ("background", "building", "road", "water", "barren", "forest", "agriculture")
LOVEDA_COLORS = (
    (255, 255, 255), (255, 0, 0), (255, 255, 0), (0, 0, 255), (159, 129, 183), (0, 255, 0), (255, 195, 128),
)  # fmt: skip


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
