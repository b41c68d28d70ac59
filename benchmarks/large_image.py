"""Large-image tiled inference: peak memory (``/usr/bin/time -v`` max RSS) and time at growing sizes.

Each size runs in its own process (so its peak RSS is its own) under ``/usr/bin/time -v``: a grayscale
image is segmented by a tiny random U-Net (depth 2, width 4; the weights do not change memory or time)
with tiles, the class mask and probabilities are produced by ``Predictor.predict``, and the mask is written
as a palette PNG. Memory is dominated by the full-image arrays: uint8 image (1 B/px), normalised float32
image (4 B/px), float32 logits sum (K * 4 B/px, K = 2), float32 weight map (4 B/px), uint8 mask (1 B/px).

Usage:
    python benchmarks/large_image.py                      # 2048, 4096, 8192 -> benchmarks/results/
    python benchmarks/large_image.py --sizes 1024 2048    # other sizes
    python benchmarks/large_image.py --single --size 4096 # one measurement (what the driver runs)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def single(size: int, tile: int, overlap: float, batch_size: int, threads: int) -> dict[str, float]:
    import numpy as np
    import torch

    from unetkit.inference.predictor import Predictor
    from unetkit.inference.writers import save_mask_png
    from unetkit.model_files.model_config import ModelConfig
    from unetkit.models import create_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "num_classes": 2, "depth": 2, "base_channels": 4}
    model = create_model("unet", **kwargs).eval()
    config = ModelConfig("unet", kwargs, ["background", "foreground"], mean=[0.5], std=[0.25])
    # A smooth synthetic gray image, built row block by row block (no float64 full-size temporaries).
    image = np.empty((size, size, 1), dtype=np.uint8)
    x = np.arange(size, dtype=np.float32)
    for r in range(0, size, 512):
        y = np.arange(r, min(r + 512, size), dtype=np.float32)[:, None]
        image[r : r + 512, :, 0] = (127 + 120 * np.sin(y / 37.0) * np.cos(x / 53.0)).astype(np.uint8)
    predictor = Predictor(model, config, tile_size=tile, overlap=overlap, batch_size=batch_size)
    start = time.perf_counter()
    mask, _probs = predictor.predict(image)
    predict_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        save_mask_png(Path(tmp) / "mask.png", mask, num_classes=2)
    total_s = time.perf_counter() - start
    return {"size": size, "predict_s": predict_s, "total_s": total_s, "foreground": float(mask.mean())}


def measure(size: int, args: argparse.Namespace) -> dict[str, float]:
    cmd = ["/usr/bin/time", "-v", sys.executable, __file__, "--single", "--size", str(size)]
    cmd += ["--tile", str(args.tile), "--overlap", str(args.overlap), "--batch-size", str(args.batch_size)]
    cmd += ["--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"size {size} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))  # type: ignore[union-attr]
    result["peak_rss_mb"] = rss_kb / 1024
    # CPU seconds of the whole process: steadier than wall time on a machine shared with other jobs.
    cpu = 0.0
    for kind in ("User", "System"):
        found = re.search(rf"{kind} time \(seconds\): ([\d.]+)", proc.stderr)
        cpu += float(found.group(1)) if found else float("nan")
    result["process_cpu_s"] = cpu
    result["megapixels"] = size * size / 1e6
    result["s_per_megapixel"] = result["predict_s"] / result["megapixels"]
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096, 8192])
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--overlap", type=float, default=0.125)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--report-only", action="store_true", help="re-render large_image.md from the JSON")
    p.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, default=1024, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.single:
        print(json.dumps(single(args.size, args.tile, args.overlap, args.batch_size, args.threads)))
        return 0
    if args.report_only:
        data = json.loads((RESULTS / "large_image.json").read_text())
        write_markdown(data["settings"], data["results"])
        return 0
    rows = []
    for size in args.sizes:
        row = measure(size, args)
        print(
            f"{size:>6} px: predict {row['predict_s']:.1f} s, peak RSS {row['peak_rss_mb']:.0f} MB",
            flush=True,
        )
        rows.append(row)
    settings = {
        "model": "unet depth=2 base_channels=4 (random weights)",
        "tile": args.tile,
        "overlap": args.overlap,
        "batch_size": args.batch_size,
        "torch_threads": args.threads,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared with other jobs), "
        f"Python {platform.python_version()}",
        "command": " ".join(["python benchmarks/large_image.py", *sys.argv[1:]]),
    }
    RESULTS.mkdir(exist_ok=True)
    payload = json.dumps({"settings": settings, "results": rows}, indent=2) + "\n"
    (RESULTS / "large_image.json").write_text(payload)
    write_markdown(settings, rows)
    return 0


def write_markdown(settings: dict[str, Any], rows: list[dict[str, float]]) -> None:
    lines = [
        "# Large-image tiled inference",
        "",
        f"`{settings['command']}`: {settings['model']}, tile {settings['tile']}, "
        f"overlap {settings['overlap']}, batch {settings['batch_size']}, "
        f"{settings['torch_threads']} torch thread(s); {settings['machine']}. "
        "Peak RSS from `/usr/bin/time -v` (whole process: Python, torch, model, image, outputs). "
        "*Added RSS / added pixel* is the growth from the previous row: the per-pixel cost of the full-size "
        "arrays (uint8 image 1 B, float32 normalised image 4 B, float32 logits K * 4 B with K = 2, "
        "float32 weight map 4 B: 17 B expected at the peak).",
        "",
        "| image | megapixels | predict wall (s) | wall s / MP | process CPU (s) | peak RSS (MB) "
        "| added RSS / added px (B) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    previous: dict[str, float] | None = None
    for r in rows:
        marginal = "-"
        if previous is not None:
            added_px = (r["megapixels"] - previous["megapixels"]) * 1e6
            marginal = f"{(r['peak_rss_mb'] - previous['peak_rss_mb']) * 2**20 / added_px:.1f}"
        lines.append(
            f"| {r['size']:.0f} x {r['size']:.0f} | {r['megapixels']:.1f} | {r['predict_s']:.1f} | "
            f"{r['s_per_megapixel']:.2f} | {r['process_cpu_s']:.1f} | {r['peak_rss_mb']:.0f} | {marginal} |"
        )
        previous = r
    (RESULTS / "large_image.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
