"""``unetkit fit-maskrcnn DIR --time 30m``: train a Mask R-CNN on an instance-segmentation folder.

DIR holds ``images/``, ``labels/`` (instance label images) and ``train.txt``/``val.txt`` (DSB2018's layout);
see :mod:`unetkit.training.detection`. ``--replay RUN`` trains a finished run again from its recorded clock
(bitwise the same weights on the same kind of machine). The CLI owns the process: ``--threads`` sets torch's
thread count.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

# Options of the run (flag, MaskRCNNFitOptions field = argparse dest): None when not given, so the options'
# defaults live in one place (MaskRCNNFitOptions) and a replay can tell an option that would change its run.
RUN_OPTIONS = (
    ("--backbone", "backbone"),
    ("--crop", "crop_size"),
    ("--batch", "batch_size"),
    ("--lr", "lr"),
    ("--epoch-steps", "epoch_steps"),
    ("--val-images", "val_images"),
    ("--seed", "seed"),
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit-maskrcnn",
        help="train a Mask R-CNN (torchvision, from scratch) for instance segmentation on DIR "
        "(images/ + labels/ + train.txt/val.txt) within --time",
    )
    p.add_argument(
        "data_dir", type=Path, nargs="?", metavar="DIR",
        help="images/, labels/, train.txt, val.txt (with --resume: default the run's; not with --replay)",
    )  # fmt: skip
    p.add_argument("--time", dest="budget", help="training time budget: 30m, 1h, 90s (validation included)")
    p.add_argument(
        "--out", type=Path, metavar="RUN_DIR", help="run folder (default runs/maskrcnn-<DIR>-<time>)"
    )
    p.add_argument(
        "--resume", type=Path, metavar="RUN_DIR", help="continue RUN_DIR from checkpoints/last.ckpt"
    )
    p.add_argument(
        "--replay", type=Path, metavar="RUN_DIR",
        help="train the finished RUN_DIR again with its options, data and recorded clock, into "
        "RUN_DIR-replay (or --out): bitwise-identical weights on the same kind of machine and --threads",
    )  # fmt: skip
    p.add_argument("--backbone", help="mobilenet_v3_large (default), resnet18 or resnet34")
    p.add_argument(
        "--weights",
        type=Path,
        metavar="FILE",
        help="local weights: a Mask R-CNN state dict or backbone weights",
    )
    p.add_argument(
        "--norm", default=None, help="group (default, from scratch), frozen_bn (ImageNet weights) or batch"
    )
    p.add_argument(
        "--crop", dest="crop_size", type=int, metavar="PX", help="training crop side in pixels (default 256)"
    )
    p.add_argument("--batch", dest="batch_size", type=int, metavar="N", help="crops per step (default 2)")
    p.add_argument(
        "--lr",
        type=float,
        help="peak AdamW learning rate (default 1e-3), reached after a linear warm-up from lr/10 over the "
        "first 5%% of --time or 100 steps, whichever ends first; then a cosine decay paced by the clock",
    )
    p.add_argument(
        "--epoch-steps",
        dest="epoch_steps",
        type=int,
        metavar="N",
        help="steps between validations (default 100)",
    )
    p.add_argument(
        "--val-images",
        dest="val_images",
        type=int,
        metavar="N",
        help="val images scored after each epoch (default 12)",
    )
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--threads", type=int, help="torch threads of this process (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_fit_maskrcnn)


def _default_out(data_dir: Path) -> Path:
    return Path("runs") / f"maskrcnn-{data_dir.resolve().name}-{time.strftime('%Y%m%d-%H%M%S')}"


def _given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The run options given on the command line, as :class:`MaskRCNNFitOptions` fields."""
    given: dict[str, Any] = {
        field: getattr(args, field) for _, field in RUN_OPTIONS if getattr(args, field) is not None
    }
    if args.norm:
        given["build"] = {"norm": args.norm}
    return given


def _option_flags(args: argparse.Namespace, options: dict[str, Any]) -> list[str]:
    """The command-line flags that set a run option (``options``: :func:`_given_options`) or its starting
    weights, sorted: what a resume or a replay, which keep the run's own, refuse."""
    flags = {flag for flag, field in RUN_OPTIONS if field in options}
    flags |= {"--norm"} if "build" in options else set()
    flags |= {"--weights"} if args.weights is not None else set()
    return sorted(flags)


def run_fit_maskrcnn(args: argparse.Namespace) -> int:
    import torch

    from unetkit.planning.plan import parse_duration
    from unetkit.training.detection import fit_maskrcnn

    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    minutes = parse_duration(args.budget) / 60.0 if args.budget else None
    command = getattr(args, "command_line", None)  # recorded in RUN/train.json
    options = _given_options(args)
    if args.replay is not None:
        run = Path(args.replay)
        if args.resume is not None:
            raise ValueError(
                "--replay and --resume exclude each other: --resume continues a run in its folder, --replay "
                "retrains a finished one into a new folder"
            )
        given = ([str(args.data_dir)] if args.data_dir is not None else []) + _option_flags(args, options)
        given += ["--time"] if minutes is not None else []
        if given:
            raise ValueError(f"--replay trains {run} with its own data and options; drop {given[0]}")
        result = fit_maskrcnn(
            None,
            args.out or run.parent / f"{run.name}-replay",
            replay=run,
            progress=not args.no_progress,
            command=command,
        )
    elif args.resume is not None:
        if args.out is not None and args.out.resolve() != args.resume.resolve():
            raise ValueError("--resume RUN_DIR continues RUN_DIR; leave out --out")
        if flags := _option_flags(args, options):
            raise ValueError(
                f"--resume continues {args.resume} with the options it was started with "
                f"({args.resume / 'fit_options.json'}); drop {flags[0]}"
            )
        result = fit_maskrcnn(
            args.data_dir, args.resume, minutes, resume=True, progress=not args.no_progress, command=command
        )
    else:
        if args.data_dir is None:
            raise ValueError("fit-maskrcnn needs the data folder DIR (images/, labels/, train.txt, val.txt)")
        if minutes is None:
            raise ValueError("fit-maskrcnn needs a time budget: add e.g. --time 30m")
        result = fit_maskrcnn(
            args.data_dir,
            args.out or _default_out(args.data_dir),
            minutes,
            weights_path=args.weights,
            progress=not args.no_progress,
            command=command,
            **options,
        )
    s = result.scores
    chosen = result.postprocess
    # The val scores are those of the post-processing chosen on val (what predict and serve use).
    values = ", ".join(f"{k} {v:g}" for k, v in chosen.get("values", {}).items())
    print(
        f"\nval ({s['images']} images, {values}): AP50 {s['ap50']:.3f}  "
        f"AP75 {s['ap75']:.3f}  mAP {s['map']:.3f}  SEG {s['seg']:.3f}  "
        f"({s['n_pred']} objects found, {s['n_true']} true)"
    )
    if chosen:
        print(
            f"predict and serve use {values}: chosen on val (the grid: "
            f"{result.run_dir / 'instance_selection.json'})"
        )
        if chosen.get("note"):
            print(f"note: {chosen['note']}")
    median = "" if math.isnan(result.step_seconds) else f" (median step {result.step_seconds:.2f} s)"
    print(
        f"trained {result.steps} steps in {result.train_seconds:.0f} s{median}, "
        f"{result.params / 1e6:.1f} M parameters; val scored in {result.eval_seconds:.0f} s"
    )
    print(f"run folder: {result.run_dir}")
    return 0
