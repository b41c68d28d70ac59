"""Score ISBI sweep runs: for the saved (best) model and for ``last.ckpt`` each, with 8-fold TTA, the test
scores (pixel error, Rand error, mIoU: :func:`unetkit.metrics.scoring.score_predictions`) and the pixel
error on val and test at cell-probability thresholds 0.30..0.70.

Every number of an entry is measured on that entry's own checkpoint: the run's ``metrics_test.json`` (written
by ``fit`` for the one checkpoint it exported) is kept beside them as ``run_metrics_test``, labelled with
the checkpoint it belongs to, and never copied into the other entry. (Rounds 2-4 of the committed sweep were
written by an earlier form that stored one ``metrics_test`` under both ``NAME`` and ``NAME@last``; those
copies are marked ``not measured`` in the JSON.)

The thresholds answer one question: does a threshold picked on the validation slices (20-23) also lower the
test error (24-29)? In the sweep it did not reliably (docs/benchmarks.md), so unetkit keeps argmax (0.5).

    python benchmarks/isbi_sweep_eval.py RUNS_DIR ../shared/data/isbi2012 OUT.json [--shared-machine NOTE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info

from unetkit.files import atomic_write_text
from unetkit.inference.predictor import Predictor
from unetkit.metrics.scoring import score_predictions

SPLITS = {"val": range(20, 24), "test": range(24, 30)}  # the dataset README's contiguous split
THRESHOLDS = np.round(np.arange(0.30, 0.71, 0.05), 2)


def evaluate_split(predictor: Predictor, data: Path, indices: range) -> tuple[list[float], dict[str, float]]:
    """Pixel error at each of THRESHOLDS (cell = probability of class 1 above it), pooled over the slices,
    and the argmax scores of the slices (pixel error, Rand error, mIoU, mean Dice)."""
    wrong, total = np.zeros(len(THRESHOLDS)), 0
    pairs = []
    for i in indices:
        image = np.array(Image.open(data / "images" / f"{i:02d}.png"))
        cell = np.array(Image.open(data / "masks" / f"{i:02d}.png")) > 127
        prob = predictor.predict_probs(image)[1]
        wrong += [((prob > t) != cell).sum() for t in THRESHOLDS]
        total += cell.size
        pairs.append(((prob > 0.5).astype(np.int64), cell.astype(np.int64)))
    scores = score_predictions(pairs, 2, isbi=True)
    keep = ("pixel_error", "rand_error", "miou", "mean_dice", "pixel_accuracy")
    return (wrong / total).round(5).tolist(), {k: round(float(scores[k]), 5) for k in keep}


def evaluate_run(run: Path, data: Path, device: str) -> dict[str, Any]:
    """The ``best`` and ``last`` entries of one run folder (see the module docstring)."""
    entry: dict[str, Any] = {"thresholds": THRESHOLDS.tolist()}
    metrics = run / "metrics_test.json"
    if metrics.is_file():
        exported = "best"
        config = run / "config.yaml"
        if config.is_file():
            import yaml

            cfg = yaml.safe_load(config.read_text()) or {}
            exported = str((cfg.get("evaluate") or {}).get("checkpoint", "best"))
        entry["run_metrics_test"] = {"checkpoint": exported, **json.loads(metrics.read_text())}
    for label, source in (("best", run / "model"), ("last", run / "checkpoints" / "last.ckpt")):
        predictor = Predictor.from_path(source, device=device, tta=True)
        errors, scores = {}, {}
        for split, idx in SPLITS.items():
            errors[split], scores[split] = evaluate_split(predictor, data, idx)
        pick = int(np.argmin(errors["val"]))
        entry[label] = {
            **errors,
            "test_scores": scores["test"],
            "test_at_0.5": errors["test"][list(THRESHOLDS).index(0.5)],
            "val_threshold": float(THRESHOLDS[pick]),
            "test_at_val_threshold": errors["test"][pick],
        }
    return entry


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", type=Path, help="folder of sweep run folders")
    p.add_argument("data", type=Path, help="the isbi2012 data folder (images/, masks/)")
    p.add_argument("out", type=Path, help="output JSON")
    p.add_argument("--shared-machine", default=None, help="note on the machine's load, recorded")
    args = p.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    results: dict[str, Any] = {
        "meta": {
            "command": harness.command_line(),
            "machine_info": harness.machine_info(args.shared_machine, device=device),
        }
    }
    for run in sorted(p for p in args.runs.iterdir() if (p / "model").is_dir()):
        entry = results[run.name] = evaluate_run(run, args.data, device)
        print(run.name, {k: entry[k]["test_at_0.5"] for k in ("best", "last")}, flush=True)
        atomic_write_text(args.out, json.dumps(results, indent=1) + "\n")  # partial results survive a crash
    atomic_write_text(args.out, json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
