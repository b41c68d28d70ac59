"""``unetkit convert kaggle SRC --out OUT``: a dataset layout that ``unetkit fit DIR`` does not read, once.

``kaggle``: the Data Science Bowl 2018 layout, one folder per image, ``<id>/images/<id>.png`` with one
binary mask file per object in ``<id>/masks/``. Written as ``OUT/images/<id>.<ext>`` (the image file,
copied) and ``OUT/labels/<id>.png`` (16-bit instance labels: 0 background, object k = the k-th mask file
in name order), which discovery reads as instance labels. OUT appears whole or not at all: it is written
beside itself under a temporary name and renamed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
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


def kaggle_samples(src: Path) -> list[Path]:
    """The sample folders of a Kaggle-layout dataset (``<id>/images/``), sorted by name."""
    if not src.is_dir():
        raise ValueError(f"{src} is not a folder; pass the folder holding one sub-folder per image")
    samples = sorted(d for d in src.iterdir() if d.is_dir() and (d / "images").is_dir())
    if not samples:
        raise ValueError(
            f"{src} holds no <id>/images/ folders; the kaggle layout is <id>/images/<id>.png with "
            "<id>/masks/*.png"
        )
    return samples


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from unetkit.cli.console import report_failure
    from unetkit.data.instances import _kaggle_image_path, read_kaggle_labels, save_label_image
    from unetkit.data.io import image_info

    src, out = args.src, args.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} already exists and is not empty; pass a new folder with --out")
    samples = kaggle_samples(src)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    skipped: list[str] = []
    try:
        (tmp / "images").mkdir(parents=True)
        (tmp / "labels").mkdir()
        for folder in tqdm(samples, desc="convert", unit="img", file=sys.stderr, disable=args.quiet or None):
            image = _kaggle_image_path(folder)
            if image is None:
                raise ValueError(
                    f"{folder}/images holds no image named {folder.name}.png (nor a single image file); "
                    "fix the folder"
                )
            masks = folder / "masks"
            if not masks.is_dir() or not any(masks.iterdir()):
                if args.skip_unlabelled:
                    skipped.append(folder.name)
                    continue
                raise ValueError(
                    f"{folder} has no masks; remove the folder or pass --skip-unlabelled to leave it out"
                )
            height, width, _ = image_info(image)  # the header: every mask must have this size
            labels = read_kaggle_labels(folder, image_shape=(height, width))
            shutil.copy2(image, tmp / "images" / f"{folder.name}{image.suffix.lower()}")
            save_label_image(tmp / "labels" / f"{folder.name}.png", labels)
        if out.exists():
            out.rmdir()  # an empty folder the user made
        tmp.rename(out)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, ValueError):
            report_failure(src, exc)
            return 2
        raise
    written = len(samples) - len(skipped)
    print(f"wrote {written} images and their 16-bit instance labels to {out}")
    if skipped:
        print(f"left out {len(skipped)} folders without masks: {', '.join(skipped[:5])}")
    # Named, not detected: a set of images with few objects each would look like class indices.
    print(f"train with: unetkit fit {out} --mask-kind instances --time 20m")
    return 0
