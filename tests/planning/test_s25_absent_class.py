"""Trial 24: a class the classes file lists that no training mask read holds is named in the plan's console
report (and the fingerprint's notes in dataset.json): the model cannot learn it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import unetkit


def _folder(root: Path) -> Path:
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(root / "images" / f"{i}.png")
        mask = np.zeros((32, 32), np.uint8)
        mask[4:12, 4:12] = 1  # class 1; class 2 ("boat") in no mask
        Image.fromarray(mask).save(root / "masks" / f"{i}.png")
    (root / "classes.json").write_text(json.dumps({"classes": ["water", "land", "boat"]}))
    return root


def test_a_class_no_training_mask_holds_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from unetkit.planning import plan as plan_module

    real = plan_module.measure_candidates
    # One step a candidate: the fingerprint's note is what is checked, not the timings.
    monkeypatch.setattr(
        "unetkit.planning.measure_candidates", lambda *a, **k: real(*a, **{**k, "steps": 1, "warmup": 0})
    )
    planned = unetkit.plan_folder(_folder(tmp_path / "data"), "1m", measure_limit=2, device="cpu", threads=1)
    note = next(n for n in planned.fingerprint.notes if n.startswith("class(es) "))
    assert note.startswith("class(es) boat in none of the ") and "training masks read" in note
    assert "the model cannot learn a class it never sees" in note
    assert f"note: {note}" in planned.lines
