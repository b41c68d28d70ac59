"""``unetkit kmeans INPUT... --k K --out DIR``: the lectures' K-means colour-clustering baseline.

Writes ``masks/<name>.png`` (palette PNG) and ``overlays/<name>.png``. Without ground truth the mask values
are cluster ids (0..K-1, ordered by brightness). With ``--masks DIR`` every cluster is mapped to the class
it overlaps most over all images (majority vote), the masks hold those classes, and the metrics table (same
scores as ``unetkit test``) is printed and written to ``metrics.json`` / ``metrics.md``.

Ground truth is read as ``fit`` reads masks: with a classes file (``--classes FILE``, else ``classes.json`` /
``classes.csv`` in DIR or the folder above it) its classes, names and void (values, or colours of colour
masks); colour masks by their colours (each colour found a class when no classes file names them); class
indices otherwise, which need ``--num-classes N`` (and ``--ignore-values`` for void values).

Exit codes as ``unetkit predict``: 0 ok, 2 usage error or every input failed (nothing written), 3 some
inputs failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import glob
import sys
from pathlib import Path
from typing import Any

import numpy as np

from unetkit.cli.console import report_failure, report_unmatched
from unetkit.constants import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE

# The score's caveat, printed and written with it: the cluster -> class mapping is read off the very masks
# that are scored (an oracle), which a model scored on held-out masks never gets.
OPTIMISTIC = (
    "optimistic: clusters are mapped to classes on the scored masks (each cluster to the class it overlaps "
    "most in them), so this is the baseline's best case, not a held-out score"
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``kmeans`` subcommand."""
    from unetkit.cli.console import help_description

    p = sub.add_parser(
        "kmeans",
        help="K-means colour clustering baseline (optionally scored against ground truth)",
        description=help_description(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    p.add_argument("--k", type=int, required=True, help="number of clusters")
    p.add_argument("--out", "-o", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--masks", type=Path, default=None, metavar="DIR", help="ground truth: map clusters, score"
    )
    p.add_argument(
        "--classes", type=Path, default=None, metavar="FILE",
        help="classes.json/.csv naming the ground truth's classes, their colours (colour masks) and void "
        "(default: classes.json or classes.csv in the --masks folder or the folder above it)",
    )  # fmt: skip
    p.add_argument(
        "--num-classes", type=int, default=None,
        help="number of classes (needed with --masks of class indices and no classes file)",
    )  # fmt: skip
    p.add_argument("--class-names", nargs="+", default=None, help="names for the metrics table")
    p.add_argument(
        "--mask-encoding",
        choices=("index", "binary"),
        default=None,
        help="ground-truth values of gray masks (default: class indices, or as the classes file gives them; "
        "colour masks are read by their colours)",
    )
    p.add_argument("--ignore-values", type=int, nargs="*", default=(), help="ground-truth values to ignore")
    p.add_argument("--use-position", action="store_true", help="add (y, x) to the colour features")
    p.add_argument(
        "--position-weight", type=float, default=0.5, help="weight of (y, x) vs colour (default 0.5)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--max-iter", type=int, default=30, help="Lloyd iterations (default 30)")
    p.add_argument(
        "--overlay",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="colour overlay PNG (default on)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def read_own_range(path: Path) -> np.ndarray:
    """uint8 (H, W, C) of ``path``; a 16-bit image through its own intensity window.

    K-means clusters each image on its own, so each deep image may use its own range; ``>> 8`` would leave
    a sample spanning 1000..2020 five grey levels to cluster.
    """
    from unetkit.data.io import bit_depth, image_from_raw, read_raw_image, window_from_pixels

    raw = read_raw_image(path)
    window = None
    if bit_depth(raw) > 8:
        window = window_from_pixels(raw.reshape(-1, raw.shape[2]))  # read_raw_image dropped any alpha
    return image_from_raw(raw, path, window=window)


def _classes_file(masks: Path, given: Path | None) -> Any:
    """The :class:`~unetkit.planning.discovery.ClassTable` of ``given``, else of ``classes.json`` /
    ``classes.csv`` in ``masks`` or the folder above it (a dataset's root, where fit finds it); None when
    there is none."""
    from unetkit.planning.discovery import read_classes

    if given is not None:
        return read_classes(masks, given)
    for folder in (masks, masks.resolve().parent):
        table = read_classes(folder)
        if table is not None:
            return table
    return None


def _is_colour(path: Path) -> bool:
    """Whether mask ``path`` is a colour image (gray stored as RGB is not); False for an unreadable file,
    which then fails on its own when it is scored."""
    from unetkit.planning.discovery import read_mask_values

    try:
        return read_mask_values(path).ndim == 3
    except ValueError:
        return False


def ground_truth_encoding(args: argparse.Namespace, mask_paths: list[Path]) -> tuple[Any, list[str], str]:
    """(the MaskEncoding of the ``--masks`` files, the class names, a line saying how they are read; '' for
    class indices as given), as fit reads masks: a classes file's classes and void, colour masks by their
    colours (:func:`~unetkit.planning.discovery.detect_encoding`, the reading of ``plan`` and ``fit``);
    class indices otherwise, which need ``--num-classes``. ``mask_paths``: the inputs' masks."""
    from unetkit.data.io import MaskEncoding
    from unetkit.data.mask_options import mask_info_encoding
    from unetkit.planning.discovery import detect_encoding
    from unetkit.planning.folder import mask_line

    table = _classes_file(args.masks, args.classes)
    colour = next((p for p in mask_paths if _is_colour(p)), None)
    binary = None
    if table is None and colour is None and args.num_classes is None and args.mask_encoding != "index":
        # 0/255 (or 0/1) masks settle their two classes as fit reads them; class indices do not (a class
        # absent from these masks would go uncounted), so those still need --num-classes.
        found = detect_encoding(mask_paths, mask_kind=args.mask_encoding, ignore_values=args.ignore_values)
        # Both values seen, or --mask-encoding binary said so: one value alone (all 0) settles nothing.
        settled = args.mask_encoding == "binary" or len(found.values) == 2
        binary = found if found.kind == "binary" and settled else None
    if table is None and colour is None and binary is None:
        if args.num_classes is None or args.num_classes < 1:
            raise ValueError(
                "--masks needs --num-classes N (the number of ground-truth classes), or a classes file "
                "naming them (--classes FILE, or classes.json/classes.csv in the --masks folder or the "
                "folder above it)."
            )
        encoding = MaskEncoding(
            args.mask_encoding or "index",
            num_classes=args.num_classes,
            ignore_values=tuple(args.ignore_values),
        )
        return encoding, args.class_names or [f"class_{i}" for i in range(args.num_classes)], ""
    if colour is not None and args.mask_encoding is not None:
        raise ValueError(
            f"--mask-encoding {args.mask_encoding} but mask {colour} is a colour image; drop "
            "--mask-encoding: colour masks are read by their colours (a classes file names them: --classes "
            "FILE)"
        )
    info = binary or detect_encoding(
        mask_paths, mask_kind=args.mask_encoding, ignore_values=args.ignore_values, classes=table,
        class_names=args.class_names,
    )  # fmt: skip
    if binary is not None and args.class_names:
        info = dataclasses.replace(info, class_names=tuple(args.class_names))
    encoding = mask_info_encoding(info)
    source = (
        f"classes from {table.source}" if table is not None
        else "the values found in the masks" if binary is not None
        else "the colours found in the masks"
    )  # fmt: skip
    if args.num_classes is not None and args.num_classes != info.num_classes:
        fix = (
            "drop --num-classes"
            if table is not None
            else "pass --classes FILE (a classes.json or classes.csv giving each class's colour and the void "
            "colours), or drop --num-classes"
        )
        raise ValueError(
            f"--num-classes {args.num_classes} but {source} give {info.num_classes} classes "
            f"({', '.join(info.class_names)}); {fix}"
        )
    names = list(info.class_names)
    if len(names) != info.num_classes:
        raise ValueError(
            f"--class-names has {len(names)} names but {source} give {info.num_classes} classes; give one "
            "name per class (or drop --class-names)"
        )
    named = table is not None or binary is not None
    hint = "" if named else " (--classes FILE names them and their void colours)"
    line = mask_line(info, void_hint=False)  # fit's --void hint: kmeans has --ignore-values instead
    return encoding, names, f"ground truth read with {source}{hint}: {line}"


def looks_binary_fix(args: argparse.Namespace) -> str:
    """What kmeans' options make of 0/255 masks read as class indices (io's rule finds them: it says a config
    key, which kmeans has none of)."""
    if args.mask_encoding == "index":
        return "pass --mask-encoding binary instead of index"
    if args.num_classes is not None:
        return "add --mask-encoding binary, or drop --num-classes (0/255 masks are then read as binary)"
    return "add --mask-encoding binary"


def run(args: argparse.Namespace) -> int:
    """Cluster every input; returns 0, 2 (every input failed: nothing written) or 3 (some inputs failed)."""
    from tqdm import tqdm

    from unetkit.baselines.kmeans import cluster_class_counts, kmeans_segment, mapping_from_counts
    from unetkit.constants import IGNORE_INDEX
    from unetkit.data.io import LooksBinaryError
    from unetkit.files import atomic_write_text
    from unetkit.inference.batch import (
        CompanionFiles,
        expand_inputs,
        output_names,
        read_ground_truth,
        write_batch_metrics,
    )
    from unetkit.inference.writers import save_mask_png, save_rgb_png
    from unetkit.metrics.scoring import ScoreAccumulator
    from unetkit.palette import class_palette
    from unetkit.viz.overlay import overlay

    if args.k < 1 or args.k > 256:
        raise ValueError(f"--k must be in 1..256, got {args.k}.")
    if args.masks is None:
        flag = "--classes" if args.classes is not None else "--mask-encoding" if args.mask_encoding else ""
        if flag:
            raise ValueError(f"{flag} describes ground truth: pass --masks DIR with it (or drop it).")
    elif not args.masks.is_dir():
        raise FileNotFoundError(f"--masks {args.masks} is not a folder.")
    if (
        args.class_names is not None
        and args.num_classes is not None
        and len(args.class_names) != args.num_classes
    ):
        raise ValueError(
            f"--class-names has {len(args.class_names)} names but --num-classes is {args.num_classes}."
        )
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise FileExistsError(errno.EEXIST, "exists and is not a folder", str(out))
    files, unmatched = expand_inputs(args.inputs)
    if not files:
        # As fit says of a dataset folder: a mistyped path is named as one, not as a folder without images.
        absent = [p for p in unmatched if not glob.has_magic(p) and not Path(p).exists()]
        if absent:
            verb = "does" if len(absent) == 1 else "do"
            raise ValueError(f"input {', '.join(absent)} {verb} not exist; check the path.")
        raise ValueError(f"no input images found in {', '.join(args.inputs)}.")
    pairs = list(zip(files, output_names(files)))
    truths = CompanionFiles(args.masks, "mask") if args.masks is not None else None  # listed once
    encoding = None
    names: list[str] = []
    other_kind_fix = ""
    if truths is not None:
        masks = [m for path, name in pairs if (m := truths.find(name, path.stem, path)) is not None]
        encoding, names, reading = ground_truth_encoding(args, masks)
        if reading:
            print(reading, file=sys.stderr)
        other_kind_fix = (
            "kmeans reads colour masks by their colours: store every mask the same way (all colour, named "
            "by --classes FILE, or all class values)"
            if encoding.kind != "palette"
            else "kmeans reads these masks by their colours, as the other masks are: store every mask the "
            "same way (all colour, or all class values)"
        )

    failures = report_unmatched(unmatched)
    num_classes = encoding.num_classes if encoding is not None else 1
    # (name, path, cluster labels, ground truth) per image; cluster maps are kept (uint8) because the
    # cluster -> class mapping needs every image before any mapped mask can be written.
    done: list[tuple[str, Path, np.ndarray, np.ndarray | None]] = []
    counts = np.zeros((args.k, num_classes), dtype=np.int64)
    for path, name in tqdm(pairs, desc="kmeans", unit="img", disable=True if args.quiet else None):
        try:
            image = read_own_range(path)
            labels = kmeans_segment(
                image, args.k, use_position=args.use_position, position_weight=args.position_weight,
                seed=args.seed, max_iter=args.max_iter,
            )  # fmt: skip
            target = None
            if encoding is not None and truths is not None:
                try:
                    target = read_ground_truth(
                        truths, path.stem, encoding, labels.shape, other_kind_fix, image=path
                    )
                except LooksBinaryError as exc:
                    raise exc.with_fix(looks_binary_fix(args)) from None
                counts += cluster_class_counts(labels, target, args.k, num_classes, IGNORE_INDEX)
        except (ValueError, TypeError, OSError) as exc:
            failures += 1
            report_failure(path, exc)
            continue
        done.append((name, path, labels.astype(np.uint8), target))
    if not done:
        # As unetkit predict: nothing clustered is a usage/input error, and no output folder is left behind.
        print(f"error: all {failures} input(s) failed (see above); nothing was written to {out}",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE

    mapping = mapping_from_counts(counts) if encoding is not None else np.arange(args.k)
    num_out = num_classes if encoding is not None else args.k
    palette = class_palette(max(num_out, 2))
    scorer = ScoreAccumulator(num_out, IGNORE_INDEX) if encoding is not None else None
    for name, path, labels, target in done:
        pred = mapping[labels].astype(np.uint8)
        save_mask_png(out / "masks" / f"{name}.png", pred, num_classes=max(num_out, 2))
        if args.overlay:
            save_rgb_png(out / "overlays" / f"{name}.png", overlay(read_own_range(path), pred, palette))
        if scorer is not None and target is not None:
            scorer.update(pred, target)
    if scorer is not None:
        print(f"cluster -> class mapping: {mapping.tolist()}")
        if num_out > 1 and len(set(mapping.tolist())) == 1:
            print(
                f"note: every cluster went to class {names[int(mapping[0])]!r}, the majority of the ground "
                f"truth in each of the {args.k} clusters, so every output mask is that one class; a larger "
                "--k may find clusters where another class is the majority",
                file=sys.stderr,
            )
        table = write_batch_metrics(
            out, scorer.compute(), names, len(done), k=args.k, mapping=mapping.tolist(), note=OPTIMISTIC
        )
        # Said beside the table wherever it is read: a U-Net's held-out scores are not mapped on their truth.
        atomic_write_text(out / "metrics.md", f"{(out / 'metrics.md').read_text()}\n{OPTIMISTIC}\n")
        print(f"metrics over {len(done)} image(s):\n{table}\n{OPTIMISTIC}")
    if args.overlay:
        labels_out = names if encoding is not None else [f"cluster {i}" for i in range(args.k)]
        print(overlay_legend(labels_out, palette))
    print(f"{len(done)} image(s) clustered, {failures} failed; outputs in {out}")
    return EXIT_PARTIAL if failures else EXIT_OK


def overlay_legend(labels: list[str], palette: np.ndarray) -> str:
    """The overlays' colours in one line (the PNGs carry no legend): the first label is left untinted, as
    :func:`~unetkit.viz.overlay.overlay` leaves class (or cluster) 0; the others are named with their RGB."""
    tinted = ", ".join(
        f"{label} ({', '.join(str(int(v)) for v in palette[i])})" for i, label in enumerate(labels) if i
    )
    return f"overlays: {labels[0]} untinted" + (f"; tinted: {tinted}" if tinted else "")
