"""Choosing an instance method's post-processing on validation images: one rule, used by ``unetkit fit``
(which records the choice in the model) and by ``benchmarks/instances.py``.

The values tried (:func:`candidates`): ``min_size`` over :data:`MIN_SIZES` for every method, with
``min_distance`` over :data:`MIN_DISTANCES` for watershed and ``score_threshold`` over
:data:`SCORE_THRESHOLDS` for Mask R-CNN. The values with the best mean AP (0.5:0.05:0.95, per image) win;
ties go to the first in grid order, i.e. the smallest values. A model's own instances are often right but
for specks: a briefly trained U-Net's boundary map can leave hundreds of few-pixel "objects" on one image,
which a ``min_size`` of 0 counts (seen in a new-user trial of a 2-minute run on DSB2018 nuclei).

A semantic model predicts each image once; the grid re-runs only the post-processing on its (mask,
probabilities). A Mask R-CNN detects each image once, at the lowest threshold, and paints the others from
those detections (``labels_at_thresholds``). ``min_size`` filters after the method
(:func:`keep_large_instances`), which gives exactly the labels of the method run with that ``min_size``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

import numpy as np

from unetkit.inference.instances import keep_large_instances

T = TypeVar("T")

MIN_SIZES = (0, 10, 20, 40)
MIN_DISTANCES = (3, 5, 7, 9, 11, 13, 15)
SCORE_THRESHOLDS = (0.3, 0.5, 0.7)
#: Scores kept per grid row (a subset of InstanceScoreAccumulator.compute()).
REPORTED = ("ap50", "ap75", "map", "seg", "splits", "merges", "n_true", "n_pred", "ap50_pooled", "map_pooled")
#: Where a model records the values chosen for its own instance method (``ModelConfig.extra``).
RECORD_KEY = "instance_postprocess"


class Selection(NamedTuple):
    """The chosen values, every grid row with its scores (``{"values": ..., "map": ..., ...}``), seconds, and
    each row's full :meth:`~unetkit.metrics.instance.InstanceScoreAccumulator.compute` (grid order)."""

    values: dict[str, Any]
    rows: list[dict[str, Any]]
    seconds: float
    scores: list[dict[str, Any]]

    def scores_of(self, values: dict[str, Any]) -> dict[str, Any] | None:
        """The full scores of the grid row with exactly ``values``; None when the grid has no such row."""
        return next((s for r, s in zip(self.rows, self.scores, strict=True) if r["values"] == values), None)

    def record(self, method: str, images: int) -> dict[str, Any]:
        """What a model keeps of the choice (``extra[RECORD_KEY]``): the method, the values, where they were
        chosen and their val mAP."""
        return {
            "method": method,
            "values": self.values,
            "chosen_on": f"val split, {images} images: the best mean AP of the grid",
            "val_map": next(r["map"] for r in self.rows if r["values"] == self.values),
        }


def candidates(method: str) -> list[dict[str, Any]]:
    """The post-processing values tried for ``method``, in grid order (min_size varies fastest)."""
    if method == "maskrcnn":
        return [{"score_threshold": t, "min_size": m} for t in SCORE_THRESHOLDS for m in MIN_SIZES]
    if method == "watershed":
        return [{"min_distance": d, "min_size": m} for d in MIN_DISTANCES for m in MIN_SIZES]
    return [{"min_size": m} for m in MIN_SIZES]


def summary(scores: dict[str, Any]) -> dict[str, Any]:
    """The :data:`REPORTED` scores of an accumulator's ``compute()``, floats rounded to 4 places."""
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in scores.items() if k in REPORTED}


def select_postprocessing(
    predictor: Any,
    items: Sequence[T],
    load: Callable[[T], tuple[np.ndarray, np.ndarray]],
    progress: Callable[[int, int], None] | None = None,
) -> Selection:
    """Score every candidate of ``predictor.method`` on ``items`` and pick the best mean AP.

    Args:
        predictor: an :class:`~unetkit.inference.instance_predictor.InstancePredictor`.
        items: the validation samples, in any form ``load`` takes.
        load: ``item -> (image (H, W, C) as the predictor reads it, true labels int32 (H, W))``.
        progress: ``progress(images_done, images_total)``.
    """
    from unetkit.metrics.instance import InstanceScoreAccumulator

    if not items:
        raise ValueError("choosing instance post-processing needs at least one validation image; got none.")
    start = time.perf_counter()
    grid = candidates(predictor.method)
    # Group by everything but min_size: one post-processing per group, min_size filters after.
    groups: dict[tuple[tuple[str, Any], ...], list[dict[str, Any]]] = {}
    for values in grid:
        key = tuple(sorted((k, v) for k, v in values.items() if k != "min_size"))
        groups.setdefault(key, []).append(values)
    variants = {key: predictor.with_params(**dict(key), min_size=0) for key in groups}
    thresholds = [dict(key).get("score_threshold") for key in groups]
    by_threshold = hasattr(predictor, "labels_at_thresholds") and None not in thresholds
    accs = {id(v): InstanceScoreAccumulator() for v in grid}
    # Image by image (each read and predicted once, nothing kept): a semantic model's one prediction is
    # post-processed per group; a detector paints every score threshold from one detection pass.
    for index, item in enumerate(items):
        image, true = load(item)
        if predictor.has_probs:
            prediction = predictor.predict(image)
            labels = {
                k: v.labels_from_prediction(prediction.mask, prediction.probs)[0] for k, v in variants.items()
            }
        elif by_threshold:
            painted = predictor.with_params(min_size=0).labels_at_thresholds(image, thresholds)
            labels = {key: painted[t] for key, t in zip(groups, thresholds, strict=True)}
        else:
            labels = {key: variant.predict_instances(image)[0] for key, variant in variants.items()}
        for key, members in groups.items():
            for values in members:
                accs[id(values)].update(true, keep_large_instances(labels[key], values["min_size"])[0])
        if progress is not None:
            progress(index + 1, len(items))
    scores = [accs[id(values)].compute() for values in grid]
    rows = [{"values": values, **summary(full)} for values, full in zip(grid, scores, strict=True)]
    best = max(rows, key=lambda r: r["map"])  # max keeps the first of equal scores: grid order breaks ties
    return Selection(dict(best["values"]), rows, time.perf_counter() - start, scores)


def recorded_postprocessing(config: Any, method: str) -> dict[str, Any]:
    """The values recorded in a model's config (``extra[RECORD_KEY]``) for ``method``; {} when none were
    chosen for that method (another method, or a model from before the choice was recorded)."""
    extra = getattr(config, "extra", None) or (config.get("extra") if isinstance(config, dict) else None)
    record = (extra or {}).get(RECORD_KEY) or {}
    if record.get("method") != method:
        return {}
    return dict(record.get("values") or {})
