"""The engine ``unetkit serve --backend auto`` runs on: reported by ``GET /api/model`` and
``/api/health`` (the engine auto chose, not "auto"); the threads of the workers, whatever the engine (torch's:
a worker process's own, the thread pool's shared ones, set when (and only when) the model ends up on torch;
an onnxruntime or OpenVINO session's own); and auto's first-run timing, done once before the workers start,
at the workers' threads, and never again by a worker, also where the model folder is read-only."""

from __future__ import annotations

import os
import shutil
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from serve_helpers import TINY, png_bytes, run_fresh_python, synthetic_slice

import unetkit.inference.auto_backend as auto
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model
from unetkit.serve import pool
from unetkit.serve.jobs import PredictorCache, model_summary


def save_exported(folder: Path, openvino: bool = False) -> Path:
    """A tiny U-Net model folder with its ONNX export in ``export/`` (what auto chooses among), and with
    ``openvino`` its OpenVINO IR too."""
    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "num_classes": 2, **TINY}
    model = create_model("unet", **kwargs).eval()
    config = ModelConfig("unet", kwargs, ["background", "cell"], mean=[0.5], std=[0.25])
    folder = save_model(model, config, folder)
    if openvino:
        from unetkit.export.openvino import export_openvino

        export_openvino(model, config, folder / "export", exporter="legacy")  # the ONNX model as well
    else:
        from unetkit.export import export_onnx

        export_onnx(model, config, folder / "export", exporter="legacy")
    return folder


@pytest.fixture(scope="module")
def exported_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnxruntime")
    return save_exported(tmp_path_factory.mktemp("engine") / "model")


@pytest.fixture(scope="module")
def openvino_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("openvino")
    return save_exported(tmp_path_factory.mktemp("engine_ov") / "model", openvino=True)


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
        health = client.get("/api/health").json()
        assert (health["backend"], health["precision"]) == ("onnxruntime", "fp32")
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


def in_worker(model: Path, backend: str, threads: int | None = 3, kind: str = "process") -> dict[str, Any]:
    """What a worker of ``serve --pool KIND`` runs first: a worker process its initializer then its first
    call (here, in this process); the thread pool its start (in this process, where its threads are)."""
    if kind == "process":
        pool._init_process(str(model), backend, {"device": "cpu"}, threads)
        return pool._process_call("describe")  # type: ignore[no-any-return]
    workers = pool.WorkerPool(
        model, backend=backend, kind="thread", threads_per_worker=threads, backend_options={"device": "cpu"}
    )
    try:
        return workers.start()
    finally:
        workers.close()


KINDS = ["process", "thread"]


def worker_predicts(model: Path, backend: str, threads: int | None, kind: str) -> str:
    """A worker's first prediction (as :func:`in_worker` starts it): the engine's name."""
    if kind == "process":
        pool._init_process(str(model), backend, {"device": "cpu"}, threads)
        cache = pool._PROCESS_CACHE
        assert cache is not None
        predictor = cache.get("none")
    else:
        workers = pool.WorkerPool(
            model,
            backend=backend,
            kind="thread",
            threads_per_worker=threads,
            backend_options={"device": "cpu"},
        )
        try:
            workers.start()
            predictor = workers._cache.get("none")
        finally:
            workers.close()
    predictor.predict(synthetic_slice(32))
    return str(in_worker(model, backend, threads=threads, kind=kind)["backend"])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_a_worker_on_torch_gets_its_threads(
    model_dir: Path, threads_set: list[int], backend: str, kind: str
) -> None:
    """Each torch pass runs at the workers' count (devices.torch_threads sets it for the pass)."""
    threads_set.clear()
    assert worker_predicts(model_dir, backend, 3, kind) == "torch"
    assert threads_set and set(threads_set) == {3}
    threads_set.clear()
    worker_predicts(model_dir, backend, None, kind)  # no --threads for the workers: torch's stay
    assert threads_set == []


def _maskrcnn_worker_cache(model: Path, threads: int | None, kind: str) -> PredictorCache:
    """The predictor cache a worker of ``serve --pool KIND`` predicts a Mask R-CNN with, started as
    :func:`in_worker` starts it."""
    if kind == "process":
        pool._init_process(str(model), "auto", {"device": "cpu"}, threads)
        assert pool._PROCESS_CACHE is not None
        return pool._PROCESS_CACHE
    workers = pool.WorkerPool(
        model, backend="auto", kind="thread", threads_per_worker=threads, backend_options={"device": "cpu"}
    )
    try:
        workers.start()
        return workers._cache
    finally:
        workers.close()


@pytest.mark.parametrize("kind", KINDS)
def test_a_maskrcnn_worker_with_backend_auto_gets_its_threads(
    maskrcnn_dir: Path, threads_set: list[int], kind: str
) -> None:
    """As a U-Net's: torch's count is set for each pass, never for the process at load."""
    assert in_worker(maskrcnn_dir, "auto", kind=kind)["backend"] == "torch"  # a Mask R-CNN runs on torch
    assert threads_set == []
    rgb = np.repeat(synthetic_slice(48)[..., None], 3, axis=2)
    _maskrcnn_worker_cache(maskrcnn_dir, 3, kind).get("none").predict(rgb)
    assert threads_set == [3]


@pytest.mark.parametrize("kind", KINDS)
def test_a_maskrcnn_pass_is_scoped_to_the_workers_threads(
    maskrcnn_dir: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """The thread pool shares this process: a Mask R-CNN's passes run on the workers' count and the
    process's own count is put back after each (it was set for good once the model loaded)."""
    from unetkit.detection.predictor import MaskRCNNPredictor

    monkeypatch.setattr(pool, "_PROCESS_CACHE", None)  # restored afterwards: the initializer sets it
    during: list[int] = []
    original = MaskRCNNPredictor.predict_instances

    def spy(self: MaskRCNNPredictor, *args: Any, **kwargs: Any) -> Any:
        during.append(torch.get_num_threads())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MaskRCNNPredictor, "predict_instances", spy)
    torch.set_num_threads(2)  # the conftest puts the process's count back after the test
    cache = _maskrcnn_worker_cache(maskrcnn_dir, 1, kind)
    predictor = cache.get("none")
    assert torch.get_num_threads() == 2
    rgb = np.repeat(synthetic_slice(48)[..., None], 3, axis=2)
    predictor.predict(rgb)
    predictor.with_params(score_threshold=0.4).predict(rgb)  # a request's own threshold: the same detector
    assert during == [1, 1] and torch.get_num_threads() == 2


@pytest.mark.parametrize("kind", KINDS)
def test_a_worker_auto_put_on_onnxruntime_leaves_torch_alone(
    exported_dir: Path, auto_picks_onnxruntime: None, threads_set: list[int], kind: str
) -> None:
    assert in_worker(exported_dir, "auto", kind=kind)["backend"] == "onnxruntime"
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
    result = run_fresh_python(script)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "onnxruntime"


def test_serve_with_auto_on_onnxruntime_needs_no_torch(exported_dir: Path, tmp_path: Path) -> None:
    """``unetkit serve MODEL`` (thread pool, backend auto) set up with torch imports blocked: auto times the
    engines it can load (onnxruntime only: no eager reference without torch), serves on onnxruntime, and
    neither the thread setting nor the timing imports torch."""
    model = Path(shutil.copytree(exported_dir, tmp_path / "model"))  # no cached choice: auto times here
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None  # any import of torch now fails
        import uvicorn
        from unetkit.cli.main import main
        from unetkit.serve.jobs import served_backend

        def run(server):  # what would be served, instead of serving
            print(served_backend(server.config.app.state.pool._cache.get(), "auto"))

        uvicorn.Server.run = run
        code = main(["serve", {str(model)!r}, "--port", "0", "--threads", "1", "--workers", "2"])
        loaded = [m for m, v in sys.modules.items() if v is not None]
        assert not any(m == "torch" or m.startswith("torch.") for m in loaded)
        sys.exit(code)
        """
    )
    result = run_fresh_python(script)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "onnxruntime"
    assert (model / auto.CACHE_NAME).is_file()


@pytest.mark.parametrize("kind", KINDS)
def test_auto_times_once_before_the_workers_at_their_threads(
    exported_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Without a cached choice, auto's timing runs once, in this process before any worker loads the model,
    with eager PyTorch at the workers' torch threads (then put back); the workers read the cached choice."""
    model = Path(shutil.copytree(exported_dir, tmp_path / "model"))
    before = torch.get_num_threads()
    wanted = 1 if before > 1 else 2  # a count torch does not have already
    timed_at: list[int] = []
    written: list[int] = []
    real_measure, real_write = auto.measure, auto.write_cache

    def measure(*args: Any, **kwargs: Any) -> Any:
        timed_at.append(torch.get_num_threads())
        return real_measure(*args, **kwargs)

    def write_cache(*args: Any, **kwargs: Any) -> Any:
        path = real_write(*args, **kwargs)
        if path is not None:  # None: the folder could not hold the cache
            written.append(os.stat(path).st_mtime_ns)
        return path

    monkeypatch.setattr(auto, "measure", measure)
    monkeypatch.setattr(auto, "write_cache", write_cache)
    workers = pool.WorkerPool(
        model,
        backend="auto",
        kind=kind,
        workers=2,
        threads_per_worker=wanted,
        backend_options={"device": "cpu"},
    )
    try:
        info = workers.start()
    finally:
        workers.close()
    assert timed_at == [wanted]
    # No worker measured again (a worker process would rewrite the cache: this process cannot see it time).
    assert written == [os.stat(model / auto.CACHE_NAME).st_mtime_ns]
    assert info["backend"] in ("torch", "onnxruntime")
    if kind == "process" or info["backend"] != "torch":
        assert torch.get_num_threads() == before  # the timing's count was put back


def served_predictor(model: Path, backend: str, kind: str, threads: int = 3) -> Any:
    """The predictor a worker of ``serve --pool KIND --workers 2 --threads THREADS`` runs: the thread
    pool's (started), or what a worker process's initializer loads (run here, with the pool's arguments)."""
    workers = pool.WorkerPool(
        model,
        backend=backend,
        kind=kind,
        workers=2,
        threads_per_worker=threads,
        backend_options={"device": "cpu"},
    )
    try:
        if kind == "thread":
            workers.start()
            return workers._cache.get()
        pool._init_process(*workers._process_initargs())
        assert pool._PROCESS_CACHE is not None
        return pool._PROCESS_CACHE.get()
    finally:
        workers.close()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", ["onnxruntime", "auto"])
def test_a_worker_on_onnxruntime_gets_its_threads(
    exported_dir: Path, auto_picks_onnxruntime: None, threads_set: list[int], backend: str, kind: str
) -> None:
    session = served_predictor(exported_dir, backend, kind).session.get_session_options()
    assert (session.intra_op_num_threads, session.inter_op_num_threads) == (3, 1)
    assert threads_set == []  # torch's threads left alone


@pytest.mark.openvino
@pytest.mark.parametrize("kind", KINDS)
def test_a_worker_on_openvino_gets_its_threads(openvino_dir: Path, threads_set: list[int], kind: str) -> None:
    """One thread per worker; the thread pool's two workers share one compiled model, with a stream each
    (OpenVINO's thread count is the streams' total), so neither waits for the other."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("OpenVINO caps its threads at the core count: 1 thread is its default on 1 core")
    compiled = served_predictor(openvino_dir, "openvino", kind, threads=1).compiled
    streams = 2 if kind == "thread" else 1
    assert (compiled.get_property("INFERENCE_NUM_THREADS"), compiled.get_property("NUM_STREAMS")) == (
        streams,
        streams,
    )
    assert threads_set == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_read_only_model_folder_is_timed_once_not_by_each_worker(
    exported_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Where auto's choice cannot be cached beside the model, the pool's one timing is still the only one:
    the workers get its choice (and report its engine). Tests run as root here, which writes to a read-only
    folder, so this process's cache write fails instead; spawned workers escape that patch and would write
    the cache had they timed."""
    model = Path(shutil.copytree(exported_dir, tmp_path / "model"))

    def read_only(path: Path, *args: Any, **kwargs: Any) -> Path:
        raise PermissionError(13, "Read-only file system", str(path))

    timings: list[int] = []
    real_measure = auto.measure

    def measure(*args: Any, **kwargs: Any) -> Any:
        timings.append(1)
        return real_measure(*args, **kwargs)

    monkeypatch.setattr(auto, "atomic_write_text", read_only)
    monkeypatch.setattr(auto, "measure", measure)
    workers = pool.WorkerPool(
        model, backend="auto", kind=kind, workers=2, threads_per_worker=1, backend_options={"device": "cpu"}
    )
    try:
        info = workers.start()
    finally:
        workers.close()
    assert len(timings) == 1  # this process's, before the workers
    assert not (model / auto.CACHE_NAME).exists()  # no worker process timed (and cached) either
    chosen = workers.backend_options["choice"]
    assert (info["backend"], info["precision"], info["backend_requested"]) == (
        chosen.backend,
        chosen.precision,
        "auto",
    )
