"""The classes of stored values once a classes table or the colours settle them: gray values by the table
(:func:`_from_table`), colour masks by their colours (:func:`_palette`), and the hints (a typo, resized
masks) for values the table does not list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from unetkit.constants import IGNORE_INDEX
from unetkit.planning.discovery.classes import ClassTable
from unetkit.planning.discovery.layout import MaskInfo


def _colour_text(colour: Sequence[int]) -> str:
    return str([int(c) for c in colour])


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
