"""Split list files (``train.txt``, ``val.txt``, ``test.txt``): which sample each line names. Torch-free:
discovery (``unetkit plan``) reads the lists with the rule the training data's reader uses."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from unetkit.data.io import IMAGE_EXTENSIONS

__all__ = ["list_line_name", "read_list_file"]


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
    names = (list_line_name(line, known) for line in path.read_text().splitlines())
    return [n for n in names if n is not None]
