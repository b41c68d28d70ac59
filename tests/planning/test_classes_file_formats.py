"""classes.csv / classes.json as spreadsheets save them (a new user's road-scene trial): Excel's "CSV UTF-8"
byte-order mark, ';' and tab separators, an unquoted colour split into cells, a non-UTF-8 file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from unetkit.planning import discover

MakeDataset = Callable[..., Path]

SKY, ROAD, VOID = (128, 128, 128), (128, 64, 128), (0, 0, 0)
BOM = "\ufeff"


def road_mask(i: int) -> np.ndarray:
    m = np.zeros((32, 32, 3), np.uint8)
    m[:10], m[10:30] = SKY, ROAD  # the last two rows stay black: void
    return m


def write_csv(
    root: Path, rows: list[list[str]], sep: str = ",", bom: bool = False, eol: str = "\r\n"
) -> None:
    text = eol.join(sep.join(row) for row in rows) + eol
    (root / "classes.csv").write_bytes(((BOM if bom else "") + text).encode("utf-8"))


ROWS = [
    ["name", "color", "void"],
    ["Sky", "#808080", "0"],
    ["Road", "#804080", "0"],
    ["void", "#000000", "1"],
]


def assert_road_classes(root: Path) -> None:
    m = discover(root).mask
    assert m.kind == "palette" and m.class_names == ("Sky", "Road")
    assert m.colors == {0: SKY, 1: ROAD} and m.ignore_colors == (VOID,)


def test_a_csv_utf8_byte_order_mark_is_read(make_dataset: MakeDataset) -> None:
    # Excel's "CSV UTF-8": Unknown column '\ufeffname'. Did you mean 'name'?
    root = make_dataset(mask=road_mask)
    write_csv(root, ROWS, bom=True)
    assert_road_classes(root)


def test_a_json_byte_order_mark_is_read(make_dataset: MakeDataset) -> None:
    root = make_dataset(mask=road_mask)
    data = {
        "classes": [{"name": "Sky", "color": "#808080"}, {"name": "Road", "color": "#804080"}],
        "void": [[0, 0, 0]],
    }
    (root / "classes.json").write_bytes((BOM + json.dumps(data)).encode("utf-8"))
    assert_road_classes(root)


@pytest.mark.parametrize("sep", [";", "\t"])
def test_semicolon_and_tab_separators_are_read(make_dataset: MakeDataset, sep: str) -> None:
    # A European Excel's ';': Unknown column 'name;color;void', no hint. A colour's commas are one cell there.
    root = make_dataset(mask=road_mask)
    rows = [
        ["name", "color", "void"],
        ["Sky", "128,128,128", "0"],
        ["Road", "#804080", "no"],
        ["void", "0 0 0", "yes"],
    ]
    write_csv(root, rows, sep=sep, bom=True)
    assert_road_classes(root)


def test_a_comma_in_a_cell_does_not_make_the_file_semicolon_separated(make_dataset: MakeDataset) -> None:
    # Only the header line decides: the file holds more ';' (all in names) than ',' (8, all separators).
    root = make_dataset(mask=road_mask)
    rows = [["name", "color", "void"], ['"Sky;blue;clear;day"', "#808080", "0"],
            ['"Road;wet;dry;old;new;lane;way"', "#804080", "0"], ["void", "#000000", "1"]]  # fmt: skip
    write_csv(root, rows)
    assert discover(root).mask.class_names == ("Sky;blue;clear;day", "Road;wet;dry;old;new;lane;way")


def test_an_unquoted_colour_names_the_row_and_the_fixes(make_dataset: MakeDataset) -> None:
    # Was: colour ['128'] is not [R, G, B] ...; fix the entry (the extra cells silently dropped).
    root = make_dataset(mask=road_mask)
    rows = [["name", "color", "void"], ["Sky", '"128,128,128"', "0"], ["Road", "128", "64", "128", "0"],
            ["void", "#000000", "1"]]  # fmt: skip
    write_csv(root, rows, eol="\n")
    with pytest.raises(ValueError) as caught:
        discover(root)
    message = str(caught.value)
    assert message == (
        f"{root / 'classes.csv'}: line 3 (class 'Road') has 5 cells under 3 columns: the ',' in its colour "
        'split it; write the colour as one cell ("128,64,128" in quotes or #804080), or make the header '
        "'name,r,g,b,void' to read it as three columns"
    )
    # In a ';' file the colour's commas are no separator: one cell needs no quotes.
    write_csv(root, [[";".join(row)] for row in rows], sep=",")
    with pytest.raises(ValueError, match=r"\(128,64,128 or #804080\), or make the header 'name;r;g;b;void'"):
        discover(root)
    # Each fix the message names reads the file.
    for fixed in (['"128,64,128"', "0"], ["#804080", "0"]):
        write_csv(root, [*rows[:2], ["Road", *fixed], rows[3]])
        assert_road_classes(root)
    rgb = [["name", "r", "g", "b", "void"], ["Sky", "128", "128", "128", "0"],
           ["Road", "128", "64", "128", "0"], ["void", "0", "0", "0", "1"]]  # fmt: skip
    write_csv(root, rgb)
    assert_road_classes(root)


def test_extra_cells_that_are_no_colour_name_the_row(make_dataset: MakeDataset) -> None:
    root = make_dataset(mask=road_mask)
    write_csv(root, [["name", "color"], ["Sky", "#808080"], ["Road", "paved", "#804080"]], sep=";")
    with pytest.raises(
        ValueError,
        match=r"classes\.csv: line 3 \(class 'Road'\) has 3 cells under 2 columns; quote a cell that holds a "
        r"';', or drop the extra cells$",
    ):
        discover(root)
    # Trailing empty cells, as spreadsheets write them, are no extra cells.
    write_csv(root, [["name", "color", "void"], ["Sky", "#808080", "0", "", ""], ["Road", "#804080", "0", ""],
                     ["void", "#000000", "1"]])  # fmt: skip
    assert_road_classes(root)


def test_a_file_that_is_not_utf8_says_how_to_save_it(make_dataset: MakeDataset) -> None:
    # Excel's plain "CSV" writes the Windows code page: 'Straße' was a UnicodeDecodeError traceback.
    root = make_dataset(mask=road_mask)
    text = "name,color,void\r\nStraße,#804080,0\r\nSky,#808080,0\r\nvoid,#000000,1\r\n"
    (root / "classes.csv").write_bytes(text.encode("cp1252"))
    with pytest.raises(
        ValueError, match=r'classes\.csv is not UTF-8 text \(line 2 holds byte 0xdf\); save it as UTF-8 \(in '
        r'Excel: save as "CSV UTF-8"\)$'
    ):  # fmt: skip
        discover(root)
