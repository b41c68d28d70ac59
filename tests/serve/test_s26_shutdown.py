"""Trial 25 S1: ``unetkit serve`` started with ``--backend auto``, which timed the engines at start (OpenVINO
among them), died of a segmentation fault on the first Ctrl-C: no "Shutting down", no 503 to the waiting
client (curl saw only its ``HTTP 100``), the results folder left behind. Each OpenVINO CPU plugin instance
installs an alternate signal stack and puts back the one it found when freed; the timing's engines, freed
in the order they were made, left the main thread's signal stack in freed memory, and Python's signal
handlers run on it. The pool now puts the stack back after timing, and its worker threads leave Ctrl-C and
SIGTERM to the main thread."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

pytest.importorskip("fastapi", reason="unetkit serve needs the 'serve' extra")
httpx = pytest.importorskip("httpx")

from serve_helpers import (  # noqa: E402
    png_bytes,
    run_fresh_python,
    save_tiny_model,
    start_serve,
    synthetic_slice,
    wait_until,
)

from unetkit.serve.pool import SHUTTING_DOWN, WorkerPool  # noqa: E402

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sigaltstack via Linux libc")

# A signal stack left in freed memory, as OpenVINO's engines leave it, by a stub of backend auto's timing;
# then a signal handled on the main thread (a segmentation fault without the pool's repair).
DANGLING = """
import ctypes, os, signal
from types import SimpleNamespace
from unetkit.serve import pool
import unetkit.inference.auto_backend as auto
from unetkit.inference.signal_stack import SignalStack

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
c = ctypes
libc.mmap.argtypes = [c.c_void_p, c.c_size_t, c.c_int, c.c_int, c.c_int, c.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
SIZE = 1 << 16

def timing_that_frees_its_signal_stack(*args, **kwargs):
    addr = libc.mmap(None, SIZE, 3, 0x22, -1, 0)  # PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
    assert libc.sigaltstack(ctypes.byref(SignalStack(addr, 0, SIZE)), None) == 0
    libc.munmap(addr, SIZE)
    return auto.Choice("torch", "fp32", "stub", None)

auto.choose_for = timing_that_frees_its_signal_stack
fake = SimpleNamespace(backend="auto", model="/nonexistent", backend_options={}, threads_per_worker=1)
pool.WorkerPool._choose_backend(fake)
got = []
signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
os.kill(os.getpid(), signal.SIGINT)
print("handled", got)
"""


@linux_only
def test_choosing_the_backend_puts_back_the_signal_stack_it_found() -> None:
    done = run_fresh_python(DANGLING)
    assert done.returncode == 0 and "handled [2]" in done.stdout, (done.returncode, done.stdout, done.stderr)


def test_worker_threads_leave_stop_signals_to_the_main_thread(tmp_path: Path) -> None:
    """A signal sent to the process goes to a thread that does not block it: never a worker inside an
    inference engine (whose signal stack an engine may have made), whatever the main thread is doing."""
    pool = WorkerPool(save_tiny_model(tmp_path / "model"), backend="torch", workers=2)
    try:
        masks = [pool._executor.submit(signal.pthread_sigmask, signal.SIG_BLOCK, []) for _ in range(4)]
        blocked = [f.result(30) for f in masks]
    finally:
        pool.close()
    assert all({signal.SIGINT, signal.SIGTERM} <= mask for mask in blocked), blocked
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # this thread: untouched


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny U-Net with its OpenVINO export (backend auto has engines to time)."""
    from unetkit.export.openvino import export_openvino
    from unetkit.model_files.model_config import ModelConfig
    from unetkit.model_files.model_io import save_model
    from unetkit.models import create_model

    torch.manual_seed(0)
    kwargs: dict[str, Any] = {"in_channels": 1, "num_classes": 2, "depth": 2, "base_channels": 4}
    model = create_model("unet", **kwargs).eval()
    config = ModelConfig("unet", kwargs, ["background", "cell"], [0.5], [0.25])
    folder = tmp_path_factory.mktemp("s26") / "model"
    save_model(model, config, folder)
    export_openvino(model, config, folder / "export", exporter="legacy")
    return folder


# Two OpenVINO engines in the main thread, freed in the order they were made (as the timing frees them).
TWO_ENGINES = """
import os, signal, sys
import openvino as ov
from unetkit.inference.signal_stack import keeping_signal_stack

with keeping_signal_stack():
    first = ov.Core(); a = first.compile_model(sys.argv[1], "CPU")
    second = ov.Core(); b = second.compile_model(sys.argv[1], "CPU")
    del a, first
    del b, second
got = []
signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
os.kill(os.getpid(), signal.SIGINT)
print("handled", got)
"""


@linux_only
@pytest.mark.openvino
def test_openvino_engines_freed_in_order_leave_a_usable_signal_stack(exported: Path) -> None:
    src = str(Path(__file__).resolve().parents[2] / "src")
    done = subprocess.run(
        [sys.executable, "-c", TWO_ENGINES, str(exported / "export" / "model.xml")],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": src},
    )
    assert done.returncode == 0 and "handled [2]" in done.stdout, (done.returncode, done.stdout, done.stderr)


# The served engine (auto's choice: torch, OpenVINO or onnxruntime) slowed, 0.3 s a batch of tiles, so
# that the request is still running at Ctrl-C.
SERVER = """
import sys, time
from unetkit.inference.ort_backend import OrtPredictor
from unetkit.inference.ov_backend import OvPredictor
from unetkit.inference.predictor import Predictor
def slowed(real):
    def slow(self, batch):
        time.sleep(0.3)
        return real(self, batch)
    return slow
for engine in (OvPredictor, OrtPredictor, Predictor):
    engine._predict_batch = slowed(engine._predict_batch)
from unetkit.cli.main import main
sys.exit(main(["serve", {model!r}, "--port", "0", "--backend", "auto", "--threads", "1", "--workers", "1"]))
"""


@linux_only
@pytest.mark.openvino
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_a_server_that_timed_openvino_answers_and_cleans_up(
    exported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: signal.Signals
) -> None:
    """The trial's sequence: backend auto times the engines at start, a request runs, the server is stopped:
    the log says so, the client gets the JSON 503, the exit code is Ctrl-C's or SIGTERM's, the folder goes."""
    model = tmp_path / "model"
    import shutil

    shutil.copytree(exported, model)  # a cache of its own: timed at this start
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    proc, url, lines = start_serve([sys.executable, "-c", SERVER.format(model=str(model))])
    answer: dict[str, Any] = {}

    def client() -> None:
        files = {"file": ("big.png", png_bytes(synthetic_slice(576)), "image/png")}
        try:
            response = httpx.post(
                url + "/api/predict", files=files, data={"tta": "none", "tile_size": "32"}, timeout=60
            )
            answer["status"], answer["body"] = response.status_code, response.text
        except httpx.HTTPError as exc:
            answer["error"] = repr(exc)

    thread = threading.Thread(target=client)
    try:
        thread.start()
        running = lambda: httpx.get(url + "/api/health", timeout=10).json()["pool"]["running"] > 0  # noqa: E731
        assert wait_until(running, 30), "the request never started"
        assert list(temp.glob("unetkit-serve-*")), "no results folder while serving"
        time.sleep(1.0)
        proc.send_signal(stop)
        code = proc.wait(timeout=30)
        thread.join(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = "".join(lines)
    assert "timing " in output and "openvino-fp32" in output, output  # OpenVINO timed at start
    assert code == (130 if stop == signal.SIGINT else 143), (code, output)
    assert "Shutting down" in output and ": 503 the server is shutting down" in output, output
    assert answer.get("status") == 503 and "shutting down" in answer["body"], (answer, output)
    assert not list(temp.glob("unetkit-serve-*")), output


def test_a_request_the_shutdown_cancels_is_answered_with_the_json_503() -> None:
    """uvicorn's forced exit (a second Ctrl-C) cancels a request whose upload is still arriving: the
    client gets the 503 JSON, the console one line, no "Exception in ASGI application" traceback."""
    from unetkit.serve.app import ShutdownAnswer

    async def reading_forever(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(3600)

    async def cancelled(closing: bool) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        app = ShutdownAnswer(reading_forever, pool=SimpleNamespace(closing=closing))  # type: ignore[arg-type]
        task = asyncio.ensure_future(
            app({"type": "http", "method": "POST", "path": "/api/predict"}, None, send)
        )
        await asyncio.sleep(0.05)
        task.cancel()
        await task
        return sent

    sent = asyncio.run(cancelled(closing=True))
    assert sent[0]["status"] == 503 and json.loads(sent[1]["body"]) == {"detail": SHUTTING_DOWN}
    with pytest.raises(asyncio.CancelledError):  # not stopping: the cancellation goes on
        asyncio.run(cancelled(closing=False))


TORCH_SERVER = """
import sys
from unetkit.cli.main import main
sys.exit(main(["serve", {model!r}, "--port", "0", "--backend", "torch", "--threads", "1", "--workers", "1"]))
"""


def test_two_ctrl_c_during_an_upload_answer_the_client_and_remove_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    model = save_tiny_model(tmp_path / "model")
    proc, url, lines = start_serve([sys.executable, "-c", TORCH_SERVER.format(model=str(model))])
    host, port = url.removeprefix("http://").split(":")
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + png_bytes(synthetic_slice(256)) + b"\r\n--B--\r\n"
    )
    head = (
        f"POST /api/predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=B\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    reply = b""
    try:
        with socket.create_connection((host, int(port)), timeout=30) as conn:
            conn.sendall(head + body[: len(body) // 2])  # the rest never comes: still uploading
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)  # uvicorn's forced exit
            code = proc.wait(timeout=30)
            with contextlib.suppress(OSError):
                while chunk := conn.recv(65536):
                    reply += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = "".join(lines)
    assert code == 130, output
    assert "Traceback" not in output and "Exception in ASGI" not in output, output
    assert f"POST /api/predict: 503 {SHUTTING_DOWN}" in output, output
    assert reply.startswith(b"HTTP/1.1 503") and SHUTTING_DOWN.encode() in reply, reply
    assert not list(temp.glob("unetkit-serve-*")), output
