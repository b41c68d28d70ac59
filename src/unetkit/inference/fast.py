"""Fastest inference form of a model: BatchNorm folded into convolutions, channels_last, torch.compile.

:func:`optimize_for_inference` returns an :class:`InferenceModel` (an ``nn.Module``, eval mode, no grad) that
computes the same fp32 logits as the eager model (within about 1e-5 on CPU) and can be handed to
:class:`~unetkit.inference.Predictor` (it forwards the wrapped model's ``geometry()`` and keeps
``num_classes``/``in_channels``).

Modes:
    * ``"eager"``: a copy in eval mode, unchanged (the reference).
    * ``"fused"``: every ``Conv -> BatchNorm`` pair inside an ``nn.Sequential`` folded into one conv
      (:func:`fuse_conv_bn`): one op and one pass over the activations instead of two.
    * ``"channels_last"``: ``"fused"`` plus NHWC weights and inputs; oneDNN (CPU) and cuDNN (CUDA) run NHWC
      convolutions without reordering the activations around every conv.
    * ``"compile"``: ``"channels_last"`` plus ``torch.compile`` with inductor's freezing (weights become
      constants, so conv + bias + ReLU are fused and weights pre-packed); on CUDA also CUDA graphs (one graph
      replay instead of a hundred kernel launches). Compiles on the first call of each input shape (about
      a minute for a base-64 U-Net on CPU); if compiling fails (no C++ compiler, no Triton) the model falls
      back to ``"channels_last"`` with a warning.
    * ``"auto"``: ``"compile"`` on CUDA when Triton is importable, else ``"channels_last"`` (on CPU the
      compile gain is small against its start-up cost; see docs/benchmarks.md).

Example:
    >>> fast = optimize_for_inference(model, mode="channels_last")  # doctest: +SKIP
    >>> logits = fast(torch.randn(4, 1, 256, 256))                  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import importlib.util
import itertools
import logging
from typing import Any, cast

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from unetkit.geometry import ModelGeometry
from unetkit.models.base import model_geometry
from unetkit.options import look_up_option

logger = logging.getLogger(__name__)

#: Names accepted by :func:`optimize_for_inference`.
FAST_MODES: tuple[str, ...] = ("auto", "eager", "fused", "channels_last", "compile")

# Plain attributes that Predictor reads from a unetkit model (the size rules come from geometry()).
_MODEL_ATTRS = ("num_classes", "in_channels")


def _foldable(conv: nn.Module, norm: nn.Module) -> bool:
    """True when ``norm`` (run right after ``conv``) can be folded into ``conv``'s weight and bias."""
    # Exact types only: a subclass may override forward, and then folding would change what it computes.
    conv_types = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    norm_types = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
    if type(conv) not in conv_types or type(norm) not in norm_types:
        return False
    # Without running statistics BatchNorm normalises with batch statistics even in eval mode.
    if norm.running_mean is None or norm.running_var is None:  # type: ignore[union-attr]
        return False
    return int(norm.num_features) == int(conv.out_channels)  # type: ignore[union-attr, arg-type]


def _fuse_in_place(module: nn.Module) -> int:
    """Fold BatchNorm into the preceding conv inside every ``nn.Sequential`` of ``module``; returns the count.

    Only ``nn.Sequential`` containers are folded: there the registration order IS the execution order and
    the conv output feeds nothing but the norm. In any other module ``forward`` may use its children in
    any order (or reuse the conv output), so a sibling pair proves nothing. ``torch.fx`` could follow the
    data flow, but unetkit's models branch on shapes in Python and do not trace symbolically.
    """
    count = 0
    if isinstance(module, nn.Sequential):
        names = list(module._modules)
        for first, second in itertools.pairwise(names):
            conv, norm = module._modules[first], module._modules[second]
            if conv is not None and norm is not None and _foldable(conv, norm):
                transpose = isinstance(conv, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d))
                folded = fuse_conv_bn_eval(
                    cast(nn.Conv2d, conv), cast(nn.BatchNorm2d, norm), transpose=transpose
                )
                module._modules[first] = folded
                module._modules[second] = nn.Identity()
                count += 1
    for child in module.children():
        count += _fuse_in_place(child)
    return count


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with each ``Conv -> BatchNorm`` pair of an ``nn.Sequential`` folded.

    The folded conv computes ``gamma * (conv(x) - mean) / sqrt(var + eps) + beta`` with adjusted weights
    and bias; the BatchNorm becomes ``nn.Identity``. Valid in eval mode only (running statistics); the
    input model is not modified.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    fused = copy.deepcopy(model).eval()
    count = _fuse_in_place(fused)
    logger.debug("folded %d BatchNorm layers into convolutions", count)
    return fused


def count_batchnorm(model: nn.Module) -> int:
    """Number of BatchNorm modules left in ``model`` (0 after a complete :func:`fuse_conv_bn`)."""
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _model_device(model: nn.Module) -> torch.device:
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def resolve_mode(mode: str, device: torch.device | str) -> str:
    """``mode`` validated; ``"auto"`` becomes ``"compile"`` on CUDA with Triton, else ``"channels_last"``."""
    key = look_up_option(mode, FAST_MODES, name="inference mode")
    if key != "auto":
        return key
    if torch.device(device).type == "cuda" and importlib.util.find_spec("triton") is not None:
        return "compile"
    return "channels_last"


class InferenceModel(nn.Module):
    """Eval-only wrapper returned by :func:`optimize_for_inference`.

    ``forward`` runs without autograd, feeds the network NHWC inputs in the channels_last modes and
    returns contiguous (NCHW) logits, so callers (numpy conversion, tiling) see the usual layout.

    Attributes:
        mode: the resolved mode ("eager", "fused", "channels_last" or "compile").
        model: the transformed network (fused copy; the compiled function is kept separately).
    """

    def __init__(self, model: nn.Module, mode: str, compiled: Any = None, clone_output: bool = False) -> None:
        super().__init__()
        self.model = model
        self.mode = mode
        self.clone_output = clone_output
        self.channels_last = mode in ("channels_last", "compile")
        # A plain attribute (not a submodule): the compiled wrapper shares the parameters of self.model.
        self.__dict__["_compiled"] = compiled
        self._first_call = compiled is not None
        for name in _MODEL_ATTRS:
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))
        self.eval()

    def geometry(self) -> ModelGeometry:
        """The wrapped model's geometry (the optimisations never change sizes)."""
        return model_geometry(self.model)

    def train(self, mode: bool = True) -> InferenceModel:
        if mode:
            raise ValueError("InferenceModel is for inference only; train the original model instead.")
        return super().train(False)

    def _run(self, x: torch.Tensor) -> Any:
        compiled = self.__dict__["_compiled"]
        if compiled is None:
            return self.model(x)
        if not self._first_call:
            return compiled(x)
        try:
            out = compiled(x)
        except Exception as exc:  # inductor raises many types (no compiler, Triton missing, lowering errors)
            logger.warning(
                "torch.compile failed (%s: %s); falling back to channels_last eager.",
                type(exc).__name__,
                str(exc).splitlines()[0] if str(exc) else "",
            )
            self.__dict__["_compiled"] = None
            self.mode = "channels_last"
            out = self.model(x)
        self._first_call = False
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` -> logits ``(N, K, H', W')`` (contiguous NCHW)."""
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        # Freezing (compile mode) applies only when autograd is off at compile time.
        with torch.no_grad():
            y = self._run(x)
        if isinstance(y, torch.Tensor):
            # A CUDA-graph output lives in a static buffer that the next replay overwrites.
            return y.clone() if self.clone_output and self.mode == "compile" else y.contiguous()
        return y


def optimize_for_inference(model: nn.Module, mode: str = "auto") -> nn.Module:
    """The fastest inference form of ``model`` (see the module docstring for the modes).

    Args:
        model: any ``nn.Module`` returning logits; it is copied, never modified.
        mode: ``"auto"``, ``"eager"``, ``"fused"``, ``"channels_last"`` or ``"compile"``.

    Returns:
        An :class:`InferenceModel` in eval mode on the model's device: ``(N, C, H, W)`` -> logits
        ``(N, K, H', W')``, fp32 logits within 1e-4 of the eager model's.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    key = resolve_mode(mode, _model_device(model))
    if key == "eager":
        return InferenceModel(copy.deepcopy(model).eval(), "eager")
    net = fuse_conv_bn(model)
    for p in net.parameters():
        p.requires_grad_(False)
    if key == "fused":
        return InferenceModel(net, "fused")
    net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    if key == "channels_last":
        return InferenceModel(net, "channels_last")
    # Shapes are static (dynamic=False): tiles have one size, and static shapes give the best kernels.
    # options= patches inductor's config for this compilation only (no global state is changed).
    options: dict[str, Any] = {"freezing": True}
    cuda_graphs = _model_device(model).type == "cuda"
    if cuda_graphs:
        # CUDA graphs ("reduce-overhead"): one replay instead of ~100 kernel launches; at batch 1 a U-Net
        # spends more time launching kernels on the CPU than computing on the GPU.
        options["triton.cudagraphs"] = True
    compiled = torch.compile(net, dynamic=False, options=options)
    return InferenceModel(net, "compile", compiled=compiled, clone_output=cuda_graphs)
