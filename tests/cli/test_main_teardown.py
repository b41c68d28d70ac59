"""Run as the ``unetkit`` command, a finished command ignores Ctrl-C during the interpreter's teardown (a
trial: a complete export exited 130 without a word when Ctrl-C landed as OpenVINO unloaded); a call with argv
(tests, scripts) keeps its SIGINT handler."""

from __future__ import annotations

import signal
import sys

import pytest

from unetkit.cli.main import main


def test_the_command_ignores_sigint_once_its_work_is_done(monkeypatch: pytest.MonkeyPatch) -> None:
    before = signal.getsignal(signal.SIGINT)
    try:
        assert main(["explain", "upsample"]) == 0
        assert signal.getsignal(signal.SIGINT) is before  # called with argv: left alone
        monkeypatch.setattr(sys, "argv", ["unetkit", "explain", "upsample"])
        assert main() == 0
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
