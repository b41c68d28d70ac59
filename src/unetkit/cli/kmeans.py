"""``unetkit kmeans INPUT... --k K --out DIR``: the lectures' K-means colour-clustering baseline.

Writes ``masks/<name>.png`` (palette PNG) and ``overlays/<name>.png``. Without ground truth the mask values
are cluster ids (0..K-1, ordered by brightness). With ``--masks DIR --num-classes N`` every cluster is mapped
to the class it overlaps most over all images (majority vote), the masks hold those classes, and the
metrics table (same scores as ``unetkit test``) is printed and written to ``metrics.json`` / ``metrics.md``.

Exit codes as ``unetkit predict``: 0 ok, 2 usage error, 3 some inputs failed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from unetkit.cli.console import EXIT_OK, EXIT_PARTIAL, report_failure, report_unmatched


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``kmeans`` subcommand."""
    p = sub.add_parser(
        "kmeans",
        help="K-means colour clustering baseline (optionally scored against ground truth)",
        description=__doc__,
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
    p.add_argument("--num-classes", type=int, default=None, help="number of classes (needed with --masks)")
    p.add_argument("--class-names", nargs="+", default=None, help="names for the metrics table")
    p.add_argument(
        "--mask-encoding",
        choices=("index", "binary"),
        default="index",
        help="ground-truth values (default index)",
    )
    p.add_argument("--ignore-values", type=int, nargs="*", default=(), help="ground-truth values to ignore")
    p.add_argument("--use-position", action="store_true", help="add (y, x) to the colour features")
    p.add_argument(
        "--position-weight", type=float, default=0.5, help="weight of (y, x) vs colour (default 0.5)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--max-iter", type=int, default=30, help="Lloyd iterations (default 30)")
    p.add_argument(
        "--overlay", action=argparse.BooleanOptionalAction, default=True, help="colour overlay PNG"
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


def run(args: argparse.Namespace) -> int:
    """Cluster every input; returns 0 or 3 (some inputs failed)."""
    from tqdm import tqdm

    from unetkit.baselines.kmeans import cluster_class_counts, kmeans_segment, mapping_from_counts
    from unetkit.constants import IGNORE_INDEX
    from unetkit.data.io import MaskEncoding
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
    if args.masks is not None:
        if args.num_classes is None or args.num_classes < 1:
            raise ValueError("--masks needs --num-classes N (the number of ground-truth classes).")
        if not args.masks.is_dir():
            raise FileNotFoundError(f"--masks {args.masks} is not a folder.")
    if (
        args.class_names is not None
        and args.num_classes is not None
        and len(args.class_names) != args.num_classes
    ):
        raise ValueError(
            f"--class-names has {len(args.class_names)} names but --num-classes is {args.num_classes}."
        )
    files, unmatched = expand_inputs(args.inputs)
    if not files:
        raise ValueError(f"no input images found in {', '.join(args.inputs)}.")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    failures = report_unmatched(unmatched)
    encoding = None
    if args.masks is not None:
        encoding = MaskEncoding(
            args.mask_encoding, num_classes=args.num_classes, ignore_values=tuple(args.ignore_values)
        )
    # (name, path, cluster labels, ground truth) per image; cluster maps are kept (uint8) because the
    # cluster -> class mapping needs every image before any mapped mask can be written.
    done: list[tuple[str, Path, np.ndarray, np.ndarray | None]] = []
    counts = np.zeros((args.k, args.num_classes or 1), dtype=np.int64)
    truths = CompanionFiles(args.masks, "mask") if args.masks is not None else None  # listed once
    for path, name in tqdm(list(zip(files, output_names(files))), desc="kmeans", unit="img",
                           disable=True if args.quiet else None):  # fmt: skip
        try:
            image = read_own_range(path)
            labels = kmeans_segment(
                image, args.k, use_position=args.use_position, position_weight=args.position_weight,
                seed=args.seed, max_iter=args.max_iter,
            )  # fmt: skip
            target = None
            if encoding is not None and truths is not None:
                target = read_ground_truth(truths, path.stem, encoding, labels.shape)
                counts += cluster_class_counts(labels, target, args.k, args.num_classes, IGNORE_INDEX)
        except (ValueError, TypeError, OSError) as exc:
            failures += 1
            report_failure(path, exc)
            continue
        done.append((name, path, labels.astype(np.uint8), target))

    mapping = mapping_from_counts(counts) if encoding is not None else np.arange(args.k)
    num_out = int(args.num_classes) if encoding is not None else args.k
    palette = class_palette(max(num_out, 2))
    scorer = ScoreAccumulator(num_out, IGNORE_INDEX) if encoding is not None else None
    for name, path, labels, target in done:
        pred = mapping[labels].astype(np.uint8)
        save_mask_png(out / "masks" / f"{name}.png", pred, num_classes=max(num_out, 2))
        if args.overlay:
            save_rgb_png(out / "overlays" / f"{name}.png", overlay(read_own_range(path), pred, palette))
        if scorer is not None and target is not None:
            scorer.update(pred, target)
    if scorer is not None and done:
        names = args.class_names or [f"class_{i}" for i in range(num_out)]
        print(f"cluster -> class mapping: {mapping.tolist()}")
        table = write_batch_metrics(
            out, scorer.compute(), names, len(done), k=args.k, mapping=mapping.tolist()
        )
        print(f"metrics over {len(done)} image(s):\n{table}")
    print(f"{len(done)} image(s) clustered, {failures} failed; outputs in {out}")
    return EXIT_PARTIAL if failures else EXIT_OK
