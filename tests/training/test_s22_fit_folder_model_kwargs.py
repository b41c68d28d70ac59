"""fit_folder refuses a model keyword the model does not take before it plans, as ``unetkit fit DIR`` does:
``overrides=["model.kwargs.depht=3"]`` (the planned U-Net's keyword misspelt) was refused only when the
model was built, after ~30 s of measuring; with ``plan=FILE``, only when fit built the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from test_s17_fit_folder_early import _folder, no_planning  # noqa: F401 (a fixture)

import unetkit
from unetkit.training import fit as fit_module


@pytest.mark.usefixtures("no_planning")
def test_a_keyword_the_planned_model_does_not_take_is_refused_before_planning(tmp_path: Path) -> None:
    root = _folder(tmp_path / "data")
    with pytest.raises(TypeError, match=r"'depht'.*model 'unet'.*Did you mean 'depth'"):
        unetkit.fit_folder(root, "1m", overrides=["model.kwargs.depht=3"])
    # A model named in the overrides is checked with its own keywords (as before).
    with pytest.raises(TypeError, match=r"'depht'.*model 'segnet'"):
        unetkit.fit_folder(root, "1m", overrides=["model.name=segnet", "model.kwargs.depht=3"])
    # A keyword the U-Net takes goes on to planning.
    with pytest.raises(AssertionError, match="planned before refusing"):
        unetkit.fit_folder(root, "1m", overrides=["model.kwargs.depth=3"])


def test_with_a_plan_file_the_plan_files_model_is_checked_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _folder(tmp_path / "data")

    def trained(config: Any, **kwargs: Any) -> None:
        raise AssertionError(f"fit_folder trained with model {config.model}")

    monkeypatch.setattr(fit_module, "fit", trained)
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"data": {"root": str(root.resolve())}, "model": {"name": "segnet"}}))
    out = tmp_path / "run"
    with pytest.raises(TypeError, match=r"'depht'.*model 'segnet'"):
        unetkit.fit_folder(root, plan=plan, out=out, overrides=["model.kwargs.depht=3"])
    assert not out.exists()
    with pytest.raises(AssertionError, match="trained with model"):  # segnet's own keyword passes
        unetkit.fit_folder(root, plan=plan, out=out, overrides=["model.kwargs.channels=[8,16]"])
