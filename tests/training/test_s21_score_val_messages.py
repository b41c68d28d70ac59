"""Under ``--score val`` (``evaluate.split=val``) the val split is validated on and scored: a missing or
all-void val split is named as needed for both (it was named for evaluate.split alone)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from training_helpers import all_void_val_folder

from unetkit.training.config import load_config
from unetkit.training.fit import _needed_splits, check_inputs


def test_the_val_split_is_needed_for_validation_and_the_final_scores() -> None:
    assert _needed_splits("val") == {
        "train": "training",
        "val": "validation and the final scores of evaluate.split",
    }
    assert _needed_splits("test") == {
        "train": "training",
        "val": "validation",
        "test": "the final scores of evaluate.split",
    }


def test_a_missing_val_split_under_score_val_names_both_uses() -> None:
    spec = SimpleNamespace(name="cells", splits={"train": ["a"], "test": ["b"]})
    with pytest.raises(ValueError) as err:
        check_inputs(load_config(None, ["evaluate.split=val"]), spec)  # type: ignore[arg-type]
    assert str(err.value).startswith(
        "dataset 'cells' has no 'val' split (needed for validation and the final scores of evaluate.split)"
    )


def test_an_all_void_val_split_under_score_val_names_both_uses(tmp_path: Path) -> None:
    from unetkit.training.evaluate import resolve_dataset

    root = tmp_path / "data"
    options = all_void_val_folder(root)
    config = load_config(
        None, ["data.dataset=folder", f"data.root={root}", f"data.options={options}", "evaluate.split=val"]
    )
    with pytest.raises(
        ValueError, match=r"it is needed for validation and the final scores of evaluate\.split\)"
    ):
        check_inputs(config, resolve_dataset(config))
