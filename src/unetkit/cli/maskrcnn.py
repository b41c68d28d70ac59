"""``unetkit fit-maskrcnn DIR --time 30m``: train a Mask R-CNN on an instance-segmentation folder.

DIR holds ``images/``, ``labels/`` (instance label images) and ``train.txt``/``val.txt`` (DSB2018's layout);
see :mod:`unetkit.training.detection`. The CLI owns the process: ``--threads`` sets torch's thread count.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit-maskrcnn",
        help="train a Mask R-CNN (torchvision, from scratch) for instance segmentation on DIR "
        "(images/ + labels/ + train.txt/val.txt) within --time",
    )
    p.add_argument("data_dir", type=Path, metavar="DIR", help="images/, labels/, train.txt, val.txt")
    p.add_argument("--time", dest="budget", help="training time budget: 30m, 1h, 90s (validation included)")
    p.add_argument(
        "--out", type=Path, metavar="RUN_DIR", help="run folder (default runs/maskrcnn-<DIR>-<time>)"
    )
    p.add_argument(
        "--resume", type=Path, metavar="RUN_DIR", help="continue RUN_DIR from checkpoints/last.ckpt"
    )
    p.add_argument(
        "--backbone", default="mobilenet_v3_large", help="mobilenet_v3_large (default), resnet18 or resnet34"
    )
    p.add_argument(
        "--weights",
        type=Path,
        metavar="FILE",
        help="local weights: a Mask R-CNN state dict or backbone weights",
    )
    p.add_argument(
        "--norm", default=None, help="group (default, from scratch), frozen_bn (ImageNet weights) or batch"
    )
    p.add_argument("--crop", type=int, default=256, help="training crop side in pixels (default 256)")
    p.add_argument("--batch", type=int, default=2, help="crops per step (default 2)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak AdamW learning rate (default 1e-3)")
    p.add_argument("--epoch-steps", type=int, default=100, help="steps between validations (default 100)")
    p.add_argument(
        "--val-images", type=int, default=12, help="val images scored after each epoch (default 12)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch threads of this process (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_fit_maskrcnn)


def _default_out(data_dir: Path) -> Path:
    return Path("runs") / f"maskrcnn-{data_dir.resolve().name}-{time.strftime('%Y%m%d-%H%M%S')}"


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
    if args.resume is not None:
        if args.out is not None and args.out.resolve() != args.resume.resolve():
            raise ValueError("--resume RUN_DIR continues RUN_DIR; leave out --out")
        result = fit_maskrcnn(
            args.data_dir, args.resume, minutes, resume=True, progress=not args.no_progress, command=command
        )
    else:
        if minutes is None:
            raise ValueError("fit-maskrcnn needs a time budget: add e.g. --time 30m")
        build = {"norm": args.norm} if args.norm else {}
        result = fit_maskrcnn(
            args.data_dir,
            args.out or _default_out(args.data_dir),
            minutes,
            weights_path=args.weights,
            progress=not args.no_progress,
            command=command,
            backbone=args.backbone,
            crop_size=args.crop,
            batch_size=args.batch,
            lr=args.lr,
            epoch_steps=args.epoch_steps,
            val_images=args.val_images,
            seed=args.seed,
            build=build,
        )
    s = result.scores
    print(
        f"\nval ({s['images']} images): AP50 {s['ap50']:.3f}  AP75 {s['ap75']:.3f}  mAP {s['map']:.3f}  "
        f"SEG {s['seg']:.3f}  ({s['n_pred']} objects found, {s['n_true']} true)"
    )
    print(
        f"trained {result.steps} steps in {result.train_seconds:.0f} s "
        f"(median step {result.step_seconds:.2f} s), "
        f"{result.params / 1e6:.1f} M parameters; val scored in {result.eval_seconds:.0f} s"
    )
    print(f"run folder: {result.run_dir}")
    return 0
