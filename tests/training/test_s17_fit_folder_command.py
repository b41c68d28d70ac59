"""fit_folder records the whole call (a trial's run recorded ``fit_folder(root, budget, score=...)``
without its ``void=[11]``, ``classes=`` and ``threads=``, and its plan.yaml header ``unetkit fit DIR --time
2m --device cpu``): rerunning the recorded command trains the same task. Training is stubbed; the plan is
real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from training_helpers import index_mask_folder

import unetkit
from unetkit.training.config import Config
from unetkit.training.fit import RunResult


def _folder(root: Path, n: int = 12) -> Path:
    """Index masks 0..2 (2 stands for the void of the calls below) on gray 32x32 images."""
    return index_mask_folder(root, n)


def test_the_recorded_command_is_the_whole_call_and_the_plan_header_names_its_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _folder(tmp_path / "data")
    out = tmp_path / "runs" / "mine"
    seen: dict[str, Any] = {}

    def trained(config: Config, *, run_dir: Path, command: str, announce: Any, **kwargs: Any) -> RunResult:
        # Stands for fit(): it records `command` in train.json and started.json and calls `announce`.
        run_dir.mkdir(parents=True)
        announce(run_dir)
        seen.update(config=config, command=command)
        return RunResult(run_dir, {}, "", 0.0)

    monkeypatch.setattr("unetkit.training.fit.fit", trained)
    result = unetkit.fit_folder(
        root, "1m", score="val", out=out, overrides=["trainer.max_epochs=1"], seed=7,
        threads=1, measure_limit=2.0, device="cpu", mask_kind="index", void=[2],
    )  # fmt: skip
    assert result.run_dir == out
    command = seen["command"]
    assert command == (
        f"fit_folder({str(root)!r}, '1m', score='val', out={str(out)!r}, overrides=['trainer.max_epochs=1'], "
        "seed=7, threads=1, measure_limit=2.0, device='cpu', mask_kind='index', void=[2])"
    )
    # It runs as Python, with the same arguments (paths as plain strings).
    args, kwargs = eval(command, {"fit_folder": lambda *a, **k: (a, k)})
    assert args == (str(root), "1m") and kwargs["void"] == [2] and kwargs["out"] == str(out)
    config = seen["config"]
    assert config.trainer.seed == 7  # seed= is trainer.seed
    assert config.data.options["ignore_values"] == [2]
    # The run's plan.yaml names the call, and its header's command the planning options given.
    lines = (out / "plan.yaml").read_text().splitlines()
    assert lines[0] == "# overridden by fit_folder's overrides: trainer.max_epochs=1 trainer.seed=7"
    assert lines[1] == f"# {command}: this call trained the plan below"
    header = next(line for line in lines if ": planned in " in line)
    assert header.startswith(
        f"# unetkit fit {root} --time 1m --device cpu --threads 1 --measure-limit 2 --mask-kind index "
        "--void 2: planned in "
    )
