"""The plan's step prediction for a run's budget, and the one rule naming a run that made far fewer steps.

A plan measures a step's seconds and predicts how many optimizer steps its budget buys. On a shared machine a
trial's runs made a fraction of that (714 predicted, 89 made) and nothing said so from Python. The run
records the prediction beside the steps made (``RUN/train.json``: ``predicted_steps``,
``predicted_step_seconds``, ``budget_stop_step``); :func:`shortfall_note` is the note both ``unetkit fit``
(printed) and ``fit_folder`` (logged) give. Print-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# A budgeted run that trained fewer than this share of the steps its plan predicted is named.
SHORTFALL_SHARE = 0.5

# Config keys whose value changes what one optimizer step costs: the width and depth, the crop and batch, the
# precision, the threads and the memory layout. An override of one makes the plan's step prediction stale.
STEP_COST_KEYS = (
    "model.",
    "data.batch_size",
    "data.crop_size",
    "trainer.precision",
    "trainer.num_threads",
    "trainer.channels_last",
)


def step_cost_overrides(overrides: Sequence[str]) -> tuple[str, ...]:
    """The overrides of ``overrides`` whose key changes what an optimizer step costs (``STEP_COST_KEYS``)."""
    return tuple(o for o in overrides if o.split("=", 1)[0].strip().startswith(STEP_COST_KEYS))


def summary_prediction(summary: Mapping[str, Any]) -> tuple[int, float] | None:
    """(optimizer steps, seconds per step) a new plan predicted for its budget (``Plan.summary``'s
    ``predicted_steps`` and ``predicted_step_seconds``); None where it has none (a plan without a budget)."""
    steps, seconds = summary.get("predicted_steps"), summary.get("predicted_step_seconds")
    if not steps or not seconds:
        return None
    return int(steps), float(seconds)


def plan_file_prediction(text: str, plan: Mapping[str, Any]) -> tuple[int, float] | None:
    """(optimizer steps, seconds per step) that a plan file predicted for its budget, read from its header's
    row of the candidate its config trains (a plan file carries no summary); None when no row matches (a
    plan edited to an unmeasured width, or not written by unetkit plan)."""
    from unetkit.planning.folder import MEASURED_ROW
    from unetkit.planning.plan import Candidate

    try:
        data, kwargs = plan["data"], plan["model"]["kwargs"]
        crop = (int(data["crop_size"][0]), int(data["crop_size"][1]))
        label = Candidate(
            int(kwargs["base_channels"]), int(kwargs["depth"]), crop, int(data["batch_size"]),
            str(plan["trainer"]["precision"]),
        ).label  # fmt: skip
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    for line in text.splitlines():
        match = MEASURED_ROW.match(line)
        if match is not None and match.group(1) == label:
            return int(match.group(4)), float(match.group(3))
    return None


def prediction_at_budget(
    predicted: tuple[int, float] | None, planned_minutes: float | None, minutes: float | None
) -> tuple[int, float] | None:
    """The plan's ``predicted`` (steps, seconds per step) for ``planned_minutes`` at the budget the run
    trains, ``minutes``: an override of the budget (1 minute over the plan's 30) buys about proportionally
    fewer steps of the same cost, not fewer because the machine was busy. None for a run without a budget
    (nothing stops it at a step count to compare)."""
    if predicted is None or not minutes:
        return None
    if not planned_minutes or minutes == planned_minutes:
        return predicted
    return max(1, round(predicted[0] * float(minutes) / float(planned_minutes))), predicted[1]


def shortfall_note(
    predicted: tuple[int, float] | None,
    steps: int | None,
    seconds: float | None,
    step_overrides: Sequence[str] = (),
) -> str:
    """One line when a budget bought far fewer optimizer steps than the plan predicted (fewer than
    ``SHORTFALL_SHARE`` of them); '' otherwise.

    ``predicted``: the plan's (steps, seconds per step) at the run's budget (None: no plan, no note);
    ``steps``: the steps made when the budget stopped the run (``budget_stop_step``; None: the run ended
    otherwise); ``seconds``: the seconds trained; ``step_overrides``: overrides that changed a step's cost
    (:func:`step_cost_overrides`), which the note names instead of blaming the machine. A trial's 2-minute
    run trained 197 of 1014 steps (other work slowed its steps 10-40x) and nothing said so.
    """
    if predicted is None or not steps or not seconds:
        return ""
    planned, step_s = predicted
    if steps >= SHORTFALL_SHARE * planned:
        return ""
    if step_overrides:
        # The plan timed its own width/crop/precision; an override of them, not the machine, explains it
        # (a planner audit: base_channels=24 over the planned 8 was blamed on "other work on the machine").
        return (
            f"the budget bought {steps} optimizer steps of the {planned} the plan predicted for its own "
            f"choices ({seconds / steps:.2f} s/step against {step_s:.3f} s/step measured for them): "
            f"{' '.join(step_overrides)} changed what a step costs; for a prediction with it, plan "
            "with it (unetkit plan DIR, then --plan), or give more time"
        )
    return (
        f"the budget bought {steps} optimizer steps of the {planned} the plan predicted "
        f"({seconds / steps:.2f} s/step against {step_s:.3f} s/step measured): other work on the machine, "
        "or a slow disk, slowed training; plan and train again when the machine is idle, or give more time"
    )
