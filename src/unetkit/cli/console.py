"""Console output shared by the commands (``predict``, ``kmeans``, ``fit``): error lines, bars, log lines
(exit codes live in :mod:`unetkit.constants`)."""

from __future__ import annotations

import glob
import logging
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unetkit.constants import FILE_REFRESH_SECONDS  # a bar on a stderr that is no terminal: plain lines


def _now() -> float:
    return time.perf_counter()


class _ProgressLines:
    """A bar's plain-line form for a log file or a pipe: ``desc: 3/10 img (31 s)`` at most every
    ``FILE_REFRESH_SECONDS``, and ``desc: 10/10 img in 95 s`` at the end. tqdm's bar there wrote carriage
    returns into the log, and a log line landed on the bar's line (a trial's redirected fit: ``choosing
    instance post-processing on val:   0%|          | 0/10 [00:00<?, ?img/s]   ...INFO ...``)."""

    def __init__(self, total: int, desc: str, unit: str) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, 0
        self._start = self._last = _now()

    def update(self, steps: int) -> None:
        self.n += steps
        now = _now()
        if self.n < self.total and now - self._last >= FILE_REFRESH_SECONDS:
            self._last = now
            print(
                f"{self.desc}: {self.n}/{self.total} {self.unit} ({now - self._start:.0f} s)", file=sys.stderr
            )

    def close(self) -> None:
        if self.n >= self.total:
            print(
                f"{self.desc}: {self.n}/{self.total} {self.unit} in {_now() - self._start:.0f} s",
                file=sys.stderr,
            )


def unmatched_reason(pattern: str) -> str:
    """Why an input gave no image, in words a user acts on: a path that does not exist (a typo, as fit says
    of a dataset folder), a glob that matches no file, else a folder that holds no image."""
    if Path(pattern).exists():  # a folder named like a glob ('run[1]') is read as a folder
        return f"no input images found in {pattern}"
    if glob.has_magic(pattern):  # what it matched, if anything, are folders (a glob's files are inputs)
        return f"no file matches {pattern}; check the pattern"
    return f"input {pattern} does not exist; check the path"


def report_unmatched(patterns: Sequence[str]) -> int:
    """Name each input pattern that matched nothing on stderr; returns how many (each counts as a failure)."""
    for pattern in patterns:
        print(f"error: {unmatched_reason(pattern)}", file=sys.stderr)
    return len(patterns)


def report_failure(path: Path, exc: Exception) -> None:
    """One ``error: <path>: <reason>`` line on stderr (through tqdm, so a progress bar stays intact)."""
    from tqdm import tqdm

    message = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
    tqdm.write(f"error: {message}", file=sys.stderr)


class TqdmLogHandler(logging.Handler):
    """Log lines on stderr through ``tqdm.write``: an open bar is cleared, the line printed on a line of its
    own and the bar drawn again below it (a plain stream handler would append the line to the bar's line).

    Writes to whatever ``sys.stderr`` is at emit time (it may be replaced between calls of ``main``).
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except RecursionError:  # as logging.StreamHandler: never swallowed
            raise
        except Exception:
            self.handleError(record)


class LazyBar:
    """``progress(done, total)`` drawn as a tqdm bar on stderr, opened at the first call (when the total is
    known) and closed at ``done == total`` or by :meth:`close`; ``enabled=False`` draws nothing.

    ``min_total``: a work of fewer steps gets no bar (no flash of a bar for a few quick steps);
    ``terminal_only``: draw only when stderr is a terminal (as a tqdm bar with ``disable=None``); elsewhere
    the bar is plain lines (:class:`_ProgressLines`, in ``lines_unit``).
    :attr:`desc` may change between works (the next bar takes it).
    """

    def __init__(
        self,
        desc: str,
        enabled: bool = True,
        unit: str = "img",
        *,
        min_total: int = 0,
        terminal_only: bool = False,
        lines_unit: str | None = None,
    ) -> None:
        self.desc, self.enabled, self.unit = desc, enabled, unit
        self.min_total, self.terminal_only = min_total, terminal_only
        self.lines_unit = (
            lines_unit or unit
        )  # the unit of the plain lines ("tiles" where the bar says "tile/s")
        self._bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            if total < self.min_total:
                return
            if not sys.stderr.isatty():
                if self.terminal_only:
                    return
                self._bar = _ProgressLines(total, self.desc, self.lines_unit)
            else:
                from tqdm import tqdm

                self._bar = tqdm(total=total, desc=self.desc, unit=self.unit, file=sys.stderr, leave=False)
        self._bar.update(done - self._bar.n)
        if done >= total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def help_description(doc: str | None) -> str:
    """A command module's docstring as its ``--help`` text: paragraphs written for developers (naming
    ``:func:``/``:mod:`` targets) dropped, and reStructuredText's double backticks shown as plain quotes."""
    paragraphs = [p for p in (doc or "").strip().split("\n\n") if ":func:" not in p and ":mod:" not in p]
    return re.sub(r"``([^`]+)``", r"'\1'", "\n\n".join(paragraphs))
