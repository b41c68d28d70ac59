"""A budgeted run's progress says how much of the budget it has used: each epoch line of a log
(``Epoch 3: 40/40 steps in 2.1 s, 1:23 of the 3:00 budget, ...``) and the terminal bar's postfix
(``budget=1:23/3:00``). Before, a log said the epochs and their steps, never how much time was left."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from training_helpers import tiny_module

from unetkit.training.budget import BudgetTimer, budget_progress, clock_text
from unetkit.training.config import TrainerConfig
from unetkit.training.trainer import ProgressBar, build_trainer


def test_clock_text_is_minutes_and_seconds_then_hours() -> None:
    assert [clock_text(s) for s in (0, 59.9, 83, 600, 3599, 3600, 7384)] == [
        "0:00", "0:59", "1:23", "10:00", "59:59", "1:00:00", "2:03:04",
    ]  # fmt: skip


def test_the_budget_progress_names_the_counted_time_and_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    timer = BudgetTimer(180.0, val_images=1)
    monkeypatch.setattr(timer, "time_elapsed", lambda stage="train": 83.4)
    assert budget_progress(SimpleNamespace(callbacks=[timer])) == "1:23 of the 3:00 budget"
    assert budget_progress(SimpleNamespace(callbacks=[])) == ""  # no budget: nothing said


def test_a_redirected_budgeted_run_says_the_budget_on_each_epoch_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tr = TrainerConfig(max_epochs=2, max_time_minutes=10, accelerator="cpu", log_every_n_steps=1)
    trainer = build_trainer(tr, tmp_path, enable_checkpointing=False)  # stdout is no terminal under pytest
    trainer.fit(tiny_module(20))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2, lines
    for epoch, line in enumerate(lines):
        assert re.match(rf"Epoch {epoch}: 20/20 steps in [\d.]+ s, 0:\d\d of the 10:00 budget, train/", line)


def test_the_terminal_bar_shows_the_budget_after_the_values() -> None:
    import lightning as L

    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_model_summary=False,
                        callbacks=[BudgetTimer(600.0, val_images=0), ProgressBar()])  # fmt: skip
    module = tiny_module(5)
    trainer.fit(module)
    bar = next(c for c in trainer.callbacks if isinstance(c, ProgressBar))
    shown = bar.get_metrics(trainer, module)
    assert list(shown)[-1] == "budget" and re.fullmatch(r"0:\d\d/10:00", shown["budget"]), shown
