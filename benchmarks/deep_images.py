"""Deep images (16-bit): the plan's intensity window against the old ``>> 8``, scored on validation.

Microscopes and scientific cameras store 12 or 16 bits, and a sample rarely fills that range. unetkit used
to reduce every 16-bit image with ``value >> 8``; an image spanning 1000..2020 of 0..65535 then keeps five
grey levels. The plan now measures an intensity window on the training pixels (per channel, the 0.05-99.95
percentiles of the stored values) and maps it onto 0..255.

Data: DSB2018 nuclei (real, ``../shared/data/dsb2018``), each image's luma ``v`` (0..255) stored as the
16-bit value ``1000 + 4 v`` (a 12-bit-like camera whose signal fills 1000..2020), labels and splits
unchanged. The derived folder lives under ``--runs`` and is never committed.

One plan (``unetkit plan DIR --time BUDGET --threads 1``: it measures the window), two runs of it side by
side, each pinned to its own core: ``window`` (the plan as made) and ``full_range``
(``data.options.intensity_window=[[0, 65535]]``: the whole 16-bit range onto 0..255, what ``>> 8`` did,
with mean/std recomputed on that scale). Both keep the last weights (``evaluate.checkpoint=last``) and are
scored on the validation split; the test split is not scored.

    .venv/bin/python benchmarks/deep_images.py [--time 8m] [--data ../shared/data/dsb2018]
        [--runs runs/deep_images] [--out benchmarks/results/deep_images]

Writes ``OUT/deep_images.json`` + ``.md``.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info, plan and side-by-side runs, writing results

from unetkit.data.io import read_image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OFFSET, GAIN = 1000, 4  # stored = OFFSET + GAIN * luma: 1000..2020 of 0..65535
ARMS = {
    "window": (["evaluate.checkpoint=last"], "0"),
    "full_range": (
        [
            "data.options.intensity_window=[[0, 65535]]",
            "data.options.mean=null",  # the plan's mean/std are on the window's scale: recompute them
            "data.options.std=null",
            "evaluate.checkpoint=last",
        ],
        "1",
    ),
}


def deep_copy(data: Path, root: Path) -> dict[str, Any]:
    """``root``: DSB2018's images as 16-bit gray PNGs (``OFFSET + GAIN * luma``), its labels (a link) and
    its split files."""
    if root.exists():
        shutil.rmtree(root)
    (root / "images").mkdir(parents=True)
    count = 0
    for path in sorted((data / "images").glob("*.png")):
        luma = read_image(path, 1, convert=True)[..., 0].astype(np.uint16)
        Image.fromarray(OFFSET + GAIN * luma).save(root / "images" / path.name)
        count += 1
    (root / "labels").symlink_to((data / "labels").resolve(), target_is_directory=True)
    for split in ("train", "val", "test"):  # test is named (discovery wants the split), never scored
        shutil.copy(data / f"{split}.txt", root / f"{split}.txt")
    return {
        "images": count,
        "stored": f"{OFFSET} + {GAIN} * luma (uint16)",
        "range": [OFFSET, OFFSET + GAIN * 255],
    }


def window_arms(runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """:func:`harness.arm_summaries` of arms that differ in their intensity window."""
    return harness.arm_summaries(
        runs, intensity_window=lambda c: c["data"]["options"].get("intensity_window")
    )


def plan_brief(plan: dict[str, Any]) -> str:
    """``128x128, batch 16, base 8, bf16-mixed``: what the side-by-side runs of a plan train."""
    crop = plan["data"]["crop_size"]
    return (
        f"{crop[0]}x{crop[1]}, batch {plan['data']['batch_size']}, base "
        f"{plan['model']['kwargs']['base_channels']}, {plan['trainer']['precision']}"
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--time", default="8m", help="the budget of each run (default 8m)")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "dsb2018")
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "deep_images")
    p.add_argument("--out", type=Path, default=HERE / "results" / "deep_images")
    args = p.parse_args(argv)
    if not (args.data / "train.txt").is_file():
        raise SystemExit(
            f"{args.data} has no train.txt: pass --data with DSB2018 (see ../shared/data/dsb2018)"
        )
    info = harness.side_by_side_info()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    args.runs.mkdir(parents=True, exist_ok=True)
    folder = args.runs / "dsb2018-16bit"
    derived = deep_copy(args.data, folder)
    plan_file = args.runs / f"plan-{stamp}.yaml"
    plan, plan_cmd = harness.plan_pinned(folder, args.time, plan_file)
    runs = harness.fit_arms_side_by_side(folder, plan_file, ARMS, args.runs, stamp)
    arms = window_arms(runs)
    window, full = arms["window"], arms["full_range"]
    result = {
        "machine_info": info,
        "cpu_flags": info["cpu_flags"],
        "budget": args.time,
        "data": derived,
        "plan_command": shlex.join(plan_cmd),
        "plan": {k: plan[k] for k in ("model", "data", "class_weights", "trainer", "evaluate") if k in plan},
        "arms": arms,
        "val_dice_window_minus_full_range": round(window["val"]["dice"] - full["val"]["dice"], 4),
        "meta": {"command": harness.command_line()},
    }
    pl = plan
    lines = [
        "# Deep images: the plan's intensity window against the whole 16-bit range (>> 8), on validation",
        "",
        f"Written by `{harness.command_line()}`. Machine: {info['cpu_model']}, torch {info['torch']}, "
        f"CPU flags {' '.join(info['cpu_flags'])}. DSB2018 ({derived['images']} images) with each image's "
        f"luma stored as 16-bit {derived['stored']}: values {OFFSET}..{OFFSET + GAIN * 255}. One plan "
        f"(`{result['plan_command']}`: {plan_brief(pl)}), two runs of it side by side, {args.time} each on "
        "one core, the last "
        "weights kept, scored on the validation split; only the intensity window differs.",
        "",
        "| arm | intensity window | steps | val Dice (nuclei) | val mIoU |",
        "|---|---|---:|---:|---:|",
    ]
    for arm, a in arms.items():
        lines.append(
            f"| {arm} | {a['intensity_window']} | {a['optimizer_steps']} | {a['val']['dice']:.4f} | "
            f"{a['val']['miou']:.4f} |"
        )
    lines += ["", f"Dice, window - full range: {result['val_dice_window_minus_full_range']:+.4f}.", ""]
    harness.write_results(args.out, "deep_images", result, "\n".join(lines))
    return result


if __name__ == "__main__":
    main()
