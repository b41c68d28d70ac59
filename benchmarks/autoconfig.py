"""Issue 12's bar: ``unetkit fit DIR --time BUDGET`` on a real dataset, given only the folder and its split.

Runs the one command (no preset, model, crop, width, loss or epoch option: only the folder, the split the
dataset's README names, the void value and class names where the folder has no ``classes.json``), then
keeps what the bar asks for in ``OUT/<dataset>.json`` + ``.md``: the command, the plan the run trained
(``plan.yaml`` of the run folder), the budget, the training seconds, the machine (CPU flags included) and
the test scores (scored once, at the end of the run, on the split's test part). The console output is kept
as ``OUT/<dataset>.log``.

    .venv/bin/python benchmarks/autoconfig.py isbi2012 [--data ../shared/data] [--runs runs/autoconfig]
        [--out benchmarks/results/autoconfig] [--shared-machine NOTE] [--time 19m]
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info, writing results
from harness import summarise  # the bar's view of a metrics file (benchmarks import it from here too)

from unetkit.files import atomic_write_text

HERE = Path(__file__).resolve().parent
# Per dataset: the budget of the bar, the options the folder needs (its README's split, its void
# value, class names where the folder has none) and the headline metric.
DATASETS: dict[str, dict[str, Any]] = {
    "isbi2012": {"time": "19m", "args": [], "headline": "pixel_error", "bar": "pixel_error <= 0.072"},
    "camvid": {
        "time": "28m",
        "args": ["--void", "11", "--classes", str(HERE.parent / "configs" / "camvid_classes.json")],
        "headline": "miou",
        "bar": "miou >= 0.45 and >= 3 of pole, sign, fence, pedestrian, bicyclist IoU > 0.10",
    },
    "dsb2018": {"time": "30m", "args": [], "headline": "dice", "bar": "none (reports its Dice)"},
}
RARE_CAMVID = ("pole", "sign", "fence", "pedestrian", "bicyclist")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", choices=sorted(DATASETS))
    p.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    p.add_argument("--runs", type=Path, default=HERE.parent / "runs" / "autoconfig")
    p.add_argument("--out", type=Path, default=HERE / "results" / "autoconfig")
    p.add_argument("--time", default=None, help="budget (default: the issue's bar for the dataset)")
    p.add_argument("--shared-machine", default=None, help="note on the machine's load, recorded")
    p.add_argument(
        "--summarise", type=Path, metavar="RUN_DIR",
        help="do not train: summarise RUN_DIR, an earlier run of this script (its OUT/<dataset>.log is read)",
    )  # fmt: skip
    args = p.parse_args(argv)
    spec = DATASETS[args.dataset]
    budget = args.time or spec["time"]
    trained_by = None
    if args.summarise is not None:  # the machine of the earlier run, as recorded then
        earlier = json.loads((args.out / f"{args.dataset}.json").read_text())
        info = earlier["machine_info"]
        trained_by = earlier["meta"].get("trained_by", earlier["meta"]["command"])
        args.runs, name = args.summarise.parent, args.summarise.name
    else:
        info = harness.machine_info(args.shared_machine)  # before the run: its mm probe must not overlap it
        name = f"{args.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder = args.data / args.dataset
    cmd = [
        "unetkit",
        "fit",
        str(folder),
        "--time",
        budget,
        *spec["args"],
        f"output.root={args.runs}",
        f"output.name={name}",
    ]
    exe = [str(Path(sys.executable).with_name("unetkit")), *cmd[1:]]
    if args.summarise is not None:
        stdout = (args.out / f"{args.dataset}.log").read_text()
        wall = json.loads((args.out / f"{args.dataset}.json").read_text())["wall_seconds"]
    else:
        start = time.perf_counter()
        proc = subprocess.run(exe, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wall = time.perf_counter() - start
        stdout = proc.stdout
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out / f"{args.dataset}.log", stdout)
        if proc.returncode != 0:
            log = args.out / f"{args.dataset}.log"
            raise SystemExit(f"{shlex.join(exe)} failed ({proc.returncode}); see {log}")
    run_dir = args.runs / name
    found = re.search(r"training took (\d+) s", stdout)
    plan = yaml.safe_load((run_dir / "plan.yaml").read_text())
    metrics = json.loads((run_dir / "metrics_test.json").read_text())
    run_config = yaml.safe_load((run_dir / "config.yaml").read_text())
    class_names = list(run_config["data"]["options"]["class_names"])
    test = summarise(metrics, class_names)
    result = {
        "command": shlex.join(cmd),
        "dataset": args.dataset,
        "bar": spec["bar"],
        "plan": plan,
        "budget_minutes": float(plan["trainer"]["max_time_minutes"]),
        "train_seconds": int(found.group(1)) if found else None,
        "wall_seconds": round(wall, 1),
        "cpu_flags": info["cpu_flags"],
        "machine_info": info,
        "test": test,
        "test_metrics_file": metrics,
        "meta": {"command": harness.command_line(), "trained_by": trained_by or harness.command_line()},
    }
    rows = [f"| {c} | {v:.3f} |" for c, v in test["per_class_iou"].items()]
    headline = spec["headline"]
    markdown = "\n".join(
        [
            f"# `unetkit fit` on {args.dataset} ({budget} budget)",
            "",
            f"Command: `{result['command']}` (run by `{result['meta']['trained_by']}`)",
            "",
            f"Machine: {info['cpu_model']}, {info['affinity_cores']} of {info['cpu_count']} cores usable, "
            f"torch {info['torch']}, load: {info['shared_machine'] or 'idle'}.",
            "",
            f"Training {result['train_seconds']} s, wall {wall:.0f} s (plan, training, test scoring).",
            "",
            f"**Test {headline}: {test.get(headline)}** (bar: {spec['bar']})",
            "",
            "| class | test IoU |",
            "|---|---:|",
            *rows,
            "",
        ]
    )
    harness.write_results(args.out, args.dataset, result, markdown)
    return result


if __name__ == "__main__":
    main()
