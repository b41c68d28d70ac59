"""Trial 25 S6: ``unetkit serve`` logged "timed on a busy machine; measuring again now that it is idle" and,
right after, "the machine was busy while timing (1-minute load 3.0 on 2 CPUs)": two load readings a few
seconds apart (the second while its own engines loaded), and a choice timed again at every start while the
machine stayed busy. One reading now decides both; a busy-timed choice on a still-busy machine is kept and
said so. Onnxruntime only (no OpenVINO in this process); the load reading is stubbed."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("onnxruntime")

from tests.inference.test_auto_backend_trials import onnx_run

import unetkit.inference.auto_backend as auto

BUSY = (3.0, 2)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return onnx_run(tmp_path / "run")


def readings(monkeypatch: pytest.MonkeyPatch, *values: tuple[float, int] | None) -> list[int]:
    """``busy_load`` answers ``values`` in turn (the last one after); returns the list its calls count in."""
    calls: list[int] = []

    def fake() -> tuple[float, int] | None:
        calls.append(1)
        return values[min(len(calls), len(values)) - 1]

    monkeypatch.setattr(auto, "busy_load", fake)
    return calls


def busy_cache(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], auto.Choice]:
    """A choice timed (and cached) while the machine was busy; returns how to choose again."""
    readings(monkeypatch, BUSY)
    first = auto.choose(run_dir / "export", size=32, rounds=1)
    assert json.loads(auto.cache_path(run_dir / "export").read_text())["busy_load"] == 3.0
    assert "the machine was busy while timing" in first.reason
    return lambda: auto.choose(run_dir / "export", size=32, rounds=1)


def test_idle_now_is_said_only_from_the_reading_the_timing_uses(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    again = busy_cache(run_dir, monkeypatch)
    # Idle when the cache is checked; busy a moment later (the trial: its own engines loading).
    calls = readings(monkeypatch, None, BUSY)
    caplog.clear()  # the first timing's lines
    with caplog.at_level(logging.INFO, logger="unetkit"):
        choice = again()
    assert len(calls) == 1  # one reading for both decisions
    assert not choice.cached and "busy" not in choice.reason
    lines = [r.getMessage() for r in caplog.records]
    assert any("timed on a busy machine (1-minute load 3.0); the machine is idle now" in m for m in lines)
    assert not any("was busy while timing" in m for m in lines)
    assert json.loads(auto.cache_path(run_dir / "export").read_text())["busy_load"] is None
    assert again().cached  # timed when idle: the next start reuses it


def test_a_busy_timed_choice_is_kept_and_said_so_while_the_machine_stays_busy(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    again = busy_cache(run_dir, monkeypatch)
    calls = readings(monkeypatch, BUSY)
    caplog.clear()  # the first timing's lines
    with caplog.at_level(logging.INFO, logger="unetkit"):
        kept = again()
    assert kept.cached and len(calls) == 1
    assert "timed on a busy machine, and it is still busy: 1-minute load 3.0 on 2 CPUs; kept" in kept.reason
    assert not any("measuring again" in r.getMessage() for r in caplog.records)
    assert not any("timing " in r.getMessage() for r in caplog.records)  # nothing timed


def test_a_fresh_timing_reads_the_load_once_before_its_engines_load(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = readings(monkeypatch, None, BUSY)
    seen: list[int] = []
    real = auto.build_predictors

    def build(*args: Any, **kwargs: Any) -> Any:
        seen.append(len(calls))  # readings taken before the engines load
        return real(*args, **kwargs)

    monkeypatch.setattr(auto, "build_predictors", build)
    choice = auto.choose(run_dir / "export", size=32, rounds=1)
    assert seen == [1] and len(calls) == 1
    assert "busy" not in choice.reason
