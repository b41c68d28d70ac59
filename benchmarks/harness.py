"""The shared harness of the benchmarks: machine description, interleaved timing, FLOP counting, RSS
sampling and writing results (JSON + Markdown, atomically).

Every benchmark script records :func:`machine_info` with its results, so that a number in the docs can be
traced to the CPU (model and flags), the torch build and the load of the machine that produced it::

    import harness  # benchmarks/ is on sys.path when a script in it runs

    info = harness.machine_info(shared_machine="shared with 4 other jobs")
    times = harness.time_interleaved({"a": step_a, "b": step_b}, rounds=5)
    harness.write_results(out, "name", {"machine": info, "seconds": times}, markdown)
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from unetkit.files import atomic_write_text
from unetkit.inference import bench as _bench

__all__ = [
    "PeakRss",
    "count_flops",
    "cpu_description",
    "machine_info",
    "matmul_gflops",
    "median",
    "python_name",
    "rss_bytes",
    "time_interleaved",
    "write_results",
]


# ------------------------------------------------------------------------------------- machine description
def _cpuinfo_field(name: str) -> str | None:
    """The first ``name : value`` line of /proc/cpuinfo (Linux), or None."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return None


def cpu_description() -> str:
    """``"<cores> CPUs (<model>)"``: the one-line form the Markdown reports print."""
    model = _cpuinfo_field("model name") or platform.processor() or "unknown CPU"
    return f"{os.cpu_count()} CPUs ({model})"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(device: torch.device | str = "cpu", n: int = 2048, repeats: int = 7) -> float:
    """Median fp32 ``torch.mm`` GFLOP/s for (n x n) @ (n x n): this machine's practical fp32 peak."""
    device = torch.device(device)
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    torch.mm(a, b)  # warm-up: first call allocates and picks the kernel
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


def machine_info(
    shared_machine: str | None = None, device: torch.device | str = "cpu", mm_size: int = 1024
) -> dict[str, Any]:
    """What produced a result: CPU model and flags, torch CPU capability and versions, threads, cores, a
    quick ``torch.mm`` GFLOP/s probe (``mm_size`` square; 0 skips it), the date (UTC) and ``shared_machine``:
    the caller's note on the load (e.g. "shared with 4 other jobs"; None = not stated, "" = idle)."""
    flags = _cpuinfo_field("flags") or _cpuinfo_field("Features") or ""  # x86 / ARM
    device = torch.device(device)
    info: dict[str, Any] = {
        "cpu_model": _cpuinfo_field("model name") or platform.processor() or "unknown CPU",
        "cpu_flags": flags.split(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_count": os.cpu_count(),
        "affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "device": str(device),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "shared_machine": shared_machine,
    }
    if device.type == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(device)
    info["matmul_gflops"] = round(matmul_gflops(device, n=mm_size, repeats=5), 1) if mm_size > 0 else None
    return info


def python_name() -> str:
    """The interpreter as typed in the repository root (``.venv/bin/python``) or ``python3``."""
    exe = Path(sys.executable)
    try:
        return exe.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return "python3"


def command_line() -> str:
    """This process's command line as it would be typed in the repository root (shell-quoted)."""
    return shlex.join([python_name(), *sys.argv])


# ------------------------------------------------------------------------------------------------ timing
def median(xs: Sequence[float]) -> float:
    """Median of ``xs`` (NaN when empty, so a failed candidate does not stop a report)."""
    return float(statistics.median(xs)) if len(xs) else float("nan")


# The interleaved timer is the library's (``unetkit benchmark`` and ``--backend auto`` use it too).
time_interleaved = _bench.time_interleaved


# ------------------------------------------------------------------------------------------------- FLOPs
def count_flops(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    train: bool = False,
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
    device: torch.device | str | None = None,
) -> float:
    """FLOPs (2 per multiply-add, as ``torch.utils.flop_counter`` counts convolutions and matmuls) of one
    forward pass on a zero input of ``input_shape`` (N, C, H, W), or of forward + backward when ``train``.
    ``forward`` replaces ``model(x)`` (e.g. a pass that pads to the model's size divisor)."""
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    x = torch.zeros(*input_shape, device=device)
    run = forward if forward is not None else model
    counter = FlopCounterMode(display=False)
    was_training = model.training
    model.train(train)
    try:
        with counter:
            if train:
                run(x).float().sum().backward()
            else:
                with torch.no_grad():
                    run(x)
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return float(counter.get_total_flops())


# -------------------------------------------------------------------------------------------------- memory
def rss_bytes() -> int:
    """This process's resident set size now (Linux /proc)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """Samples this process's RSS every ``interval`` s in a thread; ``peak`` is the largest value seen."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.peak = 0
        self.start_rss = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakRss:
        self.start_rss = rss_bytes()
        self.peak = self.start_rss
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, rss_bytes())


# ------------------------------------------------------------------------------------------------ writing
def write_results(out_dir: str | Path, name: str, payload: dict[str, Any], markdown: str) -> None:
    """Write ``out_dir/name.json`` (``payload``, indented) and ``out_dir/name.md``, each atomically: a
    crashed run never leaves a half-written result that the docs could cite."""
    out = Path(out_dir)
    atomic_write_text(out / f"{name}.json", json.dumps(payload, indent=2, default=str) + "\n")
    atomic_write_text(out / f"{name}.md", markdown if markdown.endswith("\n") else markdown + "\n")


def last_step(metrics_csv: Path) -> int:
    """The optimizer step of the last logged row of a run's ``metrics.csv``."""
    steps = [int(r["step"]) for r in csv.DictReader(metrics_csv.open()) if r.get("step")]
    return max(steps) if steps else 0


def plan_pinned(data: Path, budget: str, plan_file: Path) -> tuple[dict[str, Any], list[str]]:
    """``unetkit plan DATA --time BUDGET --threads 1`` on core 0 into ``plan_file``: (plan, command)."""
    cmd = ["unetkit", "plan", str(data), "--time", budget, "--threads", "1", "--out", str(plan_file)]
    exe = str(Path(sys.executable).with_name("unetkit"))
    subprocess.run(["taskset", "-c", "0", exe, *cmd[1:]], check=True, stdout=subprocess.DEVNULL)
    return yaml.safe_load(plan_file.read_text()), ["taskset", "-c", "0", *cmd]


def fit_arms_side_by_side(
    data: Path, plan_file: Path, arms: dict[str, tuple[list[str], str]], runs: Path, stamp: str
) -> dict[str, dict[str, Any]]:
    """Train one plan once per arm, all at the same time, each pinned to its core (``taskset -c CORE``)
    with its config overrides; each run is scored on its **validation** split. Returns per arm: the command,
    the resolved config, train seconds, optimizer steps and ``metrics_val.json``."""
    exe = str(Path(sys.executable).with_name("unetkit"))
    procs = {}
    for arm, (overrides, core) in arms.items():
        run_name = f"{arm}-{stamp}"
        cmd = ["unetkit", "fit", str(data), "--plan", str(plan_file), *overrides, "evaluate.split=val"]
        cmd += [f"output.root={runs}", f"output.name={run_name}"]
        log = (runs / f"{run_name}.log").open("w")
        proc = subprocess.Popen(["taskset", "-c", core, exe, *cmd[1:]], stdout=log, stderr=subprocess.STDOUT)
        procs[arm] = (proc, cmd, runs / run_name, core)
    out: dict[str, dict[str, Any]] = {}
    for arm, (proc, cmd, run_dir, core) in procs.items():
        if proc.wait() != 0:
            raise SystemExit(f"{shlex.join(cmd)} failed ({proc.returncode}); see {run_dir}.log")
        out[arm] = {
            "command": f"taskset -c {core} " + shlex.join(cmd),
            "config": yaml.safe_load((run_dir / "config.yaml").read_text()),
            "train_seconds": round(json.loads((run_dir / "train.json").read_text())["train_seconds"], 1),
            "optimizer_steps": last_step(next(run_dir.glob("logs/**/metrics.csv"))),
            "metrics": json.loads((run_dir / "metrics_val.json").read_text()),
        }
    return out


def summarise(metrics: dict[str, Any], class_names: list[str]) -> dict[str, Any]:
    """The bar's view of ``metrics_test.json``: the headline scores and IoU/Dice per class."""
    per_iou = {c: metrics[f"iou/{c}"] for c in class_names if f"iou/{c}" in metrics}
    per_dice = {c: metrics[f"dice/{c}"] for c in class_names if f"dice/{c}" in metrics}
    out: dict[str, Any] = {
        k: metrics[k]
        for k in ("pixel_error", "rand_error", "miou", "mean_dice", "pixel_accuracy")
        if k in metrics
    }
    if len(class_names) == 2:  # binary: the foreground's Dice is the one people quote
        out["dice"] = per_dice.get(class_names[1])
        if "pixel_error" not in out and "pixel_accuracy" in metrics:
            # ISBI 2012's pixel error is the share of wrongly labelled pixels of the binary map: 1 - accuracy
            # (a folder dataset is not flagged isbi, so the evaluation reports the accuracy only).
            out["pixel_error"] = 1.0 - metrics["pixel_accuracy"]
    out["per_class_iou"] = per_iou
    out["per_class_dice"] = per_dice
    return out


SIDE_BY_SIDE = "two runs side by side, each pinned to its own core (taskset), 1 thread each"


def side_by_side_info() -> dict[str, Any]:
    """:func:`machine_info` of a benchmark that trains two arms side by side, one core each; SystemExit when
    fewer than two cores are usable."""
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("needs 2 usable cores: one per arm, side by side")
    return machine_info(SIDE_BY_SIDE)


def arm_summaries(
    runs: dict[str, dict[str, Any]], **picks: Callable[[dict[str, Any]], Any]
) -> dict[str, dict[str, Any]]:
    """Per arm of :func:`fit_arms_side_by_side`: its command, what each ``pick`` reads from its resolved
    config (the setting the arms differ in), training seconds, optimizer steps and validation scores."""
    return {
        arm: {
            "command": r["command"],
            **{key: pick(r["config"]) for key, pick in picks.items()},
            "train_seconds": r["train_seconds"],
            "optimizer_steps": r["optimizer_steps"],
            "val": summarise(r["metrics"], list(r["config"]["data"]["options"]["class_names"])),
        }
        for arm, r in runs.items()
    }
