"""PyTorch predictor: a thin wrapper that feeds tiles to an ``nn.Module`` (pipeline in :mod:`.pipeline`).

Example:
    >>> model, config = load_model("runs/isbi/model")               # doctest: +SKIP
    >>> predictor = Predictor(model, config, tile_size=256, tta=True)  # doctest: +SKIP
    >>> mask, probs = predictor.predict(predictor.read_image("slice.png"))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from unetkit.inference.backends import register_backend, torch_threads
from unetkit.inference.pipeline import BasePredictor, ModelGeometry, PredictOptions
from unetkit.model_files.model_config import ModelConfig
from unetkit.options import check_positive_int, look_up_option

if TYPE_CHECKING:
    from typing import Unpack  # 3.11+; only read by type checkers (annotations are not evaluated)

# What ``precision`` names: fp32 (no autocast) or bf16 autocast, on any device; None lets ``amp`` decide.
TORCH_PRECISIONS = ("fp32", "bf16")


def geometry_from_model(model: nn.Module) -> ModelGeometry:
    """The geometry a unetkit model states (``model.geometry()``); any size for other modules."""
    from unetkit.models.base import model_geometry

    return model_geometry(model)


class Predictor(BasePredictor):
    """Segment images with a PyTorch model: tiling, padding to valid sizes, TTA, AMP.

    Args:
        model: a unetkit model (any ``nn.Module`` returning logits (N, K, H', W')).
        config: the model's :class:`ModelConfig` (normalisation, channels, classes).
        device: torch device for the forward passes ("cpu", "cuda", "cuda:1", or "auto").
        amp: run the forward pass under ``torch.autocast`` (float16 on CUDA, bfloat16 on CPU).
        precision: "fp32" (no autocast) or "bf16" (bfloat16 autocast, on a CPU only where it has native bf16,
            AVX512_BF16 or AMX: elsewhere it is emulated, slowly); None (default): as ``amp`` says. Not both.
        num_threads: torch's intra-op threads for each forward pass, the caller's count put back after it
            (:func:`~unetkit.devices.torch_threads`); None: the process's count as it is.
        options: keyword-only ``tile_size``, ``overlap``, ``blend``, ``batch_size``, ``tta``, ``pad_mode``,
            ``progress``: see :class:`BasePredictor`.

    The model is put in eval mode; forward passes run under ``torch.inference_mode``.
    """

    def __init__(
        self,
        model: nn.Module,
        config: ModelConfig,
        device: str | torch.device = "cpu",
        *,
        amp: bool = False,
        precision: str | None = None,
        num_threads: int | None = None,
        **options: Unpack[PredictOptions],
    ) -> None:
        super().__init__(config, geometry_from_model(model), **options)
        if isinstance(device, str):
            from unetkit.devices import resolve_device

            device = resolve_device(device)
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.amp = bool(amp)
        self.precision = (
            None if precision is None else look_up_option(precision, TORCH_PRECISIONS, "precision")
        )
        if self.precision is not None and self.amp:
            raise ValueError(
                f"amp and precision {self.precision!r} both set the precision; pass one of them."
            )
        if self.precision == "bf16":
            check_bf16(self.device)
        self.num_threads = None if num_threads is None else check_positive_int(num_threads, "num_threads")
        model_classes = getattr(model, "num_classes", config.num_classes)
        if int(model_classes) != config.num_classes:
            raise ValueError(
                f"model has num_classes={model_classes} but config says {config.num_classes}; "
                "the config does not belong to this model."
            )

    @classmethod
    def from_path(cls, path: str | Path, device: str | torch.device = "cpu", **kwargs: Any) -> Predictor:
        """Load a model folder, run folder or ``.ckpt`` (:func:`unetkit.model_files.model_io.load_model`)."""
        from unetkit.model_files.model_io import load_model

        model, config = load_model(path, map_location="cpu")
        predictor = cls(model, config, device=device, **kwargs)
        predictor.source = Path(path)
        return predictor

    #: The file or folder :meth:`from_path` loaded (None for a model passed in): named by :meth:`engine`.
    source: Path | None = None

    def engine(self) -> tuple[str, str, Path] | None:
        """(backend, precision and device, model path), as the exported engines say what runs
        (:func:`~unetkit.inference.backends.engine_line`): eager PyTorch said nothing, so a user could not
        tell which engine made a mask before exporting one. None for a model passed in (no path)."""
        if self.source is None:
            return None
        dtype = self.autocast_dtype()
        precision = "fp32" if dtype is None else "bf16" if dtype == torch.bfloat16 else "fp16"
        if self.amp:
            precision = f"amp {precision}"
        return "torch", f"{precision} on {self.device}", self.source

    def autocast_dtype(self) -> torch.dtype | None:
        """The dtype the forward pass is autocast to (None: float32 throughout)."""
        if self.precision == "bf16":
            return torch.bfloat16
        if not self.amp:
            return None
        return torch.float16 if self.device.type == "cuda" else torch.bfloat16

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        dtype = self.autocast_dtype()
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def _predict_batch(self, batch: np.ndarray) -> np.ndarray:
        with torch_threads(self.num_threads), torch.inference_mode(), self._autocast():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
            y = self.model(x)
            if isinstance(y, (list, tuple)):  # deep supervision in train mode: full resolution first
                y = y[0]
            return y.float().cpu().numpy()


def check_bf16(device: torch.device) -> None:
    """Refuse bf16 on a device that would emulate it (slowly): a CPU without AVX512_BF16 or AMX
    (:func:`~unetkit.inference.variants.native_bf16`), a GPU without bf16 (before Ampere)."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"bf16 needs a GPU with bf16 (Ampere or newer); {device} has none: use fp32.")
    if device.type == "cpu":
        from unetkit.inference.variants import native_bf16

        if not native_bf16():
            raise ValueError(
                "bf16 needs a CPU with native bf16 (AVX512_BF16 or AMX); this one would emulate it slowly: "
                "use fp32."
            )


@register_backend("torch")
def _torch_backend(
    path: Path, device: str | torch.device = "auto", amp: bool = False, **options: Any
) -> Predictor:
    # "auto", as unetkit predict and serve: a GPU when torch sees one.
    return Predictor.from_path(path, device=device, amp=amp, **options)
