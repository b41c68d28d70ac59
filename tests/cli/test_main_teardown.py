"""Run as the ``unetkit`` command, a finished or interrupted command ignores Ctrl-C and SIGTERM during the
interpreter's teardown (trials: a complete export exited 130 without a word when Ctrl-C landed as OpenVINO
unloaded; a server stopping after Ctrl-C was killed by a SIGTERM with -15 once its cleanup was done); a call
with argv (tests, scripts) keeps its handlers."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator

import pytest

import unetkit.cli.explain as explain
from unetkit.cli.main import main


@pytest.fixture
def handlers() -> Iterator[None]:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def test_the_command_ignores_stop_signals_once_its_work_is_done(
    monkeypatch: pytest.MonkeyPatch, handlers: None
) -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert main(["explain", "upsample"]) == 0
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before  # argv: left alone
    monkeypatch.setattr(sys, "argv", ["unetkit", "explain", "upsample"])
    assert main() == 0
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN


def test_an_interrupted_command_ignores_them_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], handlers: None
) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(explain, "run", interrupted)
    monkeypatch.setattr(sys, "argv", ["unetkit", "explain", "upsample"])
    assert main() == 130
    assert "interrupted" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
