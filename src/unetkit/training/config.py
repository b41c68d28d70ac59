"""Training configuration: a nested dict with defaults, loaded from YAML and overridden by ``key=value``.

Kept as plain dicts (not LightningCLI) so that every bad key or value gets a one-line error naming it
and so that the resolved config written into the run folder is plain YAML.
"""

from __future__ import annotations

import copy
import difflib
import re
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG: dict[str, Any] = {
    "data": {
        "dataset": "synthetic",  # synthetic | isbi2012 | camvid | oxford_pet | folder
        "root": None,  # dataset folder (None: the preset's default location)
        "options": {},  # extra preset options (e.g. image_dir/mask_dir/encoding for "folder")
        "crop_size": [96, 96],  # training crop (H, W); None = whole images
        "repeat": 1,  # each epoch visits every training image this many times (random crops differ)
        "batch_size": 8,
        "shuffle": True,  # False: fixed order (used to compare DDP against one process)
        "num_workers": 0,
        "augment": {"flips": True, "rot90": True, "scale": [0.8, 1.2], "color": True, "elastic": False},
        "weight_map": None,  # None or {"w0": 10, "sigma": 5}: the U-Net paper's weight map
    },
    "model": {"name": "unet", "kwargs": {}},  # kwargs of create_model(name, ...); in/out channels from data
    "loss": "ce+dice",
    "class_weights": None,
    "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 1e-4, "momentum": 0.9},
    "schedule": {
        "name": "cosine",  # cosine | poly | plateau | none
        "by": "epoch",  # epoch | time: progress = share of trainer.max_time_minutes used (or of max_epochs)
        "warmup_epochs": 0,
        "power": 0.9,
        "patience": 5,
        "factor": 0.5,
    },
    "trainer": {
        "max_epochs": 20,
        "max_time_minutes": None,  # stop (and still evaluate) after this many minutes
        "precision": "auto",  # auto = 16-mixed on CUDA, 32-true elsewhere (bf16 is never the default)
        "gradient_clip_val": 1.0,
        "accelerator": "auto",
        "devices": 1,
        "strategy": "auto",
        "num_nodes": 1,
        "early_stopping_patience": None,
        "monitor": "val/miou",
        "seed": 0,
        "log_every_n_steps": 5,
        "check_val_every_n_epoch": 1,
        "progress_bar": True,
        "limit_train_batches": None,
        "channels_last": False,  # NHWC tensors: faster for small U-Nets on CPU (see SegmentationTask)
        "ema_decay": None,  # e.g. 0.99: validate, checkpoint and save a moving average of the weights
        "num_threads": None,  # torch intra-op threads (None: torch's default); 1 helps on a busy machine
    },
    # checkpoint: which weights become RUN/model and are evaluated: "best" (by trainer.monitor) or "last"
    # (the end of the schedule; steadier when the validation split is small, see configs/isbi2012.yaml).
    "evaluate": {"split": "test", "tta": False, "num_figure_samples": 4, "checkpoint": "best"},
    "output": {"root": "runs", "name": None},
}

# Keys whose value is a free-form mapping: their sub-keys are not checked against the defaults.
_FREE_FORM = {"data.options", "model.kwargs", "data.weight_map", "class_weights"}


def _merge(base: dict[str, Any], update: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    for key, value in update.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            close = difflib.get_close_matches(key, list(base), n=1)
            hint = f" Did you mean '{prefix}{close[0]}'?" if close else ""
            raise ValueError(f"Unknown config key {dotted!r}.{hint} Known keys: {', '.join(sorted(base))}.")
        value = _coerce_number(value)
        if isinstance(base[key], dict) and dotted not in _FREE_FORM:
            if not isinstance(value, dict):
                raise ValueError(f"Config key {dotted!r} must be a mapping, got {value!r}.")
            _merge(base[key], value, prefix=f"{dotted}.")
        elif isinstance(base[key], dict) and isinstance(value, dict):
            base[key].update({k: _coerce_number(v) for k, v in value.items()})  # free-form: merge keys
        else:
            base[key] = value
    return base


_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)$")


def _coerce_number(value: Any) -> Any:
    # YAML 1.1 reads "1e-3" (no dot) as a string; every such value in a config is meant as a number.
    if isinstance(value, str) and _FLOAT.match(value.strip()):
        return float(value)
    return value


def parse_override(item: str) -> dict[str, Any]:
    """``"trainer.max_epochs=3"`` -> ``{"trainer": {"max_epochs": 3}}`` (value parsed as YAML)."""
    if "=" not in item:
        raise ValueError(f"Override {item!r} must look like key.sub=value (e.g. trainer.max_epochs=3).")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ValueError(f"Override {item!r}: value is not valid YAML ({exc}).") from exc
    out: dict[str, Any] = {}
    node = out
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


PACKAGED_CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def list_packaged_configs() -> list[str]:
    return sorted(p.stem for p in PACKAGED_CONFIGS.glob("*.yaml"))


def resolve_config_path(path: str | Path) -> Path:
    """A YAML path, or the name of a packaged config (``synthetic``, ``isbi2012``, ``camvid``)."""
    path = Path(path)
    if not path.exists() and path.suffix == "" and (PACKAGED_CONFIGS / f"{path.name}.yaml").is_file():
        return PACKAGED_CONFIGS / f"{path.name}.yaml"
    if not path.exists():
        raise FileNotFoundError(
            f"Config file {path} not found; pass a YAML path or one of: {', '.join(list_packaged_configs())}."
        )
    return path


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> dict[str, Any]:
    """Defaults, then the YAML file, then each ``key=value`` override; returns the resolved config."""
    config = copy.deepcopy(DEFAULT_CONFIG)
    if path is not None:
        path = resolve_config_path(path)
        if not path.is_file():
            raise FileNotFoundError(f"Config file {path} not found; pass an existing YAML (see configs/).")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML ({exc}).") from exc
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: top level must be a mapping, got {type(loaded).__name__}.")
        _merge(config, loaded)
    for item in overrides or []:
        _merge(config, parse_override(item))
    _check(config)
    return config


def _check(config: dict[str, Any]) -> None:
    tr = config["trainer"]
    if not isinstance(tr["max_epochs"], int) or tr["max_epochs"] < 1:
        raise ValueError(f"trainer.max_epochs must be a positive integer, got {tr['max_epochs']!r}.")
    lr = config["optim"]["lr"]
    if not isinstance(lr, (int, float)) or lr <= 0:
        raise ValueError(f"optim.lr must be a positive number, got {lr!r}.")
    which = config["evaluate"].get("checkpoint", "best")
    if which not in ("best", "last"):
        raise ValueError(f"evaluate.checkpoint must be 'best' or 'last', got {which!r}.")
    from unetkit.losses.factory import parse_loss_spec
    from unetkit.training.optim import check_schedule

    check_schedule(config["schedule"], has_time_budget=bool(tr.get("max_time_minutes")))
    loss_names = {name for name, _ in parse_loss_spec(config["loss"])}
    if "weighted_ce" in loss_names and not config["data"].get("weight_map"):
        raise ValueError(
            "loss weighted_ce needs the U-Net weight map: set data.weight_map (e.g. "
            "data.weight_map={w0: 10, sigma: 5}) or use loss=ce."
        )
    bs = config["data"]["batch_size"]
    if not isinstance(bs, int) or bs < 1:
        raise ValueError(f"data.batch_size must be a positive integer, got {bs!r}.")
    crop = config["data"]["crop_size"]
    if crop is not None:
        if isinstance(crop, int):
            config["data"]["crop_size"] = [crop, crop]
        elif not (
            isinstance(crop, list) and len(crop) == 2 and all(isinstance(c, int) and c > 0 for c in crop)
        ):
            raise ValueError(f"data.crop_size must be [H, W] positive integers or null, got {crop!r}.")


def save_config(config: dict[str, Any], path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    tmp.replace(path)
