"""classes.json / classes.csv against the masks: misspelt keys, a class without its colour or value, and the
mask an unknown colour is blamed on (a new user's road-scene trial)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from unetkit.planning import discover

MakeDataset = Callable[..., Path]

SKY, ROAD, VOID = (128, 128, 128), (128, 64, 128), (0, 0, 0)
COLOUR_CLASSES = [{"name": "Sky", "color": list(SKY)}, {"name": "Road", "color": list(ROAD)}]


def road_mask(i: int) -> np.ndarray:
    m = np.zeros((32, 32, 3), np.uint8)
    m[:10], m[10:30] = SKY, ROAD  # the last two rows stay black: void
    return m


def write_classes(root: Path, data: Any) -> None:
    (root / "classes.json").write_text(json.dumps(data))


def test_unknown_colour_names_a_mask_that_holds_it(make_dataset: MakeDataset) -> None:
    # Magenta in the last training mask only: the error named the first mask, which has none.
    def mask(i: int) -> np.ndarray:
        m = road_mask(i)
        if i == 7:
            m[0:2, 0:2] = (255, 0, 255)
        return m

    root = make_dataset(mask=mask)
    write_classes(root, {"classes": COLOUR_CLASSES, "void": [list(VOID)]})
    with pytest.raises(
        ValueError, match=r"^mask \S*img07\.png holds colour \[255, 0, 255\] that \S*classes.json"
    ):
        discover(root, splits={"train": [f"img{i:02d}" for i in range(8)], "val": ["img08", "img09"]})


@pytest.mark.parametrize("key", ["color", "colour"])
def test_a_class_without_its_colour_is_named_not_blamed_on_the_masks(
    make_dataset: MakeDataset, key: str
) -> None:
    # Without Road's colour the error said the masks hold a colour classes.json does not list.
    root = make_dataset(mask=road_mask)
    write_classes(
        root, {"classes": [{"name": "Sky", key: list(SKY)}, {"name": "Road"}], "void": [list(VOID)]}
    )
    with pytest.raises(
        ValueError, match=r'classes.json: class \'Road\' has no "color" .*"color": \[R, G, B\]'
    ):
        discover(root)
    # Either spelling, and '#rrggbb', give the colour.
    write_classes(root, {"classes": [{"name": "Sky", key: list(SKY)}, {"name": "Road", key: "#804080"}],
                         "void": [list(VOID)]})  # fmt: skip
    m = discover(root).mask
    assert m.kind == "palette" and m.colors == {0: SKY, 1: ROAD} and m.ignore_colors == (VOID,)


def test_a_gray_class_without_its_value_is_named(make_dataset: MakeDataset) -> None:
    def mask(i: int) -> np.ndarray:
        m = np.full((32, 32), 1, np.uint8)
        m[:8], m[-2:] = 2, 3
        return m

    root = make_dataset(mask=mask)
    # The README's gray form: values given, one as void.
    write_classes(
        root, {"classes": [{"value": 1, "name": "pet"}, {"value": 2, "name": "background"}], "void": [3]}
    )
    m = discover(root).mask
    assert m.kind == "remap" and m.class_names == ("pet", "background") and m.mapping == {1: 0, 2: 1, 3: 255}
    # Without pet's value, pet took its position (0) and the masks' 1 was blamed as unlisted.
    write_classes(root, {"classes": [{"name": "pet"}, {"value": 2, "name": "background"}], "void": [3]})
    with pytest.raises(ValueError, match=r'classes.json: class \'pet\' has no "value" while other classes'):
        discover(root)
    # A list of names alone: the position is the value.
    shutil.rmtree(root / "masks")
    root = make_dataset(mask=lambda i: np.eye(32, dtype=np.uint8) * (1 + i % 2), root=root)
    write_classes(root, {"classes": ["bg", "a", "b"]})
    assert discover(root).mask.class_names == ("bg", "a", "b")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # "nmae" made the class class_1 without a word.
        ({"classes": [{"name": "Sky", "color": list(SKY)}, {"nmae": "Road", "color": list(ROAD)}]},
         r"classes.json \(class 2 of the list\): Unknown key 'nmae'. Did you mean 'name'\?"),
        # "viod" dropped the void, and the error blamed black in the masks.
        ({"classes": COLOUR_CLASSES, "viod": [list(VOID)]},
         r"classes.json: Unknown key 'viod'. Did you mean 'void'\? Available: classes, ignore, void"),
        ({"clases": COLOUR_CLASSES, "void": [list(VOID)]},
         r"classes.json: Unknown key 'clases'. Did you mean 'classes'\?"),
        ({"classes": [{"name": "Sky", "colr": list(SKY)}, {"name": "Road", "color": list(ROAD)}]},
         r"Unknown key 'colr'. Did you mean 'colo(u)?r'\?"),
    ],
)  # fmt: skip
def test_misspelt_keys_are_refused(make_dataset: MakeDataset, data: Any, message: str) -> None:
    root = make_dataset(mask=road_mask)
    write_classes(root, data)
    with pytest.raises(ValueError, match=message):
        discover(root)


def test_documented_keys_and_forms_are_accepted(make_dataset: MakeDataset) -> None:
    root = make_dataset(mask=road_mask)
    classes = [
        {"Name": "Sky", "Colour": "#808080"},
        {"class": "Road", "r": 128, "g": 64, "b": 128, "void": False},
        {"name": "void", "color": [0, 0, 0], "ignore": True},
    ]
    write_classes(root, {"classes": classes})
    m = discover(root).mask
    assert m.class_names == ("Sky", "Road") and m.colors == {0: SKY, 1: ROAD} and m.ignore_colors == (VOID,)
    # {value: name} (integer keys, none close to "classes"/"void") and a top-level "ignore".
    gray = make_dataset(mask=lambda i: np.eye(32, dtype=np.uint8), root=root.parent / "gray")
    write_classes(gray, {"0": "bg", "1": "line"})
    assert discover(gray).mask.class_names == ("bg", "line")
    write_classes(gray, {"classes": [{"id": 0, "name": "bg"}, {"index": 1, "name": "line"}], "ignore": 9})
    assert discover(gray).mask.ignore_values == (9,)


def test_classes_csv_header_typo_is_refused(make_dataset: MakeDataset) -> None:
    root = make_dataset(mask=road_mask)
    # A trailing comma (an empty column, as spreadsheets write) is no key.
    (root / "classes.csv").write_text(
        "Name,r,g,b,void,\nSky,128,128,128,,\nRoad,128,64,128,,\nvoid,0,0,0,yes,\n"
    )
    assert discover(root).mask.class_names == ("Sky", "Road")
    (root / "classes.csv").write_text("nmae,r,g,b,void\nSky,128,128,128,\nRoad,128,64,128,\nvoid,0,0,0,yes\n")
    with pytest.raises(
        ValueError, match=r"classes.csv \(header\): Unknown column 'nmae'. Did you mean 'name'\?"
    ):
        discover(root)


def test_a_sampled_encoding_says_so(make_dataset: MakeDataset, px: SimpleNamespace) -> None:
    # Discovery reads a sample of the training masks (32 of 60 in the trial): a colour only an unread mask
    # holds passes the plan, so the plan says where such a colour is caught.
    root = make_dataset(n=40, mask=road_mask)
    layout = discover(root, splits={"train": [f"img{i:02d}" for i in range(36)], "val": ["img36", "img37"]},
                      mask_sample=8)  # fmt: skip
    assert any(n.startswith("mask encoding read from 8 of the 36 training masks") and "fit decodes every mask"
               in n for n in layout.notes)  # fmt: skip
    assert layout.mask.sampled == 8
    assert not any("mask encoding read from" in n for n in discover(root, mask_sample=64).notes)


def test_a_listed_colour_a_few_levels_off_the_masks_is_named_as_a_typo(
    make_dataset: MakeDataset,
) -> None:
    # Road listed as #804081 (the masks hold 128,64,128): the error blamed the mask and suggested a new class.
    root = make_dataset(mask=road_mask)
    (root / "classes.csv").write_text("name,color,void\nSky,#808080,0\nRoad,#804081,0\nvoid,#000000,1\n")
    with pytest.raises(
        ValueError,
        match=r"^mask \S*img00.png holds colour \[128, 64, 128\] that \S*classes.csv does not list; add it "
        r"as a class or as void; class 'Road' is listed as \[128, 64, 129\]: is that a typo\?$",
    ):
        discover(root)
    # A listed void colour alike.
    write_classes(root, {"classes": COLOUR_CLASSES, "void": [[0, 0, 6]]})
    with pytest.raises(ValueError, match=r"as void; void is listed as \[0, 0, 6\]: is that a typo\?$"):
        discover(root)


@pytest.mark.parametrize(
    ("odd", "ending"),
    [
        ((131, 64, 126), r"3 levels from class 'Road''s \[128, 64, 128\]\): the masks look resized or "
         r"antialiased .*re-save them .*nearest-neighbour resizing, rather than adding the colours as "
         r"classes or void$"),
        ((255, 0, 255), r"add it as a class or as void$"),
    ],
)  # fmt: skip
def test_a_near_colour_the_masks_hold_is_no_typo(
    make_dataset: MakeDataset, odd: tuple[int, int, int], ending: str
) -> None:
    # Road is in the masks as listed, so a colour near it (an anti-aliased edge) is another colour, not Road
    # mistyped: the masks look resized or antialiased, and adding the colour as a class would keep the
    # damage; a colour far from every listed one gets no hint either.
    def mask(i: int) -> np.ndarray:
        m = road_mask(i)
        m[0, 0] = odd
        return m

    root = make_dataset(mask=mask)
    write_classes(root, {"classes": COLOUR_CLASSES, "void": [list(VOID)]})
    with pytest.raises(ValueError, match=rf"holds colour \[{odd[0]}, {odd[1]}, {odd[2]}\] .*{ending}"):
        discover(root)


def test_a_listed_gray_value_a_few_off_the_masks_is_named_as_a_likely_typo(make_dataset: MakeDataset) -> None:
    def mask(i: int) -> np.ndarray:
        m = np.full((32, 32), 10, np.uint8)
        m[:8], m[-2:] = 30, 255
        return m

    root = make_dataset(mask=mask)
    (root / "classes.csv").write_text("name,value,void\nbuilding,10,0\nroad,31,0\nvoid,255,1\n")
    with pytest.raises(
        ValueError,
        match=r"holds value 30 that \S*classes.csv does not list; add it as a class or as void; class 'road' "
        r"is listed as 31: is that a typo\?$",
    ):
        discover(root)
    # 10 is in the masks as listed: 12 near it gets no hint.
    (root / "classes.csv").write_text("name,value,void\nbuilding,10,0\nroad,30,0\nvoid,255,1\n")
    shutil.rmtree(root / "masks")
    make_dataset(
        mask=lambda i: np.where(mask(i) == 30, 12 if i == 3 else 30, mask(i)).astype(np.uint8), root=root
    )
    with pytest.raises(
        ValueError, match=r"holds value 12 that \S*classes.csv does not list; add it as a class or as void$"
    ):
        discover(root)
