"""``unetkit fit-maskrcnn`` piped to a file wrote Lightning's own bar into it (a multi-line rich panel with
``Epoch 0/-2`` and ``v_num: ogs_``). It now takes ``unetkit fit``'s progress: one plain line per epoch in a
file or a pipe, the paced bar in a terminal (one rule: :func:`unetkit.training.trainer.progress_callback`)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "detection"))
from maskrcnn_data import make_instance_folder

from unetkit.training import trainer as trainer_module
from unetkit.training.config import TrainerConfig
from unetkit.training.detection import fit_maskrcnn
from unetkit.training.trainer import EpochLines, ProgressBar, build_callbacks, progress_callback


def test_the_progress_choice_has_one_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert type(progress_callback(terminal=True)) is ProgressBar
    assert type(progress_callback(terminal=False)) is EpochLines
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert type(progress_callback()) is EpochLines
    # fit's callbacks take it from there too.
    chosen: list[bool | None] = []

    def spy(terminal: bool | None = None) -> EpochLines:
        chosen.append(terminal)
        return EpochLines()

    monkeypatch.setattr(trainer_module, "progress_callback", spy)
    build_callbacks(TrainerConfig(), tmp_path, terminal=True)
    assert chosen == [True]


def test_fit_maskrcnn_writes_one_plain_line_per_epoch_to_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_instance_folder(tmp_path / "data", {"train": [(64, 64), (80, 96)], "val": [(64, 64)]})
    options = {"crop_size": 64, "epoch_steps": 3, "val_images": 1, "warmup_steps": 1}
    fit_maskrcnn(folder, tmp_path / "run", 0.05, progress=True, **options)  # type: ignore[arg-type]
    out = capsys.readouterr().out  # not a terminal: as `... > log.txt`
    lines = [line for line in out.splitlines() if line.startswith("Epoch ")]
    assert lines and all(
        re.match(r"Epoch \d+: \d+/3 steps in [\d.]+ s, 0:0\d of the 0:03 budget, train/loss_step=", x)
        for x in lines
    )
    assert "\x1b" not in out and "\r" not in out and "v_num" not in out and "Epoch 0/" not in out
    # The library default stays quiet.
    fit_maskrcnn(folder, tmp_path / "quiet", 0.05, **options)  # type: ignore[arg-type]
    assert "Epoch" not in capsys.readouterr().out
