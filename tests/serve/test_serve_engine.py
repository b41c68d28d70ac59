"""The engine ``unetkit serve --backend auto`` runs on: reported by ``GET /api/model`` and
``/api/health`` (the engine auto chose, not "auto"), and the torch threads of a worker process, set when
(and only when) its model ends up on torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from serve_helpers import TINY, png_bytes, synthetic_slice

import unetkit.inference.auto_backend as auto
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model
from unetkit.serve import pool
from unetkit.serve.jobs import PredictorCache, model_summary


@pytest.fixture(scope="module")
def exported_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny U-Net model folder with its ONNX export in ``export/`` (what auto chooses among)."""
    pytest.importorskip("onnxruntime")
    from unetkit.export import export_onnx

    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "num_classes": 2, **TINY}
    model = create_model("unet", **kwargs).eval()
    config = ModelConfig("unet", kwargs, ["background", "cell"], mean=[0.5], std=[0.25])
    folder = save_model(model, config, tmp_path_factory.mktemp("engine") / "model")
    export_onnx(model, config, folder / "export", exporter="legacy")
    return folder


@pytest.fixture
def auto_picks_onnxruntime(exported_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Backend auto as on a CPU where onnxruntime timed fastest (no timing here: the rule is tested in
    tests/inference/test_auto_backend.py)."""
    choice = auto.Choice("onnxruntime", "fp32", "fastest here (test)", exported_dir / "export")
    monkeypatch.setattr(auto, "choose", lambda path, **kwargs: choice)


def test_the_api_names_the_engine_auto_chose(exported_dir: Path, auto_picks_onnxruntime: None) -> None:
    pytest.importorskip("fastapi", reason="unetkit serve needs the 'serve' extra")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Starlette now prefers the httpx2 fork; httpx works
        from fastapi.testclient import TestClient
    from unetkit.serve.app import create_app

    app = create_app(exported_dir, backend="auto", backend_options={"device": "cpu"})
    with TestClient(app) as client:
        info = client.get("/api/model").json()
        assert (info["backend"], info["precision"], info["backend_requested"]) == (
            "onnxruntime",
            "fp32",
            "auto",
        )
        assert client.get("/api/health").json()["backend"] == "onnxruntime"
        files = {"file": ("a.png", png_bytes(synthetic_slice(64)), "image/png")}
        assert client.post("/api/predict", files=files).status_code == 200


def test_auto_without_an_export_reports_torch(model_dir: Path) -> None:
    info = model_summary(PredictorCache(model_dir, backend="auto", backend_options={"device": "cpu"}))
    assert (info["backend"], info["precision"], info["backend_requested"]) == ("torch", "fp32", "auto")
    named = model_summary(PredictorCache(model_dir, backend="torch"))
    assert (named["backend"], named["precision"], named["backend_requested"]) == ("torch", None, "torch")


@pytest.fixture
def threads_set(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """What a worker process would pass to torch.set_num_threads (recorded; this process's pool is kept)."""
    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    monkeypatch.setattr(pool, "_PROCESS_CACHE", None)  # restored afterwards: the initializer sets it
    return calls


def in_worker(model: Path, backend: str, threads: int | None = 3) -> dict[str, Any]:
    """What a worker process of ``serve --pool process`` runs: its initializer, then its first call."""
    pool._init_process(str(model), backend, {"device": "cpu"}, threads)
    return pool._process_call("describe")  # type: ignore[no-any-return]


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_a_worker_on_torch_gets_its_threads(model_dir: Path, threads_set: list[int], backend: str) -> None:
    assert in_worker(model_dir, backend)["backend"] == "torch"
    assert threads_set == [3]
    in_worker(model_dir, backend, threads=None)  # no --threads for the workers: torch's default stays
    assert threads_set == [3]


def test_a_maskrcnn_worker_with_backend_auto_gets_its_threads(
    maskrcnn_dir: Path, threads_set: list[int]
) -> None:
    assert in_worker(maskrcnn_dir, "auto")["backend"] == "torch"  # a Mask R-CNN always runs on torch
    assert threads_set == [3]


def test_a_worker_auto_put_on_onnxruntime_leaves_torch_alone(
    exported_dir: Path, auto_picks_onnxruntime: None, threads_set: list[int]
) -> None:
    assert in_worker(exported_dir, "auto")["backend"] == "onnxruntime"
    assert threads_set == []


def test_a_worker_auto_put_on_onnxruntime_never_imports_torch(exported_dir: Path) -> None:
    """As a spawned worker runs it, with torch imports blocked: the thread setting must not import torch."""
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        sys.modules["torch"] = None  # any import of torch now fails
        import unetkit.inference.auto_backend as auto
        choice = auto.Choice("onnxruntime", "fp32", "test", Path({str(exported_dir / "export")!r}))
        auto.choose = lambda path, **kwargs: choice
        from unetkit.serve import pool
        pool._init_process({str(exported_dir)!r}, "auto", {{"device": "cpu"}}, 2)
        print(pool._process_call("describe")["backend"])
        loaded = [m for m, v in sys.modules.items() if v is not None]
        assert not any(m == "torch" or m.startswith("torch.") for m in loaded)
        """
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env={"PYTHONPATH": src}
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "onnxruntime"
