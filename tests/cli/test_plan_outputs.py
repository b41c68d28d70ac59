"""`unetkit plan --out`: every output's path (plan.yaml, dataset.json, plan.png) is checked before planning
and before any is written, and the error names the user's path, not an atomic write's temp file."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from unetkit.cli.main import main
from unetkit.cli.plan import write_plan_files


@pytest.mark.parametrize("folder", ["plan.png", "dataset.json"])
def test_an_output_that_is_a_folder_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], folder: str
) -> None:
    out = tmp_path / "pp"
    (out / folder).mkdir(parents=True)
    data = tmp_path / "no-data-needed"  # refused before discovery: the folder is never read
    assert main(["plan", str(data), "--out", str(out / "plan.yaml"), "--time", "1m"]) == 2
    err = capsys.readouterr().err
    assert f"--out {out / 'plan.yaml'} (it writes {out / folder}): {out / folder} is a folder" in err
    assert ".tmp" not in err and sorted(p.name for p in out.iterdir()) == [folder]


def test_write_plan_files_checks_every_path_first(tmp_path: Path) -> None:
    (tmp_path / "plan.png").mkdir()
    planned = SimpleNamespace(figure_png=lambda: b"png", dataset={"a": 1}, plan_yaml="a: 1\n")
    with pytest.raises(ValueError, match=r"plan\.png is a folder"):
        write_plan_files(planned, tmp_path / "plan.yaml", tmp_path / "dataset.json")  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.png"]


def test_a_dataset_json_unetkit_did_not_write_is_not_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trial: `unetkit plan .` inside an nnU-Net folder replaced its dataset.json without a word."""
    theirs = tmp_path / "dataset.json"
    theirs.write_text('{"name": "my nnU-Net dataset", "labels": {"background": 0}}')
    data = tmp_path / "no-data-needed"  # refused before discovery
    assert main(["plan", str(data), "--out", str(tmp_path / "plan.yaml"), "--time", "1m"]) == 2
    err = capsys.readouterr().err
    assert f"{theirs} exists and is not a file unetkit wrote" in err and "--dataset-out FILE" in err
    assert "my nnU-Net dataset" in theirs.read_text() and not (tmp_path / "plan.yaml").exists()
    # One that an earlier plan wrote is replaced, as plan.yaml is.
    from unetkit.cli.plan import check_not_foreign_dataset_file

    theirs.write_text('{"root": "d", "splits": {}, "mask": {}, "pairs": []}')
    check_not_foreign_dataset_file(theirs)
