"""Reduced-precision deployment variants (bf16, INT8) behind an accuracy gate.

INT8 post-training quantization uses well-kept libraries rather than hand-written code: NNCF
(``nncf.quantize``) for the OpenVINO IR and onnxruntime's static QDQ quantization (``quantize_static``) for
the ONNX model. Calibration inputs are exactly the batches the prediction pipeline feeds the network for the
calibration images (normalised, padded/tiled by :class:`~unetkit.inference.pipeline.BasePredictor`), so the
activation ranges are those of deployment. bf16 needs no file: it is OpenVINO's inference precision hint on
the fp32 IR, on CPUs with native bf16 only.

The gate: the reduced variant and its fp32 counterpart (same runtime) segment a validation set through the
same pipeline, both are scored with :func:`unetkit.metrics.score_predictions`, and the variant is refused
(``ValueError``, one line, no file written) when the metric drops by more than ``tolerance``. The result is
recorded in ``deploy.json`` (:mod:`unetkit.inference.variants`) with a hash of the fp32 file it came from,
so a later re-export of a different model invalidates it.

INT8 saturation: CPUs without VNNI (AVX2, AVX-512 without VNNI) multiply u8 x s8 pairs with ``vpmaddubsw``,
whose int16 sums can saturate. NNCF's ``overflow_fix`` (7-bit weights; default ``first_layer_only``) and
onnxruntime's ``reduce_range`` are the remedies; both are options here.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from unetkit.data.io import MaskEncoding, read_image
from unetkit.files import atomic_dir
from unetkit.inference.pipeline import BasePredictor
from unetkit.inference.variants import (
    MODEL_FILES,
    OPENVINO_NAME,
    Variant,
    file_sha256,
    record_gate,
    source_file,
    variant_folder,
)
from unetkit.model_files.model_config import CONFIG_NAME, ONNX_NAME
from unetkit.options import look_up_option

logger = logging.getLogger(__name__)

GATE_METRICS = ("miou", "mean_dice", "pixel_error")
LOWER_IS_BETTER = ("pixel_error",)
DEFAULT_TOLERANCE = {"miou": 0.005, "mean_dice": 0.005, "pixel_error": 0.002}
REDUCED = (("openvino", "bf16"), ("openvino", "int8"), ("onnxruntime", "int8"))
OVERFLOW_FIX = ("first_layer_only", "enable", "disable")
DEFAULT_CALIBRATION_IMAGES = 32


@dataclass(frozen=True)
class ValidationSet:
    """Images and ground-truth masks to gate a variant with; ``isbi`` = binary ISBI-style data."""

    pairs: list[tuple[Path, Path]]
    encoding: MaskEncoding
    num_classes: int
    isbi: bool = False

    def __post_init__(self) -> None:
        if not self.pairs:
            raise ValueError("the validation set for the accuracy gate is empty; pass images with masks.")

    @property
    def default_metric(self) -> str:
        # Binary models are judged by pixel error, as their metrics report them (ISBI read from a plain folder
        # too, where the isbi flag is not set); others by mean IoU.
        return "pixel_error" if self.num_classes == 2 else "miou"


@dataclass
class GateResult:
    """Validation metric of a reduced-precision variant against its fp32 counterpart."""

    variant: str
    metric: str
    fp32: float
    reduced: float
    drop: float  # how much worse the reduced variant is (positive = worse), in the metric's units
    tolerance: float
    images: int
    passed: bool
    extra: dict[str, Any] = field(default_factory=dict)

    def reason(self) -> str:
        verdict = "passes" if self.passed else "refused"
        return (
            f"{self.variant} {verdict}: {self.metric} {self.reduced:.5f} vs fp32 {self.fp32:.5f} on "
            f"{self.images} validation image(s), one view each (no TTA, so a run's TTA scores differ), drop "
            f"{self.drop:+.5f} ({'<=' if self.passed else '>'} tolerance {self.tolerance:g})"
        )


# --------------------------------------------------------------------------------------------- calibration
def find_run_dir(model_path: str | Path) -> Path | None:
    """The run folder (with ``config.yaml``) of a run folder, ``RUN/model``, a .ckpt or ``RUN/export``."""
    path = Path(model_path).resolve()
    folder = path.parent if path.is_file() else path
    for candidate in (folder, folder.parent, folder.parent.parent):
        if (candidate / "config.yaml").is_file():
            return candidate
    return None


def run_dataset(run_dir: Path) -> Any:
    """The :class:`~unetkit.data.datasets.DatasetSpec` of a run (from its ``config.yaml``)."""
    from unetkit.training.config import load_config
    from unetkit.training.evaluate import resolve_dataset

    return resolve_dataset(load_config(run_dir / "config.yaml"))


def validation_from_run(run_dir: Path, split: str = "val") -> ValidationSet:
    """The run's validation split (never its test split: the gate must not choose by test scores)."""
    spec = run_dataset(run_dir)
    return ValidationSet(
        [(image, mask) for image, mask in spec.pairs(split)], spec.encoding, spec.num_classes, spec.isbi
    )


def validation_from_dirs(
    image_dir: Path, mask_dir: Path, num_classes: int, encoding: str = "index", isbi: bool = False
) -> ValidationSet:
    """Images of ``image_dir`` with same-stem masks in ``mask_dir`` (``encoding`` "index" or "binary")."""
    from unetkit.data.folder import find_pairs

    pairs = [(image, mask) for image, mask in find_pairs(Path(image_dir), Path(mask_dir))]
    return ValidationSet(pairs, MaskEncoding(encoding, num_classes=num_classes), num_classes, isbi)


def calibration_images(source: Path | None = None, run_dir: Path | None = None) -> list[Path]:
    """Calibration image files: those of folder ``source``, else the train split of ``run_dir``."""
    from unetkit.data.io import IMAGE_EXTENSIONS

    if source is not None:
        if not Path(source).is_dir():
            raise FileNotFoundError(f"--calibration {source} is not a folder of training images.")
        files = sorted(
            p for p in Path(source).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not files:
            raise ValueError(f"--calibration {source} holds no images (.png .jpg .tif ...).")
        return files
    if run_dir is None:
        raise ValueError(
            "INT8 calibration needs training images: pass --calibration DIR, or export a run folder "
            "(its config.yaml names the training split)."
        )
    return [image for image, _ in run_dataset(run_dir).pairs("train")]


def calibration_batches(
    predictor: BasePredictor, images: Sequence[Path], max_images: int = DEFAULT_CALIBRATION_IMAGES
) -> list[np.ndarray]:
    """The float32 (B, C, h, w) batches ``predictor`` feeds its network for (at most ``max_images``) images.

    Recorded by running the prediction pipeline, so the tiles, padding and normalisation are those of
    deployment (no second preprocessing path to drift).
    """
    if not images:
        raise ValueError("no calibration images: pass --calibration DIR or a run folder with a train split.")
    batches: list[np.ndarray] = []
    run = predictor._predict_batch

    def record(batch: np.ndarray) -> np.ndarray:
        batches.append(np.array(batch, dtype=np.float32, copy=True))
        return run(batch)

    predictor._predict_batch = record  # type: ignore[method-assign]
    try:
        for path in list(images)[:max_images]:
            config = predictor.config
            predictor.predict_logits(
                read_image(path, channels=config.in_channels, window=config.intensity_window)
            )
    finally:
        del predictor._predict_batch  # back to the class method
    return batches


@contextlib.contextmanager
def nncf_telemetry_off() -> Iterator[None]:
    """NNCF's usage telemetry off during the block, as it was after: ``nncf.quantize`` (a
    ``@tracked_function``) sends events through ``openvino_telemetry`` to Google Analytics (network lookups
    from a sender thread, whose traceback Ctrl-C printed). The tracker reads the module attribute
    ``nncf.telemetry.decorator.telemetry`` on each call; NNCF's own stub (``NNCFTelemetryStub``, what NNCF
    itself uses in its CI and tests) stands in for it here and the original is put back."""
    try:
        import nncf.telemetry.decorator as tracker
        from nncf.telemetry.wrapper import NNCFTelemetryStub
    except ImportError:  # another NNCF layout: nothing known to switch off
        yield
        return
    before = tracker.telemetry
    tracker.telemetry = NNCFTelemetryStub()
    try:
        yield
    finally:
        tracker.telemetry = before


def quantize_openvino(
    fp32_xml: Path, batches: Sequence[np.ndarray], out_xml: Path, overflow_fix: str = "first_layer_only"
) -> None:
    """NNCF INT8 post-training quantization of the IR ``fp32_xml`` into ``out_xml`` (+ .bin)."""
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    fix = look_up_option(overflow_fix, OVERFLOW_FIX, "overflow fix")
    model = ov.Core().read_model(str(fp32_xml))
    with nncf_telemetry_off():
        quantized = nncf.quantize(
            model,
            nncf.Dataset(list(batches)),
            subset_size=len(batches),
            advanced_parameters=AdvancedQuantizationParameters(overflow_fix=OverflowFix(fix)),
        )
    ov.save_model(quantized, str(out_xml), compress_to_fp16=False)


def quantize_onnxruntime(
    fp32_onnx: Path, batches: Sequence[np.ndarray], out_onnx: Path, reduce_range: bool = False
) -> None:
    """onnxruntime static QDQ INT8 quantization (per-channel s8 weights, u8 activations) into ``out_onnx``."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from unetkit.export.onnx import INPUT_NAME

    class _Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.items = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.items, None)
            return None if batch is None else {INPUT_NAME: batch}

    pre = out_onnx.with_name(out_onnx.stem + ".pre.onnx")
    try:
        # Symbolic shape inference fails on the dynamic-size padding of U-Nets; ONNX shape inference suffices.
        quant_pre_process(str(fp32_onnx), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(out_onnx),
            _Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    finally:
        pre.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------- the gate
def validation_scores(predictor: BasePredictor, val: ValidationSet) -> dict[str, Any]:
    """Scores of ``predictor`` on ``val`` through the one evaluation path (:func:`unetkit.evaluation.
    evaluate_split`: the prediction pipeline, then :func:`unetkit.metrics.score_predictions`)."""
    from unetkit.evaluation import evaluate_split

    names = [f"class_{i}" for i in range(val.num_classes)]
    scores, _ = evaluate_split(
        predictor,
        val.pairs,
        val.encoding,
        names,
        ignore_index=predictor.config.ignore_index,
        isbi=val.isbi,
        split="validation (accuracy gate)",
    )
    return scores


def metric_drop(metric: str, fp32: float, reduced: float) -> float:
    """How much worse ``reduced`` is than ``fp32`` (positive = worse) for ``metric``."""
    return reduced - fp32 if metric in LOWER_IS_BETTER else fp32 - reduced


def accuracy_gate(
    variant: str,
    fp32_scores: dict[str, Any],
    reduced_scores: dict[str, Any],
    metric: str,
    tolerance: float,
    images: int,
) -> GateResult:
    """Compare two score dicts on ``metric``; NaN scores never pass."""
    metric = look_up_option(metric, GATE_METRICS, "gate metric")
    if metric not in fp32_scores:
        raise ValueError(f"gate metric {metric!r} is not in the scores (pixel_error needs ISBI-style data).")
    fp32, reduced = float(fp32_scores[metric]), float(reduced_scores[metric])
    drop = metric_drop(metric, fp32, reduced)
    passed = bool(np.isfinite(drop) and drop <= tolerance)
    return GateResult(variant, metric, fp32, reduced, drop, float(tolerance), images, passed)


# ------------------------------------------------------------------------------------------------- exports
def _predictor(backend: str, folder: Path, precision: str = "fp32") -> BasePredictor:
    from unetkit.inference.backends import load_predictor, quiet_engine_lines

    options: dict[str, Any] = {"precision": precision} if backend == "openvino" else {}
    with quiet_engine_lines():  # the gate's engines are not what a prediction runs: no "running ..." lines
        predictor: BasePredictor = load_predictor(folder, backend=backend, **options)
    return predictor


def export_reduced(
    export_dir: str | Path,
    backend: str,
    precision: str,
    val: ValidationSet,
    calibration: Sequence[Path] = (),
    tolerance: float | None = None,
    metric: str | None = None,
    max_calibration_images: int = DEFAULT_CALIBRATION_IMAGES,
    overflow_fix: str = "first_layer_only",
    reduce_range: bool = False,
) -> GateResult:
    """Make and gate the ``backend``/``precision`` variant of the fp32 export in ``export_dir``.

    INT8 writes ``int8-openvino/`` or ``int8-onnxruntime/`` (model + config.json) only when the gate passes;
    bf16 writes no model file. Either way a passing gate is recorded in ``deploy.json``.

    Raises:
        ValueError: the gate refused the variant (one line with the numbers), or an unsupported combination.
        FileNotFoundError: the fp32 export is missing.
    """
    key = (look_up_option(backend, ("openvino", "onnxruntime"), "backend"), precision)
    if key not in REDUCED:
        raise ValueError(
            f"no {precision} variant for the {backend} backend; choose one of "
            + ", ".join(f"{b} {p}" for b, p in REDUCED)
        )
    export_dir = Path(export_dir)
    source = export_dir / MODEL_FILES[backend]
    if not source.is_file() or not (export_dir / CONFIG_NAME).is_file():
        fmt = "openvino" if backend == "openvino" else "onnx"
        raise FileNotFoundError(f"{source} not found; run `unetkit export MODEL --format {fmt}` first.")
    metric = look_up_option(metric or val.default_metric, GATE_METRICS, "gate metric")
    tolerance = DEFAULT_TOLERANCE[metric] if tolerance is None else float(tolerance)
    variant = Variant(backend, precision, variant_folder(export_dir, backend, precision))
    start = time.perf_counter()
    reference = _predictor(backend, export_dir)
    fp32_scores = validation_scores(reference, val)
    extra: dict[str, Any] = {}
    if precision == "bf16":
        gate = accuracy_gate(
            variant.key, fp32_scores, validation_scores(_predictor(backend, export_dir, "bf16"), val),
            metric, tolerance, len(val.pairs),
        )  # fmt: skip
        if not gate.passed:
            raise ValueError(gate.reason() + "; bf16 not recorded as usable.")
    else:
        batches = calibration_batches(reference, calibration, max_calibration_images)
        extra = {"calibration_batches": len(batches)}
        with atomic_dir(variant.folder) as tmp:
            if backend == "openvino":
                quantize_openvino(source, batches, tmp / OPENVINO_NAME, overflow_fix)
                extra["overflow_fix"] = overflow_fix
            else:
                quantize_onnxruntime(source, batches, tmp / ONNX_NAME, reduce_range)
                extra["reduce_range"] = reduce_range
            shutil.copy2(export_dir / CONFIG_NAME, tmp / CONFIG_NAME)
            quantized = _predictor(backend, tmp, "fp32")  # the folder itself holds the int8 model
            gate = accuracy_gate(
                variant.key, fp32_scores, validation_scores(quantized, val), metric, tolerance, len(val.pairs)
            )
            if not gate.passed:
                # Raising inside atomic_dir removes the temp folder: no int8 model is written.
                raise ValueError(gate.reason() + "; no INT8 model written.")
    gate.extra = {**extra, "seconds": round(time.perf_counter() - start, 1)}
    entry = {
        **asdict(gate),
        "backend": backend,
        "precision": precision,
        "folder": variant.folder.name if variant.folder != export_dir else ".",
        "source": source.name,
        "source_sha256": file_sha256(source_file(export_dir, backend)),
    }
    record_gate(export_dir, variant.key, entry)
    logger.debug("%s", gate.reason())
    return gate
