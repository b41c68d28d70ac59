"""``plan_folder(root, "20m")`` takes the budget second, as ``fit_folder(root, "20m")`` does (trial 22: the
two Python calls took it differently, keyword-only in plan_folder); the other options stay keyword-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import unetkit
from unetkit.planning import folder


def test_the_budget_is_the_second_argument(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(folder, "_plan_folder", lambda root, budget, *rest: seen.append(budget))
    unetkit.plan_folder(tmp_path, "20m")
    unetkit.plan_folder(tmp_path, budget="5m")
    assert seen == ["20m", "5m"]
    with pytest.raises(TypeError):
        unetkit.plan_folder(tmp_path, "20m", "cpu")  # type: ignore[misc]
