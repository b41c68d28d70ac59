"""Peak memory and time of ``unetkit predict`` on a large multi-band scene: this checkout against an earlier
revision, both as committed (git worktrees), in the same run, as ratios.

A synthetic 4-band uint16 scene (the remote-sensing trial's 8000 x 6000 R, G, B, NIR by default) and an
untrained U-Net of the trial's shape (4 bands, 5 classes, a per-band intensity window) are written to a
scratch folder; each revision runs ``unetkit predict`` on it in its own process (the same Python
environment, ``PYTHONPATH`` pointing at that revision's ``src``), and the process's peak resident memory is
read from ``getrusage(RUSAGE_CHILDREN)`` of a wrapper process that runs nothing else. The masks of the two
revisions are compared byte for byte.

    python benchmarks/predict_memory.py OUT_DIR [--base 0b06788] [--size 8000x6000]

Writes OUT_DIR/predict_memory.json and .md; records the CPU flags.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def cpu_flags() -> list[str]:
    """The SIMD flags of this CPU that decide its speed (every benchmark records them)."""
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni")
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return [f for f in line.split(":", 1)[1].split() if f in wanted]
    return []


# Each case: name, extra predict options, scene scale (1 = --size; 0.5 = half of each side).
CASES = (
    ("mask only (default)", ["--tta", "none"], 1.0),
    ("with --probs npy", ["--tta", "none", "--probs", "npy"], 1.0),
    ("flips TTA", ["--tta", "flips"], 0.5),
    ("mirror TTA", ["--tta", "identity,hflip"], 0.5),  # made band by band since c0486d1
)
WRAPPER = (
    "import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)"
)


def make_model(folder: Path) -> Path:
    import torch

    from unetkit.model_files.model_config import ModelConfig
    from unetkit.model_files.model_io import save_model
    from unetkit.models import create_model

    torch.manual_seed(0)
    kwargs = {"in_channels": 4, "num_classes": 5, "depth": 4, "base_channels": 16}
    config = ModelConfig(
        architecture="unet",
        model_kwargs=kwargs,
        class_names=[f"class_{i}" for i in range(5)],
        mean=[0.5] * 4,
        std=[0.25] * 4,
        intensity_window=[[2000.0, 16000.0]] * 4,
    )
    return save_model(create_model("unet", **kwargs).eval(), config, folder)


def make_scene(path: Path, height: int, width: int) -> Path:
    import tifffile

    rng = np.random.default_rng(0)
    # Smooth fields plus noise in a 16-bit range, band by band (the whole float scene is never held).
    scene = np.empty((height, width, 4), dtype=np.uint16)
    yy = np.linspace(0, 6 * np.pi, height, dtype=np.float32)[:, None]
    xx = np.linspace(0, 8 * np.pi, width, dtype=np.float32)[None, :]
    for band in range(4):
        field = 9000 + 4000 * np.sin(yy + band) * np.cos(xx - band)
        scene[..., band] = np.clip(field + rng.normal(0, 500, (height, width)), 0, 65535).astype(np.uint16)
    tifffile.imwrite(path, scene, photometric="minisblack", planarconfig="contig")
    return path


def run_predict(src: Path, model: Path, scene: Path, out: Path, options: list[str]) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(src), "NO_ALBUMENTATIONS_UPDATE": "1"}
    command = [sys.executable, "-m", "unetkit.cli.main", "predict", str(model), str(scene), "--out", str(out)]
    command += ["--backend", "torch", "-q", *options]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *command], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"predict failed ({src}): {done.stderr.strip()[-2000:]}")
    peak_kb = int(done.stdout.strip().splitlines()[-1])
    digest = hashlib.sha256((out / "masks" / f"{scene.stem}.png").read_bytes()).hexdigest()[:16]
    return {"peak_rss_mb": round(peak_kb / 1024, 1), "seconds": round(seconds, 1), "mask_sha256": digest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--base", default="0b06788", help="earlier revision to compare against")
    parser.add_argument("--size", default="8000x6000", help="WIDTHxHEIGHT of the scene")
    parser.add_argument("--note", default="", help="the machine's load, e.g. 'shared with 3 other jobs'")
    parser.add_argument(
        "--cases", nargs="+", choices=[n for n, _, _ in CASES], default=None, help="run only these cases"
    )
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        # Both revisions as committed (git worktrees): edits in this checkout's files are not measured.
        base_tree, this_tree = scratch / "base", scratch / "this"
        for tree, revision in ((base_tree, args.base), (this_tree, "HEAD")):
            add = ["git", "worktree", "add", "--detach", "-q", str(tree), revision]
            subprocess.run(add, cwd=ROOT, check=True)
        try:
            model = make_model(scratch / "model")
            rows = []
            for name, options, scale in [c for c in CASES if args.cases is None or c[0] in args.cases]:
                h, w = int(height * scale), int(width * scale)
                scene = make_scene(scratch / f"scene_{w}x{h}.tif", h, w)
                # Interleaved, base first: a machine that slows down during the run slows both alike.
                base = run_predict(base_tree / "src", model, scene, scratch / "out_base", options)
                this = run_predict(this_tree / "src", model, scene, scratch / "out_this", options)
                rows.append({
                    "case": name,
                    "options": options,
                    "scene": f"{w}x{h}x4 uint16 ({w * h * 8 / 2**20:.0f} MiB)",
                    "base": base,
                    "this": this,
                    "peak_ratio_this_over_base": round(this["peak_rss_mb"] / base["peak_rss_mb"], 3),  # type: ignore[operator]
                    "time_ratio_this_over_base": round(this["seconds"] / base["seconds"], 3),  # type: ignore[operator]
                    "same_mask": this["mask_sha256"] == base["mask_sha256"],
                })  # fmt: skip
                scene.unlink()
        finally:
            for tree in (base_tree, this_tree):
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    result = {
        "command": " ".join(["python", "benchmarks/predict_memory.py", *sys.argv[1:]]),
        "base_revision": args.base,
        "this_revision": head.stdout.strip(),
        "model": "untrained unet depth 4, base 16, 4 bands, 5 classes, per-band window; --backend torch",
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_flags": cpu_flags(),
        "shared_machine": args.note,
        "cases": rows,
    }
    (args.out / "predict_memory.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# unetkit predict on a large 4-band scene: peak memory and time, this revision against the base",
        "",
        f"`{result['command']}`; base {args.base}, this {result['this_revision']}; {result['model']}.",
        "",
        "| case | scene | base peak MB | this peak MB | ratio | base s | this s | ratio | same mask |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        b, t = r["base"], r["this"]
        lines.append(
            f"| {r['case']} | {r['scene']} | {b['peak_rss_mb']} | {t['peak_rss_mb']} | "  # type: ignore[index]
            f"{r['peak_ratio_this_over_base']} | {b['seconds']} | {t['seconds']} | "  # type: ignore[index]
            f"{r['time_ratio_this_over_base']} | {r['same_mask']} |"
        )
    (args.out / "predict_memory.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
