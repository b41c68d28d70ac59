"""Fixtures of the command-line tests."""

from __future__ import annotations

from typing import Any

import pytest

import unetkit.cli.plan as cli_plan
from unetkit.cli.plan import PlannedFit


@pytest.fixture
def stopped(monkeypatch: pytest.MonkeyPatch) -> list[PlannedFit]:
    """The PlannedFit each ``fit`` builds; training stops before it starts (exit 2)."""
    import unetkit.training.fit as training_fit

    made: list[PlannedFit] = []

    class Recorded(PlannedFit):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    def stop(*args: object, **kwargs: object) -> None:
        raise ValueError("stopped before training")

    monkeypatch.setattr(cli_plan, "PlannedFit", Recorded)
    monkeypatch.setattr(training_fit, "fit", stop)
    return made
