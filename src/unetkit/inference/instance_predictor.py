"""One interface for "image -> instance labels", whatever the model: :func:`load_instance_predictor`.

Two kinds of model give instances:

* a **semantic model** (U-Net and friends: 2-class, 3-class background/interior/boundary, energy levels):
  its predictor (:func:`unetkit.inference.backends.load_predictor`: tiling, TTA, any backend) gives the class
  mask and probabilities, then a registered instance method (:func:`unetkit.inference.instances.
  instances_from_mask`: components, watershed, boundary, energy, ...) splits the mask into objects;
* a **Mask R-CNN** model folder (its ``config.json`` says ``"architecture": "maskrcnn"``), loaded lazily by
  ``unetkit.detection.load_maskrcnn_predictor``; it predicts instances directly.

``method="auto"`` picks Mask R-CNN for a Mask R-CNN folder, else the model's own ``extra.instance_method``
(written by ``unetkit fit DIR --target ...``), else connected components. A method that cannot work with
the model (boundary on a 2-class model, maskrcnn on a U-Net) is a one-line ValueError naming the methods
that fit. ``unetkit predict --instances``, ``unetkit test`` (instance scores) and
``benchmarks/instances.py`` all go through here, so a method means the same thing in each.

Torch-free itself: the backend (or the Mask R-CNN loader) imports torch when it loads a model.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from unetkit.inference.instances import DEFAULT_MIN_DISTANCE, keep_large_instances, uses_min_distance
from unetkit.options import look_up_option

logger = logging.getLogger(__name__)

__all__ = [
    "AUTO",
    "MASKRCNN",
    "InstancePrediction",
    "InstancePredictor",
    "MaskRCNNInstancePredictor",
    "SemanticInstancePredictor",
    "fitting_methods",
    "instance_predictor_for",
    "keep_large_instances",
    "list_instance_predictor_methods",
    "load_instance_predictor",
    "maskrcnn_model_dir",
    "resolve_method",
]

AUTO = "auto"
MASKRCNN = "maskrcnn"
MASKRCNN_ARCHITECTURE = "maskrcnn"
MASKRCNN_LOADER = ("unetkit.detection", "load_maskrcnn_predictor")
# Methods that read a model trained for them (their classes mean interior/boundary or energy levels); every
# other registered method (components, watershed, plugins) splits the foreground of any semantic model.
_TARGET_METHODS = ("boundary", "energy")
_MASKRCNN_OPTIONS = ("score_threshold", "mask_threshold")


def list_instance_predictor_methods() -> list[str]:
    """Every name :func:`load_instance_predictor` accepts: ``auto``, the registered instance methods
    (:func:`~unetkit.inference.instances.list_instance_methods`) and ``maskrcnn``."""
    from unetkit.inference.instances import list_instance_methods

    return [AUTO, *list_instance_methods(), MASKRCNN]


def _check_method(method: str) -> str:
    if not isinstance(method, str):
        raise TypeError(f"instance method must be a string, got {type(method).__name__}.")
    return look_up_option(method, list_instance_predictor_methods(), "instance method")


@dataclass(frozen=True)
class InstancePrediction:
    """Everything one image gave: the class ``mask`` (H, W), ``probs`` (K, H, W) or None (Mask R-CNN), the
    instance ``labels`` int32 (H, W) (0 = background, 1..count) and ``count``."""

    mask: np.ndarray
    probs: np.ndarray | None
    labels: np.ndarray
    count: int


class InstancePredictor:
    """``predict(image) -> InstancePrediction``; ``predict_instances(image) -> (labels int32 (H, W), count)``.

    A semantic model's (:class:`SemanticInstancePredictor`) takes any image its predictor's ``predict`` takes:
    a NumPy (H, W) or (H, W, C) array (uint8, uint16, float in [0, 1], bool) or a PIL image, read as
    :meth:`~unetkit.inference.pipeline.BasePredictor.model_input` says. A Mask R-CNN's takes a uint8 NumPy
    array. :meth:`read_image` reads a file as the model does.

    Attributes:
        method: the instance method actually used ("components", "watershed", "boundary", "maskrcnn", ...).
        params: the post-processing parameters its method uses (JSON-ready), e.g. ``{"min_size": 20,
            "min_distance": 5}`` for watershed (min_distance only for a method that reads it).
        in_channels: channels the model reads (images are read with this many).
        class_names: names of the classes of :attr:`InstancePrediction.mask` (>= 2).
        intensity_window: how the model maps deeper than 8-bit pixels (``read_image(window=...)``).
    """

    method: str
    params: dict[str, Any]
    in_channels: int
    class_names: list[str]
    intensity_window: list[list[float]] | dict[str, Any] | None = None
    #: True for a semantic model: ``predict`` also gives the class probabilities.
    has_probs: bool = False
    #: Read gray images as RGB (and back) for this model: a detector always takes 3 channels.
    convert_channels: bool = False

    def read_image(self, path: str | Path) -> np.ndarray:
        """The file at ``path`` as this model's uint8 input (H, W, C), read as ``unetkit predict`` reads it
        (:func:`~unetkit.inference.batch.model_image`): the model's intensity window applied to the stored
        values (a per-image window: the image's own percentiles), gray <-> RGB converted to
        :attr:`in_channels`. What :meth:`predict` takes; a uint8 array read otherwise may skip the window."""
        from unetkit.data.io import read_raw_image
        from unetkit.inference.batch import model_image

        image, _, mismatch = model_image(read_raw_image(path), path, self.in_channels, self.intensity_window)
        if mismatch:
            logger.warning("%s: %s", path, mismatch)
        return image

    def predict(self, image: np.ndarray) -> InstancePrediction:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict_instances(self, image: np.ndarray) -> tuple[np.ndarray, int]:
        """(labels int32 (H, W), count) of one image, as :meth:`predict` takes it."""
        out = self.predict(image)
        return out.labels, out.count

    def with_params(self, **params: Any) -> InstancePredictor:  # pragma: no cover - abstract
        """The same loaded model with other post-processing parameters (no reload)."""
        raise NotImplementedError

    def num_parameters(self) -> int | None:
        """Trainable-or-not parameter count of the underlying torch model (None when not a torch model)."""
        model = self._torch_model()
        if model is None or not hasattr(model, "parameters"):
            return None
        return int(sum(int(p.numel()) for p in model.parameters()))

    def _torch_model(self) -> Any:
        return None


class SemanticInstancePredictor(InstancePredictor):
    """A semantic predictor (any backend) followed by a registered instance method.

    Args:
        predictor: from :func:`~unetkit.inference.backends.load_predictor` (``predict(image) -> (mask,
            probs)``, ``config``).
        method: a registered instance method that fits the model (:func:`fitting_methods`).
        foreground: classes forming objects (None: the model's ``extra.instance_classes`` when recorded,
            else every class but 0).
        min_size: drop objects smaller than this (pixels); None: the value ``unetkit fit`` chose for this
            method on validation images and recorded in the model
            (:func:`~unetkit.inference.instance_selection.recorded_postprocessing`), else 0.
        min_distance: "watershed": minimum distance between seeds (pixels); None: the recorded value, else 5.
    """

    has_probs = True

    def __init__(
        self,
        predictor: Any,
        method: str,
        *,
        foreground: Sequence[int] | None = None,
        min_size: int | None = None,
        min_distance: int | None = None,
    ) -> None:
        from unetkit.inference.batch import class_names_for
        from unetkit.inference.instance_selection import recorded_postprocessing

        self.predictor = predictor
        self.method = method
        self.class_names = class_names_for(predictor.config)
        self.in_channels = int(predictor.config.in_channels)
        self.intensity_window = getattr(predictor.config, "intensity_window", None)
        self.convert_channels = bool(getattr(predictor.config, "convert_channels", False))
        k = len(self.class_names)
        if foreground is None:
            # A model trained on instance labels names the classes its method reads (e.g. energy levels).
            recorded = (getattr(predictor.config, "extra", None) or {}).get("instance_classes")
            foreground = recorded if recorded else range(1, k)
        fg = [int(c) for c in foreground]
        bad = [c for c in fg if not 1 <= c < k]  # class 0 is the background: "0" made the image one object
        if bad or not fg:
            raise ValueError(
                f"foreground classes {fg} do not fit a model of {k} classes ({', '.join(self.class_names)}); "
                f"name class indices in 1..{k - 1}."
            )
        given_min_distance = min_distance
        chosen = recorded_postprocessing(predictor.config, method)
        if not chosen and method == "watershed" and min_distance is None:
            # A model whose fit did not tune the watershed (trained before fit compared it): say that the
            # defaults run, as a re-check found them running silently.
            logger.info(
                "watershed runs with its defaults (min_distance %s, min_size %s): this model records no "
                "values chosen on validation for it (fit chooses them only for models trained on instance "
                "labels); pass --min-distance / --min-size to set them",
                DEFAULT_MIN_DISTANCE,
                0 if min_size is None else min_size,
            )
        min_size = int(chosen.get("min_size", 0)) if min_size is None else min_size
        min_distance = (
            int(chosen.get("min_distance", DEFAULT_MIN_DISTANCE)) if min_distance is None else min_distance
        )
        if int(min_size) < 0:
            raise ValueError(f"min_size must be >= 0, got {min_size}.")
        if int(min_distance) < 1:
            raise ValueError(f"min_distance must be >= 1, got {min_distance}.")
        # Only what the method reads: table headers and metrics.json named min_distance for energy too, which
        # ignores it ("instances (energy; ..., min_distance 5)" beside fit's "energy (min_size 40)").
        self.min_distance = int(min_distance)
        self._given_min_distance = given_min_distance  # carried to another method by with_params
        self.params = {"foreground": fg, "min_size": int(min_size)}
        if uses_min_distance(method):
            self.params["min_distance"] = self.min_distance

    def read_image(self, path: str | Path) -> np.ndarray:
        """The file at ``path`` as the semantic predictor reads it (its ``read_image``: intensity window,
        channels), i.e. as ``unetkit predict`` gives it to this model."""
        read = getattr(self.predictor, "read_image", None)
        return read(path) if read is not None else super().read_image(path)

    def labels_from_prediction(self, mask: np.ndarray, probs: np.ndarray | None) -> tuple[np.ndarray, int]:
        """Instances of an already predicted (mask (H, W), probs (K, H, W)): the method's post-processing
        only. ``unetkit test`` uses it to score the classes and the instances of one forward pass."""
        from unetkit.inference.instances import instances_from_mask

        return instances_from_mask(
            mask,
            self.params["foreground"],
            self.method,
            self.params["min_size"],
            probs=probs,
            min_distance=int(self.params.get("min_distance", self.min_distance)),
        )

    def predict(self, image: np.ndarray) -> InstancePrediction:
        """Image -> :class:`InstancePrediction`: the class mask (H, W), probabilities (K, H, W), instance
        labels int32 (H, W; 0 background, 1..count) and the count, from one semantic forward pass. The image
        is anything the semantic predictor's ``predict`` takes (NumPy (H, W) or (H, W, C), any dtype it reads,
        or a PIL image)."""
        mask, probs = self.predictor.predict(image)
        labels, count = self.labels_from_prediction(mask, probs)
        return InstancePrediction(mask, probs, labels, count)

    def with_params(self, **params: Any) -> SemanticInstancePredictor:
        unknown = sorted(set(params) - {"foreground", "min_size", "min_distance", "method"})
        if unknown:
            raise ValueError(
                f"{unknown[0]!r} is not a parameter of instance method {self.method!r}; "
                "use foreground, min_size, min_distance."
            )
        merged = {**self.params, **params}
        if "min_distance" not in merged and self._given_min_distance is not None:
            merged["min_distance"] = self._given_min_distance  # not shown by a method that ignores it
        method = merged.pop("method", self.method)
        # Keys that only record how the predictor was loaded (tta) carry over unchanged.
        record = {
            k: merged.pop(k) for k in list(merged) if k not in ("foreground", "min_size", "min_distance")
        }
        out = instance_predictor_for(self.predictor, method, **merged)
        out.params.update(record)
        return out

    def _torch_model(self) -> Any:
        return getattr(self.predictor, "model", None)


class MaskRCNNInstancePredictor(InstancePredictor):
    """A Mask R-CNN predictor (``predict_instances(image, score_threshold, mask_threshold) -> labels``)
    followed by the ``min_size`` filter; its class mask is ``labels > 0`` and it has no probabilities.
    Gray images are given to it as RGB (``convert_channels``)."""

    convert_channels = True

    def __init__(
        self,
        detector: Any,
        config: dict[str, Any],
        *,
        score_threshold: float = 0.5,
        mask_threshold: float = 0.5,
        min_size: int = 0,
    ) -> None:
        for name, value in (("score_threshold", score_threshold), ("mask_threshold", mask_threshold)):
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}.")
        if int(min_size) < 0:
            raise ValueError(f"min_size must be >= 0, got {min_size}.")
        self.detector = detector
        self.config = config
        self.method = MASKRCNN
        kwargs = config.get("model_kwargs") or {}
        self.in_channels = int(config.get("in_channels", kwargs.get("in_channels", 3)))
        self.intensity_window = config.get("intensity_window")  # 16-bit images read as in training
        names = [str(n) for n in config.get("class_names") or []]
        # The mask of a Mask R-CNN is "object or not": background plus the (last) object class name.
        self.class_names = ["background", names[-1] if names and names[-1] != "background" else "object"]
        self.params = {
            "score_threshold": float(score_threshold),
            "mask_threshold": float(mask_threshold),
            "min_size": int(min_size),
        }

    def predict(self, image: np.ndarray) -> InstancePrediction:
        raw = self.detector.predict_instances(
            image,
            score_threshold=self.params["score_threshold"],
            mask_threshold=self.params["mask_threshold"],
        )
        raw = np.asarray(raw)
        if raw.shape != image.shape[:2]:
            raise ValueError(
                f"the Mask R-CNN predictor returned labels of shape {raw.shape} for an image of "
                f"{image.shape[1]}x{image.shape[0]} (WxH); expected {image.shape[:2]}."
            )
        labels, count = keep_large_instances(raw, self.params["min_size"])
        return InstancePrediction((labels > 0).astype(np.uint8), None, labels, count)

    def labels_at_thresholds(self, image: np.ndarray, thresholds: Sequence[float]) -> dict[float, np.ndarray]:
        """``{threshold: labels int32 (H, W)}`` with this ``min_size``, as :meth:`predict` gives them at
        each score threshold, from one detection pass at the lowest. A detection's score does not depend
        on the threshold and a lower-scoring box never removes a higher one (NMS keeps the higher, the
        per-image cap the highest), so the boxes >= t of that pass are the boxes of a pass at t."""
        detect = getattr(self.detector, "detect", None)
        if detect is None:  # a detector without the two steps: one pass per threshold
            return {t: self.with_params(score_threshold=t).predict(image).labels for t in thresholds}
        from unetkit.detection.predictor import Detections, paint_instances

        found = detect(image, min(thresholds))
        shape = (int(image.shape[0]), int(image.shape[1]))
        mask_threshold, min_area = self.params["mask_threshold"], self.detector.min_area
        out = {}
        for t in thresholds:
            # The detector keeps scores above its threshold (torchvision: >), painting those at or above
            # it; a score equal to t is in the lowest pass but not in a pass at t.
            keep = found.scores > t
            detections = Detections(found.boxes[keep], found.scores[keep], found.masks[keep])
            labels = paint_instances(detections, shape, t, mask_threshold, min_area)
            out[t] = keep_large_instances(labels, self.params["min_size"])[0]
        return out

    def with_params(self, **params: Any) -> MaskRCNNInstancePredictor:
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise ValueError(
                f"{unknown[0]!r} is not a parameter of instance method 'maskrcnn'; use "
                f"{', '.join(self.params)}."
            )
        return MaskRCNNInstancePredictor(self.detector, self.config, **{**self.params, **params})

    def _torch_model(self) -> Any:
        return getattr(self.detector, "model", None)


def maskrcnn_model_dir(model_path: str | Path) -> Path | None:
    """The Mask R-CNN model folder of ``model_path`` (that folder, or a run folder's ``model/``), or None
    when its ``config.json`` does not say ``"architecture": "maskrcnn"`` (or there is none).

    Reads the JSON itself rather than calling ``unetkit.detection.is_maskrcnn_model``: that module imports
    torch and torchvision, and ``unetkit predict --backend onnxruntime`` must stay torch-free.
    """
    path = Path(model_path)
    if path.is_file() and path.name == "config.json":
        path = path.parent
    if not path.is_dir():
        return None
    for folder in (path / "model", path):
        config = folder / "config.json"
        if config.is_file():
            try:
                data = json.loads(config.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError, OSError):
                return None  # not ours to judge: the semantic loader names the broken file
            if isinstance(data, dict) and str(data.get("architecture", "")).lower() == MASKRCNN_ARCHITECTURE:
                return folder
            return None
    return None


def fitting_methods(config: Any) -> list[str]:
    """The registered instance methods that fit a semantic model's :class:`ModelConfig`.

    ``boundary`` / ``energy`` read classes the model was trained for: they fit a model whose
    ``extra.instance_target`` names them, or (when no target is recorded) any model of 3 or more classes;
    every other method (components, watershed, plugins) splits the foreground of any semantic model.
    """
    from unetkit.inference.instances import list_instance_methods

    extra = getattr(config, "extra", None) or {}
    target = extra.get("instance_target")
    target = str(target).lower() if target else None
    classes = max(int(config.num_classes), 2)
    out = []
    for name in list_instance_methods():
        if name in _TARGET_METHODS and not (target == name or (target is None and classes >= 3)):
            continue
        out.append(name)
    return out


def _describe(config: Any) -> str:
    extra = getattr(config, "extra", None) or {}
    target = extra.get("instance_target")
    classes = max(int(config.num_classes), 2)
    if target and str(target).lower() != "semantic":
        return f"a {classes}-class model trained for {str(target).lower()!r}"
    return f"a {classes}-class semantic model"


def resolve_method(method: str, config: Any) -> str:
    """The instance method for a semantic model: ``auto`` -> the model's ``extra.instance_method`` or
    "components"; a method that does not fit the model (:func:`fitting_methods`) is a ValueError."""
    name = _check_method(method)
    fits = fitting_methods(config)
    if name == MASKRCNN:
        raise ValueError(
            f"instance method 'maskrcnn' needs a Mask R-CNN model (config.json with \"architecture\": "
            f'"maskrcnn"); this is {_describe(config)}: use one of {", ".join(fits)} (or auto).'
        )
    if name == AUTO:
        extra = getattr(config, "extra", None) or {}
        recorded = extra.get("instance_method")
        if not recorded:
            return "components"
        name = _check_method(str(recorded))
        if name in (AUTO, MASKRCNN):
            raise ValueError(
                f"the model config's extra.instance_method is {recorded!r}; a semantic model needs one of "
                f"{', '.join(fits)}."
            )
    if name not in fits:
        raise ValueError(
            f"instance method {name!r} does not fit {_describe(config)}; methods that fit: "
            f"{', '.join(fits)} (or auto)."
        )
    return name


def instance_predictor_for(
    predictor: Any,
    method: str = AUTO,
    *,
    foreground: Sequence[int] | None = None,
    min_size: int | None = None,
    min_distance: int | None = None,
) -> SemanticInstancePredictor:
    """Wrap an already loaded semantic predictor (any backend) with an instance method (``auto``: the
    model's own, see :func:`resolve_method`)."""
    name = resolve_method(method, predictor.config)
    return SemanticInstancePredictor(
        predictor, name, foreground=foreground, min_size=min_size, min_distance=min_distance
    )


def _requirement(module: str) -> str:
    """How unetkit's own dependencies pin the distribution of a top-level ``module`` (its installed metadata,
    written from pyproject.toml: ``torchvision>=0.17``), else the bare name."""
    import importlib.metadata
    import re

    try:
        requirements = importlib.metadata.requires("unetkit") or []
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        requirements = []
    for requirement in requirements:
        if ";" in requirement:  # an extra's requirement ('onnx>=1.16; extra == "onnx"'), not a core one
            continue
        name = re.split(r"[\s<>=!~\[(]", requirement, maxsplit=1)[0]
        if name.lower() == module.lower():
            return requirement.strip()
    return module


def pip_install(module: str, upgrade: bool = False) -> str:
    """The ``pip install`` of top-level ``module`` as unetkit pins it, quoted for the shell (">" redirects).

    torchvision keeps the installed torch (``'torch==2.14.1'``): alone, pip takes the newest torchvision,
    which needs another torch and can pull a multi-GB CUDA build in its place.
    """
    import importlib.metadata

    requirement = _requirement(module)
    command = "pip install " + ("--upgrade " if upgrade else "")
    command += f"'{requirement}'" if requirement != module else module
    if module == "torchvision":
        try:  # "2.14.1+cpu" -> "2.14.1": == ignores the local label, so the installed CPU build satisfies it
            command += f" 'torch=={importlib.metadata.version('torch').split('+')[0]}'"
        except importlib.metadata.PackageNotFoundError:
            pass
    return command


def _load_maskrcnn(model_path: str | Path, folder: Path, kwargs: dict[str, Any]) -> Any:
    """The detector of Mask R-CNN folder ``folder`` (``model_path`` as the user gave it, for messages).

    Raises:
        ValueError: a package the loader needs (torch, torchvision) cannot be imported: one line naming it
            and its ``pip install``, as unetkit's dependencies pin it (``unetkit predict`` and
            ``unetkit serve`` both load through here).
    """
    module_name, function = MASKRCNN_LOADER
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = exc.name or ""
        top = missing.partition(".")[0]
        if not top or top == "unetkit":
            raise  # unetkit's own module is broken: not a missing package, keep the real traceback
        try:
            installed = importlib.util.find_spec(top) is not None
        except (ImportError, ValueError):  # ValueError: sys.modules[top] is None, its import is blocked
            installed = False
        # Installed but failing (a version without a module the loader imports): upgrade it to the pin.
        why = f"the installed one fails: {str(exc).splitlines()[0]}" if installed else "not installed"
        command = pip_install(top, upgrade=installed)
        raise ValueError(f"{model_path} is a Mask R-CNN model, which needs {top} ({why}): {command}") from exc
    loader = getattr(module, function)
    accepted = inspect.signature(loader).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    passed = {k: v for k, v in kwargs.items() if takes_any or k in accepted}
    dropped = sorted(set(kwargs) - set(passed))
    if dropped:
        logger.debug("Mask R-CNN loader takes no %s; ignored", ", ".join(dropped))
    return loader(folder, **passed)


def load_instance_predictor(
    model_path: str | Path,
    method: str = AUTO,
    *,
    backend: str = "torch",
    foreground: Sequence[int] | None = None,
    min_size: int | None = None,
    min_distance: int | None = None,
    tta: bool | str | Sequence[str] = False,
    **kw: Any,
) -> InstancePredictor:
    """An :class:`InstancePredictor` for a model folder, run folder or ``.ckpt``.

    Args:
        model_path: a semantic model (anything :func:`~unetkit.inference.backends.load_predictor` loads) or
            a Mask R-CNN model folder / run folder.
        method: "auto" (see the module docstring), "maskrcnn" or a registered instance method.
        backend: inference backend of a semantic model (torch, onnxruntime, auto, ...); Mask R-CNN: torch
            (or auto).
        foreground: classes forming objects (semantic; default the model's ``extra.instance_classes``, else
            every class but 0).
        min_size: drop objects smaller than this many pixels (every method); None: the value recorded in a
            semantic model for its method (chosen on validation by ``unetkit fit``), else 0.
        min_distance: watershed seed distance (semantic); None: the recorded value, else 5.
        tta: test-time augmentation of the semantic predictor (not available for Mask R-CNN).
        kw: ``score_threshold`` / ``mask_threshold`` (Mask R-CNN; None or absent: the score threshold
            ``fit-maskrcnn`` chose on validation images, else 0.5, and 0.5); any other keyword goes
            to the semantic predictor (``device``, ``tile_size``, ``overlap``, ``batch_size``, ``amp``, ...)
            or, when the loader takes it, to the Mask R-CNN loader (``device``).
    """
    name = _check_method(method)
    folder = maskrcnn_model_dir(model_path)
    if folder is not None:
        if name not in (AUTO, MASKRCNN):
            raise ValueError(
                f"{model_path} is a Mask R-CNN model; instance method {name!r} needs a semantic model. "
                "Methods that fit: maskrcnn (or auto)."
            )
        if backend not in ("torch", "auto"):
            raise ValueError(f"a Mask R-CNN model runs with backend torch (or auto), got {backend!r}.")
        from unetkit.inference.tta import resolve_tta

        if resolve_tta(tta):  # tta="none" asks for what the model does anyway
            raise ValueError(
                f"test-time augmentation is not available for a Mask R-CNN model; drop tta={tta!r} (or pass "
                "tta='none')."
            )
        if foreground is not None:
            raise ValueError("foreground classes apply to semantic models; a Mask R-CNN has one class.")
        options = {k: kw.pop(k) for k in _MASKRCNN_OPTIONS if kw.get(k) is not None}
        kw = {k: v for k, v in kw.items() if k not in _MASKRCNN_OPTIONS}
        # Tiling options mean nothing to a detector; the device (if the loader takes it) does.
        loader_kwargs = {k: v for k, v in kw.items() if k == "device"}
        detector = _load_maskrcnn(model_path, folder, loader_kwargs)
        config = json.loads((folder / "config.json").read_text())
        # What fit-maskrcnn chose on validation images, where the caller gives no value.
        from unetkit.inference.instance_selection import recorded_postprocessing

        chosen = recorded_postprocessing(config, MASKRCNN)
        options = {**{k: v for k, v in chosen.items() if k != "min_size"}, **options}
        size = int(chosen.get("min_size", 0)) if min_size is None else min_size
        return MaskRCNNInstancePredictor(detector, config, min_size=size, **options)
    if name == MASKRCNN:
        raise ValueError(
            f"instance method 'maskrcnn' needs a Mask R-CNN model folder (config.json with \"architecture\": "
            f'"maskrcnn"); {model_path} is not one. Use a semantic method (components, watershed, ...) or '
            "auto."
        )
    given = [k for k in _MASKRCNN_OPTIONS if k in kw]
    if given:
        raise ValueError(f"{given[0]} applies to Mask R-CNN models only; {model_path} is a semantic model.")
    from unetkit.inference.backends import load_predictor

    predictor = load_predictor(model_path, backend=backend, tta=tta, **kw)
    out = instance_predictor_for(
        predictor, name, foreground=foreground, min_size=min_size, min_distance=min_distance
    )
    out.params["tta"] = tta if isinstance(tta, (bool, str)) else list(tta)
    return out
