"""The torch device a command runs on: one rule for ``--device auto`` (plan, fit, predict, the Predictor).

Torch-free until it has to be: on Linux without the NVIDIA driver's control device there is no CUDA GPU
to find, and the onnxruntime / OpenVINO prediction paths must not import torch to learn that.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
from pathlib import Path

# The NVIDIA driver's control device: present on every Linux machine with a usable NVIDIA GPU.
_NVIDIA_CONTROL = Path("/dev/nvidiactl")


# What a device option accepts: "auto", "cpu", "cuda" or "cuda:N" (the GPU's index), "mps" (Apple).
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def resolve_device(device: str) -> str:
    """``device`` as given, except ``"auto"``: ``"cuda"`` when torch sees a CUDA GPU, else ``"cpu"``.

    Raises:
        ValueError: a name outside auto, cpu, cuda, cuda:N, mps (``"gpu"`` reached torch's own list of
            device types), or "cuda" on a machine where no CUDA GPU is visible (torch raised from deep in
            its CUDA start-up).
    """
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise ValueError(f"device must be auto, cpu, cuda (or cuda:N) or mps, got {device!r}")
    if device == "auto":
        return "cuda" if _cuda_visible() else "cpu"
    if device.startswith("cuda") and _cuda_visible() is False:
        raise ValueError(
            f"device {device} was asked for but torch sees no CUDA GPU; use --device cpu (device='cpu' from "
            "Python), or auto to take a GPU when there is one"
        )
    return device


def _cuda_visible() -> bool | None:
    """Whether torch sees a CUDA GPU; None when torch is not installed (nothing to ask)."""
    if platform.system() == "Linux" and not _NVIDIA_CONTROL.exists():
        return False
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    return bool(torch.cuda.is_available())


# A machine whose 1-minute load average is above this share of its CPUs is busy: timings taken then (the
# plan's candidates, backend auto's engines) are slowed by other work and may rank differently on an idle one.
BUSY_LOAD_SHARE = 0.5


def busy_load() -> tuple[float, int] | None:
    """``(1-minute load average, CPUs)`` when the machine is busy (above ``BUSY_LOAD_SHARE`` of its CPUs),
    else None (idle, or no load average on this platform)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return None
    cpus = os.cpu_count() or 1
    return (round(load, 1), cpus) if load > BUSY_LOAD_SHARE * cpus else None
