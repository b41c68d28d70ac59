"""Summarise the GPU runs of ``benchmarks/cuda_fit.sh`` into ``summary.json`` + ``summary.md``.

Reads each ``RESULTS/<call>/`` folder that ``cuda_fit.sh`` wrote on the GPU machine (``cuda_fit.json``,
``cuda_fit.log``) and lists per ``unetkit fit``: the width, the optimizer steps the plan predicted for it, the
steps it made (from the progress bar: epochs x steps per epoch) and its validation scores. Nothing is run.

    .venv/bin/python benchmarks/cuda_fit_summary.py [--results benchmarks/results/cuda_fit]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: writing results

HERE = Path(__file__).resolve().parent
_BAR = re.compile(r"Epoch (\d+):\s+\d+%\|[^|]*\| (\d+)/(\d+)")
_RATE = re.compile(r"Epoch \d+: 100%\|[^|]*\| (\d+)/\1 \[[0-9:]+<[0-9:]+, *([0-9.]+)it/s")
# a candidate's line at the plan's precision (32-true, or bf16-mixed/16-mixed where the plan took it)
_PLANNED = re.compile(r"unet b(\d+) d\d+ \S+ x\d+ \S+\s+[\d.]+s/step -> (\d+) steps")


def sections(log: str) -> dict[str, str]:
    """``{step name: its output}`` of a ``cuda_fit.sh`` log (``### NAME: command`` ... ``### NAME: exit``)."""
    out: dict[str, str] = {}
    for m in re.finditer(r"^### (\S+): (?!exit )(.*?)^### \1: exit", log, flags=re.S | re.M):
        out[m.group(1)] = m.group(2)
    return out


def steps_made(text: str) -> int | None:
    """Optimizer steps of a fit's output: the last progress bar's epoch x steps per epoch + its position."""
    bars = _BAR.findall(text)
    if not bars:
        return None
    epoch, done, total = (int(v) for v in bars[-1])
    return epoch * total + done


def training_loop(text: str) -> tuple[float, int] | None:
    """(median seconds per step inside the training loop, steps per epoch) from every finished epoch's
    progress bar (its it/s; validation, checkpoints and epoch ends are outside it)."""
    bars = _RATE.findall(text.replace("\r", "\n"))
    if not bars:
        return None
    return round(1.0 / statistics.median(float(r) for _, r in bars), 4), int(bars[0][0])


def summarise_call(folder: Path) -> dict[str, Any]:
    """One ``cuda_fit.sh`` call: the machine, each step's exit status, and each fit against its plan."""
    result = json.loads((folder / "cuda_fit.json").read_text())
    parts = sections((folder / "cuda_fit.log").read_text())
    predicted = {int(b): int(s) for b, s in _PLANNED.findall(parts.get("plan", ""))}
    chosen = re.search(r"model\.kwargs\.base_channels: base (\d+)", parts.get("plan", ""))
    runs = []
    for name, run in result.get("runs", {}).items() or {"isbi": None}.items():
        step = "fit" if name == "isbi" else f"fit_{name}"
        text = parts.get(step, "")
        val = run["val"] if run else result["val"]
        base = run["base_channels"] if run else int(chosen.group(1)) if chosen else None
        took = re.search(r"training took (\d+) s", text)
        runs.append(
            {
                "run": name,
                "planned_width": name == "isbi",
                "base_channels": base,
                "predicted_steps": predicted.get(base) if base is not None else None,
                "steps": steps_made(text),
                "train_seconds": int(took.group(1)) if took else None,
                "val_miou": round(val["miou"], 4),
                "val_pixel_error": round(1.0 - val["pixel_accuracy"], 4),
            }
        )
    for r in runs:
        if r["predicted_steps"] and r["steps"]:
            r["predicted_over_made"] = round(r["predicted_steps"] / r["steps"], 2)
    step_s = {
        int(b): float(t)
        for b, t in re.findall(r"unet b(\d+) d\d+ \S+ x\d+ \S+\s+([\d.]+)s/step -> ", parts.get("plan", ""))
    }
    for r in runs:
        text = parts.get("fit" if r["run"] == "isbi" else f"fit_{r['run']}", "")
        r["measured_step_seconds"] = step_s.get(r["base_channels"])
        found = training_loop(text)
        if found and r["steps"] and r["train_seconds"]:
            loop, per_epoch = found
            r["loop_seconds_per_step"] = loop
            r["outside_loop_seconds_per_epoch"] = round(
                (r["train_seconds"] - r["steps"] * loop) / (r["steps"] / per_epoch), 2
            )
    gpu = parts.get("gpu", "").strip().splitlines()
    return {
        "command": result["command"],
        "budget": result["budget"],
        "gpu": gpu[-1] if gpu else None,
        "versions": (parts.get("versions", "").strip().splitlines() or [None])[-1],
        "step_exits": {k: v["exit"] for k, v in result["steps"].items()},
        # CHECKS=0 calls predict nothing: their agreement entries only name the missing files
        "mask_agreement_with_cpu": result["mask_agreement_with_cpu"]
        if "predict_cpu" in result["steps"]
        else None,
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, default=HERE / "results" / "cuda_fit")
    args = p.parse_args(argv)
    calls = {
        d.name: summarise_call(d) for d in sorted(args.results.iterdir()) if (d / "cuda_fit.json").exists()
    }
    result = {"calls": calls, "meta": {"command": harness.command_line()}}
    lines = [
        "# `unetkit fit DIR` on a GPU (benchmarks/cuda_fit.sh)",
        "",
        "ISBI 2012, train slices 00-19, validation 20-23 (the test slices are not scored). Each call is one "
        "lent GPU machine; the numbers of different calls come from different machines of the same kind.",
        "",
        "The `checks` call ran commit 8173f2e, whose planner added reading a batch (0.011 s per sample) to "
        "every step; the `width` call ran dda531a, whose planner lets the 8 loader processes read while the "
        "GPU computes (`plan.overlapped`); the `recheck` call ran e6067e3, whose planner times each width's "
        "checkpoint write and lengthens GPU epochs to keep it at most 5 % of one, with the loaders' OpenCV "
        "single-threaded and two waits for the GPU per step removed. Its `cuda_tests` step failed one test "
        "(test_plan_shows_the_void_share_and_warns_when_rare_classes_lack_steps, which assumed a CPU's "
        "speed; it now plans with --device cpu).",
        "",
        "| call | command | GPU, torch, Lightning | run | width | steps predicted | steps made "
        "| predicted / made | train s | val mIoU | val pixel error |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, call in calls.items():
        for r in call["runs"]:
            lines.append(
                f"| {name} | `{call['command']}` | {call['gpu']}; {call['versions']} | {r['run']}"
                f"{' (planned width)' if r['planned_width'] else ''} | {r['base_channels']} | "
                f"{r['predicted_steps']} | {r['steps']} | {r.get('predicted_over_made')} | "
                f"{r['train_seconds']} | {r['val_miou']} | {r['val_pixel_error']} |"
            )
    lines += ["", "Exit status of each step:", ""]
    lines += [f"- {name}: {call['step_exits']}" for name, call in calls.items()]
    lines += [
        "",
        "Predicted masks on the GPU (fp32, --amp) agreeing with the CPU's, per validation slice:",
        "",
    ]
    lines += [
        f"- {name}: {call['mask_agreement_with_cpu'] or 'not predicted (CHECKS=0)'}"
        for name, call in calls.items()
    ]
    harness.write_results(args.results, "summary", result, "\n".join(lines) + "\n")
    return result


if __name__ == "__main__":
    main()
