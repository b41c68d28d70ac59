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


# cgroup v2, then v1: a container's memory limit and what it uses now (MemAvailable is the host's).
_CGROUP_MEMORY = (
    (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current")),
    (
        Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
        Path("/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ),
)


def available_memory() -> int | None:
    """Bytes of memory available now: ``MemAvailable`` of /proc/meminfo, or less where the process's
    container (cgroup) allows less (its limit minus its use: a Docker ``--memory`` limit kills the process
    long before the host's memory runs out); None where unknown."""
    free: int | None = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        free = None
    for limit_file, usage_file in _CGROUP_MEMORY:
        try:
            limit_text = limit_file.read_text().strip()
            usage = int(usage_file.read_text().strip())
        except (OSError, ValueError):
            continue
        if limit_text == "max" or not limit_text.isdigit() or int(limit_text) >= 1 << 60:
            break  # no limit (v1 writes a huge number for none)
        left = max(0, int(limit_text) - usage)
        free = left if free is None else min(free, left)
        break
    return free


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
# The load average lags: work that ended 30 s ago still holds it up. Where /proc/stat can be read, the CPU
# time spent busy over this many seconds must show the load as well (a short wait, taken only when the
# load average reads busy).
BUSY_WINDOW_S = 0.2
_PROC_STAT = Path("/proc/stat")


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) CPU time in ticks since boot, all CPUs together (the ``cpu`` line of /proc/stat: idle
    and iowait are not busy); None where there is no /proc/stat."""
    try:
        fields = _PROC_STAT.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


def cpus_busy_now(window_s: float = BUSY_WINDOW_S) -> float | None:
    """How many CPUs' worth of time went to work (this process's included) over the next ``window_s``
    seconds, from /proc/stat; None where it cannot be read (not Linux)."""
    import time

    before = _cpu_times()
    if before is None:
        return None
    time.sleep(window_s)
    after = _cpu_times()
    if after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1]) * (os.cpu_count() or 1)


def machine_load() -> tuple[float, float | None, int] | None:
    """``(1-minute load average, CPUs busy now, CPUs)`` when the machine is busy, else None (idle, or no load
    average on this platform). Busy: the load average is above ``BUSY_LOAD_SHARE`` of the CPUs and, where
    /proc/stat can be read (``CPUs busy now`` is None where not), so is the CPU time spent busy over the
    last ``BUSY_WINDOW_S`` seconds: a machine whose work ended a few seconds ago is idle, though its load
    average still reads busy for a minute."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return None
    cpus = os.cpu_count() or 1
    if load <= BUSY_LOAD_SHARE * cpus:
        return None
    now = cpus_busy_now()
    if now is not None and now <= BUSY_LOAD_SHARE * cpus:
        return None
    return round(load, 1), None if now is None else round(now, 1), cpus


def busy_load() -> tuple[float, int] | None:
    """``(1-minute load average, CPUs)`` when the machine is busy (:func:`machine_load`), else None."""
    busy = machine_load()
    return None if busy is None else (busy[0], busy[2])


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
