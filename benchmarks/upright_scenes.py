"""Scenes with an up (CamVid): upside-down flips or mirror flips only, and mirror TTA, scored on validation.

The plan gave every dataset random horizontal *and vertical* flips; for a street scene the vertical flip puts
the sky under the road, which no test image shows, while the plan itself says that where a pixel sits
carries information (it trains such scenes on whole images and turns TTA off for them). This compares the
two at an equal budget, and scores each model with and without mirror TTA (identity + horizontal flip).

Validation is a sequence of its own: CamVid's training frames come from three sequences and its validation
frames from one of them (0016E5), so its own validation split overrates unseen streets (docs/benchmarks.md).
Here the frames of one training sequence (``--hold``, default 0006R0) become the validation split and the
other training frames train; CamVid's validation and test frames are not read (the folder's ``test.txt``
lists the official validation frames only because discovery wants the split named; nothing scores it).

One plan (``unetkit plan DIR --time BUDGET --threads 1``), two runs of it side by side, each pinned to its own
core: ``upside_down`` (``data.augment.vertical_flips=true``, the plan as it was) and ``mirror_only``
(``vertical_flips=false``). Both keep the last weights (``evaluate.checkpoint=last``), so the validation score
is not also the one that picked the checkpoint.

    .venv/bin/python benchmarks/upright_scenes.py [--time 20m] [--hold 0006R0] [--data ../shared/data/camvid]
        [--runs runs/upright_scenes] [--out benchmarks/results/upright_scenes]

Writes ``OUT/upright_scenes.json`` + ``.md``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info, plan and side-by-side runs, writing results
from harness import summarise

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ARMS = {
    "upside_down": (["data.augment.vertical_flips=true", "evaluate.checkpoint=last"], "0"),
    "mirror_only": (["data.augment.vertical_flips=false", "evaluate.checkpoint=last"], "1"),
}
MIRROR_TTA = "identity,hflip"


def sequence_split(data: Path, classes: Path, hold: str, root: Path) -> dict[str, Any]:
    """``root``: CamVid's images and masks (links), its classes, and a split with sequence ``hold`` as
    validation: train = the other training frames."""
    train = [s for s in (data / "train.txt").read_text().split() if s]
    held = [s for s in train if s.startswith(hold)]
    if not held:
        raise SystemExit(f"no training frame of {data} starts with {hold!r}; pass --hold with a sequence")
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for sub in ("images", "masks"):
        (root / sub).symlink_to((data / sub).resolve(), target_is_directory=True)
    shutil.copy(classes, root / "classes.json")
    kept = [s for s in train if not s.startswith(hold)]
    (root / "train.txt").write_text("\n".join(kept) + "\n")
    (root / "val.txt").write_text("\n".join(held) + "\n")
    (root / "test.txt").write_text((data / "val.txt").read_text())  # named, never scored
    sequences = sorted({s.split("_")[0] for s in kept})
    return {
        "train_frames": len(kept),
        "train_sequences": sequences,
        "val_frames": len(held),
        "val_sequence": hold,
    }


def held_out_arms(
    args: argparse.Namespace, arms: dict[str, tuple[list[str], str]]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[str], dict[str, dict[str, Any]], str]:
    """Hold ``args.hold`` out of CamVid (``args.data``) as validation, plan once (``args.time``) and train
    ``arms`` side by side under ``args.runs``: (machine info, split, plan, plan command, runs, stamp)."""
    if not (args.data / "train.txt").is_file():
        raise SystemExit(f"{args.data} has no train.txt: pass --data with CamVid (see ../shared/data/camvid)")
    info = harness.side_by_side_info()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    args.runs.mkdir(parents=True, exist_ok=True)
    folder = args.runs / f"camvid-by-sequence-{stamp}"
    split = sequence_split(args.data, args.classes, args.hold, folder)
    plan_file = args.runs / f"plan-{stamp}.yaml"
    plan, plan_cmd = harness.plan_pinned(folder, args.time, plan_file)
    return (
        info,
        split,
        plan,
        plan_cmd,
        harness.fit_arms_side_by_side(folder, plan_file, arms, args.runs, stamp),
        stamp,
    )


def held_out_intro(
    info: dict[str, Any], split: dict[str, Any], plan_command: str, plan: dict[str, Any]
) -> str:
    """The markdown's opening of a held-out-sequence benchmark, up to the plan's summary (left open)."""
    data, kwargs = plan["data"], plan["model"]["kwargs"]
    return (
        f"Written by `{harness.command_line()}`. Machine: {info['cpu_model']}, torch {info['torch']}, "
        f"CPU flags {' '.join(info['cpu_flags'])}. CamVid with the training sequence {split['val_sequence']} "
        f"({split['val_frames']} frames) as validation and the other training frames "
        f"({split['train_frames']}, sequences {', '.join(split['train_sequences'])}) as training; CamVid's "
        f"validation and test frames are not read. One plan (`{plan_command}`: "
        f"{data['crop_size'][0]}x{data['crop_size'][1]}, batch {data['batch_size']}, "
        f"base {kwargs['base_channels']}, {plan['trainer']['precision']}"
    )


def score_with_tta(runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``unetkit test RUN --split val evaluate.tta=identity,hflip`` for every arm, side by side."""
    exe = str(Path(sys.executable).with_name("unetkit"))
    procs = {}
    for arm, r in runs.items():
        run_dir = Path(r["run_dir"])
        cmd = ["test", str(run_dir), "--split", "val", f"evaluate.tta={MIRROR_TTA}"]
        log = (run_dir.parent / f"{run_dir.name}-tta.log").open("w")
        core = ARMS[arm][1]
        proc = subprocess.Popen(["taskset", "-c", core, exe, *cmd], stdout=log, stderr=subprocess.STDOUT)
        procs[arm] = (proc, run_dir, f"taskset -c {core} unetkit " + shlex.join(cmd))
    out = {}
    for arm, (proc, run_dir, command) in procs.items():
        if proc.wait() != 0:
            raise SystemExit(f"{command} failed ({proc.returncode})")
        out[arm] = {"command": command, "metrics": json.loads((run_dir / "metrics_val.json").read_text())}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--time", default="20m", help="the budget of each run (default 20m)")
    p.add_argument("--hold", default="0006R0", help="the training sequence that becomes validation")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "camvid")
    p.add_argument("--classes", type=Path, default=ROOT / "configs" / "camvid_classes.json")
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "upright_scenes")
    p.add_argument("--out", type=Path, default=HERE / "results" / "upright_scenes")
    args = p.parse_args(argv)
    info, split, plan, plan_cmd, runs, stamp = held_out_arms(args, ARMS)
    for arm in runs:
        runs[arm]["run_dir"] = str(args.runs / f"{arm}-{stamp}")
    tta = score_with_tta(runs)
    names = list(plan["data"]["options"]["class_names"])
    arms = harness.arm_summaries(runs, vertical_flips=lambda c: c["data"]["augment"]["vertical_flips"])
    for arm, a in arms.items():
        a["val_mirror_tta"] = summarise(tta[arm]["metrics"], names) | {"command": tta[arm]["command"]}
    up, mirror = arms["upside_down"], arms["mirror_only"]
    result = {
        "machine_info": info,
        "cpu_flags": info["cpu_flags"],
        "budget": args.time,
        "split": split,
        "plan_command": shlex.join(plan_cmd),
        "plan": {k: plan[k] for k in ("model", "data", "class_weights", "trainer", "evaluate") if k in plan},
        "arms": arms,
        "miou_mirror_only_minus_upside_down": round(mirror["val"]["miou"] - up["val"]["miou"], 4),
        "miou_mirror_tta_minus_none": {
            arm: round(a["val_mirror_tta"]["miou"] - a["val"]["miou"], 4) for arm, a in arms.items()
        },
        "meta": {"command": harness.command_line()},
    }
    pl = plan
    lines = [
        "# Scenes with an up: upside-down flips against mirror flips only, scored on a held-out sequence",
        "",
        held_out_intro(info, split, result["plan_command"], pl) + "), two runs of it "
        f"side by side, {args.time} each on one core, the last weights kept; only the vertical flips "
        f"differ. Each model scored on validation without TTA and with mirror TTA ({MIRROR_TTA}).",
        "",
        "| arm | vertical flips | steps | val mIoU | val mIoU, mirror TTA | " + " | ".join(names) + " |",
        "|---|---|---:|---:|---:|" + "---:|" * len(names),
    ]
    for arm, a in arms.items():
        per = a["val"]["per_class_iou"]
        cells = " | ".join(f"{per.get(c, float('nan')):.3f}" for c in names)
        lines.append(
            f"| {arm} | {a['vertical_flips']} | {a['optimizer_steps']} | {a['val']['miou']:.4f} | "
            f"{a['val_mirror_tta']['miou']:.4f} | {cells} |"
        )
    lines += [
        "",
        f"mIoU, mirror only - upside down: {result['miou_mirror_only_minus_upside_down']:+.4f}; "
        "mirror TTA - none: "
        + ", ".join(f"{k} {v:+.4f}" for k, v in result["miou_mirror_tta_minus_none"].items())
        + ".",
        "",
    ]
    harness.write_results(args.out, "upright_scenes", result, "\n".join(lines))
    return result


if __name__ == "__main__":
    main()
