"""onnxruntime's intra-op spinning: idle threads that busy-wait after a run slowed the next engine timed in
the same process (backend auto, `unetkit benchmark`). Three session settings, timed run by run in turn at
several thread counts: spinning on (onnxruntime's default), off (``session.intra_op.allow_spinning`` 0),
and on with ``session.force_spinning_stop`` 1 (spinning while a run lasts, stopped when it returns).
Per setting: the median latency, and the process's CPU time in the 50 ms after each run (what spinning
takes from other work). Writes JSON + markdown. A benchmark, not a test: run it on an idle machine.

    python benchmarks/ort_spinning.py MODEL.onnx OUT_DIR [--size 512] [--threads 1,2,4,8] [--runs 30]

MODEL.onnx: any export of a run (``unetkit export RUN`` writes RUN/export/model.onnx); its input is
``input`` (N, C, H, W). Records the CPU flags and the onnxruntime version with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np


def cpu_flags() -> list[str]:
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni")
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return [f for f in line.split(":", 1)[1].split() if f in wanted]
    except OSError:
        pass
    return []


MODES = {  # name -> session config entries
    "spinning": {"session.intra_op.allow_spinning": "1"},
    "no_spinning": {"session.intra_op.allow_spinning": "0"},
    "spinning_stopped_after_run": {
        "session.intra_op.allow_spinning": "1",
        "session.force_spinning_stop": "1",
    },
}
IDLE_WINDOW_S = 0.05


def session(model: Path, threads: int, entries: dict[str, str]):  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    for key, value in entries.items():
        options.add_session_config_entry(key, value)
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--threads", default="1,2,4,8")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    import onnxruntime as ort

    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        sessions = {mode: session(args.model, threads, entries) for mode, entries in MODES.items()}
        first = next(iter(sessions.values()))
        name, channels = first.get_inputs()[0].name, first.get_inputs()[0].shape[1]
        x = np.random.default_rng(0).standard_normal((1, channels, args.size, args.size)).astype(np.float32)
        for s in sessions.values():  # warm-up
            s.run(None, {name: x})
        times: dict[str, list[float]] = {mode: [] for mode in MODES}
        idle_cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
        order = list(MODES)
        for i in range(args.runs):
            for mode in order[i % len(order) :] + order[: i % len(order)]:  # each round starts one further on
                start = time.perf_counter()
                sessions[mode].run(None, {name: x})
                times[mode].append(time.perf_counter() - start)
                cpu = time.process_time()
                time.sleep(IDLE_WINDOW_S)
                idle_cpu[mode].append(time.process_time() - cpu)
        row: dict[str, float | int] = {"threads": threads}
        for mode in MODES:
            row[f"{mode}_ms"] = round(statistics.median(times[mode]) * 1000, 2)
            row[f"{mode}_idle_cpu_ms"] = round(statistics.median(idle_cpu[mode]) * 1000, 1)
        for mode in MODES:
            row[f"{mode}_over_spinning"] = round(float(row[f"{mode}_ms"]) / float(row["spinning_ms"]), 3)
        rows.append(row)
    result = {
        "command": "python benchmarks/ort_spinning.py " + " ".join(os.sys.argv[1:]),
        "onnxruntime": ort.__version__,
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "cpu_flags": cpu_flags(),
        "load_1min_before": os.getloadavg()[0],
        "size": args.size,
        "runs": args.runs,
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ort_spinning.json").write_text(json.dumps(result, indent=1) + "\n")
    head = "| threads | " + " | ".join(f"{m} ms (x spinning) | {m} idle CPU ms" for m in MODES) + " |"
    lines = [head, "|---:|" + "---:|---:|" * len(MODES)]
    for r in rows:
        cells = [f"{r[f'{m}_ms']} ({r[f'{m}_over_spinning']}) | {r[f'{m}_idle_cpu_ms']}" for m in MODES]
        lines.append(f"| {r['threads']} | " + " | ".join(cells) + " |")
    (args.out / "ort_spinning.md").write_text(
        f"onnxruntime {ort.__version__}, {os.cpu_count()} CPUs, flags {' '.join(result['cpu_flags'])}, "
        f"{args.size}x{args.size}, median of {args.runs} runs per setting in turn; idle CPU: the process's "
        "CPU "
        f"time in the {IDLE_WINDOW_S * 1000:.0f} ms after a run\n\n" + "\n".join(lines) + "\n"
    )
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
