"""Summary of a GPU session check (benchmarks/cuda_session_check.sh): the step count its 1-minute fit's plan
predicted (read from plan.yaml's measured row of the candidate it trained, as `unetkit fit --plan` reads it),
the steps it made, and the tests' line. Writes FOLDER/summary.json.

    .venv/bin/python benchmarks/cuda_session_summary.py benchmarks/results/cuda_fit/session_check
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

from unetkit.planning.shortfall import plan_file_prediction as plan_prediction


def main(folder: Path) -> int:
    text = (folder / "plan.yaml").read_text()
    predicted = plan_prediction(text, yaml.safe_load(text))
    train = json.loads((folder / "train.json").read_text())
    metrics = json.loads((folder / "metrics_val.json").read_text())
    tests = re.findall(r"^(\d+) passed.*$", (folder / "gpu_tests.log").read_text(), re.M)
    made = int(train["budget_stop_step"])
    summary = {
        "command": f"python benchmarks/cuda_session_summary.py {folder}",
        "device": (folder / "gpu.txt").read_text().splitlines(),
        "tests_passed": int(tests[-1]) if tests else None,
        "fit": {
            "command": train["command"],
            "budget_seconds": train["budget_seconds"],
            "train_seconds": train["train_seconds"],
            "predicted_steps": predicted[0] if predicted else None,
            "predicted_step_seconds": predicted[1] if predicted else None,
            "steps": made,
            "predicted_over_made": round(predicted[0] / made, 2) if predicted else None,
            "made_step_seconds": round(train["train_seconds"] / made, 4),
            "val_miou": round(metrics["miou"], 4),
        },
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
