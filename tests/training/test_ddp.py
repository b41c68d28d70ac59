"""DDP (2 CPU processes, gloo) trains like one process given the same global batch."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

COMMON = [
    "data.options={num_images: 10, size: [40, 40]}",  # 8 training images: 2 steps of 4 per epoch
    "data.crop_size=null",
    "data.shuffle=false",
    "data.augment={flips: false, rot90: false, scale: null, color: false, elastic: false}",
    "model.kwargs={base_channels: 4, depth: 2, norm: none}",  # no BatchNorm: its statistics are per process
    "loss=ce",  # a per-pixel mean: averaging two half-batches equals the full batch
    "optim={name: sgd, lr: 0.05, momentum: 0.9, weight_decay: 0.0}",
    "schedule={name: none}",
    "trainer.max_epochs=2",
    "trainer.accelerator=cpu",
    "trainer.progress_bar=false",
    "trainer.num_threads=1",  # two processes on two cores
]
# Stated tolerance: the two runs differ only in float summation order (all-reduce vs one batch).
WEIGHT_ATOL = 1e-4
METRIC_ATOL = 1e-3


def _run(tmp_path: Path, name: str, *extra: str) -> Path:
    env = {**os.environ, "UNETKIT_CACHE": str(tmp_path / "cache")}
    cmd = [
        sys.executable,
        "-m",
        "unetkit.cli.main",
        "fit",
        "--config",
        "synthetic",
        *COMMON,
        f"output.root={tmp_path}",
        f"output.name={name}",
        *extra,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp_path / name


def _last_val(run: Path) -> dict[str, float]:
    rows = [r for r in csv.DictReader(open(run / "logs" / "metrics.csv")) if r.get("val/miou")]
    return {k: float(v) for k, v in rows[-1].items() if k.startswith("val/") and v}


@pytest.mark.slow  # 18 s: two processes; run with UNETKIT_SLOW_TESTS=1
@pytest.mark.timeout(300)
def test_ddp_two_processes_match_one_process(tmp_path: Path) -> None:
    single = _run(tmp_path, "single", "data.batch_size=4", "trainer.devices=1")
    ddp = _run(tmp_path, "ddp", "data.batch_size=2", "trainer.devices=2", "trainer.strategy=ddp")
    w1 = load_file(single / "model" / "model.safetensors")
    w2 = load_file(ddp / "model" / "model.safetensors")
    assert w1.keys() == w2.keys()
    diff = max(float((w1[k] - w2[k]).abs().max()) for k in w1)
    assert diff < WEIGHT_ATOL, f"weights differ by {diff}"
    m1, m2 = _last_val(single), _last_val(ddp)
    assert m1.keys() == m2.keys() and "val/miou" in m1
    for key in m1:
        assert abs(m1[key] - m2[key]) < METRIC_ATOL, (key, m1[key], m2[key])
