"""Trial 20: `unetkit fit` piped to a file wrote Lightning's bars into it: a line at every redraw, the sanity
check's and every validation's bars, and cursor codes shown as ``[A``. Written to a file or a pipe, the
progress is one plain line per epoch (and one every FILE_REFRESH_SECONDS within a slow epoch); a terminal
keeps the bar."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
from training_helpers import tiny_module

from unetkit.training import trainer as trainer_module
from unetkit.training.config import TrainerConfig
from unetkit.training.trainer import EpochLines, ProgressBar, build_callbacks, build_trainer


def _progress(callbacks: list[Any]) -> list[type]:
    return [type(c) for c in callbacks if isinstance(c, (ProgressBar, EpochLines))]


def test_the_progress_is_a_bar_in_a_terminal_and_lines_in_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tr = TrainerConfig()
    assert _progress(build_callbacks(tr, tmp_path, terminal=True)) == [ProgressBar]
    assert _progress(build_callbacks(tr, tmp_path, terminal=False)) == [EpochLines]
    # By default: whether stdout, where Lightning's bars write, is a terminal.
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert _progress(build_callbacks(tr, tmp_path)) == [ProgressBar]
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert _progress(build_callbacks(tr, tmp_path)) == [EpochLines]
    # trainer.progress_bar=false (fit -q): neither.
    assert _progress(build_callbacks(TrainerConfig(progress_bar=False), tmp_path, terminal=False)) == []


def test_a_redirected_run_writes_one_plain_line_per_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tr = TrainerConfig(max_epochs=3, accelerator="cpu", log_every_n_steps=1)
    trainer = build_trainer(tr, tmp_path, enable_checkpointing=False)  # stdout is no terminal under pytest
    trainer.fit(tiny_module(200, val_batches=50))
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 3 and "\r" not in out and "\x1b" not in out, out[-2000:]
    for epoch, line in enumerate(lines):
        assert re.fullmatch(rf"Epoch {epoch}: 200/200 steps in [\d.]+ s, .*train/loss=.*", line), line
        assert "val/loss=" in line  # the epoch's validation comes before its line


def test_a_slow_epoch_gets_lines_within_it_and_a_stop_within_an_epoch_says_the_steps_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import lightning as L

    clock = {"now": 0.0}

    def monotonic() -> float:
        clock["now"] += 10.0  # every read 10 s later: a line every third step or so (the interval is 30 s)
        return clock["now"]

    monkeypatch.setattr(trainer_module.time, "monotonic", monotonic)
    trainer = L.Trainer(max_steps=50, max_epochs=5, logger=False, enable_checkpointing=False,
                        callbacks=[EpochLines()], enable_model_summary=False)  # fmt: skip
    trainer.fit(tiny_module(40))  # 40 steps an epoch: the stop comes 10 steps into epoch 1
    lines = capsys.readouterr().out.splitlines()
    within = [line for line in lines if re.match(r"Epoch 0: \d+/40 steps, \d+ s", line)]
    assert 5 <= len(within) <= 20, lines
    assert [line for line in lines if " in " in line and line.startswith("Epoch 0: 40/40 steps")]
    assert lines[-1].startswith("Epoch 1: 10/40 steps in "), lines[-3:]
