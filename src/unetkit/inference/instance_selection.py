"""Choosing an instance method's post-processing on validation images: one rule, used by ``unetkit fit``
(which records the choice in the model) and by ``benchmarks/instances.py``.

The values tried (:func:`candidates`): ``min_size`` over :data:`MIN_SIZES` for every method, with
``min_distance`` over :data:`MIN_DISTANCES` for watershed and ``score_threshold`` over
:data:`SCORE_THRESHOLDS` for Mask R-CNN. The values with the best mean AP (0.5:0.05:0.95, per image) win;
ties go to the first in grid order, i.e. the smallest values. A model trained on plain classes (a semantic
target) can be split by components or by watershed: ``methods=SEMANTIC_METHODS`` scores both grids on the
same predictions and picks the best row of either (ties: components, the first); the record keeps each
method's own best values too (``per_method``), so a method that lost still runs tuned
(:func:`recorded_postprocessing`). A ``min_size`` chosen at the grid's largest value is noted
(:func:`edge_note`): objects smaller than it are dropped, and a larger value was not tried.

A model's own instances are often right but for specks: a briefly trained U-Net's boundary map can leave
hundreds of few-pixel "objects" on one image, which a ``min_size`` of 0 counts (seen in a new-user trial of a
2-minute run on DSB2018 nuclei).

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

from unetkit.inference.instances import keep_large_instances, watershed_grid

T = TypeVar("T")

MIN_SIZES = (0, 10, 20, 40)
#: The methods compared for a model trained on plain classes (both split the mask of any semantic model).
SEMANTIC_METHODS = ("components", "watershed")
MIN_DISTANCES = (3, 5, 7, 9, 11, 13, 15)
SCORE_THRESHOLDS = (0.3, 0.5, 0.7)
#: Scores kept per grid row (a subset of InstanceScoreAccumulator.compute()).
REPORTED = ("ap50", "ap75", "map", "seg", "splits", "merges", "n_true", "n_pred", "ap50_pooled", "map_pooled")
#: Where a model records the values chosen for its own instance method (``ModelConfig.extra``).
RECORD_KEY = "instance_postprocess"


def edge_note(values: dict[str, Any]) -> str | None:
    """A note when ``values`` hold a ``min_size`` at the grid's largest value (a larger one might have
    scored better, and every smaller object is dropped), else None."""
    size = values.get("min_size")
    if size is None or int(size) != MIN_SIZES[-1] or MIN_SIZES[-1] == 0:
        return None
    return (
        f"min_size {size} is at the grid's edge (the largest of {'/'.join(map(str, MIN_SIZES))}); "
        f"objects smaller than {size} pixels are dropped: pass --min-size 0 to keep them"
    )


class Selection(NamedTuple):
    """The chosen values, every grid row with its scores (``{"method": ..., "values": ..., "map": ...,
    ...}``), seconds, each row's full :meth:`~unetkit.metrics.instance.InstanceScoreAccumulator.compute`
    (grid order) and the chosen method (None: the predictor's own, the only one scored)."""

    values: dict[str, Any]
    rows: list[dict[str, Any]]
    seconds: float
    scores: list[dict[str, Any]]
    method: str | None = None

    def best_of(self, method: str) -> dict[str, Any] | None:
        """The best grid row of ``method`` (ties: the first), None when it was not scored."""
        rows = [r for r in self.rows if r["method"] == method]
        return max(rows, key=lambda r: r["map"]) if rows else None

    def record(self, method: str | None, images: int) -> dict[str, Any]:
        """What a model keeps of the choice (``extra[RECORD_KEY]``): the method (the chosen one when several
        were compared, else ``method``), the values, where they were chosen and their val mAP; a ``note``
        when ``min_size`` is at the grid's edge (:func:`edge_note`); with several methods, ``per_method``:
        each one's best values and val mAP (what ``--instances METHOD`` uses)."""
        methods = list(dict.fromkeys(r["method"] for r in self.rows))
        row_method = self.method or methods[0]
        out: dict[str, Any] = {
            "method": self.method or method,
            "values": self.values,
            "chosen_on": f"val split, {images} images: the best mean AP of the grid"
            + (f" ({' and '.join(methods)} compared)" if len(methods) > 1 else ""),
            "val_map": next(
                r["map"] for r in self.rows if r["values"] == self.values and r["method"] == row_method
            ),
        }
        note = edge_note(self.values)
        if note:
            out["note"] = note
        if len(methods) > 1:
            per_method: dict[str, Any] = {}
            for name in methods:
                best = self.best_of(name) or {}
                entry = {"values": dict(best["values"]), "val_map": best["map"]}
                note = edge_note(best["values"])
                if note:
                    entry["note"] = note
                per_method[name] = entry
            out["per_method"] = per_method
        return out


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
    methods: Sequence[str] | None = None,
) -> Selection:
    """Score every candidate of ``predictor.method`` (or of each of ``methods``) on ``items`` and pick the
    best mean AP.

    Args:
        predictor: an :class:`~unetkit.inference.instance_predictor.InstancePredictor`.
        items: the validation samples, in any form ``load`` takes.
        load: ``item -> (image (H, W, C) as the predictor reads it, true labels int32 (H, W))``.
        progress: ``progress(images_done, images_total)``.
        methods: instance methods to compare on the same predictions (a semantic predictor only; e.g.
            :data:`SEMANTIC_METHODS`); None: ``predictor.method`` alone. The chosen one is
            :attr:`Selection.method`.
    """
    from unetkit.metrics.instance import InstanceScoreAccumulator

    if not items:
        raise ValueError("choosing instance post-processing needs at least one validation image; got none.")
    names = list(dict.fromkeys(methods)) if methods else [predictor.method]
    if len(names) > 1 and not predictor.has_probs:
        raise ValueError(f"comparing instance methods needs a semantic model; {predictor.method!r} has one.")
    start = time.perf_counter()
    grid = [(name, values) for name in names for values in candidates(name)]
    # Group by method and everything but min_size: one post-processing per group, min_size filters after.
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for name, values in grid:
        key = (name, *sorted((k, v) for k, v in values.items() if k != "min_size"))
        groups.setdefault(key, []).append(values)

    def variant(key: tuple[Any, ...]) -> Any:
        params = dict(key[1:])
        if key[0] != predictor.method:
            params["method"] = key[0]
        return predictor.with_params(**params, min_size=0)

    variants = {key: variant(key) for key in groups}
    thresholds = [dict(key[1:]).get("score_threshold") for key in groups]
    # Watershed's min_distance grid from one distance transform per image (watershed_grid).
    sheds = {key: variants[key] for key in groups if key[0] == "watershed"} if predictor.has_probs else {}
    by_threshold = hasattr(predictor, "labels_at_thresholds") and None not in thresholds
    accs = {id(v): InstanceScoreAccumulator() for _, v in grid}
    # Image by image (each read and predicted once, nothing kept): a semantic model's one prediction is
    # post-processed per group; a detector paints every score threshold from one detection pass.
    for index, item in enumerate(items):
        image, true = load(item)
        if predictor.has_probs:
            prediction = predictor.predict(image)
            labels = _watershed_labels(sheds, prediction.mask, prediction.probs)
            for key, v in variants.items():
                if key not in labels:
                    labels[key] = v.labels_from_prediction(prediction.mask, prediction.probs)[0]
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
    scores = [accs[id(values)].compute() for _, values in grid]
    rows = [
        {"method": name, "values": values, **summary(full)}
        for (name, values), full in zip(grid, scores, strict=True)
    ]
    best = max(rows, key=lambda r: r["map"])  # max keeps the first of equal scores: grid order breaks ties
    chosen = best["method"] if len(names) > 1 else None
    return Selection(dict(best["values"]), rows, time.perf_counter() - start, scores, chosen)


def _watershed_labels(
    sheds: dict[tuple[Any, ...], Any], mask: np.ndarray, probs: np.ndarray | None
) -> dict[tuple[Any, ...], np.ndarray]:
    """The labels of every watershed variant in ``sheds`` (one per min_distance, min_size 0, one foreground)
    from one prediction, as each variant's ``labels_from_prediction`` gives them."""
    if not sheds:
        return {}
    first = next(iter(sheds.values()))
    by_distance = watershed_grid(
        mask, first.params["foreground"], [v.params["min_distance"] for v in sheds.values()], probs=probs
    )
    return {key: by_distance[v.params["min_distance"]][0] for key, v in sheds.items()}


def recorded_postprocessing(config: Any, method: str) -> dict[str, Any]:
    """The values recorded in a model's config (``extra[RECORD_KEY]``) for ``method``: the chosen method's,
    or, when several methods were compared, the best of ``method``'s own grid (``per_method``: watershed
    runs tuned even where components won); {} when none were chosen for that method (another method, or a
    model from before the choice was recorded)."""
    extra = getattr(config, "extra", None) or (config.get("extra") if isinstance(config, dict) else None)
    record = (extra or {}).get(RECORD_KEY) or {}
    if record.get("method") == method:
        return dict(record.get("values") or {})
    entry = (record.get("per_method") or {}).get(method) or {}
    return dict(entry.get("values") or {})
