"""Per-image intensity windows against the dataset's one scale, on DSB2018 nuclei, scored on validation.

DSB2018's fluorescence images differ in exposure: the 99.8th percentile of an image's values ranges from
about 35 to 255 over the training images, so a dim image's nuclei are darker than a bright image's
background. csbdeep/StarDist map each image by its own 1-99.8 percentiles (``normalize``); unetkit maps
every image the same way (8-bit: as stored; deeper: the plan's one window), then z-scores with the
training set's mean/std. This benchmark asks whether the per-image window (``data.options.intensity_window=
{percentiles: [1, 99.8]}``, kept in the model so predict and serve read images the same way) helps.

One plan (``unetkit plan DIR --time BUDGET --threads 1``), two runs of it side by side, each pinned to its
own core, with the same number of epochs (``trainer.max_time_minutes=null``, ``trainer.max_epochs=E``,
``schedule.by=epoch``: equal optimizer steps, so other load on the machine cannot favour one arm):
``dataset`` (the plan as made) and ``per_image`` (the per-image window; mean/std recomputed on its scale).
Both keep the last weights and are scored on the validation split; the test split is not scored.

    .venv/bin/python benchmarks/per_image_window.py [--epochs 20] [--data ../shared/data/dsb2018]
        [--runs runs/per_image_window] [--out benchmarks/results/per_image_window]

Writes ``OUT/per_image_window.json`` + ``.md``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info, plan and side-by-side runs, writing results
from deep_images import plan_brief, window_arms

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def arms(epochs: int) -> dict[str, tuple[list[str], str]]:
    """Per arm: its overrides of the plan and the core it is pinned to."""
    same = [
        "trainer.max_time_minutes=null",
        f"trainer.max_epochs={epochs}",
        "schedule.by=epoch",
        "evaluate.checkpoint=last",
    ]
    return {
        "dataset": (same, "0"),
        "per_image": (
            [
                *same,
                "data.options.intensity_window={percentiles: [1.0, 99.8]}",
                "data.options.mean=null",  # the plan's mean/std are on the stored scale: recompute them
                "data.options.std=null",
            ],
            "1",
        ),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=20, help="epochs of each run (default 20)")
    p.add_argument("--time", default="8m", help="the budget the plan is made for (default 8m)")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "dsb2018")
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "per_image_window")
    p.add_argument("--out", type=Path, default=HERE / "results" / "per_image_window")
    args = p.parse_args(argv)
    if not (args.data / "train.txt").is_file():
        raise SystemExit(f"{args.data} has no train.txt: pass --data with DSB2018 (../shared/data/dsb2018)")
    info = harness.side_by_side_info()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    args.runs.mkdir(parents=True, exist_ok=True)
    plan_file = args.runs / f"plan-{stamp}.yaml"
    plan, plan_cmd = harness.plan_pinned(args.data, args.time, plan_file)
    runs = harness.fit_arms_side_by_side(args.data, plan_file, arms(args.epochs), args.runs, stamp)
    results = window_arms(runs)
    gain = round(results["per_image"]["val"]["dice"] - results["dataset"]["val"]["dice"], 4)
    result = {
        "machine_info": info,
        "cpu_flags": info["cpu_flags"],
        "epochs": args.epochs,
        "plan_command": shlex.join(plan_cmd),
        "plan": {k: plan[k] for k in ("model", "data", "class_weights", "trainer", "evaluate") if k in plan},
        "arms": results,
        "val_dice_per_image_minus_dataset": gain,
        "meta": {"command": harness.command_line()},
    }
    lines = [
        "# Per-image intensity windows against the dataset's one scale (DSB2018, validation)",
        "",
        f"Written by `{harness.command_line()}`. Machine: {info['cpu_model']}, torch {info['torch']}, "
        f"CPU flags {' '.join(info['cpu_flags'])}. One plan (`{result['plan_command']}`: "
        f"{plan_brief(plan)}), two runs of it side by side, {args.epochs} epochs each on one core, the last "
        "weights kept, scored on the validation split; only the intensity window (and the mean/std measured "
        "after it) differs.",
        "",
        "| arm | intensity window | steps | train s | val Dice (nuclei) | val mIoU |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for arm, a in results.items():
        lines.append(
            f"| {arm} | {a['intensity_window']} | {a['optimizer_steps']} | {a['train_seconds']} | "
            f"{a['val']['dice']:.4f} | {a['val']['miou']:.4f} |"
        )
    lines += ["", f"Dice, per-image - dataset: {gain:+.4f}.", ""]
    harness.write_results(args.out, "per_image_window", result, "\n".join(lines))
    return result


if __name__ == "__main__":
    main()
