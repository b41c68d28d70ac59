from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from unetkit.planning.checks import check_unknown_names
from unetkit.training.config import (
    Config,
    TrainerConfig,
    load_config,
    parse_override,
    save_config,
)


def test_defaults_untouched_by_overrides() -> None:
    cfg = load_config(None, ["trainer.max_epochs=3", "model.kwargs.base_channels=8", "data.crop_size=32"])
    assert cfg.trainer.max_epochs == 3
    assert cfg.model.kwargs == {"base_channels": 8}
    assert cfg.data.crop_size == (32, 32)
    cfg = load_config("synthetic", ["model.kwargs.base_channels=8"])
    assert cfg.model.kwargs == {"base_channels": 8, "depth": 3}  # free-form sections merge keys
    assert Config().trainer.max_epochs == 20 and TrainerConfig().max_epochs == 20  # defaults: one place


def test_later_loss_dict_replaces_the_earlier_one() -> None:
    cfg = load_config(None, ["loss={ce: 1, dice: 0.5}", "loss={focal: 2}"])
    assert cfg.loss == {"focal": 2.0}


def test_override_parses_yaml_values() -> None:
    assert load_config(None, ["optim.lr=1e-3"]).optim.lr == 1e-3  # YAML 1.1 reads 1e-3 as a string
    assert parse_override("loss={ce: 1, dice: 0.5}") == {"loss": {"ce": 1, "dice": 0.5}}
    with pytest.raises(ValueError, match=r"key\.sub=value"):
        parse_override("trainer.max_epochs")


def test_unknown_key_suggests_the_close_one() -> None:
    with pytest.raises(
        ValueError, match=r"Unknown config key 'trainer.max_epoch'.*Did you mean 'trainer.max_epochs'"
    ):
        load_config(None, ["trainer.max_epoch=3"])
    with pytest.raises(
        ValueError, match=r"Unknown config key 'data.augment.brightnes'.*'data.augment.brightness'"
    ):
        load_config(None, ["data.augment.brightnes=0.3"])
    with pytest.raises(ValueError, match=r"Unknown dataset 'isbi'\. Did you mean 'isbi2012'"):
        load_config(None, ["data.dataset=isbi"])
    with pytest.raises(
        ValueError, match=r"unknown option\(s\) \['num_image'\] for dataset 'synthetic'.*num_images"
    ):
        load_config(None, ["data.options={num_image: 3}"])


@pytest.mark.parametrize(
    ("override", "fix"),
    [
        ("plan.dir=/data/camvid", "give the folder as DIR: unetkit fit DIR --config PRESET."),
        ("plan.time=5m", "give it as fit's option --time."),
        ("plan.mask_kind=binary", "give it as fit's option --mask-kind."),
        (
            "plan={dir: /data/camvid}",
            "its options as --time, --void, --classes, --split, --mask-kind, --threads.",
        ),
    ],
)
def test_a_preset_plan_key_is_refused_naming_where_it_goes(override: str, fix: str) -> None:
    # plan: is a preset file's block, read before any config exists: a trial's plan.dir= moved no folder.
    # "Unknown config key" first: fit DIR refuses it before measuring (planning.checks.check_unknown_names).
    key = override.split("=", 1)[0]
    with pytest.raises(ValueError) as info:
        load_config(None, ["trainer.max_epochs=2", override])
    text = str(info.value)
    assert text.startswith(f"Unknown config key '{key}': plan: is a preset file's block") and text.endswith(
        fix
    )
    assert "\n" not in text
    with pytest.raises(ValueError, match="plan: is a preset file's block"):
        check_unknown_names([override])  # what fit DIR and fit_folder check before the data is measured


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.max_epochs=0", r"trainer\.max_epochs=0 is invalid .*; expected a positive integer"),
        ("trainer.max_epochs=2.5", r"trainer\.max_epochs=2\.5 is invalid"),
        ("optim.lr=-1", r"optim\.lr=-1 is invalid \(input should be greater than 0\); expected a positive"),
        ("optim.lr=true", r"optim\.lr: expected a number, got True"),
        ("data.batch_size=two", r"data\.batch_size='two' is invalid"),
        ("data.crop_size=[1, 2, 3]", r"data\.crop_size must be an int or a pair of ints \(h, w\)"),
        ("trainer=5", "must be a mapping"),
        ("trainer.ema_decay=1.5", r"trainer\.ema_decay=1\.5 is invalid.*a number in \(0, 1\)"),
        ("evaluate.checkpoint=final", r"Unknown evaluate\.checkpoint 'final'\. Available: best, last"),
        ("loss={ce: -1}", r"loss weight for 'ce' must be a finite number >= 0, got -1"),
        ("data.augment.scale=[1.2, 0.8]", r"data\.augment: scale must be \(min, max\) with 0 < min <= max"),
        ("data.augment.elastic_grid=1", r"data\.augment: elastic_grid must be >= 2, got 1"),
    ],
)
def test_bad_values_name_the_key_the_value_and_the_fix(override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        load_config(None, [override])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "override",
    [
        "optim.lr=.nan",
        "optim.lr=.inf",
        "optim.weight_decay=-.inf",
        "trainer.max_time_minutes=.nan",
        "trainer.gradient_clip_val=.inf",
        "schedule.power=.nan",
        "class_weights=[1.0, .nan, 1.0]",
        "loss={ce: .nan}",
        "data.augment.brightness=.nan",
        "data.weight_map={w0: .inf}",
    ],
)
def test_non_finite_numbers_are_refused(override: str) -> None:
    key = override.split("=")[0]
    with pytest.raises(ValueError, match=r"finite") as info:
        load_config(None, [override])
    assert key.split(".")[0] in str(info.value) and "\n" not in str(info.value)


def test_packaged_configs_load_by_name(tmp_path: Path) -> None:
    cfg = load_config("synthetic")
    assert cfg.data.dataset == "synthetic"
    # The fixed recipes of the benchmarks (the ladder's overrides: constant LR, no time schedule to pace).
    for name in ("isbi2012", "camvid"):
        path = Path(__file__).resolve().parents[2] / "benchmarks" / "configs" / f"{name}.yaml"
        ladder = ["schedule.name=none", "trainer.max_time_minutes=2", "evaluate.checkpoint=best"]
        cfg = load_config(path, ladder)
        assert cfg.data.dataset == name
        # The packaged isbi2012/camvid are plan presets (tests/planning/test_presets.py): not a plain config.
        with pytest.raises(ValueError, match=r"is a plan preset .*unetkit fit --config"):
            load_config(name)
    with pytest.raises(FileNotFoundError, match="one of: camvid, isbi2012, synthetic"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_config(bad)


def test_saved_config_is_plain_yaml_that_loads_back_equal(tmp_path: Path) -> None:
    cfg = load_config(
        Path(__file__).resolve().parents[2] / "benchmarks" / "configs" / "isbi2012.yaml",
        [
            "data.weight_map={w0: 10, sigma: 5}",
            "loss={weighted_ce: 1, dice: 0.5}",
            "data.augment.gamma=[70, 130]",
        ],
    )
    save_config(cfg, tmp_path / "config.yaml")
    text = (tmp_path / "config.yaml").read_text()
    assert "!!" not in text  # no Python tags: plain YAML
    assert yaml.safe_load(text)["data"]["augment"]["gamma"] == [70, 130]
    assert load_config(tmp_path / "config.yaml") == cfg
    assert not [p for p in tmp_path.iterdir() if p.name != "config.yaml"], "no temp file left behind"


def test_assignments_are_checked() -> None:
    cfg = load_config("synthetic")
    cfg.data.crop_size = 48  # type: ignore[assignment]
    assert cfg.data.crop_size == (48, 48)
    with pytest.raises(ValueError, match="finite"):
        cfg.optim.lr = float("nan")


def test_monitor_mode() -> None:
    assert TrainerConfig(monitor="val/loss").monitor_mode == "min"
    assert TrainerConfig(monitor="val/pixel_error").monitor_mode == "min"
    assert TrainerConfig().monitor_mode == "max"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("false", False),
        ("none", False),
        ("flips", "identity,hflip,vflip,rot180"),
        ("identity,hflip", "identity,hflip"),
        ("[identity, HFLIP]", "identity,hflip"),
        ("[identity, rot90, rot180, rot270, hflip, vflip, transpose, antitranspose]", True),
    ],
)
def test_evaluate_tta_takes_a_subset_of_transforms(value: str, expected: bool | str) -> None:
    assert load_config("synthetic", [f"evaluate.tta={value}"]).evaluate.tta == expected


def test_evaluate_tta_unknown_name_lists_the_options() -> None:
    expected = r"evaluate\.tta: unknown TTA transform 'hfip': give a set \(d4, flips or none\) or transforms"
    with pytest.raises(ValueError, match=expected):
        load_config("synthetic", ["evaluate.tta=hfip"])
