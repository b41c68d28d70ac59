"""``config.json`` next to ``model.safetensors``: everything inference needs, readable without torch.

This module must never import torch: the onnxruntime prediction path uses it.
"""

from __future__ import annotations

import json
import math
import numbers
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from unetkit.constants import IGNORE_INDEX
from unetkit.files import atomic_write_text

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
ONNX_NAME = "model.onnx"
OPENVINO_NAME = "model.xml"  # the IR; its weights are model.bin beside it
MODEL_SUBDIR = "model"  # a run folder's model folder (model.safetensors + config.json)


def weights_beside(export_dir: str | Path) -> Path | None:
    """The run's model folder beside an export folder (``RUN/export`` -> ``RUN/model``) when it holds the
    PyTorch weights, which ``unetkit export`` does not copy; None otherwise (an export folder shipped
    alone)."""
    beside = Path(export_dir).parent / MODEL_SUBDIR
    return beside if (beside / WEIGHTS_NAME).is_file() else None


#: ``extra`` key of a model trained only on the pixels inside a region of interest (roi/, fov/, --roi): its
#: predictions outside such a region were never trained for, which predict says.
TRAINED_WITH_ROI = "trained_with_roi"
#: ``extra`` key: the test-time augmentation the run scored the model with (``evaluate.tta``; the plan picks
#: the mirror image for scenes with an up); ``unetkit predict`` uses it unless ``--tta`` says otherwise, so
#: its scores match the run's.
SCORED_TTA = "tta"
#: Architectures a config may name that the model registry (:mod:`unetkit.models`) does not build: the
#: detection models, built by their own module (``unetkit.detection.maskrcnn.ARCHITECTURE``).
UNREGISTERED_ARCHITECTURES = ("maskrcnn",)
#: ``extra`` key: the stored mask value of each class (``[v0, v1, ...]``), for a model whose masks stored
#: other values than the class indices (a remap: 0, 10, 20, ...); ``unetkit predict --mask-values stored``
#: writes them.
STORED_VALUES = "stored_values"
#: ``extra`` key: how the run read its masks (``{"kind", "num_classes", "ignore_values", "colors", ...}``:
#: :func:`unetkit.data.mask_options.encoding_record`), so that a model folder or an export folder shipped
#: without its run scores ground truth as the run read it (``unetkit predict MODEL ... --masks DIR``: colour
#: masks by the run's colours).
MASK_ENCODING = "mask_encoding"


def stored_values_of(config: Any) -> list[int] | None:
    """The stored mask value of each class a model records (:data:`STORED_VALUES`), or None."""
    extra = getattr(config, "extra", None) or {}
    values = extra.get(STORED_VALUES)
    return [int(v) for v in values] if isinstance(values, list) and values else None


def _tuples_to_lists(value: Any) -> Any:
    """``value`` with every tuple (at any depth, inside dicts and lists too) turned into a list."""
    if isinstance(value, dict):
        return {key: _tuples_to_lists(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tuples_to_lists(item) for item in value]
    return value


def _checked_colors(colors: Any, num_classes: Any) -> list[list[int]]:
    """``colors`` as lists [R, G, B] of ints 0..255, one per class; else a one-line error."""
    from unetkit.palette import palette_for  # NumPy only; loaded when a config has colours

    if not isinstance(colors, (list, tuple)) or not colors:
        raise ValueError(f"class_colors must be a list of [R, G, B], one per class; got {colors!r}")
    if num_classes is not None and len(colors) != int(num_classes):
        raise ValueError(
            f"class_colors has {len(colors)} colours for num_classes={num_classes}; give one [R, G, B] per "
            "class (or drop class_colors for the default colours)"
        )
    if any(c is None for c in colors):
        raise ValueError(f"class_colors must give every class an [R, G, B]; got {colors!r}")
    return [[int(v) for v in row] for row in palette_for(list(colors), len(colors))]


def _check_architecture(architecture: Any, model_kwargs: dict[str, Any]) -> None:
    """Refuse an architecture the model registry does not know (its error carries the did-you-mean), or a
    keyword that architecture does not take (:func:`~unetkit.models.registry.check_model_kwargs`).

    The registry imports torch, which this module must not: the check runs only once torch is loaded (every
    caller that builds, trains or saves a model has it), not on the torch-free onnxruntime path, which reads
    configs that unetkit wrote and never builds the network.
    """
    if not isinstance(architecture, str) or not architecture:
        raise TypeError(f"architecture must be a model name such as 'unet', got {architecture!r}")
    if architecture.lower() in UNREGISTERED_ARCHITECTURES or sys.modules.get("torch") is None:
        return
    from unetkit.models.registry import check_model_kwargs, resolve_model_name

    try:
        name = resolve_model_name(architecture)  # a deprecated name (pixel_cnn) passes with its warning
    except ValueError as exc:
        raise ValueError(f"ModelConfig architecture: {exc}") from exc
    check_model_kwargs(name, model_kwargs)


def _is_span(value: Any) -> bool:
    """A per-image window's min_span value: a finite number > 0 (not a bool)."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and float(value) > 0
    )


def _check_window(window: Any, in_channels: Any = None) -> None:
    """``intensity_window``: None, ``[[lo, hi], ...]`` with finite lo < hi, or ``{"percentiles": [lo, hi]}``
    with 0 <= lo < hi <= 100 (a reversed or three-number window failed later, inside NumPy), and optionally
    ``"min_span"``: a number > 0 for every channel (model folders written before spans were per channel) or
    a list of them, one per input channel (or one for all)."""
    if window is None:
        return
    if isinstance(window, dict):
        span = window.get("min_span", 1.0)
        spans = span if isinstance(span, list) else [span]
        if set(window) - {"percentiles", "min_span"} or not (spans and all(_is_span(v) for v in spans)):
            raise ValueError(
                f'intensity_window {{"percentiles": [lo, hi]}} takes only an optional "min_span" > 0 '
                f"(a number, or a list with one per input channel) besides, got {window}"
            )
        if isinstance(span, list) and isinstance(in_channels, int) and len(span) not in (1, in_channels):
            raise ValueError(
                f'intensity_window "min_span" {span} has {len(span)} values for in_channels={in_channels}; '
                "give one per input channel (or one number for all)"
            )
        pct = window.get("percentiles")
        ok = isinstance(pct, list) and len(pct) == 2 and all(isinstance(v, numbers.Real) for v in pct)
        if not isinstance(pct, list) or not ok or not 0 <= pct[0] < pct[1] <= 100:
            raise ValueError(
                f'intensity_window {{"percentiles": [lo, hi]}} needs 0 <= lo < hi <= 100, got {window}'
            )
        return
    pairs = window if isinstance(window, list) else None
    good = (
        pairs is not None
        and len(pairs) > 0
        and all(
            isinstance(p, list)
            and len(p) == 2
            and all(isinstance(v, numbers.Real) and math.isfinite(v) for v in p)
            and p[0] < p[1]
            for p in pairs
        )
    )
    if not good:
        raise ValueError(
            f"intensity_window must be [[lo, hi], ...] with lo < hi (one pair per channel, or one for all), "
            f"got {window}"
        )


def _is_int(value: Any) -> bool:
    """An integer (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_normalization(values: Any, name: str, in_channels: Any) -> None:
    """``values`` (mean or std) is a list of finite numbers, one per input channel or one for all."""
    if not isinstance(values, list) or not values:
        raise TypeError(f"{name} must be a list of numbers, one per input channel; got {values!r}")
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
        raise TypeError(f"{name} must hold numbers (pixel scale 0..1), got {values!r}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name} must be finite, got {values}")
    # One value applies to every channel (normalize broadcasts it).
    if isinstance(in_channels, int) and len(values) not in (1, in_channels):
        raise ValueError(
            f"{name} has {len(values)} values for in_channels={in_channels}; give one per input channel "
            "(or one for all)"
        )


@dataclass
class ModelConfig:
    """Architecture and preprocessing of a trained model.

    ``model_kwargs`` are the keyword arguments of ``create_model(architecture, **model_kwargs)`` and include
    ``in_channels`` and ``num_classes``. Images are fed to the model as ``(x / 255 - mean) / std`` per
    channel, where ``x`` is the 8-bit pixel, or for deeper images the stored value mapped through
    ``intensity_window`` (per channel [lo, hi] onto 0..255, :func:`unetkit.data.io.apply_window`, or
    ``{"percentiles": [lo, hi]}``: each image by its own percentiles; None: the model was trained on 8-bit
    images and 16-bit ones are read ``>> 8``). Tuples are stored as lists
    (recursively), as JSON would, so a saved config loads equal.

    ``geometry`` is the network's :class:`~unetkit.geometry.ModelGeometry` as a dict (``to_dict``), written
    by ``save_model`` and the exporters from ``model.geometry()``; ``None`` in config files written before
    it existed (:func:`~unetkit.geometry.geometry_from_config` then falls back to the architecture's rule).

    ``class_colors`` (one [R, G, B] per class) are the colours the user gave the classes (``classes.json``, a
    palette PNG's palette): overlays, figures, mask PNGs and the web app draw the classes in them
    (:func:`unetkit.palette.palette_for`); ``None`` (no colours given, or a config.json written before they
    were kept): the default :func:`~unetkit.palette.class_palette`.

    ``convert_channels``: the model was trained reading a few images of another channel count converted
    (gray replicated to RGB, or RGB to luma; Oxford-IIIT Pet's gray JPEGs), so prediction converts them too.
    """

    architecture: str
    model_kwargs: dict[str, Any]
    class_names: list[str]
    mean: list[float]
    std: list[float]
    input_size: list[int] | None = None  # training crop (H, W), informative
    ignore_index: int = IGNORE_INDEX
    extra: dict[str, Any] = field(default_factory=dict)
    geometry: dict[str, Any] | None = None
    intensity_window: list[list[float]] | dict[str, Any] | None = None
    class_colors: list[list[int]] | None = None
    convert_channels: bool = False

    def __post_init__(self) -> None:
        # JSON has no tuples: a config built with channels=(4, 8) must equal itself after save/load.
        self.model_kwargs = _tuples_to_lists(self.model_kwargs)
        self.class_names = _tuples_to_lists(self.class_names)
        self.mean = _tuples_to_lists(self.mean)
        self.std = _tuples_to_lists(self.std)
        self.input_size = _tuples_to_lists(self.input_size)
        self.extra = _tuples_to_lists(self.extra)
        self.geometry = _tuples_to_lists(self.geometry)
        self.intensity_window = _tuples_to_lists(self.intensity_window)
        self._validate()
        if self.class_colors is not None:
            self.class_colors = _checked_colors(self.class_colors, self.model_kwargs.get("num_classes"))

    def _validate(self) -> None:
        """Refuse a config that no saved model can match: unknown architecture, class names that do not
        count the classes, mean/std of another channel count, std <= 0, a non-integer ignore_index, an
        input_size that is not [H, W]."""
        if not isinstance(self.model_kwargs, dict):
            raise TypeError(
                f"model_kwargs must be a dict of create_model keyword arguments, got {self.model_kwargs!r}"
            )
        _check_architecture(self.architecture, self.model_kwargs)
        if not isinstance(self.class_names, list) or not all(isinstance(n, str) for n in self.class_names):
            raise TypeError(f"class_names must be a list of strings, got {self.class_names!r}")
        num_classes = self.model_kwargs.get("num_classes")
        if num_classes is not None and len(self.class_names) != num_classes:
            raise ValueError(
                f"{len(self.class_names)} class_names {self.class_names} for num_classes={num_classes}; "
                "give one name per class"
            )
        for key in ("in_channels", "num_classes"):
            value = self.model_kwargs.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"model_kwargs {key} must be an integer >= 1, got {value!r}")
        # Loss and metrics compare labels to it with ==: a string or float never matches and void pixels
        # would be scored as a class, silently.
        if not _is_int(self.ignore_index):
            raise TypeError(
                f"ignore_index must be an integer label value (the default is {IGNORE_INDEX}), "
                f"got {self.ignore_index!r}"
            )
        if self.input_size is not None and not (
            isinstance(self.input_size, list)
            and len(self.input_size) == 2
            and all(_is_int(v) and v >= 1 for v in self.input_size)
        ):
            raise ValueError(f"input_size must be [height, width] in pixels or None, got {self.input_size!r}")
        # NumPy integers (a crop computed by the planner) are stored as JSON ints.
        self.ignore_index = int(self.ignore_index)
        if self.input_size is not None:
            self.input_size = [int(v) for v in self.input_size]
        if not isinstance(self.convert_channels, bool):
            raise TypeError(f"convert_channels must be true or false, got {self.convert_channels!r}")
        in_channels = self.model_kwargs.get("in_channels")
        _check_window(self.intensity_window, in_channels)
        _check_normalization(self.mean, "mean", in_channels)
        _check_normalization(self.std, "std", in_channels)
        if min(self.std) <= 0:
            raise ValueError(f"std must be > 0 (images are divided by it), got {self.std}")

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
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=2))

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
