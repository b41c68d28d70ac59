"""``fit_folder(root, plan=FILE)``: the CLI's ``fit DIR --plan FILE`` from Python (a trial found no way to
pin a plan from Python: the same call twice measured two plans, bf16 once and fp32 the other time)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import yaml
from training_helpers import index_mask_folder

import unetkit
from unetkit.cli.plan import write_plan_files
from unetkit.planning import folder


def _folder(root: Path, n: int = 12) -> Path:
    return index_mask_folder(root, n, binary=True)


@pytest.fixture
def planned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A dataset folder and its plan file (as ``unetkit plan DIR --out FILE`` writes it); planning again
    fails the test (plan= trains the file, nothing is measured)."""
    root = _folder(tmp_path / "data").resolve()
    plan = tmp_path / "plans" / "plan.yaml"
    plan.parent.mkdir()
    made = unetkit.plan_folder(root, budget="1m", threads=1, measure_limit=2.0, device="cpu")
    write_plan_files(made, plan, plan.with_name("dataset.json"))

    @functools.wraps(folder.plan_folder)  # its signature: fit_folder checks keywords against it
    def measured(*args: object, **kwargs: object) -> None:
        raise AssertionError("plan= planned the folder again")

    monkeypatch.setattr("unetkit.planning.folder.plan_folder", measured)
    return root, plan


@pytest.mark.slow  # 8 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_fit_folder_trains_a_plan_file_as_is(planned: tuple[Path, Path], tmp_path: Path) -> None:
    root, plan = planned
    out = tmp_path / "runs" / "pinned"
    result = unetkit.fit_folder(
        root, score="val", out=out, plan=plan, overrides=["trainer.max_epochs=1"], threads=1, device="cpu"
    )
    assert result.run_dir == out and (out / "model" / "config.json").is_file()
    wanted = yaml.safe_load(plan.read_text())
    trained = yaml.safe_load((out / "config.yaml").read_text())
    for section, key in (("trainer", "precision"), ("data", "crop_size"), ("data", "batch_size"),
                         ("trainer", "max_time_minutes"), ("model", "kwargs")):  # fmt: skip
        assert trained[section][key] == wanted[section][key], key
    assert trained["trainer"]["max_epochs"] == 1
    command = json.loads((out / "train.json").read_text())["command"]
    assert f"plan={str(plan)!r}" in command and command.startswith("fit_folder(")
    # The run keeps the plan as it trained it, as `fit DIR --plan FILE` does, and the plan's dataset.json.
    text = (out / "plan.yaml").read_text()
    assert text.startswith(
        f"# this run trained {plan.resolve()} with evaluate.split=val trainer.max_epochs=1: {command}\n"
    )
    assert "max_epochs: 1" in text
    assert (out / "dataset.json").read_text() == plan.with_name("dataset.json").read_text()
    assert (out / "plan.png").is_file()


def test_what_the_plan_file_decides_is_refused_with_plan(planned: tuple[Path, Path], tmp_path: Path) -> None:
    root, plan = planned
    with pytest.raises(ValueError, match=r"budget= is decided by the plan file .*plan\.yaml; drop it"):
        unetkit.fit_folder(root, "2m", plan=plan)
    with pytest.raises(ValueError, match=r"void= is decided by the plan file"):
        unetkit.fit_folder(root, plan=plan, void=[3])
    with pytest.raises(ValueError, match=r"plan='.*nothere\.yaml': no such file"):
        unetkit.fit_folder(root, plan=tmp_path / "nothere.yaml")
    other = _folder(tmp_path / "other")
    with pytest.raises(ValueError, match=rf"plan='.*plan\.yaml' was made for {root}, not {other.resolve()}"):
        unetkit.fit_folder(other, plan=plan)
