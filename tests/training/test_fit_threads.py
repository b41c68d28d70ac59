"""fit(config) trains with ``trainer.num_threads`` and leaves the caller's thread count as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from training_helpers import TINY

from unetkit.training.config import load_config
from unetkit.training.fit import fit
from unetkit.training.task import SegmentationTask


@pytest.mark.slow  # 12 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_fit_trains_with_the_configs_thread_count_and_restores_the_callers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CLI and fit_folder applied trainer.num_threads; fit(config) from Python trained with torch's
    # default whatever the config said (and a replay "with the same thread count" was not).
    caller = torch.get_num_threads()
    wanted = 2 if caller == 1 else 1
    seen: list[int] = []
    training_step = SegmentationTask.training_step

    def recording(self: SegmentationTask, batch: Any, batch_idx: int) -> Any:
        seen.append(torch.get_num_threads())
        return training_step(self, batch, batch_idx)

    monkeypatch.setattr(SegmentationTask, "training_step", recording)
    overrides = [o for o in TINY if not o.startswith("trainer.num_threads=")]
    config = load_config(
        "synthetic",
        [*overrides, f"output.root={tmp_path}", "output.name=r", "trainer.max_epochs=1",
         f"trainer.num_threads={wanted}"],
    )  # fmt: skip
    fit(config)
    assert seen and set(seen) == {wanted}
    assert torch.get_num_threads() == caller
