"""Large images: does keeping the decoded training images in memory (``data.cache``) buy optimizer steps?

Generated gray images of ``--size`` px (``foreground_crops.make_sparse_dataset``), one plan
(``unetkit plan DIR --time BUDGET --threads 1``), then two runs of it side by side, each pinned to its own
core, differing only in ``data.cache``: false (every crop decodes its PNG again) and true. Both are scored
on the **validation** split; the steps each run fitted in the budget are the point.

    .venv/bin/python benchmarks/data_cache.py [--time 2m] [--size 2048] [--runs runs/data_cache]
        [--out benchmarks/results/data_cache]

Writes ``OUT/data_cache.json`` + ``.md``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info, side-by-side runs, writing results
from foreground_crops import make_sparse_dataset

HERE = Path(__file__).resolve().parent
ARMS = {"decode_each_time": (["data.cache=false"], "0"), "cached": (["data.cache=true"], "1")}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--time", default="2m", help="the budget of each run (default 2m)")
    p.add_argument("--size", type=int, default=2048, help="image side in px (default 2048)")
    p.add_argument("--runs", type=Path, default=HERE.parent / "runs" / "data_cache")
    p.add_argument("--out", type=Path, default=HERE / "results" / "data_cache")
    args = p.parse_args(argv)
    info = harness.side_by_side_info()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    data = args.runs / f"large-{stamp}"
    dataset = make_sparse_dataset(data, n=12, size=args.size)
    plan_file = args.runs / f"plan-{stamp}.yaml"
    plan, plan_cmd = harness.plan_pinned(data, args.time, plan_file)
    runs = harness.fit_arms_side_by_side(data, plan_file, ARMS, args.runs, stamp)
    arms = harness.arm_summaries(runs, cache=lambda c: c["data"]["cache"])
    ratio = arms["cached"]["optimizer_steps"] / max(arms["decode_each_time"]["optimizer_steps"], 1)
    result = {
        "machine_info": info,
        "cpu_flags": info["cpu_flags"],
        "dataset": dataset,
        "budget": args.time,
        "plan_command": shlex.join(plan_cmd),
        "plan": {k: plan[k] for k in ("model", "data") if k in plan},
        "arms": arms,
        "steps_ratio_cached_over_decoding": round(ratio, 2),
        "meta": {"command": harness.command_line()},
    }
    crop = plan["data"]["crop_size"]
    lines = [
        "# Decoded training images kept in memory (`data.cache`) against decoding every crop (issue 12)",
        "",
        f"Written by `{harness.command_line()}`. Machine: {info['cpu_model']}, torch {info['torch']}, "
        f"CPU flags {' '.join(info['cpu_flags'])}. Data: {dataset['images']} generated {dataset['size']} px "
        f"gray PNGs. One plan (crop {crop[0]}x{crop[1]}, batch {plan['data']['batch_size']}, base "
        f"{plan['model']['kwargs']['base_channels']}), two runs side by side, {args.time} each, one core and "
        "thread each; only `data.cache` differs. Scored on validation; the test split is not read.",
        "",
        "| arm | data.cache | optimizer steps | train s | val foreground IoU |",
        "|---|---|---:|---:|---:|",
    ]
    for arm, a in arms.items():
        lines.append(
            f"| {arm} | {a['cache']} | {a['optimizer_steps']} | {a['train_seconds']} | "
            f"{a['val']['per_class_iou']['foreground']:.4f} |"
        )
    lines += ["", f"Steps, cached / decoding: {result['steps_ratio_cached_over_decoding']}x.", ""]
    harness.write_results(args.out, "data_cache", result, "\n".join(lines))
    return result


if __name__ == "__main__":
    main()
