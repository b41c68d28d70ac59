"""onnxruntime predictor: the same pipeline as the PyTorch one with only onnxruntime + numpy + pillow.

Never imports torch (directly or through another unetkit module): deployment machines may not have it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unetkit.inference.backends import register_backend
from unetkit.inference.memory import ENGINE_FACTOR
from unetkit.inference.pipeline import BasePredictor, PredictOptions, geometry_from_config
from unetkit.inference.variants import EXPORT_DIR_NAME, VARIANT_DIRS, check_exported_file
from unetkit.model_files.model_config import CONFIG_NAME, ONNX_NAME, WEIGHTS_NAME, ModelConfig
from unetkit.options import check_positive_int

if TYPE_CHECKING:
    from typing import Unpack  # 3.11+; only read by type checkers (annotations are not evaluated)

# onnxruntime's session option that stops the intra-op threads' spinning (busy-waiting) when a run returns;
# they spin while it lasts.
SPIN_STOP_KEY = "session.force_spinning_stop"


def missing_export_message(model: Path, folder: Path, name: str, fmt: str) -> str:
    """Why an exported engine cannot load ``model`` (``name`` missing in ``folder``), naming the export
    command and the file it would write: a run or model folder is exported into its ``export/`` folder, a
    folder with exported files of another format gets this one beside them."""
    backend = "onnxruntime" if fmt == "onnx" else "openvino"
    exported_here = (folder / CONFIG_NAME).is_file() and not (folder / WEIGHTS_NAME).is_file()
    if exported_here or folder.name == EXPORT_DIR_NAME or folder.name in VARIANT_DIRS.values():
        command = f"unetkit export MODEL --format {fmt} --out {folder}"
        where = folder / name
    else:
        command = f"unetkit export {folder} --format {fmt}"
        where = folder / EXPORT_DIR_NAME / name
    return (
        f"{model}: no {name} for the {backend} backend ({folder / name} not found); write it with "
        f"`{command}` (it writes {where}) and pass that folder, or use --backend torch or auto."
    )


class OrtPredictor(BasePredictor):
    """Segment images with ``model_dir/model.onnx`` described by ``model_dir/config.json``.

    Args:
        model_dir: folder holding ``model.onnx`` and ``config.json`` (a run folder with ``model/`` works too).
        providers: onnxruntime execution providers; None = CPU.
        num_threads: intra-op threads of the session (one inter-op thread); None = onnxruntime's default
            (all cores).
        options: keyword-only ``tile_size``, ``overlap``, ``blend``, ``batch_size``, ``tta``, ``pad_mode``,
            ``progress``: see :class:`BasePredictor`.

    Raises:
        FileNotFoundError: a file is missing. ValueError: the ONNX model does not match the config.
    """

    # Its peak memory per pass of tiles, relative to the rule fitted to torch's (memory.py's measurements).
    forward_memory_factor = ENGINE_FACTOR

    def __init__(
        self,
        model_dir: str | Path,
        providers: Sequence[str] | None = None,
        num_threads: int | None = None,
        **options: Unpack[PredictOptions],
    ) -> None:
        folder = Path(model_dir)
        if folder.is_file():
            folder = folder.parent
        if not (folder / ONNX_NAME).exists():
            # Where `unetkit export MODEL` writes by default (MODEL/export), also for a run folder's model/.
            for candidate in (folder / "export", folder / "model", folder / "model" / "export"):
                if (candidate / ONNX_NAME).is_file():
                    folder = candidate
                    break
        for name in (ONNX_NAME, CONFIG_NAME):
            if not (folder / name).is_file():
                raise FileNotFoundError(missing_export_message(Path(model_dir), folder, name, "onnx"))
        check_exported_file(folder, "onnxruntime")
        config = ModelConfig.load(folder / CONFIG_NAME)
        super().__init__(config, geometry_from_config(config), **options)
        import onnxruntime as ort

        session_options = ort.SessionOptions()
        # Intra-op threads spin between the nodes of a run but stop when it returns. Spinning after a run kept
        # cores busy, taken from whatever ran next in the process (eager PyTorch timed after it by backend
        # auto and `unetkit benchmark`, which then read onnxruntime at 14x eager where 3.5x held; serve's
        # other workers alike). Turning spinning off altogether cost up to 1.2x the latency on 15 threads of
        # an idle 16-core machine; stopping it after the run cost nothing there
        # (benchmarks/results/ort_spinning/).
        session_options.add_session_config_entry(SPIN_STOP_KEY, "1")
        if num_threads is not None:
            session_options.intra_op_num_threads = check_positive_int(num_threads, "num_threads")
            # The default sequential execution runs one node at a time: an inter-op pool would only add
            # threads that wait.
            session_options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(folder / ONNX_NAME),
                sess_options=session_options,
                providers=list(providers) if providers else ["CPUExecutionProvider"],
            )
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
            raise ValueError(f"{folder / ONNX_NAME}: onnxruntime cannot load it ({exc}).") from exc
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"{folder / ONNX_NAME}: expected one input, the model has {len(inputs)}.")
        self.input_name = inputs[0].name
        shape: list[Any] = list(inputs[0].shape)
        # A model exported with a fixed batch dimension gets its tiles one batch-of-that-size at a time.
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None
        if len(shape) == 4 and isinstance(shape[1], int) and shape[1] != config.in_channels:
            raise ValueError(
                f"{folder / ONNX_NAME} takes {shape[1]} channels but {CONFIG_NAME} says "
                f"in_channels={config.in_channels}; the files do not belong together."
            )
        self.model_dir = folder

    def engine(self) -> tuple[str, str, Path]:
        """(backend, precision, model file): what :func:`~unetkit.inference.backends.load_predictor` logs."""
        precision = "int8" if self.model_dir.name == VARIANT_DIRS[("onnxruntime", "int8")] else "fp32"
        return "onnxruntime", precision, self.model_dir / ONNX_NAME

    def _predict_batch(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self.fixed_batch is None or self.fixed_batch == batch.shape[0]:
            return np.asarray(self.session.run(None, {self.input_name: batch})[0], dtype=np.float32)
        # Fixed batch size: run chunks of that size, repeating the last tile to fill the final chunk.
        n, fixed = batch.shape[0], self.fixed_batch
        outs = []
        for i in range(0, n, fixed):
            chunk = batch[i : i + fixed]
            if chunk.shape[0] < fixed:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], fixed - chunk.shape[0], axis=0)])
            out = np.asarray(self.session.run(None, {self.input_name: chunk})[0], dtype=np.float32)
            outs.append(out[: min(fixed, n - i)])
        return np.concatenate(outs, axis=0)


@register_backend("onnxruntime")
def _ort_backend(
    path: Path, device: str = "cpu", amp: bool = False, concurrency: int = 1, **options: Any
) -> OrtPredictor:
    # device/amp are torch options: the CPU execution provider ignores them. Concurrent calls each run on
    # their caller's thread (with the session's intra-op threads), so concurrency needs nothing here.
    return OrtPredictor(path, **options)
