"""The package's lazy public names (``unetkit.fit_folder`` ...): loading one leaves the caller's state."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

import unetkit


def test_a_lazy_name_whose_import_draws_leaves_pythons_random_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a CUDA host an import on fit_folder's way (httpx -> rich, outside Lightning's guarded import) drew
    from Python's random stream, so a notebook's stream moved (benchmarks/results/cuda_fit/recheck/)."""
    source = "import random\nname = random.getrandbits(24)\n"
    (tmp_path / "draws_at_import.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(unetkit._LAZY, "name", "draws_at_import")
    monkeypatch.delitem(sys.modules, "draws_at_import", raising=False)
    random.seed(7)
    expected = random.Random(7).random()
    assert isinstance(unetkit.name, int)  # the module was imported (and drew) here
    assert random.random() == expected


def test_an_unknown_name_lists_the_public_ones() -> None:
    with pytest.raises(AttributeError, match=r"no attribute 'fit_fodler'; public names: __version__, "):
        unetkit.fit_fodler  # noqa: B018
