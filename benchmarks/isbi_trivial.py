"""The trivial ISBI 2012 baseline: predict "cell" (class 1) everywhere on the test slices 24-29.

It is the floor every ISBI number in the docs is compared with ("predicting cell everywhere gives ..."):
its pixel error is the membrane share of the test pixels. Scored with the one scoring function
(:func:`unetkit.metrics.scoring.score_predictions`, ISBI extras on). Takes a second.

    .venv/bin/python benchmarks/isbi_trivial.py [--data ../shared/data/isbi2012] [--out benchmarks/results]

Writes isbi_trivial.json and isbi_trivial.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info, writing results

from unetkit.metrics.scoring import score_predictions

TEST = range(24, 30)  # the dataset README's contiguous split: test slices 24-29
DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "isbi2012"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = p.parse_args(argv)
    pairs = []
    for i in TEST:
        cell = np.array(Image.open(args.data / "masks" / f"{i:02d}.png")) > 127  # binary 0/255 masks
        pairs.append((np.ones(cell.shape, np.int64), cell.astype(np.int64)))
    scores = score_predictions(pairs, 2, isbi=True)
    result = {
        "meta": {"command": harness.command_line(), "machine_info": harness.machine_info(mm_size=0)},
        "prediction": "cell (class 1) everywhere",
        "slices": list(TEST),
        "pixel_error": round(float(scores["pixel_error"]), 5),
        "rand_error": round(float(scores["rand_error"]), 5),
        "miou": round(float(scores["miou"]), 5),
    }
    md = "\n".join(
        [
            "# ISBI 2012: predicting cell everywhere",
            "",
            f"Command: `{result['meta']['command']}`",
            "",
            "| test slices | pixel error | Rand error | mIoU |",
            "|---|---:|---:|---:|",
            f"| 24-29 | {result['pixel_error']:.4f} | {result['rand_error']:.4f} | {result['miou']:.4f} |",
        ]
    )
    harness.write_results(args.out, "isbi_trivial", result, md)
    return result


if __name__ == "__main__":
    main()
