"""PyTorch predictor: a thin wrapper that feeds tiles to an ``nn.Module`` (pipeline in :mod:`.base`).

Example:
    >>> model, config = load_model("runs/isbi/model")               # doctest: +SKIP
    >>> predictor = Predictor(model, config, tile_size=256, tta=True)  # doctest: +SKIP
    >>> mask, probs = predictor.predict(read_image("slice.png", 1))   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from unetkit.inference.backends import register_backend
from unetkit.inference.base import BasePredictor, ModelGeometry, PredictOptions
from unetkit.io.model_config import ModelConfig

if TYPE_CHECKING:
    from typing import Unpack  # 3.11+; only read by type checkers (annotations are not evaluated)


def geometry_from_model(model: nn.Module) -> ModelGeometry:
    """Read ``size_divisor``, ``border`` and ``fixed_input_size`` from a unetkit model.

    Unpadded nets (``border > 0``, the 2015 U-Net) use their own valid-size helper so tiles are valid inputs,
    and place tiles on multiples of ``size_divisor`` (the pooling period).
    """
    divisor = int(getattr(model, "size_divisor", 1) or 1)
    border = int(getattr(model, "border", 0) or 0)
    fixed = getattr(model, "fixed_input_size", None)
    fixed_pair = (int(fixed[0]), int(fixed[1])) if fixed is not None else None
    if border > 0:
        from unetkit.models.unet_original import unet_original_input_size_for_output

        depth = int(getattr(model, "depth", 0) or divisor.bit_length() - 1)
        return ModelGeometry(
            size_divisor=divisor,
            border=border,
            grid=divisor,
            fixed_input_size=fixed_pair,
            input_for_output=functools.partial(unet_original_input_size_for_output, depth=depth),
        )
    return ModelGeometry(size_divisor=divisor, fixed_input_size=fixed_pair)


class Predictor(BasePredictor):
    """Segment images with a PyTorch model: tiling, padding to valid sizes, TTA, AMP.

    Args:
        model: a unetkit model (any ``nn.Module`` returning logits (N, K, H', W')).
        config: the model's :class:`ModelConfig` (normalisation, channels, classes).
        device: torch device for the forward passes ("cpu", "cuda", "cuda:1", or "auto").
        amp: run the forward pass under ``torch.autocast`` (float16 on CUDA, bfloat16 on CPU).
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
        **options: Unpack[PredictOptions],
    ) -> None:
        super().__init__(config, geometry_from_model(model), **options)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.amp = bool(amp)
        model_classes = getattr(model, "num_classes", config.num_classes)
        if int(model_classes) != config.num_classes:
            raise ValueError(
                f"model has num_classes={model_classes} but config says {config.num_classes}; "
                "the config does not belong to this model."
            )

    @classmethod
    def from_path(cls, path: str | Path, device: str | torch.device = "cpu", **kwargs: Any) -> Predictor:
        """Load a model folder, run folder or ``.ckpt`` with :func:`unetkit.io.model_io.load_model`."""
        from unetkit.io.model_io import load_model

        model, config = load_model(path, map_location="cpu")
        return cls(model, config, device=device, **kwargs)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if not self.amp:
            return contextlib.nullcontext()
        dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def _predict_batch(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), self._autocast():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
            y = self.model(x)
            if isinstance(y, (list, tuple)):  # deep supervision in train mode: full resolution first
                y = y[0]
            return y.float().cpu().numpy()


@register_backend("torch")
def _torch_backend(
    path: Path, device: str | torch.device = "cpu", amp: bool = False, **options: Any
) -> Predictor:
    return Predictor.from_path(path, device=device, amp=amp, **options)
