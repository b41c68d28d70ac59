"""plan.yaml's header line names every planning option given (a trial's header said ``unetkit fit DIR --time
2m --device cpu`` for a plan made with ``void=[11]``, ``classes=`` and ``threads=``): its command plans the
same task again."""

from __future__ import annotations

from pathlib import Path

from training_helpers import index_mask_folder

import unetkit


def _folder(root: Path, n: int = 12) -> Path:
    """Index masks 0..2 on gray 32x32 images."""
    return index_mask_folder(root, n)


def test_plan_folder_header_names_the_options_given(tmp_path: Path) -> None:
    root = _folder(tmp_path / "data")
    classes = tmp_path / "classes.json"
    classes.write_text(
        '[{"value": 0, "name": "bg"}, {"value": 1, "name": "thing"}, {"value": 2, "void": true}]'
    )
    planned = unetkit.plan_folder(
        root, budget="1m", threads=1, measure_limit=2.0, device="cpu", classes=classes,
        split={"train": (0, 10), "val": (10, 12)},
    )  # fmt: skip
    header = next(line for line in planned.plan_yaml.splitlines() if ": planned in " in line)
    assert header.startswith(
        f"# unetkit plan {root} --time 1m --device cpu --threads 1 --measure-limit 2 "
        f"--split train=0:10,val=10:12 --classes {classes}: planned in "
    )
