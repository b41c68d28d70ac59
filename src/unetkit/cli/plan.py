"""``unetkit plan DIR [--time 20m] [--device auto|cpu|cuda] [--out plan.yaml]``: discover, measure, plan.

Prints what was discovered in the folder, the fingerprint of its training split, the measured speed of the
candidate U-Nets and the plan with a reason per value; writes ``plan.yaml`` (a config for ``unetkit fit
--config``, every key still overridable), ``dataset.json`` (the discovery) and ``plan.png`` (the plan at a
glance: :mod:`unetkit.viz.plan_figure`) next to it. Nothing is written when any step fails. The CLI owns
the process: ``--threads`` sets torch's thread count here.
"""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unetkit.files import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    from unetkit.planning.folder import PlannedDataset


def add_discovery_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``unetkit plan DIR`` that ``unetkit fit DIR`` shares: budget, device, discovery."""
    p.add_argument(
        "--time", dest="budget", help="training time budget: 20m, 1h, 90s, 1h30m (default: picked)"
    )
    p.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default=None,
        help="device to measure, plan and train on (default auto: cuda when torch sees a GPU, else cpu)",
    )  # fmt: skip
    p.add_argument(
        "--mask-kind",
        choices=("binary", "index", "palette", "instances", "remap"),
        help="mask encoding (default: detected from the mask values; give it when they are ambiguous)",
    )
    p.add_argument(
        "--void", type=int, action="append", metavar="VALUE", help="stored mask value to ignore (repeatable)"
    )
    p.add_argument(
        "--target",
        metavar="semantic|boundary|energy",
        help="instance label masks only: train object/background (semantic), background/interior/boundary "
        "(boundary: the U-Net paper's touching-cell separation) or the Deep Watershed Transform's energy "
        "levels (energy)",
    )
    p.add_argument(
        "--classes",
        type=Path,
        metavar="FILE",
        help="classes.json/.csv naming the classes (default: DIR/classes.json or DIR/classes.csv)",
    )
    p.add_argument(
        "--split",
        metavar="SPEC",
        help="split ranges over the sorted names, e.g. train=0:20,val=20:24,test=24:30",
    )
    p.add_argument(
        "--unmatched", choices=("error", "skip"), default=None,
        help="an image without a mask (or a mask without an image), or a mask or ROI of another size than "
        "its image: error (default), or skip the pair (listed in dataset.json's skipped); with skip, an "
        "image that a train/val/test list names but that has no mask is skipped too and left out of its list",
    )  # fmt: skip
    for flag, what, usual in (
        ("--images", "images", "images/"),
        ("--masks", "masks", "masks/, labels/, annotations/, gt/, 1st_manual/"),
        ("--roi", "field-of-view / ROI masks (pixels outside are ignored)", "roi/, fov/"),
    ):
        p.add_argument(
            flag, metavar="NAME", dest=f"{flag[2:]}_dir",
            help=f"folder of the {what}, under DIR or each split folder (default: {usual})",
        )  # fmt: skip
    p.add_argument("--threads", type=int, help="torch threads to measure (and train) with")
    # 1.25 is plan.BF16_MIN_SPEEDUP, not imported here: the planner's import costs ~0.25 s at start-up.
    p.add_argument(
        "--precision", choices=("32-true", "bf16-mixed", "16-mixed"), default=None,
        help="training precision (default: bf16 autocast where measured >= 1.25x faster than fp32 here, "
        "else fp32)",
    )  # fmt: skip
    # None when not given (fit --plan, --resume and --replay refuse what they cannot honour): plan_dataset
    # applies the defaults.
    p.add_argument(
        "--measure-limit", type=float, default=None,
        help="seconds spent timing candidates, the thread probe included (the candidates keep at least "
        "half; default 30); the first width is still timed in both precisions and bf16 re-timed in two "
        "rounds, so on large crops it can run over: the notes say by what",
    )  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan", help="plan training for a dataset folder: discover, fingerprint, measure, plan"
    )
    p.add_argument(
        "root", type=Path, metavar="DIR", help="dataset folder with images/ and masks/ (or labels/)"
    )
    p.add_argument("--out", type=Path, default=Path("plan.yaml"), help="plan file (default plan.yaml)")
    p.add_argument(
        "--dataset-out",
        type=Path,
        help="discovery + fingerprint JSON (default: beside --out, dataset.json or <stem>.dataset.json)",
    )
    add_discovery_arguments(p)
    p.set_defaults(func=run_plan)


def parse_split(spec: str) -> dict[str, tuple[int, int]]:
    """``"train=0:20,val=20:24"`` -> ``{"train": (0, 20), "val": (20, 24)}``; a name other than train, val
    or test is a ValueError with the closest of them (fit needs those names)."""
    from unetkit.planning.discovery import check_split_name

    out: dict[str, tuple[int, int]] = {}
    for part in spec.split(","):
        name, _, rng = part.partition("=")
        start, _, stop = rng.partition(":")
        if not (name.strip() and start.strip().isdigit() and stop.strip().isdigit()):
            raise ValueError(f"--split part {part!r} must look like train=0:20 (name=start:stop)")
        check_split_name(name.strip(), f"--split part {part!r}")
        if name.strip() in out:
            raise ValueError(f"--split names split {name.strip()!r} twice ({spec!r}); give each split once")
        out[name.strip()] = (int(start), int(stop))
    return out


def scored_split(overrides: Sequence[str]) -> str | None:
    """The split the last ``evaluate.split=...`` of ``overrides`` scores (``--score val`` is one); None
    without one."""
    split = None
    for item in overrides:
        key, sep, value = item.partition("=")
        if sep and key.strip() == "evaluate.split":
            split = value.strip()
    return split


def plan_dataset(
    args: argparse.Namespace, root: Path, command: str = "plan", score: str | None = None
) -> PlannedDataset:
    """:func:`~unetkit.planning.folder.plan_folder` with the options of :func:`add_discovery_arguments` in
    ``args``; ``score``: the split a fit scores (its plan estimates that scoring). The CLI owns the process:
    ``--threads`` (or the probe's choice) stays set afterwards."""
    import torch

    from unetkit.planning.folder import plan_folder

    planned = plan_folder(
        root,
        budget=args.budget,
        device=args.device or "auto",
        threads=args.threads,
        precision=args.precision,
        measure_limit=30.0 if args.measure_limit is None else args.measure_limit,
        images=args.images_dir,
        masks=args.masks_dir,
        roi=args.roi_dir,
        mask_kind=args.mask_kind,
        void=args.void,
        split=parse_split(args.split) if args.split else None,
        unmatched=args.unmatched or "error",
        classes=args.classes,
        target=args.target,
        command=command,
        score=score,
    )
    threads = planned.plan.config.get("trainer", {}).get("num_threads")
    if threads:
        torch.set_num_threads(int(threads))
    return planned


def write_plan_files(
    planned: PlannedDataset, plan_path: Path, dataset_path: Path, figure_path: Path | None = None
) -> None:
    """Write ``dataset.json``, ``plan.yaml`` and the figure (default :func:`figure_file`) atomically: a reader
    never sees half a file. The figure is drawn and every path checked first, so a failure while drawing, or
    a path that is a folder, writes nothing."""
    from unetkit.planning.plan_file import figure_file

    figure_path = figure_path or figure_file(plan_path)
    for path in (dataset_path, plan_path, figure_path):
        if path.is_dir():
            raise ValueError(f"{path} is a folder, so the plan cannot be written there; remove or rename it")
    png = planned.figure_png()
    atomic_write_text(dataset_path, json.dumps(planned.dataset, indent=1) + "\n")
    atomic_write_text(plan_path, planned.plan_yaml)
    atomic_write_bytes(figure_path, png)


def _check_writable(path: Path, option: str, *, file: bool = False, given: Path | None = None) -> None:
    """:func:`unetkit.planning.checks.check_writable`, imported when called (the planning package costs
    ~0.4 s to import, and every ``unetkit`` command imports this module to build its parser)."""
    from unetkit.planning.checks import check_writable as checked

    checked(path, option, file=file, given=given)


# Keys every discovery file unetkit writes holds (dataset.json): a file without them is someone else's.
DISCOVERY_KEYS = ("root", "splits", "mask", "pairs")


def check_not_foreign_dataset_file(path: Path) -> None:
    """Refuse to replace a ``dataset.json`` that unetkit did not write: an nnU-Net or MSD folder holds its
    own under that name, and ``unetkit plan .`` inside it had replaced it without a word."""
    if not path.is_file():
        return
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        data = None
    if isinstance(data, dict) and all(key in data for key in DISCOVERY_KEYS):
        return  # an earlier plan's: replaced, as plan.yaml is
    raise ValueError(
        f"{path} exists and is not a file unetkit wrote (an nnU-Net or MSD dataset.json?), so plan does not "
        "replace it; pass --dataset-out FILE, or --out NAME.yaml (it writes NAME.dataset.json)"
    )


def run_plan(args: argparse.Namespace) -> int:
    from unetkit.planning.plan_file import dataset_file, figure_file

    out = Path(args.out)
    dataset_out = Path(args.dataset_out) if args.dataset_out else dataset_file(out)
    figure_out = figure_file(out)
    # Every output's path before planning and before any is written (a plan.png folder had failed after
    # plan.yaml and dataset.json were written, naming the atomic write's temp file).
    _check_writable(out, "--out", file=True)
    if args.dataset_out:
        _check_writable(dataset_out, "--dataset-out", file=True)
    else:
        _check_writable(dataset_out, "--out", file=True, given=out)
    _check_writable(figure_out, "--out", file=True, given=out)
    check_not_foreign_dataset_file(dataset_out)
    # Absolute paths in the plan: `fit DIR --plan FILE` then works from any working folder.
    planned = plan_dataset(args, Path(args.root).resolve())
    write_plan_files(planned, out, dataset_out, figure_out)
    import shlex

    # The next step, with the file: `fit DIR` alone plans again, measuring the machine again, and a busy
    # machine's timings can turn a choice (a trial's plan said fp32 at a 1.24x bf16 speed-up, its fit a minute
    # later bf16 at 1.61x, unsaid).
    again = (
        f"train it as planned: unetkit fit {shlex.quote(str(args.root))} --plan {shlex.quote(str(out))} "
        f"(fit {shlex.quote(str(args.root))} alone plans again, and on a busy machine its timings can choose "
        "differently)"
    )
    print(
        "\n".join(
            [*planned.lines, f"wrote {out} and {dataset_out}; the plan at a glance: {figure_out}", again]
        )
    )
    return 0


# ------------------------------------------------------------------------------------------ fit DIR


@dataclass
class PlannedFit:
    """``unetkit fit DIR``: the config to load (file and overrides) and the files for the run folder."""

    config_path: Path | None
    overrides: list[str]
    # File name in the run folder -> content: plan.yaml, dataset.json (text) and plan.png (bytes).
    files: dict[str, str | bytes]
    # (optimizer steps, seconds per step) the plan predicted for the budget; None for a reused plan file.
    predicted: tuple[int, float] | None = None
    # The command line's key=value overrides that change a step's cost (the plan timed its own choices).
    step_overrides: tuple[str, ...] = ()
    # The plan's own crop ((H, W), None: whole images) and its reason, for a warning about a crop set on the
    # command line; None for a run without a plan.
    crop_choice: tuple[tuple[int, int] | None, str] | None = None
    # The training split's fingerprint (unetkit.planning.Fingerprint) the plan was made from; None if unknown.
    fingerprint: Any = None

    def write(self, run_dir: Path) -> None:
        """Write the files into ``run_dir``, which ``fit`` created (atomically, one file at a time)."""
        from unetkit.planning.folder import write_run_files

        write_run_files(run_dir, self.files)


def step_cost_overrides(overrides: list[str]) -> tuple[str, ...]:
    """:func:`unetkit.planning.shortfall.step_cost_overrides` (imported when called: see
    :func:`_check_writable`)."""
    from unetkit.planning.shortfall import step_cost_overrides as of

    return of(overrides)


def at_run_budget(
    predicted: tuple[int, float] | None, plan: dict, overrides: list[str]
) -> tuple[int, float] | None:
    """The plan's ``predicted`` (steps, seconds per step) at the budget the run trains, the plan's or one set
    on the command line (``trainer.max_time_minutes=1`` over the plan's 30):
    :func:`unetkit.planning.shortfall.prediction_at_budget`."""
    from unetkit.planning.shortfall import prediction_at_budget
    from unetkit.training.config import parse_override

    planned = (plan.get("trainer") or {}).get("max_time_minutes")
    minutes = planned
    for item in overrides:
        if item.split("=", 1)[0].strip() == "trainer.max_time_minutes":
            minutes = parse_override(item)["trainer"]["max_time_minutes"]
    return prediction_at_budget(predicted, planned, minutes)


def add_fit_arguments(p: argparse.ArgumentParser) -> None:
    """``unetkit fit DIR``'s options: ``--plan FILE`` and those of ``unetkit plan``."""
    p.add_argument(
        "--plan", type=Path, metavar="FILE", help="with DIR: train this plan.yaml (from unetkit plan) as is"
    )
    add_discovery_arguments(p)


def dir_flags(args: argparse.Namespace) -> list[str]:
    """The ``fit DIR`` options given on the command line (they need DIR)."""
    flags = {"--time": args.budget, "--plan": args.plan, "--mask-kind": args.mask_kind, "--void": args.void,
             "--classes": args.classes, "--split": args.split, "--threads": args.threads,
             "--target": args.target, "--images": args.images_dir, "--masks": args.masks_dir,
             "--roi": args.roi_dir, "--device": args.device, "--precision": args.precision,
             "--unmatched": args.unmatched, "--measure-limit": args.measure_limit}  # fmt: skip
    return [flag for flag, value in flags.items() if value is not None]


# data.options that decide how masks are read: discovery and the plan (class count, class statistics,
# weights) are made from them, so overriding them after planning would train a model the plan does not fit.
_MASK_OPTIONS = {
    "mask_kind": "--mask-kind KIND",
    "mapping": "a classes.json (value, name, void) in the folder or --classes FILE",
    "num_classes": "a classes.json in the folder or --classes FILE",
    "class_names": "a classes.json in the folder or --classes FILE",
    "colors": "a classes.json with colours or --classes FILE",
    "ignore_colors": "a classes.json with void colours or --classes FILE",
    "ignore_values": "--void VALUE",
}


def _refuse_mask_overrides(overrides: list[str]) -> None:
    """``fit DIR data.options.mask_kind=...``: a one-line error naming the option that plans with it."""
    import yaml

    for item in overrides:
        key, _, value = item.partition("=")
        key = key.strip()
        names: list[str] = []
        if key.startswith("data.options."):
            names = [key.removeprefix("data.options.").split(".", 1)[0]]
        elif key in ("data.options", "data"):
            try:
                parsed = yaml.safe_load(value)
            except yaml.YAMLError:
                parsed = None
            if isinstance(parsed, dict):
                inner = parsed.get("options") if key == "data" else parsed
                names = [str(k) for k in inner] if isinstance(inner, dict) else []
        for name in names:
            if name in _MASK_OPTIONS:
                raise ValueError(
                    f"{key} sets {name}, which changes how the masks are read, and the plan was made from "
                    f"them; plan with it instead: {_MASK_OPTIONS[name]} (other overrides are fine)"
                )


def plan_for_fit(args: argparse.Namespace, run_dir_env: str) -> PlannedFit | None:
    """``unetkit fit DIR [--time T] [--plan FILE] [KEY=VALUE...]``: the plan's overrides, then the user's.

    None when the first positional argument is not a folder (``unetkit fit --config ...``). Prints the plan
    with its reasons; writes nothing (:meth:`PlannedFit.write` does, once fit created the run folder). A DDP
    child (``run_dir_env`` set by rank 0) loads rank 0's resolved config instead of planning again.
    """
    import os

    first = args.overrides[0] if args.overrides else None
    if first is None or "=" in first:
        given = dir_flags(args)
        if given and getattr(args, "resume", None) is not None:
            raise ValueError(
                f"--resume continues {args.resume} with its own plan and budget (its config.yaml); drop "
                f"{given[0]}, or start a new run with unetkit fit DIR {given[0]} ..."
            )
        if given:
            raise ValueError(f"{given[0]} plans a dataset folder: write unetkit fit DIR {given[0]} ...")
        return None
    root = Path(first)
    if root.is_file() and root.suffix not in (".yaml", ".yml"):
        raise ValueError(
            f"{first} is a file, not a folder; pass the dataset folder holding images/ and masks/ "
            "(unetkit fit DIR --time 20m)"
        )
    if not root.is_dir():
        hint = " (a config file goes after --config)" if root.suffix in (".yaml", ".yml") else ""
        if not root.exists() and not root.is_symlink():
            # A path, not a KEY=VALUE (it has no "="): the likely slip is a typo in it or the wrong folder.
            raise ValueError(
                f"dataset folder {first} does not exist{hint}; check the path (unetkit fit DIR --time 20m, "
                "DIR holding images/ and masks/)"
            )
        raise ValueError(
            f"{first} is neither a dataset folder nor KEY=VALUE{hint}; pass a folder with images/ and masks/ "
            "(unetkit fit DIR --time 20m) or overrides such as trainer.max_epochs=5"
        )
    if args.resume is not None:
        raise ValueError(f"--resume continues a run with its own config; drop the folder {first}")
    root = root.resolve()  # the run's config.yaml names the data wherever it is resumed or tested from
    user = list(args.overrides[1:])
    _refuse_mask_overrides(user)
    from unetkit.training.run_folder import is_secondary_rank

    inherited = os.environ.get(run_dir_env)
    if inherited and is_secondary_rank():
        return PlannedFit(Path(inherited) / "config.yaml", [], {})
    if args.plan is not None:
        return _reuse_plan(args, root, user)
    from unetkit.planning.checks import check_run_output, check_unknown_names
    from unetkit.planning.plan import PLANNED_MODEL

    # model.name=segnet model.kwargs.depht=3: refused now, with the model's keywords, not after measuring.
    check_unknown_names(user, model=PLANNED_MODEL)
    check_run_output(user, out_given=getattr(args, "out", None) is not None)
    planned = plan_dataset(args, root, command="fit", score=scored_split(user))
    from unetkit.planning import to_config_overrides
    from unetkit.planning.folder import unused_plan_model
    from unetkit.planning.plan_file import unused_plan_model_note
    from unetkit.training.config import changed_overrides

    overrides = to_config_overrides(planned.plan, planned.layout)
    lines = [*planned.lines]
    out = getattr(args, "out", None)  # --out's own overrides: the run folder line names it
    given_out = {f"output.root={out.parent}", f"output.name={out.name}"} if out is not None else set()
    # Only what changes the plan's config is named (--score val where the plan scores val changes nothing).
    shown = changed_overrides(None, overrides, [o for o in user if o not in given_out])
    if shown:
        lines.append(f"overridden on the command line: {' '.join(shown)}")
    unused = unused_plan_model(planned.plan.config.get("model"), user)
    if unused[1]:  # model.name=segnet: the plan's U-Net width and depth are not SegNet's keywords
        lines.append(unused_plan_model_note(*unused, PLANNED_MODEL))
    print("\n".join(lines), flush=True)
    note = f"# overridden on the command line: {' '.join(shown)}\n" if shown else ""
    files = planned.run_files(note, shown)
    from unetkit.planning.shortfall import summary_prediction

    predicted = at_run_budget(summary_prediction(planned.plan.summary), planned.plan.config, shown)
    crop = (planned.plan.config.get("data") or {}).get("crop_size")
    return PlannedFit(
        args.config, [*overrides, *user], files, predicted, step_cost_overrides(shown),
        crop_choice=(_crop_pair(crop), planned.plan.reasons.get("data.crop_size", "")),
        fingerprint=planned.fingerprint,
    )  # fmt: skip


def _crop_pair(crop: Any) -> tuple[int, int] | None:
    """A plan's ``data.crop_size`` ([H, W] or one int) as (H, W); None for whole images or a value that is
    neither (a plan edited by hand: the config check names it)."""
    if isinstance(crop, int) and not isinstance(crop, bool):
        return crop, crop
    if isinstance(crop, (list, tuple)) and len(crop) == 2 and all(isinstance(c, int) for c in crop):
        return int(crop[0]), int(crop[1])
    return None


def _reason_above(text: str, section: str, key: str) -> str:
    """The reason a plan file gives for ``section.key``: the comment line right above ``key:`` inside
    ``section:`` (plan.yaml writes each reason there); '' when there is none."""
    lines = text.splitlines()
    inside = False
    for i, line in enumerate(lines):
        if not line.startswith((" ", "#")):
            inside = line.startswith(f"{section}:")
        elif inside and line.strip().startswith(f"{key}:") and i and lines[i - 1].strip().startswith("#"):
            return lines[i - 1].strip().lstrip("#").strip()
    return ""


def _fingerprint_of(dataset: Path) -> Any:
    """The fingerprint in a plan's ``dataset.json``; None where there is none (an older unetkit wrote it)."""
    from unetkit.planning.fingerprint import Fingerprint

    try:
        return Fingerprint.from_dict(dict(json.loads(dataset.read_text())["fingerprint"]))
    except (OSError, KeyError, TypeError, ValueError):
        return None


def _reuse_plan(args: argparse.Namespace, root: Path, user: list[str]) -> PlannedFit:
    """``--plan FILE``: the plan file is the config; its dataset.json (beside it) is copied when present."""
    import yaml

    plan_path = Path(args.plan)
    if not plan_path.is_file():
        raise ValueError(
            f"plan file {plan_path} does not exist; write one with unetkit plan {shlex.quote(str(root))} "
            "--out FILE"
        )
    if args.config is not None:
        raise ValueError("--plan FILE is the whole config; drop --config (or pass the plan as --config)")
    # Honoured: --threads and --precision (trainer keys of the plan), --device where the plan was made for it.
    ignored = [f for f in dir_flags(args) if f not in ("--plan", "--threads", "--precision", "--device")]
    if ignored:
        raise ValueError(f"{ignored[0]} is decided by the plan file {plan_path}; drop it or plan again")
    from unetkit.planning.plan_file import (
        check_plan_device,
        plan_dataset_path,
        plan_trainer_overrides,
        reused_plan_files,
    )

    text = plan_path.read_text()
    loaded = yaml.safe_load(text) or {}
    if args.device is not None:
        check_plan_device(args.device, loaded, plan_path, root)
    from unetkit.planning.checks import check_model_overrides

    check_model_overrides(user, path=plan_path)  # the caller's model keywords, before the run folder
    user = [*plan_trainer_overrides(args.threads, args.precision), *user]
    data = loaded.get("data", {})
    planned_root = Path(data.get("root") or ".")
    if planned_root.resolve() != root.resolve():
        if not planned_root.is_absolute() and planned_root.name == root.resolve().name:
            # The same folder named from another working folder: the plan's paths are relative to the one
            # unetkit plan ran in (data.root, and the pairs/folders under it).
            raise ValueError(
                f"plan file {plan_path} was made for {planned_root}, a path relative to the folder unetkit "
                f"plan ran in (from here it is {planned_root.resolve()}, not {root.resolve()}); run unetkit "
                "fit from that folder, or plan again with an absolute path (unetkit plan "
                f"{shlex.quote(str(root.resolve()))} --out FILE)"
            )
        raise ValueError(
            f"plan file {plan_path} was made for {planned_root}, not {root}; plan {root} again (unetkit plan)"
        )
    # Only what changes the plan's config is named (--threads 1 on a plan timed with 1 thread changes
    # nothing).
    from unetkit.training.config import changed_overrides

    changed = changed_overrides(plan_path, [], user)
    files = reused_plan_files(plan_path, text, changed)
    dataset = plan_dataset_path(plan_path)
    given = f" with {' '.join(changed)}" if changed else ""
    print(f"training the plan {plan_path} for {root}{given}", flush=True)
    from unetkit.planning.plan_file import planned_model, unused_plan_model_note
    from unetkit.training.config import unused_model_kwargs

    unused = unused_plan_model_note(*unused_model_kwargs(plan_path, user), planned_model(text))
    if unused:  # model.name=fcn8s: the plan's U-Net width and depth are not the FCN's keywords
        print(unused, flush=True)
    predicted = at_run_budget(plan_prediction(text, loaded), loaded, changed)
    crop = _crop_pair((loaded.get("data") or {}).get("crop_size"))
    return PlannedFit(
        plan_path, user, files, predicted, step_cost_overrides(changed),
        crop_choice=(crop, _reason_above(text, "data", "crop_size")),
        fingerprint=_fingerprint_of(dataset) if dataset is not None else None,
    )  # fmt: skip


def plan_prediction(text: str, plan: dict) -> tuple[int, float] | None:
    """:func:`unetkit.planning.shortfall.plan_file_prediction` (imported when called)."""
    from unetkit.planning.shortfall import plan_file_prediction

    return plan_file_prediction(text, plan)
