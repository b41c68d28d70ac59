"""``unetkit demo``: the README's main job on the embedded synthetic data.

Trains the default U-Net, evaluates it on the test split (per-class table), predicts the test images with
overlays and instance labels, runs the K-means baseline for comparison, and draws the figures. The new run
replaces ``--out`` only once it has completed, so an interrupted demo never leaves a half-written folder.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from unetkit.files import atomic_write_text


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="train, evaluate, predict and draw figures on the embedded synthetic data",
        description="Generate the embedded synthetic dataset (touching round and elongated cells, 3 classes, "
        "deterministic; cached in $UNETKIT_CACHE or ~/.cache/unetkit), train the default U-Net on it, score "
        "the test split, predict on the test images, run the K-means baseline and draw the figures, all "
        "into --out (replaced only when the demo completes).",
    )  # fmt: skip
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default runs/demo)")
    p.add_argument(
        "overrides",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides, e.g. trainer.max_epochs=3",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    # A unique, empty staging folder (two demos in the same second must not collide); removed unless the
    # demo completes, when the run inside it, named as ``out`` is (its figures' titles and config.yaml name
    # the run: a trial's slide read "run .demo.partial-o9mkxc5p"), takes the place of ``out`` in one rename.
    root = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    staging = root / out.name
    try:
        # The lines of fit, predict and kmeans name the paths the demo will have once it is moved to ``out``
        # (a trial copied "runs/.demo.partial-ybxa15lb/predictions" from the output and found nothing there).
        with (
            contextlib.redirect_stdout(_Renamed(sys.stdout, staging, out)),
            contextlib.redirect_stderr(_Renamed(sys.stderr, staging, out)),
        ):
            code = _run_into(args, out, staging)
    except KeyboardInterrupt as exc:
        # fit's message names a resume of the staging folder, which is removed now: a demo is not resumed.
        again = KeyboardInterrupt(
            f"the demo was stopped and nothing was kept ({out} is as it was); run it again"
        )
        if hasattr(exc, "exit_code"):
            again.exit_code = exc.exit_code  # type: ignore[attr-defined]
        raise again from None
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return code


class _Renamed(io.TextIOBase):
    """A text stream that writes to ``target`` with the staging folder's path replaced by the final one."""

    def __init__(self, target: TextIO, staging: Path, out: Path) -> None:
        self.target, self.old, self.new = target, str(staging), str(out)

    def write(self, text: str) -> int:
        self.target.write(text.replace(self.old, self.new))
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:  # progress bars draw as they would on the terminal itself
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()


# The demo's text files that name its folder: config.yaml (output.root) and predictions/metrics.json
# (engine_model). Checkpoints keep the staging path: a demo is not resumed.
_TEXT_FILES = ("*.yaml", "*.json", "*.csv", "*.md")


def _name_final_paths(run_dir: Path, staging: Path, out: Path) -> None:
    """The demo's text files with the staging folder's paths replaced by those it will have as ``out``:
    the run folder, then its parent (config.yaml's ``output.root``)."""
    pairs = [(str(staging), str(out)), (str(staging.parent), str(out.parent))]
    for pattern in _TEXT_FILES:
        for path in run_dir.rglob(pattern):
            text = path.read_text(encoding="utf-8")
            fixed = text
            for old, new in pairs:
                fixed = fixed.replace(old, new)
            if fixed != text:
                atomic_write_text(path, fixed)


def _run_into(args: argparse.Namespace, out: Path, staging: Path) -> int:
    from unetkit.cli.fit import set_num_threads
    from unetkit.cli.main import main as cli_main
    from unetkit.training.config import load_config
    from unetkit.training.evaluate import resolve_dataset
    from unetkit.training.fit import fit

    config = load_config(
        "synthetic", [*args.overrides, f"output.root={staging.parent}", f"output.name={staging.name}"]
    )
    set_num_threads(config)
    spec = resolve_dataset(config)
    print(f"[1/4] training {config.model.name} on {spec.name} ({spec.root})")
    result = fit(config)
    print(f"\ntest split:\n{result.table}")
    test_images = [str(p) for p, _ in spec.pairs("test")]
    mask_dir = str(spec.pairs("test")[0][1].parent)
    print("[2/4] predicting the test images (overlays, instances, metrics against the true masks)")
    code = cli_main(
        [
            "predict",
            str(result.run_dir),
            *test_images,
            "--out",
            str(result.run_dir / "predictions"),
            "--instances",
            "watershed",
            "--masks",
            mask_dir,
        ]
    )
    if code != 0:
        return code
    # Its score is not the model's kind: each cluster gets the class it overlaps most in these very masks.
    print(
        "[3/4] K-means baseline on the same images (optimistic: clusters are mapped to classes on the scored "
        "masks)"
    )
    code = cli_main(
        [
            "kmeans",
            *test_images,
            "--k",
            str(spec.num_classes),
            "--masks",
            mask_dir,
            "--num-classes",
            str(spec.num_classes),
            "--class-names",
            *spec.class_names,
            "--out",
            str(result.run_dir / "kmeans"),
        ]
    )
    if code != 0:
        return code
    _name_final_paths(result.run_dir, staging, out)
    # Swap in the new demo: the old one moves aside first, so ``out`` is always a complete demo.
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, old)
    os.replace(result.run_dir, out)
    shutil.rmtree(old, ignore_errors=True)
    print(f"[4/4] done: {out}")
    for fig in sorted((out / "figures").glob("*.png")):
        print(f"  figure: {fig}")
    print(f"  predictions: {out / 'predictions'}  model: {out / 'model'}")
    return 0
