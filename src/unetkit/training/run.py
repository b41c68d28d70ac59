"""One training run end to end: validate inputs, train, save the model, evaluate, draw figures.

Run folder layout::

    RUN/config.yaml             resolved config
    RUN/checkpoints/{best,last}.ckpt
    RUN/logs/metrics.csv        per-step/epoch metrics (Lightning CSVLogger); RUN/tb/ TensorBoard
    RUN/model/{model.safetensors,config.json}   for `unetkit predict` / export (no pickle)
    RUN/metrics_<split>.json, RUN/metrics_<split>.md
    RUN/figures/{curves.png,predictions_<split>.png}
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unetkit.io.model_config import ModelConfig

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_dir: Path
    scores: dict[str, Any]
    table: str
    train_seconds: float
    is_global_zero: bool = True


def resolve_dataset(config: dict[str, Any]):  # type: ignore[no-untyped-def]
    from unetkit.data.presets import get_dataset_spec

    data = config["data"]
    return get_dataset_spec(data["dataset"], root=data.get("root"), **(data.get("options") or {}))


def build_model_config(config: dict[str, Any], spec: Any) -> ModelConfig:
    """Model kwargs with ``in_channels``/``num_classes`` taken from the dataset (a conflict is an error)."""
    kwargs = dict(config["model"].get("kwargs") or {})
    for key, value in (("in_channels", spec.in_channels), ("num_classes", spec.num_classes)):
        if key in kwargs and int(kwargs[key]) != int(value):
            raise ValueError(
                f"model.kwargs.{key}={kwargs[key]} but dataset {spec.name!r} has {key}={value}; "
                f"remove model.kwargs.{key} or fix the dataset."
            )
        kwargs[key] = int(value)
    crop = config["data"].get("crop_size")
    return ModelConfig(
        architecture=str(config["model"]["name"]).lower(),
        model_kwargs=kwargs,
        class_names=list(spec.class_names),
        mean=[float(m) for m in spec.mean],
        std=[float(s) for s in spec.std],
        input_size=list(crop) if crop else None,
    )


def _is_secondary_rank() -> bool:
    # DDP children (Lightning's launcher, torchrun, SLURM) re-run this code with a non-zero rank.
    return any(
        int(os.environ.get(var, "0") or 0) > 0 for var in ("LOCAL_RANK", "RANK", "NODE_RANK", "SLURM_PROCID")
    )


def _new_run_dir(config: dict[str, Any]) -> Path:
    out = config["output"]
    name = (
        out.get("name")
        or f"{config['data']['dataset']}-{config['model']['name']}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    run_dir = Path(out["root"]) / name
    if _is_secondary_rank():
        # Rank 0 created the folder and exported its path before launching the other processes.
        return Path(os.environ.get("UNETKIT_RUN_DIR") or run_dir)
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ValueError(
            f"Run folder {run_dir} already exists; choose output.name=... "
            f"or resume it with --resume {run_dir}."
        )
    return run_dir


def _precision(value: str) -> str:
    if value != "auto":
        return str(value)
    # Mixed precision only where the hardware has fast fp16; bf16 is ~100x slower than fp32 on some CPUs.
    return "16-mixed" if torch.cuda.is_available() else "32-true"


def _ema_decay(config: dict[str, Any]) -> float | None:
    value = config["trainer"].get("ema_decay")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) < 1.0:
        raise ValueError(f"trainer.ema_decay must be a number in (0, 1) such as 0.99, or null; got {value!r}")
    return float(value)


def build_trainer(config: dict[str, Any], run_dir: Path, enable_checkpointing: bool = True):  # type: ignore[no-untyped-def]
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    tr = config["trainer"]
    callbacks: list[Any] = []
    if enable_checkpointing:
        mode = "min" if tr["monitor"].endswith(("loss", "error")) else "max"
        ckpt_dir = run_dir / "checkpoints"
        callbacks.append(
            ModelCheckpoint(
                dirpath=ckpt_dir,
                filename="best",
                monitor=tr["monitor"],
                mode=mode,
                save_top_k=1,
                enable_version_counter=False,
            )
        )
        # A separate callback for last.ckpt: Lightning >= 2.6 refreshes save_last only when the monitored
        # checkpoint improved, but resume must lose at most one epoch. Without a monitor it saves every epoch.
        callbacks.append(
            ModelCheckpoint(
                dirpath=ckpt_dir,
                filename="last",
                monitor=None,
                save_top_k=1,
                every_n_epochs=1,
                enable_version_counter=False,
            )
        )
        # None: log at the scheduler's own interval (every step for schedule.by=time, else every epoch).
        callbacks.append(LearningRateMonitor(logging_interval=None))
    decay = _ema_decay(config)
    if decay is not None:
        from lightning.pytorch.callbacks import EMAWeightAveraging

        # Validation, best/last checkpoints and the saved model use the averaged weights; last.ckpt also keeps
        # the raw weights ("current_model_state"), so --resume continues both.
        callbacks.append(EMAWeightAveraging(decay=decay))
    if tr.get("early_stopping_patience"):
        callbacks.append(
            EarlyStopping(
                monitor=tr["monitor"],
                patience=int(tr["early_stopping_patience"]),
                mode="min" if tr["monitor"].endswith(("loss", "error")) else "max",
            )
        )
    loggers = [CSVLogger(run_dir, name="", version="logs"), TensorBoardLogger(run_dir, name="tb", version="")]
    max_time = tr.get("max_time_minutes")
    kwargs: dict[str, Any] = {}
    if tr.get("limit_train_batches") is not None:
        kwargs["limit_train_batches"] = tr["limit_train_batches"]
    return L.Trainer(
        default_root_dir=run_dir,
        max_epochs=int(tr["max_epochs"]),
        max_time={"seconds": round(float(max_time) * 60)} if max_time else None,
        accelerator=tr["accelerator"],
        devices=tr["devices"],
        num_nodes=int(tr.get("num_nodes", 1)),
        strategy=tr["strategy"],
        precision=_precision(str(tr["precision"])),  # type: ignore[arg-type]
        gradient_clip_val=tr.get("gradient_clip_val"),
        callbacks=callbacks,
        logger=loggers,
        log_every_n_steps=int(tr["log_every_n_steps"]),
        check_val_every_n_epoch=int(tr["check_val_every_n_epoch"]),
        enable_progress_bar=bool(tr.get("progress_bar", True)),
        enable_checkpointing=enable_checkpointing,
        enable_model_summary=False,
        deterministic=False,
        use_distributed_sampler=False,  # the datamodule builds its own (see SegmentationDataModule._loader)
        **kwargs,
    )


def make_task(config: dict[str, Any], model_config: ModelConfig, spec: Any):  # type: ignore[no-untyped-def]
    from unetkit.training.task import SegmentationTask

    return SegmentationTask(
        model_config=model_config.to_dict(),
        loss=config["loss"],
        class_weights=config.get("class_weights"),
        optim=config["optim"],
        schedule=config["schedule"],
        max_epochs=int(config["trainer"]["max_epochs"]),
        isbi=bool(getattr(spec, "isbi", False)),
        channels_last=bool(config["trainer"].get("channels_last", False)),
        time_budget_s=(float(config["trainer"]["max_time_minutes"]) * 60)
        if config["trainer"].get("max_time_minutes")
        else None,
    )


def _apply_num_threads(config: dict[str, Any]) -> None:
    if config["trainer"].get("num_threads"):
        # Oversubscribed cores make OpenMP threads wait on each other: fewer threads can be several x faster.
        torch.set_num_threads(int(config["trainer"]["num_threads"]))


def fit(config: dict[str, Any], resume: Path | None = None) -> RunResult:
    """Train (or resume) a run, then save the model, evaluate on ``evaluate.split`` and draw figures."""
    import lightning as L

    from unetkit.data.folder import validate
    from unetkit.io.model_io import save_model
    from unetkit.training.config import save_config
    from unetkit.training.datamodule import SegmentationDataModule

    _apply_num_threads(config)
    spec = resolve_dataset(config)
    # Everything that can be wrong with the inputs is checked before the run folder exists.
    for split in spec.splits:
        if spec.splits[split]:
            validate(spec.pairs(split), spec.encoding, in_channels=spec.in_channels)
    model_config = build_model_config(config, spec)
    _ema_decay(config)  # option errors, too, before the run folder exists
    L.seed_everything(int(config["trainer"]["seed"]), workers=True, verbose=False)
    task = make_task(config, model_config, spec)
    datamodule = SegmentationDataModule(spec, config["data"])

    ckpt_path = None
    if resume is not None:
        run_dir = Path(resume)
        last = run_dir / "checkpoints" / "last.ckpt"
        if not last.is_file():
            raise FileNotFoundError(f"Cannot resume: {last} not found; start a new run instead.")
        ckpt_path = str(last)
    else:
        run_dir = _new_run_dir(config)
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    os.environ["UNETKIT_RUN_DIR"] = str(run_dir.resolve())  # inherited by DDP child processes
    try:
        save_config(config, run_dir / "config.yaml")
        trainer = build_trainer(config, run_dir)
        start = time.perf_counter()
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=False)
        train_seconds = time.perf_counter() - start
    except BaseException:
        if created and not any((run_dir / "checkpoints").glob("*.ckpt")):
            # Nothing worth keeping: leave no half-written run folder behind.
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    if trainer.interrupted:
        raise KeyboardInterrupt(f"training interrupted; resume with: unetkit fit --resume {run_dir}")
    is_zero = trainer.is_global_zero
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # Training is over: evaluation below runs in rank 0 alone, so metrics must not wait for peers.
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    if not is_zero:
        # Other DDP ranks stop here: rank 0 alone writes the model, the metrics and the figures.
        return RunResult(
            run_dir=run_dir, scores={}, table="", train_seconds=train_seconds, is_global_zero=False
        )
    source = export_checkpoint(run_dir, config["evaluate"].get("checkpoint", "best"))
    state = torch.load(source, map_location="cpu", weights_only=True)["state_dict"]
    task.load_state_dict(state)
    save_model(task.model, model_config, run_dir / "model")
    scores, table = evaluate(run_dir, split=config["evaluate"]["split"], config=config, task=task, spec=spec)
    from unetkit.viz.figures import plot_training_curves

    metrics_csv = run_dir / "logs" / "metrics.csv"
    if metrics_csv.is_file():
        plot_training_curves(metrics_csv, run_dir / "figures" / "curves.png")
    return RunResult(run_dir=run_dir, scores=scores, table=table, train_seconds=train_seconds)


def export_checkpoint(run_dir: Path, which: str = "best") -> Path:
    """The checkpoint that becomes ``RUN/model``: ``best.ckpt`` or ``last.ckpt`` (``last`` when no best)."""
    ckpts = Path(run_dir) / "checkpoints"
    if which == "best" and (ckpts / "best.ckpt").is_file():
        return ckpts / "best.ckpt"
    return ckpts / "last.ckpt"


def evaluate(
    run_dir: Path,
    split: str = "test",
    config: dict[str, Any] | None = None,
    task: Any = None,
    spec: Any = None,
    figure: bool = True,
) -> tuple[dict[str, Any], str]:
    """Score the run's model on a split; writes ``metrics_<split>.json/.md`` and the prediction grid."""
    import lightning as L

    from unetkit.data.folder import validate
    from unetkit.metrics.report import format_metrics_table, scores_to_flat_dict
    from unetkit.training.config import load_config
    from unetkit.training.datamodule import SegmentationDataModule

    run_dir = Path(run_dir)
    if config is None:
        cfg_path = run_dir / "config.yaml"
        if not cfg_path.is_file():
            raise FileNotFoundError(f"{cfg_path} not found; pass a run folder written by `unetkit fit`.")
        config = load_config(cfg_path)
    if spec is None:
        _apply_num_threads(config)
        spec = resolve_dataset(config)
    validate(spec.pairs(split), spec.encoding, in_channels=spec.in_channels)
    if task is None:
        from unetkit.io.model_io import load_model

        model, model_config = load_model(run_dir)
        task = make_task(config, model_config, spec)
        task.model.load_state_dict(model.state_dict())
    cfg = dict(config)
    cfg["trainer"] = {**config["trainer"], "devices": 1, "strategy": "auto", "num_nodes": 1}
    trainer = L.Trainer(
        accelerator=cfg["trainer"]["accelerator"],
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=bool(cfg["trainer"].get("progress_bar", True)),
    )
    datamodule = SegmentationDataModule(spec, config["data"])
    loader = datamodule._loader(datamodule.dataset(split), train=False)
    task.test_tta = bool(config["evaluate"].get("tta", False))
    trainer.test(task, dataloaders=loader, verbose=False)
    scores = {k: v.cpu() for k, v in (task.test_scores or {}).items()}
    table = format_metrics_table(scores, list(spec.class_names))
    flat = scores_to_flat_dict(scores, list(spec.class_names))
    if trainer.is_global_zero:
        tmp = run_dir / f"metrics_{split}.json.tmp"
        tmp.write_text(json.dumps({"split": split, **flat}, indent=2))
        tmp.replace(run_dir / f"metrics_{split}.json")
        (run_dir / f"metrics_{split}.md").write_text(table + "\n")
        if figure:
            _prediction_figure(
                task,
                datamodule.dataset(split),
                spec,
                run_dir / "figures" / f"predictions_{split}.png",
                int(config["evaluate"].get("num_figure_samples", 4)),
            )
    return scores, table


@torch.inference_mode()
def _prediction_figure(task: Any, dataset: Any, spec: Any, out_png: Path, count: int) -> None:
    from unetkit.viz.figures import plot_prediction_grid

    out_png.parent.mkdir(parents=True, exist_ok=True)
    task.eval()
    idx = np.linspace(0, len(dataset) - 1, num=min(count, len(dataset))).astype(int)
    images, targets, preds, names = [], [], [], []
    mean = np.asarray(spec.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(spec.std, dtype=np.float32)[:, None, None]
    for i in idx:
        item = dataset[int(i)]
        x = item["image"][None].to(task.device)
        pred = task(x).argmax(1)[0].cpu().numpy()
        img = ((item["image"].numpy() * std + mean) * 255.0).clip(0, 255).astype(np.uint8).transpose(1, 2, 0)
        images.append(img)
        targets.append(item["mask"].numpy())
        preds.append(pred)
        names.append(str(item.get("name", i)))
    plot_prediction_grid(
        images,
        targets,
        preds,
        list(spec.class_names),
        out_png,
        titles=names,
        ignore_index=task.model_config.ignore_index,
    )
