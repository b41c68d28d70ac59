"""discover() on awkward real-world folders (edge trial): no training split, list files as Windows tools save
them, duplicate list lines, names differing only in case, a val split of one class."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from unetkit.planning import discover
from unetkit.planning.discovery import MaskInfo
from unetkit.planning.discovery.checks import _one_class_note


def _pairs(px: SimpleNamespace, root: Path, n: int, *, mask_name: str = "{}") -> list[str]:
    names = [f"s{i:02d}" for i in range(n)]
    for i, name in enumerate(names):
        px.write(root / "images" / f"{name}.png", px.gray_image(i))
        px.write(root / "masks" / f"{mask_name.format(name)}.png", px.binary_mask(i))
    return names


def _lists(root: Path, **lists: list[str]) -> None:
    for split, names in lists.items():
        (root / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))


def _error(root: Path, **kwargs: object) -> str:
    with pytest.raises(ValueError) as err:
        discover(root, **kwargs)  # type: ignore[arg-type]
    text = str(err.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("lists", [{"val": ["s01"]}, {"val": ["s01"], "test": ["s02"]}])
def test_lists_without_train_txt_are_refused(tmp_path: Path, px: SimpleNamespace, lists: dict) -> None:
    root = tmp_path / "d"
    _pairs(px, root, 3)
    _lists(root, **lists)
    text = _error(root)
    assert "no train.txt" in text and "no training split" in text and str(root / "train.txt") in text


def test_an_empty_train_txt_is_refused(tmp_path: Path, px: SimpleNamespace) -> None:
    root = tmp_path / "d"
    _pairs(px, root, 10)
    _lists(root, val=["s08", "s09"])
    (root / "train.txt").write_bytes(b"")  # a failed export
    text = _error(root)
    assert f"{root / 'train.txt'} is empty" in text and "no training split" in text


def test_too_few_pairs_names_what_works(tmp_path: Path, px: SimpleNamespace) -> None:
    root = tmp_path / "d"
    _pairs(px, root, 3)
    text = _error(root)
    assert "train.txt and val.txt" in text and "--split train=0:2,val=2:3" in text
    assert "val.txt and test.txt" not in text
    # ... and what it names does work.
    assert set(discover(root, splits={"train": (0, 2), "val": (2, 3)}).splits) == {"train", "val"}
    _lists(root, train=["s00", "s01"], val=["s02"])
    assert discover(root).splits == {"train": ["s00", "s01"], "val": ["s02"]}


def test_given_splits_need_train_and_a_val_split(tmp_path: Path, px: SimpleNamespace) -> None:
    root = tmp_path / "d"
    _pairs(px, root, 3)
    text = _error(root, splits={"train": (0, 1)})
    assert "no validation split" in text and "val=START:STOP" in text and "train=0:2,val=2:3" in text
    text = _error(root, splits={"val": (0, 1), "test": (1, 2)})
    assert "no training images" in text and "train=START:STOP" in text


def test_given_splits_without_val_carve_it_from_train(tmp_path: Path, px: SimpleNamespace) -> None:
    root = tmp_path / "d"
    names = _pairs(px, root, 12)
    layout = discover(root, splits={"train": (0, 9), "test": (9, 12)})
    assert layout.splits["val"] and set(layout.splits["train"]) | set(layout.splits["val"]) == set(names[:9])
    assert any(n.startswith("no validation split given") for n in layout.notes)


def test_list_files_with_a_bom_or_utf16_are_read(tmp_path: Path, px: SimpleNamespace) -> None:
    root = tmp_path / "d"
    names = _pairs(px, root, 10)
    (root / "train.txt").write_bytes(("\r\n".join(names[:8]) + "\r\n").encode("utf-8-sig"))
    (root / "val.txt").write_bytes("s08\r\ns09\r\n".encode("utf-16"))  # PowerShell's `>`
    assert discover(root).splits == {"train": names[:8], "val": names[8:]}


def test_a_list_file_in_a_code_page_is_named(tmp_path: Path, px: SimpleNamespace) -> None:
    root = tmp_path / "d"
    names = _pairs(px, root, 10)
    _lists(root, val=names[8:])
    (root / "train.txt").write_bytes("s00\ncafé\n".encode("cp1252"))
    text = _error(root)
    assert str(root / "train.txt") in text and "save it as UTF-8" in text


def test_duplicate_list_lines_count_once_with_a_note(tmp_path: Path, px: SimpleNamespace) -> None:
    root = tmp_path / "d"
    names = _pairs(px, root, 10)
    _lists(root, train=[names[0], names[1], names[1], *names[2:8]], val=names[8:])
    layout = discover(root)
    assert layout.splits["train"] == names[:8]
    assert f"{root / 'train.txt'} names 's01' more than once: counted once" in layout.notes


def test_a_mask_differing_in_case_from_its_image_is_hinted(tmp_path: Path, px: SimpleNamespace) -> None:
    root = tmp_path / "d"
    names = _pairs(px, root, 10, mask_name="{}")
    for name in names:  # masks/S00.png beside images/s00.png: a copy from a case-insensitive file system
        (root / "masks" / f"{name}.png").rename(root / "masks" / f"{name.upper()}.png")
    _lists(root, train=names[:8], val=names[8:])
    text = _error(root)
    assert "S00.png" in text and "image s00.png differs from S00.png only in letter case" in text


def test_a_val_split_of_one_class_is_noted(tmp_path: Path, px: SimpleNamespace) -> None:
    root = tmp_path / "d"
    names = _pairs(px, root, 10)
    for name in names[8:]:
        px.write(root / "masks" / f"{name}.png", np.full((32, 32), 255, np.uint8))
    _lists(root, train=names[:8], val=names[8:])
    (note,) = [n for n in discover(root).notes if "val masks holds only" in n]
    assert note.startswith("every one of the 2 val masks holds only foreground")
    assert "background has no val pixel" in note and "counts in the mean IoU" in note and "n/a" in note
    _lists(root, train=names[:8], val=names[6:8] + names[8:])  # one val mask with background: no note
    (root / "train.txt").write_text("".join(f"{n}\n" for n in names[:6]))
    assert not [n for n in discover(root).notes if "val masks holds only" in n]


def test_the_one_class_note_stops_at_the_first_mask_with_two(tmp_path: Path, px: SimpleNamespace) -> None:
    good = px.write(tmp_path / "a.png", px.binary_mask(0))
    missing = tmp_path / "missing.png"  # not read: the first mask already shows two classes
    mask = MaskInfo("binary", 2, ("background", "foreground"), values=(0, 255), sampled=1)
    assert _one_class_note([good, missing], mask, "val") is None
