"""Evaluation glue: a run folder's saved model scored on a split of its dataset (``unetkit test``/``validate``
and the end of ``unetkit fit``), through the one evaluation path :func:`unetkit.evaluation.evaluate_split`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unetkit.data.datasets import DatasetSpec
from unetkit.training.config import Config


def resolve_dataset(config: Config) -> DatasetSpec:
    """The dataset spec named by the ``data`` section (``dataset``, ``root``, ``options``)."""
    from unetkit.data.datasets import get_dataset_spec

    data = config.data
    return get_dataset_spec(data.dataset, root=data.root, **data.options)


def evaluate(
    run_dir: Path,
    split: str = "test",
    config: Config | None = None,
    spec: DatasetSpec | None = None,
    figure: bool = True,
) -> tuple[dict[str, Any], str]:
    """Score the run's saved model (``RUN/model``) on a split with :func:`unetkit.evaluation.evaluate_split`.

    Writes ``metrics_<split>.json/.md`` and ``figures/predictions_<split>.png``. The predictor is the one of
    ``unetkit predict`` (``evaluate.tta`` from the config), so both commands report the same numbers.
    ``config`` defaults to ``RUN/config.yaml``.
    """
    from unetkit.data.folder import validate
    from unetkit.evaluation import evaluate_split
    from unetkit.inference.backends import load_predictor
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
    validate(pairs, spec.encoding, in_channels=spec.in_channels)
    model_dir = run_dir / "model"
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir} has no saved model; train the run to the end (unetkit fit).")
    predictor = load_predictor(
        model_dir,
        device="cpu" if config.trainer.accelerator == "cpu" else "auto",
        tta=config.evaluate.tta,
    )
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
    )
