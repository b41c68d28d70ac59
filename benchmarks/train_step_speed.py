"""Training images/s of U-Net widths and depths on this machine: the numbers behind the ISBI recipe.

One AdamW + cross-entropy step on a (4, 1, 256, 256) channels_last batch, 2 threads, median of 6 steps after
2 warm-ups. Results are quoted in docs/benchmarks.md ("ISBI 2012 recipe sweep").

    .venv/bin/python benchmarks/train_step_speed.py [b16_t2 b8_t2 ...]
"""

from __future__ import annotations

import sys
import time

import torch
import torch.nn.functional as F

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


def images_per_second(kwargs: dict, batch: int = 4, size: int = 256, steps: int = 8) -> float:
    torch.manual_seed(0)
    x = torch.randn(batch, 1, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch, size, size))
    model = create_model("unet", in_channels=1, num_classes=2, **kwargs).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        times.append(time.perf_counter() - start)
    times = sorted(times[2:])
    return batch / times[len(times) // 2]


if __name__ == "__main__":
    torch.set_num_threads(2)
    for name in sys.argv[1:] or list(CANDIDATES):
        print(f"{name}: {images_per_second(CANDIDATES[name]):.2f} images/s", flush=True)
