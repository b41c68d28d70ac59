"""Trials 22 and 25: each image's own scores, beside the pooled ones. ``predict --masks`` writes them into
summary.csv (blank for an image without ground truth); an evaluation (``fit``'s, ``validate``, ``test``)
writes ``per_image_<split>.csv`` and titles each figure panel with its image's headline score. One rule:
:meth:`ScoreAccumulator.update` scores the image's own confusion matrix as the pooled one is scored."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.test_evaluation import ENCODING, ThresholdPredictor, _write_pairs

from unetkit.evaluation import evaluate_split
from unetkit.inference.batch import GroundTruth, predict_files
from unetkit.metrics.scoring import ScoreAccumulator, image_score_cells, score_predictions


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_update_returns_the_images_own_scores_and_pools_as_before() -> None:
    rng = np.random.default_rng(3)
    pairs = [(rng.integers(0, 3, (9, 7)), rng.integers(0, 3, (9, 7))) for _ in range(3)]
    acc = ScoreAccumulator(3)
    for pred, truth in pairs:
        own = acc.update(pred, truth)
        alone = score_predictions([(pred, truth)], 3)
        assert own["miou"] == pytest.approx(alone["miou"])
        np.testing.assert_allclose(own["iou"], alone["iou"])
        assert own["pixel_accuracy"] == pytest.approx(alone["pixel_accuracy"])
    np.testing.assert_array_equal(acc.compute()["confusion"], score_predictions(pairs, 3)["confusion"])


def test_isbi_images_get_their_rand_and_pixel_errors() -> None:
    pred = np.zeros((8, 8), np.int64)
    pred[2:6, 2:6] = 1
    truth = pred.copy()
    truth[2, 2:6] = 0
    own = ScoreAccumulator(2, isbi=True).update(pred, truth)
    cells = image_score_cells(own, ["membrane", "cell"])
    assert list(cells) == ["miou", "pixel_error", "rand_error", "iou_membrane", "iou_cell"]
    assert float(cells["pixel_error"]) == pytest.approx(4 / 64)
    assert cells["rand_error"] != ""
    assert image_score_cells({}, ["a", "b", "c"], 3) == dict.fromkeys(
        ["miou", "pixel_accuracy", "iou_a", "iou_b", "iou_c"], ""
    )


def test_predict_writes_each_images_scores_into_summary_csv(tmp_path: Path) -> None:
    pairs = _write_pairs(tmp_path / "data", count=3)
    (tmp_path / "data" / "masks" / "s1.png").unlink()  # one image without ground truth: blank cells
    truth = GroundTruth(tmp_path / "data" / "masks", ENCODING, isbi=True)
    result = predict_files(ThresholdPredictor(), [p for p, _ in pairs], tmp_path / "out", ground_truth=truth)
    assert not result.failures
    rows = {Path(r["file"]).stem: r for r in _rows(tmp_path / "out" / "summary.csv")}
    for stem in ("s0", "s2"):
        image = np.asarray(Image.open(tmp_path / "data" / "images" / f"{stem}.png"))
        target = np.asarray(Image.open(tmp_path / "data" / "masks" / f"{stem}.png")).astype(np.int64)
        target[target == 9] = 255
        alone = score_predictions([((image > 127).astype(np.int64), target)], 2, isbi=True)
        assert float(rows[stem]["miou"]) == pytest.approx(float(alone["miou"]), abs=1e-6)
        assert float(rows[stem]["pixel_error"]) == pytest.approx(float(alone["pixel_error"]), abs=1e-6)
        assert float(rows[stem]["iou_fg"]) == pytest.approx(float(alone["iou"][1]), abs=1e-6)
        assert rows[stem]["rand_error"] != ""
    assert rows["s1"]["miou"] == rows["s1"]["pixel_error"] == rows["s1"]["iou_fg"] == ""


def test_predict_without_ground_truth_has_no_score_columns(tmp_path: Path) -> None:
    pairs = _write_pairs(tmp_path / "data", count=1)
    predict_files(ThresholdPredictor(), [pairs[0][0]], tmp_path / "out")
    assert "miou" not in _rows(tmp_path / "out" / "summary.csv")[0]


def test_an_evaluation_writes_per_image_scores(tmp_path: Path) -> None:
    pairs = _write_pairs(tmp_path / "data", count=3)
    evaluate_split(ThresholdPredictor(), pairs, ENCODING, ["bg", "fg"], out_dir=tmp_path / "run", split="val")
    rows = _rows(tmp_path / "run" / "per_image_val.csv")
    assert [Path(r["file"]).stem for r in rows] == ["s0", "s1", "s2"]
    assert all(Path(r["mask_file"]).parent.name == "masks" for r in rows)
    # The same cells as predict's summary.csv for the same images.
    predict_files(
        ThresholdPredictor(),
        [p for p, _ in pairs],
        tmp_path / "out",
        ground_truth=GroundTruth(tmp_path / "data" / "masks", ENCODING),
    )
    summary = _rows(tmp_path / "out" / "summary.csv")
    for mine, theirs in zip(rows, summary, strict=True):
        assert {k: mine[k] for k in ("miou", "pixel_error", "iou_bg", "iou_fg")} == {
            k: theirs[k] for k in ("miou", "pixel_error", "iou_bg", "iou_fg")
        }
    shutil.rmtree(tmp_path / "out")
