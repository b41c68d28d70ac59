"""One configuration timed more than once (thread probe, candidate, the alternating re-timings) has one step
time in the plan: the fastest of its timings (other work only ever slows a step). A user trial's busy machine
timed ``unet b8 d4 128x128 x16 32-true`` at 0.346 s/step in the thread probe and 2.906 s/step as a
candidate; the plan predicted 34 steps from the slow one and warned of too few, and its run made 108.
Timings more than TIMINGS_DISAGREE x apart are named in one note. The steps are simulated (no training)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from test_plan import make_fp

import unetkit
import unetkit.planning.plan as plan_module
from unetkit.planning.plan import (
    BF16_RETIMING,
    CANDIDATE_TIMING,
    LAYOUT_RETIMING,
    MIN_USEFUL_STEPS,
    THREAD_PROBE_TIMING,
    TIMINGS_NOTE,
    Candidate,
    Machine,
    choose_geometry,
    choose_precision,
    confirm_at_trained_width,
    make_plan,
    measure_candidates,
    with_timings,
)

FP = make_fp()
GEO = choose_geometry(FP, "cpu")
CANDS = [Candidate(w, GEO.depth, GEO.crop, GEO.batch) for w in (8, 12)]
B8, B12 = CANDS[0].label, CANDS[1].label
B8_BF16 = dataclasses.replace(CANDS[0], precision="bf16-mixed").label
B12_BF16 = dataclasses.replace(CANDS[1], precision="bf16-mixed").label


def fake_steps(monkeypatch: pytest.MonkeyPatch, seconds: Callable[[str, int, bool], float]) -> None:
    """TrainingStep stand-in: a step of configuration ``label`` takes ``seconds(label, n, nhwc)``, ``n`` the
    count of steps built for it before (0: the candidate's own timing, then the re-timings')."""
    built: dict[str, int] = {}

    class FakeStep:
        def __init__(
            self, cand: Candidate, *args: Any, precision: Any = None, channels_last: Any = None, **_: Any
        ) -> None:
            if len(args) >= 4 and precision is None:  # (in_channels, num_classes, device, precision)
                precision = args[3]
            label = dataclasses.replace(cand, precision=precision or cand.precision).label
            self.time = seconds(label, built.get(label, 0), channels_last is not False)
            built[label] = built.get(label, 0) + 1
            self.model, self.optimizer = torch.nn.Linear(1, 1), None

        def __call__(self) -> float:
            return self.time

    monkeypatch.setattr(plan_module, "TrainingStep", FakeStep)
    monkeypatch.setattr(plan_module, "checkpoint_write_seconds", lambda model, optimizer: 0.0)
    monkeypatch.setattr(plan_module, "_busy_note", lambda: "")


def timings_note(machine: Machine) -> str:
    return next((n for n in machine.notes if n.startswith(TIMINGS_NOTE)), "")


def test_the_thread_probes_fast_timing_is_the_plans_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trial's case: the probe's 0.346 s/step, the candidate's 2.906 (a burst of other work)."""
    fake_steps(monkeypatch, lambda label, n, nhwc: {B8: 2.906, B12: 4.0}[label] * (1.0 if nhwc else 1.1))
    probe = {B8: {THREAD_PROBE_TIMING: 0.346}}
    busy = measure_candidates(CANDS, 1, 2, "cpu", steps=1, warmup=0, bf16=False, earlier=probe)
    assert busy.step_seconds == {B8: 0.346, B12: 4.0}
    assert busy.timings[B8] == {THREAD_PROBE_TIMING: 0.346, CANDIDATE_TIMING: 2.906, LAYOUT_RETIMING: 2.906}
    note = timings_note(busy)
    assert note.startswith(f"{TIMINGS_NOTE} by more than 2x: {B8} 0.346s/step (thread probe) against ")
    assert "2.906s/step (candidate), 8.4x" in note and B12 not in note and "\n" not in note
    assert note == busy.notes[-1]  # one line, after the re-timings' notes
    # The steps, the prediction fit compares with, and the warnings all come from 0.346 s/step.
    plan = make_plan(FP, 120, "cpu", busy, geometry=GEO)
    row = next(r for r in plan.table if r["candidate"] == B8)
    assert row["step_seconds"] == plan.summary["predicted_step_seconds"] == 0.346
    assert row["steps_in_budget"] >= MIN_USEFUL_STEPS
    assert not any("too few to train a useful model" in w for w in plan.warnings)
    # Without the probe's timing the slow one stands (and warns), as before.
    alone = measure_candidates(CANDS, 1, 2, "cpu", steps=1, warmup=0, bf16=False)
    assert alone.step_seconds[B8] == 2.906 and timings_note(alone) == ""
    slow = make_plan(FP, 120, "cpu", alone, geometry=GEO)
    assert any("too few to train a useful model" in w for w in slow.warnings)


def test_the_bf16_re_timings_steps_count_and_the_precision_reason_shows_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The candidate's fp32 b8 step caught a burst (2.9 s against 0.35 s re-timed): the first speed-up read
    9.67x beside a re-timed 1.21x. The plan's figure for b8 fp32 is the fastest (0.35: over 2x below the
    candidate's), for b8 bf16 the candidate's own (0.3 against 0.29: within 2x)."""
    first = {B8: 2.9, B8_BF16: 0.3, B12: 0.6, B12_BF16: 0.5}
    again = {B8: 0.35, B8_BF16: 0.29}
    fake_steps(monkeypatch, lambda label, n, nhwc: (first if n == 0 else again)[label] * (1 if nhwc else 2))
    monkeypatch.setattr(plan_module, "_retime_width", lambda timings, cands: cands[0])
    m = measure_candidates(CANDS, 1, 2, "cpu", steps=1, warmup=0, bf16=True)
    assert m.bf16_confirmed == round(0.35 / 0.29, 4)
    assert m.step_seconds == {B8: 0.35, B8_BF16: 0.3, B12: 0.6, B12_BF16: 0.5}
    assert m.timings[B8] == {CANDIDATE_TIMING: 2.9, BF16_RETIMING: 0.35, LAYOUT_RETIMING: 0.35}
    assert m.timings[B8_BF16] == {CANDIDATE_TIMING: 0.3, BF16_RETIMING: 0.29}
    note = timings_note(m)
    assert f"{B8} 0.350s/step (bf16 re-timing) against 2.900s/step (candidate), 8.3x" in note
    assert B8_BF16 not in note  # 0.3 against 0.29: within 2x
    why = choose_precision(m)[1]
    words = "timings (each candidate's own, or its fastest where they were over 2x apart)"
    assert f"{words} b8 1.17x, b12 1.20x" in why and "9.67x" not in why


def test_an_idle_machines_timings_within_2x_have_no_note(monkeypatch: pytest.MonkeyPatch) -> None:
    first = {B8: 0.30, B8_BF16: 0.25, B12: 0.6, B12_BF16: 0.5}
    fake_steps(monkeypatch, lambda label, n, nhwc: first[label] * (1.0 if n == 0 else 0.95))
    monkeypatch.setattr(plan_module, "_retime_width", lambda timings, cands: cands[0])
    m = measure_candidates(CANDS, 1, 2, "cpu", steps=1, warmup=0, bf16=True, earlier={B8: {"probe": 0.31}})
    assert timings_note(m) == "" and not any("disagree" in n for n in m.notes)
    # Within 2x the candidate's own timing stands (the fastest of several idle timings is biased low).
    assert m.step_seconds[B8] == 0.30 and m.step_seconds[B12] == 0.6
    assert "first timings" in choose_precision(m)[1]


def test_the_re_timing_at_the_trained_width_counts_and_the_plan_is_made_with_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timings = {B8: 0.8, B8_BF16: 0.8 / 1.48, B12: 1.6, B12_BF16: 1.6 / 1.65}
    machine = Machine(
        "cpu", "t", ("avx512_bf16",), True, 2, timings, bf16_confirmed=1.21, bf16_confirmed_width=8
    )

    def fake_confirm(cand: Candidate, *args: Any) -> float:
        seconds: dict[str, float] = args[4]
        seconds.update({B12: 0.5, B12_BF16: 0.3})
        return round(0.5 / 0.3, 4)

    monkeypatch.setattr(plan_module, "confirm_bf16_speedup", fake_confirm)
    made: list[Machine] = []

    def replan(measured: Machine, forced: str | None = None) -> Any:
        """A make_plan stand-in: the bf16 plan trains base 12; the plan made again is a marker."""
        made.append(measured)
        kwargs = {"base_channels": 12, "depth": GEO.depth}
        return SimpleNamespace(config={"model": {"kwargs": kwargs}}) if forced else "made again"

    plan, after = confirm_at_trained_width(SimpleNamespace(), machine, CANDS, replan, 1, 2)  # type: ignore[arg-type]
    assert plan == "made again" and made[-1] is after
    assert after.step_seconds == {B8: 0.8, B8_BF16: 0.8 / 1.48, B12: 0.5, B12_BF16: 0.3}
    assert after.timings[B12] == {CANDIDATE_TIMING: 1.6, BF16_RETIMING: 0.5}
    assert after.notes[-2].startswith("bf16 autocast re-timed again at b12")
    assert after.notes[-1].startswith(TIMINGS_NOTE) and "3.2x" in after.notes[-1]
    assert f"{B12_BF16} 0.300s/step (bf16 re-timing) against 0.970s/step (candidate)" in after.notes[-1]


def test_with_timings_keeps_one_note_and_the_candidates_only() -> None:
    machine = Machine("cpu", "t", (), False, 2, {B8: 1.0, B12: 2.0}, notes=("busy",))
    assert with_timings(machine, {}, BF16_RETIMING) is machine
    once = with_timings(machine, {B8: 0.4, "unet b8 d4 512x512 x2 32-true": 0.1}, THREAD_PROBE_TIMING)
    assert once.step_seconds == {B8: 0.4, B12: 2.0}  # a configuration no candidate has: recorded only
    assert once.timings["unet b8 d4 512x512 x2 32-true"] == {THREAD_PROBE_TIMING: 0.1}
    assert once.notes[0] == "busy" and once.notes[1].startswith(TIMINGS_NOTE) and len(once.notes) == 2
    twice = with_timings(once, {B12: 0.5, B8: 0.45}, BF16_RETIMING)
    assert twice.step_seconds == {B8: 0.4, B12: 0.5}
    assert len(twice.notes) == 2 and B12 in twice.notes[1] and "4.0x" in twice.notes[1]
    # A source's second timing of one configuration: the faster counts.
    assert with_timings(twice, {B12: 0.7}, BF16_RETIMING).timings[B12][BF16_RETIMING] == 0.5


def test_plan_folder_counts_the_thread_probes_step(
    make_dataset: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, two_threads: None
) -> None:
    def seconds(label: str, n: int, nhwc: bool) -> float:
        """The thread probe builds the first step of base 8 in fp32 (0.346 s); every other is slow."""
        if n == 0 and label.startswith("unet b8 ") and label.endswith(" 32-true"):
            return 0.346
        width = int(label.split()[1][1:])
        return 2.906 * width / 8 * (1.2 if not label.endswith(" 32-true") else 1.0)

    fake_steps(monkeypatch, seconds)
    planned = unetkit.plan_folder(make_dataset(n=12), budget="2m", device="cpu")
    plan = planned.plan
    (probe,) = [
        k for k in plan.summary["step_seconds"] if k.startswith("unet b8 ") and k.endswith(" 32-true")
    ]
    assert plan.summary["step_seconds"][probe] == 0.346 == plan.summary["predicted_step_seconds"]
    assert not any("too few to train" in w for w in plan.warnings), plan.warnings
    note = next(n for n in plan.summary["measure_notes"] if n.startswith(TIMINGS_NOTE))
    assert f"{probe} 0.346s/step ({THREAD_PROBE_TIMING}) against 2.906s/step (candidate), 8.4x" in note
    assert any(line.strip() == note for line in planned.lines)
    assert f"#   {note}" in planned.plan_yaml


def test_a_wider_width_is_measured_where_the_fastest_timing_is_within_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A busy plan of ISBI 2012: the probe's 0.377 s/step, the candidate's 2.747 against the 0.57 s/step a
    19-minute budget allows for 2000 steps; every wider width was left out as "already too slow"."""
    fake_steps(monkeypatch, lambda label, n, nhwc: {B8: 2.906, B12: 0.5}[label])
    probe = {B8: {THREAD_PROBE_TIMING: 0.346}}
    m = measure_candidates(CANDS, 1, 2, "cpu", steps=1, warmup=0, bf16=False, stop_above_s=1.0, earlier=probe)
    assert m.step_seconds == {B8: 0.346, B12: 0.5}
    assert not any("already too slow" in n for n in m.notes)
    # By the one timing the candidate has, the wider width is still left out.
    alone = measure_candidates(CANDS, 1, 2, "cpu", steps=1, warmup=0, bf16=False, stop_above_s=1.0)
    assert alone.step_seconds == {B8: 2.906}
    assert any(n.startswith("not measured (a narrower candidate was already too slow") for n in alone.notes)
