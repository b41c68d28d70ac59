"""A plan preset's folder follows UNETKIT_DATA (trial 18, finding 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from unetkit.planning.presets import read_plan_preset


def test_preset_folder_follows_unetkit_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    preset = tmp_path / "p.yaml"
    preset.write_text("plan: {dir: ../shared/data/camvid, time: 1m}\n")
    data = tmp_path / "data"
    (data / "camvid").mkdir(parents=True)
    monkeypatch.setenv("UNETKIT_DATA", str(data))
    found = read_plan_preset(preset)
    assert found is not None and found.folder == data / "camvid"
