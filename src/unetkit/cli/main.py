"""``unetkit`` command line: one command, one subcommand per job.

Exit codes: 0 success; 2 bad input or usage (one-line ``error:`` message); 3 partial failure (some inputs of
``predict`` failed, the rest completed); 4 training stopped at a NaN/inf loss or weight; 130 interrupted
(Ctrl-C); 143 a run stopped by SIGTERM; 141 the reader of the output stopped reading (``| head``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import re
import shlex
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from unetkit.constants import (
    EXIT_BROKEN_PIPE,
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
)

# Subcommand modules; each exposes register(subparsers) and run(args) -> int.
_COMMANDS = (
    "fit",
    "plan",
    "convert",
    "explain",
    "predict",
    "export",
    "kmeans",
    "demo",
    "serve",
    "benchmark",
    "maskrcnn",
)


def _version() -> str:
    """The installed unetkit's version (its package metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("unetkit")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unetkit", description="U-Net semantic segmentation toolkit.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"unetkit {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"unetkit.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("unetkit.cli"):
                continue  # subcommand not installed in this build
            raise
        module.register(sub)
    return parser


def _configure_logging(level: int) -> None:
    # unetkit's own messages at INFO; other libraries only from WARNING: Lightning's INFO lines (device,
    # precision, "Loading train_dataloader") repeat what the plan says (unetkit.training.lightning_import
    # keeps Lightning from adding its own handler).
    # Through tqdm: a line logged while a progress bar is drawn goes above the bar, not onto its line.
    from unetkit.cli.console import TqdmLogHandler

    for name, at in (("unetkit", level), ("lightning", logging.WARNING)):
        logger = logging.getLogger(name)
        logger.setLevel(at)
        if not any(isinstance(h, TqdmLogHandler) for h in logger.handlers):
            handler = TqdmLogHandler()
            handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            logger.addHandler(handler)
            logger.propagate = False


class _DropNoCudaRuntime(logging.Filter):
    """Drops torch's ``No CUDA runtime is found, using CUDA_HOME=...``: logged when a library imports
    ``torch.utils.cpp_extension`` (NNCF does, for ``export --precision int8``) on a machine with a CUDA
    toolkit but no GPU. unetkit compiles no C++ extension, so it says nothing about the run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("No CUDA runtime is found")


def _add_filter(logger_name: str, kind: type[logging.Filter]) -> None:
    """``kind()`` on the logger ``logger_name``, once (``main`` may run many times in one process)."""
    log = logging.getLogger(logger_name)
    if not any(isinstance(f, kind) for f in log.filters):
        log.addFilter(kind())


def _quiet_third_party() -> None:
    """Lines of other libraries that say nothing about the user's run (the CLI owns the console)."""
    from unetkit.training.lightning_noise import (
        LIGHTNING_LINE_LOGGERS,
        LightningLines,
        ignore_lightning_noise,
    )

    for name in LIGHTNING_LINE_LOGGERS:  # its litlogger advert (library training drops it while it runs)
        _add_filter(name, LightningLines)
    _add_filter("torch.utils.cpp_extension", _DropNoCudaRuntime)
    ignore_lightning_noise()
    # A file name in a script the figure font lacks (CJK) is drawn as boxes in a figure title; matplotlib
    # warned 2-4 times per run about it, a trial's console showed "Glyph 20013 ... missing from font(s)".
    warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)


def _allow_large_images() -> None:
    """Lift Pillow's decompression-bomb guard (about 179 megapixels, a warning above 89): unetkit reads
    images of any size (tiles bound the memory), and the command line reads the user's own files; a
    14000 x 14000 PNG was refused as corrupt. ``unetkit serve`` bounds uploads with its own ``--max-pixels``,
    checked from the header before anything decodes. Set here: the CLI owns the process."""
    import warnings

    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)


def _on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM outside training ends the command as Ctrl-C does (temporary files removed, one line, exit
    143); Python's default had ended it silently, e.g. a fit stopped while it planned."""
    # During trainer.fit Lightning composes this handler into its own and stops training at the next step
    # (training.fit then names the resume): the current handler is Lightning's, and this one stands aside.
    if signal.getsignal(signal.SIGTERM) is not _on_sigterm:
        return
    exc = KeyboardInterrupt("stopped by SIGTERM")
    exc.exit_code = EXIT_TERMINATED  # type: ignore[attr-defined]
    raise exc


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Route SIGTERM through :func:`_on_sigterm` while a command runs (main thread only, as signal
    requires); the previous handler comes back after, so a test calling main() keeps its own."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# Options whose value may look like an option to argparse (`--time -1m`: "expected one argument"); given as
# `--time=-1m` they reach the option's own check, which says what is wrong and how to write it.
_SIGNED_VALUE_OPTIONS = ("--time",)


def _join_signed_values(argv: Sequence[str]) -> list[str]:
    out: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        if items[i] in _SIGNED_VALUE_OPTIONS and i + 1 < len(items) and re.match(r"-\d", items[i + 1]):
            out.append(f"{items[i]}={items[i + 1]}")
            i += 2
            continue
        out.append(items[i])
        i += 1
    return out


def _refuse_unknown_arguments(parser: argparse.ArgumentParser, command: str, extra: Sequence[str]) -> None:
    """Exit 2 with one line naming the arguments ``command`` does not take and, for a mistyped option, the
    closest option it does take (``--tiem 1m``: did you mean --time?), as the ``key=value`` overrides do;
    argparse's own message named neither the subcommand's options nor a fix."""
    import difflib

    sub = next(
        (a.choices.get(command) for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None
    )
    prog = sub.prog if sub is not None else parser.prog
    options = sorted({s for a in (sub or parser)._actions for s in a.option_strings if s.startswith("--")})
    given = [e.split("=", 1)[0] for e in extra if e.startswith("-") and e not in ("-", "--")]
    close = {f: m[0] for f in dict.fromkeys(given) if (m := difflib.get_close_matches(f, options, n=1))}
    if len(close) == 1:
        fix = f"did you mean {next(iter(close.values()))}?"
    elif close:
        fix = "did you mean " + ", ".join(f"{m} (for {f})" for f, m in close.items()) + "?"
    else:
        fix = f"{prog} --help lists its options"
    parser.exit(EXIT_USAGE, f"{prog}: error: unrecognized arguments: {' '.join(extra)}; {fix}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(_join_signed_values(sys.argv[1:] if argv is None else argv))
    # The command as typed (run folders record it: RUN/train.json).
    args.command_line = shlex.join(["unetkit", *(sys.argv[1:] if argv is None else argv)])
    # `unetkit fit DIR --time 20m key=value`: argparse takes positionals only before the first option, so
    # KEY=VALUE items after an option come back here; they are overrides as well.
    takes_overrides = isinstance(getattr(args, "overrides", None), list)
    if extra and takes_overrides and not any(e.startswith("-") for e in extra):
        args.overrides += extra
    elif extra:
        _refuse_unknown_arguments(parser, args.command, extra)
    _configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    _quiet_third_party()
    _allow_large_images()
    try:
        with _sigterm_as_interrupt():
            code = int(args.func(args) or 0)
        _quiet_teardown(argv)
        return code
    except BrokenPipeError:
        # `unetkit explain ... | head`: the reader stopped early, as it meant to. End quietly, as a C tool
        # killed by SIGPIPE does (128 + 13); stdout goes to devnull so the flush at exit cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (ValueError, TypeError, OSError) as exc:
        # OSError covers missing/unwritable paths, full disks and symlink loops: bad input, not a crash.
        if args.verbose:
            raise
        from unetkit.cli.errors import format_error

        _close_progress_bars()
        print(f"error: {format_error(exc)}", file=sys.stderr)
        # Notes say what became of the command's outputs (fit: its run folder).
        for note in getattr(exc, "__notes__", ()):
            print(note, file=sys.stderr)
        return EXIT_DIVERGED if _diverged(exc) else EXIT_USAGE
    except KeyboardInterrupt as exc:
        _quiet_teardown(argv)  # its status said below is the command's, whatever signal comes next
        _close_progress_bars()
        print(f"interrupted{': ' + str(exc) if str(exc) else ''}", file=sys.stderr)
        # 143 when SIGTERM stopped a run (training.fit sets it), else Ctrl-C's 130.
        return int(getattr(exc, "exit_code", EXIT_INTERRUPTED))


def _quiet_teardown(argv: Sequence[str] | None) -> None:
    """Run as the `unetkit` command (``argv`` None, the main thread), the work done or interrupted and about
    to be said: Ctrl-C and SIGTERM are ignored from here on. Either now lands in the interpreter's teardown
    (OpenVINO and torch unload for a second or more): a Ctrl-C turned a complete export's status into 130
    without a word, and a SIGTERM after a Ctrl-C killed a stopping server with -15 once its cleanup was done
    (trials). A call with argv (tests, scripts) keeps its handlers."""
    if argv is None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _diverged(exc: BaseException) -> bool:
    """A training run stopped by a non-finite loss or weight (a ValueError, as its message is one line), told
    from bad input: a script retries it with a lower LR, not with other files. Looked up only when training
    ran, so that the CLI's start stays free of torch."""
    task = sys.modules.get("unetkit.training.task")
    return task is not None and isinstance(exc, task.NonFiniteError)


def _close_progress_bars() -> None:
    """Close the progress bars still drawn (a run stopped mid-epoch), so the closing line starts a line of its
    own and is the last one on screen: printed over a live bar, it shared the bar's line and the bar was
    drawn again after it."""
    tqdm_module = sys.modules.get("tqdm")
    if tqdm_module is None:
        return  # nothing drew a bar
    for bar in list(getattr(tqdm_module.tqdm, "_instances", ())):
        with contextlib.suppress(Exception):  # a bar half torn down by the interrupt: nothing to redraw
            bar.close()


if __name__ == "__main__":
    sys.exit(main())
