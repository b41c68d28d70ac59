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
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unetkit.constants import IGNORE_INDEX
from unetkit.files import atomic_write_bytes, atomic_write_text

# Alternating steps per thread count when plan picks torch's threads (the fastest of each counts).
THREAD_PROBE_ROUNDS = 2


def add_discovery_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``unetkit plan DIR`` that ``unetkit fit DIR`` shares: budget, device, discovery."""
    p.add_argument(
        "--time", dest="budget", help="training time budget: 20m, 1h, 90s, 1h30m (default: picked)"
    )
    p.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto",
        help="device to measure, plan and train on (default auto: cuda when torch sees a GPU, else cpu)",
    )  # fmt: skip
    p.add_argument(
        "--mask-kind", choices=("binary", "index", "palette", "instances", "remap"), help="mask encoding"
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
    p.add_argument("--unmatched", choices=("error", "skip"), default="error", help="files without a partner")
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
    p.add_argument("--measure-limit", type=float, default=30.0, help="seconds spent timing candidates")


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
    """``"train=0:20,val=20:24"`` -> ``{"train": (0, 20), "val": (20, 24)}``."""
    out: dict[str, tuple[int, int]] = {}
    for part in spec.split(","):
        name, _, rng = part.partition("=")
        start, _, stop = rng.partition(":")
        if not (name.strip() and start.strip().isdigit() and stop.strip().isdigit()):
            raise ValueError(f"--split part {part!r} must look like train=0:20 (name=start:stop)")
        out[name.strip()] = (int(start), int(stop))
    return out


def _some(items: Any, limit: int = 12) -> str:
    """``a, b, c, ... (20 in all)``: the first ``limit`` items of a console line."""
    items = list(items)
    more = f", ... ({len(items)} in all)" if len(items) > limit else ""
    return ", ".join(str(v) for v in items[:limit]) + more


def mask_line(m: Any) -> str:
    """The ``masks:`` line of a plan: the encoding, the classes, the values seen and the void values/colours.
    Instance labels keep only their range (``MaskInfo.values`` is (lowest, highest) for them)."""
    if m.kind == "instances":
        seen = f"label values {m.values[0]}..{m.values[1]}" if len(m.values) == 2 else "no label values"
    else:
        seen = f"values seen [{_some(list(v) if isinstance(v, tuple) else v for v in m.values)}]"
    # A remap keeps its void values in the mapping (value -> IGNORE_INDEX).
    remapped = sorted(
        v for v, c in (m.mapping or {}).items() if c == IGNORE_INDEX and v not in m.ignore_values
    )
    voids = [*m.ignore_values, *remapped, *(list(c) for c in m.ignore_colors)]
    return (
        f"masks: {m.kind}, {m.num_classes} classes ({_some(m.class_names)}), {seen} in {m.sampled} masks"
        + (f", void {voids}" if voids else "")
        + (f"; target {m.target} (--target)" if m.target != "semantic" else "")
    )


def _fmt_classes(fp: Any) -> list[str]:
    lines = ["  class                pixels  images  objects  extent med/p10/p90  area med  stuff"]
    for c in fp.classes:
        lines.append(
            f"  {c.index:>2} {c.name[:16]:<16} {c.pixel_fraction:7.2%} {c.image_fraction:7.0%} {c.objects:8d}"
            f"  {c.extent_median:5.0f}/{c.extent_p10:4.0f}/{c.extent_p90:5.0f}  {c.area_median:8.0f}  "
            f"{'yes' if c.stuff else ''}"
        )
    return lines


def size_text(fp: Any) -> str:
    """``median size 256x192 (WxH; min 250x180, max 260x200, 3 distinct)``: the image sizes of a fingerprint
    (which keeps (H, W) pairs), width first as every size the commands show."""
    med, low, high = fp.size_median, fp.size_min, fp.size_max
    return (
        f"median size {med[1]}x{med[0]} (WxH; min {low[1]}x{low[0]}, max {high[1]}x{high[0]}, "
        f"{fp.distinct_sizes} distinct)"
    )


def _pick_threads(probe: Any, in_channels: int, num_classes: int) -> str:
    """Time steps of ``probe`` with torch's default thread count and with 1, alternating, and keep the faster
    (set here: the CLI owns the process). On a busy machine oversubscribed OpenMP threads can be several
    times slower; alternating keeps a burst of other work from landing on one count only (a busy 2-core
    machine once picked 1 thread from single steps)."""
    import torch

    from unetkit.planning.plan import TrainingStep, alternating_fastest

    step = TrainingStep(probe, in_channels, num_classes, "cpu")

    def with_threads(n: int) -> Callable[[], float]:
        def run() -> float:
            torch.set_num_threads(n)
            return step()

        return run

    counts = dict.fromkeys((torch.get_num_threads(), 1))
    timings = alternating_fastest({str(n): with_threads(n) for n in counts}, THREAD_PROBE_ROUNDS)
    best = min(counts, key=lambda n: timings[str(n)])
    torch.set_num_threads(best)
    measured = ", ".join(f"{n} thread(s) {timings[str(n)]:.3f}s/step" for n in counts)
    return (
        f"{best}: the faster thread count for this machine now ({measured}, fastest of "
        f"{THREAD_PROBE_ROUNDS} alternating steps each, base {probe.base_channels}); the thread count "
        "changes the numbers slightly and the steps a budget buys: --threads pins it"
    )


@dataclass
class PlannedDataset:
    """What ``unetkit plan DIR`` found and chose: the console text and the files' contents."""

    plan: Any  # unetkit.planning.Plan
    layout: Any  # unetkit.planning.DatasetLayout
    lines: list[str]  # the console report: discovery, fingerprint, candidates, the plan with its reasons
    plan_yaml: str  # plan.yaml: the config with a reason above each key
    dataset: dict[str, Any]  # dataset.json: discovery + fingerprint
    fingerprint: Any  # unetkit.planning.Fingerprint: what plan.png draws beside the plan

    def figure_png(self) -> bytes:
        """plan.png: the plan at a glance (drawn in memory; matplotlib is imported only here)."""
        from unetkit.viz.plan_figure import plan_figure_png

        return plan_figure_png(self.plan, self.fingerprint)


def plan_dataset(args: argparse.Namespace, root: Path, command: str = "plan") -> PlannedDataset:
    """Discover ``root``, fingerprint it, measure the candidates and plan (the options of
    :func:`add_discovery_arguments` in ``args``). Sets torch's thread count (the CLI owns the process)."""
    import torch

    from unetkit.data.folder import cache_fits, decoded_bytes
    from unetkit.planning import discover, fingerprint, make_plan, measure_candidates, parse_duration
    from unetkit.planning.plan import (
        MIN_STEPS,
        augmentation,
        candidates,
        choose_geometry,
        data_probe,
        default_budget,
        loader_workers,
    )

    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    budget = parse_duration(args.budget) if args.budget is not None else None
    from unetkit.devices import resolve_device

    args.device = resolve_device(args.device)
    started = time.perf_counter()
    layout = discover(
        root,
        image_dir=args.images_dir,
        mask_dir=args.masks_dir,
        roi_dir=args.roi_dir,
        mask_kind=args.mask_kind,
        void=args.void,
        splits=parse_split(args.split) if args.split else None,
        unmatched=args.unmatched,
        classes_file=args.classes,
    )
    if args.target is not None:
        from unetkit.planning.discovery import with_instance_target

        layout = with_instance_target(layout, args.target)
    t_discover = time.perf_counter() - started
    fp = fingerprint(layout)
    geo = choose_geometry(fp, args.device)
    aug, _ = augmentation(fp, geo, layout.mask.target)  # the data probe times the augmentation trained
    cands = candidates(geo, args.device)
    # A CPU plan loads with no workers: its training images stay decoded in memory when they fit (data.cache).
    train = set(layout.splits.get("train", []))
    train_sizes = [size for sample, size in zip(layout.samples, layout.sizes) if sample.name in train]
    cached = args.device == "cpu" and cache_fits(decoded_bytes(train_sizes, layout.channels), 0)
    thread_note = ""
    probe_started = time.perf_counter()
    if args.threads is None and args.device == "cpu" and torch.get_num_threads() > 1:
        thread_note = _pick_threads(cands[0], layout.channels, layout.mask.num_classes)
    t_threads = time.perf_counter() - probe_started
    loaders = loader_workers(args.device) > 0  # a GPU plan's samples are read in loader processes
    machine = measure_candidates(
        cands,
        layout.channels,
        layout.mask.num_classes,
        args.device,
        time_limit_s=max(1.0, args.measure_limit - (time.perf_counter() - probe_started)),
        stop_above_s=budget / MIN_STEPS if budget else None,
        data_probe=lambda: data_probe(
            layout, geo.crop, aug, cached=cached, window=fp.intensity_window, loader_process=loaders
        ),
    )
    budget_note = ""
    if budget is None:
        budget, budget_note = default_budget(machine, args.precision)
    plan = make_plan(fp, budget, args.device, machine, layout=layout, precision=args.precision, geometry=geo)
    chosen = plan.config["trainer"]["precision"]  # the table lists it; the other precision is listed after
    if budget_note:
        plan.reasons["trainer.max_time_minutes"] = budget_note
    if thread_note:
        plan.reasons["trainer.num_threads"] = thread_note
    elapsed = time.perf_counter() - started
    plan.summary["plan_seconds"] = {
        "discover": round(t_discover, 2),
        "fingerprint": fp.seconds,
        "threads": round(t_threads, 2),
        "measure": machine.measure_seconds,
        "total": round(elapsed, 2),
    }
    m = layout.mask
    lines = [
        f"dataset {layout.root}: {len(layout.samples)} pairs, {layout.channels} channel(s); splits "
        f"({layout.split_source}): " + ", ".join(f"{k} {len(v)}" for k, v in layout.splits.items()),
        mask_line(m),
        *(
            [f"ROI: {', '.join(str(d) for d in layout.roi_dirs)} (pixels outside are ignored)"]
            if layout.has_roi
            else []
        ),
        *[f"note: {n}" for n in layout.notes],
        f"fingerprint ({fp.sampled_images} training images, {fp.seconds:.1f}s): {size_text(fp)}, "
        f"intensity mean {fp.intensity['mean']} std {fp.intensity['std']}",
        *([f"intensity window: {fp.window_reason}"] if fp.window_reason else []),
        f"normalisation: {fp.normalization_reason}",
        *_fmt_classes(fp),
        f"machine: {machine.description}, {machine.threads} thread(s), flags {' '.join(machine.cpu_flags)}; "
        f"data {machine.data_seconds_per_sample:.3f}s/sample"
        + (" (the decoded training images stay in memory: data.cache)" if cached else ""),
        "candidates (measured steps):",
        *_measured_lines(plan, machine, chosen, lambda name: f"{name:<36}"),
        *([f"budget: {budget_note}"] if budget_note else []),
        *(
            [f"budget: --time {args.budget} is read as {budget / 60:g} minutes (write 20m, 90s or 1h)"]
            if args.budget is not None and re.fullmatch(r"\s*\d+(\.\d+)?\s*", str(args.budget))
            else []
        ),
        f"plan ({budget / 60:.1f} min on {args.device}; planned in {elapsed:.1f}s):",
        *[f"  {k}: {v}" for k, v in plan.reasons.items()],
        *[f"  NOT EXPRESSIBLE in the config yet: {u}" for u in plan.unsupported],
    ]
    timing = plan.summary["plan_seconds"]
    header = [
        f"unetkit {command} {root} --time {budget / 60:g}m --device {args.device}: planned in {elapsed:.1f}s",
        f"machine: {machine.description}, {machine.threads} thread(s); every key can be overridden on the "
        "fit command line (key.sub=value)",
        f"seconds: discover {timing['discover']}, fingerprint {timing['fingerprint']}, thread probe "
        f"{timing['threads']}, measure "
        f"{timing['measure']}, total {timing['total']} (imports excluded)",
        "measured training steps (forward, CE + Dice, backward, AdamW on random data) and the budget:",
        *_measured_lines(plan, machine, chosen, lambda name: f"{name}:"),
        f"data loading + augmentation: {machine.data_seconds_per_sample:.3f}s/sample",
    ]
    dataset = layout.to_dict() | {"fingerprint": fp.to_dict()}
    return PlannedDataset(plan, layout, lines, plan.to_yaml(header), dataset, fp)


def _measured_lines(plan: Any, machine: Any, chosen: str, label: Callable[[str], str]) -> list[str]:
    """The measured candidates (``label`` formats each name), the other measured steps and the measuring
    notes: the console report's and plan.yaml's header's, which differ only in the names' layout."""
    rows = [
        f"  {label(r['candidate'])} {r['step_seconds']:.3f}s/step -> {r['steps_in_budget']} steps, "
        f"{r['epochs_in_budget']} epochs of {r['steps_per_epoch']} "
        f"(checkpoint {r['checkpoint_seconds']:.2f}s)"
        for r in plan.table
    ]
    steps = machine.step_seconds.items()
    others = [f"  {k}: {v:.3f}s/step" for k, v in steps if not k.endswith(" " + chosen)]
    return [*rows, *others, *[f"  {n}" for n in machine.notes]]


def dataset_file(plan_path: Path) -> Path:
    """The discovery JSON beside a plan: ``dataset.json`` beside ``plan.yaml``, else ``<stem>.dataset.json``
    (two plans in one folder keep their own)."""
    name = "dataset.json" if plan_path.name == "plan.yaml" else f"{plan_path.stem}.dataset.json"
    return plan_path.with_name(name)


def figure_file(plan_path: Path) -> Path:
    """The figure beside a plan: ``plan.png`` beside ``plan.yaml``, else ``<stem>.png``."""
    return plan_path.with_name(f"{plan_path.stem}.png")


def write_plan_files(
    planned: PlannedDataset, plan_path: Path, dataset_path: Path, figure_path: Path | None = None
) -> None:
    """Write ``dataset.json``, ``plan.yaml`` and the figure (default :func:`figure_file`) atomically: a reader
    never sees half a file. The figure is drawn first, so a failure while drawing writes nothing."""
    png = planned.figure_png()
    atomic_write_text(dataset_path, json.dumps(planned.dataset, indent=1) + "\n")
    atomic_write_text(plan_path, planned.plan_yaml)
    atomic_write_bytes(figure_path or figure_file(plan_path), png)


def run_plan(args: argparse.Namespace) -> int:
    # Absolute paths in the plan: `fit DIR --plan FILE` then works from any working folder.
    planned = plan_dataset(args, Path(args.root).resolve())
    out = Path(args.out)
    dataset_out = Path(args.dataset_out) if args.dataset_out else dataset_file(out)
    figure_out = figure_file(out)
    write_plan_files(planned, out, dataset_out, figure_out)
    print("\n".join([*planned.lines, f"wrote {out} and {dataset_out}; the plan at a glance: {figure_out}"]))
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

    def write(self, run_dir: Path) -> None:
        """Write the files into ``run_dir``, which ``fit`` created (atomically, one file at a time)."""
        for name, content in self.files.items():
            if isinstance(content, bytes):
                atomic_write_bytes(Path(run_dir) / name, content)
            else:
                atomic_write_text(Path(run_dir) / name, content)


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
             "--roi": args.roi_dir}  # fmt: skip
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
    if not root.is_dir():
        hint = " (a config file goes after --config)" if root.suffix in (".yaml", ".yml") else ""
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
    _refuse_a_named_run_that_exists(user)
    planned = plan_dataset(args, root, command="fit")
    from unetkit.planning import to_config_overrides

    overrides = to_config_overrides(planned.plan, planned.layout)
    lines = [*planned.lines]
    out = getattr(args, "out", None)  # --out's own overrides: the run folder line names it
    given_out = {f"output.root={out.parent}", f"output.name={out.name}"} if out is not None else set()
    shown = [o for o in user if o not in given_out]
    if shown:
        lines.append(f"overridden on the command line: {' '.join(shown)}")
    print("\n".join(lines), flush=True)
    note = f"# overridden on the command line: {' '.join(shown)}\n" if shown else ""
    files: dict[str, str | bytes] = {
        "plan.yaml": note + planned.plan_yaml,
        "dataset.json": json.dumps(planned.dataset, indent=1) + "\n",
        # Drawn now, before training: a failure while drawing stops fit before the budget is spent.
        "plan.png": planned.figure_png(),
    }
    summary = planned.plan.summary
    predicted = None
    if summary.get("predicted_steps") and summary.get("predicted_step_seconds"):
        predicted = (int(summary["predicted_steps"]), float(summary["predicted_step_seconds"]))
    return PlannedFit(args.config, [*overrides, *user], files, predicted)


def _refuse_a_named_run_that_exists(user: list[str]) -> None:
    """``output.name=NAME`` of a folder that already holds a run: refused before the data is fingerprinted
    and the plan measured (up to ``--measure-limit`` seconds), not after (fit's own check, the same error)."""
    outputs = [o for o in user if o.startswith("output.")]
    if any(o.startswith("output.name=") for o in outputs):  # --out comes here as output.root + output.name
        from unetkit.training.config import load_config
        from unetkit.training.run_folder import new_run_dir

        new_run_dir(load_config(None, outputs))


def _reuse_plan(args: argparse.Namespace, root: Path, user: list[str]) -> PlannedFit:
    """``--plan FILE``: the plan file is the config; its dataset.json (beside it) is copied when present."""
    import yaml

    plan_path = Path(args.plan)
    if not plan_path.is_file():
        raise ValueError(
            f"plan file {plan_path} does not exist; write one with unetkit plan {root} --out FILE"
        )
    if args.config is not None:
        raise ValueError("--plan FILE is the whole config; drop --config (or pass the plan as --config)")
    ignored = [f for f in dir_flags(args) if f not in ("--plan", "--threads")]
    if ignored:
        raise ValueError(f"{ignored[0]} is decided by the plan file {plan_path}; drop it or plan again")
    if args.threads is not None:
        user = [f"trainer.num_threads={args.threads}", *user]
    text = plan_path.read_text()
    data = (yaml.safe_load(text) or {}).get("data", {})
    planned_root = Path(data.get("root") or ".")
    if planned_root.resolve() != root.resolve():
        if not planned_root.is_absolute() and planned_root.name == root.resolve().name:
            # The same folder named from another working folder: the plan's paths are relative to the one
            # unetkit plan ran in (data.root, and the pairs/folders under it).
            raise ValueError(
                f"plan file {plan_path} was made for {planned_root}, a path relative to the folder unetkit "
                f"plan ran in (from here it is {planned_root.resolve()}, not {root.resolve()}); run unetkit "
                "fit from that folder, or plan again with an absolute path (unetkit plan "
                f"{root.resolve()} --out FILE)"
            )
        raise ValueError(
            f"plan file {plan_path} was made for {planned_root}, not {root}; plan {root} again (unetkit plan)"
        )
    files: dict[str, str | bytes] = {"plan.yaml": text}
    dataset = dataset_file(plan_path)
    if not dataset.is_file():  # plans written before <stem>.dataset.json
        dataset = plan_path.with_name("dataset.json")
    if dataset.is_file():
        files["dataset.json"] = dataset.read_text()
    if figure_file(plan_path).is_file():  # plans written before plan.png have none
        files["plan.png"] = figure_file(plan_path).read_bytes()
    print(
        f"training the plan {plan_path} for {root}" + (f" with {' '.join(user)}" if user else ""), flush=True
    )
    return PlannedFit(plan_path, user, files)
