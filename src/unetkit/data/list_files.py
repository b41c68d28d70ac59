"""Split list files (``train.txt``, ``val.txt``, ``test.txt``): which sample each line names. Torch-free:
discovery (``unetkit plan``) reads the lists with the rule the training data's reader uses."""

from __future__ import annotations

import codecs
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from unetkit.data.io import IMAGE_EXTENSIONS

__all__ = ["check_disjoint", "list_line_name", "read_list_file", "read_list_text"]


def _list_stem(text: str) -> str:
    """A list entry without its image extension (``a.png`` -> ``a``; ``slice 05.png`` -> ``slice 05``)."""
    return Path(text).stem if Path(text).suffix.lower() in IMAGE_EXTENSIONS else text


def list_line_name(line: str, known: Collection[str] | None = None) -> str | None:
    """The sample a line of a split list names; None for a blank or ``#`` comment line.

    The whole line (stripped, image extension removed) when it names a ``known`` stem: file names may hold
    spaces (``slice 05``). Else its first whitespace-separated token when that is known, or when three
    numbers follow it (Oxford-IIIT Pet's ``name class species breed`` lines). Else the whole line, so a
    name the user did not write (its first word) is never reported as missing.
    """
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    whole, tokens = _list_stem(text), text.split()
    first = _list_stem(tokens[0])
    known = known or ()
    if whole in known:
        return whole
    if first in known or (len(tokens) == 4 and all(t.isdigit() for t in tokens[1:])):
        return first
    return whole


def read_list_file(path: str | Path, known: Collection[str] | None = None) -> list[str]:
    """Stems listed in a text file, one per line (:func:`list_line_name`; ``known``: the stems that exist).

    Blank lines and lines starting with '#' are skipped (Oxford Pet lines are ``name class species breed``).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"split list file {path} does not exist")
    names = (list_line_name(line, known) for line in read_list_text(path).splitlines())
    return [n for n in names if n is not None]


# Byte-order marks a list file may start with, longest first (UTF-32's little-endian mark starts as UTF-16's).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def read_list_text(path: Path) -> str:
    """The text of a split list. UTF-8, with or without the byte-order mark Notepad's "UTF-8 with BOM"
    writes (it had become part of the first name: '\\ufeff00'); UTF-16 or UTF-32 by their byte-order mark
    (PowerShell's ``>`` writes UTF-16). Any other file that is not UTF-8 (a Windows code page: cp1252's
    ``é``) is a ValueError naming the file, the line and the fix."""
    data = path.read_bytes()
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), "utf-8")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        what = f"{encoding.upper()} with a byte-order mark but" if encoding != "utf-8" else "not UTF-8 text:"
        raise ValueError(
            f"{path} is {what} line {line} holds byte {data[exc.start]:#04x} that does not decode; save it "
            "as UTF-8 (in Notepad: Save as, Encoding UTF-8; in PowerShell: Set-Content -Encoding utf8)"
        ) from None
    if "\x00" in text:
        # UTF-16 without its byte-order mark decodes as "0\x000\x00...": names nothing, said as such.
        raise ValueError(
            f"{path} holds NUL bytes: UTF-16 text without a byte-order mark? save it as UTF-8 (in "
            "PowerShell: Set-Content -Encoding utf8)"
        )
    return text


def check_disjoint(splits: Mapping[str, Sequence[str]], where: str | Path | None = None) -> None:
    """A ValueError naming the first item that two splits share (``where``: the dataset folder, named in
    the message): an image scored on the split it trained on would make the score optimistic."""
    seen: dict[str, str] = {}
    of = f" of {where}" if where is not None else ""
    for name, stems in splits.items():
        for stem in stems:
            if stem in seen and seen[stem] != name:
                raise ValueError(
                    f"{stem!r} is in both the {seen[stem]!r} and {name!r} splits{of}; splits must be "
                    "disjoint: remove it from one of them"
                )
            seen[stem] = name
