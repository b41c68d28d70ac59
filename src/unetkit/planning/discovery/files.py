"""Files in one folder: image listing (hidden files, broken links, unread formats), stems and their
suffixes, :class:`Companions` (a file's mask or ROI by its stem) and the pairing of one image folder with
its mask (and ROI) folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from unetkit.data.cityscapes import LABEL_DIRS as CITYSCAPES_LABEL_DIRS
from unetkit.data.cityscapes import is_cityscapes_layout
from unetkit.data.io import IMAGE_EXTENSIONS, is_hidden
from unetkit.files import broken_link
from unetkit.planning.discovery.layout import Sample
from unetkit.planning.discovery.names import (
    DIR_OPTIONS,
    IMAGE_SUFFIXES,
    MASK_ONLY_SUFFIXES,
    MASK_SUFFIXES,
    NNUNET_CHANNEL,
)


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

    def find(self, image_stem: str, what: str = "mask", image: Path | None = None) -> Path | None:
        """The file of the image ``image_stem``, or None; two equally good candidates are a ValueError naming
        both (``what`` names their kind). ``image``: the image's own file, never its own mask (images and
        masks in one folder, ``x.png`` beside ``x_labels.png``): passed over, so the next rule decides."""
        for found in (
            self._by_stem.get(image_stem, []),
            [p for s in MASK_SUFFIXES for p in self._by_stem.get(image_stem + s, [])],
            self._by_key.get(_strip(image_stem, IMAGE_SUFFIXES), []),
        ):
            if image is not None:
                found = [p for p in found if not _same_file(p, image)]
            if len(found) > 1:
                raise ValueError(
                    f"{what} files {found[0]} and {found[1]} both pair with image {image_stem!r}; keep one "
                    "or rename one of them"
                )
            if found:
                return found[0]
        return None


def _same_file(path: Path, other: Path) -> bool:
    """Whether ``path`` and ``other`` are one file (the same path resolved, or links to one file)."""
    try:
        return path.resolve() == other.resolve() or os.path.samefile(path, other)
    except OSError:
        return False


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


def _child(folder: Path, name: str) -> Path:
    """``folder / name``, or the sub-folder whose name is ``name`` in other capitals (LoveDA's Train/ and
    Val/, many Kaggle sets' Test/): split folder names are matched whatever their case."""
    exact = folder / name
    if exact.is_dir() or not folder.is_dir():
        return exact
    same = [d for d in _subdirs(folder) if d.name.lower() == name]
    return same[0] if len(same) == 1 else exact


def _subfolders(base: Path) -> str:
    """`` (it holds a/, b/)``: the sub-folders a user can name instead, for an error message."""
    dirs = sorted(d.name + "/" for d in base.iterdir() if d.is_dir() and not is_hidden(d))
    return f" (it holds {', '.join(dirs[:8])})" if dirs else " (it holds no sub-folders)"


def _cityscapes_hint(base: Path) -> str:
    """What to run on Cityscapes as downloaded: its label ids are not the trained classes, and its images lie
    one folder deeper (per city) than any layout is looked for."""
    labels = next(d for d in CITYSCAPES_LABEL_DIRS if (base / d).is_dir())
    out = base.parent / f"{base.name}_trainids"
    return (
        f"Cityscapes as downloaded (leftImg8bit/<split>/<city>/ with label ids in {labels}/); convert it "
        f"once with: unetkit convert cityscapes {base} --out {out} (then unetkit fit {out})"
    )


def _and_more(n: int) -> str:
    """`` (and 3 more)`` after a file an error names; nothing when it is the only one."""
    return f" (and {n} more)" if n > 0 else ""
