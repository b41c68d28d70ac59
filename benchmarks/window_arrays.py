"""How well ``predict`` tells a stored uint8 image array from the output of a model's per-image window.

A model with a per-image intensity window (a DSB 2018 plan's) maps each file by its own percentiles; an array
given to ``Predictor.predict`` is either stored pixels (read with PIL or skimage: to be mapped) or the
window's output (``read_image``'s: to be taken as it is), and nothing says which. The rule
(``inference.pipeline.window_output_like``) is checked here on DSB 2018's train and val images only (the test
split is never read): each image as stored, and each image's window output, against the current rule and
the earlier zeros-only rule (under half the window's ~1 % zeros in a channel).

    .venv/bin/python benchmarks/window_arrays.py [--data ../shared/data/dsb2018] [--min-span 24]
        [--out benchmarks/results/window_arrays]

``--min-span``: the window's narrowest span in stored levels; 24 is what ``unetkit plan`` chooses on
DSB 2018's train+val images (the narrowest training image's span).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info, writing results

from unetkit.data.io import apply_window, per_image_window, read_raw_image, window_percentiles
from unetkit.inference.pipeline import UNMAPPED_SHARE, window_output_like


def zeros_only_rule(image: np.ndarray, window: dict[str, Any]) -> bool:
    """The rule before: window output when every channel holds at least half the window's zeros."""
    low, _ = window_percentiles(window)
    zero_share = (image.reshape(-1, image.shape[2]) == 0).mean(axis=0)
    return bool(zero_share.min() >= UNMAPPED_SHARE * low / 100)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = Path(__file__).resolve().parent.parent
    p.add_argument("--data", type=Path, default=root.parent / "shared" / "data" / "dsb2018")
    p.add_argument("--min-span", type=float, default=24.0)
    p.add_argument("--out", type=Path, default=root / "benchmarks" / "results" / "window_arrays")
    args = p.parse_args(argv)
    window = per_image_window(min_span=args.min_span)
    ids = [i for split in ("train", "val") for i in (args.data / f"{split}.txt").read_text().split()]
    rules = {"current": window_output_like, "zeros_only": zeros_only_rule}
    wrong: dict[str, dict[str, list[str]]] = {
        name: {"stored_taken_as_output": [], "output_taken_as_stored": []} for name in rules
    }
    for name in ids:
        stored = read_raw_image(args.data / "images" / f"{name}.png")[..., :3]  # RGBA, opaque: RGB
        output = apply_window(stored, window)
        for rule, test in rules.items():
            if test(stored, window):
                wrong[rule]["stored_taken_as_output"].append(name)
            if not test(output, window):
                wrong[rule]["output_taken_as_stored"].append(name)
    counts = {rule: {k: len(v) for k, v in w.items()} for rule, w in wrong.items()}
    command = harness.command_line()
    result: dict[str, Any] = {
        "meta": {"command": command, "machine_info": harness.machine_info("")},
        "images": len(ids),
        "splits": ["train", "val"],
        "window": window,
        "wrong": counts,
        "wrong_ids": wrong,
    }
    rows = "\n".join(
        f"| {rule} | {c['stored_taken_as_output']} | {c['output_taken_as_stored']} |"
        for rule, c in counts.items()
    )
    markdown = (
        f"# Stored uint8 arrays vs per-image window output (DSB 2018 train+val, {len(ids)} images)\n\n"
        f"`{command}`\n\nwindow: `{window}`\n\n"
        f"| rule | stored taken as window output | window output taken as stored |\n|---|---:|---:|\n{rows}\n"
    )
    harness.write_results(args.out, "window_arrays", result, markdown)
    return result


if __name__ == "__main__":
    main()
