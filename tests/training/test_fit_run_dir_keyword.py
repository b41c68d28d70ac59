"""unetkit.fit(config, run_dir=...) is a Python call: its refusal of the run folder names run_dir=, not the
command line's --out (a report-only trial)."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_helpers import TINY

from unetkit.training.config import load_config
from unetkit.training.fit import fit


def test_a_run_dir_that_cannot_be_a_run_folder_is_refused_naming_run_dir(tmp_path: Path) -> None:
    config = load_config("synthetic", [*TINY, f"output.root={tmp_path / 'runs'}", "output.name=r"])
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(ValueError) as info:
        fit(config, run_dir=a_file)
    assert str(info.value) == f"{a_file} exists and is not a folder; choose a new run folder (run_dir=...)"
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match=r"holds other files\); choose a new folder \(run_dir=\.\.\.\)$"):
        fit(config, run_dir=notes)
    assert (notes / "notes.txt").read_text() == "keep" and not (tmp_path / "runs").exists()
