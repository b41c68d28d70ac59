"""The mask encoding: the stored values of the sampled masks (:func:`read_mask_values`) and the kind they
make, binary, index, palette, instances or remap (:func:`detect_encoding`), with the palettes of palette
PNGs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from unetkit.constants import IGNORE_INDEX
from unetkit.data.io import (
    RESIZED_FIX,
    _read_mask_array,
    blend_share,
    colour_examples,
    image_header,
    looks_resized,
    mask_palette,
)
from unetkit.data.sampling import evenly_spaced
from unetkit.options import look_up_option
from unetkit.planning.discovery.class_maps import _colour_text, _from_table, _palette
from unetkit.planning.discovery.classes import ClassTable
from unetkit.planning.discovery.layout import MaskInfo

MASK_KIND_OPTIONS = ("binary", "index", "palette", "instances", "remap")

# Small integer masks: values up to this are read as class indices without being told.
MAX_AUTO_CLASS_VALUE = 63

# Masks whose values are read to detect the encoding (evenly spaced over the sorted files: deterministic).
DEFAULT_MASK_SAMPLE = 32


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


def wrapped_ids_note(paths: Sequence[Path], deep: int, dtype: str) -> str:
    """The note on 8-bit instance label images ``paths`` whose ids reach 255 among ``deep`` label images of
    ``dtype`` (uint16): saved at 8 bits, ids past 255 wrap onto 0..255 (256 -> 0 vanishes, 257 -> 1 joins
    object 1). Not refused: an image of at most 255 objects is fine at 8 bits."""
    bits = np.dtype(dtype).itemsize * 8 if np.dtype(dtype).kind in "iu" else 0
    deeper = f"{bits}-bit ({dtype})" if bits else dtype
    first = f"{Path(paths[0]).parent.name}/{Path(paths[0]).name}"
    more = len(paths) - 1
    which = f"{first} is" if not more else f"{first} and {more} more sampled label image(s) are"
    its, it = ("its", "it") if not more else ("their", "them")
    return (
        f"{which} 8-bit while the other {deep} sampled label images are {deeper}, and {its} ids "
        f"reach 255: ids past 255 may have wrapped (two objects under one id, id 256 lost as background); "
        f"save {it} at 16 bits"
    )


def _values_text(values: Sequence[int], limit: int = 8) -> str:
    vals = sorted(int(v) for v in values)
    if len(vals) > limit:
        return "{" + ", ".join(map(str, vals[:limit])) + f", ... ({len(vals)} values)" + "}"
    return "{" + ", ".join(map(str, vals)) + "}"


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


# Without a classes file, the colours of a mask each on this share of its pixels or more stand in for its
# class colours when its other colours are tested for blends of them (a resized mask's blends lie at edges, a
# few pixels each; a photo has no such colours).
MAIN_COLOUR_SHARE = 0.005
# ... and together they must cover this share of the mask.
MAIN_COLOURS_COVER = 0.5


def _many_colours_text(path: Path, packed: np.ndarray, classes: ClassTable | None) -> str:
    """The one-line error for sampled colour masks holding more than 256 colours, with ``packed`` the RGB
    of ``path``, the mask that passed 256: a mask whose other colours are mostly blends of its class colours
    (those of the classes file, else its main colours) looks resized or antialiased and is told to re-save
    with nearest-neighbour resizing; anything else is no class palette (a photo, a lossy JPEG)."""
    present, counts = np.unique(packed, return_counts=True)
    listed = [c for c in classes.colors if c is not None] + list(classes.void_colors) if classes else []
    if listed:
        table = np.array([(int(r) << 16) | (int(g) << 8) | int(b) for r, g, b in listed], dtype=np.int64)
        main = np.isin(present, table)
        what = f" not in {classes.source}" if classes else ""
        between = "listed class colours"
        covered = True
    else:
        # Most frequent first; a frequent colour that is itself a blend of those before it (a straight edge
        # resized repeats one blend along it) is no main colour.
        main = np.zeros(present.shape, dtype=bool)
        frequent = np.flatnonzero(counts >= MAIN_COLOUR_SHARE * counts.sum())
        for i in frequent[np.argsort(-counts[frequent], kind="stable")]:
            main[i] = not main.any() or blend_share(present[i : i + 1], counts[i : i + 1], present[main]) == 0
        what = ""
        between = f"its {int(main.sum())} main colours"
        covered = bool(counts[main].sum() >= MAIN_COLOURS_COVER * counts.sum())
    others, other_counts = present[~main], counts[~main]
    if covered and looks_resized(
        others, other_counts, present[main][np.argsort(-counts[main], kind="stable")]
    ):
        return (
            f"mask {path} holds {others.size} colours{what} (e.g. {colour_examples(others, other_counts)}), "
            f"most between {between}: {RESIZED_FIX}"
        )
    return (
        f"mask {path} and the masks before it hold more than 256 colours: not a class palette (a photo or a "
        "lossy JPEG?); save masks losslessly (PNG/GIF) with one colour per class"
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
    deep_files = 0  # sampled gray masks stored deeper than 8 bits
    full_8bit: list[Path] = []  # sampled 8-bit gray masks holding 255 (instance ids that may have wrapped)
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
                raise ValueError(_many_colours_text(path, packed, classes))
            continue
        gray_files.append(path)
        if raw.dtype.kind == "i" and raw.size and int(raw.min()) < 0:
            raise ValueError(f"mask {path} has negative values; masks must store values >= 0")
        if raw.dtype.itemsize > 1:
            dtype = str(raw.dtype)
            deep_files += 1
        vals = np.unique(raw).tolist() if raw.dtype.itemsize > 2 else np.flatnonzero(np.bincount(raw.ravel()))
        if raw.dtype == np.uint8 and len(vals) and int(vals[-1]) == 255:
            full_8bit.append(path)
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
        if notes is not None and deep_files and full_8bit:
            notes.append(wrapped_ids_note(full_8bit, deep_files, dtype))
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
