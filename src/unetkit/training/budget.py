"""The time budget of a run: training, validation and checkpoints all end within ``budget_s``.

Lightning's ``max_time`` checks the clock after each training step only, and a stop requested there is
followed by one more validation (and the epoch's checkpoint): a budgeted run ended one validation pass late,
and with ``check_val_every_n_epoch > 1`` the weights after the last scheduled validation (the end of the LR
decay) were never validated, so ``evaluate.checkpoint=best`` could not pick them. :class:`BudgetTimer` keeps
time for that last validation and makes it happen; :func:`budget_fraction` is the clock the time-paced LR
schedules read. Used by the semantic fit (:mod:`unetkit.training.trainer`) and the Mask R-CNN fit
(:mod:`unetkit.training.detection`).

A budgeted run's step count and LR depend on the wall clock. Both fits record what the clock said (the
budget fraction the LR schedule read at each global step, :func:`read_step_clock`, ``RUN/logs/clock.npy``,
and the step at which the budget stopped training, ``budget_stop_step`` in ``RUN/train.json``);
``unetkit fit --replay RUN`` and ``unetkit fit-maskrcnn --replay RUN`` train again with that record instead
of the clock (:func:`read_recorded_clock` / :func:`recorded_clock`, :class:`RecordedStop`).
"""

from __future__ import annotations

# First: Lightning imported with the caller's process state kept (random streams, loggers, warnings).
from unetkit.training.lightning_import import L

# isort: split

import json
import math
import shlex
import statistics
import time
from collections.abc import MutableSequence, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from lightning.pytorch.callbacks import Callback, Timer

# Recent epoch ends kept: with validation every k <= RECENT epochs, one of them includes a validation.
RECENT = 8
# Recent steps the stop is timed on (and a checkpoint keeps).
RECENT_STEPS = 20
# Steps whose median tells the machine's speed now, against the median of the recent steps: three, so that
# one slow step (a garbage collection) does not read as load, and a few do.
NOW_STEPS = 3

# A budgeted run's recorded clock: float64, one value per global step (NaN where the schedule did not read
# the clock, e.g. during warmup).
CLOCK_FILE = "logs/clock.npy"
# A replay's folder names its source run from the start, so that ``--resume`` of a replay interrupted before
# its end goes on replaying (train.json, which records ``replay_of`` too, is written only at the end).
REPLAY_SOURCE_FILE = "replay_of.txt"


def stop_training(trainer: L.Trainer) -> None:
    """End training after the current step and validate the weights it ends with.

    Lightning validates after a requested stop only in an epoch that validates anyway; the final weights
    (the end of the LR decay) must be a candidate of ``evaluate.checkpoint=best``. The run ends after this
    epoch, so the validation interval matters no more. The one stop of a budget (:class:`BudgetTimer`) and
    of its replay (:class:`RecordedStop`).
    """
    every = trainer.check_val_every_n_epoch
    if isinstance(every, int) and every > 1:
        trainer.check_val_every_n_epoch = 1
    trainer.should_stop = True


@dataclass(frozen=True)
class StopPoint:
    """Where a budget (or its replay) stopped training: after global step ``step``, ``steps`` steps into
    epoch ``epoch`` of ``of`` steps (0: not known)."""

    step: int
    epoch: int
    steps: int
    of: int

    @property
    def within_epoch(self) -> bool:
        """Whether training stopped before the epoch's last step (its train loss is of part of an epoch)."""
        return 0 < self.of and self.steps < self.of

    def where(self) -> str:
        """``step 356 (epoch 9, 14 of 38 steps)``, or ``step 380, the end of epoch 9``."""
        if self.within_epoch:
            return f"step {self.step} (epoch {self.epoch}, {self.steps} of {self.of} steps)"
        return f"step {self.step}, the end of epoch {self.epoch}"

    def record(self) -> dict[str, int]:
        """As ``RUN/train.json`` keeps it (``budget_stop_epoch``)."""
        return {"epoch": self.epoch, "steps": self.steps, "of": self.of}


def _position(trainer: L.Trainer, batch_idx: int) -> tuple[int, int, int]:
    """(epoch, its steps done, steps per epoch: 0 where unknown) after step ``batch_idx``."""
    total = trainer.num_training_batches
    of = int(total) if total != float("inf") else 0
    return int(trainer.current_epoch), batch_idx + 1, of


class BudgetTimer(Timer):
    """Lightning's Timer, but training stops early enough for what follows the stop: the last validation
    and the last epoch's checkpoint.

    An epoch end (from an epoch's last step to the next epoch's first: validation, checkpoint, loader reset)
    is measured; the reserve is 1.2 x the longest of the recent ones, times the slowdown of the last steps
    (:meth:`slowdown`: a machine that got loaded validates slower too), plus two of the slowest recent step
    (the step run before the next check may be as slow as that one: a loaded 2-core run whose steps went
    from 0.3 to 3 s ended 1.8 s late when the reserve held two mean steps). After a step, training
    stops when the time left cannot hold the reserve; after an epoch's last step, when it cannot hold that
    plus the epoch end about to run (going on would mean that epoch end, one more step, and the final
    validation). The sanity check before training counts too. Until an epoch end with a validation has
    been measured, an epoch end is taken as at least ``val_images`` x the time of one validation image,
    the fastest of the sanity check's (its first carries the warm-up), else x the mean step time (a
    training step on a batch of crops costs several images' predictions: under load that estimate stopped
    a 2-minute DSB run after 33 of about 650 steps). At the stop, validation is
    forced for the current epoch even when ``check_val_every_n_epoch`` would skip it. The measurements
    travel with the checkpoint (``--resume``).
    """

    def __init__(self, duration_s: float, val_images: int) -> None:
        super().__init__(duration=timedelta(seconds=duration_s), interval="step", verbose=True)
        self.val_images = val_images
        self.step_times: list[float] = []
        self.epoch_ends: list[tuple[float, bool]] = []  # (seconds, whether a validation ran in it)
        self._step_start: float | None = None
        self._session_steps = 0  # steps timed since this process started training (a resume restarts it)
        self._last_end: tuple[int, float] | None = None  # (epoch, time) of the last step's end
        self._epoch_ends_now = False
        self._validated = False  # a validation ran since the last step
        self._sanity_start = 0.0
        self._sanity_s = 0.0
        self._val_batch_start: float | None = None
        self.val_image_s: float | None = None  # the fastest sanity-check validation batch (one image)
        self.stopped = False  # this timer ended the run (not max_epochs or early stopping)
        self._position: tuple[int, int, int] = (0, 0, 0)  # (epoch, its steps done, steps per epoch)
        self.stop_position: tuple[int, int, int] | None = None  # self._position when it stopped training

    @property
    def duration_s(self) -> float:
        """The budget in seconds (Lightning's Timer keeps it)."""
        assert self._duration is not None  # set in __init__
        return float(self._duration)

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        now = time.monotonic()
        if self._last_end is not None and self._last_end[0] != trainer.current_epoch:
            self.epoch_ends = [*self.epoch_ends, (now - self._last_end[1], self._validated)][-RECENT:]
        self._step_start = now

    def on_sanity_check_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._sanity_start = time.monotonic()

    def on_sanity_check_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning's clock starts after the sanity check (two validation batches before training): count it,
        # the run's wall clock includes it.
        self._sanity_s = time.monotonic() - self._sanity_start

    def on_validation_batch_start(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        self._val_batch_start = time.monotonic() if trainer.sanity_checking else None

    def on_validation_batch_end(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        if trainer.sanity_checking and self._val_batch_start is not None:
            seconds = time.monotonic() - self._val_batch_start
            self.val_image_s = seconds if self.val_image_s is None else min(self.val_image_s, seconds)

    def time_elapsed(self, stage: str = "train") -> float:
        # Resumed time (restored into the offset by load_state_dict) already holds its run's sanity check.
        return super().time_elapsed(stage) + (self._sanity_s if stage == "train" else 0.0)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not trainer.sanity_checking:
            self._validated = True

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        now = time.monotonic()
        if self._step_start is not None:
            self.step_times.append(now - self._step_start)
            self._session_steps += 1
        self._last_end = (trainer.current_epoch, now)
        self._validated = False
        self._epoch_ends_now = batch_idx + 1 >= trainer.num_training_batches
        self._position = _position(trainer, batch_idx)
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def _step_s(self) -> float:
        return statistics.fmean(self.step_times[-RECENT_STEPS:]) if self.step_times else 0.0

    def _recent_steps(self) -> list[float]:
        """The recent step times, less this session's first step when others follow it: it carries the
        warm-up (allocator, cuDNN autotuning), not the machine's load."""
        recent = self.step_times[-RECENT_STEPS:]
        first = len(self.step_times) - self._session_steps  # index of this session's first step
        start = len(self.step_times) - len(recent)
        if self._session_steps > 1 and first >= start:
            del recent[first - start]
        return recent

    def slowest_step_s(self) -> float:
        """The slowest recent step (0 before any)."""
        return max(self._recent_steps(), default=0.0)

    def slowdown(self) -> float:
        """How much slower the machine runs now than over the recent steps (>= 1): the median of the last
        :data:`NOW_STEPS` steps over the median of the recent ones. An epoch end measured before the machine
        got loaded takes that much longer now."""
        recent = self._recent_steps()
        if len(recent) < NOW_STEPS:
            return 1.0
        usual = statistics.median(recent)
        return max(1.0, statistics.median(recent[-NOW_STEPS:]) / usual) if usual > 0 else 1.0

    def epoch_end_s(self) -> float:
        """The longest recent epoch end; until one with a validation is seen, at least ``val_images`` x a
        sanity-check image (else x a step)."""
        measured = max((s for s, _ in self.epoch_ends), default=0.0)
        if any(validated for _, validated in self.epoch_ends):
            return measured
        per_image = self.val_image_s if self.val_image_s is not None else self._step_s()
        return max(measured, self.val_images * per_image)

    def reserve_s(self) -> float:
        """Seconds kept for the final validation and checkpoint: 1.2 x an epoch end x the slowdown, plus two
        of the slowest recent step."""
        return 1.2 * self.epoch_end_s() * self.slowdown() + 2 * self.slowest_step_s()

    def _check_time_remaining(self, trainer: L.Trainer) -> None:
        epoch_end = 1.2 * self.epoch_end_s() * self.slowdown() if self._epoch_ends_now else 0.0
        reserve = self.reserve_s() + epoch_end
        stop = bool(trainer.strategy.broadcast(self.time_elapsed() + reserve >= self.duration_s))
        if stop and not trainer.should_stop:
            self.stopped = True
            self.stop_position = self._position
            stop_training(trainer)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["epoch_ends"] = [[s, v] for s, v in self.epoch_ends]
        state["step_times"] = self._recent_steps()  # without the warm-up: a resume would read it as load
        state["val_image_s"] = self.val_image_s
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.epoch_ends = [(float(s), bool(v)) for s, v in state_dict.get("epoch_ends", [])]
        if not self.epoch_ends and state_dict.get("epoch_end_s") is not None:  # checkpoints before epoch_ends
            self.epoch_ends = [(float(state_dict["epoch_end_s"]), True)]
        self.step_times = [float(t) for t in state_dict.get("step_times", [])]
        if state_dict.get("val_image_s") is not None and self.val_image_s is None:
            self.val_image_s = float(state_dict["val_image_s"])


def budget_fraction(trainer: L.Trainer | None, budget_s: float | None) -> float:
    """Share of the training time used so far, in [0, 1] (0 without a budget or a Timer).

    The training time is ``budget_s`` less what a :class:`BudgetTimer` reserves for the last validation,
    so a time-paced LR reaches its floor when training stops, not when that validation ends. The Timer's
    elapsed time survives ``--resume``.
    """
    if not budget_s or trainer is None:
        return 0.0
    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)  # type: ignore[attr-defined]
    if timer is None:
        return 0.0
    available = float(budget_s) - (timer.reserve_s() if isinstance(timer, BudgetTimer) else 0.0)
    return min(1.0, timer.time_elapsed("train") / max(available, 1e-6))


def read_step_clock(
    clock: MutableSequence[float],
    trainer: L.Trainer | None,
    budget_s: float | None,
    replay: RecordedClock | None = None,
) -> float:
    """The budget fraction a time-paced LR schedule reads at the trainer's global step, recorded in
    ``clock`` (``clock[step]``, NaN where the schedule did not read it; extended in place).

    One value per step: a value recorded for the step already is returned again (every param group, the
    first read after ``--resume`` with the clock restored from the checkpoint); otherwise the replayed
    run's value (``replay``, :meth:`RecordedClock.at`), else the wall clock (:func:`budget_fraction`), never
    below an earlier step's.
    """
    step = int(trainer.global_step) if trainer is not None else 0
    if step < len(clock) and not math.isnan(clock[step]):
        return clock[step]
    if replay is not None:
        value = replay.at(step)
    else:
        # Never back: the time reserved for the last validation follows the recent step and epoch-end
        # times, so a busy moment followed by a quiet one would lower the fraction (and raise the LR).
        earlier = next((v for v in reversed(clock[:step]) if not math.isnan(v)), 0.0)
        value = max(budget_fraction(trainer, budget_s), earlier)
    clock.extend([math.nan] * (step + 1 - len(clock)))
    clock[step] = value
    return value


class RecordedStop(Callback):
    """A replay's budget: training stops after global step ``stop_step`` (the recorded run's
    ``budget_stop_step``; None: it was not stopped by its budget), through :func:`stop_training` as the
    :class:`BudgetTimer` stopped it, so the final validation is forced the same way."""

    def __init__(self, stop_step: int | None) -> None:
        self.stop_step = stop_step
        self.stopped = False
        self.stop_position: tuple[int, int, int] | None = None  # (epoch, its steps done, steps per epoch)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.stop_step is not None and trainer.global_step >= self.stop_step and not trainer.should_stop:
            self.stopped = True
            self.stop_position = _position(trainer, batch_idx)
            stop_training(trainer)


@dataclass(frozen=True)
class RecordedClock:
    """What a budgeted run's clock said: ``fractions[step]`` is the budget fraction its LR schedule read at
    global step ``step`` (NaN: not read), ``stop_step`` the global step after which its budget stopped
    training (None: it ended otherwise). ``source``: the run folder."""

    fractions: tuple[float, ...]
    stop_step: int | None
    source: Path

    def at(self, step: int) -> float:
        """The fraction recorded for global step ``step``; a step the run never read the clock at is an
        error (the replay's config or code differs from the run's)."""
        value = self.fractions[step] if 0 <= step < len(self.fractions) else math.nan
        if math.isnan(value):
            raise ValueError(
                f"the replay of {self.source} read the LR clock at global step {step}, which that run never "
                f"read ({len(self.fractions)} steps recorded): train with {self.source / 'config.yaml'} "
                "unchanged (only output.* may differ) and the same unetkit version."
            )
        return value


def write_clock(run_dir: Path, fractions: Sequence[float]) -> Path:
    """Write ``RUN/logs/clock.npy`` (float64) atomically."""
    from unetkit.files import atomic_write

    array = np.asarray(list(fractions), dtype=np.float64)
    return atomic_write(Path(run_dir) / CLOCK_FILE, lambda fh: np.save(fh, array, allow_pickle=False))


def replay_source(run_dir: Path) -> Path | None:
    """The run that ``run_dir`` replays (:data:`REPLAY_SOURCE_FILE`), None for a run that is no replay."""
    path = Path(run_dir) / REPLAY_SOURCE_FILE
    return Path(path.read_text().strip()) if path.is_file() else None


def read_recorded_clock(run_dir: Path) -> RecordedClock:
    """The recorded clock of a finished budgeted run of ``unetkit fit`` (``RUN/config.yaml``,
    ``RUN/logs/clock.npy`` and ``RUN/train.json``).

    Raises:
        FileNotFoundError: ``RUN/config.yaml`` is missing (not a run folder).
        ValueError: the run had no time budget (its steps are reproducible as they are), has not finished,
            or was trained before the clock was recorded.
    """
    from unetkit.training.config import load_config

    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise FileNotFoundError(
            f"{cfg_path} not found; --replay needs a run folder written by `unetkit fit`."
        )
    if not load_config(cfg_path).trainer.max_time_minutes:
        raise ValueError(
            f"{run_dir} was not trained with a time budget: its steps are already reproducible; train it "
            f"again with unetkit fit --config {shlex.quote(str(cfg_path))} output.name=NEW (on the same kind "
            "of machine)."
        )
    return recorded_clock(run_dir, f"unetkit fit --resume {shlex.quote(str(run_dir))}")


def recorded_clock(run_dir: Path, resume_command: str) -> RecordedClock:
    """The recorded clock of a finished budgeted run (``RUN/logs/clock.npy`` and ``RUN/train.json``), for
    any fit that records one (:func:`read_recorded_clock` checks a semantic run's config first).

    Args:
        run_dir: the run folder, known to have been trained with a time budget.
        resume_command: how to finish the run when it has not finished (named in the error).

    Raises:
        ValueError: the run has not finished, or was trained before the clock was recorded.
    """
    from unetkit.training.evaluate import TRAIN_RECORD

    run_dir = Path(run_dir)
    clock_path, record_path = run_dir / CLOCK_FILE, run_dir / TRAIN_RECORD
    if not record_path.is_file():
        raise ValueError(
            f"{run_dir} has not finished (no {TRAIN_RECORD}): finish it with "
            f"{resume_command}, then replay it."
        )
    record = json.loads(record_path.read_text())
    if not clock_path.is_file() or "budget_stop_step" not in record:
        raise ValueError(
            f"{run_dir} was trained before replay existed: its clock was not recorded ({clock_path} not "
            "found), so its time-paced steps cannot be replayed; train a new run and replay that one."
        )
    fractions = np.load(clock_path, allow_pickle=False)
    stop = record["budget_stop_step"]
    return RecordedClock(
        fractions=tuple(float(f) for f in fractions.reshape(-1)),
        stop_step=None if stop is None else int(stop),
        source=run_dir,
    )


def _stopper(trainer: Any) -> BudgetTimer | RecordedStop | None:
    return next((c for c in trainer.callbacks if isinstance(c, (BudgetTimer, RecordedStop))), None)


def clock_text(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour) of ``seconds``, rounded down."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def budget_progress(trainer: Any) -> str:
    """``1:23 of the 3:00 budget``: the training time the budget has counted (resumed time included,
    :meth:`BudgetTimer.time_elapsed`) against it, which the progress lines and bar show (a log said the
    epochs, never how much of the budget was left); '' for a run without a budget (a replay included)."""
    timer = next((c for c in trainer.callbacks if isinstance(c, BudgetTimer)), None)
    if timer is None:
        return ""
    return f"{clock_text(timer.time_elapsed('train'))} of the {clock_text(timer.duration_s)} budget"


def budget_record(trainer: Any) -> dict[str, Any]:
    """``timer_seconds`` (training + validation + checkpoints, resumed time included), ``budget_seconds``,
    ``budget_stop_step`` (the global step after which the budget stopped training; None when the run
    ended otherwise) and ``budget_stop_epoch`` (that step's epoch, its steps done and the steps of an
    epoch: ``{"epoch": 9, "steps": 14, "of": 38}``, which curves.png reads; None likewise) of a budgeted
    run, for ``RUN/train.json``; a replay records its stop only; nothing without a budget."""
    stop = _stopper(trainer)
    if stop is None:
        return {}
    record: dict[str, Any] = {}
    if isinstance(stop, BudgetTimer):
        record = {
            "timer_seconds": round(stop.time_elapsed("train"), 1),
            "budget_seconds": round(stop.duration_s, 1),
        }
    record["budget_stop_step"] = int(trainer.global_step) if stop.stopped else None
    point = stop_point(trainer)
    record["budget_stop_epoch"] = point.record() if point is not None else None
    return record


def stop_point(trainer: Any) -> StopPoint | None:
    """Where the time budget (or its replay) stopped ``trainer``'s training, after it ended; None where it
    did not stop it."""
    stop = _stopper(trainer)
    if stop is None or not stop.stopped or stop.stop_position is None:
        return None
    return StopPoint(int(trainer.global_step), *stop.stop_position)


def budget_stop_line(trainer: Any) -> str:
    """One line when the time budget (or a replay of it) ended training, where it stopped: ``stopped by the
    2m time budget at step 356 (epoch 9, 14 of 38 steps)``; '' otherwise. The last epoch line (``Epoch 9:
    14/38 steps in 4.2 s``) read like any other, and nothing said the budget had ended the run (trial 25
    S5)."""
    stop, point = _stopper(trainer), stop_point(trainer)
    if stop is None or point is None:
        return ""
    if isinstance(stop, RecordedStop):
        return f"stopped at {point.where()}, where the time budget stopped the replayed run"
    return f"stopped by the {stop.duration_s / 60:g}m time budget at {point.where()}"
