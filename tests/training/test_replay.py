"""``unetkit fit --replay RUN``: a time-budgeted run trained again from its recorded clock gives bitwise the
same weights and metrics (CPU, same thread count), also after ``--resume``; the one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from training_helpers import TIME_PACED, checkpoint_state

from unetkit.cli.main import main as cli_main
from unetkit.training.budget import CLOCK_FILE, RecordedClock
from unetkit.training.config import load_config, save_config
from unetkit.training.fit import fit

# A run whose LR is paced by the clock (poly decay over a few seconds, max_epochs out of reach), which its
# budget stops, and whose final weights are validated only because the stop forces it; the CLI sets
# trainer.num_threads=1 for both runs.
TINY = [*TIME_PACED, "trainer.check_val_every_n_epoch=1000"]  # the one validation: the one the stop forces
BUDGET = "trainer.max_time_minutes=0.07"  # about 4 s


def _fit_args(root: Path, *extra: str) -> list[str]:
    return ["fit", "--config", "synthetic", *TINY, f"output.root={root}", "output.name=r", *extra]


def _assert_replayed(run: Path, replay: Path) -> None:
    a, b = checkpoint_state(run), checkpoint_state(replay)
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} of {len(a)} tensors differ, e.g. {differ[:3]}"
    # RUN/model's tensors (not its bytes: safetensors writes its metadata keys in no fixed order).
    saved = [load_file(str(r / "model" / "model.safetensors")) for r in (run, replay)]
    assert saved[0].keys() == saved[1].keys() and all(
        torch.equal(v, saved[1][k]) for k, v in saved[0].items()
    )
    assert json.loads((run / "metrics_val.json").read_text()) == json.loads(
        (replay / "metrics_val.json").read_text()
    )
    # Every logged step and validation (losses, LRs, scores), in the same order.
    assert (run / "logs" / "metrics.csv").read_text() == (replay / "logs" / "metrics.csv").read_text()
    # The replay records the clock it read: RUN's (so a replay can be replayed).
    np.testing.assert_array_equal(np.load(run / CLOCK_FILE), np.load(replay / CLOCK_FILE))


def _record(run: Path) -> dict[str, Any]:
    return dict(json.loads((run / "train.json").read_text()))


@pytest.mark.slow  # 23 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_replay_of_a_budgeted_run_is_bitwise_identical(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(_fit_args(tmp_path, BUDGET)) == 0
    run = tmp_path / "r"
    # fit names the command that trains it again step for step.
    assert f"to train this run again step for step: unetkit fit --replay {run}" in capsys.readouterr().out
    record = _record(run)
    stop = record["budget_stop_step"]
    clock = np.load(run / CLOCK_FILE)
    # The budget stopped it (mid-epoch or not), every step's LR read the clock, and the clock (not the step
    # count: max_epochs is out of reach) drove the decay.
    assert stop is not None and stop > 10 and clock.shape == (stop + 1,) and not np.isnan(clock).any()
    assert 0.0 == clock[0] < clock[stop // 2] < clock[-1] <= 1.0
    assert checkpoint_state(run)["global_step"] == stop
    val_steps = [r["step"] for r in csv.DictReader((run / "logs" / "metrics.csv").open()) if r["val/miou"]]
    assert val_steps == [str(stop - 1)]  # Lightning logs the validation at the last step's index

    assert cli_main(["fit", "--replay", str(run)]) == 0
    replay = tmp_path / "r-replay"
    _assert_replayed(run, replay)
    replayed = _record(replay)
    assert replayed["budget_stop_step"] == stop and replayed["replay_of"] == str(run.resolve())
    assert "timer_seconds" not in replayed  # no wall clock in a replay

    # A replay of the replay (its own recorded clock), into a folder named by output.name, or by --out.
    assert cli_main(["fit", "--replay", str(replay), "output.name=again"]) == 0
    _assert_replayed(run, tmp_path / "again")
    assert cli_main(["fit", "--replay", str(replay), "--out", str(tmp_path / "other" / "third")]) == 0
    _assert_replayed(run, tmp_path / "other" / "third")


@pytest.mark.slow  # 10 s: three runs; the plain replay test stays in the default suite
def test_replay_after_resume_is_bitwise_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock read before a crash travels in last.ckpt: the resumed run's record is the whole run's."""
    from unetkit.training.task import SegmentationTask

    crash_at = {"step": 0}

    def crash(self: SegmentationTask, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.current_epoch == 2 and batch_idx == 1 and not crash_at["step"]:
            crash_at["step"] = self.global_step
            raise RuntimeError("crash")

    monkeypatch.setattr(SegmentationTask, "on_train_batch_end", crash, raising=False)
    with pytest.raises(RuntimeError, match="crash"):
        fit(load_config("synthetic", [*TINY, f"output.root={tmp_path}", "output.name=r", BUDGET]))
    run = tmp_path / "r"
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 1 and ckpt["budget_clock"].dtype == torch.float64
    assert len(ckpt["budget_clock"]) == ckpt["global_step"] + 1 < crash_at["step"] + 1
    monkeypatch.undo()
    assert cli_main(["fit", "--resume", str(run)]) == 0
    assert _record(run)["resumed"] is True and _record(run)["budget_stop_step"] is not None
    assert cli_main(["fit", "--replay", str(run)]) == 0
    _assert_replayed(run, tmp_path / "r-replay")


def test_replay_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def error(*argv: str) -> str:
        assert cli_main(list(argv)) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), lines
        return lines[0]

    missing = tmp_path / "nothing"
    assert f"{missing / 'config.yaml'} not found" in error("fit", "--replay", str(missing))
    # A run without a budget: its steps are reproducible as they are.
    assert cli_main(_fit_args(tmp_path, "trainer.max_epochs=1", "schedule.by=epoch")) == 0
    capsys.readouterr()
    run = tmp_path / "r"
    assert not (run / CLOCK_FILE).exists()
    message = error("fit", "--replay", str(run))
    assert "not trained with a time budget" in message and f"--config {run / 'config.yaml'}" in message
    assert "exclude each other" in error("fit", "--replay", str(run), "--resume", str(run))
    assert "drop --config" in error("fit", "--replay", str(run), "--config", "synthetic")
    # A budgeted run from before replay existed (no recorded clock), and one that has not finished.
    budgeted = tmp_path / "old"
    save_config(load_config(run / "config.yaml", ["trainer.max_time_minutes=1"]), budgeted / "config.yaml")
    assert "has not finished" in error("fit", "--replay", str(budgeted))
    (budgeted / "train.json").write_text('{"train_seconds": 1.0, "budget_seconds": 60.0}\n')
    assert "trained before replay existed" in error("fit", "--replay", str(budgeted))
    assert not (tmp_path / "old-replay").exists() and not (tmp_path / "r-replay").exists()


def test_a_replay_that_reads_an_unrecorded_step_stops_with_the_step(tmp_path: Path) -> None:
    clock = RecordedClock(fractions=(0.0, float("nan"), 0.5), stop_step=2, source=tmp_path)
    assert clock.at(2) == 0.5
    for step in (1, 3):
        with pytest.raises(ValueError, match=rf"at global step {step}, which that run never read"):
            clock.at(step)


@pytest.mark.slow  # 11 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_an_interrupted_replay_resumes_replaying(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replay's folder names its source from the start (replay_of.txt): ``--resume`` of a replay that
    crashed goes on with the recorded clock, not the wall clock, and still ends bitwise identical."""
    from unetkit.training.task import SegmentationTask

    assert cli_main(_fit_args(tmp_path, BUDGET)) == 0
    run = tmp_path / "r"

    def crash(self: SegmentationTask, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.current_epoch == 2 and batch_idx == 1:
            raise RuntimeError("crash")

    monkeypatch.setattr(SegmentationTask, "on_train_batch_end", crash, raising=False)
    with pytest.raises(RuntimeError, match="crash"):
        cli_main(["fit", "--replay", str(run)])
    replay = tmp_path / "r-replay"
    assert (replay / "replay_of.txt").read_text().strip() == str(run.resolve())
    assert not (replay / "train.json").exists()  # it did not finish
    monkeypatch.undo()
    assert cli_main(["fit", "--resume", str(replay)]) == 0
    _assert_replayed(run, replay)
    record = _record(replay)
    assert record["resumed"] is True and record["replay_of"] == str(run.resolve())
    assert "timer_seconds" not in record  # no wall clock after the resume either
