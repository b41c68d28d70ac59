"""Evaluation glue: a run folder's saved model scored on a split of its dataset (``unetkit test``/``validate``
and the end of ``unetkit fit``), through the one evaluation path :func:`unetkit.evaluation.evaluate_split`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from unetkit.data.datasets import DatasetSpec
from unetkit.training.config import Config

logger = logging.getLogger(__name__)

# Mask kinds whose files are instance label images (0 background, one value per object): a split of such a
# dataset is scored as instances too.
INSTANCE_LABEL_KINDS = ("instances",)


def has_instance_labels(spec: DatasetSpec) -> bool:
    """True when the mask files of ``spec`` are instance label images (mask kind "instances")."""
    return spec.encoding.kind in INSTANCE_LABEL_KINDS


def instance_predictor_of(predictor: Any) -> Any:
    """The instance predictor ``unetkit test`` scores with: the model's own method and classes
    (``extra.instance_method`` / ``extra.instance_classes``, else connected components of every class but 0;
    :func:`~unetkit.inference.instance_predictor.resolve_method`), with the post-processing that
    :func:`choose_instance_postprocessing` recorded in the model (else the defaults)."""
    from unetkit.inference.instance_predictor import instance_predictor_for

    return instance_predictor_for(predictor, "auto")


INSTANCE_SELECTION = "instance_selection.json"

# What fit keeps of the validation predictions between choosing the instance post-processing and scoring
# (float32 probabilities): DSB2018's 67 val images take about 35 MB; beyond this, images are predicted again.
REMEMBERED_BYTES = 1 << 30


class RememberedPredictions:
    """The ``predict(image) -> (mask, probs)`` answers of a model, kept for a second pass over the same
    images: fit chooses the instance post-processing on the validation split, then scores that split with
    the same model and TTA. Predicting it twice had doubled the minutes after the budget (trial: 89 s + 72 s
    after a 1-minute DSB2018 fit). Keyed by the image's bytes; up to ``max_bytes`` of answers."""

    def __init__(self, max_bytes: int = REMEMBERED_BYTES) -> None:
        self.max_bytes, self.used, self.hits = max_bytes, 0, 0
        self._kept: dict[tuple[Any, ...], tuple[Any, Any]] = {}

    def remembering(self, predictor: Any) -> Any:
        """``predictor`` (freshly loaded, not shared) with its ``predict`` answering from here."""
        import hashlib

        predict = predictor.predict

        def remembered(image: Any) -> tuple[Any, Any]:
            key = (image.shape, str(image.dtype), hashlib.blake2b(image.tobytes(), digest_size=16).digest())
            if key in self._kept:
                self.hits += 1
                return self._kept[key]
            mask, probs = predict(image)
            size = int(mask.nbytes) + int(probs.nbytes)
            if self.used + size <= self.max_bytes:
                self._kept[key], self.used = (mask, probs), self.used + size
            return mask, probs

        predictor.predict = remembered
        return predictor


def choose_instance_postprocessing(
    run_dir: Path,
    config: Config,
    spec: DatasetSpec,
    progress: Callable[[int, int], None] | None = None,
    remembered: RememberedPredictions | None = None,
) -> dict[str, Any] | None:
    """Choose the model's instance post-processing (``min_size``; watershed's ``min_distance``) on the
    validation split and record it in ``RUN/model/config.json`` (``extra.instance_postprocess``), where
    predict, serve, export and the final scoring find it; the grid and its val scores go to
    ``RUN/instance_selection.json``. None (nothing recorded) when the masks are not instance labels or there
    is no validation split. Only validation images are read: the test split plays no part in the choice.
    ``remembered`` keeps the predictions for the scoring of the same split (:func:`evaluate`).

    A model trained on plain classes (its method components or watershed) compares both methods
    (:data:`~unetkit.inference.instance_selection.SEMANTIC_METHODS`) on the same predictions: the better
    becomes its ``extra.instance_method`` (what ``--instances auto`` runs), and the record keeps the other's
    tuned values too (``per_method``), which ``--instances watershed`` then uses.
    """
    import json

    from unetkit.data.instances import read_label_image
    from unetkit.data.io import read_image
    from unetkit.files import atomic_write_text
    from unetkit.inference.backends import load_predictor, quiet_engine_lines
    from unetkit.inference.instance_predictor import instance_predictor_for
    from unetkit.inference.instance_selection import RECORD_KEY, SEMANTIC_METHODS, select_postprocessing
    from unetkit.inference.instances import DEFAULT_MIN_DISTANCE
    from unetkit.model_files.model_config import CONFIG_NAME, ModelConfig

    if not has_instance_labels(spec) or not spec.splits.get("val"):
        return None
    model_dir = run_dir / "model"
    with quiet_engine_lines():  # the run's own model, scored as trained: no "running ..." line
        predictor = load_predictor(
            model_dir,
            device="cpu" if config.trainer.accelerator == "cpu" else "auto",
            tta=config.evaluate.tta,
        )
    if remembered is not None:
        predictor = remembered.remembering(predictor)
    # The grid sets every value it tries; the model records none yet.
    instances = instance_predictor_for(predictor, "auto", min_size=0, min_distance=DEFAULT_MIN_DISTANCE)
    window = getattr(predictor.config, "intensity_window", None)

    def load(pair: tuple[Path, Path]) -> tuple[Any, Any]:
        image = read_image(pair[0], instances.in_channels, convert=spec.convert_channels, window=window)
        return image, read_label_image(pair[1], image.shape[:2])

    pairs = spec.pairs("val")
    methods = SEMANTIC_METHODS if instances.method in SEMANTIC_METHODS else None
    selection = select_postprocessing(instances, pairs, load, progress, methods=methods)
    record = selection.record(instances.method, len(pairs))
    config_path = model_dir / CONFIG_NAME
    model_config = ModelConfig.load(config_path)
    chosen = {"instance_method": record["method"]} if methods else {}
    model_config.extra = {**model_config.extra, **chosen, RECORD_KEY: record}
    model_config.save(config_path)
    atomic_write_text(
        run_dir / INSTANCE_SELECTION,
        json.dumps({**record, "seconds": round(selection.seconds, 1), "grid": selection.rows}, indent=1)
        + "\n",
    )
    logger.info(
        "instance post-processing chosen on %d val images: %s %s (val mAP %.3f, %.0f s)",
        len(pairs), record["method"], selection.values, record["val_map"], selection.seconds,
    )  # fmt: skip
    return record


TRAIN_RECORD = "train.json"


# RUN/started.json: the command that started a run, written when its folder is made (train.json comes only at
# the end of training: a run killed before it and resumed would otherwise record the resume as its command).
START_RECORD = "started.json"


def write_start_record(run_dir: Path, command: str | None, **extra: Any) -> Path:
    """Write ``RUN/started.json``: ``{"command": the command line that started the run, **extra}`` (fit adds
    the plan's prediction: a resume, made without the plan, records it again in train.json)."""
    import json

    from unetkit.files import atomic_write_text

    record = {"command": command, **extra}
    return atomic_write_text(Path(run_dir) / START_RECORD, json.dumps(record, indent=2) + "\n")


def write_train_record(run_dir: Path, train_seconds: float, **extra: Any) -> Path:
    """Write ``RUN/train.json``: ``{"train_seconds": wall-clock seconds of trainer.fit, **extra}`` (the time a
    benchmark reports; a resumed run records the resumed part only, with ``"resumed": true``, and keeps the
    command that started it (``RUN/started.json``) as ``command``, its own as ``resumed_with``)."""
    import json

    from unetkit.files import atomic_write_text

    record = {"train_seconds": round(float(train_seconds), 3), **extra}
    start = Path(run_dir) / START_RECORD
    if extra.get("resumed") and start.is_file():
        started = json.loads(start.read_text()).get("command")
        if started:
            record["resumed_with"], record["command"] = record.get("command"), started
    return atomic_write_text(Path(run_dir) / TRAIN_RECORD, json.dumps(record, indent=2) + "\n")


def resolve_dataset(config: Config) -> DatasetSpec:
    """The dataset spec named by the ``data`` section (``dataset``, ``root``, ``options``)."""
    from unetkit.data.datasets import get_dataset_spec

    data = config.data
    return get_dataset_spec(data.dataset, root=data.root, **data.options)


# Ends the scores' line naming the classes a run's model never predicts (rare classes at a short budget).
NEVER_PREDICTED_HINT = "training longer (a larger fit --time, or more trainer.max_epochs) usually helps"


def evaluate(
    run_dir: Path,
    split: str = "test",
    config: Config | None = None,
    spec: DatasetSpec | None = None,
    figure: bool = True,
    progress: Callable[[int, int], None] | None = None,
    remembered: RememberedPredictions | None = None,
) -> tuple[dict[str, Any], str]:
    """Score the run's saved model (``RUN/model``) on a split with :func:`unetkit.evaluation.evaluate_split`.

    Writes ``metrics_<split>.json/.md``, ``figures/predictions_<split>.png`` and
    ``figures/confusion_<split>.png``; the table ends with a line naming the classes never predicted, if
    any, and :data:`NEVER_PREDICTED_HINT`. The predictor is the one of
    ``unetkit predict`` (``evaluate.tta`` from the config), so both commands report the same numbers.
    ``config`` defaults to ``RUN/config.yaml``. When the dataset's masks are instance label images
    (:func:`has_instance_labels`), the objects are scored too (``instances/ap50``, ``instances/map``, ...,
    with the model's instance method: :func:`instance_predictor_of`). ``progress(images_done, images_total)``
    is called after each image (the CLI draws a bar with it). ``remembered``: predictions of this split
    made by :func:`choose_instance_postprocessing` with the same model and TTA, not made again.
    """
    from unetkit.data.folder import validate
    from unetkit.evaluation import evaluate_split
    from unetkit.inference.backends import load_predictor, quiet_engine_lines
    from unetkit.training.config import load_config

    run_dir = Path(run_dir)
    if config is None:
        cfg_path = run_dir / "config.yaml"
        if not cfg_path.is_file():
            raise FileNotFoundError(f"{cfg_path} not found; pass a run folder written by `unetkit fit`.")
        config = load_config(cfg_path)
    if spec is None:
        spec = resolve_dataset(config)
    pairs = spec.pairs(split)
    validate(pairs, spec.encoding, in_channels=spec.in_channels, window=spec.intensity_window)
    model_dir = run_dir / "model"
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir} has no saved model; train the run to the end (unetkit fit).")
    with quiet_engine_lines():  # the run's own model, scored as trained: no "running ..." line
        predictor = load_predictor(
            model_dir,
            device="cpu" if config.trainer.accelerator == "cpu" else "auto",
            tta=config.evaluate.tta,
        )
    if remembered is not None:
        predictor = remembered.remembering(predictor)
    instances = instance_predictor_of(predictor) if has_instance_labels(spec) else None
    if instances is not None:
        logger.info("scoring instances on %s with %s %s", split, instances.method, instances.params)
    return evaluate_split(
        predictor,
        pairs,
        spec.encoding,
        list(spec.class_names),
        ignore_index=predictor.config.ignore_index,
        isbi=spec.isbi,
        out_dir=run_dir,
        split=split,
        figure_samples=config.evaluate.num_figure_samples if figure else 0,
        convert_channels=spec.convert_channels,
        instances=instances,
        progress=progress,
        hint=NEVER_PREDICTED_HINT,
    )
