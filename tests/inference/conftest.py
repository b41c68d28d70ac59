"""Fixtures for the inference tests: one torch thread (the machine's 2 cores are shared by several jobs and
intra-op threads then spin-wait; one thread is 10-30x faster for these tiny models)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
