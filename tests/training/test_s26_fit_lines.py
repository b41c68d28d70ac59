"""Trial 25's findings on ``unetkit fit``'s lines: S4, a line within an epoch showed the previous epoch's
values as its own; S5, nothing said that the time budget ended training (nor that curves.png's last train
loss is of a part of an epoch); S2, a resume redid the interrupted steps without a word and its final line
said all of its time was counted."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from training_helpers import TIME_PACED, tiny_module

from unetkit.training import trainer as trainer_module
from unetkit.training.budget import BudgetTimer
from unetkit.training.config import load_config
from unetkit.training.fit import Redone, _stopped_within_epoch, fit
from unetkit.training.trainer import EpochLines, ProgressBar


def _slow_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = {"now": 0.0}

    def monotonic() -> float:
        clock["now"] += 10.0  # every read 10 s later: lines within each epoch (the interval is 30 s)
        return clock["now"]

    monkeypatch.setattr(trainer_module.time, "monotonic", monotonic)


def test_lines_within_an_epoch_show_that_epochs_step_values_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import lightning as L

    _slow_clock(monkeypatch)
    trainer = L.Trainer(max_epochs=3, logger=False, enable_checkpointing=False, callbacks=[EpochLines()],
                        enable_model_summary=False, num_sanity_val_steps=0)  # fmt: skip
    trainer.fit(tiny_module(20, val_batches=2, epoch_values=True))
    lines = capsys.readouterr().out.splitlines()
    within = [line for line in lines if re.match(r"Epoch \d: \d+/20 steps, \d+ s", line)]
    ends = [line for line in lines if re.match(r"Epoch \d: 20/20 steps in ", line)]
    assert len(ends) == 3 and {line[:7] for line in within} == {"Epoch 0", "Epoch 1", "Epoch 2"}, lines
    for line in within:
        # Epoch 1's lines showed epoch 0's val/miou and train/loss_epoch (trial 25: val/miou=0.7218).
        assert "train/loss_step=" in line and "val/miou" not in line and "loss_epoch" not in line, line
    for epoch, line in enumerate(ends):  # the epoch's own values at its end
        assert f"val/miou={0.5 + 0.1 * epoch:.4g}" in line and "train/loss_epoch=" in line, line


def test_a_terminals_bar_names_the_epoch_of_the_values_an_earlier_epoch_left() -> None:
    import lightning as L

    shown: list[tuple[int, dict[str, Any]]] = []

    class Bar(ProgressBar):
        def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
            metrics = super().get_metrics(trainer, pl_module)
            if self._in_step:  # what a step's redraw shows
                shown.append((trainer.current_epoch, metrics))
            return metrics

    trainer = L.Trainer(max_epochs=3, logger=False, enable_checkpointing=False, callbacks=[Bar()],
                        enable_model_summary=False, num_sanity_val_steps=0,
                        check_val_every_n_epoch=2)  # fmt: skip
    trainer.fit(tiny_module(12, val_batches=2, epoch_values=True))
    assert shown and {epoch for epoch, _ in shown} == {0, 1, 2}
    for epoch, postfix in shown:
        keys = set(postfix)
        assert "train/loss_step" in keys, postfix
        assert "val/miou" not in keys and "train/loss_epoch" not in keys, (epoch, postfix)
    # Epoch 2 shows epoch 1's validation (every second epoch) and epoch 1's mean loss, named so.
    last = shown[-1][1]
    assert "val/miou (epoch 1)" in last and "train/loss_epoch (epoch 1)" in last, last


# A tiny run logging every step, scored on val (never the test split): 12 images, 2 a batch, 4 steps an
# epoch with data.repeat=1 (training_helpers.TIME_PACED, its LR paced by an epoch count here).
FAST_RUN = [
    *[item for item in TIME_PACED if not item.startswith(("trainer.max_epochs", "schedule"))],
    "trainer.max_epochs=3",
    "data.repeat=1",
]


def _config(tmp_path: Path, *extra: str) -> Any:
    return load_config("synthetic", [*FAST_RUN, f"output.root={tmp_path}", "output.name=r", *extra])


def _stop_after(monkeypatch: pytest.MonkeyPatch, steps: int) -> None:
    """The budget's clock reads out after ``steps`` steps of this session (no waiting on the wall clock)."""
    monkeypatch.setattr(
        BudgetTimer, "time_elapsed", lambda self, stage="train": 1e9 if self._session_steps >= steps else 0.0
    )


def test_a_stop_by_the_budget_is_said_recorded_and_drawn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from unetkit.viz import figures

    drawn: dict[str, Any] = {}
    plot = figures.plot_training_curves

    def recorded(*args: Any, **kwargs: Any) -> Any:
        drawn.update(kwargs)
        return plot(*args, **kwargs)

    monkeypatch.setattr(figures, "plot_training_curves", recorded)
    _stop_after(monkeypatch, 6)  # 2 steps into epoch 1
    with caplog.at_level(logging.INFO, logger="unetkit"):
        result = fit(_config(tmp_path, "trainer.max_time_minutes=2"))
    record = json.loads((result.run_dir / "train.json").read_text())
    per_epoch = record["budget_stop_epoch"]["of"]
    assert record["budget_stop_step"] == 6 and per_epoch == 4
    assert record["budget_stop_epoch"] == {"epoch": 1, "steps": 2, "of": 4}
    # One line between the last epoch's and the saved model's (trial 25: nothing said the budget ended it).
    messages = [r.getMessage() for r in caplog.records]
    line = "stopped by the 2m time budget at step 6 (epoch 1, 2 of 4 steps)"
    assert line in messages, messages
    assert messages.index(line) < next(i for i, m in enumerate(messages) if m.startswith("saved unet model"))
    # curves.png marks epoch 1's train loss as that of 2 of its 4 steps.
    assert drawn["partial"] == (1, 2, 4)
    assert (result.run_dir / "figures" / "curves.png").is_file()


def test_the_stop_line_of_a_budget_and_of_a_replay_and_a_stop_at_an_epochs_end(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from unetkit.training.budget import RecordedStop, StopPoint, budget_stop_line

    timer = BudgetTimer(120.0, 0)
    timer.stopped, timer.stop_position = True, (9, 14, 38)
    trainer = SimpleNamespace(callbacks=[timer], global_step=356)
    assert budget_stop_line(trainer) == "stopped by the 2m time budget at step 356 (epoch 9, 14 of 38 steps)"
    replay = RecordedStop(356)
    replay.stopped, replay.stop_position = True, (9, 14, 38)
    assert budget_stop_line(SimpleNamespace(callbacks=[replay], global_step=356)) == (
        "stopped at step 356 (epoch 9, 14 of 38 steps), where the time budget stopped the replayed run"
    )
    timer.stopped = False  # max_epochs or early stopping ended it
    assert budget_stop_line(trainer) == ""
    assert StopPoint(356, 9, 14, 38).where() == "step 356 (epoch 9, 14 of 38 steps)"
    assert StopPoint(380, 9, 38, 38).where() == "step 380, the end of epoch 9"
    assert not StopPoint(380, 9, 38, 38).within_epoch
    assert _stopped_within_epoch(tmp_path) is None  # no train.json
    (tmp_path / "train.json").write_text(
        json.dumps({"budget_stop_epoch": {"epoch": 9, "steps": 38, "of": 38}})
    )
    assert _stopped_within_epoch(tmp_path) is None  # a whole epoch: nothing to mark
    (tmp_path / "train.json").write_text(json.dumps({"budget_stop_epoch": None}))
    assert _stopped_within_epoch(tmp_path) is None


def _interrupt_at(monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    """Ctrl-C during global step ``step`` (counted from 0), once."""
    from unetkit.training.task import SegmentationTask

    original = SegmentationTask.training_step
    fired = {"done": False}

    def interrupted(self: Any, batch: Any, batch_idx: int) -> Any:
        if self.trainer.global_step == step and not fired["done"]:
            fired["done"] = True
            raise KeyboardInterrupt
        return original(self, batch, batch_idx)

    monkeypatch.setattr(SegmentationTask, "training_step", interrupted)


def test_an_interrupt_says_what_the_resume_redoes_and_the_resume_says_its_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from unetkit.cli.main import main

    _interrupt_at(monkeypatch, 7)  # 3 steps of epoch 1 done (4 an epoch): the resume redoes them
    config = _config(tmp_path, "trainer.max_time_minutes=2")
    with pytest.raises(KeyboardInterrupt) as stopped:
        fit(config)
    run = tmp_path / "r"
    assert str(stopped.value) == (
        f"training interrupted; resume with: unetkit fit --resume {run} (it resumes from the end of epoch 0: "
        "the 3 steps of epoch 1 done so far are redone)"
    )
    (entry,) = json.loads((run / "interrupts.json").read_text())
    assert entry["resumes_from_epoch"] == 0 and entry["resumes_from_step"] == 4
    assert entry["interrupted_at_step"] == 7 and entry["steps_redone"] == 3 and entry["seconds_redone"] > 0
    monkeypatch.undo()

    assert main(["fit", "--resume", str(run)]) == 0
    out = capsys.readouterr().out
    record = json.loads((run / "train.json").read_text())
    assert record["redone_seconds"] == entry["seconds_redone"] and record["redone_steps"] == 3
    # The seconds counted and the seconds redone (trial 25: "training took 112 s in all" after ~141 s).
    assert entry["seconds_redone"] < 10  # said to a tenth (from 10 s on, to the second)
    seconds = f"{entry['seconds_redone']:.1f}"
    assert (
        f"(training took {record['train_seconds']:.0f} s counted against the 2m budget, the sessions before "
        f"this resume included; {seconds} s of an interrupted epoch were redone and not counted)"
    ) in out, out


def test_a_killed_session_s_redone_steps_come_from_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGKILL records nothing: the resume finds the steps from the rows logged after the checkpoint, and
    says their seconds are unknown (here the interrupt's record is removed, as if it had been killed)."""
    _interrupt_at(monkeypatch, 6)
    with pytest.raises(KeyboardInterrupt):
        fit(_config(tmp_path))
    run = tmp_path / "r"
    (run / "interrupts.json").unlink()
    monkeypatch.undo()
    result = fit(load_config(run / "config.yaml"), resume=run)
    assert result.redone == Redone(unclocked=2)
    assert result.redone.text() == (
        "at least 2 step(s) that a killed session trained after its last checkpoint were redone, their "
        "seconds unknown and not counted"
    )
    record = json.loads((run / "train.json").read_text())
    assert record["redone_steps_unclocked"] == 2 and record["redone_seconds"] == 0.0
