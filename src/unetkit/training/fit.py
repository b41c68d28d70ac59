"""Fit orchestration: check the inputs, train (or resume) a run, save its model, evaluate it, draw curves.

Library code: it leaves the process as it found it. The CLI (``unetkit fit``) sets the thread count, passes
the run folder to DDP child processes and tears the process group down.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from unetkit.data.datasets import DatasetSpec
from unetkit.io.model_config import ModelConfig
from unetkit.training.config import Config
from unetkit.training.evaluate import evaluate, resolve_dataset

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_dir: Path
    scores: dict[str, Any]
    table: str
    train_seconds: float
    is_global_zero: bool = True


def build_model_config(config: Config, spec: DatasetSpec) -> ModelConfig:
    """Model kwargs with ``in_channels``/``num_classes`` taken from the dataset (a conflict is an error)."""
    kwargs = dict(config.model.kwargs)
    for key, value in (("in_channels", spec.in_channels), ("num_classes", spec.num_classes)):
        if key in kwargs and int(kwargs[key]) != int(value):
            raise ValueError(
                f"model.kwargs.{key}={kwargs[key]} but dataset {spec.name!r} has {key}={value}; "
                f"remove model.kwargs.{key} or fix the dataset."
            )
        kwargs[key] = int(value)
    crop = config.data.crop_size
    return ModelConfig(
        architecture=config.model.name,
        model_kwargs=kwargs,
        class_names=list(spec.class_names),
        mean=[float(m) for m in spec.mean],
        std=[float(s) for s in spec.std],
        input_size=list(crop) if crop else None,
    )


def make_task(config: Config, model_config: ModelConfig, spec: DatasetSpec):  # type: ignore[no-untyped-def]
    """The LightningModule of a run (hyperparameters as plain dicts: checkpoints load with weights_only)."""
    from unetkit.training.task import SegmentationTask

    tr = config.trainer
    return SegmentationTask(
        model_config=model_config.to_dict(),
        loss=config.loss,
        class_weights=config.class_weights,
        optim=config.optim.model_dump(mode="json"),
        schedule=config.schedule.model_dump(mode="json"),
        max_epochs=tr.max_epochs,
        isbi=spec.isbi,
        channels_last=tr.channels_last,
        time_budget_s=tr.max_time_minutes * 60 if tr.max_time_minutes else None,
        monitor=tr.monitor,
    )


def fit(config: Config, resume: Path | None = None, run_dir: Path | None = None) -> RunResult:
    """Train (or resume) a run, then save the model, evaluate on ``evaluate.split`` and draw figures.

    Args:
        config: the checked config (:func:`unetkit.training.config.load_config`).
        resume: a run folder to continue from its ``checkpoints/last.ckpt``.
        run_dir: the new run folder (default: from ``output``, see
            :func:`~unetkit.training.run_folder.new_run_dir`); ignored with ``resume``.
    """
    import lightning as L

    from unetkit.data.folder import validate
    from unetkit.io.model_io import save_model
    from unetkit.training.config import save_config
    from unetkit.training.datamodule import SegmentationDataModule
    from unetkit.training.run_folder import export_checkpoint, last_checkpoint, new_run_dir, run_folder
    from unetkit.training.trainer import build_trainer

    spec = resolve_dataset(config)
    # Everything that can be wrong with the inputs is checked before the run folder exists.
    for split in spec.splits:
        if spec.splits[split]:
            validate(spec.pairs(split), spec.encoding, in_channels=spec.in_channels)
    model_config = build_model_config(config, spec)
    ckpt_path = str(last_checkpoint(resume)) if resume is not None else None
    run_dir = Path(resume) if resume is not None else (run_dir or new_run_dir(config))
    L.seed_everything(config.trainer.seed, workers=True, verbose=False)
    task = make_task(config, model_config, spec)
    datamodule = SegmentationDataModule(spec, config.data, seed=config.trainer.seed)

    with run_folder(run_dir):
        save_config(config, run_dir / "config.yaml")
        trainer = build_trainer(config.trainer, run_dir)
        start = time.perf_counter()
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=False)
        train_seconds = time.perf_counter() - start
    if trainer.interrupted:
        raise KeyboardInterrupt(f"training interrupted; resume with: unetkit fit --resume {run_dir}")
    if not trainer.is_global_zero:
        # Other DDP ranks stop here: rank 0 alone writes the model, the metrics and the figures (no
        # collective operation follows, so rank 0 never waits for them).
        return RunResult(
            run_dir=run_dir, scores={}, table="", train_seconds=train_seconds, is_global_zero=False
        )
    source = export_checkpoint(run_dir, config.evaluate.checkpoint)
    state = torch.load(source, map_location="cpu", weights_only=True)["state_dict"]
    task.load_state_dict(state)
    save_model(task.model, model_config, run_dir / "model")
    scores, table = evaluate(run_dir, split=config.evaluate.split, config=config, spec=spec)
    from unetkit.viz.figures import plot_training_curves

    metrics_csv = run_dir / "logs" / "metrics.csv"
    if metrics_csv.is_file():
        plot_training_curves(metrics_csv, run_dir / "figures" / "curves.png")
    return RunResult(run_dir=run_dir, scores=scores, table=table, train_seconds=train_seconds)
