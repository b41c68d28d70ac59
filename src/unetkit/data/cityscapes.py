"""Cityscapes as downloaded -> one image and one trainId mask per name (``unetkit convert cityscapes``).

Torch-free; never prints (the CLI owns the console). The download keeps each split one folder deeper than
any layout :func:`unetkit.planning.discover` reads, and stores label ids rather than the classes trained:

* ``SRC/leftImg8bit/{train,val,test}/<city>/<city>_<seq>_<frame>_leftImg8bit.png`` (RGB, 2048x1024);
* ``SRC/gtFine/{train,val,test}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png`` (8-bit gray, label ids
  0..33; ``_color``, ``_instanceIds`` and ``_polygons.json`` files beside them are not read). Without
  ``gtFine/``, ``gtCoarse/`` (``..._gtCoarse_labelIds.png``) is read the same way.

:func:`convert_cityscapes` writes ``OUT/{train,val}/images/<city>_<seq>_<frame>.png`` (the image file) and
``OUT/{train,val}/masks/<same>.png`` (uint8 (H, W) trainIds: 0..18 the benchmark's 19 classes, 255 void),
and ``OUT/classes.json`` (names, colours, ``"void": [255]``), which discovery reads as index masks with 19
named classes. The public test labels are all void (the benchmark keeps them), so a test split whose masks
hold no class pixel is left out rather than written as a split that cannot score.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from unetkit.data.io import IMAGE_EXTENSIONS, _read_mask_array, image_info, is_hidden
from unetkit.files import atomic_dir

__all__ = [
    "IMAGE_DIR",
    "LABEL_DIRS",
    "LABEL_ID_TO_TRAIN_ID",
    "LINK_MODES",
    "MAX_LABEL_ID",
    "TRAIN_ID_COLORS",
    "TRAIN_ID_NAMES",
    "VOID",
    "CityscapesConversion",
    "classes_json",
    "convert_cityscapes",
    "is_cityscapes_layout",
    "to_train_ids",
]

IMAGE_DIR = "leftImg8bit"
# gtFine first: the benchmark's labels; gtCoarse (polygons drawn roughly) only when gtFine is absent.
LABEL_DIRS = ("gtFine", "gtCoarse")
SPLITS = ("train", "val", "test")
# The splits a conversion cannot do without: val is the benchmark's reporting split.
REQUIRED_SPLITS = ("train", "val")
IMAGE_SUFFIX = "_leftImg8bit"
VOID = 255
# labelIds stored in the PNGs run 0..33; license plate's -1 in the label table is never stored.
MAX_LABEL_ID = 33
# cityscapesScripts' labels.py: the 19 evaluated labels' ids, in trainId order 0..18; every other id
# (unlabeled, ego vehicle, ground, parking, rail track, guard rail, bridge, tunnel, polegroup, caravan,
# trailer, ...) has trainId 255 (or -1) there and is void here.
LABEL_ID_TO_TRAIN_ID: dict[int, int] = {
    label_id: train_id
    for train_id, label_id in enumerate(
        (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)
    )
}
TRAIN_ID_NAMES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
)  # fmt: skip
TRAIN_ID_COLORS: tuple[tuple[int, int, int], ...] = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
    (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
    (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
)  # fmt: skip
# How the images reach OUT: a copy (OUT stands alone), a hard link (no extra space; same file system only)
# or a symbolic link (no extra space; OUT breaks when SRC moves).
LINK_MODES = ("copy", "hard", "symbolic")
# The download's archives, for the errors that ask to unpack one again.
ARCHIVES = {
    IMAGE_DIR: "leftImg8bit_trainvaltest.zip",
    "gtFine": "gtFine_trainvaltest.zip",
    "gtCoarse": "gtCoarse.zip",
}

# Every stored value (0..255) -> its trainId: one table lookup maps a whole mask.
_LUT = np.full(256, VOID, np.uint8)
for _label_id, _train_id in LABEL_ID_TO_TRAIN_ID.items():
    _LUT[_label_id] = _train_id


def to_train_ids(label_ids: np.ndarray, where: str | Path = "labelIds") -> np.ndarray:
    """Map (H, W) integer Cityscapes label ids to (H, W) uint8 trainIds (0..18; 255 void).

    A value above :data:`MAX_LABEL_ID` (or below 0) is no Cityscapes label id: a ValueError naming ``where``.
    """
    if label_ids.ndim != 2 or label_ids.dtype.kind not in "ui":
        raise ValueError(
            f"{where} is not a single-channel integer labelIds image (shape {label_ids.shape}, "
            f"{label_ids.dtype}); re-extract it from the Cityscapes download"
        )
    low, high = int(label_ids.min()), int(label_ids.max())
    if low < 0 or high > MAX_LABEL_ID:
        bad = high if high > MAX_LABEL_ID else low
        raise ValueError(
            f"{where} holds value {bad}, not a Cityscapes label id (0..{MAX_LABEL_ID}); pass the "
            "_labelIds.png files as downloaded (not labelTrainIds or colour images)"
        )
    return _LUT[label_ids.astype(np.intp)]


def classes_json() -> dict[str, object]:
    """The ``classes.json`` of a converted folder: the 19 trainIds by value with name and colour, 255 void."""
    return {
        "classes": [
            {"value": i, "name": name, "color": list(color)}
            for i, (name, color) in enumerate(zip(TRAIN_ID_NAMES, TRAIN_ID_COLORS, strict=True))
        ],
        "void": [VOID],
    }


def is_cityscapes_layout(folder: str | Path) -> bool:
    """``folder`` holds ``leftImg8bit/`` and ``gtFine/`` (or ``gtCoarse/``): Cityscapes as downloaded."""
    folder = Path(folder)
    return (folder / IMAGE_DIR).is_dir() and any((folder / d).is_dir() for d in LABEL_DIRS)


@dataclass(frozen=True)
class CityscapesConversion:
    """What :func:`convert_cityscapes` wrote: images per split, the label folder read (gtFine or gtCoarse)
    and the split folders of ``leftImg8bit/`` left out, with why."""

    counts: dict[str, int]
    label_dir: str
    left_out: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Pair:
    name: str  # <city>_<seq>_<frame>: the output stem
    image: Path
    labels: Path


def _listing(folder: Path) -> str:
    """`` (it holds a/, b/)``, for an error naming a folder that lacks what was looked for."""
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir() if not is_hidden(p))
    return (
        f" (it holds {', '.join(names[:8])}{', ...' if len(names) > 8 else ''})"
        if names
        else " (it is empty)"
    )


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and not is_hidden(d))


def _pairs(src: Path, split: str, label_dir: str) -> list[_Pair]:
    """The images of one split with their labelIds files, by city and name; every image must have its file
    (a partly extracted download is an error naming the first file missing)."""
    images_dir, labels_dir = src / IMAGE_DIR / split, src / label_dir / split
    label_suffix = f"_{label_dir}_labelIds.png"
    pairs: list[_Pair] = []
    for city in _visible_dirs(images_dir):
        for image in sorted(city.iterdir()):
            if is_hidden(image) or image.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            if not image.stem.endswith(IMAGE_SUFFIX) or image.stem == IMAGE_SUFFIX:
                raise ValueError(
                    f"image {image} is not named <city>_<seq>_<frame>{IMAGE_SUFFIX}.png as Cityscapes names "
                    "its images; rename or remove it"
                )
            name = image.stem[: -len(IMAGE_SUFFIX)]
            labels = labels_dir / city.name / f"{name}{label_suffix}"
            if not labels.is_file():
                raise ValueError(
                    f"image {image} has no labels {labels}; unpack {ARCHIVES[label_dir]} into {src} "
                    "again, or remove the image"
                )
            pairs.append(_Pair(name, image, labels))
    if not pairs:
        raise ValueError(
            f"{images_dir} holds no <city>/<city>_<seq>_<frame>{IMAGE_SUFFIX}.png images"
            f"{_listing(images_dir)}; unpack {ARCHIVES[IMAGE_DIR]} into {src} again"
        )
    # Labels without their image: the images were extracted only in part, which would silently shrink the
    # split (a whole city can be missing).
    names = {p.name for p in pairs}
    for city in _visible_dirs(labels_dir):
        for labels in sorted(city.glob(f"*{label_suffix}")):
            if labels.name[: -len(label_suffix)] not in names:
                image = images_dir / city.name / f"{labels.name[: -len(label_suffix)]}{IMAGE_SUFFIX}.png"
                raise ValueError(
                    f"labels {labels} have no image {image}; unpack {ARCHIVES[IMAGE_DIR]} into {src} "
                    "again, or remove the labels"
                )
    return pairs


def _hold_out(splits: dict[str, list[_Pair]], val_cities: Sequence[str], src: Path) -> dict[str, list[_Pair]]:
    """``splits`` with the training images of ``val_cities`` as val and the official val as test (the
    official test split, unlabelled, is dropped)."""
    cities = sorted({p.image.parent.name for p in splits["train"]})
    unknown = [c for c in val_cities if c not in cities]
    if unknown:
        raise ValueError(
            f"val_cities {unknown} are not training cities of {src / IMAGE_DIR / 'train'}; choose from "
            f"{', '.join(cities)}"
        )
    held = set(val_cities)
    train = [p for p in splits["train"] if p.image.parent.name not in held]
    if not train:
        raise ValueError(f"val_cities {sorted(held)} hold every training city; leave some to train on")
    val = [p for p in splits["train"] if p.image.parent.name in held]
    return {"train": train, "val": val, "test": splits["val"]}


def _train_ids(pair: _Pair) -> np.ndarray:
    """The (H, W) uint8 trainIds of ``pair``, checked to have its image's size."""
    height, width, _ = image_info(pair.image)  # the header (PNG CRCs checked): a truncated copy fails here
    label_ids = _read_mask_array(pair.labels)
    train_ids = to_train_ids(label_ids, pair.labels)
    if train_ids.shape != (height, width):
        raise ValueError(
            f"labels {pair.labels} are {train_ids.shape[1]}x{train_ids.shape[0]} but image {pair.image} is "
            f"{width}x{height}; re-extract both from the Cityscapes download, or remove the pair"
        )
    return train_ids


def _place_image(image: Path, dest: Path, link: str) -> None:
    if link == "symbolic":
        # Absolute: the link must survive the rename of the temporary folder into OUT.
        dest.symlink_to(image.resolve())
    elif link == "hard":
        try:
            os.link(image, dest)
        except OSError as err:
            raise ValueError(
                f"cannot hard-link {image} into {dest.parent} ({err.strerror}; another file system?); pass "
                "--link symbolic, or leave out --link to copy the images"
            ) from err
    else:
        shutil.copy2(image, dest)


def _write(pair: _Pair, train_ids: np.ndarray, split_dir: Path, link: str) -> None:
    _place_image(pair.image, split_dir / "images" / f"{pair.name}{pair.image.suffix.lower()}", link)
    Image.fromarray(train_ids).save(split_dir / "masks" / f"{pair.name}.png")


def _label_dir(src: Path) -> str:
    if not src.is_dir():
        raise ValueError(
            f"{src} is not a folder; pass the Cityscapes folder holding {IMAGE_DIR}/ and gtFine/"
        )
    if not (src / IMAGE_DIR).is_dir():
        raise ValueError(
            f"{src} has no {IMAGE_DIR}/ folder{_listing(src)}; pass the folder holding {IMAGE_DIR}/ and "
            f"gtFine/ (unpack {ARCHIVES[IMAGE_DIR]} and {ARCHIVES['gtFine']} into one folder)"
        )
    found = [d for d in LABEL_DIRS if (src / d).is_dir()]
    if not found:
        raise ValueError(
            f"{src} has {IMAGE_DIR}/ but no gtFine/ (nor gtCoarse/) folder; unpack {ARCHIVES['gtFine']} into "
            f"{src}"
        )
    label_dir = found[0]
    for split in REQUIRED_SPLITS:
        for folder in (src / IMAGE_DIR, src / label_dir):
            if not (folder / split).is_dir():
                raise ValueError(
                    f"{folder} has no {split}/ folder{_listing(folder)}; unpack {ARCHIVES[folder.name]} "
                    f"whole into {src}"
                )
    return label_dir


def convert_cityscapes(
    src: str | Path,
    out: str | Path,
    *,
    link: str = "copy",
    val_cities: Sequence[str] = (),
    progress: Callable[[int, int], None] | None = None,
) -> CityscapesConversion:
    """Write the Cityscapes download ``src`` as ``out/{train,val}/images/<name>.png`` (the image file: copied,
    or linked with ``link`` "hard" or "symbolic"), ``out/{train,val}/masks/<name>.png`` ((H, W) uint8
    trainIds, 255 void) and ``out/classes.json``; ``<name>`` is ``<city>_<seq>_<frame>``.

    The test split is written too when its labels hold any class pixel; the public test labels are all void,
    and such a split is left out (in ``left_out``), as are split folders other than train/val/test
    (``train_extra``). ``progress(done, total)`` counts the images. ``out`` appears whole or not at all
    (:func:`unetkit.files.atomic_dir`); an existing ``out`` must be an empty folder.

    ``val_cities``: training cities written as the val split instead, the official val split then written as
    test. Validation (checkpoint and post-processing choices) then never sees the images that are scored,
    so the test score is honest; with the official split, val both guides the run and scores it.

    Raises:
        ValueError: one line naming the file or folder and the fix.
    """
    src, out = Path(src), Path(out)
    if link not in LINK_MODES:
        raise ValueError(f"link {link!r} is not one of {', '.join(LINK_MODES)}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} already exists and is not empty; pass a new folder")
    label_dir = _label_dir(src)
    left_out: dict[str, str] = {}
    for extra in _visible_dirs(src / IMAGE_DIR):
        if extra.name not in SPLITS:
            left_out[extra.name] = "not one of train/val/test"
    splits: dict[str, list[_Pair]] = {}
    for split in SPLITS:
        if not (src / IMAGE_DIR / split).is_dir():
            continue
        if split not in REQUIRED_SPLITS and not (src / label_dir / split).is_dir():
            left_out[split] = f"no {label_dir}/{split}/ labels"
            continue
        splits[split] = _pairs(src, split, label_dir)
    if val_cities:
        splits = _hold_out(splits, val_cities, src)
        left_out.pop("test", None)
        if "test" in [s.name for s in _visible_dirs(src / IMAGE_DIR)]:
            left_out["test"] = (
                "the official val split is the test split (val_cities); its own labels are void"
            )
    total = sum(len(p) for p in splits.values())
    done = 0
    counts: dict[str, int] = {}
    with atomic_dir(out) as tmp:
        for split, pairs in splits.items():
            split_dir = tmp / split
            (split_dir / "images").mkdir(parents=True)
            (split_dir / "masks").mkdir()
            # Train and val are written as read. A split that may hold only void labels (the public test
            # labels) is written from its first mask with a class pixel on, the ones before it re-read then:
            # all void, it is left out without having copied an image.
            labelled = split in REQUIRED_SPLITS or bool(val_cities)
            for i, pair in enumerate(pairs):
                train_ids = _train_ids(pair)
                if not labelled and bool((train_ids != VOID).any()):
                    labelled = True
                    for before in pairs[:i]:
                        _write(before, _train_ids(before), split_dir, link)
                if labelled:
                    _write(pair, train_ids, split_dir, link)
                done += 1
                if progress is not None:
                    progress(done, total)
            if labelled:
                counts[split] = len(pairs)
            else:
                shutil.rmtree(split_dir)
                left_out[split] = (
                    f"its {len(pairs)} {label_dir} labels are all void (Cityscapes keeps the test labels)"
                )
        (tmp / "classes.json").write_text(json.dumps(classes_json(), indent=1) + "\n")
    return CityscapesConversion(counts, label_dir, left_out)
