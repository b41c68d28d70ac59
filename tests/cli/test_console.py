"""The CLI's console pieces (unetkit.cli.console): bars that open only when worth it, log lines above bars."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator

import pytest
from tqdm import tqdm

from unetkit.cli.console import LazyBar, TqdmLogHandler
from unetkit.cli.main import _configure_logging


@pytest.fixture
def cli_logging() -> Iterator[None]:
    """The CLI's logging set up for one test, then the ``unetkit`` logger put back as it was."""
    logger = logging.getLogger("unetkit")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    logger.handlers.clear()
    try:
        _configure_logging(logging.INFO)
        yield
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved


def test_the_cli_logs_through_tqdm(cli_logging: None) -> None:
    def ours() -> list[logging.Handler]:  # pytest adds its own capturing handlers
        return [h for h in logging.getLogger("unetkit").handlers if type(h).__module__.startswith("unetkit")]

    assert [type(h) for h in ours()] == [TqdmLogHandler]
    _configure_logging(logging.INFO)  # main() called again (tests, notebooks): still one handler
    assert len(ours()) == 1


def test_a_log_line_goes_above_an_open_bar_not_onto_its_line(
    cli_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """In a terminal ``predict: 0%| | 0/1 [00:00<?, ?img/s]INFO unetkit...`` was one line: the log line must
    start a line of its own (the bar is cleared first and drawn again after it)."""
    with tqdm(total=1, desc="predict", unit="img", file=sys.stderr, disable=False):
        logging.getLogger("unetkit.inference.pipeline").info("image 3000x2500 (WxH) is large")
    err = capsys.readouterr().err
    assert "predict: " in err  # the bar was drawn
    assert re.search(r"(^|[\r\n])INFO unetkit\.inference\.pipeline: image 3000x2500 \(WxH\) is large\n", err)


def test_lazy_bar_skips_works_of_few_steps(capsys: pytest.CaptureFixture[str]) -> None:
    bar = LazyBar("tiles of small.png", unit="tile", min_total=9)
    for done in range(1, 5):
        bar(done, 4)
    assert "tiles of" not in capsys.readouterr().err
    bar.desc = "tiles of big.png"  # the next work's bar takes the new description
    for done in range(4, 13, 4):
        bar(done, 12)
    assert "tiles of big.png" in capsys.readouterr().err
    assert bar._bar is None  # closed at done == total


def test_lazy_bar_terminal_only_draws_on_a_terminal_only(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    LazyBar("tiles of a.png", unit="tile", terminal_only=True)(1, 2)
    assert "tiles of" not in capsys.readouterr().err  # stderr is a file (a log, a pipe): no bar
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    bar = LazyBar("tiles of a.png", unit="tile", terminal_only=True)
    bar(1, 2)
    bar.close()
    assert "tiles of a.png" in capsys.readouterr().err


def test_lazy_bar_in_a_file_is_plain_lines_a_few_times_a_minute(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trial 20: fit piped to a file: every redraw of the scoring bar appended to the log (tqdm redraws every
    0.1 s). Trial 23: tqdm's carriage returns in the log put a log line on the bar's line. In a file: a plain
    line at most every FILE_REFRESH_SECONDS and one at the end, no carriage return; in a terminal, tqdm."""
    from unetkit.cli import console
    from unetkit.cli.console import FILE_REFRESH_SECONDS

    clock = {"now": 1000.0}
    monkeypatch.setattr(console, "_now", lambda: clock["now"])
    monkeypatch.setattr("tqdm.std.time", lambda: clock["now"])  # tqdm's own clock
    bar = LazyBar("scoring val")
    for done in range(1, 101):
        clock["now"] += 1.0  # an image a second: tqdm would redraw at each
        bar(done, 100)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err and "%|" not in err
    assert 2 <= len(lines) <= 1 + 100 / FILE_REFRESH_SECONDS, lines
    # The bar opens at the first image (t = 1 s): 30 s later 31 images are done.
    assert lines[0] == f"scoring val: {int(FILE_REFRESH_SECONDS) + 1}/100 img ({FILE_REFRESH_SECONDS:.0f} s)"
    assert lines[-1] == "scoring val: 100/100 img in 99 s"
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    bar = LazyBar("scoring val")
    for done in range(1, 101):
        clock["now"] += 1.0
        bar(done, 100)
    assert capsys.readouterr().err.count("scoring val: ") > 50
