"""Checks of the pairs found: every image's size, channels and orientation against its mask's (and ROI's),
and that the masks hold something to learn (a val split of one class is noted).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unetkit.constants import IGNORE_INDEX
from unetkit.data.io import image_header, oriented_header
from unetkit.data.sampling import evenly_spaced
from unetkit.planning.discovery.encoding import read_mask_values
from unetkit.planning.discovery.files import _and_more
from unetkit.planning.discovery.layout import MaskInfo, Sample

# Images with a side shorter than this are refused: the scale augmentation shrinks to 0.75x and
# albumentations truncates (int(side * 0.75)), so a 1-px side became 0 px and OpenCV stopped the first
# training step with a 150-line traceback; and a few pixels a side hold no shape to segment (a failed
# export, a thumbnail or a placeholder). 4 leaves a margin over the 2 px the augmentation needs.
MIN_IMAGE_SIDE = 4
# Images whose channel count differs from the rest's are converted when they are at most this share of the
# images (Oxford-IIIT Pet: a few grayscale JPEGs among 7,390 colour photos; gray -> RGB is lossless); a larger
# share is likely two kinds of data, and an error asks the user to choose.
MAX_CONVERTED_SHARE = 0.05


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
