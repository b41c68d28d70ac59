"""The classes file: ``classes.json`` / ``classes.csv`` (or ADE20K's ``objectInfo150.csv``) read into a
:class:`ClassTable` (names, values, colours, void), and :func:`void_values`.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unetkit.options import look_up_option


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
