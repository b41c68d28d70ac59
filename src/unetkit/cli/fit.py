"""``unetkit fit`` / ``unetkit validate`` / ``unetkit test``.

The CLI owns the process: it sets torch's thread count (``trainer.num_threads``), hands the run folder to
DDP child processes (they re-run this command: ``UNETKIT_RUN_DIR``) and tears the process group down.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unetkit.cli.plan import PlannedFit
    from unetkit.training.config import Config

# Rank 0 exports its run folder here while training; DDP children (which re-run the same command line and
# would otherwise compute their own timestamped name) read it back.
RUN_DIR_ENV = "UNETKIT_RUN_DIR"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit",
        help="train a model on a dataset folder (fit DIR --time 20m: planned from the data and the machine) "
        "or from a YAML config (any key overridable: key.sub=value)",
    )
    p.add_argument("--config", "-c", type=Path, help="YAML config (see configs/); defaults otherwise")
    p.add_argument(
        "--resume", type=Path, metavar="RUN_DIR", help="continue RUN_DIR from checkpoints/last.ckpt"
    )
    p.add_argument(
        "--replay", type=Path, metavar="RUN_DIR",
        help="retrain a time-budgeted RUN_DIR step for step from its recorded clock, into RUN_DIR-replay "
        "(or --out): bitwise-identical weights on the same kind of machine",
    )  # fmt: skip
    p.add_argument(
        "--out", type=Path, metavar="RUN_DIR",
        help="the new run folder (default runs/<dataset>-<model>-<time>; same as output.root + output.name)",
    )  # fmt: skip
    p.add_argument(
        "--seed", type=int, default=None, metavar="N",
        help="the seed of the training order, augmentation and initial weights (default 0; same as "
        "trainer.seed=N): the same seed and data repeat a run without a time budget bit for bit",
    )  # fmt: skip
    p.add_argument(
        "--score", choices=("test", "val"), default=None,
        help="the split scored at the end (default: test where the data has one); val while you compare "
        "runs, so the test split stays unseen until the one you keep (same as evaluate.split=...)",
    )  # fmt: skip
    p.add_argument(
        "overrides", nargs="*", metavar="[DIR] KEY=VALUE",
        help="a dataset folder first (optional), then e.g. trainer.max_epochs=5 data.batch_size=4",
    )  # fmt: skip
    p.add_argument(
        "--quiet", "-q", action="store_true",
        help="no progress bars and no INFO log lines, as predict -q (same as trainer.progress_bar=false "
        "for the bars); the plan, notes and scores still print",
    )  # fmt: skip
    from unetkit.cli.plan import add_fit_arguments

    add_fit_arguments(p)  # --time, --plan, discovery options: used with DIR
    p.set_defaults(func=run_fit)
    for name, split in (("validate", "val"), ("test", "test")):
        q = sub.add_parser(
            name, help=f"evaluate a run's model on the {split} split and print per-class metrics",
            description=f"Score RUN_DIR's model on the {split} split of its data and print per-class "
            f"metrics. Writes RUN_DIR/metrics_<split>.json and .md and the figures confusion_<split>.png and "
            f"predictions_<split>.png, replacing those of an earlier scoring of that split (the JSON "
            f"records the test-time augmentation used); curves.png is drawn again with a val scoring, and "
            f"drawn where it is missing.",
        )  # fmt: skip
        q.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder that unetkit fit wrote")
        q.add_argument(
            "--split",
            default=split,
            choices=("train", "val", "test"),
            help=f"dataset split (default {split})",
        )
        q.add_argument(
            "overrides", nargs="*", default=[], metavar="KEY=VALUE",
            help="config overrides, e.g. evaluate.tta=false or data.root=...",
        )  # fmt: skip
        q.set_defaults(func=run_evaluate)


def set_num_threads(config: Any) -> None:
    """``trainer.num_threads``: torch intra-op threads of this process (None: torch's default)."""
    if config.trainer.num_threads:
        import torch

        # Oversubscribed cores make OpenMP threads wait on each other: fewer threads can be several x faster.
        torch.set_num_threads(config.trainer.num_threads)


@contextlib.contextmanager
def _exported(name: str, value: str) -> Iterator[None]:
    """Set environment variable ``name`` while the block runs (child processes inherit it), then restore."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _run_dir(config: Any, resume: Path | None) -> Path:
    from unetkit.training.run_folder import is_secondary_rank, new_run_dir

    if resume is not None:
        return resume
    inherited = os.environ.get(RUN_DIR_ENV)
    if inherited and is_secondary_rank():
        return Path(inherited)  # a DDP child: the folder rank 0 created
    return new_run_dir(config)


def out_overrides(out: Path | None) -> list[str]:
    """``--out RUN_DIR`` as the config keys it stands for (none without it)."""
    from unetkit.training.run_folder import output_overrides

    return output_overrides(out, "--out")


def split_header(split: str, tta: Any, after_training: bool = True) -> str:
    """The line above the final scores: the split, and the TTA they were made with, which the epoch lines
    (one view) do not use (a trial read a best epoch's val mIoU 0.2951 above a table of 0.2915).
    ``after_training``: False for validate and test, which print no epoch lines to compare with."""
    from unetkit.inference.tta import resolve_tta

    views = resolve_tta(tta)
    if not views:
        return f"{split} split:"
    epochs = "; the epoch lines: one view" if after_training else ""
    return f"{split} split, scored with {len(views)}-view TTA ({','.join(views)}{epochs}):"


def score_overrides(split: str | None) -> list[str]:
    """``--score SPLIT`` as the config key it stands for (none without it)."""
    return [] if split is None else [f"evaluate.split={split}"]


def run_dir_fate(run_dir: Path) -> str:
    """What a failed ``fit`` left of the run folder it announced, looked up on disk: ``fit`` checks its inputs
    before it creates the folder, and removes a folder it created when no checkpoint was written."""
    from unetkit.training.run_folder import is_stale_run

    checkpoints = run_dir / "checkpoints"
    if (checkpoints / "last.ckpt").is_file():
        return (
            f"run folder {run_dir} kept (it holds {checkpoints / 'last.ckpt'}); continue it with: "
            f"unetkit fit --resume {shlex.quote(str(run_dir))}"
        )
    if checkpoints.is_dir() and any(checkpoints.glob("*.ckpt")):
        return f"run folder {run_dir} kept (it holds a checkpoint in {checkpoints})"
    if not run_dir.exists():
        return f"run folder {run_dir} not kept: nothing was trained"
    # A folder that existed before the run (fit removes only folders it created).
    then = "the same command replaces it" if is_stale_run(run_dir) else "delete it before running it again"
    return f"run folder {run_dir} holds no checkpoint: nothing was trained ({then})"


def run_fit(args: argparse.Namespace) -> int:
    from unetkit.cli.plan import plan_for_fit
    from unetkit.training.config import load_config

    if args.out is not None and args.resume is not None:
        raise ValueError(
            f"--out and --resume exclude each other: --resume continues {args.resume} in its own folder"
        )
    if args.seed is not None:
        # As the key it stands for (after DIR): a resume or replay refuses it as it refuses trainer.seed=N.
        args.overrides = [*args.overrides, f"trainer.seed={args.seed}"]
    if args.quiet:
        # A key that resume and replay accept (it changes no number); the CLI owns the process's logging.
        args.overrides = [*args.overrides, "trainer.progress_bar=false"]
        if not getattr(args, "verbose", False):
            logging.getLogger("unetkit").setLevel(logging.WARNING)
    if args.replay is not None:
        return _run_replay(args)
    if args.config is not None and args.resume is None:
        from unetkit.planning.presets import read_plan_preset

        preset = read_plan_preset(args.config)
        if preset is not None:  # a preset = a plan + thin overrides: becomes `fit DIR --time ... KEYS`
            preset.apply(args)
    _refuse_contradictions(args)
    # `unetkit fit DIR`: discovery + plan become the config file and overrides (the user's come last, --out's
    # last of all, and is checked before the data is fingerprinted and measured).
    args.overrides = [*args.overrides, *score_overrides(args.score), *out_overrides(args.out)]
    given = list(args.overrides)  # the user's, before the plan's come first
    planned = plan_for_fit(args, RUN_DIR_ENV)
    if planned is not None:
        args.config, args.overrides = planned.config_path, planned.overrides
    if args.resume is not None:
        cfg_path = args.resume / "config.yaml"
        if not cfg_path.is_file():
            raise FileNotFoundError(
                f"{cfg_path} not found; --resume needs a run folder written by `unetkit fit`."
            )
        _refuse_resume_overrides(args.resume, args.overrides)
        _refuse_a_finished_run(args.resume)
        config = load_config(cfg_path, args.overrides)
    else:
        config = load_config(args.config, args.overrides)
        from unetkit.training.run_folder import is_secondary_rank

        small = "" if is_secondary_rank() else small_crop_warning(config, planned, given)  # said once
        if small:
            print(f"warning: {small}", file=sys.stderr, flush=True)
        if planned is None and not is_secondary_rank():  # a plan's own line says it (cli.plan)
            from unetkit.training.config import unused_model_kwargs, unused_model_note

            # --config FILE model.name=segnet: the file's U-Net keywords are not SegNet's.
            unused = unused_model_note(*unused_model_kwargs(args.config, args.overrides))
            if unused:
                print(unused, flush=True)
    return _train(args, config, planned)


def _smallest_side(config: Config, crop: tuple[int, int]) -> tuple[int, str] | None:
    """The smallest input side ``config``'s model takes in one forward pass (its geometry's
    ``min_pass_side``, and an unpadded net's smallest valid side) and what that means for ``crop`` (H, W),
    from the model built on torch's ``meta`` device (shapes only); None for a fixed-size net or a model that
    does not build there."""
    import torch

    from unetkit.models import create_model
    from unetkit.models.base import model_geometry

    name = config.model.name
    # The geometry does not depend on the channel counts, which come from the dataset only at training.
    kwargs = {"in_channels": 1, "num_classes": 2, **config.model.kwargs}
    try:
        with torch.device("meta"):
            geometry = model_geometry(create_model(name, **kwargs))
    except Exception:  # a model that cannot build here fails with its own message when training builds it
        return None
    if geometry.fixed_input_size is not None:
        return None
    side = max(geometry.min_pass_side, geometry.input_side(1))
    if geometry.pad_multiple == side:
        padded = [-(-c // side) * side for c in crop]
        share = 1 - crop[0] * crop[1] / (padded[0] * padded[1])
        why = f"{name} pads each crop up to a multiple of {side} px: {share:.0%} of what it sees is padding"
    else:
        why = f"the smallest input side {name} takes"
    return side, why


def small_crop_warning(config: Config, planned: PlannedFit | None, given: list[str]) -> str:
    """One line when ``data.crop_size`` set on the command line (``given``) makes crops smaller than the
    model's smallest forward pass or than the median object extent of the plan's fingerprint (a trial's
    ``data.crop_size=7`` trained a depth-4 U-Net, which pads to 16 px, on 7 px crops without a word),
    naming what the plan chose and why; '' otherwise."""
    if not any(item.split("=", 1)[0].strip() == "data.crop_size" for item in given):
        return ""
    crop = config.data.crop_size
    chose = planned.crop_choice if planned is not None else None
    if crop is None or (chose is not None and chose[0] == tuple(crop)):
        return ""
    below, least = [], 0
    smallest = _smallest_side(config, (crop[0], crop[1]))
    if smallest is not None and min(crop) < smallest[0]:
        below.append(f"the {smallest[0]} px side of the model's smallest forward pass ({smallest[1]})")
        least = smallest[0]
    fingerprint = planned.fingerprint if planned is not None else None
    if fingerprint is not None and any(c.objects and not c.stuff for c in fingerprint.classes):
        from unetkit.planning.plan import object_extent

        extent = object_extent(fingerprint)[0]
        if min(crop) < extent:
            below.append(f"the median object extent {extent:.0f} px (most objects do not fit in a crop)")
            least = max(least, math.ceil(extent))
    if not below:
        return ""
    text = f"data.crop_size gives {crop[1]}x{crop[0]} (WxH) crops, below {' and below '.join(below)}"
    if chose is None:
        return f"{text}; raise data.crop_size to at least {least}"
    if chose[0] is None:
        return f"{text}; the plan trains whole images ({chose[1] or 'its choice'}): drop data.crop_size"
    plan_crop = f"{chose[0][1]}x{chose[0][0]} (WxH)"
    why = chose[1] if chose[1].startswith(plan_crop) else f"{plan_crop}{': ' + chose[1] if chose[1] else ''}"
    return f"{text}; the plan chose {why}: drop data.crop_size to train it"


def _refuse_contradictions(args: argparse.Namespace) -> None:
    """An option and a ``key=value`` that set the same config key to different values (``--score val
    evaluate.split=test``): one line naming both, instead of one silently winning. (``--out`` names the run
    folder over ``output.*`` keys, as documented.)"""
    import yaml

    given: dict[str, tuple[str, object]] = {}
    if args.score is not None:
        given["evaluate.split"] = (f"--score {args.score}", args.score)
    if getattr(args, "threads", None) is not None:
        given["trainer.num_threads"] = (f"--threads {args.threads}", args.threads)
    if getattr(args, "precision", None) is not None:
        given["trainer.precision"] = (f"--precision {args.precision}", args.precision)
    for item in args.overrides:
        key, sep, text = item.partition("=")
        if not sep or key.strip() not in given:
            continue
        flag, value = given[key.strip()]
        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError:
            parsed = text
        if str(parsed) != str(value):
            raise ValueError(f"{flag} and {item} contradict each other; give one of them")


# Overrides a resumed run takes: more epochs, threads, the console, the final scoring. Any other key would not
# take effect (the optimizer, schedule and data state come back from the checkpoint) yet be written into
# RUN/config.yaml, and a replay of the run would then train something else (a trial's optim.lr=0.1).
RESUME_OVERRIDES = ("trainer.max_epochs", "trainer.num_threads", "trainer.progress_bar", "evaluate.")


def _refuse_resume_overrides(run: Path, overrides: list[str]) -> None:
    allowed = ", ".join(k + ("*" if k.endswith(".") else "") for k in RESUME_OVERRIDES)
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        if not any(key == k or (k.endswith(".") and key.startswith(k)) for k in RESUME_OVERRIDES):
            raise ValueError(
                f"--resume continues {run} with the options it started with; {item} would not take effect "
                f"(the checkpoint restores the training state): drop it, or start a new run with it "
                f"(a resume takes {allowed})"
            )


def _refuse_a_finished_run(run: Path) -> None:
    """A run with its model and final scores has nothing to resume (a trial's resume re-scored a finished run
    and rewrote its outputs)."""
    from unetkit.training.config import load_config
    from unetkit.training.run_folder import score_again_command

    split = load_config(run / "config.yaml").evaluate.split
    if (run / "model" / "config.json").is_file() and (run / f"metrics_{split}.json").is_file():
        raise ValueError(
            f"{run} is finished (model/ and metrics_{split}.json written): nothing to resume; score it again "
            f"with {score_again_command(run, split)}, or train a new run"
        )


def _run_replay(args: argparse.Namespace) -> int:
    """``unetkit fit --replay RUN [output.name=...]``: RUN's config, a new folder next to RUN."""
    from unetkit.cli.plan import dir_flags
    from unetkit.training.budget import read_recorded_clock
    from unetkit.training.config import load_config

    run = Path(args.replay)
    if args.resume is not None:
        raise ValueError("--replay and --resume exclude each other: --resume continues a run in its folder, "
                         "--replay retrains a finished one into a new folder")  # fmt: skip
    # --threads is honoured (trainer.num_threads, as with --plan): threads leave the steps as they were.
    given = [*(["--config"] if args.config is not None else []), *dir_flags(args)]
    given = [flag for flag in given if flag != "--threads"]
    given += [o for o in args.overrides if "=" not in o]
    if given:
        raise ValueError(f"--replay trains {run} with its own config.yaml; drop {given[0]}")
    _refuse_replay_overrides(run, args.overrides)
    _refuse_contradictions(args)
    read_recorded_clock(run)  # a run that cannot be replayed: one line, before anything is loaded
    # Overrides the user gives come last (e.g. output.name=...); REPLAY_OVERRIDES keeps the others out.
    threads = [f"trainer.num_threads={args.threads}"] if args.threads is not None else []
    overrides = [f"output.root={run.parent}", f"output.name={run.name}-replay", *threads, *args.overrides,
                 *score_overrides(args.score), *out_overrides(args.out)]  # fmt: skip
    config = load_config(run / "config.yaml", overrides)
    return _train(args, config, _replayed_plan_files(run))


# Overrides a replay takes: those of a resume that leave the training as it was (threads, the console, the
# final scoring) and where the new folder goes. Any other key (data.batch_size=2) trains another model, which
# would be labelled a replay of the run.
REPLAY_OVERRIDES = ("trainer.num_threads", "trainer.progress_bar", "evaluate.", "output.")


def _refuse_replay_overrides(run: Path, overrides: list[str]) -> None:
    allowed = ", ".join(k + ("*" if k.endswith(".") else "") for k in REPLAY_OVERRIDES)
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        if "=" in item and not any(
            key == k or (k.endswith(".") and key.startswith(k)) for k in REPLAY_OVERRIDES
        ):
            raise ValueError(
                f"--replay trains {run} again step for step with its own options; {item} would train another "
                f"model: drop it, or start a new run with it (a replay takes {allowed})"
            )


def _replayed_plan_files(run: Path) -> PlannedFit | None:
    """The replayed run's ``plan.yaml`` (under a line naming the replay), ``dataset.json`` and ``plan.png``,
    for the replay's folder; None when the run has none (a run trained from a config file)."""
    from unetkit.cli.plan import PlannedFit

    files: dict[str, str | bytes] = {}
    plan = run / "plan.yaml"
    if plan.is_file():
        files["plan.yaml"] = (
            f"# this run replays {run.resolve()}, which trained this plan\n{plan.read_text()}"
        )
    if (run / "dataset.json").is_file():
        files["dataset.json"] = (run / "dataset.json").read_text()
    if (run / "plan.png").is_file():
        files["plan.png"] = (run / "plan.png").read_bytes()
    return PlannedFit(None, [], files) if files else None


def _train(args: argparse.Namespace, config: Config, planned: PlannedFit | None) -> int:
    """Train ``config`` (a new run, ``--resume`` or ``--replay``), then write ``planned``'s files into the run
    folder when it was made from a plan."""
    import torch

    from unetkit.cli.console import LazyBar
    from unetkit.training.fit import fit

    set_num_threads(config)
    run_dir = _run_dir(config, args.resume)
    # The final scoring of a split of large images (with TTA) can take minutes: a bar, like training's.
    bar = LazyBar(f"scoring {config.evaluate.split}", enabled=config.trainer.progress_bar)
    # Instance labels: the post-processing is chosen on val first, as long again (it predicts val).
    choosing = LazyBar("choosing instance post-processing on val", enabled=config.trainer.progress_bar)
    from unetkit.training.run_folder import is_secondary_rank

    announced: list[Path] = []

    def announce(folder: Path) -> None:
        # Once the inputs are checked and the folder exists: training can take the whole budget.
        if not is_secondary_rank():
            print(f"run folder: {folder}", flush=True)
            announced.append(folder)
            if planned is not None:  # now, not at the end: a run killed later keeps its plan beside it
                planned.write(folder)

    try:
        with _exported(RUN_DIR_ENV, str(run_dir.resolve())):
            # The command as typed, kept in RUN/train.json: what a benchmark names as the run's command.
            command = getattr(args, "command_line", None)
            result = fit(config, resume=args.resume, run_dir=run_dir, command=command, eval_progress=bar,
                         replay=args.replay, announce=announce, select_progress=choosing,
                         predicted=planned.predicted if planned is not None else None,
                         step_overrides=planned.step_overrides if planned is not None else ())  # fmt: skip
    except Exception as exc:
        if announced:  # the folder named above: say whether it is there (main prints notes after the error)
            exc.add_note(run_dir_fate(run_dir))
        raise
    finally:
        choosing.close()
        bar.close()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    if not result.is_global_zero:
        return 0
    if result.shortfall:  # unetkit.planning.shortfall's rule, applied by fit to the steps made
        print(f"note: {result.shortfall}", file=sys.stderr)
    if result.checkpoint_note:
        print(f"note: {result.checkpoint_note}", file=sys.stderr)
    if result.scored_only:
        done = f"scored the saved model; training took {result.train_seconds:.0f} s in the earlier session(s)"
    else:
        done = f"training took {result.train_seconds:.0f} s"
        if args.resume is not None:
            # What the budget counted: the redone part of an interrupted epoch is not in it (training.fit's
            # INTERRUPTS_FILE says why), and the line says so.
            minutes = config.trainer.max_time_minutes
            done += f" counted against the {minutes:g}m budget" if minutes else " in all"
            done += ", the sessions before this resume included"
            redone = result.redone.text() if result.redone is not None else ""
            if redone:
                done += f"; {redone}"
    print(f"\nrun folder: {result.run_dir}  ({done})")
    if _budgeted(result.run_dir):
        # The wall clock paced this run: only a replay of its recorded clock trains it again bit for bit.
        print(
            f"to train this run again step for step: unetkit fit --replay {shlex.quote(str(result.run_dir))}"
        )
    print(f"{split_header(config.evaluate.split, config.evaluate.tta)}\n{result.table}")
    for line in instance_choice_lines(result.run_dir):
        print(line)
    return 0


def instance_choice_lines(run_dir: Path) -> list[str]:
    """What fit chose for the instance post-processing on val (``RUN/instance_selection.json``), one line,
    with the tuned values of a method compared but not chosen, and a note when min_size is at the grid's
    edge; [] when nothing was chosen (no instance labels)."""
    from unetkit.training.evaluate import INSTANCE_SELECTION

    path = Path(run_dir) / INSTANCE_SELECTION
    if not path.is_file():
        return []
    record = json.loads(path.read_text())

    def values(v: dict[str, Any]) -> str:
        return ", ".join(f"{k} {x}" for k, x in v.items())

    method = record.get("method")
    chosen = values(record.get("values") or {})
    line = f"instances: {method} ({chosen}), chosen on val (mAP {record['val_map']:.3f})"
    for name, entry in (record.get("per_method") or {}).items():
        if name != method:
            edge = ", min_size at the grid's edge" if entry.get("note") else ""
            line += (
                f"; {name}'s best: {values(entry['values'])} (val mAP {entry['val_map']:.3f}{edge}), "
                f"used by --instances {name}"
            )
    return [line, *([f"note: {record['note']}"] if record.get("note") else [])]


def _budgeted(run_dir: Path) -> bool:
    """Whether ``run_dir`` was stopped by its time budget (``budget_stop_step`` in train.json): what
    ``--replay`` retrains."""
    try:
        return bool(json.loads((Path(run_dir) / "train.json").read_text()).get("budget_stop_step"))
    except (OSError, ValueError):
        return False


def _shortfall_note(run_dir: Path, planned: PlannedFit | None) -> str:
    """The shortfall note (:func:`unetkit.planning.shortfall.shortfall_note`) of a trained run folder,
    from its ``train.json`` and the plan's prediction; fit itself returns it as ``RunResult.shortfall``."""
    from unetkit.planning.shortfall import shortfall_note

    try:
        record = json.loads((Path(run_dir) / "train.json").read_text())
    except (OSError, ValueError):
        return ""
    predicted = planned.predicted if planned is not None else None
    overrides = planned.step_overrides if planned is not None else ()
    return shortfall_note(predicted, record.get("budget_stop_step"), record.get("train_seconds"), overrides)


def run_evaluate(args: argparse.Namespace) -> int:
    from unetkit.cli.console import LazyBar
    from unetkit.training.config import load_config
    from unetkit.training.evaluate import evaluate
    from unetkit.training.fit import draw_curves

    cfg_path = args.run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{cfg_path} not found; pass a run folder written by `unetkit fit`.")
    config = load_config(cfg_path, args.overrides)
    set_num_threads(config)
    metrics = args.run_dir / f"metrics_{args.split}.json"
    earlier = metrics.is_file()
    bar = LazyBar(f"scoring {args.split}", enabled=config.trainer.progress_bar)
    try:
        scores, table = evaluate(args.run_dir, split=args.split, config=config, progress=bar)
    finally:
        bar.close()
    print(f"{split_header(args.split, config.evaluate.tta, after_training=False)}\n{table}")
    # curves.png marks the final validation scoring: drawn again with a new one, and drawn where it is missing
    # (a run whose drawing failed after its scoring had no way to get it back).
    curves = args.run_dir / "figures" / "curves.png"
    redrawn = ""
    if (args.split == "val" or not curves.is_file()) and draw_curves(args.run_dir, config, scores):
        redrawn = ", figures/curves.png"
    # The run's files now hold this scoring: say so, with what changed it (a trial's `validate RUN
    # evaluate.tta=false` replaced the run's TTA score without a word).
    settings = f" (with {' '.join(args.overrides)})" if args.overrides else ""
    replaced = ", replacing the earlier scoring" if earlier else ""
    print(f"wrote {metrics} and .md, figures/confusion_{args.split}.png{redrawn}{settings}{replaced}")
    return 0
