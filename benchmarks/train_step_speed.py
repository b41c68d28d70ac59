"""Training images/s of U-Net widths and depths on this machine: the numbers behind the ISBI recipe.

One AdamW + cross-entropy step on a (4, 1, 256, 256) channels_last batch, 2 threads; all candidates in one
process, 2 warm-up steps each, then ``--rounds`` interleaved rounds (one step per candidate in turn, so a
change in the machine's load hits all alike); the median step is kept. Results are quoted in
docs/benchmarks.md ("ISBI 2012 recipe sweep").

    .venv/bin/python benchmarks/train_step_speed.py [--rounds 6] [--shared-machine NOTE] [b16_t2 b8_t2 ...]

Writes ``--out``/train_step_speed.json and .md (default benchmarks/results).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: interleaved timing, machine info, writing results

from unetkit.models.registry import create_model

CANDIDATES = {
    "b16_t2": {"base_channels": 16, "depth": 4},
    "b16_t4": {"base_channels": 16, "depth": 4, "upsample": "transpose4"},
    "b16_near": {"base_channels": 16, "depth": 4, "upsample": "nearest"},
    "b16_bil": {"base_channels": 16, "depth": 4, "upsample": "bilinear"},
    "b12_t2": {"base_channels": 12, "depth": 4},
    "b8_t2": {"base_channels": 8, "depth": 4},
    "b16_d5": {"base_channels": 16, "depth": 5},
    "b16_d3": {"base_channels": 16, "depth": 3},
}


def train_step(kwargs: dict, batch: int = 4, size: int = 256) -> Callable[[], None]:
    """One AdamW + cross-entropy step of a fresh U-Net with ``kwargs`` on a fixed channels_last batch."""
    torch.manual_seed(0)
    x = torch.randn(batch, 1, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch, size, size))
    model = create_model("unet", in_channels=1, num_classes=2, **kwargs).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)

    def step() -> None:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help=f"candidates (default all: {', '.join(CANDIDATES)})")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    p.add_argument("--shared-machine", default=None, help="note on the machine's load, recorded")
    args = p.parse_args(argv)
    torch.set_num_threads(2)  # script-level: the ISBI recipe trains with 2 threads
    names = args.names or list(CANDIDATES)
    steps = {name: train_step(CANDIDATES[name], batch=args.batch) for name in names}
    times = harness.time_interleaved(steps, rounds=args.rounds, warmup=2)
    rows = [
        {
            "candidate": name,
            "model_kwargs": CANDIDATES[name],
            "seconds": times[name],
            "images_per_s": round(args.batch / harness.median(times[name]), 2),
        }
        for name in names
    ]
    info = harness.machine_info(args.shared_machine)
    result = {"meta": {"command": harness.command_line(), "machine_info": info}, "rows": rows}
    load = "load not stated" if info["shared_machine"] is None else info["shared_machine"] or "idle"
    lines = [
        "# Training images/s per U-Net width and depth",
        "",
        f"Command: `{result['meta']['command']}`; {harness.cpu_description()}, torch "
        f"{info['torch']} ({info['torch_threads']} threads, CPU capability {info['cpu_capability']}), "
        f"torch.mm {info['matmul_gflops']} GFLOP/s, {info['date_utc']}, {load}. One AdamW + CE step on a "
        f"({args.batch}, 1, 256, 256) channels_last batch; median of {args.rounds} interleaved rounds.",
        "",
        "| candidate | model kwargs | images/s |",
        "|---|---|---:|",
        *[f"| {r['candidate']} | `{r['model_kwargs']}` | {r['images_per_s']:.2f} |" for r in rows],
    ]
    harness.write_results(args.out, "train_step_speed", result, "\n".join(lines))
    for r in rows:
        print(f"{r['candidate']}: {r['images_per_s']:.2f} images/s", flush=True)
    return result


if __name__ == "__main__":
    main()
