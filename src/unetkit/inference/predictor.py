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

from unetkit.inference.backends import register_backend
from unetkit.inference.pipeline import BasePredictor, ModelGeometry, PredictOptions
from unetkit.model_files.model_config import ModelConfig

if TYPE_CHECKING:
    from typing import Unpack  # 3.11+; only read by type checkers (annotations are not evaluated)


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
        if isinstance(device, str):
            from unetkit.devices import resolve_device

            device = resolve_device(device)
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
        """Load a model folder, run folder or ``.ckpt`` (:func:`unetkit.model_files.model_io.load_model`)."""
        from unetkit.model_files.model_io import load_model

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
    path: Path, device: str | torch.device = "auto", amp: bool = False, **options: Any
) -> Predictor:
    # "auto", as unetkit predict and serve: a GPU when torch sees one.
    return Predictor.from_path(path, device=device, amp=amp, **options)
