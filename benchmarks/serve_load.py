"""Load test of ``unetkit serve``: N concurrent clients posting real images to a live server over loopback.

Starts ``unetkit serve MODEL --port 0`` (127.0.0.1 only) as a subprocess per configuration, measures the
single-request latency on the idle server (sequential requests, before and after the load), then lets
``--concurrency`` clients post ``--requests`` images (ISBI 2012 slices, 512 x 512 gray, cycled) as fast as
answers come back, while a probe asks ``/api/health`` every 100 ms (the event loop must stay responsive
while inference runs in the pool). Peak RSS is the server's high-water mark (``VmHWM`` of the server
process plus its worker processes, read from /proc just before it stops). Then an overload run with a small
queue: more clients than the server admits, no retries; every answer must be 200 or 503 (+ Retry-After),
never a failure.

Bounded: a fixed number of requests per run, every run also stops at ``--max-seconds``; loopback only.

Model: the packaged ISBI architecture (unet, base_channels 8, depth 4, 1 channel, 2 classes), randomly
initialised unless ``--model`` names a trained one: the weights do not change the work per request.

Usage:
    .venv/bin/python benchmarks/serve_load.py                      # all configurations -> results/serve/
    .venv/bin/python benchmarks/serve_load.py --configs thread-1x2 --requests 100   # a quick one
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

RESULTS = Path(__file__).resolve().parent / "results" / "serve"
ROOT = Path(__file__).resolve().parents[1]
ISBI_IMAGES = ROOT.parent / "shared" / "data" / "isbi2012" / "images"
ISBI_ARCH = {"in_channels": 1, "num_classes": 2, "base_channels": 8, "depth": 4}
# name -> (pool, inference workers, engine threads per worker: torch, onnxruntime or OpenVINO, as
# `serve --threads`). 2 cores: one job on both cores, or two
# jobs on one core each, in threads (one model, shared GIL) or in worker processes.
HEADLINE_KEYS = (
    "requests", "errors", "concurrency", "p50_ms", "p95_ms", "p99_ms", "single_request_ms",
    "requests_per_s", "peak_rss_mib", "p95_over_single", "pool", "workers", "server_cores_used",
    "loadavg_1m_before_after",
)  # fmt: skip
CONFIGS = {
    "thread-1x2": ("thread", 1, 2),
    "thread-2x1": ("thread", 2, 1),
    "process-2x1": ("process", 2, 1),
}

# One forward pass per request, as the committed results measured it (tta "none" was serve's default then;
# now the default is the TTA the model's run scored with, which multiplies the passes).
NO_TTA = {"tta": "none"}


def make_model(folder: Path) -> Path:
    """The ISBI architecture with random weights, saved like a trained model."""
    import torch

    from unetkit.model_files.model_config import ModelConfig
    from unetkit.model_files.model_io import save_model
    from unetkit.models import create_model

    torch.manual_seed(0)
    model = create_model("unet", **ISBI_ARCH)
    config = ModelConfig("unet", dict(ISBI_ARCH), ["membrane", "cell"], mean=[0.5], std=[0.25])
    return save_model(model, config, folder / "isbi_random")


def load_images(folder: Path, limit: int = 30) -> list[tuple[str, bytes]]:
    """(name, PNG bytes) of the ISBI slices, or synthetic 512 x 512 slices when the data is absent."""
    if folder.is_dir():
        files = sorted(folder.glob("*.png"))[:limit]
        if files:
            return [(f.name, f.read_bytes()) for f in files]
    import io

    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for i in range(8):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (512, 512), dtype=np.uint8)).save(buf, format="PNG")
        out.append((f"synthetic_{i}.png", buf.getvalue()))
    return out


# ------------------------------------------------------------------------------------------------ server
class Server:
    """``unetkit serve`` in a subprocess on a free loopback port."""

    def __init__(self, model: Path, pool: str, workers: int, threads: int, queue: int) -> None:
        cmd = [sys.executable, "-m", "unetkit.cli.main", "serve", str(model), "--host", "127.0.0.1"]
        cmd += ["--port", "0", "--pool", pool, "--workers", str(workers), "--threads", str(threads)]
        cmd += ["--queue", str(queue), "--log-level", "warning", "--timeout", "300"]
        env = dict(os.environ)
        env.pop("UNETKIT_SERVE_TOKEN", None)
        # --log-level warning hides uvicorn's "running on" line: ask for it on the port report instead.
        cmd[cmd.index("warning")] = "info"
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.lines: list[str] = []
        found = threading.Event()
        self.url = ""

        def reader() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line)
                match = re.search(r"running on (http://127\.0\.0\.1:\d+)", line)
                if match and not found.is_set():
                    self.url = match.group(1)
                    found.set()

        threading.Thread(target=reader, daemon=True).start()
        deadline = time.monotonic() + 300
        while not found.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("server did not start:\n" + "".join(self.lines)[-3000:])

    def peak_rss_mib(self) -> float:
        """VmHWM of the server and of its worker processes (sum: an upper bound of their joint peak)."""
        pids = [self.proc.pid, *_children(self.proc.pid)]
        total = 0
        for pid in pids:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(r"VmHWM:\s+(\d+) kB", status)
            total += int(match.group(1)) if match else 0
        return total / 1024

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server and its worker processes."""
        total = 0
        for pid in [self.proc.pid, *_children(self.proc.pid)]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of proc(5))
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _children(pid: int) -> list[int]:
    """Descendant pids from /proc/*/stat (worker processes and the multiprocessing resource tracker)."""
    parent_of: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parent_of[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        kids = [p for p, parent in parent_of.items() if parent == current]
        found.extend(kids)
        frontier.extend(kids)
    return found


# ------------------------------------------------------------------------------------------------ clients
def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


async def single_request_ms(url: str, images: list[tuple[str, bytes]], count: int) -> list[float]:
    """Latencies of ``count`` sequential requests on the otherwise idle server (after 3 warm-ups)."""
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        times = []
        for i in range(count + 3):
            name, data = images[i % len(images)]
            start = time.perf_counter()
            response = await client.post(
                "/api/predict", files={"file": (name, data, "image/png")}, data=NO_TTA
            )
            elapsed = (time.perf_counter() - start) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"single request failed: {response.status_code} {response.text[:300]}")
            if i >= 3:
                times.append(elapsed)
    return times


async def load(
    url: str, images: list[tuple[str, bytes]], requests: int, concurrency: int, max_seconds: float
) -> dict[str, Any]:
    """``concurrency`` closed-loop clients share ``requests`` posts; a probe pings /api/health meanwhile."""
    import httpx

    latencies: list[float] = []
    statuses: dict[str, int] = {}
    failures: list[str] = []
    retry_after: list[int] = []
    health_ms: list[float] = []
    issued = 0
    deadline = time.monotonic() + max_seconds
    done = asyncio.Event()
    limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2)

    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:

        async def worker() -> None:
            nonlocal issued
            while issued < requests and time.monotonic() < deadline:
                name, data = images[issued % len(images)]
                issued += 1
                start = time.perf_counter()
                try:
                    response = await client.post(
                        "/api/predict", files={"file": (name, data, "image/png")}, data=NO_TTA
                    )
                except httpx.HTTPError as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                elapsed = (time.perf_counter() - start) * 1000
                key = str(response.status_code)
                statuses[key] = statuses.get(key, 0) + 1
                if response.status_code == 200:
                    latencies.append(elapsed)
                elif response.status_code == 503:
                    retry_after.append(int(response.headers.get("Retry-After", "0")))
                else:
                    failures.append(f"{response.status_code}: {response.text[:200]}")

        async def probe() -> None:
            while not done.is_set():
                start = time.perf_counter()
                try:
                    response = await client.get("/api/health")
                    if response.status_code == 200:
                        health_ms.append((time.perf_counter() - start) * 1000)
                except httpx.HTTPError as exc:
                    failures.append(f"health: {type(exc).__name__}: {exc}")
                await asyncio.sleep(0.1)

        probe_task = asyncio.create_task(probe())
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
        done.set()
        await probe_task
        alive = (await client.get("/api/health")).status_code == 200
    return {
        "issued": issued,
        "ok": len(latencies),
        "statuses": statuses,
        "failures": failures[:10],
        "failure_count": len(failures),
        "wall_s": wall,
        "stopped_by_time": issued < requests,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "mean_ms": float(np.mean(latencies)) if latencies else float("nan"),
        "requests_per_s": len(latencies) / wall if wall > 0 else float("nan"),
        "retry_after_s": sorted(set(retry_after)),
        "health_p50_ms": percentile(health_ms, 50),
        "health_p95_ms": percentile(health_ms, 95),
        "health_checks": len(health_ms),
        "alive_after": alive,
    }


def run_config(
    name: str, model: Path, images: list[tuple[str, bytes]], args: argparse.Namespace, overload: bool = False
) -> dict[str, Any]:
    pool, workers, threads = CONFIGS[name] if not overload else ("thread", 1, 2)
    queue = args.overload_queue if overload else args.queue
    server = Server(model, pool, workers, threads, queue)
    try:
        # Sequential requests before and after the load run: the machine's load drifts (shared machine),
        # and the median over both sides is fairer to the run between them than either side alone.
        before = asyncio.run(single_request_ms(server.url, images, args.single))
        requests = args.overload_requests if overload else args.requests
        if not overload and name != args.headline:
            requests = args.compare_requests
        concurrency = args.overload_concurrency if overload else args.concurrency
        cpu_start = server.cpu_seconds()
        load_before = os.getloadavg()[0]
        result = asyncio.run(load(server.url, images, requests, concurrency, args.max_seconds))
        cpu_used = server.cpu_seconds() - cpu_start
        load_after = os.getloadavg()[0]
        after = asyncio.run(single_request_ms(server.url, images, args.single))
        peak = server.peak_rss_mib()
        single = statistics.median(before + after)
    finally:
        server.stop()
    rejected = result["statuses"].get("503", 0)
    errors = result["failure_count"] + (0 if overload else rejected)
    row = {
        "name": "overload" if overload else name,
        "pool": pool,
        "workers": workers,
        "torch_threads_per_worker": threads,
        "queue": queue,
        "concurrency": concurrency,
        "requests": result["issued"],
        "ok": result["ok"],
        "rejected_503": rejected,
        "errors": errors,
        "single_request_ms": round(single, 1),
        "single_before_ms": round(statistics.median(before), 1),
        "single_after_ms": round(statistics.median(after), 1),
        **{k: round(v, 1) if isinstance(v, float) else v for k, v in result.items() if k != "issued"},
        "peak_rss_mib": round(peak, 1),
        # CPU time of the server per answered request: unlike latency, hardly changed by other jobs'
        # load on a shared machine, so it compares configurations measured at different times.
        "server_cpu_ms_per_request": round(1000 * cpu_used / max(result["ok"], 1), 1),
        # Cores the server got on average during the load run (2 = the whole machine): on a shared machine
        # this, not the code, bounds the throughput; with 8 closed-loop clients the mean latency is about
        # 8 x (CPU per request) / (cores used).
        "server_cores_used": round(cpu_used / result["wall_s"], 2) if result["wall_s"] > 0 else None,
        "loadavg_1m_before_after": [round(load_before, 2), round(load_after, 2)],
    }
    row["p95_over_single"] = round(row["p95_ms"] / row["single_request_ms"], 2) if row["ok"] else None
    print(
        f"{row['name']}: {row['ok']}/{row['requests']} ok, {rejected} x 503, {errors} errors, "
        f"single {row['single_request_ms']} ms, p50 {row['p50_ms']} p95 {row['p95_ms']} ms, "
        f"{row['requests_per_s']} req/s, peak RSS {row['peak_rss_mib']} MiB",
        flush=True,
    )
    return row


def markdown(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    lines = [
        "# unetkit serve under load",
        "",
        f"`{payload['command']}`: {payload['model']}; {payload['images']}; default request options (no TTA, "
        "no instances: mask + overlay + input PNGs written per request). Loopback HTTP, httpx clients in one "
        "asyncio process on the same machine. Latency = client-side, upload to JSON answer.",
        "",
        f"Machine: {m['cpu_model']}, {m['cpu_count']} CPUs, torch {m['torch']} ({m['cpu_capability']})"
        + (f"; {m['shared_machine']}." if m["shared_machine"] else "."),
        "",
        *([f"Note: {payload['note']}", ""] if payload.get("note") else []),
        "| config | pool | workers x engine threads | clients | requests | ok | errors | single (ms) "
        "| p50 (ms) | p95 (ms) | p99 (ms) | p95 / single | req/s | server CPU ms / request "
        "| server cores used | load avg 1 min | /api/health p95 (ms) | peak RSS (MiB) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in payload["runs"]:
        lines.append(
            f"| {r['name']} | {r['pool']} | {r['workers']} x {r['torch_threads_per_worker']} "
            f"| {r['concurrency']} | {r['requests']} | {r['ok']} | {r['errors']} | {r['single_request_ms']} "
            f"| {r['p50_ms']} "
            f"| {r['p95_ms']} | {r['p99_ms']} | {r['p95_over_single']} | {r['requests_per_s']} "
            f"| {r['server_cpu_ms_per_request']} | {r['server_cores_used']} "
            f"| {' -> '.join(str(x) for x in r['loadavg_1m_before_after'])} "
            f"| {r['health_p95_ms']} | {r['peak_rss_mib']} |"
        )
    o = payload["overload"]
    lines += [
        "",
        f"Overload (pool {o['pool']}, {o['workers']} worker, queue {o['queue']}, {o['concurrency']} clients, "
        f"no retries): {o['requests']} requests -> {o['ok']} answered 200, {o['rejected_503']} refused with "
        f"503 (Retry-After {o['retry_after_s']} s), {o['errors']} failures; server alive afterwards: "
        f"{o['alive_after']}.",
        "",
        f"Headline (`{payload['headline']}`, the `unetkit serve` default): {payload['requests']} requests "
        f"from {payload['concurrency']} clients, {payload['errors']} errors, p50 {payload['p50_ms']} ms, "
        f"p95 {payload['p95_ms']} ms = {payload['p95_over_single']} x the single-request "
        f"{payload['single_request_ms']} ms (bar: < 10 x), {payload['requests_per_s']} requests/s, "
        f"peak RSS {payload['peak_rss_mib']} MiB. Bar met: {payload['bar_p95_under_10x_single']} (the server "
        f"got {payload['server_cores_used']} of the 2 cores on average during the run; load average "
        f"{payload['loadavg_1m_before_after']} before/after).",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=None, help="model to serve (default: random ISBI arch)")
    parser.add_argument("--images", type=Path, default=ISBI_IMAGES, help="folder of PNG images to post")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--headline", choices=list(CONFIGS), default="thread-2x1", help="the server default")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument(
        "--compare-requests", type=int, default=100, help="requests of the configs other than the headline"
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--queue", type=int, default=16, help="server queue for the load runs (>= clients)")
    parser.add_argument("--single", type=int, default=10, help="sequential requests for single_request_ms")
    parser.add_argument("--overload-requests", type=int, default=120)
    parser.add_argument("--overload-concurrency", type=int, default=12)
    parser.add_argument("--overload-queue", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=900.0, help="time bound of each load run")
    parser.add_argument("--shared", default="shared with 4 other helpers' jobs (2 cores); numbers are noisy")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--note", default="", help="what else a reader must know (e.g. which code ran)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model if args.model is not None else make_model(Path(tmp))
        images = load_images(args.images)
        runs = [run_config(name, model, images, args) for name in args.configs]
        overload = run_config("overload", model, images, args, overload=True)
    head = next((r for r in runs if r["name"] == args.headline), runs[0])
    payload: dict[str, Any] = {
        "command": harness.command_line(),
        "note": args.note,
        "model": str(args.model)
        if args.model
        else "unet base_channels 8 depth 4, 1 channel, 2 classes, random weights (the ISBI architecture; "
        "weights do not change the work)",
        "images": f"{len(images)} images from {args.images}" if args.images.is_dir() else "synthetic 512x512",
        "headline": head["name"],
        **{key: head[key] for key in HEADLINE_KEYS},
        "bar_p95_under_10x_single": head["p95_over_single"] is not None and head["p95_over_single"] < 10,
        "runs": runs,
        "overload": overload,
        "machine": harness.machine_info(shared_machine=args.shared, mm_size=0),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    harness.write_results(args.out, "load", payload, markdown(payload))
    print(f"wrote {args.out / 'load.json'} and load.md")
    ok = payload["errors"] == 0 and overload["errors"] == 0 and overload["alive_after"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
