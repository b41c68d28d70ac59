"""The plan warns when its budget is too short for the rare classes it handles (multi-class trial #2)."""

from __future__ import annotations

import re

import pytest
from test_plan import make_fp, make_machine

from unetkit.planning import make_plan
from unetkit.planning.plan import MIN_STEPS, duration_text, minutes_for_steps

RARE = (0.6, 0.385, 0.01, 0.005)  # c2 and c3 hold < 2% of the pixels


def _steps(fp: object, minutes: int, machine: object) -> int:
    plan = make_plan(fp, minutes * 60.0, "cpu", machine)  # type: ignore[arg-type]
    return int(plan.table[0]["steps_in_budget"])


def test_a_budget_below_the_steps_line_warns_that_rare_classes_may_stay_at_zero() -> None:
    # CamVid, 3 minutes: 524 steps of 2000, five rare classes at 0 IoU, and the plan said only "Dice keeps
    # small classes from vanishing" and "class weights: ... hold < 2% of the pixels".
    fp = make_fp(fractions=RARE)
    machine = make_machine({8: 0.3, 16: 0.6}, fp)
    plan = make_plan(fp, 180, "cpu", machine)
    assert plan.table[0]["steps_in_budget"] < MIN_STEPS
    (warning,) = plan.warnings
    assert warning.startswith("c2, c3 hold < 2% of the pixels and may stay at 0 IoU at this budget: ")
    assert f"below the {MIN_STEPS} where more steps stop helping" in warning and "0.300s/step" in warning
    match = re.search(r"--time (\d+)m buys the base-8 U-Net 2000 steps", warning)
    assert match is not None
    minutes = int(match.group(1))
    # The budget named is the plan's own rule: the fewest whole minutes that buy MIN_STEPS steps.
    assert _steps(fp, minutes, machine) >= MIN_STEPS > _steps(fp, minutes - 1, machine)
    assert f"# warning: {warning}" in plan.to_yaml()


@pytest.mark.parametrize(
    ("fractions", "budget_s"),
    [(RARE, 1800.0), ((0.3, 0.7), 180.0)],  # enough steps; no rare class
)
def test_no_rare_class_warning_with_enough_steps_or_no_rare_class(
    fractions: tuple[float, ...], budget_s: float
) -> None:
    fp = make_fp(fractions=fractions)
    assert make_plan(fp, budget_s, "cpu", make_machine({8: 0.3}, fp)).warnings == []


def test_minutes_for_steps_and_duration_text() -> None:
    def steps(seconds: float) -> int:
        return int((seconds - min(60.0, 0.05 * seconds)) / 0.5)  # 0.5 s a step after the start-up

    assert minutes_for_steps(steps, 2000, 180.0) == 18  # 17 minutes: 1938 steps
    assert minutes_for_steps(lambda s: 0, 2000, 180.0) is None
    assert [duration_text(m) for m in (12, 60, 90)] == ["12m", "1h", "1h30m"]
