"""A run that keeps its last checkpoint says so when that checkpoint validated far below the run's best epoch
(a trial's 3-minute run on 8 val images kept val mIoU 0.58 after a best of 0.83 at epoch 9; a 1-minute run of
the same folder reported 0.85, and nothing flagged it)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from unetkit.training.fit import KEPT_BELOW_BEST, kept_checkpoint_note

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))

HEADER = "epoch,lr-AdamW,step,train/loss_step,val/loss,val/miou\n"


def _csv(tmp_path: Path, rows: list[tuple[int, float | None]]) -> Path:
    path = tmp_path / "metrics.csv"
    lines = [HEADER, ",0.001,0,,,\n"]  # the LR monitor's row: no epoch
    for epoch, miou in rows:
        lines.append(f"{epoch},,{epoch * 10 + 5},0.9,,\n")  # a training row: no val/miou
        if miou is not None:
            lines.append(f"{epoch},,{epoch * 10 + 9},,0.5,{miou}\n")
    path.write_text("".join(lines))
    return path


def test_a_last_far_below_the_best_is_named(tmp_path: Path) -> None:
    csv = _csv(tmp_path, [(0, 0.4), (9, 0.828), (12, 0.581)])
    note = kept_checkpoint_note(csv, "val/miou", "max", "last", 12)
    assert note.startswith("the kept model is the last checkpoint (val/miou 0.581 at epoch 12); epoch 9 ")
    assert "validated at 0.828 (checkpoints/best.ckpt)" in note and "evaluate.checkpoint=best" in note


def test_no_note_when_close_kept_best_or_nothing_logged(tmp_path: Path) -> None:
    close = 0.8 * (1 - KEPT_BELOW_BEST) + 1e-6
    assert kept_checkpoint_note(_csv(tmp_path, [(0, 0.8), (1, close)]), "val/miou", "max", "last", 1) == ""
    far = _csv(tmp_path, [(0, 0.8), (1, 0.5)])
    assert kept_checkpoint_note(far, "val/miou", "max", "best", 0) == ""  # the best is kept
    assert kept_checkpoint_note(far, "val/miou", "max", "last", 3) == ""  # no validation at the kept epoch
    assert kept_checkpoint_note(tmp_path / "none.csv", "val/miou", "max", "last", 1) == ""
    assert kept_checkpoint_note(_csv(tmp_path, [(0, 0.5), (1, 0.8)]), "val/miou", "max", "last", 1) == ""


def test_a_loss_monitor_is_lower_better(tmp_path: Path) -> None:
    path = tmp_path / "loss.csv"
    path.write_text("epoch,step,val/loss\n0,9,0.30\n1,19,0.20\n2,29,0.40\n")
    assert "val/loss 0.400 at epoch 2); epoch 1 validated at 0.200" in kept_checkpoint_note(
        path, "val/loss", "min", "last", 2
    )
    assert kept_checkpoint_note(path, "val/loss", "min", "last", 1) == ""


def test_fit_prints_the_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI prints what fit returns, from the run's metrics.csv, monitor and kept checkpoint."""
    from test_fit_dir import FAST, TINY, make_folder

    import unetkit.training.fit as fit_module
    from unetkit.cli.main import main

    calls: list[tuple[Any, ...]] = []

    def note(*args: Any) -> str:
        calls.append(args)
        return "NOTE-FROM-FIT"

    monkeypatch.setattr(fit_module, "kept_checkpoint_note", note)
    root = make_folder(tmp_path / "data")
    run = tmp_path / "run"
    argv = ["fit", str(root), "--time", "0.5m", *FAST, "--out", str(run), "--score", "val", *TINY]
    assert main([*argv, "evaluate.checkpoint=last"]) == 0
    assert "note: NOTE-FROM-FIT" in capsys.readouterr().err
    (csv, monitor, mode, kept, epoch) = calls[0]
    assert csv == run / "logs" / "metrics.csv" and csv.is_file()
    assert (monitor, mode, kept) == ("val/miou", "max", "last") and isinstance(epoch, int)
