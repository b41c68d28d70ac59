"""Helpers of the ``unetkit serve`` tests (imported by name: tests/ has no packages)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model

TINY = {"base_channels": 4, "depth": 2}
ISBI_SLICE = "isbi2012/images/27.png"


def run_fresh_python(script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh interpreter that sees only unetkit's sources (no pytest modules loaded, so
    the script can check what its imports pulled in, torch included)."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env={"PYTHONPATH": src}
    )


def save_tiny_model(folder: Path, in_channels: int = 1, num_classes: int = 2, seed: int = 0) -> Path:
    """A randomly initialised tiny U-Net saved as model.safetensors + config.json."""
    torch.manual_seed(seed)
    kwargs = {"in_channels": in_channels, "num_classes": num_classes, **TINY}
    model = create_model("unet", **kwargs)
    names = ["background", "membrane", "other"][:num_classes]
    config = ModelConfig("unet", kwargs, names, mean=[0.5] * in_channels, std=[0.25] * in_channels)
    return save_model(model, config, folder)


def with_instance_record(model: Path, folder: Path, **extra: object) -> Path:
    """A copy of ``model`` in ``folder`` whose config.json records ``extra`` (as ``unetkit fit DIR --target``
    records ``instance_method`` / ``instance_classes`` / ``instance_target``)."""
    shutil.copytree(model, folder)
    config = ModelConfig.load(folder)
    config.extra = {**(config.extra or {}), **extra}
    config.save(folder)
    return folder


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def synthetic_slice(size: int = 96, seed: int = 0) -> np.ndarray:
    """uint8 (H, W): bright cells separated by dark membranes, like an ISBI slice (stand-in without data)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    image = np.full((size, size), 200.0)
    image[(yy % 24 < 3) | (xx % 28 < 3)] = 40.0
    image += rng.normal(0, 12, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def predict_cli(model: Path, image: Path, out: Path, *options: str) -> dict[str, Any]:
    """What ``unetkit predict MODEL IMAGE --out OUT *options`` writes: instance count and labels, mask,
    overlay."""
    import csv

    from unetkit.cli.main import main

    assert main(["predict", str(model), str(image), "--out", str(out), "-q", *options]) == 0
    with open(out / "summary.csv", newline="") as fh:
        (row,) = list(csv.DictReader(fh))

    def read(kind: str) -> np.ndarray:
        with Image.open(out / kind / f"{image.stem}.png") as img:
            return np.asarray(img.convert("RGB") if kind == "overlays" else img)

    return {
        "count": int(row["instances"]),
        "labels": read("instances"),
        "mask": read("masks"),
        "overlay": read("overlays"),
    }


def start_serve(
    cmd: list[str], *, timeout_s: float = 120.0, keep_token_env: bool = False
) -> tuple[subprocess.Popen[str], str, list[str]]:
    """Start ``cmd`` (a process that runs ``unetkit serve ... --port 0``) with this checkout's ``src`` on the
    path; returns (the process, its base URL once it says "running on", the lines it printed so far and
    prints later)."""
    env = dict(os.environ)
    if not keep_token_env:
        env.pop("UNETKIT_SERVE_TOKEN", None)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    found = threading.Event()
    url: list[str] = []

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            match = re.search(r"running on (http://[\d.]+:\d+)", line)
            if match and not found.is_set():
                url.append(match.group(1))
                found.set()

    threading.Thread(target=reader, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while not found.wait(0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"unetkit serve did not start:\n{''.join(lines)[-3000:]}")
    return proc, url[0], lines


@contextlib.contextmanager
def live_server(
    model: Path, *extra: str, timeout_s: float = 120.0, keep_token_env: bool = False
) -> Iterator[str]:
    """Run ``unetkit serve MODEL --port 0`` in a subprocess; yields its base URL; stops it afterwards."""
    cmd = [
        sys.executable,
        "-m",
        "unetkit.cli.main",
        "serve",
        str(model),
        "--port",
        "0",
        "--threads",
        "1",
        *extra,
    ]
    proc, url, _ = start_serve(cmd, timeout_s=timeout_s, keep_token_env=keep_token_env)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until(condition: Any, seconds: float) -> bool:
    """Poll ``condition()`` every 50 ms for up to ``seconds``; its last value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


class HeldBatch:
    """One forward pass of every torch predictor of this process (the ``hold_at``-th) waits until
    ``release`` is set (:func:`hold_a_batch`): a job stopped at a known batch, where its progress is read."""

    def __init__(self, hold_at: int = 3) -> None:
        self.hold_at = hold_at
        self.calls = 0
        self.held = threading.Event()  # set once the held pass begins
        self.release = threading.Event()


def hold_a_batch(monkeypatch: Any, hold_at: int = 3) -> Iterator[HeldBatch]:
    """Body of a ``held_batch`` fixture (``yield from hold_a_batch(monkeypatch)``): patches the torch
    predictor's forward pass with a :class:`HeldBatch`; releases it at the end."""
    from unetkit.inference.predictor import Predictor

    state = HeldBatch(hold_at)
    real = Predictor._predict_batch

    def held(self: Any, batch: np.ndarray) -> np.ndarray:
        state.calls += 1
        if state.calls == state.hold_at:
            state.held.set()
            state.release.wait(60)
        return real(self, batch)

    monkeypatch.setattr(Predictor, "_predict_batch", held)
    yield state
    state.release.set()  # a job still held (a failed assertion) ends quickly
