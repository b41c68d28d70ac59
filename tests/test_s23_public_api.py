"""The top-level package's completion list and use_scored_tta's input (trial 22, L1 and L5)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import unetkit
from unetkit.model_files.model_config import SCORED_TTA

DIR_IN_A_FRESH_PROCESS = r"""
import json
import unetkit
unetkit.use_scored_tta      # a lazy name loaded: its modules (and unetkit.data, ...) are now imported
import unetkit.data, unetkit.devices
print(json.dumps(dir(unetkit)))
"""


def test_dir_lists_the_public_names_not_the_module_internals() -> None:
    """dir(unetkit) returned globals(): tab completion offered Any, annotations, importlib, random and,
    after a first use, the subpackages loaded on the way (data, devices, files, ...)."""
    out = subprocess.run(
        [sys.executable, "-c", DIR_IN_A_FRESH_PROCESS], capture_output=True, text=True, check=True
    ).stdout
    names = json.loads(out)
    public = [name for name in names if not name.startswith("_")]
    assert public == sorted(name for name in unetkit.__all__ if not name.startswith("_"))
    assert "__version__" in names and "__doc__" in names
    for name in unetkit.__all__:
        assert getattr(unetkit, name) is not None, name


@pytest.mark.parametrize("slip", [None, "runs/r1", Path("runs/r1"), {"extra": {SCORED_TTA: "d4"}}])
def test_use_scored_tta_refuses_what_is_not_a_predictor(slip: object) -> None:
    """A run folder or None returned '' with no error: the user believed the run's TTA was on."""
    with pytest.raises(TypeError, match=r"use_scored_tta takes a loaded predictor, got \w+") as info:
        unetkit.use_scored_tta(slip)
    message = str(info.value)
    assert "\n" not in message and "unetkit.load_predictor(" in message
    if isinstance(slip, (str, Path)):
        assert "load_predictor('runs/r1')" in message


def test_use_scored_tta_still_sets_a_predictors_tta() -> None:
    predictor = SimpleNamespace(config=SimpleNamespace(extra={SCORED_TTA: "flips"}), tta=(), predict=print)
    assert unetkit.use_scored_tta(predictor) == "flips"
    assert predictor.tta == ("identity", "hflip", "vflip", "rot180")
    none_recorded = SimpleNamespace(config=SimpleNamespace(extra={}), tta=(), predict=print)
    assert unetkit.use_scored_tta(none_recorded) == ""
