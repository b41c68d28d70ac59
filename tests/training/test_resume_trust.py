"""What a new user's trial of interrupted, moved and resumed runs found: a moved run keeps its best
checkpoint, a run folder is trained by one process at a time, TensorBoard purges the lost steps, a resumed
run records its whole training time, and a changed max_epochs is said."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from unetkit.training.config import load_config
from unetkit.training.fit import fit
from unetkit.training.run_folder import LOCK_NAME, run_lock

TINY = [
    "data.options={num_images: 10, size: [40, 40]}",
    "data.crop_size=32",
    "data.batch_size=4",
    "model.kwargs={base_channels: 4, depth: 2}",
    "trainer.progress_bar=false",
    "evaluate.num_figure_samples=1",
    "trainer.num_threads=1",
    "evaluate.split=val",
    "evaluate.checkpoint=best",
    "schedule.by=epoch",
]


def _state_key(ckpt: dict, name: str) -> str:
    (key,) = [k for k in ckpt["callbacks"] if name in str(k)]
    return key


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_a_moved_run_resumes_with_its_best_checkpoint_its_time_and_its_lock(tmp_path: Path) -> None:
    cfg = load_config("synthetic", [*TINY, f"output.root={tmp_path / 'runs'}", "output.name=a",
                                    "trainer.max_epochs=2"])  # fmt: skip
    run = fit(cfg).run_dir
    last = run / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    best_key = _state_key(ckpt, "'monitor': 'val/miou'")
    # A best score no later epoch can beat, and 1000 s of training before: what the resume must keep.
    best = ckpt["callbacks"][best_key]
    best["best_model_score"] = best["kth_value"] = torch.tensor(2.0)
    best["best_k_models"] = {path: torch.tensor(2.0) for path in best["best_k_models"]}
    ckpt["callbacks"][_state_key(ckpt, "TrainingClock")] = {"train_seconds": 1000.0}
    torch.save(ckpt, last)
    best_epoch = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)["epoch"]
    for name in ("model", "train.json", "metrics_val.json", "metrics_val.md"):
        shutil.rmtree(run / name) if (run / name).is_dir() else (run / name).unlink()
    moved = tmp_path / "elsewhere" / "a moved"
    moved.parent.mkdir()
    shutil.move(run, moved)
    resumed_cfg = load_config(moved / "config.yaml", ["trainer.max_epochs=3"])

    # Another live process holds the folder: refused, naming the folder and the pid.
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (moved / LOCK_NAME).write_text(f"{holder.pid}\n")
        with pytest.raises(ValueError, match=rf"is in use by process {holder.pid}"):
            fit(resumed_cfg, resume=moved)
    finally:
        holder.kill()
        holder.wait()
    # Now the holder is gone: its stale lock is taken over.
    lines = _Lines()
    logger = logging.getLogger("unetkit")
    logger.addHandler(lines)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = fit(resumed_cfg, resume=moved)
    finally:
        logger.removeHandler(lines)
    assert not [w for w in caught if "dirpath has changed" in str(w.message)]
    assert any("taking over the lock" in line for line in lines.lines)
    assert any("max_epochs 2 -> 3: the LR schedule is stretched from epoch 2" in line for line in lines.lines)
    assert not (moved / LOCK_NAME).exists()
    # The best checkpoint (score 2.0) survived the move: no resumed epoch replaced it.
    assert torch.load(moved / "checkpoints" / "best.ckpt", weights_only=True)["epoch"] == best_epoch
    after = torch.load(moved / "checkpoints" / "last.ckpt", weights_only=True)
    assert after["epoch"] == 2
    state = after["callbacks"][_state_key(after, "'monitor': 'val/miou'")]
    assert float(state["best_model_score"]) == 2.0
    assert state["dirpath"] == str(moved.resolve() / "checkpoints")
    # The resumed run records every session's training, the 1000 s before it included.
    assert result.train_seconds >= 1000.0
    assert json.loads((moved / "train.json").read_text())["train_seconds"] >= 1000.0


def test_the_run_lock_is_held_released_and_taken_over(tmp_path: Path) -> None:
    with run_lock(tmp_path) as lock:
        assert lock.read_text().strip() == str(__import__("os").getpid())
    assert not lock.exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(f"{dead.pid}\n")
    with run_lock(tmp_path):
        assert lock.read_text().strip() != str(dead.pid)
    assert not lock.exists()


def test_a_resume_purges_the_lost_steps_from_tensorboard(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from unetkit.training.trainer import build_loggers

    first = build_loggers(tmp_path)[1]
    for step in range(50):  # an interrupted attempt: its checkpoint is at step 44, steps 44-49 were lost
        first.log_metrics({"train/loss_step": 1.0}, step=step)
    first.experiment.flush()
    resumed = build_loggers(tmp_path, resume_from=(1, 44))[1]
    for step in range(44, 60):
        resumed.log_metrics({"train/loss_step": 2.0}, step=step)
    resumed.experiment.flush()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    scalars = events.Scalars("train/loss_step")
    steps = [e.step for e in scalars]
    # Each step once, the lost ones from the resumed attempt.
    assert steps == list(range(60))
    assert {e.value for e in scalars if e.step >= 44} == {2.0}
