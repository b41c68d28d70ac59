"""Fit orchestration: check the inputs, train (or resume) a run, save its model, evaluate it, draw curves.

Library code: it leaves the process as it found it (``trainer.num_threads`` holds during a call only). The CLI
(``unetkit fit``) sets the process's thread count, passes the run folder to DDP child processes and tears the
process group down.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import threading
import time
import warnings
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from unetkit.constants import EXIT_INTERRUPTED, IGNORE_INDEX
from unetkit.data.datasets import DatasetSpec
from unetkit.files import atomic_write_text
from unetkit.model_files.model_config import ModelConfig
from unetkit.random_state import process_rng_kept
from unetkit.training.config import Config
from unetkit.training.evaluate import (
    START_RECORD,
    TRAIN_RECORD,
    RememberedPredictions,
    choose_instance_postprocessing,
    evaluate,
    resolve_dataset,
    write_start_record,
    write_train_record,
)
from unetkit.training.lightning_noise import ignore_lightning_noise, lightning_lines_filtered

if TYPE_CHECKING:
    from unetkit.planning.folder import PlannedDataset
    from unetkit.training.task import SegmentationTask  # imported by make_task: it brings in Lightning

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What :func:`fit` and :func:`fit_folder` return: the run folder, the scores of the scored split (as in
    ``RUN/metrics_<split>.json``, which holds them JSON-ready; here per-class values are NumPy arrays), their
    table as printed, and the training seconds.

    ``predicted``: (optimizer steps, seconds per step) the plan predicted for the run's budget, as
    ``RUN/train.json`` records them (``predicted_steps``, ``predicted_step_seconds``); None without a plan
    or a budget. ``shortfall``: one line when the budget bought far fewer steps than that
    (:func:`~unetkit.planning.shortfall.shortfall_note`: other work on the machine, or an override that
    changed a step's cost), which :func:`fit_folder` logs as a warning; '' otherwise.
    ``checkpoint_note``: one line when the kept ``last`` checkpoint validated far below the run's best epoch
    (:func:`kept_checkpoint_note`), logged so too.
    """

    run_dir: Path
    scores: dict[str, Any]
    table: str
    train_seconds: float  # every session's training, a resumed run's earlier ones included
    is_global_zero: bool = True
    # A resume of a run stopped while it was scored: the saved model was scored, nothing trained.
    scored_only: bool = False
    predicted: tuple[int, float] | None = None
    shortfall: str = ""
    # One line when the kept last checkpoint validated far below the run's best (kept_checkpoint_note).
    checkpoint_note: str = ""
    # A resume's redone work (:class:`Redone`): the steps that interrupted sessions trained after their
    # last checkpoint, done again and not counted in train_seconds; None for a run never interrupted so.
    redone: Redone | None = None


@dataclass(frozen=True)
class Redone:
    """What a resumed run trained twice: ``steps`` of interrupted epochs, done after the last checkpoint of
    ``sessions`` interrupted sessions, whose ``seconds`` were recorded at the interrupt
    (``RUN/interrupts.json``) and are not counted in ``train_seconds`` nor charged to the time budget;
    ``unclocked``: at least this many steps more, logged by a session killed without a word (a SIGKILL),
    whose seconds are unknown."""

    seconds: float = 0.0
    steps: int = 0
    sessions: int = 0
    unclocked: int = 0

    def record(self) -> dict[str, Any]:
        """As ``RUN/train.json`` keeps it."""
        record: dict[str, Any] = {"redone_seconds": round(self.seconds, 1), "redone_steps": self.steps}
        if self.unclocked:
            record["redone_steps_unclocked"] = self.unclocked
        return record

    def text(self) -> str:
        """``30 s of an interrupted epoch were redone and not counted`` (and a killed session's steps)."""
        parts = []
        if self.sessions:
            what = "an interrupted epoch" if self.sessions == 1 else f"{self.sessions} interrupted epochs"
            seconds = f"{self.seconds:.0f}" if self.seconds >= 10 else f"{self.seconds:.1f}"
            parts.append(f"{seconds} s of {what} were redone and not counted")
        if self.unclocked:
            parts.append(
                f"at least {self.unclocked} step(s) that a killed session trained after its last checkpoint "
                "were redone, their seconds unknown and not counted"
            )
        return "; ".join(parts)


def _stored_values(encoding: Any) -> list[int] | None:
    """The stored mask value of each class where a remap table read the masks (the smallest where a class had
    several), else None: the class index is the stored value (index), or the masks were colours (palette)
    or 0/1 vs 0/255 (binary)."""
    if encoding.kind != "remap" or not encoding.mapping:
        return None
    values: dict[int, int] = {}
    for stored, cls in sorted(encoding.mapping.items()):
        if 0 <= int(cls) < encoding.num_classes:
            values.setdefault(int(cls), int(stored))
    if len(values) != encoding.num_classes:
        return None
    return [values[c] for c in range(encoding.num_classes)]


def build_model_config(config: Config, spec: DatasetSpec) -> ModelConfig:
    """Model kwargs with ``in_channels``/``num_classes`` taken from the dataset (a conflict is an error);
    for instance labels ``extra`` names the instance method
    (:func:`~unetkit.data.instance_targets.instance_hint`); the dataset's class colours, when given, become
    the model's (what predict, test and serve draw its classes in)."""
    kwargs = dict(config.model.kwargs)
    for key, value in (("in_channels", spec.in_channels), ("num_classes", spec.num_classes)):
        if key in kwargs and int(kwargs[key]) != int(value):
            raise ValueError(
                f"model.kwargs.{key}={kwargs[key]} but dataset {spec.name!r} has {key}={value}; "
                f"remove model.kwargs.{key} or fix the dataset."
            )
        kwargs[key] = int(value)
    crop = config.data.crop_size
    extra: dict[str, Any] = {}
    if spec.encoding.kind == "instances":
        from unetkit.data.instance_targets import instance_hint

        # Instance labels: name the method that splits this model's predictions (components, boundary or
        # energy), its classes and the target trained, so that predict/test can pick it.
        extra = instance_hint(spec.encoding.instance_target, spec.encoding.instance_params)
    else:
        # Trained on plain classes: boundary/energy would read them as targets they are not (serve offered
        # energy for an 11-class street-scene model). A model without the key, from before, keeps them.
        extra = {"instance_target": "semantic"}
    if spec.encoding.rois:
        from unetkit.model_files.model_config import TRAINED_WITH_ROI

        extra[TRAINED_WITH_ROI] = True
    if config.evaluate.tta:
        from unetkit.inference.tta import resolve_tta
        from unetkit.model_files.model_config import SCORED_TTA

        extra[SCORED_TTA] = ",".join(resolve_tta(config.evaluate.tta))
    stored = _stored_values(spec.encoding)
    if stored is not None:
        from unetkit.model_files.model_config import STORED_VALUES

        extra[STORED_VALUES] = stored
    from unetkit.data.mask_options import encoding_record
    from unetkit.model_files.model_config import MASK_ENCODING

    extra[MASK_ENCODING] = encoding_record(spec.encoding)  # a model shipped alone scores masks as trained
    if spec.encoding.kind == "palette" and spec.encoding.ignore_colors:
        from unetkit.palette import VOID_COLOR_KEY

        # The user's void colour (the first, when several), for figures of ground truth.
        extra[VOID_COLOR_KEY] = [int(c) for c in spec.encoding.ignore_colors[0]]
    return ModelConfig(
        architecture=config.model.name,
        model_kwargs=kwargs,
        class_names=list(spec.class_names),
        mean=[float(m) for m in spec.mean],
        std=[float(s) for s in spec.std],
        input_size=list(crop) if crop else None,
        extra=extra,
        intensity_window=_window_json(spec.intensity_window),
        class_colors=[list(c) for c in spec.class_colors] if spec.class_colors else None,
        convert_channels=spec.convert_channels,
    )


def _accelerator(setting: str) -> str:
    """``trainer.accelerator`` as the memory check reads it: auto is the GPU where CUDA is available."""
    if setting == "auto":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    return setting


def make_task(config: Config, model_config: ModelConfig, spec: DatasetSpec) -> SegmentationTask:
    """The LightningModule of a run (hyperparameters as plain dicts: checkpoints load with weights_only)."""
    from unetkit.training.task import SegmentationTask

    tr = config.trainer
    return SegmentationTask(
        model_config=model_config.to_dict(),
        loss=config.loss,
        class_weights=config.class_weights,
        optim=config.optim.model_dump(mode="json"),
        schedule=config.schedule.model_dump(mode="json"),
        max_epochs=tr.max_epochs,
        isbi=spec.isbi,
        channels_last=tr.channels_last,
        time_budget_s=tr.max_time_minutes * 60 if tr.max_time_minutes else None,
        monitor=tr.monitor,
    )


def _needed_splits(scored: str) -> dict[str, str]:
    """What each split a run reads is needed for, ``scored`` (``evaluate.split``) giving the final scores:
    under ``--score val`` the val split is needed for both validation and them (the scored split alone was
    named, as if val were not validated on)."""
    needed = {"train": "training", "val": "validation"}
    final = "the final scores of evaluate.split"
    needed[scored] = f"{needed[scored]} and {final}" if scored in needed else final
    return needed


def check_inputs(
    config: Config,
    spec: DatasetSpec,
    keep_train: MutableMapping[tuple[Path, Path], tuple[Any, Any]] | None = None,
) -> int:
    """Decode every image and mask of every split (and find empty splits) before anything is written.

    Returns the number of pairs checked; the rate is logged at INFO. ``keep_train``: where the decoded
    training pairs go (:meth:`~unetkit.training.datamodule.SegmentationDataModule.train_cache_to_fill`), so
    that training does not decode them again.
    """
    from unetkit.data.folder import validate

    needed = _needed_splits(config.evaluate.split)
    for split, use in needed.items():
        if split not in spec.splits:
            raise ValueError(
                f"dataset {spec.name!r} has no {split!r} split (needed for {use}); its splits: "
                f"{', '.join(spec.splits) or 'none'}; set evaluate.split or the dataset's split options."
            )
    start, total = time.perf_counter(), 0
    # Masks with no pixel to learn from or score (all void, or an empty ROI), per split: seen as validate
    # decodes them, so nothing is read twice.
    empty: dict[str, list[Path]] = {split: [] for split in spec.splits}

    def note_empty(split: str) -> Callable[[Path, Any], None]:
        def note(path: Path, mask: Any) -> None:
            if not (mask != IGNORE_INDEX).any():  # ROI applied (encoding.rois)
                empty[split].append(path)

        return note

    for split, stems in spec.splits.items():
        if not stems:
            if split not in needed:
                continue
            raise ValueError(
                f"the {split!r} split of dataset {spec.name!r} is empty (it is needed for {needed[split]}); "
                "add images or change the split options (e.g. data.options.split_fractions for a folder "
                "dataset)."
            )
        total += validate(
            spec.pairs(split),
            spec.encoding,
            in_channels=spec.in_channels,
            convert=spec.convert_channels,
            split=split,
            window=spec.intensity_window,
            on_mask=note_empty(split),
            keep=keep_train if split == "train" else None,
        )
    seconds = time.perf_counter() - start
    log.info(
        "decoded all %d image/mask pairs in %.1f s (%.0f pairs/s)", total, seconds, total / max(seconds, 1e-9)
    )
    for split in dict.fromkeys(("val", config.evaluate.split)):
        if len(empty[split]) == len(spec.splits[split]):
            # Its scores would be 0 from nothing, and the best checkpoint chosen on them.
            voids = [*spec.encoding.ignore_values, *(list(c) for c in spec.encoding.ignore_colors)]
            raise ValueError(
                f"every mask pixel of the {split!r} split is void{f' ({voids})' if voids else ''} or outside "
                f"its ROI, so it scores nothing (it is needed for {needed[split]}); give the split masks "
                "with classes, or check the void value (--void) and the ROI files"
            )
    if empty["train"]:
        # Harmless to training (the loss skips void), but usually a mistake: a wrong ROI file or void value.
        log.warning(
            "%d training mask(s) hold no pixel to learn from (all void or outside the ROI), e.g. %s; check "
            "their void value and ROI files",
            len(empty["train"]), sorted(empty["train"])[0],
        )  # fmt: skip
    return total


def _non_finite_message(exc: Exception, run_dir: Path, config: Config) -> str:
    """The one-line stop message: what became non-finite, which checkpoints are good, the fix."""
    from unetkit.model_files.model_io import read_checkpoint

    good = []
    for name in ("last.ckpt", "best.ckpt"):
        path = run_dir / "checkpoints" / name
        if path.is_file():
            good.append(f"{path} (epoch {int(read_checkpoint(path).get('epoch', 0))})")
    kept = (
        f"the checkpoints on disk are finite: {', '.join(good)}"
        if good
        else "no checkpoint was written before that, so nothing was kept"
    )
    fix = f"lower optim.lr (now {config.optim.lr:g})"
    if not config.trainer.gradient_clip_val:
        fix += " or set trainer.gradient_clip_val=1.0"
    return f"training stopped: {exc}; {kept}; {fix} and start a new run."


def validated_images(config: Config, spec: DatasetSpec) -> int:
    """How many validation images each validation during training scores (``data.val_images``)."""
    total = len(spec.splits.get("val", []))
    return total if config.data.val_images is None else min(total, config.data.val_images)


def fit(
    config: Config,
    resume: Path | None = None,
    run_dir: Path | None = None,
    command: str | None = None,
    eval_progress: Callable[[int, int], None] | None = None,
    replay: Path | None = None,
    announce: Callable[[Path], None] | None = None,
    select_progress: Callable[[int, int], None] | None = None,
    predicted: tuple[int, float] | None = None,
    step_overrides: Sequence[str] = (),
) -> RunResult:
    """Train (or resume, or replay) a run, then save the model, evaluate on ``evaluate.split`` and draw
    figures.

    Every image of every split is decoded before the run folder is created; a resume checkpoint is read as
    data only (``weights_only=True``). A NaN/inf loss, parameter or buffer stops training with
    :class:`~unetkit.training.task.NonFiniteError` (a ValueError) before a non-finite checkpoint is written;
    Ctrl-C raises KeyboardInterrupt naming the resume command.

    Args:
        config: the checked config (:func:`unetkit.training.config.load_config`).
        resume: a run folder to continue from its ``checkpoints/last.ckpt``.
        run_dir: the new run folder (default: from ``output``, see
            :func:`~unetkit.training.run_folder.new_run_dir`); ignored with ``resume``.
        command: the command line that started the run, recorded in ``RUN/train.json``.
        eval_progress: ``(images_done, images_total)`` after each image of the final evaluation.
        select_progress: the same, for the choice of the instance post-processing on the validation
            images (instance labels only; it comes before the final evaluation and can take as long).
        replay: a finished run trained with a time budget: train ``config`` (that run's, in a new folder)
            step for step with the LR clock and the stop step that run recorded
            (:func:`~unetkit.training.budget.read_recorded_clock`) instead of the wall clock; on the same
            kind of machine (CPU, same thread count) the weights and metrics are bitwise identical.
        announce: called with the run folder once the inputs are checked and the folder exists (a new run;
            not on ``resume``), before training: where to look while it trains.
        predicted: (optimizer steps, seconds per step) the run's plan predicted for its budget
            (:func:`~unetkit.planning.shortfall.prediction_at_budget`), recorded in ``RUN/train.json``
            beside the steps made and compared with them (``RunResult.shortfall``); ignored without a
            budget (``trainer.max_time_minutes``). ``RUN/started.json`` keeps it (with ``step_overrides``):
            a ``resume`` not given one records that one again.
        step_overrides: the overrides of the plan that changed a step's cost, named by the shortfall note.

    A run with a time budget records its clock in ``RUN/logs/clock.npy`` and the step its budget stopped
    it at in ``RUN/train.json`` (``budget_stop_step``), what ``replay`` needs. The caller's random streams
    (Python, NumPy, torch) and Lightning's seed variables are as they were when it returns
    (:func:`process_rng_kept`): the run seeds its own from ``trainer.seed``. ``trainer.num_threads`` is
    torch's thread count during the call (training and scoring), the caller's again on return.
    """
    from unetkit.devices import torch_threads

    with process_rng_kept(), torch_threads(config.trainer.num_threads):
        return _fit(
            config, resume, run_dir, command, eval_progress, replay, announce, select_progress,
            predicted if config.trainer.max_time_minutes else None, tuple(step_overrides),
        )  # fmt: skip


SCORED_SPLITS = ("test", "val")


def fit_folder(
    root: str | Path,
    budget: str | float | None = None,
    *,
    score: str | None = None,
    out: str | Path | None = None,
    overrides: Sequence[str] = (),
    seed: int | None = None,
    plan: str | Path | PlannedDataset | None = None,
    announce: Callable[[Path], None] | None = None,
    progress_bar: bool = False,
    **plan_options: Any,
) -> RunResult:
    """``unetkit fit DIR --time BUDGET`` from Python: plan the folder
    (:func:`~unetkit.planning.folder.plan_folder`; ``plan_options`` are its keywords: ``device``,
    ``threads``, ``mask_kind``, ``void``, ``classes``, ...), train the plan and score the ``score`` split
    ("test", or "val" while runs are compared and the test split must stay unseen; None, the default: the
    plan's choice, as ``unetkit fit DIR`` without ``--score``: test, or val where the folder has no test
    split).

    ``budget``: the training time only (``"20m"``, ``"90s"``, minutes as a number; None: the plan's
    choice). The final scoring of the ``score`` split (with the plan's test-time augmentation) and, for
    instance labels, the choice of the instance post-processing on val come after it and can take longer
    than the budget itself: the plan's estimate of them is logged at INFO when training starts (with the
    plan's lines, on the ``unetkit`` logger).
    ``out``: the run folder (default ``runs/<folder>-unet-<time>``; one that holds a run is refused).
    ``overrides``: ``key=value`` strings applied after the plan (``"trainer.max_epochs=5"``,
    ``"evaluate.tta=false"``).
    ``seed``: the seed of the training order, augmentation and initial weights (``--seed``; the same as
    ``overrides=["trainer.seed=N"]``).
    ``plan``: a plan to train as is, as ``unetkit fit DIR --plan FILE`` does: nothing is measured, so the
    same call trains the same plan on a busy machine too (precision, width and epoch length as the plan
    says). Either what :func:`~unetkit.planning.folder.plan_folder` returned (a ``PlannedDataset``: the
    notebook flow ``planned = unetkit.plan_folder(DIR, "20m")``, read ``planned.lines``, then
    ``fit_folder(DIR, plan=planned)``; the run keeps its ``plan_yaml`` and dataset record), or a plan file
    (``plan.yaml`` from ``unetkit plan DIR --out FILE``, from
    ``Path(FILE).write_text(unetkit.plan_folder(DIR, "20m").plan_yaml)``, or ``RUN/plan.yaml`` of a run
    folder). ``budget`` and the planning keywords other than ``threads``, ``precision`` and ``device``
    (which must be the plan's) are then refused: the plan decides them.

    The run folder gets ``plan.yaml``, ``dataset.json`` and ``plan.png`` beside the run's files, as the CLI
    writes them; ``train.json`` and ``plan.yaml`` name this call (every argument given but ``announce``),
    and ``train.json`` records the plan's prediction for the run's budget (``predicted_steps``,
    ``predicted_step_seconds``) beside the steps made (``budget_stop_step``). A run that made far fewer
    steps than predicted (a busy machine) logs one WARNING on the ``unetkit`` logger, ``RunResult.shortfall``.
    A bad ``out``, ``seed`` or override is refused before anything is measured. ``progress_bar``:
    Lightning's training bar (on stdout; off by default). Prints nothing else itself (Lightning's own lines,
    device and precision, go through Python's logging); torch's thread count and the random streams are the
    caller's again on return.
    """
    from unetkit.planning import to_config_overrides
    from unetkit.planning.folder import plan_folder, torch_threads_kept
    from unetkit.planning.shortfall import prediction_at_budget, step_cost_overrides, summary_prediction
    from unetkit.training.config import changed_overrides, load_config
    from unetkit.training.run_folder import output_overrides

    _check_plan_options(plan_options)
    planned_given = _check_plan_argument(plan)
    if score is not None and score not in SCORED_SPLITS:
        raise ValueError(f"score must be one of {SCORED_SPLITS} or None (the plan's choice), got {score!r}")
    if isinstance(overrides, str):
        raise TypeError(f"overrides must be a list of key=value strings, got the string {overrides!r}")
    # The call as given, what train.json and plan.yaml name: rerunning it trains the same task.
    command = _call_text(root, budget, score, out, overrides, seed, plan, progress_bar, plan_options)
    user = [*overrides, *_seed_overrides(seed, overrides)]
    root = Path(root).resolve()  # the run's config names the data wherever it is resumed from
    placed = output_overrides(out)
    # What cannot be right whatever the plan chooses is refused now, not after ~30 s of measuring.
    _check_early(user, placed, out, planned_model=plan is None or planned_given is not None)
    trainer_keys: list[str] = []  # threads=/precision= over a given plan's, before the caller's overrides
    if planned_given is not None:
        trainer_keys = _check_planned_dataset(root, planned_given, budget, plan_options)
    elif isinstance(plan, (str, os.PathLike)):
        return _fit_plan_file(
            root, Path(plan), budget, score, out, user, placed, announce, progress_bar, plan_options, command
        )
    # The random streams are kept over the whole call, not only over planning and training: a GPU host's
    # run of a test of this (H100, benchmarks/results/cuda_fit) found Python's stream moved on return.
    with torch_threads_kept(), process_rng_kept():
        if planned_given is None:
            planned = plan_folder(root, budget=budget, command="fit", score=score, **plan_options)
            # From Python nothing shows the plan otherwise (the CLI prints these lines).
            for line in planned.lines:
                log.info("plan: %s", line)
        else:
            planned = planned_given
        base = [
            *to_config_overrides(planned.plan, planned.layout),
            *trainer_keys,
            *([f"evaluate.split={score}"] if score is not None else []),
            f"trainer.progress_bar={str(progress_bar).lower()}",
            *placed,
        ]
        config = load_config(None, [*base, *user])
        log.info("%s", after_budget_line(config, planned.plan.reasons.get("evaluate.tta", "")))
        # The run folder's plan.yaml and plan.png show the values the run trains with, as `fit DIR` writes
        # them: only the overrides that change the plan's config, each with the plan's choice in its reason.
        shown = changed_overrides(None, base, user)
        note = f"# overridden by fit_folder's overrides: {' '.join(shown)}\n" if shown else ""
        note += f"# {command}: this call trained the plan below\n"
        files = planned.run_files(note, shown)
        # What the plan predicted for the budget the run trains (an override of it scales the steps).
        predicted = prediction_at_budget(
            summary_prediction(planned.plan.summary),
            (planned.plan.config.get("trainer") or {}).get("max_time_minutes"),
            config.trainer.max_time_minutes,
        )

        result = _train_planned(config, files, out, command, announce, predicted, step_cost_overrides(shown))
    return result


def _warn_shortfall(result: RunResult) -> RunResult:
    """``result``, its shortfall note logged as a warning (as ``unetkit fit`` prints it): a trial's runs on
    a busy machine made 89 of 714 planned steps and fit_folder said nothing."""
    for note in (result.shortfall, result.checkpoint_note):
        if note:
            log.warning("%s", note)
    return result


# How far below the best validation the kept last checkpoint may score, relative to the best, before fit
# says so: a trial's 3-minute run on 8 val images kept last at val mIoU 0.58 after a best of 0.83 at epoch
# 9 (a 1-minute run of the same folder reported 0.85), and nothing flagged it.
KEPT_BELOW_BEST = 0.10


def kept_checkpoint_note(
    metrics_csv: Path, monitor: str, mode: str, kept: str, kept_epoch: int, best_name: str = "best.ckpt"
) -> str:
    """One line when the kept checkpoint ``kept`` (``last``) scored ``monitor`` at its epoch more than
    :data:`KEPT_BELOW_BEST` (relative) below the best epoch's validation in ``metrics_csv``; '' otherwise
    (kept best, no validation logged, or close enough). The plan keeps last on few validation images (the
    best is a noisy pick there), and says why; this line shows the price when it is high."""
    from unetkit.viz.figures import read_metrics_csv

    if kept != "last" or not metrics_csv.is_file():
        return ""
    # epoch -> its validation score; a resumed epoch's last row wins.
    scores = {int(epoch): value for epoch, value in read_metrics_csv(metrics_csv).get(monitor, [])}
    if kept_epoch not in scores:
        return ""
    pick = max if mode == "max" else min
    best_epoch = pick(scores, key=lambda e: scores[e])
    best, last = scores[best_epoch], scores[kept_epoch]
    gap = (best - last) if mode == "max" else (last - best)
    if best_epoch == kept_epoch or gap <= KEPT_BELOW_BEST * abs(best):
        return ""
    return (
        f"the kept model is the last checkpoint ({monitor} {last:.3f} at epoch {kept_epoch}); epoch "
        f"{best_epoch} validated at {best:.3f} (checkpoints/{best_name}): evaluate.checkpoint=last, the "
        "plan's choice on few validation images, where the best is a noisy pick; more validation images "
        "(val/ or val.txt) make the choice firmer, and evaluate.checkpoint=best keeps the best of a next run"
    )


# fit_folder's own keywords, named where a keyword of neither it nor plan_folder is refused.
_FIT_FOLDER_KEYWORDS = ("score", "out", "overrides", "seed", "plan", "announce", "progress_bar")


def _check_plan_options(plan_options: Mapping[str, Any]) -> None:
    """A keyword of neither fit_folder nor plan_folder: a TypeError from fit_folder naming what it takes
    (``seed=`` had raised "plan_folder() got an unexpected keyword argument 'seed'")."""
    import inspect

    from unetkit.planning.folder import plan_folder

    taken = [p for p in inspect.signature(plan_folder).parameters if p not in ("root", "budget", "command")]
    for name in plan_options:
        if name not in taken:
            raise TypeError(
                f"fit_folder() got an unexpected keyword argument {name!r}; it takes "
                f"{', '.join(_FIT_FOLDER_KEYWORDS)} and plan_folder's {', '.join(taken)}; any config key "
                f"goes in overrides, e.g. overrides=['trainer.max_epochs=5']"
            )


def _call_text(
    root: str | Path,
    budget: str | float | None,
    score: str | None,
    out: str | Path | None,
    overrides: Sequence[str],
    seed: int | None,
    plan: str | Path | PlannedDataset | None,
    progress_bar: bool,
    plan_options: Mapping[str, Any],
) -> str:
    """``fit_folder('/data/cv', '2m', score='val', void=[11], ...)``: the call with every argument given
    (paths as strings, the folder absolute), fit_folder's keywords in its signature's order, then the
    planning keywords in the order given. ``announce`` (a callable, no part of what is trained) is left
    out."""

    def plain(value: Any) -> Any:  # a Path's repr (PosixPath(...)) needs an import to run again
        if _is_planned_dataset(value):  # its repr holds the whole plan; the run folder keeps it (plan.yaml)
            return _Shown(f"PlannedDataset({value.header[0] if value.header else 'plan_folder'})")
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if isinstance(value, (list, tuple)):
            return type(value)(plain(v) for v in value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    given: list[tuple[str, Any]] = [
        ("score", score), ("out", out), ("overrides", list(overrides) or None), ("seed", seed),
        ("plan", plan), ("progress_bar", progress_bar or None), *plan_options.items(),
    ]  # fmt: skip
    parts = [repr(str(Path(root).resolve())), *([repr(budget)] if budget is not None else [])]
    parts += [f"{name}={plain(value)!r}" for name, value in given if value is not None]
    return f"fit_folder({', '.join(parts)})"


class _Shown(str):
    """A value :func:`_call_text` shows as its text, without quotes."""

    def __repr__(self) -> str:
        return str(self)


def _is_planned_dataset(value: object) -> bool:
    from unetkit.planning.folder import PlannedDataset

    return isinstance(value, PlannedDataset)


def _check_plan_argument(plan: object) -> PlannedDataset | None:
    """``plan=`` of :func:`fit_folder`: the PlannedDataset it is (returned), a path (None), or a TypeError
    naming what was got and what to pass (a PlannedDataset had met a bare os.fspath TypeError)."""
    if plan is None or isinstance(plan, (str, os.PathLike)):
        return None
    if _is_planned_dataset(plan):
        return plan  # type: ignore[return-value]
    raise TypeError(
        f"plan must be a plan file (str or Path: a plan.yaml) or what unetkit.plan_folder returned (a "
        f"PlannedDataset), got {type(plan).__name__} {_short_repr(plan)}; pass e.g. "
        "plan=unetkit.plan_folder(DIR, '20m') or plan='runs/RUN/plan.yaml'"
    )


def _short_repr(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_planned_dataset(
    root: Path, planned: PlannedDataset, budget: str | float | None, plan_options: Mapping[str, Any]
) -> list[str]:
    """``fit_folder(root, plan=planned)``: what a plan file is checked for (the budget and planning keywords
    the plan decided, a device other than the plan's, another folder's plan). Returns the trainer overrides
    of ``threads``/``precision`` (over the plan's, before the caller's)."""
    from unetkit.planning.folder import _check_threads
    from unetkit.planning.plan_file import plan_trainer_overrides

    said = "the PlannedDataset passed as plan="
    decided = [*(["budget"] if budget is not None else []), *plan_options]
    refused = [n for n in decided if n not in ("threads", "precision", "device")]
    if refused:
        raise ValueError(
            f"{refused[0]}= is decided by {said}; drop it, or plan again with it "
            f"(unetkit.plan_folder({str(root)!r}, ..., {refused[0]}=...))"
        )
    _check_threads(plan_options.get("threads"))
    planned_root = Path(planned.layout.root).resolve()
    if planned_root != root:
        raise ValueError(
            f"plan= was planned for {planned_root}, not {root}; pass the plan of {root} "
            f"(unetkit.plan_folder({str(root)!r}, BUDGET))"
        )
    if plan_options.get("device") is not None:
        from unetkit.devices import resolve_device

        device = resolve_device(str(plan_options["device"]))
        accelerator = str((planned.plan.config.get("trainer") or {}).get("accelerator") or "auto")
        measured = {"cpu": "cpu", "gpu": "cuda", "cuda": "cuda"}.get(accelerator)
        if measured is not None and measured != device:
            raise ValueError(
                f"device={device!r}: {said} was measured and planned on {measured}; drop device=, or plan "
                f"again on {device} (unetkit.plan_folder({str(root)!r}, BUDGET, device={device!r}))"
            )
    return plan_trainer_overrides(plan_options.get("threads"), plan_options.get("precision"))


def _no_plan_file(plan_path: Path, root: Path) -> str:
    """The refusal of a ``plan=`` path that is no file: a folder (a run folder's ``plan.yaml`` named where it
    holds one), or nothing there; with the Python ways to make a plan file, and the command line's."""
    given = f"plan={os.fspath(plan_path)!r}"
    folder = shlex.quote(str(root))
    make = (
        f"pass unetkit.plan_folder({str(root)!r}, BUDGET) itself, write its file with "
        f"Path(FILE).write_text(unetkit.plan_folder({str(root)!r}, BUDGET).plan_yaml), or run "
        f"unetkit plan {folder} --out FILE"
    )
    if plan_path.is_dir():
        inside = plan_path / "plan.yaml"
        if inside.is_file():
            return f"{given} is a folder; pass its plan file, plan={os.fspath(inside)!r}"
        return f"{given} is a folder, not a plan file, and holds no plan.yaml; {make}"
    return f"{given}: no such file; {make}"


def after_budget_line(config: Config, reasons: str) -> str:
    """The INFO line fit_folder logs as training starts: the budget covers training only, and the plan's
    estimate of what follows it (the final scoring, an instance model's post-processing choice), read from
    ``reasons`` (the plan's ``evaluate.tta`` reason, or a plan file's text, which holds it as a comment).
    A trial's 2-minute fit took 280 s, nothing logged said so."""
    import re

    minutes = config.trainer.max_time_minutes
    budget = f"training for the {minutes:g}m time budget" if minutes else "training (no time budget)"
    found = re.search(r"after the budget, ([^\n]*)", reasons)
    if found is None:
        return f"{budget}; then the {config.evaluate.split} split is scored (not part of the budget)"
    after = found.group(1).rstrip()
    estimated = re.search(r"scoring \d+ (\w+) images", after)
    if estimated is not None and estimated.group(1) != config.evaluate.split:
        after += f"; that is for the {estimated.group(1)} split, this run scores {config.evaluate.split}"
    if not config.evaluate.tta and "views" in after:
        after += "; evaluate.tta is off in this run, so it scores one view, faster than that"
    return f"{budget}; after it (not part of the budget), by the plan's estimate, {after}"


def _seed_overrides(seed: object, overrides: Sequence[str]) -> list[str]:
    """``seed=N`` as the key it stands for (``trainer.seed=N``, after the overrides, as ``--seed``); a seed
    that is not an int, or that an override contradicts, is refused in one line."""
    if seed is None:
        return []
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}; pass e.g. seed=3")
    for item in overrides:
        key, _, value = item.partition("=")
        if key.strip() == "trainer.seed" and value.strip() != str(seed):
            raise ValueError(f"seed={seed} and the override {item} contradict each other; give one of them")
    return [f"trainer.seed={seed}"]


def _check_early(user: list[str], placed: list[str], out: str | Path | None, *, planned_model: bool) -> None:
    """The overrides and the run folder, checked before the folder is discovered, fingerprinted and its
    candidates measured (a trial waited ~28 s for each error), with the CLI's checks: an unknown key, a value
    a key cannot take whatever the plan chooses (``trainer.max_epochs=0``: the override has the last word),
    a model keyword the model does not take, a folder that holds a run or cannot be written. Messages name
    ``out=``, not ``--out``. ``planned_model``: a new plan will name the model (no plan file), so a
    ``model.kwargs.K=V`` without ``model.name`` is checked against the planned one."""
    from unetkit.planning.checks import check_run_output, check_unknown_names
    from unetkit.planning.plan import PLANNED_MODEL

    # Unknown keys and names, values the caller's own keys cannot take, and (as `unetkit fit DIR` does)
    # the caller's model keywords: model.kwargs.depht=3 was refused only when the model was built.
    check_unknown_names(user, model=PLANNED_MODEL if planned_model else None)
    check_run_output([*placed, *user], out_given=out is not None, option="out=")


def _fit_plan_file(
    root: Path,
    plan_path: Path,
    budget: str | float | None,
    score: str | None,
    out: str | Path | None,
    user: list[str],
    placed: list[str],
    announce: Callable[[Path], None] | None,
    progress_bar: bool,
    plan_options: Mapping[str, Any],
    command: str,
) -> RunResult:
    """``fit_folder(root, plan=FILE)``: ``unetkit fit DIR --plan FILE``, the plan file as the config (nothing
    measured), with the same checks and run files."""
    import yaml

    from unetkit.planning.checks import check_model_overrides
    from unetkit.planning.folder import _check_threads
    from unetkit.planning.plan_file import check_plan_device, plan_trainer_overrides, reused_plan_files
    from unetkit.planning.shortfall import plan_file_prediction, prediction_at_budget, step_cost_overrides
    from unetkit.training.config import changed_overrides, load_config

    decided = [*(["budget"] if budget is not None else []), *plan_options]
    refused = [n for n in decided if n not in ("threads", "precision", "device")]
    if refused:
        raise ValueError(
            f"{refused[0]}= is decided by the plan file {plan_path}; drop it, or plan again "
            f"(unetkit.plan_folder, or unetkit plan {shlex.quote(str(root))} --out FILE)"
        )
    if not plan_path.is_file():
        raise ValueError(_no_plan_file(plan_path, root))
    text = plan_path.read_text()
    loaded = yaml.safe_load(text) or {}
    if not isinstance(loaded, dict):
        raise ValueError(f"plan={os.fspath(plan_path)!r} is not a plan file (its top level is not a mapping)")
    _check_threads(plan_options.get("threads"))
    if plan_options.get("device") is not None:
        check_plan_device(str(plan_options["device"]), loaded, plan_path, root, option="device=")
    planned_root = Path((loaded.get("data") or {}).get("root") or ".")
    if planned_root.resolve() != root:
        raise ValueError(
            f"plan={os.fspath(plan_path)!r} was made for {planned_root}, not {root}; pass the plan of "
            f"{root}, or plan it (unetkit plan {shlex.quote(str(root))} --out FILE)"
        )
    # The caller's model keywords against the plan file's model, as `fit DIR --plan FILE` checks them: they
    # were refused only when fit built the model.
    check_model_overrides(user, path=plan_path)
    # As --threads and --precision with --plan: trainer keys over the plan's, before the caller's overrides.
    trainer = plan_trainer_overrides(plan_options.get("threads"), plan_options.get("precision"))
    given = [*trainer, *([f"evaluate.split={score}"] if score is not None else []), *user]
    base = [f"trainer.progress_bar={str(progress_bar).lower()}", *placed]
    config = load_config(plan_path, [*base, *given])
    log.info("%s", after_budget_line(config, text))
    # The run's plan.yaml, dataset.json and plan.png as `fit DIR --plan FILE` writes them, plan.yaml's first
    # line naming this call too.
    changed = changed_overrides(plan_path, base, given)
    files = reused_plan_files(plan_path, text, changed, command)
    # The plan file's header row of the candidate it trains: its prediction, at the budget the run trains.
    predicted = prediction_at_budget(
        plan_file_prediction(text, loaded),
        (loaded.get("trainer") or {}).get("max_time_minutes"),
        config.trainer.max_time_minutes,
    )

    # fit() keeps the caller's thread count and random streams (nothing is measured here).
    return _train_planned(config, files, out, command, announce, predicted, step_cost_overrides(changed))


def _train_planned(
    config: Config,
    files: dict[str, str | bytes],
    out: str | Path | None,
    command: str,
    announce: Callable[[Path], None] | None,
    predicted: tuple[int, float] | None,
    step_overrides: tuple[str, ...],
) -> RunResult:
    """fit_folder's training of a plan (made now or read from a file): the plan's ``files`` go into the run
    folder once it exists, then ``announce`` is told; the result's shortfall note is logged."""
    from unetkit.planning.folder import write_run_files

    def write_plan(run_dir: Path) -> None:
        write_run_files(run_dir, files)
        if announce is not None:
            announce(run_dir)

    result = fit(
        config, run_dir=Path(out) if out is not None else None, command=command, announce=write_plan,
        predicted=predicted, step_overrides=step_overrides,
    )  # fmt: skip
    return _warn_shortfall(result)


def _fit(
    config: Config,
    resume: Path | None,
    run_dir: Path | None,
    command: str | None,
    eval_progress: Callable[[int, int], None] | None,
    replay: Path | None,
    announce: Callable[[Path], None] | None,
    select_progress: Callable[[int, int], None] | None = None,
    predicted: tuple[int, float] | None = None,
    step_overrides: tuple[str, ...] = (),
) -> RunResult:
    from unetkit.model_files.model_io import save_model
    from unetkit.planning.shortfall import shortfall_note
    from unetkit.training.budget import (
        REPLAY_SOURCE_FILE,
        budget_record,
        budget_stop_line,
        read_recorded_clock,
        replay_source,
        stop_point,
    )
    from unetkit.training.config import save_config
    from unetkit.training.data_record import (
        check_data_record,
        data_record,
        segmentation_files,
        write_data_record,
    )
    from unetkit.training.datamodule import SegmentationDataModule
    from unetkit.training.lightning_import import L
    from unetkit.training.memory import check_step_memory
    from unetkit.training.run_folder import (
        export_checkpoint,
        is_secondary_rank,
        last_checkpoint,
        new_run_dir,
        refuse_existing_run,
        run_folder,
        run_lock,
    )
    from unetkit.training.task import NonFiniteError
    from unetkit.training.trainer import TrainingClock, build_trainer

    recorded = None
    if replay is not None and resume is not None:
        raise ValueError("resume and replay exclude each other: resume continues a run, replay retrains it")
    if resume is not None:
        replay = replay_source(resume)  # an interrupted replay goes on replaying its source's clock
    if replay is not None:
        recorded = read_recorded_clock(replay)
    spec = resolve_dataset(config)
    datamodule = SegmentationDataModule(spec, config.data, seed=config.trainer.seed)
    # Everything that can be wrong with the inputs is checked before the run folder exists.
    record = None
    if not is_secondary_rank():
        check_inputs(config, spec, keep_train=datamodule.train_cache_to_fill())
        now = data_record(spec.root, segmentation_files(spec))
        if resume is None:  # a resumed run keeps the record of its start, and must see the same files
            record = now
            if replay is not None:
                check_data_record(Path(replay), record)
        else:
            check_data_record(Path(resume), now, "resume")
    model_config = build_model_config(config, spec)
    # Before the run folder and the model exist: an override that cannot fit in memory fails now, in one
    # line, not when the kernel kills the run.
    check_step_memory(
        model_config.architecture,
        model_config.model_kwargs,
        config.data.batch_size,
        config.data.crop_size,
        accelerator=_accelerator(config.trainer.accelerator),
        precision=config.trainer.precision,
    )
    ckpt_path, resume_from = None, None
    if resume is not None:
        ckpt_path, resume_from = last_checkpoint(resume)
    if resume is not None:
        run_dir = Path(resume)
    else:
        # A folder the caller named is checked as one from ``output`` is: no run is ever trained over. Its
        # refusal names the keyword run_dir= (a Python call; the CLI and fit_folder check their --out/out=
        # first, so theirs name those).
        run_dir = (
            refuse_existing_run(Path(run_dir), "run_dir=") if run_dir is not None else new_run_dir(config)
        )
    # A run killed while it was scored (after training) keeps its train.json: its resume only scores it.
    trained_before = resume is not None and (run_dir / TRAIN_RECORD).is_file()
    if resume is not None and predicted is None:
        # A resume keeps the run's plan and budget but is made without the plan (unetkit fit --resume RUN):
        # the prediction recorded when the run started still holds, and train.json and the shortfall note
        # need it.
        predicted, step_overrides = _started_prediction(run_dir)
    # Before the resumed logger drops the rows that the lost part of an epoch logged.
    redone = _redone(run_dir, resume_from) if resume_from is not None and not trained_before else None
    L.seed_everything(config.trainer.seed, workers=True, verbose=False)
    task = make_task(config, model_config, spec)
    task.replay_clock = recorded

    # The run's lock is taken before anything is written into the folder and held until its scores are.
    with contextlib.ExitStack() as held:
        held.enter_context(warnings.catch_warnings())  # the caller's filters come back on return
        ignore_lightning_noise()
        sigint = signal.getsignal(signal.SIGINT)
        trainer = None
        # Lightning's advert, and its "max_epochs reached" where the budget stopped the run (which says so).
        held.enter_context(
            lightning_lines_filtered(lambda: trainer is not None and stop_point(trainer) is not None)
        )
        try:
            with run_folder(run_dir):
                held.enter_context(run_lock(run_dir))
                if ckpt_path is not None and not trained_before:
                    _note_schedule_change(ckpt_path, config)
                if announce is not None and resume is None:
                    announce(run_dir)
                save_config(config, run_dir / "config.yaml")
                if resume is None:
                    write_start_record(run_dir, command, **_prediction_record(predicted, step_overrides))
                if record is not None:
                    write_data_record(run_dir, record)
                if replay is not None and resume is None:
                    atomic_write_text(run_dir / REPLAY_SOURCE_FILE, f"{Path(replay).resolve()}\n")
                trainer = build_trainer(
                    config.trainer,
                    run_dir,
                    resume_from=resume_from,
                    val_images=validated_images(config, spec),
                    replay=recorded,
                )
                # weights_only=True: resuming never unpickles code (last_checkpoint checked it already).
                trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
                # Every session's training: the clock's earlier sessions come back from the checkpoint.
                clock = next(c for c in trainer.callbacks if isinstance(c, TrainingClock))  # type: ignore[attr-defined]
                train_seconds = clock.seconds()
        except NonFiniteError as exc:
            raise NonFiniteError(_non_finite_message(exc, run_dir, config)) from None
        except SystemExit:
            # Lightning answers Ctrl-C with sys.exit(1); the CLI wants a KeyboardInterrupt (exit 130).
            if trainer is not None and trainer.interrupted:
                raise _interruption(run_dir, trainer, command) from None
            raise
        finally:
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, sigint)  # Lightning ignores SIGINT after an interrupt
        if trainer.interrupted:
            raise _interruption(run_dir, trainer, command)
        stop_line = budget_stop_line(trainer)
        if stop_line and trainer.is_global_zero:  # after the last epoch's line, before the model is saved
            log.info("%s", stop_line)
        if not trainer.is_global_zero:
            # Other DDP ranks stop here: rank 0 alone writes the model, the metrics and the figures (no
            # collective operation follows, so rank 0 never waits for them).
            return RunResult(
                run_dir=run_dir, scores={}, table="", train_seconds=train_seconds, is_global_zero=False
            )
        source = export_checkpoint(run_dir, config.evaluate.checkpoint)
        kept = torch.load(source, map_location="cpu", weights_only=True)
        task.load_state_dict(kept["state_dict"])
        save_model(task.model, model_config, run_dir / "model")
        budget = budget_record(trainer)
        if budget:
            from unetkit.training.budget import write_clock

            write_clock(run_dir, task.clock)
        if replay is not None:
            budget["replay_of"] = str(Path(replay).resolve())
        shortfall = ""
        if trained_before:
            # Training ended in an earlier session, which recorded it: the record gains this resume.
            train_seconds = _record_score_only_resume(run_dir, command)
        else:
            # The plan's prediction beside the steps made (budget_stop_step): a busy machine shows here.
            budget["predicted_steps"] = predicted[0] if predicted is not None else None
            budget["predicted_step_seconds"] = predicted[1] if predicted is not None else None
            if redone is not None:
                budget.update(redone.record())
            write_train_record(run_dir, train_seconds, resumed=resume is not None, command=command, **budget)
            shortfall = shortfall_note(
                predicted, budget.get("budget_stop_step"), train_seconds, step_overrides
            )
        try:
            # Before the final scoring, which uses it: post-processing chosen on the validation split only.
            # The val predictions of the choice are the scoring's too when it scores val: made once.
            remembered = RememberedPredictions() if config.evaluate.split == "val" else None
            choose_instance_postprocessing(run_dir, config, spec, select_progress, remembered=remembered)
            scores, table = evaluate(
                run_dir,
                split=config.evaluate.split,
                config=config,
                spec=spec,
                progress=eval_progress,
                remembered=remembered,
            )
        except KeyboardInterrupt as exc:
            stopped = KeyboardInterrupt(
                f"scoring interrupted; the model is saved: resume with: unetkit fit --resume "
                f"{shlex.quote(str(run_dir))} (it scores the run)"
            )
            # SIGTERM (the CLI's handler) keeps its exit status 143.
            stopped.exit_code = getattr(exc, "exit_code", EXIT_INTERRUPTED)  # type: ignore[attr-defined]
            raise stopped from None
        draw_curves(run_dir, config, scores, kept=(source.stem, int(kept.get("epoch", 0))))
        checkpoint_note = kept_checkpoint_note(
            run_dir / "logs" / "metrics.csv",
            config.trainer.monitor,
            config.trainer.monitor_mode,
            source.stem,
            int(kept.get("epoch", 0)),
        )
        return RunResult(
            run_dir=run_dir,
            scores=scores,
            table=table,
            train_seconds=train_seconds,
            scored_only=trained_before,
            predicted=predicted,
            shortfall=shortfall,
            checkpoint_note=checkpoint_note,
            redone=redone,
        )


def draw_curves(
    run_dir: Path, config: Any, scores: dict[str, Any], kept: tuple[str, int] | None = None
) -> Path | None:
    """``RUN/figures/curves.png`` from the run's logged metrics, with the kept checkpoint and the final
    validation scoring (:func:`_scored_apart`); None when the run logged no metrics. ``kept``: (checkpoint
    name, epoch), read from the exported checkpoint when not given. Fit draws it after its final scoring, and
    ``unetkit validate`` again: a run whose drawing failed after the scoring was "finished" without it, and
    nothing drew it."""
    from unetkit.training.run_folder import export_checkpoint
    from unetkit.viz.figures import plot_training_curves

    metrics_csv = run_dir / "logs" / "metrics.csv"
    if not metrics_csv.is_file():
        return None
    if kept is None:
        source = export_checkpoint(run_dir, config.evaluate.checkpoint)
        if source.is_file():
            state = torch.load(source, map_location="cpu", weights_only=True)
            kept = (source.stem, int(state.get("epoch", 0)))
    return plot_training_curves(
        metrics_csv, run_dir / "figures" / "curves.png", kept=kept, scored=_scored_apart(config, scores),
        partial=_stopped_within_epoch(run_dir),
    )  # fmt: skip


def _stopped_within_epoch(run_dir: Path) -> tuple[int, int, int] | None:
    """(epoch, steps run, steps per epoch) where the time budget stopped the run within its last epoch
    (``budget_stop_epoch`` in ``RUN/train.json``), else None: that epoch's train loss is of part of it."""
    import json

    try:
        stop = json.loads((run_dir / TRAIN_RECORD).read_text()).get("budget_stop_epoch")
        epoch, steps, of = int(stop["epoch"]), int(stop["steps"]), int(stop["of"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return (epoch, steps, of) if 0 < steps < of else None


def _scored_apart(config: Any, scores: dict[str, Any]) -> tuple[float, str] | None:
    """(mean IoU, "N-view TTA") of a final validation scoring made with test-time augmentation, which the
    logged validation curve (one view) does not show; None otherwise (no TTA, or another split)."""
    from unetkit.inference.tta import resolve_tta

    views = resolve_tta(config.evaluate.tta)
    if config.evaluate.split != "val" or not views or "miou" not in scores:
        return None
    return float(scores["miou"]), f"{len(views)}-view TTA"


def _prediction_record(predicted: tuple[int, float] | None, step_overrides: Sequence[str]) -> dict[str, Any]:
    """The plan's prediction as ``RUN/started.json`` keeps it for a resume (nothing without one)."""
    if predicted is None:
        return {}
    return {
        "predicted_steps": int(predicted[0]),
        "predicted_step_seconds": float(predicted[1]),
        "step_overrides": list(step_overrides),
    }


def _started_prediction(run_dir: Path) -> tuple[tuple[int, float] | None, tuple[str, ...]]:
    """(the plan's prediction, the overrides that changed a step's cost) recorded in ``RUN/started.json``
    when the run started (:func:`_prediction_record`); (None, ()) where it holds none (no plan or budget,
    or a run started by an older unetkit)."""
    import json

    try:
        record = json.loads((run_dir / START_RECORD).read_text())
        steps, seconds = record.get("predicted_steps"), record.get("predicted_step_seconds")
        overrides = tuple(str(o) for o in record.get("step_overrides") or ())
    except (OSError, ValueError, AttributeError, TypeError):
        return None, ()
    if not steps or not seconds:
        return None, ()
    return (int(steps), float(seconds)), overrides


def _record_score_only_resume(run_dir: Path, command: str | None) -> float:
    """A resume that only scores the run (training ended in an earlier session): ``train.json`` keeps its
    training seconds and start command and records the resume (``resumed``, ``resumed_with``). Returns the
    recorded training seconds."""
    import json

    path = run_dir / TRAIN_RECORD
    record = json.loads(path.read_text())
    record["resumed"] = True
    if command:
        record["resumed_with"] = command
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    return float(record.get("train_seconds", 0.0))


def _note_schedule_change(ckpt_path: Path, config: Config) -> None:
    """Log one line when a resume changes ``trainer.max_epochs`` and the LR schedule is paced by epochs: the
    schedule is stretched (or shrunk) from the resumed epoch on, the epochs before kept their LRs."""
    from unetkit.model_files.model_io import read_checkpoint

    ckpt = read_checkpoint(ckpt_path)
    before = (ckpt.get("hyper_parameters") or {}).get("max_epochs")
    now = config.trainer.max_epochs
    if before is None or int(before) == now or config.schedule.by == "time":
        return
    how = "stretched" if now > int(before) else "shrunk"
    log.warning(
        "trainer.max_epochs %d -> %d: the LR schedule is %s from epoch %d on (the epochs before kept the "
        "LRs of a %d-epoch run)", int(before), now, how, int(ckpt.get("epoch", 0)) + 1, int(before),
    )  # fmt: skip


def _interruption(run_dir: Path, trainer: Any, command: str | None = None) -> KeyboardInterrupt:
    """The KeyboardInterrupt naming the resume and the steps it redoes (exit 143 after SIGTERM, else 130)."""
    from unetkit.training.trainer import interruption

    return interruption(_resume_hint(run_dir, _record_interrupt(run_dir, trainer), command), trainer)


def _resume_hint(run_dir: Path, redo: tuple[int, int] | None = None, command: str | None = None) -> str:
    """The interrupted run's message; ``redo``: (the epoch last.ckpt ended, the steps after it to redo);
    ``command``: what started the run (``fit``'s), which a run interrupted before its first checkpoint is
    started with again: a command line, a ``fit_folder(...)`` call, or (None) a call of ``fit``."""
    if (run_dir / "checkpoints" / "last.ckpt").is_file():
        hint = f"training interrupted; resume with: unetkit fit --resume {shlex.quote(str(run_dir))}"
        if redo is not None:
            epoch, steps = redo
            hint += f" (it resumes from the end of epoch {epoch}"
            if steps:
                done = f"the {steps} steps" if steps > 1 else "the 1 step"
                hint += f": {done} of epoch {epoch + 1} done so far {'are' if steps > 1 else 'is'} redone"
            hint += ")"
        return hint
    if command is not None and command.startswith("fit_folder("):
        again = "call fit_folder again with the same arguments"  # from Python there is no command
    elif command is None:
        again = "start the run again"
    else:
        again = "run the same command again"
    return f"training interrupted before its first checkpoint, so nothing was kept; {again}"


# A run interrupted within an epoch resumes from the epoch-end last.ckpt: the steps trained since are
# trained again. Their seconds are charged neither to the time budget nor to train_seconds: the resumed
# run then gets the training an uninterrupted run gets (the same steps, the same LR clock), which keeps it
# closest to one; charging them would end it that many seconds of training early. Every message says so
# instead (trial 25 S2: a 120 s budget trained for about 141 s of wall clock, and the final line said all
# of its time was counted): the interrupted message names the steps to redo, the interrupt records their
# seconds here, train.json keeps them (redone_seconds) and the resume's final line says them.
INTERRUPTS_FILE = "interrupts.json"
CLOCK_STATE = "TrainingClock"  # the TrainingClock's state key in a checkpoint's "callbacks"


def _record_interrupt(run_dir: Path, trainer: Any) -> tuple[int, int] | None:
    """Append the interrupt to ``RUN/interrupts.json`` (rank 0): the checkpoint a resume starts from (its
    epoch and global step), the global step reached, and the training seconds since that checkpoint (the
    :class:`~unetkit.training.trainer.TrainingClock` at the interrupt less the seconds last.ckpt holds).
    Returns (the checkpoint's epoch, the steps to redo); None without a readable last.ckpt."""
    import json
    import pickle

    from unetkit.training.trainer import TrainingClock

    last = run_dir / "checkpoints" / "last.ckpt"
    try:
        # mmap: the epoch, step and clock only, not the weights.
        ckpt = torch.load(last, map_location="cpu", weights_only=True, mmap=True)
        epoch, step = int(ckpt.get("epoch", 0)), int(ckpt.get("global_step", 0))
        saved = (ckpt.get("callbacks") or {}).get(CLOCK_STATE, {}).get("train_seconds")
    except (OSError, RuntimeError, ValueError, EOFError, AttributeError, pickle.UnpicklingError):
        return None
    reached = int(trainer.global_step)
    entry: dict[str, Any] = {
        "resumes_from_epoch": epoch, "resumes_from_step": step, "interrupted_at_step": reached,
        "steps_redone": max(0, reached - step),
    }  # fmt: skip
    clock = next((c for c in trainer.callbacks if isinstance(c, TrainingClock)), None)
    if clock is not None and clock.interrupted_at is not None and saved is not None:
        entry["seconds_redone"] = round(max(0.0, clock.interrupted_at - float(saved)), 1)
    if trainer.is_global_zero:
        path = run_dir / INTERRUPTS_FILE
        entries = _interrupts(path)
        atomic_write_text(path, json.dumps([*entries, entry], indent=2) + "\n")
    return epoch, entry["steps_redone"]


def _interrupts(path: Path) -> list[dict[str, Any]]:
    """The interrupts recorded in ``path`` (:data:`INTERRUPTS_FILE`); [] where none or unreadable."""
    import json

    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _redone(run_dir: Path, resume_from: tuple[int, int]) -> Redone | None:
    """What the sessions before this resume trained and a resume redid (:class:`Redone`), from
    ``RUN/interrupts.json`` and, for a session killed without a word (SIGKILL: nothing recorded), from the
    rows ``RUN/logs/metrics.csv`` holds after the checkpoint resumed, ``resume_from`` (epoch, global
    step); None where nothing was redone."""
    entries = _interrupts(run_dir / INTERRUPTS_FILE)
    seconds = sum(float(e.get("seconds_redone", 0.0)) for e in entries)
    steps = sum(int(e.get("steps_redone", 0)) for e in entries)
    # The rows a session logged after the resumed checkpoint: an interrupt that recorded itself from that
    # checkpoint accounts for them, else that session was killed (its steps are known from the log only).
    logged = _logged_after(run_dir / "logs" / "metrics.csv", *resume_from)
    explained = any(
        int(e.get("resumes_from_step", -1)) == resume_from[1]
        and int(e.get("interrupted_at_step", -1)) >= logged
        for e in entries[-1:]
    )
    unclocked = logged - resume_from[1] if logged > resume_from[1] and not explained else 0
    if not entries and not unclocked:
        return None
    return Redone(seconds=seconds, steps=steps, sessions=len(entries), unclocked=unclocked)


def _logged_after(metrics_csv: Path, epoch: int, step: int) -> int:
    """The global step reached by the training rows ``metrics_csv`` holds after ``epoch`` (a row logged at
    step k: k + 1 steps done); ``step`` where none."""
    import csv

    reached = step
    try:
        with metrics_csv.open(newline="") as file:
            for row in csv.DictReader(file):
                if row.get("epoch") and int(float(row["epoch"])) > epoch and row.get("step"):
                    reached = max(reached, int(float(row["step"])) + 1)
    except (OSError, ValueError, csv.Error):
        return step
    return reached


def _window_json(window: Any) -> Any:
    """The spec's intensity window as config.json keeps it: [[lo, hi], ...], a per-image {"percentiles": ...}
    as it is, or None."""
    if not window:
        return None
    # {"percentiles": [lo, hi]}, with "min_span" when planned so: a list, one per channel (a number for all
    # channels in model folders written before)
    if isinstance(window, dict):
        return {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in window.items()}
    return [list(w) for w in window]
