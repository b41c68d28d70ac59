"""``config.json`` next to ``model.safetensors``: everything inference needs, readable without torch.

This module must never import torch: the onnxruntime prediction path uses it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from unetkit.constants import IGNORE_INDEX

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
ONNX_NAME = "model.onnx"


@dataclass
class ModelConfig:
    """Architecture and preprocessing of a trained model.

    ``model_kwargs`` are the keyword arguments of ``create_model(architecture, **model_kwargs)`` and include
    ``in_channels`` and ``num_classes``. Images are fed to the model as ``(x / 255 - mean) / std`` per channel.
    """

    architecture: str
    model_kwargs: dict[str, Any]
    class_names: list[str]
    mean: list[float]
    std: list[float]
    input_size: list[int] | None = None  # training crop (H, W), informative
    ignore_index: int = IGNORE_INDEX
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def in_channels(self) -> int:
        return int(self.model_kwargs["in_channels"])

    @property
    def num_classes(self) -> int:
        return int(self.model_kwargs["num_classes"])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> ModelConfig:
        required = ["architecture", "model_kwargs", "class_names", "mean", "std"]
        missing = [k for k in required if k not in data]
        if missing:
            raise ValueError(f"{source}: missing keys {missing}; a unetkit config.json needs {required}.")
        for key in ("in_channels", "num_classes"):
            if key not in data["model_kwargs"]:
                raise ValueError(f"{source}: model_kwargs lacks {key!r}.")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, path: str | Path) -> Path:
        """Write atomically (temp file + rename) so a crash never leaves half a config."""
        path = Path(path)
        if path.is_dir():
            path = path / CONFIG_NAME
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ModelConfig:
        path = Path(path)
        if path.is_dir():
            path = path / CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{path}: model config not found; a model folder needs {CONFIG_NAME}.")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc}); re-export the model.") from exc
        return cls.from_dict(data, source=str(path))
