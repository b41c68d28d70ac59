"""`unetkit fit -q`: no progress bars and no INFO lines, as predict -q (a trial's `fit --replay RUN -q` was
refused as an unrecognized argument)."""

from __future__ import annotations

import argparse
import logging

import pytest

import unetkit.cli.fit as fit_cli
from unetkit.cli.main import main


@pytest.mark.parametrize("flag", ["-q", "--quiet"])
def test_fit_quiet_turns_the_bars_and_info_lines_off(monkeypatch: pytest.MonkeyPatch, flag: str) -> None:
    logger = logging.getLogger("unetkit")
    monkeypatch.setattr(logger, "level", logger.level)  # put back after the test: main() sets it
    seen: list[list[str]] = []

    def replay(args: argparse.Namespace) -> int:
        seen.append(list(args.overrides))
        return 0

    monkeypatch.setattr(fit_cli, "_run_replay", replay)
    assert main(["fit", "--replay", "runs/some-run", flag]) == 0
    assert seen == [["trainer.progress_bar=false"]]  # a key that replay and resume accept
    assert logger.level == logging.WARNING
    # -v wins over -q for the log lines (as in predict), the bars stay off.
    assert main(["-v", "fit", "--replay", "runs/some-run", flag]) == 0
    assert seen[-1] == ["trainer.progress_bar=false"] and logger.level == logging.DEBUG
