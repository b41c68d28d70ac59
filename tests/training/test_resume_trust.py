"""What a new user's trial of interrupted, moved and resumed runs found: a moved run keeps its best
checkpoint, a run folder is trained by one process at a time, TensorBoard purges the lost steps, a resumed
run records its whole training time, and a changed max_epochs is said."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import training_helpers

from unetkit.training import run_folder
from unetkit.training.config import load_config
from unetkit.training.fit import fit
from unetkit.training.run_folder import LOCK_NAME, run_lock

TINY = [
    *training_helpers.TINY,
    "evaluate.num_figure_samples=1",
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
        assert lock.read_text().startswith(f"pid={os.getpid()} ")
    assert not lock.exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(f"{dead.pid}\n")
    with run_lock(tmp_path):
        assert not lock.read_text().startswith(f"pid={dead.pid} ")
    assert not lock.exists()


def _proc_start(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rfind(")") + 2 :].split()[19]  # field 22: start time in clock ticks since boot


_HOLD = (
    "import sys, time\n"
    "from unetkit.training.run_folder import run_lock\n"
    "with run_lock(sys.argv[1]):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(60)\n"
)


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="start times come from /proc")
@pytest.mark.slow  # 6 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_the_run_lock_names_its_holder_by_host_and_start_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """N1: a lock held a pid alone, so after a reboot, on another node or with a reused pid any live process
    with that pid was taken for the holder, and the message advised killing it."""
    lock = tmp_path / LOCK_NAME
    with run_lock(tmp_path):
        fields = dict(item.split("=", 1) for item in lock.read_text().split())
    assert fields == {
        "pid": str(os.getpid()),
        "host": socket.gethostname(),
        "start": _proc_start(os.getpid()),
    }

    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        held = lock.read_text()
        assert held == f"pid={holder.pid} host={socket.gethostname()} start={_proc_start(holder.pid)}\n"
        # The holder itself: refused, and the message says deleting the lock is the fix for another process.
        with pytest.raises(ValueError, match=rf"in use by process {holder.pid} ") as refused:
            with run_lock(tmp_path):
                pass
        assert f"if process {holder.pid} is not a unetkit run of this folder, delete the lock instead" in str(
            refused.value
        )
        assert str(lock) in str(refused.value)
        # Where /proc cannot tell its start time, the live pid alone holds the lock (as before).
        with monkeypatch.context() as m:
            m.setattr(run_folder, "_start_time", lambda pid: None)
            with pytest.raises(ValueError, match="in use by process"):
                run_folder._refuse_a_held_run(tmp_path)
        # An old lock holds the pid alone: still read, a live pid holds it.
        lock.write_text(f"{holder.pid}\n")
        with pytest.raises(ValueError, match=rf"in use by process {holder.pid} "):
            run_folder._refuse_a_held_run(tmp_path)
        # The same pid with another start time is another process (a reboot, a reused pid): taken over.
        lock.write_text(held.replace(f"start={_proc_start(holder.pid)}", "start=1"))
        lines = _Lines()
        logger = logging.getLogger("unetkit")
        logger.addHandler(lines)
        try:
            with run_lock(tmp_path):
                assert lock.read_text().startswith(f"pid={os.getpid()} ")
        finally:
            logger.removeHandler(lines)
        assert any(
            f"taking over the lock of {tmp_path}: process {holder.pid}" in line for line in lines.lines
        )
    finally:
        holder.kill()
        holder.wait()

    # Another host's lock cannot be checked from here (its pid means nothing here, dead or alive): refused,
    # naming the host, with the fix.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(f"pid={dead.pid} host=elsewhere-node start=12345\n")
    with pytest.raises(ValueError, match=rf"locked by process {dead.pid} on host elsewhere-node") as refused:
        with run_lock(tmp_path):
            pass
    assert f"if no process on elsewhere-node runs this job, delete the lock (rm {lock})" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert lock.read_text() == f"pid={dead.pid} host=elsewhere-node start=12345\n"


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
