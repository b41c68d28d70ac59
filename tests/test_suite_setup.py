"""The suite's own setup: the second session of scripts/test.sh must run the OpenVINO tests, not skip them."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_the_openvino_skip_runs_after_mark_deselection(pytestconfig: pytest.Config) -> None:
    """The hook skips OpenVINO tests only in a session that also holds others; it must see the items left
    after ``-m openvino`` deselected the rest (trylast), or the OpenVINO session skipped all 28 (a misplaced
    decorator once did, and CI stayed green)."""
    top = Path(__file__).with_name("conftest.py").resolve()
    (conftest,) = [
        p
        for p in pytestconfig.pluginmanager.get_plugins()
        if Path(getattr(p, "__file__", "") or ".").resolve() == top
    ]
    assert conftest.pytest_collection_modifyitems.pytest_impl["trylast"] is True
