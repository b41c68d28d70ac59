"""Time and check every available inference backend/precision of a model on this machine.

Used by ``unetkit benchmark`` (a table and a recommendation), by ``--backend auto`` (which picks the fastest
backend that passes the checks) and by ``benchmarks/deploy_speed.py``: one timing rule for all of them. All
candidates run in one process on the same input, interleaved round by round (drift in the machine's load hits
all alike), each round starting one candidate further on (whatever an engine leaves running after its call
meets a different engine each round), and the median round is kept. onnxruntime sessions do not spin their
idle threads (:class:`~unetkit.inference.ort_backend.OrtPredictor`): spinning ones kept a core busy for
~0.1 s after each call, taken from the candidate timed next (a trial read onnxruntime at 14x eager where a
timing a minute before read 3.5x). Each candidate's logits are compared with eager PyTorch. :func:`busy_note`
words a machine that was busy while timing.

Passing the checks: eager PyTorch is the reference; an fp32 backend passes when its max logit difference to
eager is <= ``atol`` (1e-4); a reduced-precision variant (bf16, int8) passes when its accuracy gate passed
(at export, recorded in ``deploy.json``, or here on a validation set, which then decides).

Torch-free except for the eager candidate (imported only when it is built).
"""

from __future__ import annotations

import functools
import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from unetkit.inference.pipeline import BasePredictor
from unetkit.inference.variants import (
    VARIANT_DIRS,
    Variant,
    available_variants,
    export_check,
    find_export_dir,
    gate_passed,
)

logger = logging.getLogger(__name__)

EAGER = "torch-fp32"
DEFAULT_ATOL = 1e-4


@dataclass
class Candidate:
    """A backend/precision to try; ``build(**options)`` returns its predictor (may raise if unavailable)."""

    backend: str
    precision: str
    build: Callable[..., BasePredictor]
    gate_passed: bool = False  # reduced precision: the export's accuracy gate passed (deploy.json)
    export_check: dict[str, Any] | None = None  # fp32: how export checked it against eager (deploy.json)

    @property
    def name(self) -> str:
        return f"{self.backend}-{self.precision}"


@dataclass
class Measurement:
    """One row of the benchmark: speed and agreement of a candidate with eager PyTorch."""

    name: str
    backend: str
    precision: str
    seconds: list[float]
    images_per_s: float
    megapixels_per_s: float
    ratio_to_eager: float | None
    max_logit_diff: float | None
    passes_gate: bool
    why: str
    metric: str | None = None
    metric_value: float | None = None
    metric_delta: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def time_interleaved(
    fns: dict[str, Callable[[], object]], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds per call of each function: ``warmup`` untimed calls each, then ``rounds`` rounds calling every
    function once in turn (round-robin), so machine drift affects every candidate alike.

    Round ``r`` starts at the ``r``-th function (rotated), so no function always follows the same one: the
    threads an engine leaves busy after its call (onnxruntime's spin, OpenMP's wait) would otherwise slow
    the same neighbour in every round.
    """
    if rounds < 1 or warmup < 0:
        raise ValueError(f"rounds must be >= 1 and warmup >= 0, got rounds={rounds}, warmup={warmup}.")
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(rounds):
        shift = r % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return times


def busy_note(busy: tuple[float, int]) -> str:
    """The words for a machine that was busy while the engines were timed: ``busy`` is
    :func:`unetkit.devices.busy_load`'s ``(1-minute load, CPUs)``, read just before timing (backend auto and
    ``unetkit benchmark`` alike)."""
    return (
        f"the machine was busy while timing (1-minute load {busy[0]:.1f} on {busy[1]} CPUs), so the ranking "
        "may not hold"
    )


def _ov_bf16_ok() -> bool:
    try:
        from unetkit.inference.ov_backend import ov_supports_bf16

        return ov_supports_bf16()
    except ImportError:
        return False


def list_candidates(
    model_path: str | Path, export_dir: Path | None = None, eager: bool = True
) -> list[Candidate]:
    """Eager PyTorch (when ``eager``) plus every variant found in the export folder of ``model_path``.

    Reduced-precision variants come with ``gate_passed`` from ``deploy.json``; bf16 only where OpenVINO
    reports native bf16 on this CPU (elsewhere it would be emulated, slowly).
    """
    from unetkit.inference.backends import load_predictor

    model_path = Path(model_path)
    export_dir = export_dir if export_dir is not None else find_export_dir(model_path)
    found: list[Candidate] = []
    if eager and export_dir is not None and export_only(model_path, export_dir):

        def no_eager(**o: Any) -> Any:
            raise FileNotFoundError(
                f"{model_path} is an export folder: it runs only the exported engines (pass the run or model "
                "folder to time eager PyTorch too)"
            )

        found.append(Candidate("torch", "fp32", no_eager, True))
    elif eager:
        found.append(
            Candidate("torch", "fp32", lambda **o: load_predictor(model_path, backend="torch", **o), True)
        )
    if export_dir is None:
        return found
    for variant in available_variants(export_dir, gated_only=False):
        if variant.precision == "bf16" and not _ov_bf16_ok():
            continue

        def build(variant: Variant = variant, **o: Any) -> Any:
            if variant.backend == "openvino":  # OvPredictor finds the int8 folder and sets the bf16 hint
                return load_predictor(export_dir, backend="openvino", precision=variant.precision, **o)
            return load_predictor(variant.folder, backend=variant.backend, **o)

        if variant.precision == "fp32":
            check = export_check(export_dir, variant.backend)
            found.append(Candidate(variant.backend, "fp32", build, True, check))
        else:
            found.append(
                Candidate(variant.backend, variant.precision, build, gate_passed(export_dir, variant.key))
            )
    return found


def export_only(model_path: Path, export_dir: Path) -> bool:
    """Whether ``model_path`` is the export folder ``export_dir`` (or its ``config.json``) and holds no torch
    model: the torch loader would look for ``model.safetensors`` beside its ``config.json`` (or in
    ``model/``) and find none."""
    folder = model_path.parent if model_path.is_file() and model_path.name == "config.json" else model_path
    return (
        folder.is_dir()
        and folder.resolve() == export_dir.resolve()
        and not (folder / "model.safetensors").is_file()
        and not (folder / "model").is_dir()
    )


def build_predictors(
    candidates: Sequence[Candidate], **options: Any
) -> tuple[dict[str, tuple[Candidate, BasePredictor]], dict[str, str]]:
    """Predictors of the candidates that can be built here, and why the others cannot (name -> reason)."""
    from unetkit.inference.backends import quiet_engine_lines

    built: dict[str, tuple[Candidate, BasePredictor]] = {}
    skipped: dict[str, str] = {}
    for candidate in candidates:
        try:
            with quiet_engine_lines():  # candidates to time, not the engine a prediction runs
                built[candidate.name] = (candidate, candidate.build(**options))
        except (ImportError, FileNotFoundError, ValueError, RuntimeError) as exc:
            skipped[candidate.name] = f"{type(exc).__name__}: {exc}"
            logger.info("skipping %s: %s", candidate.name, skipped[candidate.name])
    return built, skipped


def check_same_model(
    built: dict[str, tuple[Candidate, BasePredictor]], export_dir: Path, model_path: str | Path
) -> None:
    """Refuse to compare the eager model of ``model_path`` with an export of other weights: deploy.json
    records the weights digest each fp32 export was made from (exports older than that record pass)."""
    from unetkit.inference.variants import exported_weights
    from unetkit.model_files.model_io import weights_digest

    eager = built.get("torch-fp32")
    recorded = exported_weights(export_dir)
    if eager is None or not recorded:
        return
    model = getattr(eager[1], "model", None)
    if model is None or weights_digest(model) in recorded:
        return
    raise ValueError(
        f"{export_dir} was exported from another model than {model_path} (deploy.json records other "
        f"weights); pass {model_path}'s own export folder, or export it: unetkit export {model_path} "
        "--out DIR"
    )


def bench_input(predictor: BasePredictor, size: int, batch: int, seed: int = 0) -> np.ndarray:
    """A random normalised batch (batch, C, h, w) of the size a ``size x size`` image is given to the network
    as (:meth:`~unetkit.inference.pipeline.BasePredictor.pass_shape`: a valid size, never below the smallest
    pass side, so that every backend runs it)."""
    h, w = predictor.pass_shape(size, size)
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, predictor.config.in_channels, h, w), dtype=np.float32)


def measure(
    built: dict[str, tuple[Candidate, BasePredictor]],
    x: np.ndarray,
    rounds: int = 3,
    warmup: int = 1,
    atol: float = DEFAULT_ATOL,
    metrics: dict[str, dict[str, Any]] | None = None,
    tolerance: float | None = None,
) -> list[Measurement]:
    """Time ``_predict_batch(x)`` of every predictor (interleaved) and check it against eager.

    ``metrics`` (optional): name -> {"metric", "value", "drop"} from :func:`validation_deltas`; with it the
    validation drop decides the gate of reduced-precision candidates (and must be <= ``tolerance``).
    """
    reference = built[EAGER][1]._predict_batch(x) if EAGER in built else None
    fns: dict[str, Callable[[], object]] = {
        name: functools.partial(predictor._predict_batch, x) for name, (_, predictor) in built.items()
    }
    times = time_interleaved(fns, rounds=rounds, warmup=warmup)
    n, _, h, w = x.shape
    eager_s = statistics.median(times[EAGER]) if EAGER in times else None
    rows = []
    for name, (candidate, predictor) in built.items():
        seconds = statistics.median(times[name])
        diff = None
        if reference is not None:
            out = predictor._predict_batch(x)
            diff = (
                float(np.max(np.abs(out.astype(np.float64) - reference)))
                if out.shape == reference.shape
                else float("inf")
            )
        passes, why = _verdict(candidate, diff, atol, (metrics or {}).get(name), tolerance)
        info = (metrics or {}).get(name) or {}
        rows.append(
            Measurement(
                name=name,
                backend=candidate.backend,
                precision=candidate.precision,
                seconds=[round(t, 5) for t in times[name]],
                images_per_s=n / seconds,
                megapixels_per_s=n * h * w / seconds / 1e6,
                ratio_to_eager=(eager_s / seconds) if eager_s else None,
                max_logit_diff=diff,
                passes_gate=passes,
                why=why,
                metric=info.get("metric"),
                metric_value=info.get("value"),
                metric_delta=info.get("drop"),
            )
        )
    return rows


def _verdict(
    candidate: Candidate,
    diff: float | None,
    atol: float,
    metric: dict[str, Any] | None,
    tolerance: float | None,
) -> tuple[bool, str]:
    if candidate.name == EAGER:
        return True, "reference"
    if candidate.precision == "fp32":
        if diff is None:
            return _export_verdict(candidate.export_check)
        ok = bool(np.isfinite(diff) and diff <= atol)
        return ok, f"max logit diff {diff:.2g} {'<=' if ok else '>'} {atol:g}"
    if metric is not None and tolerance is not None:
        ok = bool(np.isfinite(metric["drop"]) and metric["drop"] <= tolerance)
        return ok, f"{metric['metric']} drop {metric['drop']:+.4f} {'<=' if ok else '>'} {tolerance:g} here"
    if candidate.gate_passed:
        return True, "accuracy gate passed at export (deploy.json)"
    return False, "no accuracy gate passed (export it with --precision and a validation set)"


def _export_verdict(check: dict[str, Any] | None) -> tuple[bool, str]:
    """The verdict on an fp32 export with no eager model here: the check export recorded (deploy.json)."""
    if check is None:  # an export made before the check was recorded
        return True, "as exported: checked against eager unless exported --no-verify (no eager here)"
    if not check.get("checked"):
        return False, "exported --no-verify: never compared with eager (no eager here; export it again)"
    diff, atol = float(check["max_abs_diff"]), float(check["atol"])
    return True, f"as exported: max logit diff {diff:.2g} <= {atol:g} against eager at export"


def validation_deltas(
    built: dict[str, tuple[Candidate, BasePredictor]], val: Any, metric: str | None = None
) -> dict[str, dict[str, Any]]:
    """name -> {"metric", "value", "drop"}: each candidate's validation score and its drop against eager
    (or, without eager, against the first fp32 candidate). ``val`` is a quantize.ValidationSet."""
    from unetkit.export.quantize import metric_drop, validation_scores

    metric = metric or val.default_metric
    values = {name: float(validation_scores(p, val)[metric]) for name, (_, p) in built.items()}
    ref_name = EAGER if EAGER in values else next(n for n, (c, _) in built.items() if c.precision == "fp32")
    return {
        name: {"metric": metric, "value": value, "drop": metric_drop(metric, values[ref_name], value)}
        for name, value in values.items()
    }


def recommend(rows: Sequence[Measurement]) -> Measurement | None:
    """The fastest row that passes the checks (None when none does)."""
    passing = [row for row in rows if row.passes_gate]
    return max(passing, key=lambda row: row.images_per_s) if passing else None


def format_table(rows: Sequence[Measurement]) -> str:
    """Markdown table of the measurements, fastest first."""
    lines = [
        "| backend | precision | images/s | megapixels/s | x eager | max logit diff | metric drop | passes "
        "| why |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda row: -row.images_per_s):
        ratio = f"{r.ratio_to_eager:.2f}" if r.ratio_to_eager is not None else "-"
        diff = f"{r.max_logit_diff:.2g}" if r.max_logit_diff is not None else "-"
        delta = f"{r.metric_delta:+.4f} {r.metric}" if r.metric_delta is not None else "-"
        lines.append(
            f"| {r.backend} | {r.precision} | {r.images_per_s:.2f} | {r.megapixels_per_s:.2f} | {ratio} | "
            f"{diff} | {delta} | {'yes' if r.passes_gate else 'no'} | {r.why} |"
        )
    return "\n".join(lines)


def _default_export_dir(model_path: Path) -> Path:
    """Where ``unetkit export MODEL`` writes by default: ``MODEL/export`` (a .ckpt's folder's ``export``)."""
    return (model_path.parent if model_path.suffix == ".ckpt" else model_path) / "export"


def predict_commands(best: Measurement, model_path: str | Path, export_dir: Path | None) -> list[str]:
    """The commands that run what ``best`` measured: ``unetkit predict`` on the files of its row in
    ``export_dir``, preceded by the ``unetkit export`` that writes them where there is none (None: they were
    measured on a temporary export).

    ``--backend openvino`` on an export folder runs its fp32 IR; an INT8 model is run by naming its folder
    (``export/int8-openvino``), bf16 by ``--precision bf16``.
    """
    model_path = Path(model_path)
    predict = "unetkit predict {} INPUT --out DIR --backend {}"
    if best.backend == "torch":
        return [predict.format(model_path, "torch")]
    if export_dir is None:
        fmt = "openvino" if best.backend == "openvino" else "onnx"
        folder = _default_export_dir(model_path)
        precision = "" if best.precision == "fp32" else f" --precision {best.precision}"
        lines = [f"export first: unetkit export {model_path} --format {fmt}{precision}"]
    else:
        folder, lines = Path(export_dir), []
    then = "then: " if lines else ""
    if best.precision == "bf16":
        lines.append(then + predict.format(folder, best.backend) + " --precision bf16")
    elif best.precision == "fp32":
        lines.append(then + predict.format(folder, best.backend))
    else:
        variant = next(
            (sub for key, sub in VARIANT_DIRS.items() if key == (best.backend, best.precision)), None
        )
        lines.append(then + predict.format(folder / variant if variant else folder, best.backend))
    return lines
