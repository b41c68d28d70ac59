"""Packaged presets are thin overrides of a plan (issue 12): ``unetkit.planning.presets``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from unetkit.planning.presets import read_plan_preset
from unetkit.training.config import load_config, parse_override


def _args(**kw: object) -> argparse.Namespace:
    base = {"overrides": [], "config": "x", "budget": None, "void": None, "classes": None, "split": None,
            "mask_kind": None, "threads": None}  # fmt: skip
    return argparse.Namespace(**(base | kw))


def test_preset_becomes_fit_dir_with_flags_and_keys_after_the_plan(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "names.json").write_text('["bg", "fg"]')
    preset = tmp_path / "p.yaml"
    preset.write_text(
        f"plan: {{dir: {data}, time: 19m, void: [11, 12], classes: names.json}}\n"
        "trainer: {ema_decay: 0.99}\n"
        "data: {augment: {flips: false}, crop_size: [64, 96]}\n"
    )
    p = read_plan_preset(preset)
    assert p is not None and p.folder == data
    assert p.flags == {"budget": "19m", "void": [11, 12], "classes": tmp_path / "names.json"}
    assert p.overrides == ["trainer.ema_decay=0.99", "data.augment.flips=false", "data.crop_size=[64, 96]"]
    # Each override parses back to the preset's value.
    assert parse_override("data.crop_size=[64, 96]") == {"data": {"crop_size": [64, 96]}}
    args = _args(overrides=["trainer.seed=3"])
    p.apply(args)
    # The folder first, the preset's keys next, the command line's last (they win), no config file.
    assert args.overrides == [str(data), *p.overrides, "trainer.seed=3"]
    assert args.config is None and args.budget == "19m" and args.void == [11, 12]


def test_command_line_folder_and_options_win_over_the_preset(tmp_path: Path) -> None:
    preset = tmp_path / "p.yaml"
    preset.write_text(f"plan: {{dir: {tmp_path}, time: 19m}}\n")
    p = read_plan_preset(preset)
    assert p is not None
    args = _args(overrides=["/elsewhere", "trainer.seed=1"], budget="5m")
    p.apply(args)
    assert args.overrides == ["/elsewhere", "trainer.seed=1"] and args.budget == "5m"


def test_plain_config_is_not_a_preset_and_bad_plan_blocks_say_why(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text("trainer: {max_epochs: 2}\n")
    assert read_plan_preset(plain) is None
    bad = tmp_path / "bad.yaml"
    bad.write_text("plan: {time: 19m}\n")
    with pytest.raises(ValueError, match=r"plan: must be a mapping with dir:"):
        read_plan_preset(bad)
    bad.write_text(f"plan: {{dir: {tmp_path}, budget: 19m}}\n")
    with pytest.raises(ValueError, match=r"unknown option\(s\) budget; known: dir, time"):
        read_plan_preset(bad)


def test_packaged_isbi_and_camvid_are_plan_presets() -> None:
    isbi = read_plan_preset("isbi2012")
    camvid = read_plan_preset("camvid")
    assert isbi is not None and camvid is not None
    assert isbi.folder.parts[-1] == "isbi2012" and isbi.flags == {"budget": "19m"}
    # The one key chosen beyond the plan, on validation (benchmarks/results/isbi_sweep/selection_on_val.md).
    assert isbi.overrides == ["trainer.ema_decay=0.99"]
    assert camvid.flags["void"] == [11] and camvid.flags["budget"] == "28m"
    classes = camvid.flags["classes"]
    assert isinstance(classes, Path) and classes.is_file() and classes.name == "camvid_classes.json"
    assert camvid.overrides == []
    # A plain loader refuses them with the command that trains them.
    with pytest.raises(ValueError, match=r"plan preset"):
        load_config("camvid")
