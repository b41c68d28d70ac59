"""Split lists as Windows tools save them: a UTF-8 byte-order mark (Notepad's "UTF-8 with BOM"), UTF-16
(PowerShell's ``>``) and a Windows code page (cp1252), read by the rule training and discovery share."""

from __future__ import annotations

from pathlib import Path

import pytest

from unetkit.data.list_files import read_list_file

NAMES = ["00", "01", "slice 02 é"]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le-bom", "utf-16-be-bom", "utf-32"])
def test_a_byte_order_mark_is_read_not_kept(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "train.txt"
    text = "\r\n".join(NAMES) + "\r\n"
    if encoding.endswith("-bom"):  # the mark written by hand, in either byte order
        codec = encoding.removesuffix("-bom")
        path.write_bytes("\ufeff".encode(codec) + text.encode(codec))
    else:
        path.write_bytes(text.encode(encoding))
    assert read_list_file(path, set(NAMES)) == NAMES


def test_a_file_that_is_not_utf8_is_named_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "val.txt"
    path.write_bytes("00\nslice 02 é\n".encode("cp1252"))
    with pytest.raises(ValueError) as err:
        read_list_file(path)
    text = str(err.value)
    assert str(path) in text and "not UTF-8" in text and "line 2" in text and "save it as UTF-8" in text
    assert "\n" not in text


def test_utf16_without_its_byte_order_mark_is_named(tmp_path: Path) -> None:
    """A re-check: it read as names "0\x000\x00" that paired with nothing."""
    path = tmp_path / "train.txt"
    path.write_bytes("00\n01\n".encode("utf-16-le"))
    with pytest.raises(
        ValueError, match=r"train\.txt holds NUL bytes: UTF-16 text without a byte-order mark\?"
    ):
        read_list_file(path)
