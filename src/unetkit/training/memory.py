"""Whether one training step of a configuration can fit in the machine's memory, said before anything runs.

An override such as ``model.kwargs.depth=12`` (a padded U-Net then pads every crop up to 4096 px, and its
deepest convolutions hold tens of GB of weights) or ``data.crop_size=4096`` was accepted, and the run grew
until the kernel killed it (no message, and on a shared machine other people's jobs with it). Here the
model is built on PyTorch's ``meta`` device (shapes only, no memory) and run on one batch of that device's
tensors: the weights and the module outputs give a lower bound of a step's memory, compared with what the
machine has free. Hand-written: no library estimates a model's training memory from its shapes.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import torch

from unetkit.models import create_model

__all__ = ["StepMemory", "check_step_memory", "step_memory"]

logger = logging.getLogger(__name__)

# Bytes per weight in training with AdamW: the weight, its gradient and the optimizer's two moments (fp32).
BYTES_PER_PARAMETER = 16


@dataclass(frozen=True)
class StepMemory:
    """A lower bound of one training step's memory (bytes): ``weights`` (weights, gradients, AdamW's state)
    and ``activations`` (every module's output, kept for the backward pass); ``padded_side``: the side a
    net that pads its input grows a crop to (its geometry's ``pad_multiple``)."""

    weights: int
    activations: int
    padded_side: int

    @property
    def total(self) -> int:
        return self.weights + self.activations


def step_memory(
    architecture: str,
    model_kwargs: dict[str, Any],
    batch: int,
    crop: tuple[int, int],
    activation_bytes: int = 4,
) -> StepMemory | None:
    """:class:`StepMemory` of ``batch`` crops of ``crop`` (H, W) through ``create_model(architecture,
    **model_kwargs)``, from shapes alone (``meta`` tensors: nothing is allocated); None when the model does
    not run on the meta device (the check is then skipped: a model that cannot run says so itself later)."""
    outputs = 0

    def count(module: torch.nn.Module, args: Any, out: Any) -> None:
        nonlocal outputs
        if isinstance(out, torch.Tensor):
            outputs += out.numel()

    try:
        with torch.device("meta"):
            model = create_model(architecture, **model_kwargs)
        hooks = [
            m.register_forward_hook(count) for m in model.modules() if not any(True for _ in m.children())
        ]
        with torch.no_grad():
            model(torch.empty(batch, int(model_kwargs.get("in_channels", 3)), *crop, device="meta"))
        for hook in hooks:
            hook.remove()
    except Exception as exc:  # any failure on meta tensors only skips this estimate
        logger.debug("training memory not estimated (%s: %s)", type(exc).__name__, exc)
        return None
    weights = sum(p.numel() for p in model.parameters()) * BYTES_PER_PARAMETER
    geometry = getattr(model, "geometry", None)  # SegmentationModel's; a plain nn.Module pads nothing
    multiple = geometry().pad_multiple if callable(geometry) else 1
    return StepMemory(weights, outputs * activation_bytes, -(-max(crop) // multiple) * multiple)


def _available(accelerator: str) -> tuple[int | None, str]:
    """Bytes free for training on ``accelerator`` and what to call that memory."""
    if accelerator in ("gpu", "cuda") and torch.cuda.is_available():
        with contextlib.suppress(RuntimeError):
            return int(torch.cuda.mem_get_info()[0]), "the GPU"
        return None, "the GPU"
    from unetkit.devices import available_memory

    return available_memory(), "this machine"


def check_step_memory(
    architecture: str,
    model_kwargs: dict[str, Any],
    batch: int,
    crop: tuple[int, int] | None,
    accelerator: str = "cpu",
    precision: str = "32-true",
) -> None:
    """A one-line ValueError when one training step needs more memory than is free (a lower bound: a
    step near the limit may still run out; one above it certainly does), naming the sizes and what to
    lower. Nothing when the crop is the whole image (None), or the memory or the estimate is unknown."""
    if crop is None:
        return
    per_value = 2 if precision.startswith(("bf16", "16")) else 4
    need = step_memory(architecture, model_kwargs, batch, crop, per_value)
    free, where = _available(accelerator)
    if need is None or free is None or need.total <= free:
        return
    gb = 1e9
    padded = ""
    if need.padded_side > max(crop):
        padded = f"; the net pads each crop up to {need.padded_side} px"
    raise ValueError(
        f"one training step of {architecture} ({_kwargs_text(model_kwargs)}) on batches of {batch} crops of "
        f"{crop[1]}x{crop[0]} (WxH) needs at least {need.total / gb:.1f} GB ({need.weights / gb:.1f} GB of "
        f"weights, gradients and optimizer state, {need.activations / gb:.1f} GB of activations{padded}), "
        f"but {where} has {free / gb:.1f} GB free; lower model.kwargs.depth or base_channels, data.crop_size "
        "or data.batch_size (the plan's own values fit: drop the override)"
    )


def _kwargs_text(kwargs: dict[str, Any]) -> str:
    shown = {k: v for k, v in kwargs.items() if k in ("base_channels", "depth")}
    return ", ".join(f"{k}={v}" for k, v in shown.items()) or "its defaults"
