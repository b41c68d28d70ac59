"""The time budget of a semantic fit: validation and checkpoints end within it, the final weights are
validated, the LR schedule reads the budget left for training."""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from training_helpers import TIME_PACED

from unetkit.training.budget import BudgetTimer, budget_fraction
from unetkit.training.config import Config, load_config
from unetkit.training.fit import fit
from unetkit.training.task import SegmentationTask

TINY = TIME_PACED


def _cfg(tmp_path: Path, *extra: str) -> Config:
    return load_config("synthetic", [*TINY, f"output.root={tmp_path}", "output.name=r", *extra])


def _slow_validation(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Validation as slow as on large real images: ``seconds`` per validation batch."""
    validation_step = SegmentationTask.validation_step

    def slow(self: SegmentationTask, batch: Any, batch_idx: int) -> Any:
        time.sleep(seconds)
        return validation_step(self, batch, batch_idx)

    monkeypatch.setattr(SegmentationTask, "validation_step", slow)


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "logs" / "metrics.csv").open() as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow  # 15 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_a_slow_validation_still_ends_within_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lightning's max_time stops after a step and then validates once more: with 1 s per validation batch the
    # run would end about a validation pass (here several seconds) after its budget, and the sanity check
    # (two validation batches before training, 2 s here) was not counted at all.
    _slow_validation(monkeypatch, 1.0)
    budget_s = 15.0
    result = fit(_cfg(tmp_path, f"trainer.max_time_minutes={budget_s / 60}"))
    record = json.loads((result.run_dir / "train.json").read_text())
    assert record["budget_seconds"] == budget_s
    # The Timer counts the sanity check, training, every validation and checkpoint: all within the budget.
    assert record["timer_seconds"] <= budget_s + 0.5
    assert record["timer_seconds"] >= 0.6 * budget_s  # and most of it used
    assert result.train_seconds <= budget_s + 1.0  # trainer.fit's wall clock: plus loader/model set-up
    rows = _rows(result.run_dir)
    lrs = [float(r["lr-AdamW"]) for r in rows if r.get("lr-AdamW")]
    assert lrs[-1] < 0.2 * lrs[0]  # the time-paced LR decays over the training time the budget leaves


@pytest.mark.slow  # 8 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_the_final_weights_are_validated_when_the_interval_skips_their_epoch(
    tmp_path: Path,
) -> None:
    # Validation every 1000 epochs: none is scheduled within the budget, yet evaluate.checkpoint=best must
    # be able to pick the weights at the end of the LR decay.
    result = fit(_cfg(tmp_path, "trainer.max_time_minutes=0.12", "trainer.check_val_every_n_epoch=1000"))
    rows = _rows(result.run_dir)
    last_step = max(int(r["step"]) for r in rows if r.get("train/loss_step"))
    val_steps = [int(r["step"]) for r in rows if r.get("val/miou")]
    assert val_steps and val_steps[-1] >= last_step
    assert (result.run_dir / "checkpoints" / "best.ckpt").is_file()
    assert json.loads((result.run_dir / "train.json").read_text())["timer_seconds"] <= 0.12 * 60 + 0.5


def test_without_a_budget_no_timer_and_no_budget_record(tmp_path: Path) -> None:
    result = fit(_cfg(tmp_path, "trainer.max_epochs=1", "schedule.by=epoch"))
    record = json.loads((result.run_dir / "train.json").read_text())
    assert "budget_seconds" not in record and "timer_seconds" not in record


class _Strategy:
    @staticmethod
    def broadcast(value: Any) -> Any:
        return value


class _Trainer:
    """What BudgetTimer reads from a Trainer."""

    def __init__(self, every: int = 1) -> None:
        self.current_epoch = 0
        self.num_training_batches = 10
        self.should_stop = False
        self.sanity_checking = False
        self.check_val_every_n_epoch = every
        self.strategy = _Strategy()
        self.callbacks: list[Any] = []


def _step(timer: BudgetTimer, trainer: _Trainer, batch_idx: int, seconds: float) -> None:
    timer.on_train_batch_start(trainer)  # type: ignore[arg-type]
    time.sleep(seconds)
    timer.on_train_batch_end(trainer, None, None, None, batch_idx)  # type: ignore[arg-type]


def test_reserve_is_the_longest_recent_epoch_end_with_a_validation() -> None:
    timer = BudgetTimer(3600.0, val_images=100)
    trainer = _Trainer(every=2)
    timer.on_train_start(trainer, None)  # type: ignore[arg-type]
    _step(timer, trainer, 9, 0.01)
    # Before any validation: at least val_images steps.
    assert timer.epoch_end_s() == pytest.approx(100 * timer.step_times[-1], rel=1e-6)
    trainer.current_epoch = 1  # an epoch end without validation (the interval skips epoch 0)
    _step(timer, trainer, 0, 0.01)
    assert timer.epoch_ends[-1][1] is False
    assert timer.epoch_end_s() >= 100 * 0.01  # still the estimate: no validation measured yet
    _step(timer, trainer, 9, 0.01)
    timer.on_validation_start(trainer, None)  # type: ignore[arg-type]
    time.sleep(0.05)
    timer.on_validation_end(trainer, None)  # type: ignore[arg-type]
    trainer.current_epoch = 2
    _step(timer, trainer, 0, 0.01)
    assert timer.epoch_ends[-1][1] is True
    measured = timer.epoch_ends[-1][0]
    assert timer.epoch_end_s() == measured  # the measured validation replaces the estimate
    _step(timer, trainer, 9, 0.01)
    trainer.current_epoch = 3  # a short epoch end after it: the reserve keeps the longer one
    _step(timer, trainer, 0, 0.001)
    assert timer.epoch_end_s() == measured
    assert timer.reserve_s() == pytest.approx(1.2 * measured * timer.slowdown() + 2 * timer.slowest_step_s())

    restored = BudgetTimer(3600.0, val_images=100)
    restored.load_state_dict(timer.state_dict())  # --resume keeps the measurements
    assert restored.epoch_end_s() == measured
    assert restored.step_times == timer.step_times[-20:][1:]  # the first step's warm-up is no load to keep


def test_before_a_validation_the_reserve_is_timed_on_the_sanity_check_images() -> None:
    """A training step on a batch of crops costs several validation images: val_images x a step kept so much
    back that a loaded 2-minute run stopped after 33 of about 650 steps. The sanity check's fastest image
    (its first carries the warm-up) times the validation instead."""
    timer = BudgetTimer(3600.0, val_images=100)
    trainer = _Trainer()
    trainer.sanity_checking = True
    for seconds in (0.05, 0.002):  # warm-up, then a warm image
        timer.on_validation_batch_start(trainer)  # type: ignore[arg-type]
        time.sleep(seconds)
        timer.on_validation_batch_end(trainer)  # type: ignore[arg-type]
    trainer.sanity_checking = False
    timer.on_train_start(trainer, None)  # type: ignore[arg-type]
    _step(timer, trainer, 0, 0.02)
    assert timer.val_image_s is not None and 0.002 <= timer.val_image_s < 0.01
    assert timer.epoch_end_s() == pytest.approx(100 * timer.val_image_s)
    assert timer.epoch_end_s() < 100 * timer.step_times[-1] / 2
    restored = BudgetTimer(3600.0, val_images=100)
    restored.load_state_dict(timer.state_dict())  # --resume keeps it
    assert restored.val_image_s == timer.val_image_s


def test_the_sanity_check_counts_and_so_does_resumed_time() -> None:
    timer = BudgetTimer(60.0, val_images=1)
    timer.load_state_dict({"time_elapsed": {"train": 10.0}})  # a resumed run's earlier time
    trainer = _Trainer()
    timer.on_sanity_check_start(trainer, None)  # type: ignore[arg-type]
    time.sleep(0.2)
    timer.on_sanity_check_end(trainer, None)  # type: ignore[arg-type]
    timer.on_train_start(trainer, None)  # type: ignore[arg-type]
    assert 10.2 <= timer.time_elapsed() < 10.4


def test_stop_forces_validation_and_budget_fraction_excludes_the_reserve() -> None:
    timer = BudgetTimer(1.0, val_images=1)
    trainer = _Trainer(every=5)
    trainer.callbacks = [timer]
    timer.on_train_start(trainer, None)  # type: ignore[arg-type]
    _step(timer, trainer, 0, 0.05)
    assert not trainer.should_stop and trainer.check_val_every_n_epoch == 5
    assert budget_fraction(trainer, 1.0) == pytest.approx(  # type: ignore[arg-type]
        timer.time_elapsed() / (1.0 - timer.reserve_s()), rel=0.05
    )
    time.sleep(1.0 - timer.time_elapsed())
    _step(timer, trainer, 1, 0.0)
    assert trainer.should_stop
    assert trainer.check_val_every_n_epoch == 1  # so that Lightning validates the final weights
    assert budget_fraction(trainer, 1.0) == 1.0  # type: ignore[arg-type]
    assert budget_fraction(trainer, None) == 0.0  # type: ignore[arg-type]


def test_progress_bar_shows_no_logger_version(tmp_path: Path) -> None:
    import lightning as L

    from unetkit.training.trainer import ProgressBar, build_loggers

    trainer = L.Trainer(logger=build_loggers(tmp_path), enable_checkpointing=False, callbacks=[ProgressBar()])
    bar = next(c for c in trainer.callbacks if isinstance(c, ProgressBar))
    assert "v_num" not in bar.get_metrics(trainer, None)  # type: ignore[arg-type]


def _tiny_module(batches: int) -> Any:
    """A one-weight LightningModule whose epoch is ``batches`` steps of about a millisecond."""
    import lightning as L
    import torch

    class Tiny(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            return (self.w - 1.0).pow(2).sum()

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

        def train_dataloader(self) -> Any:
            return torch.utils.data.DataLoader(torch.zeros(batches, 1), batch_size=1)

    return Tiny()


def test_a_redirected_progress_bar_refreshes_once_per_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Written to a log file, every refresh of a step-by-step bar appends a line (~85 KB a minute).
    import lightning as L

    from unetkit.training.trainer import ProgressBar

    trainer = L.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, callbacks=[ProgressBar()],
                        enable_model_summary=False)  # fmt: skip
    trainer.fit(_tiny_module(40))
    out = capsys.readouterr().out  # not a terminal under pytest: as in a log file
    assert out.count("40/40") >= 2 and out.count("/40 [") <= 2 * 6  # not 40 refreshes per epoch


def test_a_redirected_bar_of_slow_steps_moves_within_an_epoch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once per epoch left a log file showing one step count for minutes while slow steps went on: a
    redirected bar refreshes every FILE_REFRESH_SECONDS (here shorter than a step) within the epoch."""
    import lightning as L

    from unetkit.training import trainer as trainer_module
    from unetkit.training.trainer import FILE_REFRESH_SECONDS, ProgressBar, refresh_every

    assert refresh_every(10.0, FILE_REFRESH_SECONDS) == 3 and refresh_every(0.01, FILE_REFRESH_SECONDS) > 40
    monkeypatch.setattr(trainer_module, "FILE_REFRESH_SECONDS", 1e-9)
    bar = ProgressBar()
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, callbacks=[bar],
                        enable_model_summary=False)  # fmt: skip
    trainer.fit(_tiny_module(40))
    assert bar.refresh_rate == 1
    assert capsys.readouterr().out.count("/40 [") > 20


def test_a_redirected_bar_redraws_when_steps_slow_down_after_pacing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The refresh rate is set from the first steps: when later steps slowed (a busy machine), a log file
    went from 0/40 to 40/40 with nothing between. A step ending an interval after the last redraw redraws."""
    import lightning as L

    from unetkit.training import trainer as trainer_module
    from unetkit.training.trainer import ProgressBar

    clock = {"now": 0.0}
    bar = ProgressBar()
    real_end = ProgressBar.on_train_batch_end

    def on_end(self, trainer, module, outputs, batch, batch_idx):  # type: ignore[no-untyped-def]
        # The fake clock: 1 ms steps while pacing, then 10 s steps (the file interval is 30 s).
        clock["now"] += 0.001 if batch_idx < 12 else 10.0
        return real_end(self, trainer, module, outputs, batch, batch_idx)

    monkeypatch.setattr(trainer_module.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(ProgressBar, "on_train_batch_end", on_end)
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, callbacks=[bar],
                        enable_model_summary=False)  # fmt: skip
    trainer.fit(_tiny_module(40))
    assert bar.refresh_rate == 40  # paced on the fast steps: once per epoch
    out = capsys.readouterr().out
    drawn = {int(n) for n in re.findall(r" (\d+)/40 \[", out)}
    assert {n for n in drawn if 12 < n < 40}, out[-2000:]  # redrawn within the epoch, about every 3 steps


def test_a_terminal_bar_redraws_at_most_every_quarter_second(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each redraw reads the loss off the device: on a GPU's millisecond steps a redraw at every step made
    the host wait for the GPU at every step. A CPU's slower steps still move the bar one by one."""
    import sys

    import lightning as L

    from unetkit.training.trainer import BAR_REFRESH_SECONDS, ProgressBar, refresh_every

    assert refresh_every(0.01) == round(BAR_REFRESH_SECONDS / 0.01) and refresh_every(0.5) == 1
    assert refresh_every(0.0) == 1

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # as in a terminal
    bar = ProgressBar()
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, callbacks=[bar],
                        enable_model_summary=False)  # fmt: skip
    trainer.fit(_tiny_module(200))
    assert bar.refresh_rate > 1  # this tiny model's steps take well under a quarter second


def test_the_recorded_clock_never_goes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """A quiet step after a busy one lowers the reserve for the last validation, so the wall-clock fraction
    can fall; the LR schedule reads the highest one so far (and a replay reads the record as it is)."""
    import math
    from types import SimpleNamespace

    from unetkit.training import budget
    from unetkit.training.budget import RecordedClock, read_step_clock

    walls = iter([0.0, 0.30, 0.25, 0.40])
    monkeypatch.setattr(budget, "budget_fraction", lambda trainer, budget_s: next(walls))
    clock: list[float] = []
    read = [read_step_clock(clock, SimpleNamespace(global_step=s), 60.0) for s in range(4)]  # type: ignore[arg-type]
    assert read == clock == [0.0, 0.30, 0.30, 0.40]
    assert read_step_clock(clock, SimpleNamespace(global_step=2), 60.0) == 0.30  # type: ignore[arg-type]
    recorded = RecordedClock(fractions=(0.0, 0.5, 0.2), stop_step=2, source=Path("run"))
    replayed: list[float] = []
    assert [read_step_clock(replayed, SimpleNamespace(global_step=s), 60.0, recorded) for s in range(3)] == [  # type: ignore[arg-type]
        0.0, 0.5, 0.2,
    ]  # fmt: skip
    assert not any(math.isnan(v) for v in replayed)


def test_a_stop_within_an_epoch_leaves_the_bar_at_the_steps_run(capsys: pytest.CaptureFixture[str]) -> None:
    """Trial: at the budget stop the log's last bar line read "Epoch 5: 0%| 0/40" though 27 steps of epoch 5
    ran: a redirected bar redraws once per epoch, and the stop came between redraws."""
    import lightning as L

    from unetkit.training.trainer import ProgressBar

    trainer = L.Trainer(max_steps=50, max_epochs=5, logger=False, enable_checkpointing=False,
                        callbacks=[ProgressBar()], enable_model_summary=False)  # fmt: skip
    trainer.fit(_tiny_module(40))  # 40 steps an epoch: the stop comes 10 steps into epoch 1
    out = capsys.readouterr().out
    last = [int(n) for n in re.findall(r"Epoch 1: .*? (\d+)/40 \[", out)]
    assert last and last[-1] == 10, out[-1500:]


def _simulated_run(
    monkeypatch: pytest.MonkeyPatch, budget_s: float, step_s: Any, val_s: Any, steps_per_epoch: int = 30
) -> tuple[float, int]:
    """A budgeted run on a fake clock: ``step_s(t)`` and ``val_s(t)`` give the seconds a step and a validation
    take when started at time ``t`` (a machine that gets loaded); the timer decides the stop. Returns the
    time the final validation ends (what the budget holds) and the steps run."""
    from unetkit.training import budget

    clock = {"now": 0.0}
    monkeypatch.setattr(budget.time, "monotonic", lambda: clock["now"])
    timer = BudgetTimer(budget_s, val_images=10)
    trainer = _Trainer()
    trainer.num_training_batches = steps_per_epoch
    trainer.callbacks = [timer]
    timer.on_train_start(trainer, None)  # type: ignore[arg-type]
    steps = 0
    while True:
        for batch_idx in range(steps_per_epoch):
            timer.on_train_batch_start(trainer)  # type: ignore[arg-type]
            clock["now"] += step_s(clock["now"])
            timer.on_train_batch_end(trainer, None, None, None, batch_idx)  # type: ignore[arg-type]
            steps += 1
            if trainer.should_stop:
                break
        timer.on_validation_start(trainer, None)  # type: ignore[arg-type]
        clock["now"] += val_s(clock["now"])
        timer.on_validation_end(trainer, None)  # type: ignore[arg-type]
        if trainer.should_stop:
            return timer.time_elapsed(), steps
        trainer.current_epoch += 1


def test_a_run_that_slows_down_near_the_end_still_ends_within_its_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 1-minute DSB run on a loaded 2-core machine ended 1.8 s late: its last steps took about 3 s against
    0.3 s before, and the stop, timed on the mean of the recent steps, did not see them coming. The stop keeps
    a margin for the slowest recent step and for a validation slowed as much as the steps were."""

    def step_s(t: float) -> float:
        return 0.3 if t < 45.0 else 3.0  # load arrives 45 s into the minute

    def val_s(t: float) -> float:
        return 1.5 if t < 45.0 else 4.5

    end, steps = _simulated_run(monkeypatch, 60.0, step_s, val_s)
    assert end <= 60.0, (end, steps)
    assert steps > 100  # the quiet part of the run was used

    # An idle machine: the margin costs little of the budget.
    end, steps = _simulated_run(monkeypatch, 60.0, lambda t: 0.3, lambda t: 1.5)
    assert 57.0 <= end <= 60.0, (end, steps)


def test_the_reserve_holds_two_slowest_steps_and_a_validation_slowed_as_the_steps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from unetkit.training import budget

    clock = {"now": 0.0}
    monkeypatch.setattr(budget.time, "monotonic", lambda: clock["now"])
    timer = BudgetTimer(3600.0, val_images=10)
    trainer = _Trainer()
    timer.epoch_ends = [(2.0, True)]  # a measured validation

    def steps(*seconds: float) -> None:
        for s in seconds:
            timer.on_train_batch_start(trainer)  # type: ignore[arg-type]
            clock["now"] += s
            timer.on_train_batch_end(trainer, None, None, None, 0)  # type: ignore[arg-type]

    steps(9.0, *[0.1] * 10)  # the first step's warm-up is no sign of load
    assert timer.slowest_step_s() == pytest.approx(0.1) and timer.slowdown() == pytest.approx(1.0)
    assert timer.reserve_s() == pytest.approx(1.2 * 2.0 + 2 * 0.1)
    steps(0.5)  # one slow step: it is reserved for, but it is not load yet
    assert timer.slowest_step_s() == pytest.approx(0.5) and timer.slowdown() == pytest.approx(1.0)
    steps(0.4, 0.4)  # steps four times slower: the validation will be too
    assert timer.slowdown() == pytest.approx(4.0)
    assert timer.reserve_s() == pytest.approx(1.2 * 2.0 * 4.0 + 2 * 0.5)

    resumed = BudgetTimer(3600.0, val_images=10)  # a resumed session: its own first step is the warm-up
    resumed.load_state_dict(timer.state_dict())
    timer = resumed
    steps(30.0, 0.1)
    assert timer.slowest_step_s() == pytest.approx(0.5)
