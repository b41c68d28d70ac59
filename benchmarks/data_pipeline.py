"""Data pipeline throughput: images/s of reading + augmenting + normalising through a DataLoader.

Usage: .venv/bin/python benchmarks/data_pipeline.py [--batches 20] [--out benchmarks/results]
Writes data_pipeline.json and data_pipeline.md. Skips datasets that are not found.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from unetkit.data import FolderDataset, build_transforms, get_dataset_spec

CASES = [
    # (dataset, crop, elastic)
    ("isbi2012", 256, False),
    ("isbi2012", 256, True),
    ("camvid", (192, 256), False),
]


def measure(
    name: str, crop: int | tuple[int, int] | None, elastic: bool, workers: int, batches: int, batch_size: int
) -> dict:
    spec = get_dataset_spec(name)
    transform = build_transforms(True, crop, elastic=elastic, seed=0)
    ds = FolderDataset(spec.pairs("train"), spec.encoding, spec.in_channels, spec.mean, spec.std, transform)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=workers, drop_last=True)
    n_images = 0
    start = time.perf_counter()
    done = 0
    while done < batches:  # several epochs for the small ISBI train split
        for batch in loader:
            n_images += batch["image"].shape[0]
            done += 1
            if done >= batches:
                break
    seconds = time.perf_counter() - start  # includes worker start-up, as a real epoch does
    return {
        "dataset": name,
        "crop": crop,
        "elastic": elastic,
        "num_workers": workers,
        "batch_size": batch_size,
        "images": n_images,
        "seconds": round(seconds, 3),
        "images_per_s": round(n_images / seconds, 1),
        "image_shape": list(batch["image"].shape[1:]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    torch.set_num_threads(1)  # script-level: the pipeline is numpy/cv2 work, torch threads only add noise
    rows = []
    for name, crop, elastic in CASES:
        for workers in (0, 2):
            try:
                rows.append(measure(name, crop, elastic, workers, args.batches, args.batch_size))
            except ValueError as err:  # dataset not present
                print(f"skipping {name}: {err}")
                break
            print(rows[-1])
    meta = {"cpu_count": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "data_pipeline.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    lines = [
        "# Data pipeline throughput",
        "",
        f"Command: `.venv/bin/python benchmarks/data_pipeline.py --batches {args.batches} --batch-size "
        f"{args.batch_size}`; {meta['cpu_count']} CPUs, torch {meta['torch']}. Train transforms "
        "(scale 0.8-1.2, crop, flips, rot90, brightness/contrast/gamma; elastic where marked). "
        "Time includes worker start-up.",
        "",
        "| dataset | crop | elastic | workers | images | s | images/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['crop'] or 'full'} | {r['elastic']} | {r['num_workers']} | "
            f"{r['images']} | {r['seconds']} | {r['images_per_s']} |"
        )
    (args.out / "data_pipeline.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
