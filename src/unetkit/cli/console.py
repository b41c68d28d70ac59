"""Console output shared by the batch commands (``predict``, ``kmeans``): exit codes and error lines."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_OK = 0
EXIT_PARTIAL = 3  # some inputs failed, the others completed


def report_unmatched(patterns: Sequence[str]) -> int:
    """Name each input pattern that matched nothing on stderr; returns how many (each counts as a failure)."""
    for pattern in patterns:
        print(f"error: {pattern}: no such file or no image matched", file=sys.stderr)
    return len(patterns)


def report_failure(path: Path, exc: Exception) -> None:
    """One ``error: <path>: <reason>`` line on stderr (through tqdm, so a progress bar stays intact)."""
    from tqdm import tqdm

    message = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
    tqdm.write(f"error: {message}", file=sys.stderr)
