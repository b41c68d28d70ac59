"""The calling thread's alternate signal stack (sigaltstack(2)), kept across work that leaves it dangling.

Each OpenVINO CPU plugin instance installs an alternate signal stack of its own in the thread that makes it,
and puts back the one it found when it is freed. Engines freed in the order they were made (not the reverse),
as backend auto's timing frees its candidates, leave the thread's signal stack pointing at freed memory.
Python's signal handlers run on that stack (SA_ONSTACK), so the next Ctrl-C or SIGTERM handled in that
thread (the main thread) was a segmentation fault (trial 25: ``unetkit serve`` right after it timed the
engines: no shutdown, no 503 to the waiting clients, the results folder left behind; ``unetkit predict
--backend auto`` ran the same timing). :func:`keeping_signal_stack` wraps the work that makes and frees such
engines; :func:`unetkit.inference.auto_backend.choose` times them inside it, so every caller of the timing
(predict, serve, the cached choice measured again) is covered.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import sys
from collections.abc import Iterator

logger = logging.getLogger(__name__)


class SignalStack(ctypes.Structure):
    """``stack_t`` of sigaltstack(2)."""

    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


def sigaltstack(new: SignalStack | None) -> SignalStack | None:
    """This thread's alternate signal stack (set to ``new`` first when given); None where it cannot be read
    or set (not Linux, no libc, refused)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        old = SignalStack()
        if libc.sigaltstack(None if new is None else ctypes.byref(new), ctypes.byref(old)) != 0:
            return None
    except (OSError, AttributeError):
        return None
    return old


def stack_key(stack: SignalStack) -> tuple[int, int, int]:
    """``(address, flags, size)`` of ``stack``, to compare two readings."""
    return (int(stack.ss_sp or 0), int(stack.ss_flags), int(stack.ss_size))


@contextlib.contextmanager
def keeping_signal_stack() -> Iterator[None]:
    """Put this thread's alternate signal stack back as it was before the block, once the block's objects
    are collected (a ``gc.collect()`` at its end).

    The engines must be unreferenced by the end of the block (made and dropped inside a function called in
    it): one still alive then puts its stack back later, after this one.
    """
    before = sigaltstack(None)
    try:
        yield
    finally:
        if before is not None:
            gc.collect()  # the block's engines freed now, not at some later collection
            now = sigaltstack(None)
            if now is not None and stack_key(now) != stack_key(before):
                logger.debug("signal stack %s left by freed engines: put back", stack_key(now))
                sigaltstack(before)
