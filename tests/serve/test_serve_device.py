"""``unetkit serve --device``: ``auto`` by default, as predict, plan and fit; resolved once by
``unetkit.devices.resolve_device`` for every worker (thread or process) and reported by the API."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="unetkit serve needs the 'serve' extra")
pytest.importorskip("httpx", reason="the API tests need httpx")

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # Starlette now prefers the httpx2 fork; httpx works
    from fastapi.testclient import TestClient
from serve_helpers import png_bytes, synthetic_slice

import unetkit.devices as devices
from unetkit.cli.main import build_parser
from unetkit.inference import backends
from unetkit.serve.app import create_app
from unetkit.serve.pool import WorkerPool


def test_serve_defaults_to_auto_like_predict() -> None:
    parser = build_parser()
    assert parser.parse_args(["serve", "m"]).device == "auto"
    assert (
        parser.parse_args(["serve", "m"]).device == parser.parse_args(["predict", "m", "x", "-o", "o"]).device
    )


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_auto_runs_on_the_cpu_here_and_says_so(model_dir: Path, pool: str) -> None:
    expected = devices.resolve_device("auto")
    assert expected == "cpu"  # this test machine has no GPU (the GPU path: the test below)
    app = create_app(
        model_dir,
        backend="auto",
        pool=pool,
        workers=1,
        threads_per_worker=1,
        backend_options={"device": "auto"},
    )
    with TestClient(app) as client:
        info = client.get("/api/model").json()
        # The engine auto chose (no export here: torch), not "auto" (tests/serve/test_serve_engine.py).
        assert (info["backend"], info["device"], info["pool"]) == ("torch", expected, pool)
        assert info["backend_requested"] == "auto"
        assert client.get("/api/health").json()["device"] == expected
        files = {"file": ("a.png", png_bytes(synthetic_slice(64)), "image/png")}
        assert client.post("/api/predict", files=files).status_code == 200


@pytest.fixture
def sees_a_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """resolve_device("auto") as on a Linux machine whose torch sees a CUDA GPU."""
    import torch

    control = tmp_path / "nvidiactl"
    control.touch()
    monkeypatch.setattr(devices.platform, "system", lambda: "Linux")
    monkeypatch.setattr(devices, "_NVIDIA_CONTROL", control)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_auto_gives_every_worker_the_gpu_when_torch_sees_one(
    sees_a_gpu: None, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[Any] = []
    real = backends.load_predictor

    def load_on_cpu(model: Any, backend: str = "torch", **kwargs: Any) -> Any:
        asked.append(kwargs.get("device"))
        return real(model, backend="torch", **{**kwargs, "device": "cpu"})  # no GPU here to load onto

    monkeypatch.setattr(backends, "load_predictor", load_on_cpu)
    # Thread pool: the workers load with the resolved device (backend auto would take torch on "auto" and
    # never try the exported engines; on "cuda" it takes torch on purpose).
    with TestClient(create_app(model_dir, backend="auto", backend_options={"device": "auto"})) as client:
        files = {"file": ("a.png", png_bytes(synthetic_slice(64)), "image/png")}
        assert client.post("/api/predict", files=files, data={"tta": "flips"}).status_code == 200
    assert asked and set(asked) == {"cuda"}
    # Process pool: spawned workers get the device resolved in this process (their initializer's options).
    pool = WorkerPool(model_dir, kind="process", backend_options={"device": "auto"})
    try:
        assert pool.backend_options == {"device": "cuda"}
    finally:
        pool.close()
    # A device given by name is never second-guessed.
    named = WorkerPool(model_dir, kind="process", backend_options={"device": "cuda:1"})
    try:
        assert named.backend_options == {"device": "cuda:1"}
    finally:
        named.close()
