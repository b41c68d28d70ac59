"""What moving the pin from torch 2.13.0 (CPU wheel) to torch 2.14.1 + torchvision 0.29.1 (a CUDA build,
run on the CPU) changes: install time and size of a fresh ``.venv``, and CPU speed (issue 13).

Two interpreters, one per venv (``--old-python`` / ``--new-python``), each time the same workloads in a
child process: a U-Net training step (base 8, depth 4, (5, 1, 240, 240), AdamW, CE, channels_last: the
ISBI plan's step) and a forward pass at 512x512 (inference), in fp32 with ``--threads`` threads. The
children alternate, round by round, so a change in the machine's load hits both alike; medians are kept.
``--install`` also times ``scripts/bootstrap.sh`` in fresh clones of the two commits (``--old-ref`` /
``--new-ref``) and measures the venvs' size on disk.

    .venv/bin/python benchmarks/torch_switch.py --old-python OLD/bin/python --new-python .venv/bin/python
        [--rounds 5] [--install --old-ref REF --new-ref REF] [--shared-machine NOTE]

Writes ``--out``/torch_switch.json + .md (default benchmarks/results/torch_switch).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info, writing results

ROOT = Path(__file__).resolve().parents[1]

# Run in each child: one measurement of each workload (after warm-up), printed as JSON.
CHILD = r"""
import json, sys, time
import torch
import torch.nn.functional as F
sys.path.insert(0, sys.argv[1])
from unetkit.models.registry import create_model
torch.manual_seed(0)
torch.set_num_threads(int(sys.argv[2]))
steps = int(sys.argv[3])
model = create_model("unet", in_channels=1, num_classes=2, base_channels=8, depth=4)
model = model.to(memory_format=torch.channels_last)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
x = torch.randn(5, 1, 240, 240).to(memory_format=torch.channels_last)
y = torch.randint(0, 2, (5, 240, 240))
def step():
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    opt.step()
big = torch.randn(1, 1, 512, 512).to(memory_format=torch.channels_last)
def infer():
    with torch.inference_mode():
        model(big)
out = {"torch": torch.__version__}
for name, fn in (("train_step_s", step), ("infer_512_s", infer)):
    fn(); fn()
    times = []
    for _ in range(steps):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    out[name] = sorted(times)[len(times) // 2]
model.eval()
print(json.dumps(out))
"""


def measure(python: str, threads: int, steps: int) -> dict[str, Any]:
    """One child run of :data:`CHILD` with ``python``."""
    proc = subprocess.run(
        [python, "-c", CHILD, str(ROOT / "src"), str(threads), str(steps)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def install(ref: str) -> dict[str, Any]:
    """Time ``scripts/bootstrap.sh`` in a fresh clone of ``ref``; the venv's size on disk."""
    with tempfile.TemporaryDirectory(prefix="unetkit-install-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "-q", ref], check=True)
        start = time.perf_counter()
        subprocess.run(["bash", "scripts/bootstrap.sh"], cwd=clone, check=True, capture_output=True)
        seconds = time.perf_counter() - start
        du = subprocess.run(["du", "-sb", str(clone / ".venv")], capture_output=True, text=True, check=True)
        size = int(du.stdout.split()[0])
        shutil.rmtree(clone, ignore_errors=True)
    return {"ref": ref, "bootstrap_seconds": round(seconds, 1), "venv_bytes": size}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--old-python", required=True)
    p.add_argument("--new-python", required=True)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--install", action="store_true")
    p.add_argument("--old-ref", default=None)
    p.add_argument("--new-ref", default="HEAD")
    p.add_argument("--shared-machine", default=None)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "torch_switch")
    args = p.parse_args(argv)
    info = harness.machine_info(args.shared_machine)
    runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    for _ in range(args.rounds):
        for key, python in (("old", args.old_python), ("new", args.new_python)):
            runs[key].append(measure(python, args.threads, args.steps))
    summary = {}
    for key, rows in runs.items():
        summary[key] = {
            "torch": rows[0]["torch"],
            "train_step_s": round(statistics.median(r["train_step_s"] for r in rows), 4),
            "infer_512_s": round(statistics.median(r["infer_512_s"] for r in rows), 4),
        }
    ratios = {k: round(summary["old"][k] / summary["new"][k], 3) for k in ("train_step_s", "infer_512_s")}
    result: dict[str, Any] = {
        "meta": {"command": harness.command_line(), "machine_info": info},
        "threads": args.threads,
        "summary": summary,
        "speedup_new_over_old": ratios,
        "runs": runs,
    }
    if args.install:
        if not args.old_ref:
            raise SystemExit("--install needs --old-ref (the commit with the old pin)")
        result["install"] = {"old": install(args.old_ref), "new": install(args.new_ref)}
    o, n = summary["old"], summary["new"]
    lines = [
        "# torch 2.13.0 (CPU wheel) -> torch 2.14.1 + torchvision 0.29.1 (CUDA build on the CPU)", "",
        f"Written by `{result['meta']['command']}`; {info['cpu_model']}, torch threads {args.threads}, "
        f"load: {info['shared_machine'] or 'idle'}. Medians of {args.rounds} alternating rounds.", "",
        "| | old | new | old / new |", "|---|---:|---:|---:|",
        f"| torch | {o['torch']} | {n['torch']} | |",
        f"| U-Net b8 training step (5x1x240x240), s | {o['train_step_s']:.4f} | {n['train_step_s']:.4f} | "
        f"{ratios['train_step_s']:.2f} |",
        f"| U-Net b8 forward 512x512, s | {o['infer_512_s']:.4f} | {n['infer_512_s']:.4f} | "
        f"{ratios['infer_512_s']:.2f} |",
    ]  # fmt: skip
    if "install" in result:
        a, b = result["install"]["old"], result["install"]["new"]
        lines += [
            f"| fresh `scripts/bootstrap.sh`, s | {a['bootstrap_seconds']} | {b['bootstrap_seconds']} | "
            f"{a['bootstrap_seconds'] / b['bootstrap_seconds']:.2f} |",
            f"| .venv on disk, GB | {a['venv_bytes'] / 1e9:.2f} | {b['venv_bytes'] / 1e9:.2f} | "
            f"{a['venv_bytes'] / b['venv_bytes']:.2f} |",
        ]
    harness.write_results(args.out, "torch_switch", result, "\n".join(lines) + "\n")
    return result


if __name__ == "__main__":
    main()
