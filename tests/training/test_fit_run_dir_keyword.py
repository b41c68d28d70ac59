"""A run folder given in a Python call is refused in the call's words: unetkit.fit(config, run_dir=...) names
run_dir=, not the command line's --out, and fit_folder(out="/") reads "out='/' names no folder", not
"out / names no folder" (report-only trials)."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_helpers import TINY

from unetkit.training.config import load_config
from unetkit.training.fit import fit
from unetkit.training.run_folder import output_overrides


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


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("out=", "out='/' names no folder; give the new run folder, e.g. out='runs/mine'"),
        ("--out", "--out / names no folder; give the new run folder, e.g. --out runs/mine"),
    ],
)
def test_a_run_folder_that_names_no_folder_is_refused_as_the_caller_gave_it(
    option: str, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        output_overrides("/", option)
    assert str(info.value) == message
    assert output_overrides("runs/mine", option) == ["output.root=runs", "output.name=mine"]
