"""Plan a dataset folder: discover it, fingerprint it, measure the candidates on this machine, plan.

:func:`plan_folder` is what ``unetkit plan DIR`` and ``unetkit fit DIR`` run (the CLI prints its lines and
writes its files); from Python it returns the same :class:`PlannedDataset` and prints nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shlex
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unetkit.constants import IGNORE_INDEX
from unetkit.files import atomic_write_bytes, atomic_write_text
from unetkit.random_state import process_rng_kept

logger = logging.getLogger(__name__)

__all__ = ["PlannedDataset", "mask_line", "pick_threads", "plan_folder", "size_text", "void_line"]

# Alternating steps per thread count when plan picks torch's threads (the fastest of each counts).
THREAD_PROBE_ROUNDS = 2
# The thread probe's crop side at most: a 1024x1024 crop's probe took 26 s of a 10 s --measure-limit (six
# steps of 3.6 s); a 512x512 crop still holds work enough for every thread, at a quarter of the time.
THREAD_PROBE_MAX_SIDE = 512
# The least share of --measure-limit left to time the candidates, however long the thread probe took.
CANDIDATE_SHARE = 0.5


def _some(items: Any, limit: int = 12) -> str:
    """``a, b, c, ... (20 in all)``: the first ``limit`` items of a console line."""
    items = list(items)
    more = f", ... ({len(items)} in all)" if len(items) > limit else ""
    return ", ".join(str(v) for v in items[:limit]) + more


def void_list(m: Any) -> list[Any]:
    """The void values and colours a :class:`~unetkit.planning.discovery.MaskInfo` declares: its ignore
    values, a remap's values mapped to void, its void colours ([R, G, B])."""
    # A remap keeps its void values in the mapping (value -> IGNORE_INDEX).
    remapped = sorted(
        v for v, c in (m.mapping or {}).items() if c == IGNORE_INDEX and v not in m.ignore_values
    )
    return [*m.ignore_values, *remapped, *(list(c) for c in m.ignore_colors)]


def void_line(m: Any, fp: Any, roi: bool = False) -> str | None:
    """The class table's void row: the share of the sampled training pixels that are void (the fingerprint's
    ``ignore_fraction``), or None when the masks declare no void. Class shares are of the other pixels."""
    voids = void_list(m)
    if not voids:
        return None
    where = " or outside the ROI" if roi else ""
    if not fp.ignore_fraction:
        # void=[300] on 8-bit masks, or a typo: nothing is ignored, and the user expects something to be.
        return (
            f"  void [{_some(voids, 4)}]: no sampled pixel is void{where}; check the value(s) against the "
            "mask values above"
        )
    return (
        f"  void [{_some(voids, 4)}]: {fp.ignore_fraction:.2%} of the sampled pixels are void{where} (not "
        "trained on or scored; the class shares above are of the other pixels)"
    )


# Index and palette masks without a void: every value (colour) becomes a class. A trial's CamVid copy (no
# classes file) trained and scored its "unlabelled" value 11 as a 12th class at 0 IoU, unsaid.
NO_VOID_HINTS = {
    "index": ", no void (every value is a class; --void VALUE leaves out one that marks unlabelled pixels)",
    "palette": ", no void (every colour is a class; a classes.json void colour leaves out unlabelled pixels)",
}


def mask_line(m: Any, void_hint: bool = True) -> str:
    """The ``masks:`` line of a plan: the encoding, the classes, the values seen and the void values/colours
    (``void_hint``: without a void, how fit/plan leave one out). Instance labels keep only their range
    (``MaskInfo.values`` is (lowest, highest) for them)."""
    if m.kind == "instances":
        seen = f"label values {m.values[0]}..{m.values[1]}" if len(m.values) == 2 else "no label values"
    else:
        seen = f"values seen [{_some(list(v) if isinstance(v, tuple) else v for v in m.values)}]"
    voids = void_list(m)
    return (
        f"masks: {m.kind}, {m.num_classes} classes ({_some(m.class_names)}), {seen} in {m.sampled} masks"
        + (f", void {voids}" if voids else NO_VOID_HINTS.get(m.kind, "") if void_hint else "")
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


def threads_text(threads: int) -> str:
    """``training threads: 1 of 2 CPUs``: the plan's thread count beside the CPUs this process may use (a
    trial read "machine: ..., 1 thread(s)" as a one-core machine)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or threads
    return f"training threads: {threads} of {cpus} CPU{'' if cpus == 1 else 's'}"


def pick_threads(
    probe: Any, in_channels: int, num_classes: int, timed: dict[str, dict[str, float]] | None = None
) -> str:
    """Time steps of ``probe`` with torch's default thread count and with 1, alternating, and keep the faster
    (set here; :func:`plan_folder` restores the caller's count on return). On a busy machine oversubscribed
    OpenMP threads can be several times slower; alternating keeps a burst of other work from landing on one
    count only (a busy 2-core machine once picked 1 thread from single steps). A crop side above
    ``THREAD_PROBE_MAX_SIDE`` is probed at that side. ``timed``, where given, receives the fastest step at
    the count kept, ``{probe's label: {"thread probe": seconds}}``: a timing of the first candidate where
    the probe's crop is its own (``measure_candidates(earlier=...)``, whose step time is the fastest of its
    timings)."""
    import torch

    from unetkit.planning.plan import THREAD_PROBE_TIMING, TrainingStep, alternating_fastest

    crop = (min(probe.crop[0], THREAD_PROBE_MAX_SIDE), min(probe.crop[1], THREAD_PROBE_MAX_SIDE))
    probe = dataclasses.replace(probe, crop=crop)
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
    if timed is not None:
        timed[probe.label] = {THREAD_PROBE_TIMING: round(timings[str(best)], 4)}
    measured = ", ".join(f"{n} thread(s) {timings[str(n)]:.3f}s/step" for n in counts)
    return (
        f"{best}: the faster thread count for this machine now ({measured}, fastest of "
        f"{THREAD_PROBE_ROUNDS} alternating steps each, base {probe.base_channels} at {crop[1]}x{crop[0]}); "
        "the thread count changes the numbers slightly and the steps a budget buys: --threads pins it"
    )


def candidate_time_limit(measure_limit: float, probe_seconds: float) -> tuple[float, str]:
    """``(seconds, words)``: the candidates' share of ``--measure-limit`` after a thread probe of
    ``probe_seconds`` (0: none ran), and the words a "not measured" note gives for it. The probe counts
    against the limit, but the candidates keep at least ``CANDIDATE_SHARE`` of it: a probe's steps cannot be
    cut short, and one of 8 s once left 1 s of a 10 s limit, too little to time bf16 at all."""
    limit = max(measure_limit * CANDIDATE_SHARE, measure_limit - probe_seconds)
    if probe_seconds <= 0:
        return limit, f"--measure-limit {measure_limit:g}s"
    kept = f", the {CANDIDATE_SHARE:.0%} kept for them" if limit > measure_limit - probe_seconds else ""
    return limit, (
        f"--measure-limit {measure_limit:g}s: thread probe {probe_seconds:.1f}s, candidates {limit:.1f}s"
        f"{kept}"
    )


@dataclass
class PlannedDataset:
    """What :func:`plan_folder` found and chose: the report's lines and the files' contents."""

    plan: Any  # unetkit.planning.Plan
    layout: Any  # unetkit.planning.DatasetLayout
    lines: list[str]  # the console report: discovery, fingerprint, candidates, the plan with its reasons
    plan_yaml: str  # plan.yaml: the config with a reason above each key
    dataset: dict[str, Any]  # dataset.json: discovery + fingerprint
    fingerprint: Any  # unetkit.planning.Fingerprint: what plan.png draws beside the plan
    header: tuple[str, ...] = ()  # plan.yaml's comment lines above the config (what was measured)

    def run_files(self, note: str = "", overrides: Sequence[str] = ()) -> dict[str, str | bytes]:
        """File name -> content of what a run folder keeps of its plan: ``plan.yaml`` (after ``note``, a
        comment), ``dataset.json`` and ``plan.png`` (drawn now: a failure while drawing comes before
        training, not after the budget is spent). ``overrides`` (``key=value``, as the run trains them) are
        the values both show, each with the plan's own choice in its reason (:func:`overridden_plan`)."""
        planned, drawn = self, self
        if overrides:
            plan = overridden_plan(self.plan, overrides)
            planned = dataclasses.replace(self, plan=plan, plan_yaml=plan.to_yaml(self.header))
            drawn = dataclasses.replace(self, plan=overridden_plan(self.plan, overrides, keep_unused=True))
        return {
            "plan.yaml": note + planned.plan_yaml,
            "dataset.json": json.dumps(self.dataset, indent=1) + "\n",
            "plan.png": drawn.figure_png(),
        }

    def figure_png(self) -> bytes:
        """plan.png: the plan at a glance (drawn in memory; matplotlib is imported only here)."""
        from unetkit.viz.plan_figure import plan_figure_png

        return plan_figure_png(self.plan, self.fingerprint)


def overridden_reason(
    key: str, old: Any, reasons: Mapping[str, str], present: bool = True, name: str = ""
) -> str:
    """The reason of a value set on the command line over the plan's: what the plan chose for ``key`` and
    why (its own reason, else the nearest enclosing key's: ``optim.lr`` has ``optim``'s). ``name``: the
    key's name inside a one-line mapping, said first (``lr set on the command line ...``)."""
    from unetkit.planning.plan import _flow

    parts = key.split(".")
    why = next(
        (reasons[".".join(parts[:n])] for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in reasons), ""
    )
    said = f"{name} set on the command line" if name else "set on the command line"
    if not present:
        return f"{said} (the plan left it at the config's default)"
    chose = _flow(old)
    why = why.removeprefix(f"{chose}: ")  # most reasons start with the value ("1000: far above ...")
    return f"{said} (the plan chose {chose}" + (f": {why})" if why else ")")


def _as_loaded(item: str, parts: Sequence[str], value: Any) -> Any:
    """``value`` of the override ``item`` as the config holds it (``data.crop_size=16`` is ``[16, 16]``, what
    plan.png draws), or as given where the override alone does not make a valid config."""
    from unetkit.training.config import load_config

    try:
        loaded: Any = load_config(None, [item]).model_dump(mode="json")
    except (ValueError, TypeError):
        return value
    for part in parts:
        if not isinstance(loaded, dict) or part not in loaded:
            return value
        loaded = loaded[part]
    return loaded


def overridden_plan(plan: Any, overrides: Sequence[str], keep_unused: bool = False) -> Any:
    """A copy of ``plan`` (a :class:`~unetkit.planning.Plan`) holding the values of ``overrides``
    (``key=value``, later ones winning, as ``load_config`` applies them), each key's reason saying it was set
    on the command line and what the plan chose and why: a run folder's plan.yaml and plan.png show what the
    run trained, not a value it never used under a header naming the override. The plan's model keywords
    that an overriding ``model.name`` does not take are dropped, ``model.kwargs``'s reason naming them
    (:func:`unused_plan_model`); ``keep_unused`` keeps them (plan.png draws the plan's measured widths and
    its depth's receptive field)."""
    import copy

    from unetkit.training.config import parse_override

    config = copy.deepcopy(plan.config)
    reasons = dict(plan.reasons)
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        if key.startswith("output."):
            continue  # where the run folder goes is no choice of the plan's
        node = parse_override(item)
        parts = key.split(".")
        target = config
        for part in parts[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
            node = node[part]
        present = parts[-1] in target
        old = target.get(parts[-1])
        value = _as_loaded(item, parts, node[parts[-1]])
        if present and old == value:
            continue  # the plan's own value: its reason holds
        # The plan's reason of this key, kept inside the new one (a second override keeps the first's).
        if not reasons.get(key, "").startswith("set on the command line"):
            reasons[key] = overridden_reason(key, old, plan.reasons, present)
        target[parts[-1]] = value
    if not keep_unused:
        # The plan's width and depth that another model does not take are not trained: the file drops them
        # (it trains again with --plan) and says which, with the plan's reasons for them.
        name, dropped = unused_plan_model(plan.config.get("model"), overrides)
        kwargs = (config.get("model") or {}).get("kwargs")
        if dropped and isinstance(kwargs, dict):
            for key in dropped:
                kwargs.pop(key, None)
            planned = (plan.config.get("model") or {}).get("name")
            said = {key: plan.reasons.get(f"model.kwargs.{key}") for key in dropped}
            why = "; ".join(f"{k}={v}" + (f" ({said[k]})" if said[k] else "") for k, v in dropped.items())
            reasons["model.kwargs"] = (
                f"not used: {name} does not take the plan's {why}; the plan measured {planned} candidates "
                "for them"
            )
    return dataclasses.replace(plan, config=config, reasons=reasons)


def unused_plan_model(model: Any, overrides: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """(the model a run trains, the plan's model keywords it does not take) for a plan's ``model`` section
    (``{name, kwargs}``) under ``overrides``: :func:`unetkit.training.config.unused_model_kwargs`."""
    from unetkit.planning.plan import _flow
    from unetkit.training.config import unused_model_kwargs

    given = [o for o in overrides if o.split("=", 1)[0].strip().split(".")[0] == "model"]
    if not isinstance(model, dict) or not given:
        return str((model or {}).get("name", "")) if isinstance(model, dict) else "", {}
    try:
        return unused_model_kwargs(None, [f"model={_flow(model)}", *given])
    except (ValueError, TypeError):  # an override the config check refuses, with its fix
        return str(model.get("name", "")), {}


# A key line of plan.yaml as Plan.to_yaml writes it: indent, key, and the value when it is on the line.
_KEY_LINE = re.compile(r"^( *)([A-Za-z_][\w]*):(?: (.*))?$")


def _set_dotted(config: dict[str, Any], parts: Sequence[str], value: Any) -> None:
    for part in parts[:-1]:
        if not isinstance(config.get(part), dict):
            config[part] = {}
        config = config[part]
    config[parts[-1]] = value


def _get_dotted(config: Any, parts: Sequence[str]) -> tuple[bool, Any]:
    for part in parts:
        if not isinstance(config, dict) or part not in config:
            return False, None
        config = config[part]
    return True, config


def overridden_plan_text(text: str, overrides: Sequence[str]) -> str:
    """``text`` (a plan.yaml, perhaps edited by hand) with each ``key=value`` of ``overrides`` written in
    place of the plan's value, the reason above it saying it was set on the command line and what the plan
    chose and why (:func:`overridden_reason`); the rest of the file, comments included, as it was. A key the
    file lacks is added under its section. ``text`` unchanged where the edit would not read back as the
    overridden config (a layout this function does not know): the run's config.yaml still holds the values
    trained, and the header names the overrides."""
    import yaml

    from unetkit.planning.plan import _flow
    from unetkit.training.config import parse_override

    try:
        expected = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return text
    if not isinstance(expected, dict):
        return text
    lines = text.splitlines()
    _, dropped = unused_plan_model(expected.get("model"), overrides)
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        if key.startswith("output."):
            continue  # where the run folder goes is no choice of the plan's
        parts = key.split(".")
        _, value = _get_dotted(parse_override(item), parts)
        present, old = _get_dotted(expected, parts)
        if present and old == value:
            continue
        _set_dotted(expected, parts, value)
        lines = _edit_lines(lines, parts, value, old, present, _flow)
    for key in dropped:  # the plan's width and depth another model does not take: not trained, not written
        present, _ = _get_dotted(expected, ["model", "kwargs", key])
        if present:
            del expected["model"]["kwargs"][key]
            lines = _drop_line(lines, ["model", "kwargs", key])
    edited = "\n".join(lines) + "\n"
    try:
        return edited if yaml.safe_load(edited) == expected else text
    except yaml.YAMLError:
        return text


def _drop_line(lines: list[str], parts: Sequence[str]) -> list[str]:
    """``lines`` without the key ``parts`` (its line of a block mapping, and the reason above it); a section
    left empty becomes ``{}``. ``lines`` as they were where the key is not on a line of its own."""
    stack: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        match = _KEY_LINE.match(line)
        if match is None:
            continue
        indent, name = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, name))
        if [k for _, k in stack] != list(parts) or match.group(3) is None:
            continue
        start = i - 1 if i > 0 and lines[i - 1].startswith(" " * indent + "# ") else i
        out = [*lines[:start], *lines[i + 1 :]]
        # The section line right above, now without a key below it: an empty mapping, not null.
        parent = start - 1
        while parent >= 0 and lines[parent].lstrip().startswith("#"):
            parent -= 1
        below = out[start] if start < len(out) else ""
        if parent >= 0 and lines[parent].rstrip().endswith(":") and _indent(below) < indent:
            out[parent] = f"{lines[parent].rstrip()} {{}}"
        return out
    return lines


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _edit_lines(
    lines: list[str], parts: Sequence[str], value: Any, old: Any, present: bool, flow: Callable[[Any], str]
) -> list[str]:
    """:func:`overridden_plan_text`'s edit of one key: its line (or its section's one-line mapping) and the
    reason above it, or new lines at the end of its deepest section present."""
    import yaml

    stack: list[tuple[int, str]] = []  # (indent, key) of the mappings the line is in
    first_key = None
    deepest: tuple[int, int] | None = None  # (line index, depth) of the deepest section of the key present
    for i, line in enumerate(lines):
        match = _KEY_LINE.match(line)
        if match is None:
            continue
        first_key = i if first_key is None else first_key
        indent, name, rest = len(match.group(1)), match.group(2), match.group(3)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = [k for _, k in stack] + [name]
        stack.append((indent, name))
        if path != list(parts[: len(path)]):
            continue
        dotted = ".".join(path)
        # The reason is the one comment line right above a key, at its indent (not the file's header).
        above = lines[i - 1] if i > 0 and i != first_key else ""
        has_reason = above.startswith(" " * indent + "# ")
        own = above.strip()[2:] if has_reason else ""
        if rest is None:
            deepest = (i, len(path))
            if len(path) < len(parts):
                continue
            return lines  # a section given one value: a layout not edited here (the check keeps the text)
        new_value, inner = value, ""
        if len(path) < len(parts):  # a one-line mapping holding the key: the mapping with the new value
            new_value = yaml.safe_load(rest)
            if not isinstance(new_value, dict):
                return lines
            _set_dotted(new_value, parts[len(path) :], value)
            inner = ".".join(parts[len(path) :])
        reasons = {dotted: own} if own else {}
        reason = f"{' ' * indent}# {overridden_reason(dotted, old, reasons, present, inner)}"
        if has_reason:  # the plan's reason, now inside the new one
            lines[i - 1] = reason
        return [
            *lines[:i],
            *([] if has_reason else [reason]),
            f"{' ' * indent}{name}: {flow(new_value)}",
            *lines[i + 1 :],
        ]
    # Not in the file: under its deepest section present (or at the end), the missing sections opened.
    at, depth = (len(lines) - 1, 0) if deepest is None else deepest
    if deepest is not None:
        indent = _indent(lines[at])
        end = at + 1
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > indent):
            end += 1
    else:
        end = len(lines)
    added = []
    for n in range(depth, len(parts)):
        pad = " " * (2 * n)
        if n == len(parts) - 1:
            reason = overridden_reason(".".join(parts), None, {}, present)
            added += [f"{pad}# {reason}", f"{pad}{parts[n]}: {flow(value)}"]
        else:
            added.append(f"{pad}{parts[n]}:")
    return [*lines[:end], *added, *lines[end:]]


# A measured row of plan.yaml's header: "#   unet b8 d3 32x32 x32 bf16-mixed: 0.038s/step -> 446 steps, ...".
MEASURED_ROW = re.compile(r"^#\s+(unet b(\d+) d\d+ \d+x\d+ x\d+ \S+): ([\d.]+)s/step -> (\d+) steps")


def plan_figure_of_file(text: str, planned_text: str, dataset: Mapping[str, Any]) -> bytes:
    """plan.png of a plan file ``text`` (a reused plan.yaml with the values a run trains): the widths' bars
    from its header's measured rows, at the budget of ``planned_text`` (the file as planned, which they were
    measured for), the classes from ``dataset`` (its dataset.json). Raises ValueError, KeyError or TypeError
    where the files are not what ``unetkit plan`` writes."""
    import yaml

    from unetkit.planning.fingerprint import Fingerprint
    from unetkit.planning.plan import Plan
    from unetkit.viz.plan_figure import plan_figure_png

    config = yaml.safe_load(text)
    planned = yaml.safe_load(planned_text)
    rows = [m for m in map(MEASURED_ROW.match, planned_text.splitlines()) if m is not None]
    table = [
        {"candidate": m.group(1), "base_channels": int(m.group(2)), "step_seconds": float(m.group(3)),
         "steps_in_budget": int(m.group(4))}
        for m in rows
    ]  # fmt: skip
    minutes = float(planned["trainer"]["max_time_minutes"])
    plan = Plan(config, {}, table, {"budget_seconds": minutes * 60.0})
    return plan_figure_png(plan, Fingerprint.from_dict(dict(dataset["fingerprint"])))


def write_run_files(run_dir: Path, files: Mapping[str, str | bytes]) -> None:
    """Write :meth:`PlannedDataset.run_files` into ``run_dir`` (atomically, one file at a time)."""
    for name, content in files.items():
        if isinstance(content, bytes):
            atomic_write_bytes(Path(run_dir) / name, content)
        else:
            atomic_write_text(Path(run_dir) / name, content)


@contextmanager
def torch_threads_kept() -> Iterator[None]:
    """torch's intra-op thread count, restored on exit (the thread probe sets it): the one scope of the count,
    :func:`unetkit.devices.torch_threads`, at the count it has now."""
    import torch

    from unetkit.devices import torch_threads

    with torch_threads(torch.get_num_threads()):
        yield


def plan_folder(
    root: str | Path,
    budget: str | float | None = None,
    *,
    device: str = "auto",
    threads: int | None = None,
    precision: str | None = None,
    measure_limit: float = 30.0,
    images: str | None = None,
    masks: str | None = None,
    roi: str | None = None,
    mask_kind: str | None = None,
    void: list[int] | None = None,
    split: Mapping[str, tuple[int, int]] | None = None,
    unmatched: str = "error",
    classes: str | Path | None = None,
    target: str | None = None,
    command: str = "plan",
    score: str | None = None,
) -> PlannedDataset:
    """Discover ``root``, fingerprint it, measure the candidates and plan, as ``unetkit plan DIR`` does.

    ``budget``: the training time, ``"20m"``, ``"1h30m"``, ``"90s"`` or minutes as a number (None: picked from
    the machine's speed). ``threads`` pins torch's thread count (None: the faster of the default and 1,
    measured); torch's count and the random streams (the timed steps build models) are the caller's again
    when this returns (the plan records the thread count it timed, ``trainer.num_threads``). The other
    keywords are ``unetkit plan``'s options of the same names (``images``/``masks``/``roi``: folder names;
    ``split``: ``{"train": (0, 20), ...}`` over sorted names). ``score``: the split the run scores after
    training (``fit --score val``; None: test where there is one), named in the plan's estimate of it.
    Raises ValueError naming the file and the fix for a folder it cannot read.
    """
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"dataset folder must be a path (str or Path), got {root!r}")
    _check_threads(threads)
    with torch_threads_kept(), process_rng_kept():
        return _plan_folder(
            Path(root), budget, device, threads, precision, measure_limit, images, masks, roi, mask_kind,
            void, split, unmatched, classes, target, command, score,
        )  # fmt: skip


def _check_threads(threads: object) -> None:
    """``threads`` of :func:`plan_folder`: None or an int >= 1. TypeError for another type (``"2"``),
    ValueError for an int below 1, each one line with the fix, before anything is read or timed."""
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int):
        try:  # "2" or 2.0: the int it stands for
            number = float(str(threads))
            fix = f"threads={max(1, int(number))}" if number.is_integer() else "threads=1"
        except (ValueError, OverflowError):
            fix = "threads=1"
        raise TypeError(
            f"threads must be an int (torch's thread count; --threads N on the command line), got "
            f"{type(threads).__name__} {threads!r}; pass e.g. {fix}, or None to measure the faster of "
            "torch's default and 1"
        )
    if threads < 1:
        raise ValueError(
            f"--threads must be an integer >= 1, got {threads!r}; pass 1 or more, or leave it out to measure "
            "the faster of torch's default and 1"
        )


def _plan_folder(
    root: Path,
    budget_text: str | float | None,
    device: str,
    threads: int | None,
    precision: str | None,
    measure_limit: float,
    images: str | None,
    masks: str | None,
    roi: str | None,
    mask_kind: str | None,
    void: list[int] | None,
    split: Mapping[str, tuple[int, int]] | None,
    unmatched: str,
    classes: str | Path | None,
    target: str | None,
    command: str,
    score: str | None,
) -> PlannedDataset:
    import torch

    from unetkit.data.folder import cache_fits, decoded_bytes
    from unetkit.devices import resolve_device
    from unetkit.planning import discover, fingerprint, make_plan, measure_candidates, parse_duration
    from unetkit.planning.fingerprint import images_text
    from unetkit.planning.plan import (
        MIN_STEPS,
        augmentation,
        candidates,
        choose_geometry,
        confirm_at_trained_width,
        data_probe,
        default_budget,
        loader_workers,
        mean_shape,
        seconds_text,
        split_sizes,
        time_forward,
    )

    if threads is not None:
        torch.set_num_threads(threads)
    budget = parse_duration(str(budget_text)) if budget_text is not None else None
    device = resolve_device(device)
    started = time.perf_counter()
    layout = discover(
        root,
        image_dir=images,
        mask_dir=masks,
        roi_dir=roi,
        mask_kind=mask_kind,
        void=void,
        splits=dict(split) if split else None,
        unmatched=unmatched,
        classes_file=classes,
    )
    if target is not None:
        from unetkit.planning.discovery import with_instance_target

        layout = with_instance_target(layout, target)
    t_discover = time.perf_counter() - started
    # One line as each phase starts: a plan takes up to a minute, and a log file otherwise stayed empty until
    # all its lines came at once (trial 28).
    logger.info("planning: the fingerprint of the data (%d image/mask pairs)", len(layout.samples))
    fp = fingerprint(layout)
    geo = choose_geometry(fp, device)
    aug, _ = augmentation(fp, geo, layout.mask.target)  # the data probe times the augmentation trained
    cands = candidates(geo, device)
    # A CPU plan loads with no workers: its training images stay decoded in memory when they fit (data.cache).
    train = set(layout.splits.get("train", []))
    train_sizes = [size for sample, size in zip(layout.samples, layout.sizes) if sample.name in train]
    cached = device == "cpu" and cache_fits(decoded_bytes(train_sizes, layout.channels), 0)
    thread_note = ""
    probe_timed: dict[str, dict[str, float]] = {}  # the probe's step: a timing of the first candidate
    probe_started = time.perf_counter()
    if threads is None and device == "cpu" and torch.get_num_threads() > 1:
        logger.info("planning: timing training steps at 1 and %d threads", torch.get_num_threads())
        thread_note = pick_threads(cands[0], layout.channels, layout.mask.num_classes, probe_timed)
    t_threads = time.perf_counter() - probe_started
    loaders = loader_workers(device) > 0  # a GPU plan's samples are read in loader processes
    candidate_limit, limit_text = candidate_time_limit(measure_limit, t_threads if thread_note else 0.0)
    logger.info(
        "planning: timing training steps of %d U-Net widths on %s (at most %.0f s)", len(cands), device,
        candidate_limit,
    )  # fmt: skip
    machine = measure_candidates(
        cands,
        layout.channels,
        layout.mask.num_classes,
        device,
        time_limit_s=candidate_limit,
        limit_text=limit_text,
        stop_above_s=budget / MIN_STEPS if budget else None,
        earlier=probe_timed,
        data_probe=lambda: data_probe(
            layout, geo.crop, aug, cached=cached, window=fp.intensity_window, loader_process=loaders
        ),
    )
    budget_note = ""
    if budget is None:
        budget, budget_note = default_budget(fp, device, machine, precision, geometry=geo)

    def replan(measured: Any, forced: str | None = None) -> Any:
        return make_plan(
            fp, budget, device, measured, layout=layout, precision=forced or precision, geometry=geo,
            score=score,
        )  # fmt: skip

    plan = replan(machine)
    # bf16's decision at the width a bf16 plan trains, not only at the one measure_candidates re-timed.
    plan, machine = confirm_at_trained_width(
        plan, machine, cands, replan, layout.channels, layout.mask.num_classes, device
    )
    t_forward = 0.0
    val_sizes = split_sizes(layout).get("val") or []
    if val_sizes:  # the estimate of the scoring after the budget scales one view of prediction timed now
        forward_started = time.perf_counter()
        logger.info("planning: timing a forward pass for the estimate of the scoring after the budget")
        forward = time_forward(
            plan.config["model"],
            layout.channels,
            layout.mask.num_classes,
            mean_shape(val_sizes),
            device,
            threads=machine.threads if device == "cpu" else None,
        )
        t_forward = time.perf_counter() - forward_started
        machine = dataclasses.replace(machine, forward=forward)
        # The same plan (make_plan is pure; only the estimate after the budget reads the timing).
        plan = replan(machine)
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
        "forward": round(t_forward, 2),
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
        f"fingerprint ({fp.sampled_images} training images, {fp.seconds:.1f}s): images: {images_text(fp)}, "
        f"{size_text(fp)}, "
        f"intensity mean {fp.intensity['mean']} std {fp.intensity['std']}",
        *([f"intensity window: {fp.window_reason}"] if fp.window_reason else []),
        f"normalisation: {fp.normalization_reason}",
        *_fmt_classes(fp),
        *[f"note: {n}" for n in fp.notes],  # the images read; a class no mask read holds
        *[line for line in [void_line(m, fp, layout.has_roi)] if line],
        f"machine: {machine.description}, {threads_text(machine.threads)}, flags "
        f"{' '.join(machine.cpu_flags)}; data {machine.data_seconds_per_sample:.3f}s/sample"
        + (" (the decoded training images stay in memory: data.cache)" if cached else ""),
        "candidates (measured steps):",
        *_measured_lines(plan, machine, chosen, lambda name: f"{name:<36}"),
        *([f"budget: {budget_note}"] if budget_note else []),
        *(
            [
                f"budget: --time {budget_text} is read as {budget / 60:g} "
                f"minute{'' if budget == 60 else 's'} (write 20m, 90s or 1h)"
            ]
            if budget_text is not None and re.fullmatch(r"\s*\d+(\.\d+)?\s*", str(budget_text))
            else []
        ),
        f"plan ({seconds_text(budget)} on {device}; planned in {elapsed:.1f}s):",  # as --time and plan.png
        *[f"  {k}: {v}" for k, v in plan.reasons.items()],
        *[f"  NOT EXPRESSIBLE in the config yet: {u}" for u in plan.unsupported],
        *[f"warning: {w}" for w in plan.warnings],
    ]
    timing = plan.summary["plan_seconds"]
    # Every option given, so that the header's command plans the same task again.
    given = _option_flags(threads, precision, measure_limit, images, masks, roi, mask_kind, void, split,
                          unmatched, classes, target)  # fmt: skip
    header = [
        f"unetkit {command} {shlex.quote(str(root))} --time {budget / 60:g}m --device {device}{given}: "
        f"planned in {elapsed:.1f}s",
        f"machine: {machine.description}, {threads_text(machine.threads)}; every key can be overridden on "
        "the fit command line (key.sub=value)",
        f"seconds: discover {timing['discover']}, fingerprint {timing['fingerprint']}, thread probe "
        f"{timing['threads']}, measure "
        f"{timing['measure']}, forward {timing['forward']}, total {timing['total']} (imports excluded)",
        "measured training steps (forward, CE + Dice, backward, AdamW on random data) and the budget:",
        *_measured_lines(plan, machine, chosen, lambda name: f"{name}:"),
        f"data loading + augmentation: {machine.data_seconds_per_sample:.3f}s/sample",
    ]
    dataset = layout.to_dict() | {"fingerprint": fp.to_dict()}
    return PlannedDataset(plan, layout, lines, plan.to_yaml(header), dataset, fp, tuple(header))


def _option_flags(
    threads: int | None,
    precision: str | None,
    measure_limit: float,
    images: str | None,
    masks: str | None,
    roi: str | None,
    mask_kind: str | None,
    void: list[int] | None,
    split: Mapping[str, tuple[int, int]] | None,
    unmatched: str,
    classes: str | Path | None,
    target: str | None,
) -> str:
    """`` --threads 2 --void 11 --classes FILE ...``: the planning options given (as ``unetkit plan``'s
    flags), for plan.yaml's header line: a header without them (a trial's ``void=[11]``) named a command
    that plans another task."""
    flags: list[tuple[str, object]] = [
        ("--threads", threads), ("--precision", precision),
        ("--measure-limit", f"{measure_limit:g}" if measure_limit != 30.0 else None),
        ("--images", images), ("--masks", masks), ("--roi", roi), ("--mask-kind", mask_kind),
        *[("--void", v) for v in void or []],
        ("--split", ",".join(f"{k}={a}:{b}" for k, (a, b) in split.items()) if split else None),
        ("--unmatched", unmatched if unmatched != "error" else None),
        ("--classes", os.fspath(classes) if classes is not None else None), ("--target", target),
    ]  # fmt: skip
    return "".join(f" {flag} {shlex.quote(str(value))}" for flag, value in flags if value is not None)


def _measured_lines(plan: Any, machine: Any, chosen: str, label: Callable[[str], str]) -> list[str]:
    """The measured candidates (``label`` formats each name), the other measured steps and the measuring
    notes: the console report's and plan.yaml's header's, which differ only in the names' layout."""
    rows = [
        f"  {label(r['candidate'])} {r['step_seconds']:.3f}s/step -> {r['steps_in_budget']} steps, "
        f"{r['epochs_in_budget']} epochs of {r['steps_per_epoch']} "
        f"(checkpoint {r['checkpoint_seconds']:.2f}s"
        + (f", epoch start {r['epoch_start_seconds']:.2f}s" if r.get("epoch_start_seconds") else "")
        + ")"
        for r in plan.table
    ]
    steps = machine.step_seconds.items()
    others = [f"  {k}: {v:.3f}s/step" for k, v in steps if not k.endswith(" " + chosen)]
    forward = machine.forward
    how = "forward pass timed as prediction runs it (eval, inference mode)"
    timed = [f"  {how}, {forward.model}: {forward.text()}"] if forward is not None else []
    return [*rows, *others, *timed, *[f"  {n}" for n in machine.notes]]
