"""``unetkit fit --resume``: what a new user's interrupted-run trial found. A resume continues a run with the
options and the files it started with, names a finished run instead of re-scoring it, keeps the command that
started it, and a Ctrl-C while the run is scored says how to go on."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_fit_dir import FAST, TINY, make_folder

from unetkit.cli.main import main


def test_a_run_interrupted_while_scored_resumes_with_its_own_options_and_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import unetkit.training.fit as training_fit

    root = make_folder(tmp_path / "data")
    run = tmp_path / "runs" / "r"
    scoring = training_fit.evaluate

    def interrupted(*args: object, **kwargs: object) -> object:
        # A scheduler's kill while the run is scored: the CLI's handler raises KeyboardInterrupt, and the
        # run keeps SIGTERM's exit status 143 (Ctrl-C takes the same path with 130).
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the scoring")

    monkeypatch.setattr(training_fit, "evaluate", interrupted)
    started = ["fit", str(root), "--time", "0.5m", *FAST, "--out", str(run), *TINY]
    assert main(started) == 143
    err = capsys.readouterr().err
    assert f"scoring interrupted; the model is saved: resume with: unetkit fit --resume {run}" in err
    # The plan's files were written when the folder was made, not at the end.
    assert (run / "plan.yaml").is_file() and (run / "dataset.json").is_file() and (run / "plan.png").is_file()
    recorded = json.loads((run / "train.json").read_text())
    monkeypatch.setattr(training_fit, "evaluate", scoring)

    # Options that would not take effect (the checkpoint restores the training state) are refused.
    assert main(["fit", "--resume", str(run), "optim.lr=0.1"]) == 2
    assert "optim.lr=0.1 would not take effect" in capsys.readouterr().err
    assert "lr: 0.1" not in (run / "config.yaml").read_text()
    assert main(["fit", "--resume", str(run), "--time", "1m"]) == 2
    assert f"--resume continues {run} with its own plan and budget" in capsys.readouterr().err
    # Changed data is refused, as a replay refuses it.
    mask = root / "masks" / "img03_mask.png"
    original = mask.read_bytes()
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(mask)
    assert main(["fit", "--resume", str(run)]) == 2
    assert "a resumed run goes on training only on the files it started with" in capsys.readouterr().err
    mask.write_bytes(original)

    # The resume scores the run; train.json (written when training ended) keeps the command that started it
    # and its training time, and records the resume as a resume that trains does.
    assert main(["fit", "--resume", str(run)]) == 0
    out = capsys.readouterr().out
    seconds = recorded["train_seconds"]
    assert f"(scored the saved model; training took {seconds:.0f} s in the earlier session(s))" in out
    assert json.loads((run / "train.json").read_text()) == {
        **recorded,
        "resumed": True,
        "resumed_with": f"unetkit fit --resume {run}",
    }
    assert recorded["command"].startswith(f"unetkit fit {root}")
    metrics = (run / "metrics_test.json").read_bytes()
    # A finished run: nothing to resume, and nothing is rewritten.
    assert main(["fit", "--resume", str(run)]) == 2
    assert f"{run} is finished" in capsys.readouterr().err
    assert (run / "metrics_test.json").read_bytes() == metrics
    # --out at it: no resume advice for a finished run.
    assert main(["fit", str(root), "--time", "0.5m", *FAST, "--out", str(run), *TINY]) == 2
    err = capsys.readouterr().err
    assert f"{run} holds a finished run" in err and f"unetkit test {run}." in err and "--resume" not in err


def test_a_resumed_run_keeps_the_command_that_started_it(tmp_path: Path) -> None:
    from unetkit.training.evaluate import write_start_record, write_train_record

    write_start_record(tmp_path, "unetkit fit data --time 2m --out runs/a")
    write_train_record(tmp_path, 98.3, resumed=True, command="unetkit fit --resume runs/a")
    record = json.loads((tmp_path / "train.json").read_text())
    assert record["command"] == "unetkit fit data --time 2m --out runs/a"
    assert record["resumed_with"] == "unetkit fit --resume runs/a" and record["resumed"] is True


def test_out_at_a_folder_that_is_no_run_is_refused_before_planning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_folder(tmp_path / "data")
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("x")
    assert main(["fit", str(root), "--time", "0.5m", *FAST, "--out", str(other), *TINY]) == 2
    printed = capsys.readouterr()
    assert f"{other} exists and is not a run folder (it holds other files); choose a new" in printed.err
    assert "--resume" not in printed.err
    assert "model.kwargs.base_channels" not in printed.out  # refused before the plan was made


def test_score_val_leaves_the_test_split_unseen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--score val` while runs are compared (a trial wished for a plainer switch than evaluate.split=val)."""
    root = make_folder(tmp_path / "data")
    run = tmp_path / "runs" / "v"
    assert main(["fit", str(root), "--time", "0.5m", *FAST, "--out", str(run), "--score", "val", *TINY]) == 0
    assert "\nval split" in capsys.readouterr().out
    assert (run / "metrics_val.json").is_file() and not (run / "metrics_test.json").exists()
