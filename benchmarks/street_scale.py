"""Unseen streets (CamVid): the plan's scale range (0.75-1.25) against a wide one (0.5-2.0), on validation.

CamVid's test streets are sequences the model never saw. Segmentation recipes for street scenes usually
zoom training images by 0.5-2x (objects at every distance); the plan zooms by 0.75-1.25. This compares the
two at an equal budget on a training sequence held out as validation (as ``upright_scenes.py`` does:
CamVid's own validation frames share a sequence with training; its validation and test frames are not
read here).

One plan (``unetkit plan DIR --time BUDGET --threads 1``), two runs of it side by side, each pinned to its own
core: ``plan_scale`` (the plan as made) and ``wide_scale`` (``data.augment.scale=[0.5, 2.0]``). Both keep the
last weights (``evaluate.checkpoint=last``) and are scored with the plan's TTA on the held-out sequence.

    .venv/bin/python benchmarks/street_scale.py [--time 20m] [--hold 0001TP] [--data ../shared/data/camvid]
        [--runs runs/street_scale] [--out benchmarks/results/street_scale_<hold>]

Writes ``OUT/street_scale.json`` + ``.md``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info, plan and side-by-side runs, writing results
from upright_scenes import held_out_arms, held_out_intro

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WIDE = [0.5, 2.0]
ARMS = {
    "plan_scale": (["evaluate.checkpoint=last"], "0"),
    "wide_scale": ([f"data.augment.scale=[{WIDE[0]}, {WIDE[1]}]", "evaluate.checkpoint=last"], "1"),
}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--time", default="20m", help="the budget of each run (default 20m)")
    p.add_argument("--hold", default="0001TP", help="the training sequence that becomes validation")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "camvid")
    p.add_argument("--classes", type=Path, default=ROOT / "configs" / "camvid_classes.json")
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "street_scale")
    p.add_argument("--out", type=Path, default=None, help="default benchmarks/results/street_scale_<hold>")
    args = p.parse_args(argv)
    out = args.out or HERE / "results" / f"street_scale_{args.hold}"
    info, split, plan, plan_cmd, runs, _ = held_out_arms(args, ARMS)
    names = list(plan["data"]["options"]["class_names"])
    arms = harness.arm_summaries(runs, scale=lambda c: c["data"]["augment"]["scale"])
    delta = arms["wide_scale"]["val"]["miou"] - arms["plan_scale"]["val"]["miou"]
    result = {
        "machine_info": info,
        "cpu_flags": info["cpu_flags"],
        "budget": args.time,
        "split": split,
        "plan_command": shlex.join(plan_cmd),
        "plan": {k: plan[k] for k in ("model", "data", "class_weights", "trainer", "evaluate") if k in plan},
        "arms": arms,
        "miou_wide_minus_plan": round(delta, 4),
        "meta": {"command": harness.command_line()},
    }
    pl = plan
    lines = [
        "# Unseen streets: the plan's scale range against a wide one, scored on a held-out sequence",
        "",
        held_out_intro(info, split, result["plan_command"], pl)
        + f", TTA {pl['evaluate'].get('tta')}), two runs of it side by side, {args.time} each on one core, "
        "the last "
        "weights kept; only the scale range differs.",
        "",
        "| arm | scale | steps | val mIoU | " + " | ".join(names) + " |",
        "|---|---|---:|---:|" + "---:|" * len(names),
    ]
    for arm, a in arms.items():
        per = a["val"]["per_class_iou"]
        cells = " | ".join(f"{per.get(c, float('nan')):.3f}" for c in names)
        lines.append(f"| {arm} | {a['scale']} | {a['optimizer_steps']} | {a['val']['miou']:.4f} | {cells} |")
    lines += ["", f"mIoU, wide - plan: {result['miou_wide_minus_plan']:+.4f}.", ""]
    harness.write_results(out, "street_scale", result, "\n".join(lines))
    return result


if __name__ == "__main__":
    main()
