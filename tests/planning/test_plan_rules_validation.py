"""The reason of trainer.check_val_every_n_epoch states the share validation takes (planning.plan)."""

from __future__ import annotations

from unetkit.planning.plan import validation_reason


def row(validation: float, every: int = 1) -> dict:
    return {
        "step_seconds": 0.18,
        "val_every_n_epochs": every,
        "overhead_per_step": {"reading data": 0.02, "validation": validation, "checkpoints": 0.0},
    }


def test_a_share_under_the_aim_says_so_with_its_figure() -> None:
    assert validation_reason(row(0.01, 2), 31) == (
        "2: keeps validation under 10% of the training time (about 5%; 31 validation images)"
    )


def test_a_share_above_the_aim_says_the_floor_of_validations_set_it() -> None:
    # A planner audit: 1.1 s per 6.5 s epoch read "keeps validation under 10%".
    assert validation_reason(row(0.034), 31) == (
        "1: validation takes about 17% of the training time, above the 10% aimed at, so that at least 5 "
        "validations fit in the budget (31 validation images)"
    )
