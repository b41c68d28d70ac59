"""The Lightning ``Trainer`` of a run: callbacks (checkpoints, LR monitor, EMA, early stop) and loggers."""

from __future__ import annotations

# First: Lightning imported with the caller's process state kept (random streams, loggers, warnings).
from unetkit.training.lightning_import import L

# isort: split

import csv
import io
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.callbacks import ProgressBar as LightningProgressBar
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from unetkit.constants import EXIT_INTERRUPTED, EXIT_TERMINATED, FILE_REFRESH_SECONDS
from unetkit.files import atomic_write_text
from unetkit.training.budget import BudgetTimer, RecordedClock, RecordedStop, budget_progress
from unetkit.training.config import TrainerConfig

log = logging.getLogger(__name__)


def interruption(message: str, trainer: Any) -> KeyboardInterrupt:
    """The KeyboardInterrupt the CLI reports for a stopped ``trainer``: ``exit_code`` 143 when SIGTERM
    stopped it (a scheduler's kill; Lightning stops training on it as on Ctrl-C), else Ctrl-C's 130."""
    exc = KeyboardInterrupt(message)
    sigterm = getattr(trainer, "received_sigterm", False)
    exc.exit_code = EXIT_TERMINATED if sigterm else EXIT_INTERRUPTED  # type: ignore[attr-defined]
    return exc


def resolve_precision(value: str, accelerator: str = "auto") -> str:
    """``trainer.precision``: "auto" is 16-mixed when the run trains on CUDA and 32-true elsewhere; other
    values pass through. The run's device counts, not the host's: a CPU run on a GPU host got 16-mixed,
    which Lightning turns into bf16 on a CPU without a word."""
    if value != "auto":
        return str(value)
    # Mixed precision only where the hardware has fast fp16; bf16 is ~100x slower than fp32 on some CPUs.
    on_cuda = str(accelerator) in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return "16-mixed" if on_cuda else "32-true"


class RunCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint that finds its checkpoints again in a run folder that was moved or copied.

    Lightning restores the best score (and the best/last paths) only when the checkpoint's folder is where it
    was saved; otherwise it warns and starts the best score afresh, so a moved run's resume replaced
    ``best.ckpt`` with a worse epoch. Here the saved paths are mapped onto this run's ``checkpoints/`` folder
    (the file names are the run's own: ``best.ckpt``, ``last.ckpt``). Its state key is ModelCheckpoint's, so
    checkpoints written by either class restore into the other.
    """

    @property
    def state_key(self) -> str:
        return super().state_key.replace(type(self).__qualname__, ModelCheckpoint.__qualname__, 1)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved, now = state_dict.get("dirpath"), str(self.dirpath or "")
        if saved and now and saved != now:
            log.info("the run's checkpoints were saved in %s; reading them from %s", saved, now)
            state_dict = {**state_dict, "dirpath": self.dirpath}
            for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
                state_dict[key] = _moved(state_dict.get(key), saved, now)
            if isinstance(state_dict.get("best_k_models"), dict):
                state_dict["best_k_models"] = {
                    _moved(path, saved, now): score for path, score in state_dict["best_k_models"].items()
                }
        super().load_state_dict(state_dict)


def _moved(path: Any, saved: str, now: str) -> Any:
    """``path`` of a file in folder ``saved``: the same file name in folder ``now`` (others as they are)."""
    if not isinstance(path, str) or not path or os.path.dirname(path) != saved:
        return path
    return os.path.join(now, os.path.basename(path))


class TrainingClock(Callback):
    """The training seconds of every session of a run: kept in each checkpoint, so that a resumed run
    records its whole training time (``train_seconds`` in ``RUN/train.json``), not only its last session's.

    ``interrupted_at``: the seconds when an exception (Ctrl-C, SIGTERM) stopped training, all sessions;
    less the seconds ``last.ckpt`` holds, the time a resume redoes (:mod:`unetkit.training.fit`).
    """

    def __init__(self) -> None:
        self.before = 0.0  # seconds of the sessions before this one (from the resumed checkpoint)
        self._start: float | None = None
        self.interrupted_at: float | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        # At the interrupt, before Lightning's teardown.
        self.interrupted_at = self.seconds()

    def seconds(self) -> float:
        """Training seconds so far, all sessions."""
        return self.before + (time.perf_counter() - self._start if self._start is not None else 0.0)

    def state_dict(self) -> dict[str, Any]:
        return {"train_seconds": self.seconds()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.before = float(state_dict.get("train_seconds", 0.0))


def build_callbacks(
    tr: TrainerConfig,
    run_dir: Path,
    enable_checkpointing: bool = True,
    val_images: int = 0,
    replay: RecordedClock | None = None,
    terminal: bool | None = None,
) -> list[Any]:
    """The time budget, best/last checkpoints, the LR monitor, EMA weight averaging, early stopping and,
    with ``tr.progress_bar``, the progress display.

    ``val_images``: the size of the validation split (the budget's first guess at a validation's time).
    ``replay``: a recorded run's clock (``unetkit fit --replay``): training stops at its recorded step
    instead of by the wall clock.
    ``terminal``: whether the progress goes to a terminal (:class:`ProgressBar`) or to a file or a pipe
    (:class:`EpochLines`); None: whether stdout, where Lightning's bars write, is a terminal.
    """
    from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor

    callbacks: list[Any] = [TrainingClock()]
    if replay is not None:
        callbacks.append(RecordedStop(replay.stop_step))  # where the BudgetTimer was: the same hook order
    elif tr.max_time_minutes:
        # Not Lightning's max_time: that one ends a run one validation pass after the budget (see budget.py).
        callbacks.append(BudgetTimer(tr.max_time_minutes * 60.0, val_images))
    if enable_checkpointing:
        ckpt_dir = run_dir / "checkpoints"
        callbacks.append(
            RunCheckpoint(
                dirpath=ckpt_dir,
                filename="best",
                monitor=tr.monitor,
                mode=tr.monitor_mode,
                save_top_k=1,
                enable_version_counter=False,
            )
        )
        # A separate callback for last.ckpt: Lightning >= 2.6 refreshes save_last only when the monitored
        # checkpoint improved, but resume must lose at most one epoch. Without a monitor it saves every epoch;
        # at the *training* epoch's end, not at validation's: with check_val_every_n_epoch > 1 (the planner
        # validates less often on large validation sets) the epochs after the last validation, or a whole run
        # shorter than one validation interval, would otherwise never reach last.ckpt.
        callbacks.append(
            RunCheckpoint(
                dirpath=ckpt_dir,
                filename="last",
                monitor=None,
                save_top_k=1,
                every_n_epochs=1,
                save_on_train_epoch_end=True,
                enable_version_counter=False,
            )
        )
        # None: log at the scheduler's own interval (every step for schedule.by=time, else every epoch).
        callbacks.append(LearningRateMonitor(logging_interval=None))
    if tr.progress_bar:
        callbacks.append(progress_callback(terminal))
    if tr.ema_decay is not None:
        from lightning.pytorch.callbacks import EMAWeightAveraging

        # Validation, best/last checkpoints and the saved model use the averaged weights; last.ckpt also keeps
        # the raw weights ("current_model_state"), so --resume continues both.
        callbacks.append(EMAWeightAveraging(decay=tr.ema_decay))
    if tr.early_stopping_patience:
        callbacks.append(
            EarlyStopping(monitor=tr.monitor, patience=tr.early_stopping_patience, mode=tr.monitor_mode)
        )
    return callbacks


# A terminal's bar redraws at most about this often. Each redraw reads the loss off the device: on a GPU
# whose steps take a few milliseconds, a redraw at every step would make the host wait for the GPU at every
# step instead of queueing the next one. A CPU's steps are slower than this, so its bar still moves by one.
BAR_REFRESH_SECONDS = 0.25
# Written to a file, each refresh appends a line (FILE_REFRESH_SECONDS apart, unetkit.constants): a bar
# refreshed once per epoch sat for minutes on a step count while steps were slow.
PACE_STEPS = 10  # steps timed before the bar's refresh rate is set


def refresh_every(step_seconds: float, interval: float = BAR_REFRESH_SECONDS) -> int:
    """Steps between two redraws of a bar at ``step_seconds`` a step, about ``interval`` seconds apart."""
    return max(1, round(interval / step_seconds)) if step_seconds > 0 else 1


def step_metrics(trainer: L.Trainer) -> dict[str, Any] | None:
    """The progress values the current epoch's training steps logged (a step loss), from Lightning's results
    of the training loop; None where Lightning does not tell them apart (outside a training step).

    The progress dict Lightning keeps also holds what the previous epoch's end and validation left there
    (``val/miou``, ``train/loss_epoch``): a line within epoch 2 showed epoch 1's values as if they were its
    own (trial 25 S4)."""
    results = getattr(trainer, "_results", None)
    if results is None or not trainer.training:
        return None
    try:
        return dict(results.metrics(True)["pbar"])  # on_step=True: this step's values only
    except Exception:  # another Lightning's internals: the full dict, as Lightning shows it
        return None


class ProgressBar(TQDMProgressBar):
    """Lightning's bar without ``v_num`` (the logger's version, "logs" here, which says nothing). In a
    terminal it redraws at most every ``BAR_REFRESH_SECONDS``; written to a file or a pipe, about every
    ``FILE_REFRESH_SECONDS`` and at least once per epoch (:func:`refresh_every`, from the first
    ``PACE_STEPS`` steps). Steps that slow down later (other work on the machine) still redraw it: a step
    ending an interval after the last redraw redraws."""

    _pace_start: float | None = None
    _paced = False
    _interval = BAR_REFRESH_SECONDS
    _epoch_steps: int | None = None
    _last_draw: float | None = None
    _steps_done: int | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        # A redirected bar cannot redraw its line: every refresh appends one (about 85 KB a minute of a
        # CPU run's log at every step). Lightning's bars write to stdout.
        if not sys.stdout.isatty():
            batches = trainer.num_training_batches
            self._epoch_steps = int(batches) if batches != float("inf") and batches >= 1 else None
            self._refresh_rate = self._epoch_steps or 1  # until paced: once per epoch
            self._interval = FILE_REFRESH_SECONDS

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not self._paced:
            now = time.monotonic()
            if self._pace_start is None:  # the first step's end: its start held the loaders' warm-up
                self._pace_start = now
            elif batch_idx >= PACE_STEPS or batch_idx + 1 >= trainer.num_training_batches:
                rate = refresh_every((now - self._pace_start) / max(1, batch_idx), self._interval)
                self._refresh_rate = min(rate, self._epoch_steps) if self._epoch_steps else rate
                self._paced = True
                self._last_draw = now
        now = time.monotonic()
        rate = self._refresh_rate
        overdue = self._paced and self._last_draw is not None and now - self._last_draw >= self._interval
        if overdue:
            self._refresh_rate = 1  # Lightning redraws when the step count is a multiple of the rate
        self._in_step = True
        try:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        finally:
            self._refresh_rate = rate
            self._in_step = False
        if overdue or (batch_idx + 1) % max(1, rate) == 0:
            self._last_draw = now
        self._steps_done = batch_idx + 1

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # A stop within an epoch (the time budget, max_steps) comes between redraws of a paced bar: show
        # the steps that ran, not the count of the last redraw ("Epoch 5: 0%| 0/40" after 27 steps).
        bar = self._train_progress_bar
        if bar is not None and not bar.disable and self._steps_done is not None and bar.n != self._steps_done:
            bar.n = self._steps_done
            bar.refresh()
        self._note_epoch_values(trainer, pl_module)
        super().on_train_epoch_end(trainer, pl_module)

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = self._values(trainer, pl_module)
        budget = budget_progress(trainer)  # how much of the budget is left, beside the epoch's own bar
        return (
            {**metrics, "budget": budget.replace(" of the ", "/").removesuffix(" budget")}
            if budget
            else metrics
        )

    def _values(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        if not self._in_step:
            return metrics  # an epoch's end or a validation's: the epoch's values
        step = step_metrics(trainer)
        if step is None:
            return metrics
        # Within an epoch: this epoch's step values, then the values earlier epochs left, named with their
        # epoch (``val/miou (epoch 1)``): the bar showed epoch 1's val/miou beside epoch 2's step count.
        shown = {k: v for k, v in metrics.items() if k in step}
        for key, value in metrics.items():
            if key not in step and key in self._ended:
                shown[f"{key} (epoch {self._ended[key][1]})"] = value
        return shown

    _in_step = False
    _ended: dict[str, tuple[Any, int]] = {}  # noqa: RUF012 (replaced, never changed in place)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._note_epoch_values(trainer, pl_module)
        super().on_validation_end(trainer, pl_module)

    def _note_epoch_values(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """The values an epoch's end or validation left, each with the epoch that logged it (a value that
        did not change keeps its epoch: a validation every 3 epochs)."""
        if trainer.sanity_checking:
            return
        ended = dict(self._ended)
        for key, value in self._values(trainer, pl_module).items():
            if ended.get(key, (None,))[0] != value:
                ended[key] = (value, int(trainer.current_epoch))
        self._ended = ended


class EpochLines(LightningProgressBar):
    """The progress of a run whose output goes to a file or a pipe: one plain line per training epoch
    (``Epoch 3: 40/40 steps in 2.1 s, train/loss_step=1.21, val/miou=0.369``), and within an epoch a line
    every ``FILE_REFRESH_SECONDS`` (a slow epoch still shows it moves). No sanity-check or validation bars:
    a redirected bar appends a line at every redraw, with cursor codes a log file shows as ``[A``.
    Written to stdout, as Lightning's bars are."""

    def __init__(self) -> None:
        super().__init__()
        self._enabled = True
        self._epoch_start = 0.0
        self._last_line = 0.0
        self._steps_done = 0

    def disable(self) -> None:  # Lightning disables the progress of every rank but the first
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = self._last_line = time.monotonic()
        self._steps_done = 0

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._steps_done = batch_idx + 1
        now = time.monotonic()
        if now - self._last_line >= FILE_REFRESH_SECONDS and self._steps_done < self.total_train_batches:
            self._last_line = now
            # This epoch's step values only: what the last epoch's end and validation left (val/miou,
            # train/loss_epoch) are that epoch's, and its line showed them (trial 25 S4).
            self._write(trainer, pl_module, f"{self._steps}, {now - self._epoch_start:.0f} s", step_only=True)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # After the epoch's validation (Lightning validates before this hook): its metrics are in the line.
        # A stop within an epoch (the time budget, max_steps) says the steps that ran.
        self._write(trainer, pl_module, f"{self._steps} in {time.monotonic() - self._epoch_start:.1f} s")

    @property
    def _steps(self) -> str:
        total = self.total_train_batches
        return (
            f"{self._steps_done}/{int(total)} steps" if total != float("inf") else f"{self._steps_done} steps"
        )

    def _write(
        self, trainer: L.Trainer, pl_module: L.LightningModule, progress: str, step_only: bool = False
    ) -> None:
        if not self._enabled:
            return
        metrics = self.get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        step = step_metrics(trainer) if step_only else None
        if step is not None:
            metrics = {k: v for k, v in metrics.items() if k in step}
        shown = "".join(
            f", {k}={v:.4g}" if isinstance(v, float) else f", {k}={v}" for k, v in metrics.items()
        )
        budget = budget_progress(trainer)
        budget = f", {budget}" if budget else ""
        print(f"Epoch {trainer.current_epoch}: {progress}{budget}{shown}", file=sys.stdout, flush=True)


def progress_callback(terminal: bool | None = None) -> ProgressBar | EpochLines:
    """The progress display of a training run (``unetkit fit``'s and ``unetkit fit-maskrcnn``'s): a
    :class:`ProgressBar` in a terminal, :class:`EpochLines` in a file or a pipe. ``terminal``: None:
    whether stdout, where Lightning's bars write, is a terminal."""
    # Redirected to a file or a pipe, a bar cannot redraw its line: every redraw, the sanity check's and
    # each validation's bars append lines (and cursor codes).
    terminal = sys.stdout.isatty() if terminal is None else terminal
    return ProgressBar() if terminal else EpochLines()


def _keep_row(row: dict[str, str], epoch: int, step: int) -> bool:
    """Rows logged up to the end of ``epoch`` (the resumed checkpoint's); later ones are logged again."""
    if row.get("epoch"):
        return int(float(row["epoch"])) <= epoch
    # Rows without an epoch (the LR monitor's, logged at epoch start) carry the step count at that point.
    return bool(row.get("step")) and int(float(row["step"])) < step


class _HistoryWriter(ExperimentWriter):
    """Lightning's CSV writer, but an existing ``metrics.csv`` keeps its rows up to ``resume_from``."""

    def __init__(self, log_dir: str, resume_from: tuple[int, int] | None) -> None:
        self.resume_from = resume_from
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:  # Lightning's deletes the file
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        with path.open(newline="") as file:
            reader = csv.DictReader(file)
            keys, rows = list(reader.fieldnames or []), list(reader)
        rows = [r for r in rows if _keep_row(r, *self.resume_from)] if self.resume_from else []
        if not rows:
            path.unlink()
            return
        self.metrics_keys = keys  # save() appends below these rows (and rewrites them if keys are added)
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(path, text.getvalue())


class HistoryCSVLogger(CSVLogger):
    """``RUN/logs/metrics.csv`` that keeps the whole history across ``--resume``.

    Lightning's CSVLogger deletes the file when it starts in a folder that has one. Here, on resume, the rows
    up to the resumed checkpoint are kept (later rows, from the part of an epoch that was lost, are logged
    again by the resumed run, so nothing is counted twice), and rows are flushed at every log call so that a
    killed run leaves its history on disk.

    Args:
        resume_from: (epoch, global_step) of the checkpoint being resumed; None for a new run.
    """

    def __init__(self, run_dir: Path, resume_from: tuple[int, int] | None = None) -> None:
        super().__init__(run_dir, name="", version="logs", flush_logs_every_n_steps=1)
        self.resume_from = resume_from

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if not isinstance(self._experiment, _HistoryWriter):
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _HistoryWriter(self.log_dir, self.resume_from)
        return self._experiment


def build_loggers(run_dir: Path, resume_from: tuple[int, int] | None = None) -> list[Any]:
    """``RUN/logs/metrics.csv`` (CSV, whole history kept on resume) and ``RUN/tb/`` (TensorBoard).

    On resume TensorBoard's writer purges the steps from the checkpoint's global step on: the part of an
    epoch that was lost is logged again by the resumed run, and TensorBoard then shows each step once (the
    last validation before the checkpoint is logged at the step before it, so it stays).
    """
    from lightning.pytorch.loggers import TensorBoardLogger

    # Passed on to torch's SummaryWriter.
    purge: dict[str, Any] = {"purge_step": int(resume_from[1])} if resume_from else {}
    return [
        HistoryCSVLogger(run_dir, resume_from),
        TensorBoardLogger(run_dir, name="tb", version="", **purge),
    ]


def build_trainer(
    tr: TrainerConfig,
    run_dir: Path,
    enable_checkpointing: bool = True,
    resume_from: tuple[int, int] | None = None,
    val_images: int = 0,
    replay: RecordedClock | None = None,
) -> L.Trainer:
    """The Trainer of a run writing into ``run_dir``, from the ``trainer`` config section.

    ``resume_from``: (epoch, global_step) of the checkpoint a resumed run starts from (keeps the CSV history).
    ``val_images``: the size of the validation split (for the time budget's first estimate).
    ``replay``: the recorded clock of the run being replayed (see :func:`build_callbacks`).
    """
    kwargs: dict[str, Any] = {}
    if tr.limit_train_batches is not None:
        kwargs["limit_train_batches"] = tr.limit_train_batches
    return L.Trainer(
        default_root_dir=run_dir,
        max_epochs=tr.max_epochs,
        accelerator=tr.accelerator,
        devices=tr.devices,
        num_nodes=tr.num_nodes,
        strategy=tr.strategy,
        precision=resolve_precision(tr.precision, tr.accelerator),  # type: ignore[arg-type]
        gradient_clip_val=tr.gradient_clip_val,
        callbacks=build_callbacks(tr, run_dir, enable_checkpointing, val_images, replay),
        logger=build_loggers(run_dir, resume_from),
        log_every_n_steps=tr.log_every_n_steps,
        check_val_every_n_epoch=tr.check_val_every_n_epoch,
        enable_progress_bar=tr.progress_bar,
        enable_checkpointing=enable_checkpointing,
        enable_model_summary=False,
        deterministic=False,
        use_distributed_sampler=False,  # the datamodule builds its own (see SegmentationDataModule._loader)
        **kwargs,
    )
