"""Data pipeline throughput: images/s of reading + augmenting + normalising through a DataLoader.

Usage: .venv/bin/python benchmarks/data_pipeline.py [--batches 20] [--out benchmarks/results]
[--shared-machine NOTE]. Writes data_pipeline.json and data_pipeline.md (with the machine: CPU model and
flags, torch, load). Skips datasets that are not found.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info, writing results

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
    parser.add_argument(
        "--shared-machine",
        default=None,
        help="note on the machine's load, recorded with the results (e.g. 'shared with 4 jobs'; '' = idle)",
    )
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
    info = harness.machine_info(args.shared_machine)
    meta = {"command": harness.command_line(), "machine_info": info}
    load = "load not stated" if info["shared_machine"] is None else info["shared_machine"] or "idle"
    lines = [
        "# Data pipeline throughput",
        "",
        f"Command: `{meta['command']}`; {harness.cpu_description()}, torch CPU capability "
        f"{info['cpu_capability']}, torch {info['torch']} (1 thread), {info['date_utc']}, {load}. "
        "Train transforms (scale 0.8-1.2, crop, flips, rot90, brightness/contrast/gamma; elastic where "
        "marked). Time includes worker start-up.",
        "",
        "| dataset | crop | elastic | workers | images | s | images/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['crop'] or 'full'} | {r['elastic']} | {r['num_workers']} | "
            f"{r['images']} | {r['seconds']} | {r['images_per_s']} |"
        )
    harness.write_results(args.out, "data_pipeline", {"meta": meta, "results": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
