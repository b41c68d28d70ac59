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


def test_preset_takes_data_root_as_its_folder_and_names_the_fix_when_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A README trial: `fit --config camvid data.root=/copy` planned ../shared/data/camvid and reported it
    missing, naming neither DIR nor UNETKIT_DATA."""
    import argparse

    monkeypatch.delenv("UNETKIT_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    preset = tmp_path / "camvid.yaml"
    preset.write_text("plan: {dir: ../shared/data/camvid, time: 1m}\ntrainer: {ema_decay: 0.99}\n")
    found = read_plan_preset(preset)
    assert found is not None
    args = argparse.Namespace(overrides=["data.root=/my/camvid", "trainer.seed=1"], config=preset)
    found.apply(args)
    assert args.overrides == ["/my/camvid", "trainer.ema_decay=0.99", "trainer.seed=1"]
    missing = argparse.Namespace(overrides=["trainer.seed=1"], config=preset)
    fix = r"give your copy's folder: unetkit fit /path/to/camvid --config camvid \(or set UNETKIT_DATA"
    with pytest.raises(ValueError, match=r"preset plans .*camvid, which does not exist; " + fix):
        found.apply(missing)
    # A folder given first still wins over the preset's (and data.root= then stays an override).
    given = argparse.Namespace(overrides=["/other", "data.root=/x"], config=preset)
    found.apply(given)
    assert given.overrides[0] == "/other" and "data.root=/x" in given.overrides
