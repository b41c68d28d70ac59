"""``--backend auto``: the fastest backend that passes the checks for this model on this CPU.

The first prediction with a model times its available backends against eager PyTorch
(:mod:`unetkit.inference.bench`: fp32 backends must agree with eager within 1e-4; bf16/INT8 variants count
only if their accuracy gate passed at export), picks the fastest passing one and caches the choice in
``auto_backend.json`` beside the model, with the CPU model and flags it was measured on. Later runs reuse the
cache without timing (and without importing torch when the choice is not torch); another CPU, another thread
count, or changed model files, invalidate it. Without an exported model (``unetkit export``), or on a GPU,
auto is eager PyTorch. The reason for the choice is logged (the CLI prints it), and the predictor carries it
(:func:`chosen_backend`).

A MODEL that names one exported model (``export/model.onnx``, ``export/model.xml``, ``export/int8-openvino``:
:func:`~unetkit.inference.backends.named_model`) runs that model, nothing timed or cached; a reduced-precision
one only if ``deploy.json`` records its passing accuracy gate, which the logged reason quotes.

Threads: with ``num_threads`` every engine is timed at that count (the count the predictor then runs with,
e.g. a ``unetkit serve`` worker's) and the chosen one loaded with it. A caller that already chose
(``unetkit serve`` chooses once, before its workers load) passes its :class:`Choice` as ``choice``.
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from unetkit.devices import busy_load
from unetkit.files import atomic_write_text
from unetkit.inference.backends import (
    NamedModel,
    load_predictor,
    named_model,
    register_backend,
    torch_threads,
)
from unetkit.inference.bench import (
    EAGER,
    Measurement,
    bench_input,
    build_predictors,
    busy_note,
    export_only,
    list_candidates,
    measure,
    recommend,
)
from unetkit.inference.pipeline import BasePredictor
from unetkit.inference.signal_stack import keeping_signal_stack
from unetkit.inference.variants import (
    MANIFEST_NAME,
    cpu_info,
    export_check,
    find_export_dir,
    gate_passed,
    read_manifest,
    variant_folder,
)
from unetkit.model_files.model_config import CONFIG_NAME, WEIGHTS_NAME

logger = logging.getLogger(__name__)

CACHE_NAME = "auto_backend.json"
CACHE_VERSION = 1
AUTO_SIZE = 256  # side (px) of the timing input: long enough to time, short enough for a first run
AUTO_ROUNDS = 3


class Choice(NamedTuple):
    """What ``--backend auto`` runs, why, where its files are, and whether it came from the cache."""

    backend: str
    precision: str
    reason: str
    export_dir: Path | None
    cached: bool = False


def model_location(model_path: str | Path) -> Path:
    """The one name of a model location that keys the cache: a folder's ``config.json`` or
    ``model.safetensors`` is that folder (``export/config.json``, ``export/`` and ``export`` are one model and
    were timed again at each switch). Other files (a ``.ckpt``) stay as named."""
    path = Path(model_path)
    if path.is_file() and path.name in (CONFIG_NAME, WEIGHTS_NAME):
        return path.parent
    return path


def cache_path(model_path: str | Path) -> Path:
    """``auto_backend.json`` in the folder of ``model_path`` (the folder itself, or a file's folder)."""
    path = Path(model_path)
    return (path.parent if path.is_file() else path) / CACHE_NAME


def model_fingerprint(model_path: Path, export_dir: Path | None) -> dict[str, list[int]]:
    """(size, mtime_ns) of the model files the choice depends on: weights, exports, deploy.json."""
    folder = model_path.parent if model_path.is_file() else model_path
    paths = {model_path} if model_path.is_file() else set()
    for root in {folder, folder / "model", *([export_dir] if export_dir else [])}:
        if root.is_dir():
            for pattern in ("model.*", "*/model.*", "deploy.json", "*.ckpt"):
                paths.update(p for p in root.glob(pattern) if p.is_file())
    out = {}
    for p in sorted(paths):
        stat = p.stat()
        out[str(p.resolve())] = [stat.st_size, stat.st_mtime_ns]
    return out


def _cpu_key() -> dict[str, Any]:
    info = cpu_info()
    return {"cpu_model": info["cpu_model"], "cpu_flags": info["cpu_flags"], "cpu_count": info["cpu_count"]}


def _threads_text(num_threads: int | None) -> str:
    return "the default thread count" if num_threads is None else f"{num_threads} thread(s)"


class _LoadReading:
    """:func:`~unetkit.devices.busy_load`, read once when first asked (a 0.2 s wait where the load average
    reads busy) and the same answer after: the cache's "idle now" and the timing's busy note come from one
    reading, taken before this process loads any engine (a trial read idle, then busy a few seconds later
    while its own engines loaded, and logged both)."""

    def __init__(self) -> None:
        self._value: tuple[float, int] | None = None
        self._read = False

    def __call__(self) -> tuple[float, int] | None:
        if not self._read:
            self._value, self._read = busy_load(), True
        return self._value


def _load_text(busy: tuple[float, int]) -> str:
    return f"1-minute load {busy[0]:.1f} on {busy[1]} CPUs"


def read_cache(
    model_path: Path,
    export_dir: Path | None,
    num_threads: int | None = None,
    load: _LoadReading | None = None,
) -> dict[str, Any] | None:
    """The cached choice when it was measured on this CPU for these model files at ``num_threads``, else None
    (with why). The thread count matters: an engine's speed-up over another changes with it (serve's workers
    run at one thread each, where predict had timed two).

    A choice timed on a busy machine is timed again once the machine is idle (``load``: the reading to
    decide by, read now when None); while it is still busy the cached choice is kept, and the returned
    record's ``still_busy`` holds the reading, ``(1-minute load, CPUs)``: timing again under load would only
    cost the time (about 15 s a start) and rank the engines under load once more."""
    path = cache_path(model_path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        logger.info("%s is unreadable; measuring again", path)
        return None
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return None
    if data.get("cpu") != _cpu_key():
        logger.info("%s was measured on another CPU (model or flags differ); measuring again", path)
        return None
    if data.get("files") != model_fingerprint(model_path, export_dir):
        logger.info("the model files changed since %s was written; measuring again", path)
        return None
    still_busy = None
    if data.get("busy_load") is not None:
        # Timed under other work, which ranks engines differently (a trial: OpenVINO at 64x eager while a
        # fit ran, onnxruntime at 6x a minute later): timed again once the machine is found idle.
        still_busy = (load or _LoadReading())()
        if still_busy is None:
            logger.info(
                "%s was timed on a busy machine (1-minute load %s); the machine is idle now: measuring again",
                path,
                data["busy_load"],
            )
            return None
    if data.get("threads", "?") != num_threads:
        logger.info(
            "%s was measured at %s, this predictor runs at %s; measuring again",
            path,
            _threads_text(data.get("threads")) if "threads" in data else "an unrecorded thread count",
            _threads_text(num_threads),
        )
        return None
    return {**data, "still_busy": still_busy} if still_busy is not None else data


def write_cache(
    model_path: Path,
    export_dir: Path | None,
    choice: Measurement,
    rows: list[Measurement],
    reason: str,
    timed: dict[str, Any] | None = None,
) -> Path | None:
    """Store the choice beside the model; an unwritable folder only costs a new measurement next time.
    ``timed``: how the engines were timed (``threads``, the input ``size`` and ``batch``)."""
    timed = timed or {}
    data = {
        "version": CACHE_VERSION,
        "backend": choice.backend,
        "precision": choice.precision,
        "reason": reason,
        "threads": timed.get("threads"),
        "input": {"size": timed.get("size"), "batch": timed.get("batch")},
        "busy_load": timed.get("busy_load"),
        "cpu": _cpu_key(),
        "files": model_fingerprint(model_path, export_dir),
        "export_dir": str(export_dir) if export_dir else None,
        "measured_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "rows": [
            {
                k: row.to_dict()[k]
                for k in ("name", "images_per_s", "ratio_to_eager", "max_logit_diff", "passes_gate", "why")
            }
            for row in rows
        ],
    }
    path = cache_path(model_path)
    try:
        return atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    except OSError as exc:
        logger.warning("cannot cache the backend choice in %s (%s); it will be measured again", path, exc)
        return None


def _describe(row: Measurement, rows: list[Measurement]) -> str:
    ratio = f"{row.ratio_to_eager:.2f}x eager" if row.ratio_to_eager is not None else "no eager reference"
    others = ", ".join(
        f"{r.name} "
        + (f"{r.ratio_to_eager:.2f}x" if r.ratio_to_eager else f"{r.images_per_s:.1f} img/s")
        # The failed check itself (trial 24: "(fails checks)" left the user guessing which).
        + ("" if r.passes_gate else f" (fails: {r.why})")
        for r in rows
        if r is not row
    )
    return f"{row.name}: fastest passing backend, {ratio} ({row.why}); others: {others or 'none'}"


def _named_choice(model_path: Path, named: NamedModel) -> Choice:
    """What auto runs for a MODEL that names one exported model (:func:`named_model`): that model, as named,
    nothing timed; a reduced-precision one only if its accuracy gate passed at export (auto's promise)."""
    key = f"{named.backend}-{named.precision}"
    what = (
        f"{model_path} names this one model, run as named without timing others "
        f"(pass its export folder {named.export_dir} to pick the fastest)"
    )
    if named.precision == "fp32":
        recorded = export_check(named.export_dir, named.backend)
        if recorded is None:
            how = "fp32 as exported, not compared with eager here"
        elif recorded["checked"]:
            how = f"fp32, max logit diff {float(recorded['max_abs_diff']):.2g} against eager at export"
        else:
            how = "fp32 exported --no-verify: never compared with eager"
        return Choice(named.backend, "fp32", f"{what}; {how}", named.export_dir)
    manifest = named.export_dir / MANIFEST_NAME
    if not gate_passed(named.export_dir, key):
        fmt = "openvino" if named.backend == "openvino" else "onnx"
        raise ValueError(
            f"{model_path} is the {named.precision.upper()} {named.backend} model of {named.export_dir}, "
            f"but {manifest} records no passing accuracy gate for it (never gated, or its fp32 model was "
            f"exported again since): make it again with `unetkit export MODEL --format {fmt} --precision "
            f"{named.precision}`, or run it unchecked with --backend {named.backend}."
        )
    gate = read_manifest(named.export_dir)["variants"][key]
    check = (
        f"accuracy gate passed at export: {gate.get('metric')} drop {float(gate.get('drop', 0.0)):+.4f} <= "
        f"{float(gate.get('tolerance', 0.0)):g} on {gate.get('images')} image(s) ({manifest})"
    )
    return Choice(named.backend, named.precision, f"{what}; {check}", named.export_dir)


def _export_only(model_path: Path, export_dir: Path) -> bool:
    """Whether ``model_path`` is an export folder holding no torch model (:func:`bench.export_only`)."""
    return export_only(model_path, export_dir)


def _eager_note(export_only: bool, skipped: dict[str, str]) -> str:
    """Why the choice has no eager reference, worded as the fact it is (an export-only folder is normal)."""
    if export_only:
        return "eager PyTorch: not in this folder (export-only)"
    why = skipped.get(EAGER, "not built")
    if why.startswith(("ImportError", "ModuleNotFoundError")):
        return "eager PyTorch: torch is not installed here"
    return f"eager PyTorch: not loaded ({why})"


def _time_engines(
    model_path: Path,
    export_dir: Path,
    export_only: bool,
    size: int,
    batch: int,
    rounds: int,
    num_threads: int | None,
) -> tuple[list[Measurement], list[str], dict[str, str]]:
    """Build and time the candidate engines of :func:`choose`: its rows, the names timed, and why the others
    were skipped. The engines are freed when this returns (the rows hold none), inside the caller's
    :func:`~unetkit.inference.signal_stack.keeping_signal_stack`."""
    built: dict[str, Any] = {}
    try:
        with torch_threads(num_threads):  # the eager candidate's count, the caller's again afterwards
            candidates = list_candidates(model_path, export_dir, eager=not export_only)
            built, skipped = build_predictors(candidates, num_threads=num_threads)
            if not built:
                raise ValueError(
                    f"no backend can load {model_path}: " + "; ".join(f"{k}: {v}" for k, v in skipped.items())
                )
            names = list(built)
            logger.info("timing %s once on this CPU to pick a backend (%d rounds)", ", ".join(names), rounds)
            rows = measure(built, bench_input(built[names[0]][1], size, batch), rounds=rounds)
    except BaseException as exc:
        # A failed or interrupted (Ctrl-C) timing's traceback holds its engines in its frames: freed now,
        # inside the caller's keeping_signal_stack, not whenever the exception is dropped.
        built = {}
        traceback.clear_frames(exc.__traceback__)
        raise
    return rows, names, skipped


def choose(
    model_path: str | Path,
    refresh: bool = False,
    size: int = AUTO_SIZE,
    batch: int = 1,
    rounds: int = AUTO_ROUNDS,
    num_threads: int | None = None,
) -> Choice:
    """The backend/precision for ``model_path`` on this CPU: cached, or measured now (and cached).

    ``num_threads``: inference threads to time every engine with (the count the predictor will run with,
    e.g. a ``unetkit serve`` worker's; torch's put back afterwards); None times each at its default.
    """
    model_path = Path(model_path)
    named = named_model(model_path)
    if named is not None:  # one model named (export/model.onnx, export/int8-openvino): nothing to choose
        return _named_choice(model_path, named)
    model_path = model_location(model_path)
    export_dir = find_export_dir(model_path)
    if export_dir is None:
        reason = "no exported model next to it (`unetkit export MODEL --format openvino`)"
        return Choice("torch", "fp32", reason, None)
    load = _LoadReading()  # one reading for the cache's decision and the timing's note
    if not refresh:
        cached = read_cache(model_path, export_dir, num_threads, load)
        if cached is not None:
            kept = ""
            if cached.get("still_busy") is not None:
                kept = (
                    f" (timed on a busy machine, and it is still busy: {_load_text(cached['still_busy'])}; "
                    "kept, not timed again, until it is idle)"
                )
            reason = f"cached in {cache_path(model_path)}{kept}: {cached['reason']}"
            return Choice(cached["backend"], cached["precision"], reason, export_dir, cached=True)
    # An export-only folder has no eager candidate: not tried (no torch import, no "skipping" line).
    export_only = _export_only(model_path, export_dir)
    # Read before any engine loads or runs: this process's own work (compiling, timing) must not count.
    busy = load()
    # The engines are made and freed inside: OpenVINO's, freed in the order they were made, leave this
    # thread's signal stack in freed memory, and the next Ctrl-C handled here (during a long predict, a
    # server's shutdown) was a segmentation fault.
    with keeping_signal_stack():
        rows, timed_names, skipped = _time_engines(
            model_path, export_dir, export_only, size, batch, rounds, num_threads
        )
    best = recommend(rows)
    if best is None:  # only ungated reduced-precision files and no eager model to compare with
        raise ValueError(f"no backend for {model_path} passes the checks: " + "; ".join(r.why for r in rows))
    # The size the speed-ups hold for: a 1024 px image may see a smaller one (a trial read 17x at 256 px
    # where benchmark measured 3x at 1024 px).
    reason = f"{_describe(best, rows)}; timed on {size}x{size} px, batch {batch}"
    if EAGER not in timed_names:
        reason += f"; {_eager_note(export_only, skipped)}"
    if busy is not None:
        reason += (
            f"; {busy_note(busy)}: timed again once it is idle (or name the engine: --backend onnxruntime or "
            "openvino)"
        )
    timed = {"threads": num_threads, "size": size, "batch": batch, "busy_load": busy and busy[0]}
    written = write_cache(model_path, export_dir, best, rows, reason, timed)
    if written is not None:
        reason += f"; cached in {written}"
    return Choice(best.backend, best.precision, reason, export_dir)


def choose_for(
    model_path: str | Path, device: str = "cpu", amp: bool = False, num_threads: int | None = None
) -> Choice:
    """What backend auto runs ``model_path`` on when loaded on ``device`` (with ``amp``): eager PyTorch on a
    GPU or with amp (nothing timed), else :func:`choose`'s choice (``num_threads`` as there)."""
    if str(device) != "cpu" or amp:
        reason = f"device {device}{' with amp' if amp else ''}: only eager PyTorch runs it"
        return Choice("torch", "amp" if amp else "fp32", reason, None)
    return choose(model_path, num_threads=num_threads)


def _load_choice(path: Path, choice: Choice, **options: Any) -> Any:
    if choice.backend == "torch":
        return load_predictor(path, backend="torch", **options)
    if choice.export_dir is None:  # a non-torch choice always comes from an export folder
        raise RuntimeError(f"backend auto chose {choice.backend} without an export folder")
    options.pop("device", None), options.pop("amp", None)
    if choice.backend == "openvino":
        return load_predictor(choice.export_dir, backend="openvino", precision=choice.precision, **options)
    folder = variant_folder(choice.export_dir, choice.backend, choice.precision)
    return load_predictor(folder, backend=choice.backend, **options)


# The attribute of a predictor loaded by backend auto that holds its Choice (see chosen_backend).
_CHOICE_ATTR = "auto_choice"


def chosen_backend(predictor: Any) -> Choice | None:
    """The :class:`Choice` backend auto made for ``predictor`` (the engine it runs on: ``backend``,
    ``precision``, ``reason``), or None for a predictor loaded with a backend named outright.

    ``unetkit serve`` reports it (``GET /api/model``: ``backend openvino``, not ``backend auto``).
    """
    choice = getattr(predictor, _CHOICE_ATTR, None)
    return choice if isinstance(choice, Choice) else None


def _with_choice(predictor: BasePredictor, choice: Choice) -> BasePredictor:
    """``predictor`` carrying ``choice`` (read back by :func:`chosen_backend`)."""
    setattr(predictor, _CHOICE_ATTR, choice)
    return predictor


@register_backend("auto")
def _auto_backend(
    path: Path, device: str = "cpu", amp: bool = False, choice: Choice | None = None, **options: Any
) -> BasePredictor:
    # options include num_threads / concurrency (backends.apply_threads): the timing and the chosen engine
    # get them.
    num_threads = options.get("num_threads")
    if choice is None:
        choice = choose_for(path, device, amp, num_threads=num_threads)
    elif not isinstance(choice, Choice):
        raise TypeError(
            f"choice must be an auto_backend.Choice (from choose_for), got {type(choice).__name__}."
        )
    # Nothing to choose from without an export: said at debug level only, not on every plain torch run.
    on_cpu = str(device) == "cpu" and not amp
    level = logging.INFO if choice.export_dir is not None or not on_cpu else logging.DEBUG
    logger.log(level, "backend auto -> %s %s: %s", choice.backend, choice.precision, choice.reason)
    try:
        return _with_choice(_load_choice(path, choice, device=device, amp=amp, **options), choice)
    except (ImportError, FileNotFoundError, ValueError) as exc:
        if not choice.cached:
            raise
        # The cached choice no longer loads (a package was removed, a file deleted): measure again.
        logger.info(
            "the cached %s %s does not load (%s); measuring again", choice.backend, choice.precision, exc
        )
        choice = choose(path, refresh=True, num_threads=num_threads)
        logger.info("backend auto -> %s %s: %s", choice.backend, choice.precision, choice.reason)
        return _with_choice(_load_choice(path, choice, device=device, amp=amp, **options), choice)
