"""A request given up (504 after ``--timeout``, the server shutting down) stops its job: the worker is free
for the next request at once, and no result folder or results root is left behind."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="unetkit serve needs the 'serve' extra")
pytest.importorskip("httpx", reason="the API tests need httpx")

import httpx

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # Starlette now prefers the httpx2 fork; httpx works
    from fastapi.testclient import TestClient
from serve_helpers import png_bytes, synthetic_slice, wait_until

from unetkit.serve import app as app_module
from unetkit.serve import jobs as jobs_module
from unetkit.serve.app import create_app
from unetkit.serve.jobs import Job, RequestOptions
from unetkit.serve.limits import Rejected, ServeLimits
from unetkit.serve.pool import WorkerPool

# 576 x 576 in 32 px tiles (24 px apart): 576 tiles, 144 batches of 4; at >= 0.1 s a batch, 14 s or more.
BIG = 576
SLOW = {"tta": "none", "tile_size": "32"}


@dataclass
class SlowBatches:
    """Every forward pass of a torch predictor takes ``delay`` s more until ``release`` is set."""

    delay: float = 0.1
    calls: int = 0
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def slow_batches(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlowBatches]:
    from unetkit.inference.predictor import Predictor

    state = SlowBatches()
    real = Predictor._predict_batch

    def slow(self: Any, batch: np.ndarray) -> np.ndarray:
        state.calls += 1
        state.release.wait(state.delay)
        return real(self, batch)

    monkeypatch.setattr(Predictor, "_predict_batch", slow)
    yield state
    state.release.set()  # a job still running (a break of the code under test) ends quickly


def limits(timeout_s: float, max_pixels: int = BIG * BIG) -> ServeLimits:
    return ServeLimits(max_upload_bytes=4_000_000, max_pixels=max_pixels, queue_size=0, timeout_s=timeout_s)


def post(client: TestClient, data: bytes, **form: str) -> httpx.Response:
    return client.post("/api/predict", files={"file": ("big.png", data, "image/png")}, data=form)


def results_in(root: Path) -> list[Path]:
    return [p for p in root.iterdir() if not p.name.startswith(".")] if root.exists() else []


def running(client: TestClient) -> int:
    return int(client.get("/api/health").json()["pool"]["running"])


def test_a_timed_out_job_stops_and_frees_its_worker(
    trained_model_dir: Path, slow_batches: SlowBatches
) -> None:
    big = png_bytes(synthetic_slice(BIG))
    with TestClient(create_app(trained_model_dir, workers=1, limits=limits(0.5))) as c:
        response = post(c, big, **SLOW)
        assert response.status_code == 504 and "--timeout" in response.json()["detail"]
        # The job stops after its current batch of tiles (a second at most here), not 14 s later.
        assert wait_until(lambda: running(c) == 0, 5.0), c.get("/api/health").json()
        calls = slow_batches.calls
        time.sleep(0.4)
        assert slow_batches.calls == calls  # nothing runs on in the background
        assert results_in(c.app.state.store.root) == []  # type: ignore[attr-defined]
        # The one worker takes the next request (it was 503 while the given-up job held it).
        slow_batches.release.set()
        after = post(c, png_bytes(synthetic_slice(64)), tta="none")
        assert after.status_code == 200, after.text
        assert c.get("/api/health").json()["pool"]["served"] == 1


def test_a_timed_out_job_stops_in_a_worker_process(trained_model_dir: Path) -> None:
    # No patching reaches a spawned worker: an image big enough to take many seconds in 32 px tiles with
    # 8 TTA views (1024 x 1024: 32768 tiles), cancelled through the pool's shared-memory flag.
    side = 1024
    big = png_bytes(synthetic_slice(side))
    app = create_app(
        trained_model_dir, workers=1, pool="process", threads_per_worker=1, limits=limits(1.0, side * side)
    )
    with TestClient(app) as c:
        started = time.monotonic()
        response = post(c, big, tta="d4", tile_size="32")
        assert response.status_code == 504, response.text
        assert wait_until(lambda: running(c) == 0, 4.0), c.get("/api/health").json()
        assert time.monotonic() - started < 8.0
        assert post(c, png_bytes(synthetic_slice(64)), tta="none").status_code == 200


def test_shutdown_stops_a_given_up_job_and_removes_the_results_folder(
    trained_model_dir: Path, slow_batches: SlowBatches
) -> None:
    app = create_app(trained_model_dir, workers=1, limits=limits(0.5))
    root = app.state.store.root
    with TestClient(app) as c:
        assert post(c, png_bytes(synthetic_slice(BIG)), **SLOW).status_code == 504
    # Shutdown (Ctrl-C) cancelled the job and waited for it: nothing runs, the folder is gone.
    assert app.state.pool.stats()["running"] == 0
    calls = slow_batches.calls
    time.sleep(0.4)
    assert slow_batches.calls == calls
    assert not root.exists()


def test_closing_the_pool_stops_its_running_jobs(
    trained_model_dir: Path, slow_batches: SlowBatches, tmp_path: Path
) -> None:
    # A job nobody gave up yet (its client still waits) when the server stops: close() cancels it.
    pool = WorkerPool(trained_model_dir, workers=1, queue_size=0)
    pool.start()
    options = RequestOptions(tta="none", tile_size=32)
    job = Job(str(tmp_path / "result"), png_bytes(synthetic_slice(BIG)), ".png", "big.png", options)

    async def scenario() -> tuple[bool, BaseException | None]:
        task = asyncio.create_task(pool.run(job, 60.0))
        while slow_batches.calls == 0:  # running
            await asyncio.sleep(0.02)
        closed = await asyncio.to_thread(pool.close, 5.0)
        try:
            await task
        except Rejected as exc:
            return closed, exc
        return closed, None

    closed, error = asyncio.run(scenario())
    assert closed  # stopped within the wait, not 14 s later
    assert isinstance(error, Rejected) and error.status_code == 503 and "shutting down" in str(error.detail)
    assert list(tmp_path.iterdir()) == []


def test_a_job_that_does_not_stop_in_time_still_leaves_no_folder(
    trained_model_dir: Path, slow_batches: SlowBatches, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A job that cannot be stopped (a step without a cancel check) outlives the shutdown's wait, then
    # writes its files, re-creating the removed results folder: it must be removed again when the job ends.
    monkeypatch.setattr(jobs_module, "check_cancelled", lambda: None)
    monkeypatch.setattr(app_module, "SHUTDOWN_WAIT_S", 0.2)
    slow_batches.delay = 0.02  # about 3 s for the whole image
    app = create_app(trained_model_dir, workers=1, limits=limits(0.3))
    root = app.state.store.root
    with TestClient(app) as c:
        assert post(c, png_bytes(synthetic_slice(BIG)), **SLOW).status_code == 504
    assert app.state.pool.stats()["running"] == 1  # still running after the shutdown's wait
    slow_batches.release.set()
    assert app.state.pool.close(30.0)  # it ended
    assert not root.exists()


def test_the_command_removes_the_results_folder_when_uvicorn_fails(
    trained_model_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # uvicorn stops before the app's shutdown runs (here: its run raises): the command cleans up itself.
    import uvicorn

    from unetkit.cli.main import main

    roots: list[Path] = []
    real_create_app = app_module.create_app

    def recording_create_app(*args: Any, **kwargs: Any) -> Any:
        app = real_create_app(*args, **kwargs)
        roots.append(app.state.store.root)
        return app

    def failing_run(self: Any) -> None:
        raise KeyboardInterrupt  # e.g. Ctrl-C before the server started

    monkeypatch.setattr(app_module, "create_app", recording_create_app)
    monkeypatch.setattr(uvicorn.Server, "run", failing_run)
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        main(["serve", str(trained_model_dir), "--port", "0", "--threads", "1", "--workers", "1"])
    assert len(roots) == 1 and not roots[0].exists()


def multipart(data: bytes, **form: str) -> tuple[bytes, bytes]:
    """(body, content-type) of a multipart upload of ``data`` as ``file`` plus ``form`` fields."""
    request = httpx.Request(
        "POST", "http://test/api/predict", files={"file": ("big.png", data, "image/png")}, data=form
    )
    return request.read(), request.headers["content-type"].encode()


def test_a_client_that_leaves_cancels_its_job(trained_model_dir: Path, slow_batches: SlowBatches) -> None:
    # The client closes its connection (a reloaded page, the page's Cancel button) while its job runs:
    # the server hears it as http.disconnect from receive(), as uvicorn sends it, and stops the job.
    app = create_app(trained_model_dir, workers=1, limits=limits(60.0))
    pool = app.state.pool
    body, content_type = multipart(png_bytes(synthetic_slice(BIG)), **SLOW)

    async def scenario() -> list[dict[str, Any]]:
        gone = asyncio.Event()
        sent: list[dict[str, Any]] = []
        body_read = False

        async def receive() -> dict[str, Any]:
            nonlocal body_read
            if not body_read:
                body_read = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/api/predict",
            "raw_path": b"/api/predict",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 1234),
            "server": ("127.0.0.1", 80),
        }
        request = asyncio.create_task(app(scope, receive, send))
        while slow_batches.calls == 0:  # running
            await asyncio.sleep(0.02)
        gone.set()
        await asyncio.wait_for(request, 5.0)  # answered at once, not after the job's 14 s
        return sent

    try:
        sent = asyncio.run(scenario())
        assert sent and sent[0]["status"] == 499, sent
        # The job stopped after its current batch of tiles, and its worker is free.
        assert wait_until(lambda: pool.stats()["running"] == 0, 5.0), pool.stats()
        calls = slow_batches.calls
        time.sleep(0.4)
        assert slow_batches.calls == calls  # nothing runs on in the background
        assert pool.stats()["served"] == 0
        assert results_in(app.state.store.root) == []
    finally:
        app_module.close_server(pool, app.state.store)
