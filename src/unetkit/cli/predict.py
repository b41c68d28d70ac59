"""``unetkit predict MODEL INPUT... --out DIR``: segment images with a trained model.

MODEL is a run folder, a ``.ckpt``, or a folder with ``model.safetensors`` + ``config.json`` (PyTorch
backend), or a folder with ``model.onnx`` + ``config.json`` (``--backend onnxruntime``; that path never
imports torch). INPUT are files, folders (their images, not recursive) or glob patterns.

Outputs under ``--out``: ``masks/<name>.png`` (palette PNG, pixel value = class index),
``overlays/<name>.png``, ``probs/<name>.npy|.tif`` (``--probs``), ``instances/<name>.png`` (16-bit,
``--instances``), ``summary.csv`` and, with ``--masks``, ``metrics.json`` + ``metrics.md``.

Exit codes: 0 every input succeeded; 2 usage or model error (nothing segmented); 3 some inputs failed
(each named on stderr with its error), the others completed.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_PARTIAL = 3


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``predict`` subcommand."""
    p = sub.add_parser(
        "predict",
        help="segment images with a trained model (tiling, TTA, overlays, instances, metrics)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, metavar="MODEL", help="run folder, .ckpt, or model folder")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    p.add_argument("--out", "-o", type=Path, required=True, metavar="DIR", help="output folder")
    from unetkit.inference.backends import list_backends

    p.add_argument(
        "--backend", choices=list_backends(), default="torch", help="inference engine (default torch)"
    )
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1 or auto (default cpu)")
    p.add_argument(
        "--tile-size", type=int, default=None, metavar="N",
        help="input tile side in pixels; default: one pass over the whole image, or 512 px tiles for "
        "images above 1 megapixel (so large images never run out of memory)",
    )  # fmt: skip
    p.add_argument(
        "--overlap", type=float, default=0.25, help="tile overlap fraction in [0, 1) (default 0.25)"
    )
    p.add_argument("--blend", choices=("gaussian", "uniform"), default="gaussian", help="tile blending")
    p.add_argument("--batch-size", type=int, default=4, help="tiles per forward pass (default 4)")
    p.add_argument(
        "--tta", nargs="?", const="d4", default=None, metavar="SET",
        help="test-time augmentation: bare --tta = 8 flips/rotations; 'flips'; or names like identity,hflip",
    )  # fmt: skip
    p.add_argument("--amp", action="store_true", help="mixed precision forward passes (torch backend)")
    p.add_argument("--probs", choices=("none", "npy", "tiff"), default="none", help="write probability maps")
    p.add_argument("--probs-dtype", choices=("float16", "float32"), default="float16", help="for --probs npy")
    p.add_argument(
        "--overlay", action=argparse.BooleanOptionalAction, default=True, help="colour overlay PNG"
    )
    p.add_argument("--alpha", type=float, default=0.5, help="overlay colour weight (default 0.5)")
    p.add_argument(
        "--instances", choices=("none", "components", "watershed"), default="none",
        help="write instance labels (16-bit PNG) and count them",
    )  # fmt: skip
    p.add_argument(
        "--foreground", type=int, nargs="+", default=None, metavar="CLASS",
        help="classes forming instances (default: every class but 0)",
    )  # fmt: skip
    p.add_argument("--min-size", type=int, default=0, help="drop instances smaller than this (pixels)")
    p.add_argument("--min-distance", type=int, default=5, help="watershed: min distance between seeds")
    p.add_argument(
        "--masks", type=Path, default=None, metavar="DIR", help="ground truth: score the predictions"
    )
    p.add_argument(
        "--mask-encoding", choices=("index", "binary"), default="index",
        help="ground-truth values: class indices (default) or binary 0/255",
    )  # fmt: skip
    p.add_argument("--ignore-values", type=int, nargs="*", default=(), help="ground-truth values to ignore")
    p.add_argument("--isbi", action="store_true", help="also report ISBI pixel and Rand error (binary)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def expand_inputs(patterns: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Files from paths, folders and globs (sorted, de-duplicated); also the patterns that matched nothing."""
    from unetkit.data.io import IMAGE_EXTENSIONS

    files: list[Path] = []
    missing: list[str] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        elif path.exists():
            found = [path]
        elif glob.has_magic(pattern):
            found = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
        else:
            found = []
        if not found:
            missing.append(pattern)
        files.extend(found)
    seen: set[Path] = set()
    unique = []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, missing


def output_names(files: Sequence[Path]) -> list[str]:
    """Output base name per input: the file stem, suffixed ``__2``, ``__3`` ... when stems collide."""
    counts: dict[str, int] = {}
    names = []
    for f in files:
        n = counts.get(f.stem, 0) + 1
        counts[f.stem] = n
        names.append(f.stem if n == 1 else f"{f.stem}__{n}")
    return names


def find_mask(folder: Path, stem: str) -> Path:
    """Ground-truth file for ``stem`` in ``folder``: same stem (or ``stem_mask``) with an image extension."""
    from unetkit.data.io import IMAGE_EXTENSIONS

    for name in (stem, f"{stem}_mask"):
        for ext in IMAGE_EXTENSIONS:
            for candidate in (folder / f"{name}{ext}", folder / f"{name}{ext.upper()}"):
                if candidate.is_file():
                    return candidate
    raise ValueError(
        f"no ground-truth mask for {stem!r} in {folder} (looked for {stem}.png, {stem}_mask.png, ...)"
    )


def report_unmatched(patterns: Sequence[str]) -> int:
    """Name each input pattern that matched nothing on stderr; returns how many (each counts as a failure)."""
    for pattern in patterns:
        print(f"error: {pattern}: no such file or no image matched", file=sys.stderr)
    return len(patterns)


def report_failure(path: Path, exc: Exception) -> None:
    """One ``error: <path>: <reason>`` line on stderr (through tqdm, so a progress bar stays intact)."""
    from tqdm import tqdm

    message = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
    tqdm.write(f"error: {message}", file=sys.stderr)


def read_ground_truth(folder: Path, stem: str, encoding: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Class-index mask ``(H, W)`` of ``stem`` in ``folder`` (:func:`find_mask`); must match ``shape``."""
    from unetkit.data.io import read_mask

    path = find_mask(folder, stem)
    target = read_mask(path, encoding)
    if target.shape != shape:
        raise ValueError(f"ground truth {path} is {target.shape}, image is {shape}")
    return target


def build_predictor(args: argparse.Namespace) -> Any:
    """The predictor of ``--backend`` (torch imported only by the torch backend)."""
    from unetkit.inference.backends import load_predictor

    return load_predictor(
        args.model,
        backend=args.backend,
        device=args.device,
        amp=args.amp,
        tile_size=args.tile_size,
        overlap=args.overlap,
        blend=args.blend,
        batch_size=args.batch_size,
        tta=args.tta or False,
    )


class _Scorer:
    """Confusion matrix over all images through ``unetkit.metrics`` (the same scores as ``unetkit test``)."""

    def __init__(self, num_classes: int, ignore_index: int, isbi: bool) -> None:
        try:
            import torch

            from unetkit.metrics.segmentation import SegmentationMetrics
        except ImportError as exc:
            raise ValueError(
                f"--masks needs torch for unetkit.metrics ({exc}); install torch or drop --masks."
            ) from exc
        self.torch = torch
        self.metric = SegmentationMetrics(num_classes, ignore_index=ignore_index, isbi=isbi)

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        t = self.torch
        self.metric.update(
            t.from_numpy(pred.astype(np.int64))[None], t.from_numpy(target.astype(np.int64))[None]
        )

    def compute(self) -> dict[str, Any]:
        return dict(self.metric.compute())


def run(args: argparse.Namespace) -> int:
    """Segment every input; returns 0 (all ok) or 3 (some inputs failed). Model/usage errors raise."""
    from tqdm import tqdm

    from unetkit.data.io import MaskEncoding, read_image
    from unetkit.inference.instances import instances_from_mask
    from unetkit.inference.writers import (
        class_fractions,
        save_instances_png,
        save_mask_png,
        save_probs,
        save_rgb_png,
        write_csv,
    )
    from unetkit.viz.overlay import class_palette, overlay

    if args.tile_size is not None and args.tile_size < 1:
        raise ValueError(f"--tile-size must be >= 1, got {args.tile_size}.")
    if args.masks is not None and not args.masks.is_dir():
        raise FileNotFoundError(
            f"--masks {args.masks} is not a folder; pass the folder of ground-truth masks."
        )
    files, unmatched = expand_inputs(args.inputs)
    if not files:
        raise ValueError(
            f"no input images found in {', '.join(args.inputs)} (extensions .png .jpg .tif ...)."
        )

    predictor = build_predictor(args)
    config = predictor.config
    k = config.num_classes
    class_names = (
        list(config.class_names) if len(config.class_names) == k else [f"class_{i}" for i in range(k)]
    )
    if k == 1:  # one sigmoid logit: the mask holds 0 (background) / 1 (the named class)
        class_names = ["background", class_names[0] if class_names[0] != "class_0" else "foreground"]
    palette = class_palette(min(max(k, 2), 256))
    foreground = args.foreground if args.foreground is not None else list(range(1, max(k, 2)))
    encoding = None
    scorer = None
    if args.masks is not None:
        encoding = MaskEncoding(
            args.mask_encoding, num_classes=max(k, 2), ignore_values=tuple(args.ignore_values)
        )
        scorer = _Scorer(max(k, 2), config.ignore_index, args.isbi)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    failures = report_unmatched(unmatched)
    rows: list[dict[str, Any]] = []
    names = output_names(files)
    bar = tqdm(list(zip(files, names)), desc="predict", unit="img", disable=True if args.quiet else None)
    for path, name in bar:
        start = time.perf_counter()
        try:
            image = read_image(path, channels=config.in_channels)
            mask, probs = predictor.predict(image)
            target = None
            if scorer is not None and args.masks is not None and encoding is not None:
                target = read_ground_truth(args.masks, path.stem, encoding, mask.shape)
            labels, count = None, None
            if args.instances != "none":
                labels, count = instances_from_mask(
                    mask,
                    foreground,
                    args.instances,
                    args.min_size,
                    probs=probs,
                    min_distance=args.min_distance,
                )
            # Everything computed: only now write, so a failing input leaves no files behind.
            save_mask_png(out / "masks" / f"{name}.png", mask, num_classes=max(k, 2))
            if args.probs != "none":
                ext = "npy" if args.probs == "npy" else "tif"
                save_probs(out / "probs" / f"{name}.{ext}", probs, args.probs, np.dtype(args.probs_dtype))
            if args.overlay:
                save_rgb_png(out / "overlays" / f"{name}.png", overlay(image, mask, palette, args.alpha))
            if labels is not None:
                save_instances_png(out / "instances" / f"{name}.png", labels)
            if scorer is not None and target is not None:
                scorer.update(mask, target)
        except (ValueError, TypeError, OSError) as exc:
            failures += 1
            report_failure(path, exc)
            continue
        fractions = class_fractions(mask, max(k, 2))
        row: dict[str, Any] = {"file": str(path), "height": mask.shape[0], "width": mask.shape[1]}
        row.update({f"frac_{n}": f"{f:.6f}" for n, f in zip(class_names, fractions)})
        row["instances"] = "" if count is None else count
        row["seconds"] = f"{time.perf_counter() - start:.3f}"
        rows.append(row)

    frac_cols = [f"frac_{n}" for n in class_names]
    write_csv(out / "summary.csv", rows, ["file", "height", "width", *frac_cols, "instances", "seconds"])
    if scorer is not None and rows:
        write_metrics(scorer, class_names, out, len(rows))
    print(f"{len(rows)} image(s) segmented, {failures} failed; outputs in {out}")
    return EXIT_PARTIAL if failures else EXIT_OK


def write_metrics(
    scorer: _Scorer, class_names: Sequence[str], out: Path, count: int, extra: dict[str, Any] | None = None
) -> None:
    """Print the metrics table and write ``metrics.json`` (``images``, then ``extra``, then the scores) and
    ``metrics.md`` under ``out``."""
    from unetkit.inference.writers import atomic_write_bytes
    from unetkit.metrics.report import format_metrics_table, scores_to_flat_dict

    scores = scorer.compute()
    table = format_metrics_table(scores, class_names)
    flat = scores_to_flat_dict(scores, class_names)
    print(f"metrics over {count} image(s):\n{table}")
    payload = {"images": count, **(extra or {}), **flat}
    atomic_write_bytes(out / "metrics.json", json.dumps(payload, indent=2).encode())
    atomic_write_bytes(out / "metrics.md", (table + "\n").encode())
