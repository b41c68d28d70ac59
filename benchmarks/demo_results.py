"""Run ``unetkit demo`` once, timed, and keep its numbers: the README's demo figures come from here.

The demo writes into a temp folder (``--out`` of the demo command), so runs/demo is left alone; its
``metrics_test.json`` (the U-Net on the test split), ``kmeans/metrics.json`` (the K-means baseline on the
same images) and ``predictions/metrics.json`` (``unetkit predict --masks`` on the same images) are copied to
``--out`` as metrics_test.json, kmeans_metrics.json and predict_metrics.json, beside demo.json /
demo.md (command, wall time, machine).

    .venv/bin/python benchmarks/demo_results.py [--out benchmarks/results/demo] [--shared-machine NOTE]
                                                [-- demo overrides, e.g. trainer.max_epochs=3]
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info, writing results

from unetkit.files import atomic_write_text

COPIED = {
    "metrics_test.json": "metrics_test.json",
    "kmeans/metrics.json": "kmeans_metrics.json",
    "predictions/metrics.json": "predict_metrics.json",
}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "demo")
    p.add_argument("--shared-machine", default=None, help="note on the machine's load, recorded")
    p.add_argument("overrides", nargs="*", help="config overrides passed to `unetkit demo`")
    args = p.parse_args(argv)
    unetkit = Path(sys.executable).with_name("unetkit")
    info = harness.machine_info(args.shared_machine)  # before the run: its mm probe must not overlap it
    with tempfile.TemporaryDirectory(prefix="unetkit-demo-") as tmp:
        demo_dir = Path(tmp) / "demo"
        cmd = [str(unetkit), "demo", "--out", str(demo_dir), *args.overrides]
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        seconds = time.perf_counter() - start
        for src, dst in COPIED.items():
            atomic_write_text(args.out / dst, (demo_dir / src).read_text())
    unet = json.loads((args.out / "metrics_test.json").read_text())
    kmeans = json.loads((args.out / "kmeans_metrics.json").read_text())
    result = {
        "meta": {"command": harness.command_line(), "machine_info": info},
        "demo_command": shlex.join([".venv/bin/unetkit", "demo", "--out", "TMP/demo", *args.overrides]),
        "wall_seconds": round(seconds, 1),
        "files": sorted(COPIED.values()),
    }
    load = "load not stated" if info["shared_machine"] is None else info["shared_machine"] or "idle"
    md = "\n".join(
        [
            "# `unetkit demo`, timed",
            "",
            f"Command: `{result['meta']['command']}` (runs `{result['demo_command']}`); "
            f"{harness.cpu_description()}, torch {info['torch']}, CPU capability {info['cpu_capability']}, "
            f"torch.mm {info['matmul_gflops']} GFLOP/s, {info['date_utc']}, {load}.",
            "",
            "| what | value |",
            "|---|---:|",
            f"| whole demo (train, test, predict, K-means, figures), s | {seconds:.1f} |",
            f"| U-Net test mean IoU | {unet['miou']:.3f} |",
            f"| K-means mean IoU, same images | {kmeans['miou']:.3f} |",
        ]
    )
    harness.write_results(args.out, "demo", result, md)
    return result


if __name__ == "__main__":
    main()
