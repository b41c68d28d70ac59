"""``unetkit convert FORMAT SRC --out OUT``: a dataset layout that ``unetkit fit DIR`` does not read, once.

``kaggle``: the Data Science Bowl 2018 layout, one folder per image, ``<id>/images/<id>.png`` with one
binary mask file per object in ``<id>/masks/``. Written as ``OUT/images/<id>.<ext>`` (the image file,
copied) and ``OUT/labels/<id>.png`` (16-bit instance labels: 0 background, object k = the k-th mask file
in name order), which discovery reads as instance labels.

``cityscapes``: Cityscapes as downloaded, ``leftImg8bit/{train,val,test}/<city>/*_leftImg8bit.png`` with
``gtFine/.../*_gtFine_labelIds.png`` (or gtCoarse/ when there is no gtFine/). Written as
``OUT/{train,val}/images/<city>_<seq>_<frame>.png`` (the image file: copied, or linked with ``--link``),
``OUT/{train,val}/masks/<same>.png`` (8-bit trainIds: the benchmark's 19 classes 0..18, every other label
255, void) and ``OUT/classes.json`` (names, colours, void 255), which ``unetkit fit OUT`` reads with no
options. The public test labels are all void, so the test split is left out (said) and val scores the run.

OUT appears whole or not at all: it is written beside itself under a temporary name and renamed at the end.
"""

from __future__ import annotations

import argparse
from pathlib import Path

FORMATS = ("kaggle", "cityscapes")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``convert`` subcommand."""
    from unetkit.cli.console import help_description

    p = sub.add_parser(
        "convert",
        help="convert a dataset layout unetkit fit does not read (kaggle: one mask file per object; "
        "cityscapes: leftImg8bit/ + gtFine/ labelIds)",
        description=help_description(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("format", choices=FORMATS, help="the layout of SRC")
    p.add_argument(
        "src", type=Path, metavar="SRC",
        help="the dataset folder (kaggle: one sub-folder per image; cityscapes: leftImg8bit/ and gtFine/)",
    )  # fmt: skip
    p.add_argument("--out", "-o", type=Path, required=True, metavar="OUT", help="new folder to write")
    p.add_argument(
        "--skip-unlabelled", action="store_true",
        help="kaggle: leave out image folders without masks (e.g. a test set) instead of stopping",
    )  # fmt: skip
    p.add_argument(
        "--link", choices=("copy", "hard", "symbolic"), default="copy",
        help="cityscapes: how the images reach OUT: copy (default: OUT stands alone), hard links (no extra "
        "space, same file system only) or symbolic links (no extra space; OUT breaks if SRC moves)",
    )  # fmt: skip
    p.add_argument(
        "--val-cities", metavar="CITY,CITY", type=lambda v: [c.strip() for c in v.split(",") if c.strip()],
        default=[],
        help="cityscapes: training cities to hold out as the val split; the official val split becomes the "
        "test split, scored once at the end (an honest score; e.g. --val-cities zurich,weimar)",
    )  # fmt: skip
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.format == "cityscapes":
        if args.skip_unlabelled:
            raise ValueError(
                "--skip-unlabelled is for kaggle; cityscapes leaves out the unlabelled test split"
            )
        return _run_cityscapes(args)
    if args.link != "copy" or args.val_cities:
        raise ValueError(
            "--link and --val-cities are for cityscapes; kaggle images are copied and split by the folder "
            "(leave them out)"
        )
    return _run_kaggle(args)


def _run_kaggle(args: argparse.Namespace) -> int:
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


def _run_cityscapes(args: argparse.Namespace) -> int:
    from unetkit.cli.console import LazyBar
    from unetkit.data.cityscapes import IMAGE_DIR, TRAIN_ID_NAMES, VOID, convert_cityscapes

    bar = LazyBar("convert", enabled=not args.quiet)
    try:
        done = convert_cityscapes(
            args.src, args.out, link=args.link, val_cities=args.val_cities, progress=bar
        )
    finally:
        bar.close()
    counts = ", ".join(f"{n} {split}" for split, n in done.counts.items())
    linked = {"copy": "", "hard": " (images hard-linked)", "symbolic": " (images symlinked)"}[args.link]
    print(
        f"wrote {counts} images with their trainId masks ({len(TRAIN_ID_NAMES)} classes, {VOID} void) from "
        f"{done.label_dir}/ to {args.out}{linked}"
    )
    if done.label_dir != "gtFine":
        print(
            f"labels from {done.label_dir}/, as {args.src} has no gtFine/: coarse polygons, so val scores "
            "are not the benchmark's (fine labels)"
        )
    for split, why in done.left_out.items():
        print(f"left out {IMAGE_DIR}/{split}/: {why}")
    if args.val_cities:
        print(
            f"val: the training images of {', '.join(args.val_cities)}; test: the official val split, scored "
            "once at the end of the run"
        )
    elif "test" not in done.counts:
        # The plan then scores on val, which also picks the checkpoint, and says so; --val-cities avoids it.
        test = args.src / IMAGE_DIR / "test"
        predict = f"; to segment the test images: unetkit predict RUN {test} --recursive --out DIR"
        print(
            "no test split: val is the evaluation split (Cityscapes results are reported on val; "
            "--val-cities CITY,... holds out training cities as val and scores the official val once)"
            + (predict if "test" in done.left_out else "")
        )
    print(f"train with: unetkit fit {args.out} --time 20m")
    return 0
