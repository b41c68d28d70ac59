"""``model.kwargs={}`` given as an override clears the model keywords a plan, a file or an earlier override
gave (it was merged into them: a no-op). An empty mapping given explicitly replaces the mapping; a
non-empty one still updates it key by key."""

from __future__ import annotations

from pathlib import Path

from unetkit.training.config import load_config

PLANNED = "model={name: unet, kwargs: {base_channels: 16, depth: 3}}"  # as to_config_overrides writes it


def test_an_empty_mapping_clears_the_model_keywords() -> None:
    assert load_config(None, [PLANNED]).model.kwargs == {"base_channels": 16, "depth": 3}
    assert load_config(None, [PLANNED, "model.kwargs={}"]).model.kwargs == {}
    assert load_config(None, ["model.kwargs.depth=3", "model={kwargs: {}}"]).model.kwargs == {}
    # then a keyword of the caller's own on a clean slate
    assert load_config(None, [PLANNED, "model.kwargs={}", "model.kwargs.depth=2"]).model.kwargs == {
        "depth": 2
    }
    # with another model: its own keywords only
    config = load_config(None, [PLANNED, "model.name=segnet", "model.kwargs={}"])
    assert config.model.name == "segnet" and config.model.kwargs == {}


def test_a_file_s_keywords_are_cleared_too(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  name: unet\n  kwargs: {depth: 3}\n")
    assert load_config(path, ["model.kwargs={}"]).model.kwargs == {}


def test_non_empty_mappings_still_merge() -> None:
    config = load_config(None, [PLANNED, "model.kwargs={depth: 2}"])
    assert config.model.kwargs == {"base_channels": 16, "depth": 2}
    config = load_config(None, ["trainer.max_epochs=7", "trainer={seed: 3}"])
    assert config.trainer.max_epochs == 7 and config.trainer.seed == 3


def test_a_plans_empty_mappings_clear_nothing(tmp_path: Path) -> None:
    """A plan with no data options and no model keywords emits no ``={}`` override: since an empty mapping
    replaces, ``data.options={}`` would clear the options of a ``--config FILE`` given with the plan."""
    from unetkit.planning.plan import Plan, to_config_overrides

    plan = Plan(
        config={"model": {"name": "segnet", "kwargs": {}}, "data": {"options": {}, "crop_size": 64}},
        reasons={},
    )
    overrides = to_config_overrides(plan)
    assert not any(o.endswith("{}") or "{}" in o for o in overrides), overrides
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  name: segnet\n  kwargs: {in_channels: 3}\ndata:\n  options: {size: 48}\n")
    config = load_config(path, overrides)
    assert config.model.kwargs == {"in_channels": 3}
    assert config.data.options == {"size": 48}
