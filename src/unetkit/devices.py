"""The torch device a command runs on: one rule for ``--device auto`` (plan, fit, predict, the Predictor).

Torch-free until it has to be: on Linux without the NVIDIA driver's control device there is no CUDA GPU
to find, and the onnxruntime / OpenVINO prediction paths must not import torch to learn that.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
import re
import threading
from collections.abc import Iterator
from pathlib import Path

from unetkit.options import check_positive_int

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


# torch_threads' scopes open at once (threads sharing one predictor: a serve thread pool) and the count the
# first of them found, put back by the last, so that the count a thread starting torch later takes is the
# caller's, never one a scope had set (with OpenMP each thread then keeps its own count; in builds with one
# count per process, a thread that leaves first does not take it from under the others either).
_SCOPES_LOCK = threading.Lock()
_scopes_open = 0
_threads_before = 0


@contextlib.contextmanager
def torch_threads(num_threads: int | None) -> Iterator[None]:
    """torch's intra-op thread count at ``num_threads`` during the block and, once the last block open at
    the time ends (blocks of several threads overlap), as the caller had it; None: left as it is, and torch is
    not imported. Without torch installed nothing runs on it: nothing to set.

    The one scope of the count: a torch predictor's forward passes (``load_predictor(num_threads=N)``),
    backend auto's timing and planning (``torch_threads(torch.get_num_threads())``: whatever the thread probe
    sets inside is put back) run in it, so library calls leave the process's count as they found it.
    """
    global _scopes_open, _threads_before
    if num_threads is None:
        yield
        return
    check_positive_int(num_threads, "num_threads")
    try:
        import torch
    except ImportError:
        yield
        return
    with _SCOPES_LOCK:
        if _scopes_open == 0:
            _threads_before = torch.get_num_threads()
        _scopes_open += 1
        if torch.get_num_threads() != num_threads:
            torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        with _SCOPES_LOCK:
            _scopes_open -= 1
            if _scopes_open == 0 and torch.get_num_threads() != _threads_before:
                torch.set_num_threads(_threads_before)
