"""One answer to "is a graph being recorded right now?" for models, layers and losses.

Python-side checks on sizes or values (``int(x.shape[-1])``, ``bool(t.any())``) would freeze the branch taken
at trace time into an exported graph, or fail on symbolic sizes; they are skipped while
``torch.jit.trace`` or ``torch.export`` (both ONNX exporters use one) record. Under plain ``torch.compile``
they stay: a guard recompiles for the other branch, so compiled results equal eager ones.
"""

from __future__ import annotations

import torch

__all__ = ["is_tracing"]


def is_tracing() -> bool:
    """True while ``torch.jit.trace`` or ``torch.export`` traces (not under plain ``torch.compile``)."""
    return bool(torch.jit.is_tracing() or torch.compiler.is_exporting())
