"""A long request can be followed: ``progress_id`` on ``POST /api/predict``, then ``GET /api/progress/{id}``
says its stage and the tiles done of the total (all TTA views), from a worker thread or a worker process;
and a cancel lands between two forward passes (tiles or TTA views)."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
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
from serve_helpers import HeldBatch, hold_a_batch, png_bytes, synthetic_slice, wait_until

from unetkit.inference.backends import load_predictor
from unetkit.serve.app import create_app
from unetkit.serve.jobs import Job, JobCancelled, PredictorCache, RequestOptions, run_job
from unetkit.serve.limits import ServeLimits

ID_A = "a" * 32
ID_B = "b" * 32
SIDE = 256
# 64 px tiles on a 256 px image, 4 flips: dozens of tiles in batches of 4, all TTA views in one total.
TILED = {"tta": "flips", "tile_size": "64"}


@pytest.fixture
def held_batch(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldBatch]:
    yield from hold_a_batch(monkeypatch)


def limits(queue_size: int = 1, timeout_s: float = 60.0, max_pixels: int = 1024 * 1024) -> ServeLimits:
    return ServeLimits(
        max_upload_bytes=4_000_000, max_pixels=max_pixels, queue_size=queue_size, timeout_s=timeout_s
    )


def post(client: TestClient, data: bytes, **form: str) -> httpx.Response:
    return client.post("/api/predict", files={"file": ("big.png", data, "image/png")}, data=form)


def post_in_thread(client: TestClient, data: bytes, **form: str) -> tuple[threading.Thread, list[Any]]:
    answers: list[Any] = []
    thread = threading.Thread(target=lambda: answers.append(post(client, data, **form)), daemon=True)
    thread.start()
    return thread, answers


def tiles_total(model: Path, tta: str, tile_size: int, side: int) -> int:
    """Forward passes of one ``side`` x ``side`` image over all TTA views, counted independently of serve."""
    predictor = load_predictor(model, tile_size=tile_size, tta=tta)
    return int(predictor.tiles_per_image(side, side))


def test_progress_reports_tiles_of_all_views_while_a_tiled_request_runs(
    trained_model_dir: Path, held_batch: HeldBatch
) -> None:
    total = tiles_total(trained_model_dir, "flips", 64, SIDE)
    assert total > 8  # several batches: progress can be seen between them
    with TestClient(create_app(trained_model_dir, workers=1, limits=limits(queue_size=1))) as c:
        missing = c.get(f"/api/progress/{ID_A}")
        assert (
            missing.status_code == 404
            and "has not been admitted yet or has ended" in missing.json()["detail"]
        )
        thread, answers = post_in_thread(c, png_bytes(synthetic_slice(SIDE)), progress_id=ID_A, **TILED)
        # What is seen while the job is held; asserted after its release (a failure must not hang it).
        try:
            reached = held_batch.held.wait(30)
            progress = c.get(f"/api/progress/{ID_A}").json()
            # A second request waits for the one worker: it says so.
            small = png_bytes(synthetic_slice(64))
            second, second_answers = post_in_thread(c, small, progress_id=ID_B, tta="none")
            wait_until(lambda: c.get(f"/api/progress/{ID_B}").status_code == 200, 30)
            waiting = c.get(f"/api/progress/{ID_B}").json()
        finally:
            held_batch.release.set()
            thread.join(60)
        second.join(60)
        assert reached, "the job did not reach its third batch"
        # Held in its third batch: two batches of 4 tiles are done, of every view's tiles together.
        assert progress["stage"] == "predicting", progress
        assert progress["tiles_done"] == 8 and progress["tiles_total"] == total, progress
        assert progress["elapsed_s"] >= 0
        assert waiting.get("stage") == "queued", waiting
        assert answers[0].status_code == 200, answers[0].text
        assert second_answers[0].status_code == 200, second_answers[0].text
        # Once answered, the id is no longer known (and may be used again).
        assert c.get(f"/api/progress/{ID_A}").status_code == 404
        assert post(c, png_bytes(synthetic_slice(64)), progress_id=ID_A, tta="none").status_code == 200


def test_a_progress_id_in_use_is_refused_and_a_bad_one_named(
    trained_model_dir: Path, held_batch: HeldBatch
) -> None:
    with TestClient(create_app(trained_model_dir, workers=1, limits=limits(queue_size=1))) as c:
        thread, answers = post_in_thread(c, png_bytes(synthetic_slice(SIDE)), progress_id=ID_A, **TILED)
        try:
            assert held_batch.held.wait(30)
            again = post(c, png_bytes(synthetic_slice(64)), progress_id=ID_A, tta="none")
        finally:  # released before any assertion: a failure must not leave the job held
            held_batch.release.set()
            thread.join(60)
        assert again.status_code == 409 and "already used by a running request" in again.json()["detail"]
        assert answers[0].status_code == 200, answers[0].text
        bad = post(c, png_bytes(synthetic_slice(64)), progress_id="not-hex", tta="none")
        assert bad.status_code == 422 and bad.json()["detail"].startswith("progress_id:"), bad.text
        # Left empty (as /docs' "Try it out" sends it): not followed, still answered.
        assert post(c, png_bytes(synthetic_slice(64)), progress_id="", tta="none").status_code == 200
        assert c.get("/api/progress/not-hex").status_code == 422


@pytest.mark.slow  # 9 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_progress_reaches_the_client_from_a_worker_process(trained_model_dir: Path) -> None:
    # No patching reaches a spawned worker: an image of thousands of 32 px tiles (8 TTA views, about 4 s
    # here), followed through the pool's shared memory.
    side = 768
    app = create_app(
        trained_model_dir,
        workers=1,
        pool="process",
        threads_per_worker=1,
        limits=limits(queue_size=0, max_pixels=side * side),
    )
    with TestClient(app) as c:
        thread, answers = post_in_thread(
            c, png_bytes(synthetic_slice(side)), progress_id=ID_A, tta="d4", tile_size="32"
        )
        seen: list[dict[str, Any]] = []

        def some_tiles_done() -> bool:
            reply = c.get(f"/api/progress/{ID_A}")
            if reply.status_code == 200:
                seen.append(reply.json())
            return bool(seen) and seen[-1]["tiles_done"] > 0

        try:
            followed = wait_until(some_tiles_done, 4.0)
        finally:
            thread.join(60)
        assert followed, seen
        assert seen[-1]["stage"] == "predicting"
        assert seen[-1]["tiles_total"] == tiles_total(trained_model_dir, "d4", 32, side), seen[-1]
        assert seen[-1]["tiles_done"] < seen[-1]["tiles_total"]
        assert answers[0].status_code == 200, answers[0].text
        assert c.get(f"/api/progress/{ID_A}").status_code == 404


def test_a_cancel_stops_a_whole_image_pass_between_tta_views(
    trained_model_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A small image is one forward pass per TTA view: a cancel cannot stop a pass, but stops the job before
    # the next view (not after all 8), and leaves no result folder.
    from unetkit.inference.predictor import Predictor

    calls: list[int] = []
    real = Predictor._predict_batch

    def counted(self: Any, batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return real(self, batch)

    monkeypatch.setattr(Predictor, "_predict_batch", counted)
    cache = PredictorCache(trained_model_dir)
    job = Job(
        str(tmp_path / "result"),
        png_bytes(synthetic_slice(64)),
        ".png",
        "small.png",
        RequestOptions(tta="d4"),
    )
    reports: list[tuple[str, int, int]] = []
    with pytest.raises(JobCancelled):
        run_job(cache, job, cancelled=lambda: bool(calls), progress=lambda *r: reports.append(r))
    assert calls == [1]  # one view's pass of 8
    assert reports == [("decoding", 0, 0), ("predicting", 0, 8), ("predicting", 1, 8)]
    assert list(tmp_path.iterdir()) == []
    summary = run_job(cache, job)  # not cancelled: all 8 views
    assert len(calls) == 9 and summary["tta"].count(",") == 7, calls
