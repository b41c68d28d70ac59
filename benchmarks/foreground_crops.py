"""Do foreground-biased crops help when objects are rare? Evidence for the plan's rule, on validation only.

None of the three real datasets of this project triggers the rule (CamVid's rare classes train on whole
images; the ISBI and DSB foregrounds hold 10 % of the pixels or more), so the evidence comes from a sparse
dataset generated here, deterministically: gray images with a smooth texture, a few small bright objects
(the class, about 1 % of the pixels) and as many dark decoys. A uniform crop of the planned size often holds
no object at all.

Per data seed: one plan (``unetkit plan DIR --time BUDGET --threads 1``), then two runs of it side by side,
each pinned to its own core and differing only in the crops: uniform (``foreground_crops=0``) and a third of
the crops holding an object (nnU-Net's share), both with the plan's class weights. Each run is scored on its
**validation** split.

    .venv/bin/python benchmarks/foreground_crops.py [--time 5m] [--seeds 0 1] [--runs runs/foreground_crops]
        [--out benchmarks/results/foreground_crops]

Writes ``OUT/foreground_crops.json`` + ``.md``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info, writing results

HERE = Path(__file__).resolve().parent
SHARE = 1 / 3  # nnU-Net's oversample_foreground_percent
# Both arms name their crops: the plan's own choice (the rule this file is evidence for) is overridden.
ARMS = {
    "uniform": (["data.augment.foreground_crops=0"], "0"),
    "foreground": (
        [f"data.augment.foreground_crops={SHARE:.3f}", "data.augment.foreground_classes=[1]"],
        "1",
    ),
}


def make_sparse_dataset(root: Path, n: int = 24, size: int = 768, seed: int = 0) -> dict[str, Any]:
    """``root/images``, ``root/masks`` (0/255): texture, a few bright ellipses (the class) and dark decoys."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:size, :size]
    fractions = []
    for i in range(n):
        texture = ndimage.gaussian_filter(rng.normal(0, 1, (size, size)), 3)
        image = 120 + 25 * texture / texture.std()
        mask = np.zeros((size, size), bool)
        for sign in (+1, -1):  # objects, then decoys of the same shapes
            for _ in range(int(rng.integers(6, 11))):
                cy, cx = rng.integers(20, size - 20, 2)
                ry, rx = rng.uniform(5, 12, 2)
                blob = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
                image[blob] += sign * 50
                if sign > 0:
                    mask |= blob
        image += rng.normal(0, 8, image.shape)
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(root / "images" / f"s{i:02d}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(root / "masks" / f"s{i:02d}.png")
        fractions.append(float(mask.mean()))
    return {
        "images": n,
        "size": size,
        "seed": seed,
        "foreground_fraction": round(float(np.mean(fractions)), 5),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--time", default="5m", help="the budget of each run (default 5m)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="generated datasets (default 0 1)")
    p.add_argument("--runs", type=Path, default=HERE.parent / "runs" / "foreground_crops")
    p.add_argument("--out", type=Path, default=HERE / "results" / "foreground_crops")
    args = p.parse_args(argv)
    info = harness.side_by_side_info()
    rows = [run_pair(seed, args) for seed in args.seeds]
    ratios = [r["foreground_iou_ratio"] for r in rows]
    result = {
        "machine_info": info,
        "cpu_flags": info["cpu_flags"],
        "budget": args.time,
        "rows": rows,
        "foreground_iou_ratio_min": min(ratios),
        "foreground_better_on_every_seed": all(x > 1 for x in ratios),
        "meta": {"command": harness.command_line()},
    }
    lines = [
        "# Foreground-biased crops against uniform crops on sparse objects, scored on validation (issue 12)",
        "",
        f"Written by `{harness.command_line()}`. Machine: {info['cpu_model']}, torch {info['torch']}, "
        f"CPU flags {' '.join(info['cpu_flags'])}. Per seed: generated gray images (`make_sparse_dataset`), "
        f"one plan, two runs of it side by side, {args.time} each (core 0: uniform crops; core 1: "
        f"{SHARE:.0%} of the crops hold an object); only the crops differ. The test split is not read.",
        "",
        "| data seed | objects' share of pixels | plan (crop, batch, width, class weights) | arm | steps "
        "| val foreground IoU | val foreground Dice |",
        "|---|---:|---|---|---:|---:|---:|",
    ]
    for r in rows:
        d, pl = r["dataset"], r["plan"]
        plan_text = (
            f"{pl['data']['crop_size'][0]}x{pl['data']['crop_size'][1]}, {pl['data']['batch_size']}, "
            f"base {pl['model']['kwargs']['base_channels']}, {pl.get('class_weights')}"
        )
        for arm, a in r["arms"].items():
            v = a["val"]
            lines.append(
                f"| {d['seed']} | {d['foreground_fraction']:.2%} | {plan_text} | {arm} "
                f"(foreground_crops {a['foreground_crops']}) | {a['optimizer_steps']} | "
                f"{v['per_class_iou']['foreground']:.4f} | {v['dice']:.4f} |"
            )
    per_seed = ", ".join(f"{r['dataset']['seed']}: {r['foreground_iou_ratio']}" for r in rows)
    lines += ["", f"Foreground IoU ratio (foreground crops / uniform) per seed: {per_seed}.", ""]
    harness.write_results(args.out, "foreground_crops", result, "\n".join(lines))
    return result


def run_pair(seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """One generated dataset, one plan, the two arms side by side; their validation scores."""
    stamp = f"seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    data = args.runs / f"sparse-{stamp}"
    dataset = make_sparse_dataset(data, seed=seed)
    plan_file = args.runs / f"plan-{stamp}.yaml"
    plan, plan_cmd = harness.plan_pinned(data, args.time, plan_file)
    runs = harness.fit_arms_side_by_side(data, plan_file, ARMS, args.runs, stamp)
    arms: dict[str, Any] = harness.arm_summaries(
        runs, foreground_crops=lambda c: c["data"]["augment"]["foreground_crops"]
    )
    uni, fg = arms["uniform"]["val"], arms["foreground"]["val"]
    return {
        "dataset": dataset,
        "plan_command": shlex.join(plan_cmd),
        "plan": {k: plan[k] for k in ("model", "data", "class_weights") if k in plan},
        "arms": arms,
        "foreground_iou_ratio": round(
            fg["per_class_iou"]["foreground"] / max(uni["per_class_iou"]["foreground"], 1e-9), 3
        ),
    }


if __name__ == "__main__":
    main()
