from __future__ import annotations

from pathlib import Path

import pytest

from unetkit.training.config import DEFAULT_CONFIG, load_config, parse_override


def test_defaults_untouched_by_overrides() -> None:
    cfg = load_config(None, ["trainer.max_epochs=3", "model.kwargs.base_channels=8", "data.crop_size=32"])
    assert cfg["trainer"]["max_epochs"] == 3
    assert cfg["model"]["kwargs"] == {"base_channels": 8}
    assert cfg["data"]["crop_size"] == [32, 32]
    cfg = load_config("synthetic", ["model.kwargs.base_channels=8"])
    assert cfg["model"]["kwargs"] == {"base_channels": 8, "depth": 3}  # free-form sections merge keys
    assert DEFAULT_CONFIG["trainer"]["max_epochs"] == 20  # deep copy, not mutated


def test_override_parses_yaml_values() -> None:
    assert load_config(None, ["optim.lr=1e-3"])["optim"]["lr"] == 1e-3  # YAML 1.1 reads 1e-3 as a string
    assert parse_override("loss={ce: 1, dice: 0.5}") == {"loss": {"ce": 1, "dice": 0.5}}
    with pytest.raises(ValueError, match=r"key\.sub=value"):
        parse_override("trainer.max_epochs")


def test_unknown_key_suggests_the_close_one() -> None:
    with pytest.raises(
        ValueError, match=r"Unknown config key 'trainer.max_epoch'.*Did you mean 'trainer.max_epochs'"
    ):
        load_config(None, ["trainer.max_epoch=3"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.max_epochs=0", "max_epochs must be a positive integer, got 0"),
        ("optim.lr=-1", "optim.lr must be a positive number, got -1"),
        ("data.batch_size=two", "data.batch_size must be a positive integer, got 'two'"),
        ("data.crop_size=[1, 2, 3]", r"data.crop_size must be \[H, W\]"),
        ("trainer=5", "must be a mapping"),
    ],
)
def test_bad_values_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(None, [override])


def test_packaged_configs_load_by_name(tmp_path: Path) -> None:
    for name in ("synthetic", "isbi2012", "camvid"):
        cfg = load_config(name)
        assert cfg["data"]["dataset"] == name
        # The ladder's overrides (constant LR, no time schedule to pace) must stay valid on every config.
        load_config(name, ["schedule.name=none", "trainer.max_time_minutes=2", "evaluate.checkpoint=best"])
    with pytest.raises(FileNotFoundError, match="one of: camvid, isbi2012, synthetic"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_config(bad)
