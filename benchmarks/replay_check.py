"""A time-budgeted ``unetkit fit DIR --time T`` and its ``unetkit fit --replay RUN``, on real data.

The product's main path is time-budgeted, so its steps and learning rates depend on the wall clock; a replay
retrains the run from the clock it recorded. This check runs both on each dataset and compares what a user
can compare: the SHA-256 of ``RUN/model/model.safetensors``, the final validation scores
(``metrics_val.json``), the optimizer steps and the step the budget stopped at. The runs score the
validation split (``evaluate.split=val``): no test split is looked at. The run folders go to a temporary
folder and are not kept.

    .venv/bin/python benchmarks/replay_check.py [--data ../shared/data] [--budget 1.5m]
        [--datasets isbi2012,dsb2018] [--out benchmarks/results/replay] [--shared-machine NOTE]
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info, writing results

from unetkit.inference.variants import file_sha256

HERE = Path(__file__).resolve().parent


def run(cmd: list[str], log: Path) -> float:
    """Run ``cmd`` (its output to ``log``); the wall seconds. A failure stops the check, naming the log."""
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(cmd)} failed (exit {done.returncode}); see {log}")
    return round(time.perf_counter() - started, 1)


def check(data: Path, budget: str, tmp: Path) -> dict[str, Any]:
    """Fit ``data`` within ``budget``, replay it, and compare the two run folders."""
    exe = str(Path(sys.executable).with_name("unetkit"))
    name = data.name
    fit_cmd = [exe, "fit", str(data), "--time", budget, "evaluate.split=val", f"output.root={tmp}",
               f"output.name={name}"]  # fmt: skip
    replay_cmd = [exe, "fit", "--replay", str(tmp / name)]
    walls = [run(fit_cmd, tmp / f"{name}.log"), run(replay_cmd, tmp / f"{name}-replay.log")]
    runs = [tmp / name, tmp / f"{name}-replay"]
    trains = [json.loads((r / "train.json").read_text()) for r in runs]
    metrics = [json.loads((r / "metrics_val.json").read_text()) for r in runs]
    hashes = [file_sha256(r / "model" / "model.safetensors") for r in runs]
    return {
        "commands": [shlex.join(["unetkit", *fit_cmd[1:]]), shlex.join(["unetkit", *replay_cmd[1:]])],
        "budget": budget,
        "budget_stop_step": [t.get("budget_stop_step") for t in trains],
        "train_seconds": [round(float(t.get("train_seconds", 0.0)), 1) for t in trains],
        "wall_seconds": walls,
        "model_sha256": hashes,
        "model_identical": hashes[0] == hashes[1],
        "val_metrics_identical": metrics[0] == metrics[1],
        "val_miou": [m.get("miou") for m in metrics],
    }


def markdown(results: dict[str, Any], info: dict[str, Any], command: str) -> str:
    lines = [
        "# A time-budgeted fit and its replay (benchmarks/replay_check.py)",
        "",
        f"`{command}` on {info['cpu_model']} ({info['cpu_count']} CPUs, torch {info['torch']}, "
        f"{info['date_utc']}). Validation split scored; no test split looked at.",
        "",
        "| dataset | budget | steps (run, replay) | train s (run, replay) | model SHA-256 identical | "
        "val metrics identical |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        steps = ", ".join(str(s) for s in r["budget_stop_step"])
        secs = ", ".join(str(s) for s in r["train_seconds"])
        same = f"{r['model_identical']} | {r['val_metrics_identical']}"
        lines.append(f"| {name} | {r['budget']} | {steps} | {secs} | {same} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    p.add_argument("--budget", default="1.5m")
    p.add_argument("--datasets", default="isbi2012,dsb2018")
    p.add_argument("--out", type=Path, default=HERE / "results" / "replay")
    p.add_argument("--shared-machine", default=None, help="a note on other work running meanwhile")
    args = p.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="unetkit-replay-") as tmp:
        for name in args.datasets.split(","):
            data = args.data / name
            if not data.is_dir():
                raise SystemExit(f"{data} does not exist; pass --data with the shared data folder")
            results[name] = check(data, args.budget, Path(tmp))
    info = harness.machine_info(args.shared_machine, mm_size=0)
    command = harness.command_line()
    payload = {"command": command, "machine": info, "results": results}
    harness.write_results(args.out, "replay", payload, markdown(results, info, command))
    print(markdown(results, info, command))
    return 0 if all(r["model_identical"] and r["val_metrics_identical"] for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
