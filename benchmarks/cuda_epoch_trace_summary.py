"""Summary of the GPU epoch trace (benchmarks/cuda_epoch_trace.sh and the two runs after it): per run, the
steps its plan predicted (read from plan_NAME.yaml's measured row of the candidate it trained, as
`unetkit fit --plan` reads it), the steps made, and the seconds between epochs
(benchmarks/trace_fit_time.py's categories). Writes FOLDER/summary.json.

    .venv/bin/python benchmarks/cuda_epoch_trace_summary.py benchmarks/results/cuda_fit/epoch_trace
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from unetkit.planning.shortfall import plan_file_prediction as plan_prediction

RUNS = ("default", "noelastic", "repeat148", "after_fix")
TRAIN_IMAGES = 20  # ISBI slices 00-19 (--split train=0:20)


def main(folder: Path) -> int:
    runs = {}
    for name in RUNS:
        trace = json.loads((folder / f"trace_{name}.json").read_text())
        text = (folder / f"plan_{name}.yaml").read_text()
        config = yaml.safe_load(text)
        data = config["data"]
        predicted = plan_prediction(text, config)
        made = trace["counts"]["step"]
        epochs = trace["counts"].get("epoch_end", 0)
        runs[name] = {
            "command": trace["command"],
            "steps": made,
            "predicted_steps": predicted[0] if predicted else None,
            "predicted_over_made": round(predicted[0] / made, 2) if predicted else None,
            "steps_per_epoch": TRAIN_IMAGES
            * data["repeat"]
            // data["batch_size"],  # as the loader drops the rest
            "epochs": epochs,
            "epoch_start_seconds": trace["seconds"].get("epoch_start", 0.0),
            "epoch_start_seconds_each": round(trace["seconds"].get("epoch_start", 0.0) / max(epochs, 1), 3),
            "data_wait_seconds": trace["seconds"].get("data_wait", 0.0),
            "step_seconds": trace["seconds"]["step"],
            "step_median_seconds": trace["step_median_seconds"],
            "wall_seconds": trace["wall_seconds"],
        }
    summary = {
        "command": f"python benchmarks/cuda_epoch_trace_summary.py {folder}",
        "device": (folder / "gpu.txt").read_text().splitlines(),
        "runs": runs,
    }
    metrics = folder / "metrics_val.json"
    if metrics.is_file():  # the after_fix run's validation scores
        summary["after_fix_val_miou"] = round(json.loads(metrics.read_text())["miou"], 4)
    (folder / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
