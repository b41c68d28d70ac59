"""Lightning, imported with the caller's process state kept: every training module imports ``L`` from here,
first (``# isort: split`` keeps it above their ``lightning`` imports).

Importing Lightning the first time draws from Python's random stream, adds warnings filters, and, when the
root logger has no handler (a plain script or notebook), gives its ``lightning.pytorch``/``lightning.fabric``
loggers their own stderr handler at INFO with ``propagate=False``. A first ``unetkit.fit_folder`` call then
printed Lightning's device lines and moved the caller's random stream. Here the random streams, the warnings
filters and those loggers are put back as they were, so Lightning's lines go through Python's logging like
unetkit's own (the CLI gives them a handler: it owns the console). Lightning's environment variables
(``PYTORCH_NVML_BASED_CUDA_CHECK``) stay: its CUDA checks rely on them. Hand-written because no library
offers an import without side effects.
"""

from __future__ import annotations

import logging
import random
import warnings

import numpy as np

# The loggers Lightning configures when it is imported.
LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")


def _logger_state(name: str) -> tuple[int, list[logging.Handler], bool]:
    log = logging.getLogger(name)
    return log.level, list(log.handlers), log.propagate


def _restore_logger(name: str, state: tuple[int, list[logging.Handler], bool]) -> None:
    log = logging.getLogger(name)
    log.setLevel(state[0])
    log.handlers[:] = state[1]
    log.propagate = state[2]


_loggers = {name: _logger_state(name) for name in LIGHTNING_LOGGERS}
# Legacy global NumPy state on purpose: it is the caller's stream.
_py_state, _np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
try:
    with warnings.catch_warnings():  # restores the filters Lightning's import adds
        import lightning as L
finally:
    random.setstate(_py_state)
    np.random.set_state(_np_state)  # noqa: NPY002
    for _name, _state in _loggers.items():
        _restore_logger(_name, _state)

__all__ = ["LIGHTNING_LOGGERS", "L"]
