"""Issue 12's bar: ``unetkit plan DIR`` finishes within 60 s on each of the three real datasets.

Runs ``unetkit plan`` (a fresh process: imports included) on ISBI 2012, CamVid and DSB 2018 with the budgets
of the bar, keeps each plan (``OUT/<dataset>.yaml``) and its console output (``OUT/<dataset>.log``: discovery,
fingerprint, the measured candidates, every reason) and writes the wall times, the planner's own phase times
and the chosen values to ``OUT/plan_times.json`` + ``.md``. The discovery JSON (mostly file lists) goes to a
temporary folder and is not kept.

    .venv/bin/python benchmarks/plan_times.py [--data ../shared/data]
        [--out benchmarks/results/autoconfig/plans] [--shared-machine NOTE]
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info, writing results
from autoconfig import DATASETS  # one home for each dataset's budget and options

from unetkit.files import atomic_write_text

HERE = Path(__file__).resolve().parent
LIMIT_S = 60.0  # the bar


def phase_seconds(plan_text: str) -> dict[str, float]:
    """The planner's own timings from the plan file's header (``# seconds: discover 0.06, ...``)."""
    found = re.search(r"^# seconds: (.*)$", plan_text, flags=re.M)
    if not found:
        return {}
    return {name.strip(): float(value) for name, value in re.findall(r"([a-z ]+?) ([\d.]+)", found.group(1))}


def chosen(plan: dict[str, Any]) -> dict[str, Any]:
    """The values a reader compares across datasets."""
    data, trainer = plan["data"], plan["trainer"]
    return {
        "crop_size": data.get("crop_size"),
        "batch_size": data.get("batch_size"),
        "base_channels": plan["model"]["kwargs"].get("base_channels"),
        "depth": plan["model"]["kwargs"].get("depth"),
        "precision": trainer.get("precision"),
        "num_threads": trainer.get("num_threads"),
        "class_weights": plan.get("class_weights") is not None,
        "tta": plan.get("evaluate", {}).get("tta"),
        "checkpoint": plan.get("evaluate", {}).get("checkpoint"),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    p.add_argument("--out", type=Path, default=HERE / "results" / "autoconfig" / "plans")
    p.add_argument("--shared-machine", default=None, help="note on the machine's load, recorded")
    args = p.parse_args(argv)
    info = harness.machine_info(args.shared_machine)  # before the plans: its mm probe must not overlap them
    args.out.mkdir(parents=True, exist_ok=True)
    exe = str(Path(sys.executable).with_name("unetkit"))
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, spec in DATASETS.items():
            out_yaml = args.out / f"{name}.yaml"
            cmd = [
                "unetkit", "plan", str(args.data / name), "--time", spec["time"], *spec["args"],
                "--out", str(out_yaml), "--dataset-out", str(Path(scratch) / f"{name}.dataset.json"),
            ]  # fmt: skip
            start = time.perf_counter()
            proc = subprocess.run(
                [exe, *cmd[1:]], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            wall = time.perf_counter() - start
            atomic_write_text(args.out / f"{name}.log", proc.stdout)
            if proc.returncode != 0:
                raise SystemExit(f"{shlex.join(cmd)} failed ({proc.returncode}); see {args.out / name}.log")
            text = out_yaml.read_text()
            rows.append(
                {
                    "dataset": name,
                    "command": shlex.join(cmd),
                    "wall_seconds": round(wall, 1),
                    "within_limit": wall <= LIMIT_S,
                    "phases_seconds": phase_seconds(text),
                    "chosen": chosen(yaml.safe_load(text)),
                }
            )
    result = {"limit_seconds": LIMIT_S, "rows": rows, "cpu_flags": info["cpu_flags"], "machine_info": info}
    result["meta"] = {"command": harness.command_line()}
    lines = [
        "# `unetkit plan` wall time on the three real datasets (issue 12: within 60 s each)",
        "",
        f"Written by `{harness.command_line()}`. Machine: {info['cpu_model']}, "
        f"{info['affinity_cores']} of {info['cpu_count']} cores, torch {info['torch']}, "
        f"load: {info['shared_machine'] or 'not stated'}. Wall time of a fresh `unetkit plan` process "
        "(imports included); phases from each plan file's header.",
        "",
        "| dataset | wall s | within 60 s | phases (s) | crop x batch | width | precision, threads |",
        "|---|---:|---|---|---|---|---|",
    ]
    for r in rows:
        c = r["chosen"]
        phases = ", ".join(f"{k} {v:g}" for k, v in r["phases_seconds"].items())
        lines.append(
            f"| {r['dataset']} | {r['wall_seconds']:.1f} | {'yes' if r['within_limit'] else 'NO'} | {phases} "
            f"| {c['crop_size']} x {c['batch_size']} | base {c['base_channels']}, depth {c['depth']} "
            f"| {c['precision']}, {c['num_threads']} |"
        )
    harness.write_results(args.out, "plan_times", result, "\n".join(lines))
    return result


if __name__ == "__main__":
    main()
