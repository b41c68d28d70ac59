"""Run ``unetkit`` and send this process a signal at a chosen training step (tests of kill/Ctrl-C).

Usage: ``python self_signal.py SIGNAL STEP unetkit-args...``: when ``global_step == STEP`` the training step
sends ``SIGNAL`` (``SIGKILL``, ``SIGINT``) to its own process, so the interruption lands at a known point.
STEP ``plan``: the signal is sent while ``fit DIR``/``plan DIR`` fingerprints the folder, before training.
"""

from __future__ import annotations

import os
import signal
import sys

import unetkit.planning
from unetkit.training.task import SegmentationTask

SIGNAL, STEP = getattr(signal, sys.argv[1]), sys.argv[2]
# A process started in the background by a non-interactive shell inherits SIGINT ignored, and Python then
# installs no KeyboardInterrupt handler: the test suite run with `&` saw its Ctrl-C cases train to the end.
signal.signal(signal.SIGINT, signal.default_int_handler)
_original = SegmentationTask.training_step


def _training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
    if str(self.global_step) == STEP:
        os.kill(os.getpid(), SIGNAL)
    return _original(self, batch, batch_idx)


SegmentationTask.training_step = _training_step  # type: ignore[method-assign]
_fingerprint = unetkit.planning.fingerprint


def _fingerprint_signalled(*args, **kwargs):  # type: ignore[no-untyped-def]
    if STEP == "plan":
        os.kill(os.getpid(), SIGNAL)
    return _fingerprint(*args, **kwargs)


# planning.folder imports the name from unetkit.planning when it plans.
unetkit.planning.fingerprint = _fingerprint_signalled  # type: ignore[assignment]

if __name__ == "__main__":
    from unetkit.cli.main import main

    sys.exit(main(sys.argv[3:]))
