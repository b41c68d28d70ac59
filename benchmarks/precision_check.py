"""Issue 12's precision evidence: does bf16 autocast cost validation accuracy at an equal time budget?

One plan per dataset (``unetkit plan DIR --time BUDGET --threads 1``, fp32), then two runs of that same plan
side by side, each pinned to its own core (``taskset -c 0`` fp32, ``taskset -c 1`` bf16-mixed), so both see
the same machine at the same time. Only the precision differs: the same width, crop, batch, schedule paced
by the same budget. Each run is scored on its **validation** split (``evaluate.split=val``); the test split is
not read. The plan rule (``unetkit.planning.plan``) uses bf16 only where this file shows it no worse.

    .venv/bin/python benchmarks/precision_check.py isbi2012 camvid [--time 8m] [--data ../shared/data]
        [--runs runs/precision] [--out benchmarks/results/precision]

Writes ``OUT/precision.json`` + ``.md`` (one row per dataset, with the CPU flags).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info, writing results
from autoconfig import DATASETS
from harness import summarise

HERE = Path(__file__).resolve().parent
ARMS = {"fp32": ("32-true", "0"), "bf16": ("bf16-mixed", "1")}  # precision, the core it is pinned to
LOWER_IS_BETTER = {"pixel_error"}


def run_dataset(name: str, args: argparse.Namespace) -> dict[str, Any]:
    spec = DATASETS[name]
    folder = args.data / name
    exe = str(Path(sys.executable).with_name("unetkit"))
    # --reuse NAME=STAMP: collect the runs of an earlier call (their folders are kept under --runs).
    stamp = args.reuse.get(name) or time.strftime("%Y%m%d-%H%M%S")
    plan_file = args.runs / f"{name}-{stamp}-plan.yaml"
    args.runs.mkdir(parents=True, exist_ok=True)
    plan_cmd = ["unetkit", "plan", str(folder), "--time", args.time, "--threads", "1", *spec["args"]]
    plan_cmd += ["--out", str(plan_file)]
    if name not in args.reuse:
        subprocess.run(["taskset", "-c", "0", exe, *plan_cmd[1:]], check=True, stdout=subprocess.DEVNULL)
    procs: dict[str, tuple[subprocess.Popen | None, list[str], Path]] = {}
    for arm, (precision, core) in ARMS.items():
        run_name = f"{name}-{stamp}-{arm}"
        # the plan file holds the discovery options (void, classes): fit takes it alone
        cmd = ["unetkit", "fit", str(folder), "--plan", str(plan_file)]
        cmd += [f"trainer.precision={precision}", "evaluate.split=val"]
        cmd += [f"output.root={args.runs}", f"output.name={run_name}"]
        proc = None
        if name not in args.reuse:
            log = (args.runs / f"{run_name}.log").open("w")
            proc = subprocess.Popen(
                ["taskset", "-c", core, exe, *cmd[1:]], stdout=log, stderr=subprocess.STDOUT
            )
        procs[arm] = (proc, cmd, args.runs / run_name)
    arms: dict[str, Any] = {}
    for arm, (proc, cmd, run_dir) in procs.items():
        if proc is not None and proc.wait() != 0:
            raise SystemExit(f"{shlex.join(cmd)} failed ({proc.returncode}); see {run_dir}.log")
        metrics = json.loads((run_dir / "metrics_val.json").read_text())
        classes = yaml.safe_load((run_dir / "config.yaml").read_text())["data"]["options"]["class_names"]
        train = json.loads((run_dir / "train.json").read_text())
        arms[arm] = {
            "command": f"taskset -c {ARMS[arm][1]} " + shlex.join(cmd),
            "precision": ARMS[arm][0],
            "core": int(ARMS[arm][1]),
            "train_seconds": round(train["train_seconds"], 1),
            "optimizer_steps": harness.last_step(next(run_dir.glob("logs/**/metrics.csv"))),
            "val": summarise(metrics, list(classes)),
        }
    key = spec["headline"]
    fp32, bf16 = arms["fp32"]["val"][key], arms["bf16"]["val"][key]
    no_worse = bf16 <= fp32 if key in LOWER_IS_BETTER else bf16 >= fp32
    return {
        "dataset": name,
        "budget": args.time,
        "plan_command": "taskset -c 0 " + shlex.join(plan_cmd),
        "plan_file": str(plan_file),
        "headline": key,
        "arms": arms,
        "bf16_no_worse_on_val": no_worse,
        "step_ratio_bf16_over_fp32": round(
            arms["bf16"]["optimizer_steps"] / max(arms["fp32"]["optimizer_steps"], 1), 2
        ),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("datasets", nargs="+", choices=sorted(DATASETS))
    p.add_argument("--time", default="8m", help="the budget of every run (default 8m)")
    p.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    p.add_argument("--runs", type=Path, default=HERE.parent / "runs" / "precision")
    p.add_argument("--out", type=Path, default=HERE / "results" / "precision")
    p.add_argument(
        "--reuse", action="append", default=[], metavar="DATASET=STAMP",
        help="collect an earlier call's runs of DATASET (their name stamp) instead of training again",
    )  # fmt: skip
    args = p.parse_args(argv)
    args.reuse = dict(r.split("=", 1) for r in args.reuse)
    info = harness.side_by_side_info()
    rows = [run_dataset(name, args) for name in args.datasets]
    result = {"machine_info": info, "cpu_flags": info["cpu_flags"], "results": rows,
              "meta": {"command": harness.command_line()}}  # fmt: skip
    lines = [
        "# bf16 autocast against fp32 at an equal time budget, scored on validation (issue 12)",
        "",
        f"Written by `{harness.command_line()}`. Machine: {info['cpu_model']}, torch {info['torch']}, "
        f"CPU flags {' '.join(info['cpu_flags'])}. Each pair: one plan, two runs side by side (fp32 on core "
        "0, bf16 on core 1, 1 thread each); only `trainer.precision` differs. The test split is not read.",
        "",
        "| dataset | budget | metric (val) | fp32 | bf16 | steps fp32 | steps bf16 | bf16 no worse |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        a, b = r["arms"]["fp32"], r["arms"]["bf16"]
        k, same = r["headline"], "yes" if r["bf16_no_worse_on_val"] else "no"
        lines.append(
            f"| {r['dataset']} | {r['budget']} | {k} | {a['val'][k]:.4f} | {b['val'][k]:.4f} | "
            f"{a['optimizer_steps']} | {b['optimizer_steps']} | {same} |"
        )
    lines.append("")
    harness.write_results(args.out, "precision", result, "\n".join(lines))
    return result


if __name__ == "__main__":
    main()
