"""Ctrl-C on a real ``unetkit serve`` process while a prediction runs: the server stops within seconds (not
at ``--timeout``), the waiting client gets the one-line JSON 503 of every other error, and the console shows
no traceback, also after a second Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="unetkit serve needs the 'serve' extra")
httpx = pytest.importorskip("httpx")

from serve_helpers import png_bytes, start_serve, synthetic_slice, wait_until  # noqa: E402

# The server process slows every batch of tiles (no patch reaches it from here): 576 x 576 in 32 px tiles
# is 144 batches, over 40 s at 0.3 s each, so only a cancelled job ends within the test's few seconds. With
# {first_batch_s} = 5 the first batch takes 5 s, a step the job cannot be cancelled in (it checks between
# batches): the first Ctrl-C cannot end it at once, a second one forces the exit.
SERVER = """
import sys, time
from unetkit.inference.predictor import Predictor
real = Predictor._predict_batch
calls = []
def slow(self, batch):
    calls.append(1)
    time.sleep({first_batch_s} if len(calls) == 1 else 0.3)
    return real(self, batch)
Predictor._predict_batch = slow
from unetkit.cli.main import main
sys.exit(main(["serve", {model!r}, "--port", "0", "--threads", "1", "--workers", "1", "--timeout", "120"]))
"""


def start_server(model: Path, uncancellable: bool) -> tuple[subprocess.Popen[str], str, list[str]]:
    script = SERVER.format(model=str(model), first_batch_s=5.0 if uncancellable else 0.3)
    return start_serve([sys.executable, "-c", script])


@pytest.mark.parametrize(
    "second_ctrl_c",
    [
        pytest.param(False, id="one-ctrl-c"),
        # 9 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes (test_s26_shutdown.py gives a
        # server two Ctrl-C during an upload in the default suite).
        pytest.param(True, id="two-ctrl-c", marks=pytest.mark.slow),
    ],
)
def test_ctrl_c_stops_a_running_request_promptly_and_quietly(
    trained_model_dir: Path, second_ctrl_c: bool
) -> None:
    # Two Ctrl-C: the job is in a 5 s batch, which the first cannot end at once; the second forces the exit.
    proc, url, lines = start_server(trained_model_dir, uncancellable=second_ctrl_c)
    answer: dict[str, Any] = {}

    def client() -> None:
        files = {"file": ("big.png", png_bytes(synthetic_slice(576)), "image/png")}
        try:
            response = httpx.post(
                url + "/api/predict", files=files, data={"tta": "none", "tile_size": "32"}, timeout=60
            )
            answer["status"] = response.status_code
            answer["type"] = response.headers.get("content-type", "")
            answer["body"] = response.text
        except httpx.HTTPError as exc:
            answer["error"] = repr(exc)

    thread = threading.Thread(target=client)
    try:
        thread.start()
        running = lambda: httpx.get(url + "/api/health", timeout=10).json()["pool"]["running"] > 0  # noqa: E731
        assert wait_until(running, 30), "the request never started"
        time.sleep(1.0)  # a few batches into the job
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        if second_ctrl_c:
            time.sleep(1.0)
            proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        stopped_s = time.monotonic() - started
        thread.join(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = "".join(lines)
    # The startup line says what is served (not only uvicorn's address), and every request gets a line.
    assert "serving unet (2 classes: membrane, cell) on torch" in output, output
    assert "predict big.png (" in output and ": 503 the server is shutting down" in output, output
    assert code == 130, output
    assert stopped_s < 8.0, (stopped_s, output)  # the README promises at most 10 s, not --timeout's 120
    assert "Traceback" not in output and "Exception in ASGI" not in output, output
    assert answer.get("status") == 503, (answer, output)
    assert answer["type"] == "application/json" and "shutting down" in answer["body"], answer
