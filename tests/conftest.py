"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Test models are tiny and some tests run subprocesses beside this one: one intra-op thread avoids
# oversubscribed OpenMP threads waiting on each other (measured 10x slower on the 2-core CI machine).
torch.set_num_threads(1)

SHARED_DATA = Path(
    os.environ.get("UNETKIT_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; skips the test when it is absent."""
    path = SHARED_DATA.resolve()
    if not path.is_dir():
        pytest.skip(f"shared data folder not found at {path}")
    return path


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
