"""A model trained on plain classes: fit's val choice compares components and watershed (watershed's
min_distance grid as the benchmark's, with the min_size grid) and records both methods' tuned values, so
``--instances watershed`` runs tuned even where components won (trial finding 3); a min_size chosen at the
grid's largest value is noted (finding 7)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from test_instance_predictor import discs_image, save_threshold_model
from test_instance_selection import blob_and_specks

from unetkit.inference.instance_predictor import load_instance_predictor
from unetkit.inference.instance_selection import (
    MIN_DISTANCES,
    MIN_SIZES,
    RECORD_KEY,
    SEMANTIC_METHODS,
    candidates,
    edge_note,
    recorded_postprocessing,
    select_postprocessing,
)
from unetkit.inference.instances import instances_from_mask, watershed_grid
from unetkit.model_files.model_config import ModelConfig


def discs_truth() -> np.ndarray:
    """The three discs of :func:`discs_image`, one label each (the two touching ones split at x = 14)."""
    yy, xx = np.mgrid[:40, :36]
    truth = np.zeros((40, 36), np.int32)
    for label, (cy, cx) in enumerate([(10, 10), (10, 18), (28, 20)], start=1):
        truth[((yy - cy) ** 2 + (xx - cx) ** 2 <= 25) & (truth == 0)] = label
    return truth


def _save_record(folder: Path, record: dict) -> ModelConfig:
    config = ModelConfig.load(folder / "config.json")
    config.extra = {**config.extra, RECORD_KEY: record}
    config.save(folder / "config.json")
    return config


def test_a_semantic_choice_compares_components_and_watershed(tmp_path: Path) -> None:
    folder = save_threshold_model(tmp_path / "m")
    predictor = load_instance_predictor(folder, "components", min_size=0)
    sample = (discs_image(), discs_truth())
    selection = select_postprocessing(predictor, [sample, sample], lambda s: s, methods=SEMANTIC_METHODS)
    # Both grids, components first: watershed's min_distance grid is the benchmark's, with every min_size.
    assert [(r["method"], r["values"]) for r in selection.rows] == [
        *(("components", v) for v in candidates("components")),
        *(("watershed", v) for v in candidates("watershed")),
    ]
    assert len(selection.rows) == len(MIN_SIZES) * (1 + len(MIN_DISTANCES))
    # Components merge the touching discs; a watershed splits them and wins.
    assert selection.best_of("components")["map"] < selection.best_of("watershed")["map"] == 1.0
    assert selection.method == "watershed"
    assert selection.values == {"min_distance": 3, "min_size": 0}  # ties: the first in grid order
    record = selection.record("components", 2)
    assert record["method"] == "watershed" and record["values"] == selection.values
    assert "components and watershed compared" in record["chosen_on"]
    assert record["per_method"]["components"]["values"] == {"min_size": 0}
    assert record["per_method"]["watershed"]["values"] == selection.values
    # One method alone: as before (no method chosen, rows of that method only).
    alone = select_postprocessing(predictor, [sample], lambda s: s)
    assert alone.method is None and {r["method"] for r in alone.rows} == {"components"}


def test_watershed_runs_tuned_where_components_won(tmp_path: Path) -> None:
    """Components win on isolated objects with specks (ties go to components, the first); the record still
    keeps watershed's best values, which ``--instances watershed`` and load_instance_predictor use."""
    folder = save_threshold_model(tmp_path / "m")
    predictor = load_instance_predictor(folder, "components", min_size=0)
    samples = [blob_and_specks(seed) for seed in range(2)]
    selection = select_postprocessing(predictor, samples, lambda s: s, methods=SEMANTIC_METHODS)
    assert selection.method == "components" and selection.values == {"min_size": 10}
    record = selection.record("components", 2)
    tuned = record["per_method"]["watershed"]["values"]
    assert tuned == {"min_distance": 3, "min_size": 10}
    config = _save_record(folder, record)
    assert recorded_postprocessing(config, "components") == {"min_size": 10}
    assert recorded_postprocessing(config, "watershed") == tuned
    assert recorded_postprocessing(config, "boundary") == {}
    params = load_instance_predictor(folder, "watershed").params
    assert params["min_distance"] == 3 and params["min_size"] == 10  # not the defaults 5 and 0
    assert load_instance_predictor(folder, "auto").method == "components"


def test_the_watershed_grid_shares_one_distance_transform_and_gives_each_watershed() -> None:
    image = discs_image()[..., 0]
    mask = (image > 127).astype(np.int64)
    rng = np.random.default_rng(0)
    fg = np.clip(mask * 0.9 + rng.random(mask.shape) * 0.1, 0, 1).astype(np.float32)
    probs = np.stack([1 - fg, fg])
    grid = watershed_grid(mask, [1], [3, 5, 9, 3], probs=probs, min_size=4)
    assert list(grid) == [3, 5, 9]
    for d, (labels, count) in grid.items():
        expected, n = instances_from_mask(mask, [1], "watershed", 4, probs=probs, min_distance=d)
        np.testing.assert_array_equal(labels, expected)
        assert count == n
    empty = watershed_grid(np.zeros((5, 6), np.int64), [1], [3])
    assert empty[3][1] == 0 and empty[3][0].shape == (5, 6)


def test_a_min_size_at_the_grid_edge_is_noted(tmp_path: Path) -> None:
    assert edge_note({"min_size": MIN_SIZES[-1]}) == (
        f"min_size {MIN_SIZES[-1]} is at the grid's edge (the largest of 0/10/20/40); objects smaller than "
        f"{MIN_SIZES[-1]} pixels are dropped: pass --min-size 0 to keep them"
    )
    assert edge_note({"min_size": 20}) is None and edge_note({"score_threshold": 0.5}) is None
    # Specks of up to 30 pixels: only min_size 40 drops them all.
    image = np.full((64, 64), 40, np.uint8)
    truth = np.zeros((64, 64), np.int32)
    image[4:20, 4:20], truth[4:20, 4:20] = 220, 1
    for i in range(3):
        image[30 + 10 * i : 35 + 10 * i, 40:46] = 220  # 5x6 = 30 px, not objects
    predictor = load_instance_predictor(save_threshold_model(tmp_path / "m"), "components", min_size=0)
    selection = select_postprocessing(predictor, [(image[..., None], truth)], lambda s: s)
    assert selection.values == {"min_size": 40}
    record = selection.record("components", 1)
    assert record["note"] == edge_note({"min_size": 40})
    assert "note" not in select_postprocessing(predictor, [blob_and_specks(0)], lambda s: s).record("c", 1)
