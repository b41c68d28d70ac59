"""--measure-limit and the thread probe: the probe counts against the limit but leaves the candidates at least
half of it, the "not measured" note says how the seconds were split, and fp32's reason on a machine with
native bf16 says why bf16 was not timed instead of "no native bf16" (a user trial: --measure-limit 10 left
1 s after an 8 s probe, and the plan then contradicted its own avx512_bf16 flag)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import unetkit
from unetkit.planning import Machine
from unetkit.planning import plan as plan_module
from unetkit.planning.folder import candidate_time_limit
from unetkit.planning.plan import Candidate, choose_precision, measure_candidates

MakeDataset = Callable[..., Path]
PROBE_SECONDS = 1.5


def test_the_candidates_keep_half_the_limit_after_a_long_probe() -> None:
    assert candidate_time_limit(10.0, 0.0) == (10.0, "--measure-limit 10s")
    limit, words = candidate_time_limit(10.0, 8.0)
    assert limit == 5.0
    assert words == "--measure-limit 10s: thread probe 8.0s, candidates 5.0s, the 50% kept for them"
    limit, words = candidate_time_limit(10.0, 2.0)
    assert limit == 8.0 and words == "--measure-limit 10s: thread probe 2.0s, candidates 8.0s"


def test_plan_gives_the_candidates_their_share_of_the_limit(
    make_dataset: MakeDataset, monkeypatch: pytest.MonkeyPatch, two_threads: None
) -> None:
    """A probe of 1.5 s under --measure-limit 2.5 used to leave max(1, 1.0) = 1 s; now 1.25 s, and the
    plan's header says what the probe took."""

    def slow_probe(*args: Any) -> str:
        time.sleep(PROBE_SECONDS)
        return "1: test probe"

    given: dict[str, Any] = {}
    real = plan_module.measure_candidates

    def measured(*args: Any, **kwargs: Any) -> Machine:
        given.update(kwargs)
        # The split of the limit is what is checked: the candidates are timed at one step each (timing
        # them in full took 30 s of the default suite).
        return real(*args, **{**kwargs, "steps": 1, "warmup": 0})

    monkeypatch.setattr("unetkit.planning.folder.pick_threads", slow_probe)
    monkeypatch.setattr("unetkit.planning.measure_candidates", measured)
    planned = unetkit.plan_folder(make_dataset(n=12), budget="1m", measure_limit=2.5, device="cpu")
    assert given["time_limit_s"] == pytest.approx(1.25)
    assert given["limit_text"].startswith("--measure-limit 2.5s: thread probe 1.")
    assert given["limit_text"].endswith("candidates 1.2s, the 50% kept for them")
    assert planned.plan.reasons["trainer.num_threads"] == "1: test probe"


def test_time_out_note_and_precision_reason_on_a_cpu_with_native_bf16(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A limit spent before any width was timed in bf16: the note names the split, the reason the limit."""
    monkeypatch.setattr(plan_module, "cpu_flags", lambda: ("avx2", "avx512f", "avx512_bf16"))
    machine = measure_candidates(
        [Candidate(4, 2, (16, 16), 1)], 1, 2, "cpu", steps=1, warmup=0, time_limit_s=0.0,
        limit_text="--measure-limit 10s: thread probe 8.0s, candidates 5.0s",
    )  # fmt: skip
    assert machine.native_bf16 and not machine.step_seconds
    note = next(n for n in machine.notes if n.startswith("not measured"))
    assert note.startswith("not measured (time ran out: --measure-limit 10s: thread probe 8.0s, candidates")
    precision, why = choose_precision(machine)
    assert precision == "32-true"
    assert "no native bf16" not in why
    assert "measuring time ran out before any width was timed in bf16" in why
    assert "avx512_bf16" in why and "--measure-limit" in why


def test_precision_reason_without_native_bf16_and_on_a_gpu() -> None:
    plain = Machine("cpu", "t", ("avx2",), False, 2, {"unet b8 d3 32x32 x4 32-true": 0.1})
    assert "no native bf16 on this CPU: flags avx2" in choose_precision(plain)[1]
    gpu = Machine("cuda", "t", (), False, 2, {"unet b8 d3 32x32 x4 32-true": 0.1})
    why = choose_precision(gpu)[1]
    assert "no native bf16" not in why and "not timed on a GPU" in why


def test_the_first_width_is_timed_in_bf16_even_past_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A limit that runs out after the first fp32 step still times that width in bf16 (and no other): the
    precision is decided on a measurement, not left at fp32 unmeasured."""

    class SlowStep(plan_module.TrainingStep):
        def __call__(self) -> float:
            time.sleep(0.01)  # every step outlasts the limit below
            return super().__call__()

    monkeypatch.setattr(plan_module, "TrainingStep", SlowStep)
    monkeypatch.setattr(plan_module, "_busy_note", lambda: "")
    cands = [Candidate(4, 2, (16, 16), 1), Candidate(6, 2, (16, 16), 1)]
    machine = measure_candidates(cands, 1, 2, "cpu", steps=1, warmup=0, time_limit_s=0.005, bf16=True)
    assert sorted(machine.step_seconds) == [
        "unet b4 d2 16x16 x1 32-true", "unet b4 d2 16x16 x1 bf16-mixed"
    ]  # fmt: skip
    assert machine.bf16_confirmed is not None
    assert any(n.startswith("not measured (time ran out: measuring time limit 0s): ") for n in machine.notes)
    # Past the limit bf16 is re-timed in the fewest rounds, and the memory layout (NHWC holds) not at all: a
    # 1024x1024 plan under --measure-limit 10 spent 72 s in full re-timings.
    assert any("the precisions alternating over 2 steps each" in n for n in machine.notes)
    assert machine.nchw_speedup is None
    assert any(n.startswith("memory layout not re-timed (time ran out: measuring time limit 0s; it needs")
               for n in machine.notes)  # fmt: skip
    assert "NHWC against NCHW was not timed" in plan_module.choose_layout(machine)[1]


def test_within_the_limit_both_re_timings_run_their_full_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_module, "_busy_note", lambda: "")
    machine = measure_candidates(
        [Candidate(4, 2, (16, 16), 1)], 1, 2, "cpu", steps=1, warmup=0, time_limit_s=60.0, bf16=True
    )
    rounds = plan_module.BF16_CONFIRM_ROUNDS
    assert any(f"the precisions alternating over {rounds} steps each" in n for n in machine.notes)
    assert machine.nchw_speedup is not None
    assert any(f"NHWC and NCHW alternating over {plan_module.LAYOUT_ROUNDS} steps each" in n
               for n in machine.notes)  # fmt: skip


def test_retime_rounds_fit_the_time_left() -> None:
    """A warm-up round first, then as many rounds as the time left holds, at most ``most``."""
    assert plan_module.retime_rounds(10.0, 2.0, 4) == 4
    assert plan_module.retime_rounds(6.5, 2.0, 4) == 2
    assert plan_module.retime_rounds(3.0, 2.0, 4) == 0
    assert plan_module.retime_rounds(-5.0, 2.0, 4) == 0
    assert plan_module.retime_rounds(1.0, 0.0, 4) == 4
