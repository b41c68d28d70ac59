"""Evaluate a predictor on a dataset split: the one evaluation path of unetkit.

``unetkit fit`` (its final evaluation), ``unetkit test``/``validate`` and the benchmarks call
:func:`evaluate_split`; it predicts every (image, mask) pair with the same predictor as ``unetkit predict``
(:func:`unetkit.inference.backends.load_predictor`: tiling, TTA, any image size, torch or onnxruntime) and
scores with :func:`unetkit.metrics.score_predictions`, so a model gets one test number whichever command
asks for it. Given an instance predictor (:mod:`unetkit.inference.instance_predictor`) and instance label
images as ground truth, the same forward passes are also split into objects and scored with
:class:`unetkit.metrics.instance.InstanceScoreAccumulator` (AP50, AP75, mAP, SEG, splits, merges). Config-free
and torch-free (the torch backend imports torch, this module does not).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unetkit.constants import IGNORE_INDEX
from unetkit.data.io import MaskEncoding, read_image, read_mask, read_roi
from unetkit.data.sampling import evenly_spaced
from unetkit.files import atomic_write_text
from unetkit.metrics.report import (
    confusion_record,
    format_metrics_table,
    never_predicted,
    scores_to_flat_dict,
)
from unetkit.metrics.scoring import ScoreAccumulator, image_score_cells

logger = logging.getLogger(__name__)

__all__ = ["evaluate_split", "figure_indices", "write_metrics_files"]

PairLike = tuple[str | Path, str | Path]


def figure_indices(count: int, samples: int) -> list[int]:
    """Indices of ``samples`` items spread evenly over ``count`` (first and last included)."""
    return evenly_spaced(range(count), samples)


def instance_section(instances: dict[str, Any]) -> str:
    """The markdown section of the instance scores (``scores["instances"]`` of :func:`evaluate_split`)."""
    from unetkit.metrics.instance import format_instance_table

    params = ", ".join(f"{k} {v}" for k, v in instances.get("params", {}).items())
    title = f"instances ({instances.get('method', '?')}{'; ' + params if params else ''}):"
    return f"{title}\n\n{format_instance_table(instances)}"


def _model_words(config: Any) -> str:
    """``unet (base_channels 16, depth 4)``: a model config's architecture and its width and depth."""
    kwargs = getattr(config, "model_kwargs", {}) or {}
    sizes = [f"{key} {kwargs[key]}" for key in ("base_channels", "depth") if key in kwargs]
    name = str(getattr(config, "architecture", "model"))
    return f"{name} ({', '.join(sizes)})" if sizes else name


def _headline(cells: dict[str, str]) -> str:
    """``"\npixel error 0.0823"`` or ``"\nmIoU 0.7803"``: an image's own headline score, a line of its figure
    title, from :func:`~unetkit.metrics.scoring.image_score_cells`; '' where undefined."""
    key, label = ("pixel_error", "pixel error") if "pixel_error" in cells else ("miou", "mIoU")
    return f"\n{label} {float(cells[key]):.4f}" if cells.get(key) else ""


def write_metrics_files(
    out_dir: str | Path,
    stem: str,
    scores: dict[str, Any],
    class_names: Sequence[str],
    *,
    hint: str | None = None,
    **header: Any,
) -> tuple[Path, Path]:
    """Write ``out_dir/<stem>.json`` (``header`` keys, then the flat scores) and ``<stem>.md`` atomically.

    The JSON ends with ``never_predicted`` (the classes of the truth the model never outputs:
    :func:`~unetkit.metrics.report.never_predicted`) and, when ``scores`` hold it, the ``confusion`` matrix
    (:func:`~unetkit.metrics.report.confusion_record`: true class x predicted class pixel counts, void
    excluded). The markdown table names the never-predicted classes on its last line (with
    ``header["split"]`` and ``hint``). Instance scores (``scores["instances"]``, a dict) become
    ``instances/<key>`` entries and a second table.
    """
    from unetkit.metrics.instance import flat_instance_scores

    out = Path(out_dir)
    names = list(class_names)
    semantic = {k: v for k, v in scores.items() if k != "instances"}
    flat: dict[str, Any] = dict(scores_to_flat_dict(semantic, names))
    table = format_metrics_table(semantic, names, split=header.get("split"), hint=hint)
    if scores.get("instances"):
        flat.update(flat_instance_scores(scores["instances"]))
        table += "\n\n" + instance_section(scores["instances"])
    if "predicted" in semantic:
        flat["never_predicted"] = never_predicted(semantic, names)
    confusion = confusion_record(semantic, names)
    if confusion:
        flat["confusion"] = confusion
    json_path = atomic_write_text(out / f"{stem}.json", json.dumps({**header, **flat}, indent=2))
    views = header.get("tta")
    said = f"\n\nScored with test-time augmentation: {len(views)} views ({', '.join(views)}).\n" if (
        isinstance(views, list) and views
    ) else "\n"  # fmt: skip
    md_path = atomic_write_text(out / f"{stem}.md", table + said)
    return json_path, md_path


def scored_views(predictor: Any) -> list[str] | str:
    """The test-time augmentation views ``predictor`` scores with, as a metrics file records them ("none"
    for one view): a re-scoring with other settings (``validate RUN evaluate.tta=false``) replaces the file,
    and its numbers must say how they were made."""
    return list(getattr(predictor, "tta", None) or []) or "none"


def evaluate_split(
    predictor: Any,
    pairs: Sequence[PairLike],
    encoding: MaskEncoding,
    class_names: Sequence[str],
    *,
    ignore_index: int = IGNORE_INDEX,
    isbi: bool = False,
    out_dir: str | Path | None = None,
    split: str = "test",
    figure_samples: int = 4,
    convert_channels: bool = False,
    progress: Callable[[int, int], None] | None = None,
    instances: Any | None = None,
    hint: str | None = None,
) -> tuple[dict[str, Any], str]:
    """Predict and score every (image path, mask path) pair of a split.

    Args:
        predictor: a predictor from :func:`~unetkit.inference.backends.load_predictor` (any backend): its
            ``predict(image uint8 (H, W, C)) -> (mask (H, W), probs (K, H, W))`` and ``config.in_channels``.
        pairs: (image, mask) paths, as ``DatasetSpec.pairs(split)`` gives them.
        encoding: how the mask files store classes (:class:`~unetkit.data.io.MaskEncoding`).
        class_names: one name per class (2 for a one-logit sigmoid model).
        ignore_index: ground-truth value whose pixels are not scored.
        isbi: add the ISBI 2012 pixel and Rand errors (binary data).
        out_dir: when given, write ``metrics_<split>.json`` / ``.md`` there (:func:`write_metrics_files`:
            with the predicted pixels per class, the never-predicted classes and the confusion matrix), the
            Input / True mask / Predicted mask grid of ``figure_samples`` images to
            ``figures/predictions_<split>.png`` and the row-normalised confusion matrix to
            ``figures/confusion_<split>.png``.
        split: the split's name (file names and the JSON's ``"split"`` key).
        figure_samples: images in the grid (0: no grid; the confusion matrix is drawn still).
        convert_channels: convert gray <-> RGB images to the model's channel count (see ``read_image``).
        progress: optional ``progress(images_done, images_total)`` callback.
        instances: an :class:`~unetkit.inference.instance_predictor.InstancePredictor` (for a semantic
            model, built around ``predictor``: its post-processing splits the same forward pass). The mask
            files of ``pairs`` must then be instance label images (``read_label_image``: 0 background, one
            value per object); the objects are scored too (``scores["instances"]``, ``instances/<key>`` in
            the JSON, a second table) and ``figures/instances_<split>.png`` shows the first figure sample.
        hint: what to do about classes never predicted, ending the table's line that names them
            (:func:`~unetkit.metrics.report.never_predicted_line`; ``unetkit fit`` says: train longer).

    Returns:
        (scores, markdown table): scores as :func:`~unetkit.metrics.score_predictions` returns them, plus
        ``"instances"`` (the :meth:`~unetkit.metrics.instance.InstanceScoreAccumulator.compute` dict with
        ``method`` and ``params``) when ``instances`` is given.
    """
    if not pairs:
        raise ValueError(
            f"evaluate_split got no (image, mask) pairs for split {split!r}: the split is empty."
        )
    num_classes = len(class_names)
    predicted_classes = max(int(predictor.config.num_classes), 2)  # one sigmoid logit: classes 0 and 1
    if predicted_classes != num_classes:
        raise ValueError(
            f"the model predicts {predicted_classes} classes but {num_classes} class names were given "
            f"({', '.join(class_names)}); evaluate with the dataset the model was trained on."
        )
    accumulator = ScoreAccumulator(num_classes, ignore_index=ignore_index, isbi=isbi)
    chosen = set(figure_indices(len(pairs), figure_samples)) if out_dir is not None else set()
    samples: list[tuple[np.ndarray, np.ndarray, np.ndarray, str]] = []
    per_image: list[dict[str, str]] = []  # each image's own scores: per_image_<split>.csv
    instance_scores = None
    instance_sample: tuple[np.ndarray, np.ndarray, np.ndarray, str] | None = None
    if instances is not None:
        from unetkit.data.instances import read_label_image
        from unetkit.metrics.instance import InstanceScoreAccumulator

        instance_scores = InstanceScoreAccumulator()
        # A semantic instance predictor splits this forward pass; any other (Mask R-CNN) predicts itself.
        split_mask = getattr(instances, "labels_from_prediction", None)
    for index, (image_path, mask_path) in enumerate(pairs):
        image = read_image(
            image_path,
            predictor.config.in_channels,
            convert=convert_channels,
            window=getattr(predictor.config, "intensity_window", None),
        )
        target = read_mask(mask_path, encoding)
        if target.shape != image.shape[:2]:
            raise ValueError(
                f"image {image_path} is {image.shape[1]}x{image.shape[0]} (WxH) but mask {mask_path} is "
                f"{target.shape[1]}x{target.shape[0]}; they must have the same size"
            )
        mask, probs = predictor.predict(image)
        own = image_score_cells(accumulator.update(mask, target), class_names)
        per_image.append({"file": str(image_path), "mask_file": str(mask_path), **own})
        if instance_scores is not None and instances is not None:
            true_labels = read_label_image(mask_path, image.shape[:2])
            if split_mask is not None:
                labels, _ = split_mask(mask, probs)
            else:
                labels, _ = instances.predict_instances(image)
            instance_scores.update(true_labels, labels)
            if instance_sample is None and index in chosen:
                instance_sample = (image, true_labels, labels, Path(image_path).stem)
        if index in chosen:
            # Outside a field of view the figure shows void in the prediction too, as in the truth: no
            # prediction there was trained or scored (void inside it is shown predicted: CamVid's).
            roi = (encoding.rois or {}).get(str(mask_path))
            shown = mask if roi is None else np.where(read_roi(roi, mask.shape), mask, ignore_index)
            samples.append((image, target, shown, f"{Path(image_path).stem}{_headline(own)}"))
        if progress is not None:
            progress(index + 1, len(pairs))
    scores = accumulator.compute()
    table = format_metrics_table(scores, list(class_names), split=split, hint=hint)
    if instance_scores is not None:
        scores["instances"] = {
            "method": instances.method,  # type: ignore[union-attr]
            "params": dict(instances.params),  # type: ignore[union-attr]
            **instance_scores.compute(),
        }
        table += "\n\n" + instance_section(scores["instances"])
    if out_dir is not None:
        out = Path(out_dir)
        write_metrics_files(
            out, f"metrics_{split}", scores, class_names, hint=hint, split=split, tta=scored_views(predictor)
        )
        from unetkit.inference.writers import write_csv

        # Each image's own scores beside the pooled ones: per-slice QA reads these first (trial 25).
        write_csv(out / f"per_image_{split}.csv", per_image, list(per_image[0]))
        from unetkit.viz.figures import plot_confusion_matrix

        (out / "figures").mkdir(parents=True, exist_ok=True)
        plot_confusion_matrix(
            scores["confusion"],
            list(class_names),
            out / "figures" / f"confusion_{split}.png",
            split=split,
        )
        if samples:
            from unetkit.palette import (  # the colours given to the classes (and void), else the default
                palette_for,
                void_color_for,
            )
            from unetkit.viz.figures import plot_prediction_grid, split_title

            plot_prediction_grid(
                [s[0] for s in samples],
                [s[1] for s in samples],
                [s[2] for s in samples],
                list(class_names),
                out / "figures" / f"predictions_{split}.png",
                titles=[s[3] for s in samples],
                ignore_index=ignore_index,
                palette=palette_for(predictor.config, min(num_classes, 256)),
                ignore_color=void_color_for(predictor.config),
                # Which run and model: a figure pasted into a slide or a report can be traced (trial 25).
                title=f"{split_title(split)}: run {out.resolve().name}, {_model_words(predictor.config)}",
            )
        if instance_sample is not None:
            from unetkit.viz.instances import plot_instance_comparison

            image, true_labels, labels, _ = instance_sample
            (out / "figures").mkdir(parents=True, exist_ok=True)
            plot_instance_comparison(
                image,
                [("truth", true_labels), (scores["instances"]["method"], labels)],
                out / "figures" / f"instances_{split}.png",
            )
    logger.debug("%s split: %d images scored", split, len(pairs))
    return scores, table
