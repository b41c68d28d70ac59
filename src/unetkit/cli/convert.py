"""``unetkit convert kaggle SRC --out OUT``: a dataset layout that ``unetkit fit DIR`` does not read, once.

``kaggle``: the Data Science Bowl 2018 layout, one folder per image, ``<id>/images/<id>.png`` with one
binary mask file per object in ``<id>/masks/``. Written as ``OUT/images/<id>.<ext>`` (the image file,
copied) and ``OUT/labels/<id>.png`` (16-bit instance labels: 0 background, object k = the k-th mask file
in name order), which discovery reads as instance labels. OUT appears whole or not at all: it is written
beside itself under a temporary name and renamed at the end.
"""

from __future__ import annotations

import argparse
from pathlib import Path

FORMATS = ("kaggle",)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``convert`` subcommand."""
    p = sub.add_parser(
        "convert",
        help="convert a dataset layout unetkit fit does not read (kaggle: one mask file per object)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("format", choices=FORMATS, help="the layout of SRC")
    p.add_argument("src", type=Path, metavar="SRC", help="the dataset folder (one sub-folder per image)")
    p.add_argument("--out", "-o", type=Path, required=True, metavar="OUT", help="new folder to write")
    p.add_argument(
        "--skip-unlabelled", action="store_true",
        help="leave out image folders without masks (e.g. a test set) instead of stopping",
    )  # fmt: skip
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from unetkit.cli.console import LazyBar
    from unetkit.data.instances import convert_kaggle

    bar = LazyBar("convert", enabled=not args.quiet)
    try:
        written, skipped = convert_kaggle(
            args.src, args.out, skip_unlabelled=args.skip_unlabelled, progress=bar
        )
    finally:
        bar.close()
    print(f"wrote {written} images and their 16-bit instance labels to {args.out}")
    if skipped:
        print(f"left out {len(skipped)} folders without masks: {', '.join(skipped[:5])}")
    # Named, not detected: a set of images with few objects each would look like class indices.
    print(f"train with: unetkit fit {args.out} --mask-kind instances --time 20m")
    return 0
