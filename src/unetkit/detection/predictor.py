"""Save and load a Mask R-CNN model folder, and predict instance label images with it.

A model folder is what :func:`save_maskrcnn` writes, with no pickle anywhere:

* ``model.safetensors``: the state dict;
* ``config.json``: a :class:`~unetkit.model_files.model_config.ModelConfig` with ``"architecture":
  "maskrcnn"``, ``model_kwargs`` = the keyword arguments of
  :func:`~unetkit.detection.maskrcnn.build_maskrcnn` (plus ``in_channels: 3``), ``class_names``
  (``["background", "nucleus"]``) and ``mean``/``std`` (the image statistics the model normalises with).

Label images (:meth:`MaskRCNNPredictor.predict_instances`): detections with a score >= ``score_threshold``
are painted in order of **decreasing score; a pixel claimed by several masks goes to the highest-scoring
one**. Label 1 is the most confident object, and labels are consecutive. Each object keeps only the
largest 8-connected piece of what the higher-scoring objects left it (no fragments or specks under one id),
and one that keeps fewer than ``min_area`` pixels is dropped. Each 28x28 mask is resized to its box and
thresholded there, as torchvision's ``paste_masks_in_image`` does, but into the box only: torchvision
pastes every mask into a full-size (H, W) float image, which is 2 GB for 375 nuclei on a 1388x1040 image.

Large images (more than ``max_pixels``) are cut into overlapping tiles; an object is taken from the tile
that owns its box centre (tile ownership splits every overlap in the middle), so an object on a tile edge,
smaller than the overlap, is found whole in a neighbouring tile.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.transform import resize_boxes

from unetkit.detection.maskrcnn import ARCHITECTURE, build_maskrcnn
from unetkit.detection.targets import DEFAULT_MIN_AREA, image_to_tensor, to_rgb
from unetkit.model_files.model_config import CONFIG_NAME, WEIGHTS_NAME, ModelConfig

__all__ = [
    "CLASS_NAMES",
    "Detections",
    "MaskRCNNPredictor",
    "is_maskrcnn_model",
    "load_maskrcnn",
    "load_maskrcnn_predictor",
    "maskrcnn_config",
    "paint_instances",
    "save_maskrcnn",
]

logger = logging.getLogger(__name__)

CLASS_NAMES = ("background", "nucleus")
DEFAULT_MAX_PIXELS = (
    2048 * 2048
)  # larger images are tiled (memory grows with the image, not the object count)
DEFAULT_TILE_SIZE = 1024
DEFAULT_TILE_OVERLAP = 128  # > the largest nucleus (~80 px in DSB2018): every object lies whole in one tile


def maskrcnn_config(
    build_kwargs: dict[str, Any],
    class_names: tuple[str, ...] | list[str] = CLASS_NAMES,
    input_size: list[int] | None = None,
    extra: dict[str, Any] | None = None,
    intensity_window: list[list[float]] | None = None,
) -> ModelConfig:
    """The ``config.json`` of a Mask R-CNN built with ``build_maskrcnn(**build_kwargs)``;
    ``intensity_window``: how its 16-bit training images were read (:func:`unetkit.data.io.read_image`)."""
    kwargs = {k: v for k, v in build_kwargs.items() if k != "weights_path"}  # the weights are in the folder
    from unetkit.detection.maskrcnn import IMAGENET_MEAN, IMAGENET_STD

    mean = list(kwargs.get("image_mean") or IMAGENET_MEAN)
    std = list(kwargs.get("image_std") or IMAGENET_STD)
    kwargs.setdefault("num_classes", len(class_names))
    if int(kwargs["num_classes"]) != len(class_names):
        raise ValueError(
            f"num_classes={kwargs['num_classes']} but {len(class_names)} class names {class_names}"
        )
    kwargs["in_channels"] = 3  # ModelConfig's contract; build_maskrcnn takes RGB only
    return ModelConfig(
        architecture=ARCHITECTURE,
        model_kwargs=kwargs,
        class_names=list(class_names),
        mean=[float(m) for m in mean],
        std=[float(s) for s in std],
        input_size=input_size,
        extra=dict(extra or {}),
        intensity_window=intensity_window,
    )


def save_maskrcnn(model: MaskRCNN, config: ModelConfig, out_dir: str | Path) -> Path:
    """Write ``out_dir/model.safetensors`` + ``out_dir/config.json`` (atomically; see ``save_model``)."""
    from unetkit.model_files.model_io import save_model

    if config.architecture != ARCHITECTURE:
        raise ValueError(
            f"config architecture is {config.architecture!r}; a Mask R-CNN config needs {ARCHITECTURE!r}"
        )
    return save_model(model, config, out_dir)


def _model_folder(path: Path) -> Path:
    if path.is_file() and path.name in (CONFIG_NAME, WEIGHTS_NAME):
        return path.parent
    if (path / "model" / CONFIG_NAME).is_file():
        return path / "model"  # a run folder of fit_maskrcnn
    return path


def is_maskrcnn_model(path: str | Path) -> bool:
    """True when ``path`` (a model folder, a run folder or a config.json) holds a Mask R-CNN config."""
    folder = _model_folder(Path(path))
    config = folder / CONFIG_NAME
    if not config.is_file():
        return False
    try:
        return ModelConfig.load(config).architecture == ARCHITECTURE
    except ValueError:
        return False


def load_maskrcnn(path: str | Path, device: str | torch.device = "cpu") -> tuple[MaskRCNN, ModelConfig]:
    """The model (eval mode, on ``device``) and config of a model folder or a ``fit_maskrcnn`` run folder.

    The global torch RNG is left as it was (building the network initialises it randomly before the weights
    replace that).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from unetkit.model_files.model_io import load_state_dict_checked

    folder = _model_folder(Path(path))
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"{folder / name} not found; a Mask R-CNN model folder holds {WEIGHTS_NAME} and "
                f"{CONFIG_NAME} (written by unetkit fit-maskrcnn into RUN/model)"
            )
    config = ModelConfig.load(folder / CONFIG_NAME)
    if config.architecture != ARCHITECTURE:
        raise ValueError(
            f"{folder / CONFIG_NAME} describes a {config.architecture!r} model, not {ARCHITECTURE!r}; "
            "load it with unetkit.inference.backends.load_predictor"
        )
    kwargs = {k: v for k, v in config.model_kwargs.items() if k != "in_channels"}
    try:
        # Building initialises the weights randomly (the saved ones replace them): the caller's torch
        # stream must not move. Built on the CPU, so only the CPU generator is forked.
        with torch.random.fork_rng(devices=[]):
            model = build_maskrcnn(**kwargs)
    except TypeError as exc:
        raise TypeError(
            f"{folder / CONFIG_NAME}: model_kwargs {kwargs} do not fit build_maskrcnn: {exc}"
        ) from exc
    try:
        state = load_file(str(folder / WEIGHTS_NAME))
    except SafetensorError as exc:
        raise ValueError(
            f"{folder / WEIGHTS_NAME}: not a readable safetensors file ({exc}); re-save the model"
        ) from exc
    load_state_dict_checked(model, state, folder / WEIGHTS_NAME, ARCHITECTURE)
    return model.to(device).eval(), config


@dataclass(frozen=True)
class Detections:
    """Detections of one image, in its pixel coordinates.

    Attributes:
        boxes: float32 (N, 4) ``x0, y0, x1, y1``.
        scores: float32 (N,), in decreasing order.
        masks: float32 (N, M, M) mask probabilities in the box (M = 28 for torchvision's head).
    """

    boxes: np.ndarray
    scores: np.ndarray
    masks: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @staticmethod
    def concat(parts: list[Detections]) -> Detections:
        if not parts:
            return Detections(
                np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 28, 28), np.float32)
            )
        boxes = np.concatenate([p.boxes for p in parts])
        scores = np.concatenate([p.scores for p in parts])
        masks = np.concatenate([p.masks for p in parts])
        order = np.argsort(-scores, kind="stable")
        return Detections(boxes[order], scores[order], masks[order])


def _paste_box(box: np.ndarray, mask_side: int) -> tuple[int, int, int, int]:
    """Integer box (x0, y0, x1, y1), corners inclusive, that torchvision's ``paste_masks_in_image`` pastes a
    mask padded by one pixel into: ``box`` expanded by (M + 2) / M about its centre, truncated to int."""
    scale = (mask_side + 2) / mask_side
    cx, cy = (box[0] + box[2]) * 0.5, (box[1] + box[3]) * 0.5
    half_w, half_h = (box[2] - box[0]) * 0.5 * scale, (box[3] - box[1]) * 0.5 * scale
    return int(cx - half_w), int(cy - half_h), int(cx + half_w), int(cy + half_h)


def paint_instances(
    detections: Detections,
    shape: tuple[int, int],
    score_threshold: float = 0.5,
    mask_threshold: float = 0.5,
    min_area: int = DEFAULT_MIN_AREA,
) -> np.ndarray:
    """int32 (H, W) label image of ``detections``: highest score first, a pixel keeps the first label it
    gets, and each object keeps only the largest 8-connected piece of what is left to it (a later mask
    overlapped by earlier ones, or a mask with stray pixels, was painted as several disjoint fragments down to
    1-pixel specks under one id); objects then smaller than ``min_area`` pixels are dropped, labels 1..n in
    decreasing score. Pixels of a dropped fragment stay free for the detections after it."""
    height, width = shape
    labels = np.zeros((height, width), dtype=np.int32)
    keep = np.flatnonzero(detections.scores >= score_threshold)
    keep = keep[np.argsort(-detections.scores[keep], kind="stable")]
    if keep.size == 0:
        return labels
    mask_side = int(detections.masks.shape[-1])
    padded = F.pad(torch.from_numpy(np.ascontiguousarray(detections.masks[keep])), (1, 1, 1, 1))
    next_label = 1
    for row, index in enumerate(keep):
        x0, y0, x1, y1 = _paste_box(detections.boxes[index], mask_side)
        w, h = max(x1 - x0 + 1, 1), max(y1 - y0 + 1, 1)
        x0c, y0c, x1c, y1c = max(x0, 0), max(y0, 0), min(x1 + 1, width), min(y1 + 1, height)
        if x1c <= x0c or y1c <= y0c:
            continue
        # Bilinear resize of the padded mask to the box, as torchvision's paste_mask_in_image.
        resized = F.interpolate(padded[row][None, None], size=(h, w), mode="bilinear", align_corners=False)[
            0, 0
        ]
        mask = resized[y0c - y0 : y1c - y0, x0c - x0 : x1c - x0].numpy() > mask_threshold
        window = labels[y0c:y1c, x0c:x1c]
        free = _largest_piece(mask & (window == 0))
        if int(free.sum()) < max(int(min_area), 1):
            continue
        window[free] = next_label
        next_label += 1
    return labels


_EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)


def _largest_piece(region: np.ndarray) -> np.ndarray:
    """The largest 8-connected piece of boolean ``region`` (ties: the first in raster order)."""
    from scipy import ndimage as ndi

    pieces, count = ndi.label(region, structure=_EIGHT_NEIGHBOURS)
    if count <= 1:
        return region
    sizes = np.bincount(pieces.ravel())
    sizes[0] = 0
    return pieces == int(np.argmax(sizes))


class _SharedThreshold:
    """The RoI head's score threshold, set per call on a model that threads share (serve's pool): calls
    with the threshold in force run together; a call with another one waits until they are done. Set and
    restored without this, a call asking 0.3 while another had set 0.9 lost its detections between the
    two, and the two restores could leave the model at 0.9. Hand-written: torchvision reads the threshold
    from the head, with no per-call argument."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._users = 0
        self._value = 0.0
        self._before = 0.0

    @contextlib.contextmanager
    def held(self, heads: Any, value: float) -> Iterator[None]:
        """``heads.score_thresh`` is ``value`` inside, and back to what it was once the last user leaves."""
        with self._changed:
            self._changed.wait_for(lambda: self._users == 0 or self._value == value)
            if self._users == 0:
                self._before, self._value = heads.score_thresh, value
                heads.score_thresh = value
            self._users += 1
        try:
            yield
        finally:
            with self._changed:
                self._users -= 1
                if self._users == 0:
                    heads.score_thresh = self._before
                    self._changed.notify_all()


class MaskRCNNPredictor:
    """Instance segmentation with a trained Mask R-CNN: ``predict_instances(image) -> labels (H, W)``.

    Threads may share one (serve's pool): the RoI head's score threshold, set per call, is held for the
    calls using it (:class:`_SharedThreshold`). Library code: it does not change torch's thread count; the
    caller owns the process.
    """

    def __init__(
        self,
        model: MaskRCNN,
        config: ModelConfig,
        device: str | torch.device = "cpu",
        max_pixels: int = DEFAULT_MAX_PIXELS,
        tile_size: int = DEFAULT_TILE_SIZE,
        tile_overlap: int = DEFAULT_TILE_OVERLAP,
        min_area: int = DEFAULT_MIN_AREA,
    ) -> None:
        if tile_overlap < 0 or tile_size <= tile_overlap:
            raise ValueError(f"tile_size ({tile_size}) must exceed tile_overlap ({tile_overlap}) >= 0")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.config = config
        self.max_pixels = int(max_pixels)
        self.tile_size = int(tile_size)
        self.tile_overlap = int(tile_overlap)
        self.min_area = int(min_area)
        self._threshold = _SharedThreshold()

    @property
    def class_names(self) -> list[str]:
        return list(self.config.class_names)

    def _score_threshold(self, value: float) -> contextlib.AbstractContextManager[None]:
        # The mask head runs on every detection above the RoI head's threshold (0.05 by default); raising it
        # to the caller's threshold skips masks that would be thrown away (the mask head dominates the time
        # on crowded images).
        return self._threshold.held(self.model.roi_heads, value)

    @torch.inference_mode()
    def _detect_tensor(self, x: torch.Tensor) -> Detections:
        """Detections of one (3, h, w) float image (no tiling), in its pixel coordinates."""
        model = self.model
        size = (int(x.shape[-2]), int(x.shape[-1]))
        images, _ = model.transform([x.to(self.device)])
        features = model.backbone(images.tensors)
        proposals, _ = model.rpn(images, features)
        found, _ = model.roi_heads(features, proposals, images.image_sizes)
        det = found[0]
        boxes = resize_boxes(det["boxes"], images.image_sizes[0], size)  # undo image_scale
        masks = det["masks"][:, 0] if "masks" in det else torch.zeros((0, 28, 28))
        return Detections(
            boxes.float().cpu().numpy(), det["scores"].float().cpu().numpy(), masks.float().cpu().numpy()
        )

    def detect(self, image: np.ndarray, score_threshold: float = 0.5) -> Detections:
        """Detections (boxes, scores, 28x28 mask probabilities) with score >= ``score_threshold``, for an
        image of any size (uint8 (H, W), (H, W, 1/3/4)); tiled above ``max_pixels``."""
        if not 0.0 <= score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
        rgb = to_rgb(image)
        height, width = rgb.shape[:2]
        with self._score_threshold(score_threshold):
            if height * width <= self.max_pixels:
                return self._detect_tensor(image_to_tensor(rgb))
            return self._detect_tiled(rgb)

    def _detect_tiled(self, rgb: np.ndarray) -> Detections:
        from unetkit.inference.tiling import tile_starts

        height, width = rgb.shape[:2]
        step = self.tile_size - self.tile_overlap
        parts = []
        ys = [max(s, 0) for s in tile_starts(height, self.tile_size, step)]
        xs = [max(s, 0) for s in tile_starts(width, self.tile_size, step)]
        y_own, x_own = _ownership(ys, self.tile_size, height), _ownership(xs, self.tile_size, width)
        for y, (oy0, oy1) in zip(ys, y_own):
            for x, (ox0, ox1) in zip(xs, x_own):
                tile = rgb[y : y + self.tile_size, x : x + self.tile_size]
                det = self._detect_tensor(image_to_tensor(tile))
                boxes = det.boxes + np.array([x, y, x, y], dtype=np.float32)
                cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
                own = (cx >= ox0) & (cx < ox1) & (cy >= oy0) & (cy < oy1)
                parts.append(Detections(boxes[own], det.scores[own], det.masks[own]))
        return Detections.concat(parts)

    def predict_instances(
        self, image: np.ndarray, score_threshold: float = 0.5, mask_threshold: float = 0.5
    ) -> np.ndarray:
        """int32 (H, W) instance labels of a uint8 image (H, W[, C]): 0 background, 1..n objects, 1 the most
        confident; overlaps go to the higher score (see the module docstring)."""
        if not 0.0 <= mask_threshold <= 1.0:
            raise ValueError(f"mask_threshold must be in [0, 1], got {mask_threshold}")
        detections = self.detect(image, score_threshold)
        shape = (int(image.shape[0]), int(image.shape[1]))
        return paint_instances(detections, shape, score_threshold, mask_threshold, self.min_area)


def _ownership(starts: list[int], tile: int, length: int) -> list[tuple[float, float]]:
    """Per tile, the [start, end) span of the axis it owns: overlaps split in the middle."""
    spans = []
    for i, start in enumerate(starts):
        lo = 0.0 if i == 0 else (start + min(starts[i - 1] + tile, length)) / 2
        hi = float(length) if i == len(starts) - 1 else (starts[i + 1] + min(start + tile, length)) / 2
        spans.append((lo, hi))
    return spans


def load_maskrcnn_predictor(
    model_dir: str | Path, device: str | torch.device = "cpu", **kwargs: Any
) -> MaskRCNNPredictor:
    """:class:`MaskRCNNPredictor` of a model folder or a ``fit_maskrcnn`` run folder (``kwargs``: its
    options: ``max_pixels``, ``tile_size``, ``tile_overlap``, ``min_area``)."""
    model, config = load_maskrcnn(model_dir, device)
    return MaskRCNNPredictor(model, config, device=device, **kwargs)
