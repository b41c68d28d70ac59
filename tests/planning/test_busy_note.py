"""The busy-machine note of a plan: the 1-minute load average lags finished work (a machine idle for 30 s
still read busy), so /proc/stat's CPU time over a short window must show the load too (planner audit)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import unetkit.devices as devices
from unetkit.planning.plan import _busy_note


def _machine(monkeypatch: pytest.MonkeyPatch, load: float, ticks: list[tuple[int, int]] | None) -> None:
    """A 2-CPU machine with 1-minute load ``load`` whose /proc/stat reads ``ticks`` (busy, total) in turn,
    over and over (None: no /proc/stat)."""
    readings: Iterator[tuple[int, int]] = itertools.cycle(ticks or [(0, 0)])
    monkeypatch.setattr(devices.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(devices.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(devices, "_cpu_times", lambda: None if ticks is None else next(readings))
    monkeypatch.setattr(time, "sleep", lambda seconds: None)


def test_a_load_average_left_by_finished_work_is_not_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Load 1.8 of 2 CPUs, but over the window 10 of 200 ticks were busy: 0.1 CPUs, the work has ended.
    _machine(monkeypatch, 1.8, [(1000, 5000), (1010, 5200)])
    assert devices.machine_load() is None and devices.busy_load() is None and _busy_note() == ""


def test_a_busy_machine_says_what_was_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    _machine(monkeypatch, 1.8, [(1000, 5000), (1160, 5200)])  # 160 of 200 ticks busy: 1.6 of 2 CPUs
    assert devices.machine_load() == (1.8, 1.6, 2)
    assert devices.busy_load() == (1.8, 2)  # what backend auto records, as before
    assert _busy_note().startswith(
        "the machine was busy while timing (1.6 of 2 CPUs busy just before timing, 1-minute load average "
        "1.8): other work slows the measured steps"
    )


def test_without_proc_stat_the_note_says_the_load_average_lags(monkeypatch: pytest.MonkeyPatch) -> None:
    _machine(monkeypatch, 1.8, None)
    assert devices.machine_load() == (1.8, None, 2)
    assert "(load average over the last minute 1.8 on 2 CPUs)" in _busy_note()
    _machine(monkeypatch, 0.6, None)  # under half the CPUs: idle, nothing sampled
    assert devices.machine_load() is None


def test_proc_stat_is_read_as_busy_and_total_ticks(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  10 2 30 400 50 6 7 8 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(devices, "_PROC_STAT", stat)
        assert devices._cpu_times() == (10 + 2 + 30 + 6 + 7 + 8, 513)
        mp.setattr(devices, "_PROC_STAT", tmp_path / "missing")
        assert devices._cpu_times() is None
