"""bf16's decision rests on the width a bf16 plan trains. measure_candidates re-times bf16 at the width
whose first speed-up is nearest the widths' median (before any width is chosen); confirm_at_trained_width
re-times it at the bf16 plan's width where that can change the decision, and plans again. A CamVid plan had
re-timed base 8 at 1.21x and trained base 16 in fp32, whose first timing had been 1.65x; an ISBI plan
re-timed base 8 at 1.14x, and its fp32 plan then trained base 8 itself."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest

import unetkit.planning.plan as plan_module
from unetkit.planning.plan import Candidate, Machine, confirm_at_trained_width, measure_candidates

CANDS = [Candidate(w, 4, (64, 64), 4) for w in (8, 16, 24)]
# First timings (fp32, bf16): base 8 1.48x, base 16 1.65x, base 24 not timed in fp32; the re-timing at
# base 8 gave 1.21x.
TIMINGS = {
    **{c.label: 0.1 * c.base_channels for c in CANDS[:2]},
    **{dataclasses.replace(c, precision="bf16-mixed").label: 0.1 * c.base_channels / x for c, x in
       zip(CANDS[:2], (1.48, 1.65))},
}  # fmt: skip
MACHINE = Machine("cpu", "t", ("avx512_bf16",), True, 2, TIMINGS, bf16_confirmed=1.21, bf16_confirmed_width=8)


def _plan(width: int | None) -> Any:
    kwargs = {"depth": 4} if width is None else {"base_channels": width, "depth": 4}
    return SimpleNamespace(config={"model": {"name": "unet", "kwargs": kwargs}})


def _replan(bf16_width: int | None, made: list[tuple[Machine, str | None]]) -> Any:
    """A make_plan stand-in: the bf16 plan trains ``bf16_width``; the plan made again is a marker."""

    def replan(machine: Machine, forced: str | None = None) -> Any:
        made.append((machine, forced))
        return _plan(bf16_width) if forced == "bf16-mixed" else "the plan made again"

    return replan


@pytest.fixture
def retimed(monkeypatch: pytest.MonkeyPatch) -> list[Candidate]:
    seen: list[Candidate] = []

    def fake_confirm(cand: Candidate, *args: object) -> float:
        seen.append(cand)
        return 1.65

    monkeypatch.setattr(plan_module, "confirm_bf16_speedup", fake_confirm)
    return seen


def test_bf16_is_re_timed_at_the_bf16_plans_width_and_the_plan_made_again(retimed: list[Candidate]) -> None:
    made: list[tuple[Machine, str | None]] = []
    plan, machine = confirm_at_trained_width(_plan(8), MACHINE, CANDS, _replan(16, made), 3, 12, "cpu")
    assert retimed == [CANDS[1]]  # base 16 in fp32: confirm_bf16_speedup times both precisions
    assert plan == "the plan made again" and made == [(MACHINE, "bf16-mixed"), (machine, None)]
    assert (machine.bf16_confirmed, machine.bf16_confirmed_width) == (1.65, 16)
    assert machine.notes[-1] == (
        "bf16 autocast re-timed again at b16, the width a bf16 plan trains (b8: 1.21x), the precisions "
        "alternating over 4 steps each: 1.65x decides"
    )
    # With 1.65x the precision rule picks bf16 where 1.21x had picked fp32.
    assert plan_module.choose_precision(machine)[0] == "bf16-mixed"
    assert plan_module.choose_precision(MACHINE)[0] == "32-true"


def test_an_fp32_decision_is_re_timed_at_a_width_not_timed_in_fp32(retimed: list[Candidate]) -> None:
    """The ISBI case: the widest widths were timed in bf16 only (the time limit), and the fp32 decision at a
    narrow width would keep the plan narrow and in fp32."""
    plan, machine = confirm_at_trained_width(_plan(8), MACHINE, CANDS, _replan(24, []), 3, 12)
    assert retimed == [CANDS[2]] and machine.bf16_confirmed_width == 24 and plan == "the plan made again"


@pytest.mark.parametrize(
    ("bf16_width", "machine"),
    [
        (8, MACHINE),  # the bf16 plan trains the width re-timed
        (16, dataclasses.replace(MACHINE, bf16_confirmed=None)),  # bf16 not re-timed (asked, no bf16)
        (None, MACHINE),  # a model without a planned width
        (32, MACHINE),  # no candidate of that width
        # Its first timing (1.65x) agrees with the decision (1.5x: both bf16): a re-timing would only confirm.
        (16, dataclasses.replace(MACHINE, bf16_confirmed=1.5)),
        # Not timed in fp32, and the decision is bf16 already: bf16 gains grew with the width in every plan.
        (24, dataclasses.replace(MACHINE, bf16_confirmed=1.5)),
    ],
)
def test_nothing_is_re_timed_where_it_cannot_change_the_decision(
    retimed: list[Candidate], bf16_width: int | None, machine: Machine
) -> None:
    plan = _plan(8)
    assert confirm_at_trained_width(plan, machine, CANDS, _replan(bf16_width, []), 3, 12) == (plan, machine)
    assert retimed == []


def test_measure_candidates_records_the_width_it_re_timed(retimed: list[Candidate]) -> None:
    tiny = [Candidate(w, 2, (16, 16), 2) for w in (4, 8)]
    m = measure_candidates(tiny, 1, 2, "cpu", steps=1, warmup=0, bf16=True)
    assert m.bf16_confirmed == 1.65 and m.bf16_confirmed_width == retimed[0].base_channels
    assert measure_candidates(tiny, 1, 2, "cpu", steps=1, warmup=0, bf16=False).bf16_confirmed_width is None


def test_a_ratio_beside_its_threshold_never_prints_equal_to_it() -> None:
    """A plan read "NCHW 1.05x NHWC's speed (< 1.05x)" for 1.049."""
    from unetkit.planning.plan import ratio_text

    assert ratio_text(1.049, 1.05) == "1.049" and ratio_text(1.2496, 1.25) == "1.2496"
    assert ratio_text(1.21, 1.25) == "1.21" and ratio_text(1.05, 1.05) == "1.05"
    why = plan_module.choose_precision(dataclasses.replace(MACHINE, bf16_confirmed=1.2496))[1]
    assert "was 1.2496x (re-timed alternating) < 1.25x" in why
