"""The run folder: its name, its creation (checked before anything is written) and its cleanup.

Layout::

    RUN/config.yaml             resolved config
    RUN/checkpoints/{best,last}.ckpt
    RUN/logs/metrics.csv        per-step/epoch metrics (Lightning CSVLogger); RUN/tb/ TensorBoard
    RUN/model/{model.safetensors,config.json}   for `unetkit predict` / export (no pickle)
    RUN/metrics_<split>.json, RUN/metrics_<split>.md
    RUN/figures/{curves.png,predictions_<split>.png}
    RUN/interrupts.json         each Ctrl-C/SIGTERM of training: the steps and seconds a resume redoes
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from unetkit.training.budget import REPLAY_SOURCE_FILE
from unetkit.training.config import Config
from unetkit.training.data_record import RECORD_NAME

log = logging.getLogger(__name__)


def output_overrides(out: str | Path | None, option: str = "out=") -> list[str]:
    """A run folder path (``--out RUN_DIR``, ``fit_folder(out=...)``) as the config keys it stands for:
    ``output.root`` and ``output.name`` (none without one). ``option``: how the caller gave it, a flag
    (``--out``) or a keyword ending with ``=`` (``out=``), as the refusal writes it."""
    if out is None:
        return []
    out = Path(out)
    if not out.name:
        # A keyword's value is quoted (out='/'): "out / names no folder" read as a sentence about "out".
        said, example = (
            (f"{option}{os.fspath(out)!r}", f"{option}'runs/mine'")
            if option.endswith("=")
            else (f"{option} {out}", f"{option} runs/mine")
        )
        raise ValueError(f"{said} names no folder; give the new run folder, e.g. {example}")
    return [f"output.root={out.parent}", f"output.name={out.name}"]


def is_secondary_rank() -> bool:
    """True in a DDP child process (Lightning's launcher, torchrun, SLURM): a non-zero rank variable."""
    return any(
        int(os.environ.get(var, "0") or 0) > 0 for var in ("LOCAL_RANK", "RANK", "NODE_RANK", "SLURM_PROCID")
    )


def run_dir_name(config: Config) -> str:
    """``output.name``, or ``<dataset>-<model>-<YYYYmmdd-HHMMSS>`` (a folder dataset: the folder's name)."""
    if config.output.name:
        return config.output.name
    dataset = config.data.dataset
    if dataset == "folder" and config.data.root is not None and Path(config.data.root).name:
        dataset = Path(config.data.root).name
    return f"{dataset}-{config.model.name}-{time.strftime('%Y%m%d-%H%M%S')}"


# What a run killed before its first checkpoint leaves behind, nothing worth keeping (a replay has named its
# source by then, and every new run its files).
# What a run writes before its first checkpoint: config, start and data records, the plan's files.
# The lock a process holds while it trains or scores a run (its pid, host, start time): :func:`run_lock`.
LOCK_NAME = "unetkit.lock"
_STALE_ENTRIES = {
    "config.yaml", "logs", "tb", "checkpoints", RECORD_NAME, REPLAY_SOURCE_FILE, "started.json", "plan.yaml",
    "dataset.json", "plan.png", LOCK_NAME,
}  # fmt: skip


def is_stale_run(run_dir: Path) -> bool:
    """True for a run folder that holds no checkpoint, no model and no metrics (a run stopped before its
    first checkpoint): ``unetkit fit`` with the same name replaces it."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        return False  # not a run folder (or not ours): never replaced
    if lock_holder(run_dir) is not None:
        return False  # a run before its first checkpoint, still training
    names = {p.name for p in run_dir.iterdir()}
    return names <= _STALE_ENTRIES and not any((run_dir / "checkpoints").glob("*.ckpt"))


def new_run_dir(config: Config, option: str = "--out") -> Path:
    """The path of a new run folder under ``output.root``; refuses a folder that already holds a run.

    A folder without checkpoints, model or metrics (:func:`is_stale_run`) is replaced when the run starts.
    DDP child processes get the path without the check (rank 0 created the folder). Their name must match
    rank 0's: the CLI passes rank 0's path down (``unetkit fit``); library callers set ``output.name``.
    ``option``: what names the run folder in a refusal (:func:`refuse_existing_run`).
    """
    return refuse_existing_run(Path(config.output.root) / run_dir_name(config), option)


def refuse_existing_run(run_dir: Path, option: str = "--out") -> Path:
    """``run_dir`` as a new run's folder: a ValueError naming the fix when it holds a run (finished, or to
    resume), another process's run, other files, or is a file; a stale folder (:func:`is_stale_run`) passes.
    DDP child processes skip the check (rank 0 made the folder). ``option``: how the caller names the run
    folder, ``--out`` on the command line or a keyword such as ``out=`` (ends with ``=``) in a Python call,
    whose messages then name that keyword and the full ``unetkit fit --resume`` command."""
    keyword = option.endswith("=")
    other = f"({option}...)" if keyword else f"({option}, or output.name=...)"
    resume = "unetkit fit --resume" if keyword else "--resume"
    if not is_secondary_rank() and run_dir.exists():
        _refuse_a_held_run(run_dir)
        if not run_dir.is_dir():
            raise ValueError(f"{run_dir} exists and is not a folder; choose a new run folder {other}")
        if any(run_dir.iterdir()) and not is_stale_run(run_dir):
            # Not a run (no config, model or checkpoints): nothing to resume, and never written into.
            if not any((run_dir / name).exists() for name in ("config.yaml", "model", "checkpoints")):
                raise ValueError(
                    f"{run_dir} exists and is not a run folder (it holds other files); choose a new folder "
                    f"{other}"
                )
            if (run_dir / "model" / "config.json").is_file() and any(run_dir.glob("metrics_*.json")):
                raise ValueError(
                    f"Run folder {run_dir} holds a finished run; choose another {other}, "
                    f"or score it again with {score_again_command(run_dir)}."
                )
            raise ValueError(
                f"Run folder {run_dir} already exists; choose another {other}, "
                f"or continue it with {resume} {shlex.quote(str(run_dir))}."
            )
    return run_dir


def score_again_command(run_dir: Path, split: str | None = None) -> str:
    """The command that scores the finished run ``run_dir`` again on the split it scored (``split``; None:
    its config.yaml's ``evaluate.split``): ``unetkit test RUN`` or ``unetkit validate RUN``, not both
    ("validate RUN (or test)" left the choice to the reader, and a val run's to the test split)."""
    if split is None:
        split = _scored_split(run_dir)
    command = "test" if split == "test" else "validate"
    return f"unetkit {command} {shlex.quote(str(run_dir))}"


def _scored_split(run_dir: Path) -> str:
    """The split a finished run scored: its config's ``evaluate.split``; where that cannot be read, test
    when metrics_test.json is there (its scores), else val."""
    from unetkit.training.config import load_config

    try:
        return load_config(run_dir / "config.yaml").evaluate.split
    except (OSError, ValueError):  # unreadable or not a config: the scores files say it
        return "test" if (run_dir / "metrics_test.json").is_file() else "val"


@contextlib.contextmanager
def run_folder(run_dir: Path) -> Iterator[Path]:
    """Create ``run_dir``; if the block fails before any checkpoint exists, remove a folder it created.

    A failed start (bad option found by Lightning, Ctrl-C in the first epoch) leaves no half-written run. A
    stale folder of the same name (:func:`is_stale_run`) is replaced.
    """
    if not is_secondary_rank() and run_dir.is_dir() and any(run_dir.iterdir()) and is_stale_run(run_dir):
        log.info("replacing %s: it holds no checkpoint (a run stopped before its first epoch ended)", run_dir)
        shutil.rmtree(run_dir)
    created = not run_dir.exists() and not is_secondary_rank()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        yield run_dir
    except BaseException:
        if created and not any((run_dir / "checkpoints").glob("*.ckpt")):
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (Linux: field 22 of ``/proc/PID/stat``); None
    where ``/proc`` is absent or hides the process. With the pid and the host it names one process: a pid
    reused after a reboot or by another program has another start time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) ": field 3 on (comm may hold spaces)
    return fields[19] if len(fields) > 19 and fields[19].isdigit() else None


@dataclass(frozen=True)
class LockHolder:
    """The process named in ``RUN/unetkit.lock``: its pid, host and start time (:func:`_start_time`; None in
    a lock written without ``/proc`` or by an older unetkit, which wrote the pid alone)."""

    pid: int
    host: str | None = None
    start: str | None = None

    def text(self) -> str:
        """The lock file's content: ``pid=... host=... start=...`` (``start=`` left out when unknown)."""
        start = f" start={self.start}" if self.start is not None else ""
        return f"pid={self.pid} host={self.host}{start}\n"

    @classmethod
    def parse(cls, text: str) -> LockHolder | None:
        """A lock's holder; None for text that names no pid (taken over). An old lock holds the pid alone."""
        text = text.strip()
        if text.isdigit():
            return cls(int(text))
        fields = dict(item.partition("=")[::2] for item in text.split())
        if not fields.get("pid", "").isdigit():
            return None
        return cls(int(fields["pid"]), fields.get("host") or None, fields.get("start") or None)


def _this_process() -> LockHolder:
    return LockHolder(os.getpid(), socket.gethostname(), _start_time(os.getpid()))


def lock_holder(run_dir: Path) -> LockHolder | None:
    """Another process holding ``RUN/unetkit.lock`` (:func:`run_lock`), else None.

    A lock of this host is held while its pid is alive with the start time it recorded (a pid alone, in an
    old lock or where ``/proc`` is absent: while the pid is alive). A lock of another host is taken as held:
    its process cannot be checked from here.
    """
    try:
        holder = LockHolder.parse((Path(run_dir) / LOCK_NAME).read_text())
    except (FileNotFoundError, NotADirectoryError):
        return None
    if holder is None:
        return None
    if holder.host is not None and holder.host != socket.gethostname():
        return holder
    if holder.pid == os.getpid() or not _alive(holder.pid):
        return None
    if holder.start is not None:
        start = _start_time(holder.pid)
        if start is not None and start != holder.start:
            return None  # the pid now names another process (a reboot, a reused pid)
    return holder


def _refuse_a_held_run(run_dir: Path) -> None:
    holder = lock_holder(run_dir)
    if holder is None:
        return
    lock = Path(run_dir) / LOCK_NAME
    if holder.host is not None and holder.host != socket.gethostname():
        raise ValueError(
            f"{run_dir} is locked by process {holder.pid} on host {holder.host} (it wrote {lock}), which "
            f"cannot be checked from here; if no process on {holder.host} runs this job, delete the lock "
            f"(rm {shlex.quote(str(lock))}) and run this again"
        )
    raise ValueError(
        f"{run_dir} is in use by process {holder.pid} (it holds {lock}); wait for it to end or stop it "
        f"(kill {holder.pid}), then run this again; if process {holder.pid} is not a unetkit run of this "
        f"folder, delete the lock instead (rm {shlex.quote(str(lock))})"
    )


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[Path]:
    """Hold ``RUN/unetkit.lock`` (this process's pid, host and start time inside) while the block trains or
    scores the run.

    A second ``unetkit fit`` (a resume, or a new run with the same ``--out``) of a folder whose lock a live
    process holds is refused with a one-line ValueError naming the folder and the pid: two processes would
    log every step twice and overwrite each other's checkpoints. A lock left by a process that no longer
    exists (a SIGKILL, a crashed node, a reboot that gave its pid to another process) is taken over, with a
    logged note. The lock is removed on exit. DDP child processes take no lock (rank 0 holds it). A lock of
    another host (a shared file system, a folder moved between machines) cannot be checked: it is refused,
    naming the host, until the user deletes it.
    """
    lock = Path(run_dir) / LOCK_NAME
    if is_secondary_rank():
        yield lock
        return
    mine = _this_process().text()
    while True:
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            _refuse_a_held_run(run_dir)
            try:
                stale = LockHolder.parse(lock.read_text())
            except FileNotFoundError:
                continue  # released between the two calls: try again
            log.warning(
                "taking over the lock of %s: process %s that held it no longer runs",
                run_dir,
                stale.pid if stale is not None else "?",
            )
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as file:
            file.write(mine)
        break
    try:
        yield lock
    finally:
        try:
            if lock.read_text() == mine:
                lock.unlink()
        except FileNotFoundError:
            pass


def last_checkpoint(run_dir: Path) -> tuple[Path, tuple[int, int]]:
    """``RUN/checkpoints/last.ckpt`` of a run to resume, checked (it loads with ``weights_only=True``), and
    its (epoch, global_step).

    Raises a one-line ValueError/FileNotFoundError naming the file and the fix: a missing checkpoint (a run
    stopped before its first epoch ended), a truncated one (``best.ckpt`` is named when it exists), one that
    holds code (the blocked global is named).
    """
    from unetkit.model_files.model_io import read_checkpoint

    run_dir = Path(run_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    if not last.is_file():
        if (run_dir / "config.yaml").is_file() and is_stale_run(run_dir):
            raise FileNotFoundError(
                f"Cannot resume: {last} not found, the run stopped before its first checkpoint; start it "
                f"again with the same command (unetkit fit replaces {run_dir}) or delete {run_dir}."
            )
        raise FileNotFoundError(f"Cannot resume: {last} not found; pass a run folder written by unetkit fit.")
    try:
        ckpt = read_checkpoint(last)
    except ValueError as exc:
        best = last.with_name("best.ckpt")
        if "not a readable" in str(exc) and best.is_file():
            raise ValueError(
                f"{exc} {best} exists: to resume from it, copy it over last.ckpt "
                f"(cp {shlex.quote(str(best))} {shlex.quote(str(last))}) and run --resume "
                f"{shlex.quote(str(run_dir))} again, or predict/export with {best}."
            ) from exc
        raise
    return last, (int(ckpt.get("epoch", 0)), int(ckpt.get("global_step", 0)))


def export_checkpoint(run_dir: Path, which: str = "best") -> Path:
    """The checkpoint that becomes ``RUN/model``: ``best.ckpt`` or ``last.ckpt`` (``last`` when no best)."""
    ckpts = Path(run_dir) / "checkpoints"
    if which == "best" and (ckpts / "best.ckpt").is_file():
        return ckpts / "best.ckpt"
    return ckpts / "last.ckpt"
