"""One Mask R-CNN shared by threads (serve's pool): each call's score threshold holds for its whole pass."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from unetkit.detection.predictor import _SharedThreshold


def test_a_call_with_another_threshold_waits_and_the_model_gets_its_own_back() -> None:
    """Set and restored per call, a 0.9 call starting inside a 0.3 one cut the 0.3 call's detections to
    those above 0.9, and the two restores left the model at 0.3 (its own 0.05 lost)."""
    heads = SimpleNamespace(score_thresh=0.05)
    gate = _SharedThreshold()
    inside_low, seen_in_low, high_ran = threading.Event(), [], threading.Event()
    release_low = threading.Event()

    def low() -> None:
        with gate.held(heads, 0.3):
            inside_low.set()
            release_low.wait(5)
            seen_in_low.append(heads.score_thresh)

    def high() -> None:
        with gate.held(heads, 0.9):
            seen_in_low.append(("high", heads.score_thresh))
            high_ran.set()

    first = threading.Thread(target=low)
    first.start()
    assert inside_low.wait(5)
    second = threading.Thread(target=high)
    second.start()
    assert not high_ran.wait(0.3)  # waits while the 0.3 call runs
    release_low.set()
    first.join(5)
    second.join(5)
    assert seen_in_low == [0.3, ("high", 0.9)]
    assert heads.score_thresh == 0.05


def test_calls_with_the_threshold_in_force_run_together() -> None:
    heads = SimpleNamespace(score_thresh=0.05)
    gate = _SharedThreshold()
    both_inside = threading.Barrier(2, timeout=5)

    def call() -> None:
        with gate.held(heads, 0.5):
            both_inside.wait()  # raises BrokenBarrierError if the second call had to wait for the first
            assert heads.score_thresh == 0.5

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not both_inside.broken and heads.score_thresh == 0.05
