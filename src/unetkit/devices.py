"""The torch device a command runs on: one rule for ``--device auto`` (plan, fit, predict, the Predictor).

Torch-free until it has to be: on Linux without the NVIDIA driver's control device there is no CUDA GPU
to find, and the onnxruntime / OpenVINO prediction paths must not import torch to learn that.
"""

from __future__ import annotations

import importlib.util
import platform
from pathlib import Path

# The NVIDIA driver's control device: present on every Linux machine with a usable NVIDIA GPU.
_NVIDIA_CONTROL = Path("/dev/nvidiactl")


def resolve_device(device: str) -> str:
    """``device`` as given, except ``"auto"``: ``"cuda"`` when torch sees a CUDA GPU, else ``"cpu"``."""
    if device != "auto":
        return device
    if platform.system() == "Linux" and not _NVIDIA_CONTROL.exists():
        return "cpu"
    if importlib.util.find_spec("torch") is None:
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
