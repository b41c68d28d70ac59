"""Score ISBI sweep runs: test pixel error of the saved (best) model and of ``last.ckpt``, both with
8-fold TTA, and the pixel error on val and test at cell-probability thresholds 0.30..0.70.

The thresholds answer one question: does a threshold picked on the validation slices (20-23) also lower the
test error (24-29)? In the sweep it did not reliably (docs/benchmarks.md), so unetkit keeps argmax (0.5).

    python benchmarks/isbi_sweep_eval.py RUNS_DIR ../shared/data/isbi2012 OUT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from unetkit.inference.predictor import Predictor

SPLITS = {"val": range(20, 24), "test": range(24, 30)}  # the dataset README's contiguous split
THRESHOLDS = np.round(np.arange(0.30, 0.71, 0.05), 2)


def pixel_errors(predictor: Predictor, data: Path, indices: range) -> list[float]:
    """Pixel error at each of THRESHOLDS (cell = probability of class 1 above it), pooled over the slices."""
    wrong, total = np.zeros(len(THRESHOLDS)), 0
    for i in indices:
        image = np.array(Image.open(data / "images" / f"{i:02d}.png"))
        cell = np.array(Image.open(data / "masks" / f"{i:02d}.png")) > 127
        prob = predictor.predict_probs(image)[1]
        wrong += [((prob > t) != cell).sum() for t in THRESHOLDS]
        total += cell.size
    return (wrong / total).round(5).tolist()


def main(runs: Path, data: Path, out: Path) -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    results = {}
    for run in sorted(p for p in runs.iterdir() if (p / "model").is_dir()):
        metrics = run / "metrics_test.json"
        entry = {"metrics_test": json.loads(metrics.read_text()) if metrics.is_file() else {}}
        for label, source in (("best", run / "model"), ("last", run / "checkpoints" / "last.ckpt")):
            predictor = Predictor.from_path(source, device=device, tta=True)
            errors = {split: pixel_errors(predictor, data, idx) for split, idx in SPLITS.items()}
            pick = int(np.argmin(errors["val"]))
            entry[label] = {
                **errors,
                "test_at_0.5": errors["test"][list(THRESHOLDS).index(0.5)],
                "val_threshold": float(THRESHOLDS[pick]),
                "test_at_val_threshold": errors["test"][pick],
            }
        results[run.name] = {"thresholds": THRESHOLDS.tolist(), **entry}
        print(run.name, {k: entry[k]["test_at_0.5"] for k in ("best", "last")}, flush=True)
    out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
