"""``unetkit fit`` / ``unetkit validate`` / ``unetkit test``."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fit", help="train a model from a YAML config (any key overridable: key.sub=value)")
    p.add_argument("--config", "-c", type=Path, help="YAML config (see configs/); defaults otherwise")
    p.add_argument(
        "--resume", type=Path, metavar="RUN_DIR", help="continue RUN_DIR from checkpoints/last.ckpt"
    )
    p.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="e.g. trainer.max_epochs=5 data.batch_size=4"
    )
    p.set_defaults(func=run_fit)
    for name, split in (("validate", "val"), ("test", "test")):
        q = sub.add_parser(
            name, help=f"evaluate a run's model on the {split} split and print per-class metrics"
        )
        q.add_argument("run_dir", type=Path, metavar="RUN_DIR")
        q.add_argument("--split", default=split, help=f"dataset split (default {split})")
        q.add_argument(
            "overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. data.root=..."
        )
        q.set_defaults(func=run_evaluate)


def run_fit(args: argparse.Namespace) -> int:
    from unetkit.training.config import load_config
    from unetkit.training.run import fit

    if args.resume is not None:
        cfg_path = args.resume / "config.yaml"
        if not cfg_path.is_file():
            raise FileNotFoundError(
                f"{cfg_path} not found; --resume needs a run folder written by `unetkit fit`."
            )
        config = load_config(cfg_path, args.overrides)
    else:
        config = load_config(args.config, args.overrides)
    result = fit(config, resume=args.resume)
    if not result.is_global_zero:
        return 0
    print(f"\nrun folder: {result.run_dir}  (training took {result.train_seconds:.0f} s)")
    print(f"{config['evaluate']['split']} split:\n{result.table}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from unetkit.training.config import load_config
    from unetkit.training.run import evaluate

    cfg_path = args.run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{cfg_path} not found; pass a run folder written by `unetkit fit`.")
    config = load_config(cfg_path, args.overrides)
    _, table = evaluate(args.run_dir, split=args.split, config=config)
    print(f"{args.split} split:\n{table}")
    return 0
