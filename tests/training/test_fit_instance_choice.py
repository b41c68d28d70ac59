"""``unetkit fit`` on instance labels with the semantic target: the val choice compares components and
watershed, the winner becomes the model's instance method, both methods' tuned values are recorded, and the
console says what was chosen (trial findings 3 and 7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_fit_instance_target import FAST, TINY, touching_discs_folder

from unetkit.cli.fit import instance_choice_lines
from unetkit.cli.main import main
from unetkit.inference.instance_selection import MIN_DISTANCES, MIN_SIZES


def test_fit_semantic_target_chooses_between_components_and_watershed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = touching_discs_folder(tmp_path / "data")
    runs = tmp_path / "runs"
    code = main(["fit", str(root), "--time", "0.2m", "--score", "val", *FAST, f"output.root={runs}", *TINY])
    out = capsys.readouterr().out
    assert code == 0
    (run,) = list(runs.iterdir())
    selection = json.loads((run / "instance_selection.json").read_text())
    assert {r["method"] for r in selection["grid"]} == {"components", "watershed"}
    assert len(selection["grid"]) == len(MIN_SIZES) * (1 + len(MIN_DISTANCES))
    extra = json.loads((run / "model" / "config.json").read_text())["extra"]
    record = extra["instance_postprocess"]
    assert extra["instance_method"] == record["method"] == selection["method"]  # what auto runs
    assert set(record["per_method"]) == {"components", "watershed"}
    assert "min_distance" in record["per_method"]["watershed"]["values"]
    # The final scoring used the chosen method and values.
    scores = json.loads((run / "metrics_val.json").read_text())
    assert scores["instances/method"] == record["method"]
    assert scores["instances/params"]["min_size"] == record["values"]["min_size"]
    lines = instance_choice_lines(run)
    assert lines[0].startswith(f"instances: {record['method']} (") and lines[0] in out
    other = "watershed" if record["method"] == "components" else "components"
    assert f"{other}'s best: " in lines[0] and f"used by --instances {other}" in lines[0]


def test_the_fit_line_notes_a_min_size_at_the_grid_edge(tmp_path: Path) -> None:
    record = {
        "method": "components",
        "values": {"min_size": 40},
        "val_map": 0.37,
        "note": "min_size 40 is at the grid's edge (...); pass --min-size 0 to keep them",
        "per_method": {
            "components": {"values": {"min_size": 40}, "val_map": 0.37, "note": "..."},
            "watershed": {"values": {"min_distance": 11, "min_size": 40}, "val_map": 0.35, "note": "..."},
        },
    }
    (tmp_path / "instance_selection.json").write_text(json.dumps(record))
    assert instance_choice_lines(tmp_path) == [
        "instances: components (min_size 40), chosen on val (mAP 0.370); watershed's best: min_distance 11, "
        "min_size 40 (val mAP 0.350, min_size at the grid's edge), used by --instances watershed",
        f"note: {record['note']}",
    ]
    assert instance_choice_lines(tmp_path / "none") == []
