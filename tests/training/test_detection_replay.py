"""``unetkit fit-maskrcnn --replay RUN``: a time-budgeted Mask R-CNN run trained again from its recorded clock
gives bitwise the same weights and val scores (CPU, one thread), also after ``--resume`` of the run or of the
replay; the one-line refusals."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from training_helpers import checkpoint_state

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "detection"))
from maskrcnn_data import make_instance_folder

from unetkit.cli.main import main
from unetkit.inference.instance_predictor import load_instance_predictor
from unetkit.inference.variants import file_sha256
from unetkit.training.budget import CLOCK_FILE
from unetkit.training.data_record import RECORD_NAME
from unetkit.training.detection import MaskRCNNTask, fit_maskrcnn

SIZES = {"train": [(64, 64), (80, 96), (64, 128)], "val": [(72, 90)]}
# A few steps of about a second on one thread, two per epoch, so that a budget of a few seconds stops the
# run after an epoch end (a validation, a checkpoint, new crops); the LR warms up in one step, then follows
# the clock.
TINY = {"crop_size": 48, "batch_size": 1, "epoch_steps": 2, "val_images": 1, "warmup_steps": 1}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_instance_folder(tmp_path / "data", SIZES)


def _assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], what: str) -> None:
    assert a.keys() == b.keys(), what
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{what}: {len(differ)} of {len(a)} tensors differ, e.g. {differ[:3]}"


def _assert_replayed(run: Path, replay: Path) -> None:
    _assert_same_tensors(checkpoint_state(run), checkpoint_state(replay), "last.ckpt")
    # RUN/model's tensors (not its bytes: safetensors writes its metadata keys in no fixed order).
    model = [load_file(str(r / "model" / "model.safetensors")) for r in (run, replay)]
    _assert_same_tensors(*model, "model.safetensors")
    metrics = [json.loads((r / "metrics_val.json").read_text()) for r in (run, replay)]
    assert metrics[0]["scores"] == metrics[1]["scores"] and metrics[0]["steps"] == metrics[1]["steps"]
    # Every logged step and validation (losses, LRs, scores), in the same order.
    assert (run / "logs" / "metrics.csv").read_text() == (replay / "logs" / "metrics.csv").read_text()
    # The replay records the clock it read: RUN's (so a replay can be replayed).
    np.testing.assert_array_equal(np.load(run / CLOCK_FILE), np.load(replay / CLOCK_FILE))


def _record(run: Path) -> dict[str, Any]:
    return dict(json.loads((run / "train.json").read_text()))


@pytest.mark.slow  # 16 s: two Mask R-CNN runs; the U-Net replay test covers the mechanism by default
def test_replay_of_a_budgeted_maskrcnn_run_is_bitwise_identical(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    fit_maskrcnn(folder, run, 0.12, **TINY)  # type: ignore[arg-type]
    stop = _record(run)["budget_stop_step"]
    clock = np.load(run / CLOCK_FILE)
    # The budget stopped it after an epoch end, the LR read the clock at every step, and the clock moved.
    assert stop is not None and stop >= 3 and clock.shape == (stop + 1,) and not np.isnan(clock).any()
    # Never back (read_step_clock): a quiet step after a busy one keeps the earlier value, so equal neighbours
    # can occur; the clock as a whole moves forward.
    assert 0.0 == clock[0] < clock[-1] <= 1.0 and (np.diff(clock) >= 0).all()
    assert checkpoint_state(run)["global_step"] == stop
    # The score threshold and min_size chosen on the val image, recorded for predict and serve.
    chosen = json.loads((run / "model" / "config.json").read_text())["extra"]["instance_postprocess"]
    assert chosen["method"] == "maskrcnn" and set(chosen["values"]) == {"score_threshold", "min_size"}
    recorded = json.loads((run / "metrics_val.json").read_text())["postprocess_chosen_on_val"]
    grid, _ = recorded.pop("grid"), recorded.pop("seconds")  # metrics_val.json adds the grid to the record
    assert recorded == chosen and len(grid) == 12
    assert load_instance_predictor(run).params == {"mask_threshold": 0.5, **chosen["values"]}

    # The CLI takes neither DIR nor options: RUN's own (fit_options.json names the data folder).
    assert main(["fit-maskrcnn", "--replay", str(run), "--no-progress"]) == 0
    replay = tmp_path / "run-replay"
    assert f"run folder: {replay}" in capsys.readouterr().out
    _assert_replayed(run, replay)
    replayed = _record(replay)
    assert replayed["budget_stop_step"] == stop and replayed["replay_of"] == str(run.resolve())
    assert "timer_seconds" not in replayed  # no wall clock in a replay
    assert json.loads((replay / "metrics_val.json").read_text())["replay_of"] == str(run.resolve())

    # The run recorded its files and starting weights (trained_on.json); a replay from other starting
    # weights, or after a label was edited, stops with one line before its run folder exists.
    weights = tmp_path / "w.pth"
    torch.save(load_file(str(run / "model" / "model.safetensors")), weights)
    started = tmp_path / "started"
    fit_maskrcnn(folder, started, 0.03, weights_path=weights, **TINY)  # type: ignore[arg-type]
    recorded = json.loads((started / RECORD_NAME).read_text())
    assert recorded["weights"]["sha256"] == file_sha256(weights)
    names = ("train00", "train01", "train02", "val00")
    assert set(recorded["files"]) == {f"{kind}/{name}.png" for name in names for kind in ("images", "labels")}
    state = load_file(str(run / "model" / "model.safetensors"))
    first = sorted(state)[0]
    state[first] = state[first] + 1
    torch.save(state, weights)
    capsys.readouterr()
    assert main(["fit-maskrcnn", "--replay", str(started), "--no-progress"]) == 2
    assert f"{started} started from {weights.resolve()}" in capsys.readouterr().err
    label = folder / "labels" / "val00.png"
    label.write_bytes(label.read_bytes() + b"\0")  # a trailing byte: the labels read the same
    other = tmp_path / "other"
    assert main(["fit-maskrcnn", "--replay", str(run), "--out", str(other), "--no-progress"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("INFO ")]
    assert len(err) == 1 and "labels/val00.png has changed" in err[0], err
    assert not (tmp_path / "started-replay").exists() and not other.exists()


@pytest.mark.slow
def test_resumed_runs_and_resumed_replays_replay_bitwise(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The clock read before a crash travels in last.ckpt (the resumed run's record is the whole run's), and
    a replay that crashed goes on replaying after ``--resume`` (``replay_of.txt``): four trainings."""

    def crash(self: MaskRCNNTask, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.current_epoch == 1:  # after epoch 0's checkpoint
            raise RuntimeError("crash")

    run = tmp_path / "run"
    monkeypatch.setattr(MaskRCNNTask, "on_train_batch_end", crash, raising=False)
    with pytest.raises(RuntimeError, match="crash"):
        fit_maskrcnn(folder, run, 0.2, **TINY)  # type: ignore[arg-type]
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 0 and ckpt["global_step"] == 2 and ckpt["budget_clock"].dtype == torch.float64
    assert len(ckpt["budget_clock"]) == 3  # steps 0..2: the LR read at step 2 before the crash
    monkeypatch.undo()
    fit_maskrcnn(folder, run, resume=True)
    assert _record(run)["resumed"] is True and _record(run)["budget_stop_step"] > 2
    assert not np.isnan(np.load(run / CLOCK_FILE)).any()  # the steps before the crash are in it

    # The replay crashes too, then resumes without DIR (fit_options.json names it) and replays on.
    monkeypatch.setattr(MaskRCNNTask, "on_train_batch_end", crash, raising=False)
    with pytest.raises(RuntimeError, match="crash"):
        main(["fit-maskrcnn", "--replay", str(run), "--no-progress"])
    replay = tmp_path / "run-replay"
    assert (replay / "replay_of.txt").read_text().strip() == str(run.resolve())
    assert not (replay / "train.json").exists()  # it did not finish
    monkeypatch.undo()
    assert main(["fit-maskrcnn", "--resume", str(replay), "--no-progress"]) == 0
    capsys.readouterr()
    _assert_replayed(run, replay)
    record = _record(replay)
    assert record["resumed"] is True and record["replay_of"] == str(run.resolve())
    assert "timer_seconds" not in record  # no wall clock after the resume either


def test_replay_refusals_are_one_line(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def error(*argv: str) -> str:
        assert main(["fit-maskrcnn", *argv]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), lines
        return lines[0]

    missing = tmp_path / "nothing"
    assert f"{missing / 'fit_options.json'} not found" in error("--replay", str(missing))
    run = tmp_path / "run"
    run.mkdir()
    options = run / "fit_options.json"
    options.write_text(json.dumps({"seed": 0, "data_dir": str(folder)}))
    assert "records no time budget" in error("--replay", str(run))
    options.write_text(json.dumps({"time_minutes": 1.0, "data_dir": str(folder), "weights_path": None}))
    message = error("--replay", str(run))
    assert "has not finished" in message and f"unetkit fit-maskrcnn {folder} --resume {run}" in message
    (run / "train.json").write_text('{"train_seconds": 1.0}\n')  # fit-maskrcnn before replay existed
    assert "trained before replay existed" in error("--replay", str(run))
    # A run from before replay that was resumed after: a clock (of the resumed part) but no data folder.
    (run / "train.json").write_text('{"train_seconds": 1.0, "budget_stop_step": 9}\n')
    (run / "logs").mkdir()
    np.save(run / CLOCK_FILE, np.zeros(10))
    options.write_text(json.dumps({"time_minutes": 1.0}))
    message = error("--replay", str(run))
    assert "trained before replay existed" in message and "does not name its data folder" in message

    # Options that would change the run, named before anything is read.
    assert "exclude each other" in error("--replay", str(run), "--resume", str(run))
    assert f"drop {folder}" in error(str(folder), "--replay", str(run))
    for flag in (["--crop", "64"], ["--time", "1m"], ["--weights", "w.pth"], ["--norm", "batch"]):
        assert f"drop {flag[0]}" in error("--replay", str(run), *flag)
    with pytest.raises(ValueError, match="drop data_dir, lr"):
        fit_maskrcnn(folder, tmp_path / "new", replay=run, lr=0.1)
    with pytest.raises(ValueError, match="exclude each other"):
        fit_maskrcnn(None, run, resume=True, replay=run)
    assert "needs the data folder DIR" in error("--time", "1m", "--out", str(tmp_path / "new"))
    with pytest.raises(ValueError, match=r"needs the data folder data_dir \(images/"):
        fit_maskrcnn(None, tmp_path / "new", 1.0)
    # A replay keeps its source's budget: resuming it with another one is refused.
    replay = tmp_path / "replay"
    (replay / "checkpoints").mkdir(parents=True)
    (replay / "checkpoints" / "last.ckpt").write_bytes(b"")
    (replay / "fit_options.json").write_text(options.read_text())
    (replay / "replay_of.txt").write_text(f"{run}\n")
    assert f"replays {run}, whose budget it keeps" in error("--resume", str(replay), "--time", "2m")
    # A resume keeps the run's options too: a flag that would change them is refused, not ignored.
    for flag in (["--crop", "64"], ["--seed", "3"], ["--weights", "w.pth"], ["--norm", "batch"]):
        assert (
            f"with the options it was started with ({replay / 'fit_options.json'}); drop {flag[0]}"
            in error("--resume", str(replay), *flag)
        )
    assert not (tmp_path / "new").exists() and not (tmp_path / "run-replay").exists()
