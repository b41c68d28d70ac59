"""OpenVINO predictor: the same pipeline as the PyTorch one with only openvino + numpy + pillow.

Never imports torch (directly or through another unetkit module): deployment machines may not have it.

Precision: OpenVINO's CPU plugin runs fp32 models in bf16 by default on CPUs with native bf16 (this changes
logits by ~1e-3), so the fp32 path sets the ``INFERENCE_PRECISION_HINT`` to f32 explicitly; ``"bf16"`` asks
for bf16 (only where the CPU has it natively) and ``"int8"`` loads the NNCF-quantized IR of the export folder.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unetkit.inference.backends import named_model, register_backend
from unetkit.inference.memory import ENGINE_FACTOR
from unetkit.inference.pipeline import BasePredictor, PredictOptions, geometry_from_config
from unetkit.inference.variants import (
    OPENVINO_NAME,
    VARIANT_DIRS,
    check_exported_file,
    find_export_dir,
    variant_folder,
)
from unetkit.model_files.model_config import CONFIG_NAME, ModelConfig
from unetkit.options import check_positive_int, look_up_option

if TYPE_CHECKING:
    from typing import Unpack  # 3.11+; only read by type checkers (annotations are not evaluated)

OV_PRECISIONS = ("fp32", "bf16", "int8")
# Non-quantized layers of an int8 IR stay fp32 (OpenVINO would otherwise run them in bf16 on such CPUs).
_HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}


def ov_supports_bf16(core: Any = None) -> bool:
    """Whether OpenVINO's CPU plugin reports native bf16 on this machine."""
    import openvino as ov

    core = core or ov.Core()
    return "BF16" in list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def compile_openvino(
    xml_path: Path,
    precision: str = "fp32",
    num_threads: int | None = None,
    core: Any = None,
    num_streams: int = 1,
) -> Any:
    """``ov.CompiledModel`` of ``xml_path`` on the CPU with the inference precision of ``precision``.

    ``num_streams`` requests run at once (OpenVINO runs one request per stream at a time), each on
    ``num_threads`` threads (None: OpenVINO's default, all cores shared by the streams).
    """
    import openvino as ov

    precision = look_up_option(precision, OV_PRECISIONS, "OpenVINO precision")
    check_positive_int(num_streams, "num_streams")
    core = core or ov.Core()
    if precision == "bf16" and not ov_supports_bf16(core):
        raise ValueError(
            "bf16 needs a CPU with native bf16 (AVX512_BF16 or AMX); this one would emulate it slowly. "
            "Use precision fp32 or int8."
        )
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": _HINTS[precision], "PERFORMANCE_HINT": "LATENCY"}
    if num_streams > 1:  # the LATENCY hint alone gives one stream: a second request would wait for it
        config["NUM_STREAMS"] = num_streams
    if num_threads is not None:
        # OpenVINO's count is the total of all streams.
        config["INFERENCE_NUM_THREADS"] = check_positive_int(num_threads, "num_threads") * num_streams
    try:
        return core.compile_model(str(xml_path), "CPU", config)
    except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own for unreadable models
        raise ValueError(f"{xml_path}: OpenVINO cannot load it ({exc}).") from exc


def resolve_ov_folder(model_dir: str | Path, precision: str = "fp32") -> Path:
    """The folder with the ``model.xml`` of ``precision`` for a model, run or export folder (or the .xml)."""
    path = Path(model_dir)
    folder = path.parent if path.is_file() else path
    if not (folder / OPENVINO_NAME).is_file():
        found = find_export_dir(folder)
        folder = found if found is not None else folder
    # A variant folder given itself (MODEL export/int8-openvino) is already the folder of its precision.
    if folder.name != VARIANT_DIRS.get(("openvino", precision)):
        folder = variant_folder(folder, "openvino", precision)
    for name in (OPENVINO_NAME, CONFIG_NAME):
        if not (folder / name).is_file():
            if precision == "int8":
                raise FileNotFoundError(
                    f"{folder / name} not found; the openvino backend needs {OPENVINO_NAME} (+ .bin) "
                    f"and {CONFIG_NAME} (write it with `unetkit export MODEL --format openvino --precision "
                    "int8`)."
                )
            from unetkit.inference.ort_backend import missing_export_message

            raise FileNotFoundError(missing_export_message(path, folder, name, "openvino"))
    return folder


class OvPredictor(BasePredictor):
    """Segment images with an OpenVINO IR (``model.xml`` + ``model.bin``) described by ``config.json``.

    Args:
        model_dir: export folder (or a model/run folder whose ``export/`` holds the IR, or the ``.xml``).
        precision: "fp32" (exact), "bf16" (native-bf16 CPUs only) or "int8" (the gated NNCF IR in
            ``int8-openvino/``); None (default): the precision of the model ``model_dir`` names, int8 for an
            ``int8-openvino/`` folder or its ``model.xml``, else fp32.
        num_threads: OpenVINO inference threads of each request; None = OpenVINO's default (all cores).
        concurrency: threads that run predictions on this predictor at once (``unetkit serve``'s thread
            pool shares one among its workers): OpenVINO gets as many streams, so none waits for another.
        options: keyword-only ``tile_size``, ``overlap``, ``blend``, ``batch_size``, ``tta``, ``pad_mode``,
            ``progress``: see :class:`BasePredictor`.

    Raises:
        FileNotFoundError: a file is missing. ValueError: the IR does not match the config, or bf16 on a CPU
        without it.
    """

    # Its peak memory per pass of tiles, relative to the rule fitted to torch's (memory.py's measurements).
    forward_memory_factor = ENGINE_FACTOR

    def __init__(
        self,
        model_dir: str | Path,
        precision: str | None = None,
        num_threads: int | None = None,
        concurrency: int = 1,
        **options: Unpack[PredictOptions],
    ) -> None:
        named = named_model(model_dir)
        own = named.precision if named is not None and named.backend == "openvino" else None
        precision = look_up_option(precision or own or "fp32", OV_PRECISIONS, "OpenVINO precision")
        if own == "int8" and precision != "int8" and named is not None:
            # Its folder holds the INT8 IR only: any other precision would run it under another name.
            raise ValueError(
                f"{model_dir} is the INT8 OpenVINO model of {named.export_dir}; for {precision} pass that "
                "folder."
            )
        folder = resolve_ov_folder(model_dir, precision)
        check_exported_file(folder, "openvino")  # the fp32 IR's record (a variant's folder has none)
        config = ModelConfig.load(folder / CONFIG_NAME)
        super().__init__(config, geometry_from_config(config), **options)
        self.compiled = compile_openvino(
            folder / OPENVINO_NAME, precision, num_threads, num_streams=concurrency
        )
        inputs = self.compiled.inputs
        if len(inputs) != 1:
            raise ValueError(f"{folder / OPENVINO_NAME}: expected one input, the model has {len(inputs)}.")
        shape = inputs[0].get_partial_shape()
        if shape.rank.is_static and len(shape) == 4 and shape[1].is_static:
            channels = shape[1].get_length()
            if channels != config.in_channels:
                raise ValueError(
                    f"{folder / OPENVINO_NAME} takes {channels} channels but {CONFIG_NAME} says "
                    f"in_channels={config.in_channels}; the files do not belong together."
                )
        self.precision = precision
        self.model_dir = folder
        # One infer request per thread: a request owns its input/output buffers, so two threads (the worker
        # threads of `unetkit serve`) sharing one request overwrite each other's results.
        self._local = threading.local()

    def _request(self) -> Any:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        return request

    def _predict_batch(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        result = self._request().infer({0: batch})
        # Copy: the output tensor is the request's buffer, overwritten by the next call.
        return np.array(result[0], dtype=np.float32, copy=True)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "backend": "openvino", "precision": self.precision}

    def engine(self) -> tuple[str, str, Path]:
        """(backend, precision, model file): what :func:`~unetkit.inference.backends.load_predictor` logs."""
        return "openvino", self.precision, self.model_dir / OPENVINO_NAME


@register_backend("openvino")
def _ov_backend(
    path: Path, device: str = "cpu", amp: bool = False, precision: str | None = None, **options: Any
) -> OvPredictor:
    # device/amp are torch options: this backend runs on the CPU; bf16 is asked for with precision="bf16".
    return OvPredictor(path, precision=precision, **options)
