"""Joint image/mask(/weight map) augmentation.

Geometric and photometric augmentations come from albumentations 2.0.8. Masks (and weight maps) always use
nearest-neighbour sampling, so they only ever contain the original class values plus IGNORE_INDEX where a
crop had to pad.

The U-Net paper's elastic deformation is written by hand (:func:`elastic_deform`): the paper draws random
displacement vectors on a *coarse 3x3 grid* (std 10 px) and interpolates them bicubically to a smooth dense
field. albumentations' ``ElasticTransform`` instead smooths a per-pixel random field with a Gaussian
(Simard et al. 2003), which gives a different deformation statistic and cannot express the paper's scheme.

Like albumentations, this module does not import torch.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import albumentations as A
import cv2
import numpy as np
from scipy import ndimage

from unetkit.constants import IGNORE_INDEX
from unetkit.options import check_int, to_pair

# OpenCV threads in each data-loader process. Torch already runs one thread in its loader workers; OpenCV's
# default (one per core) in each of up to 8 processes competes with the others and with the process that
# feeds the GPU. 0 switches OpenCV's thread pool off (getNumThreads() then says 1). Not 1: in a process forked
# after OpenCV's pool ran in its parent (a DataLoader worker after the plan's data probe), setNumThreads(1)
# waits forever on the parent's pool threads (OpenCV 4.x; tests/training/test_datamodule.py reproduces it).
LOADER_OPENCV_THREADS = 0


def use_loader_threads() -> None:
    """Set OpenCV to ``LOADER_OPENCV_THREADS`` in this process (a loader worker's ``worker_init_fn``)."""
    cv2.setNumThreads(LOADER_OPENCV_THREADS)


@contextlib.contextmanager
def loader_threads() -> Iterator[None]:
    """OpenCV threaded as in a loader process, inside the block only (the planner's data probe times a GPU
    plan's reading this way); the process's setting is put back after."""
    before = cv2.getNumThreads()
    use_loader_threads()
    try:
        yield
    finally:
        cv2.setNumThreads(before)


logger = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------ elastic (paper)


def _spline_weights(n_out: int, grid_size: int) -> np.ndarray:
    """(n_out, grid_size) weights of 1-D cubic-spline interpolation from ``grid_size`` knots to ``n_out``
    evenly spaced points (first and last on the end knots)."""
    pos = np.linspace(0.0, grid_size - 1, n_out)[None, :]
    eye = np.eye(grid_size)
    return np.stack([ndimage.map_coordinates(e, pos, order=3, mode="nearest") for e in eye], axis=1)


def random_displacement_field(
    shape: tuple[int, int], rng: np.random.Generator, grid_size: int = 3, sigma: float = 10.0
) -> tuple[np.ndarray, np.ndarray]:
    """Dense displacement field (dy, dx), each float64 (H, W), as in the U-Net paper.

    Displacements are drawn from N(0, sigma^2) (pixels) on a ``grid_size`` x ``grid_size`` grid whose outer
    points sit on the image corners, then interpolated with a cubic spline (order 3, which passes through the
    grid values) to every pixel.
    Returns:
        (dy, dx): displacement along rows and columns, (H, W) each.
    """
    height, width = shape
    if grid_size < 2:
        raise ValueError(f"grid_size must be >= 2, got {grid_size}")
    coarse = rng.normal(0.0, sigma, size=(2, grid_size, grid_size))
    # A tensor-product spline is separable: rows @ coarse @ cols^T equals 2-D spline interpolation of the grid
    # (same values as ndimage.map_coordinates on the full grid) at a fraction of the cost.
    w_rows, w_cols = _spline_weights(height, grid_size), _spline_weights(width, grid_size)
    return w_rows @ coarse[0] @ w_cols.T, w_rows @ coarse[1] @ w_cols.T


def elastic_deform(
    image: np.ndarray,
    mask: np.ndarray,
    weight: np.ndarray | None,
    rng: np.random.Generator,
    grid_size: int = 3,
    sigma: float = 10.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Warp image (H, W, C) uint8 bicubically and mask/weight (H, W) with nearest, using one shared field.

    Out-of-image samples are reflected at the border for all three, so they stay aligned. cv2.remap does the
    sampling (32 ms -> 3.8 ms per 256 px crop with the separable field, against scipy's spline sampling).
    """
    dy, dx = random_displacement_field(image.shape[:2], rng, grid_size, sigma)
    rows, cols = np.indices(image.shape[:2], dtype=np.float32)
    map_y, map_x = rows + dy.astype(np.float32), cols + dx.astype(np.float32)
    # cv2.remap takes at most 4 channels at once; more (multi-spectral inputs) go in groups of up to 4.
    groups = [image[..., i : i + 4] for i in range(0, image.shape[2], 4)]
    warped = np.concatenate(
        [
            cv2.remap(g, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT).reshape(g.shape)
            for g in groups
        ],
        axis=2,
    )
    # Masks hold class indices < 256 (IGNORE_INDEX = 255): uint8 is lossless and cv2 supports it.
    new_mask = cv2.remap(
        mask.astype(np.uint8), map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT
    )
    new_weight = None
    if weight is not None:
        new_weight = cv2.remap(
            weight.astype(np.float32), map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT
        )
    return warped, new_mask.astype(mask.dtype), new_weight


# -------------------------------------------------------------------------------------------------- helpers


def pad_to_size(
    image: np.ndarray, mask: np.ndarray, weight: np.ndarray | None, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Pad (centred) to at least ``size``: image reflected, mask IGNORE_INDEX, weight 0.

    Hand-written because albumentations' padding uses the same border mode for image and mask; a reflected
    mask would train on mirrored labels that the annotators never drew.
    """
    height, width = mask.shape
    ph, pw = max(size[0] - height, 0), max(size[1] - width, 0)
    if ph == 0 and pw == 0:
        return image, mask, weight
    pads = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
    image = np.pad(image, (*pads, (0, 0)), mode="reflect" if min(height, width) > 1 else "edge")
    mask = np.pad(mask, pads, mode="constant", constant_values=IGNORE_INDEX)
    if weight is not None:
        weight = np.pad(weight, pads, mode="constant", constant_values=0)
    return image, mask, weight


class _RandomRotate90KeepShape(A.RandomRotate90):
    """RandomRotate90 that only rotates by 0 or 180 degrees on non-square inputs.

    A 90-degree turn swaps H and W, which would break batching of non-square images (e.g. CamVid 256x192).
    """

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        shape = params["shape"]
        if shape[0] != shape[1] and params.get("factor", 0) % 2 == 1:
            return {"factor": (params["factor"] + 1) % 4}
        return {}


def is_albumentations(transform: object) -> bool:
    """Whether ``transform`` is an albumentations transform or composition (called with named arrays)."""
    return isinstance(transform, A.BasicTransform | A.BaseCompose)


@dataclass
class _Stages:
    pre: A.Compose | None  # scale (changes the size)
    crop_size: tuple[int, int] | None
    post: A.Compose | None  # crop, flips, rot90, colour
    elastic: bool
    elastic_grid: int
    elastic_sigma: float


# Albumentations steps the dataset does itself after the joint transform: normalisation (with the run's
# mean/std) and the conversion to tensors. In a user's transform they would apply twice or break the dataset.
_DATASET_STEPS = ("Normalize", "ToTensorV2", "ToFloat")


def _owned_steps(transform: Any) -> set[str]:
    """Names of the steps of ``transform`` (nested Compose/OneOf included) that the dataset does itself."""
    found = {type(transform).__name__} & set(_DATASET_STEPS)
    for child in getattr(transform, "transforms", None) or ():
        found |= _owned_steps(child)
    return found


class JointTransform:
    """Callable ``(image uint8 (H, W, C), mask int64 (H, W), weight float32 (H, W) | None)
    -> (image, mask int64, weight | None)``; one random draw moves all of them the same way."""

    def __init__(self, stages: _Stages, seed: int | None = None) -> None:
        self._stages = stages
        self.reseed(seed)

    @classmethod
    def from_albumentations(
        cls, transform: A.BasicTransform | A.BaseCompose, seed: int | None = None
    ) -> JointTransform:
        """Wrap an albumentations transform (or ``A.Compose``) as a joint transform: image, mask and weight
        map move together (masks and weights nearest-neighbour) and :meth:`reseed` seeds it, so per-sample
        seeds and data-loader workers work as with :func:`build_transforms`."""
        if not is_albumentations(transform):
            raise TypeError(
                "from_albumentations takes an albumentations transform or Compose, got "
                f"{type(transform).__name__}"
            )
        owned = sorted(_owned_steps(transform))
        if owned:
            raise ValueError(
                f"the albumentations transform holds {', '.join(owned)}: the dataset normalises with its own "
                "mean/std and makes the tensors itself, so these would apply twice (or fail); drop them"
            )
        post = A.Compose(
            [transform], additional_targets={"weight": "mask"}, mask_interpolation=cv2.INTER_NEAREST
        )
        unused = AugmentOptions()  # elastic is off; its settings only fill the record
        return cls(_Stages(None, None, post, False, unused.elastic_grid, unused.elastic_sigma), seed)

    @property
    def is_identity(self) -> bool:
        s = self._stages
        return s.pre is None and s.post is None and s.crop_size is None and not s.elastic

    def reseed(self, seed: int | Sequence[int] | None) -> None:
        """Restart all random streams from ``seed`` (None: fresh OS entropy).

        ``seed`` may be a sequence of non-negative ints, e.g. ``(run_seed, epoch, index)``: training seeds
        every sample's draw that way, so the augmentation depends neither on the data-loader workers nor on
        where a killed run was resumed."""
        seq = np.random.SeedSequence(seed)
        s_pre, s_post, s_el = (int(c.generate_state(1)[0]) for c in seq.spawn(3))
        if self._stages.pre is not None:
            self._stages.pre.set_random_seed(s_pre)
        if self._stages.post is not None:
            self._stages.post.set_random_seed(s_post)
        self._rng = np.random.default_rng(s_el)

    def __call__(
        self, image: np.ndarray, mask: np.ndarray, weight: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        if image.ndim != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be uint8 (H, W, C), got {image.dtype} {image.shape}")
        if mask.shape != image.shape[:2] or (weight is not None and weight.shape != mask.shape):
            raise ValueError(
                f"image {image.shape[:2]}, mask {mask.shape} and weight "
                f"{None if weight is None else weight.shape} must have the same height and width"
            )
        if self.is_identity:
            return image, mask.astype(np.int64, copy=False), weight
        if mask.size and (int(mask.min()) < 0 or int(mask.max()) > 255):
            raise ValueError(
                f"mask values must lie in 0..255 (classes and IGNORE_INDEX), got {mask.min()}..{mask.max()}"
            )
        # cv2 has no int64 support; classes < 255 and IGNORE_INDEX = 255 all fit in uint8.
        m8 = mask.astype(np.uint8)
        w = None if weight is None else weight.astype(np.float32, copy=False)
        s = self._stages
        if s.pre is not None:
            image, m8, w = self._apply(s.pre, image, m8, w)
        if s.crop_size is not None:
            image, m8, w = pad_to_size(image, m8, w, s.crop_size)
        if s.post is not None:
            image, m8, w = self._apply(s.post, image, m8, w)
        if s.elastic:
            image, m8, w = elastic_deform(image, m8, w, self._rng, s.elastic_grid, s.elastic_sigma)
        return (
            np.ascontiguousarray(image),
            m8.astype(np.int64),
            None if w is None else np.ascontiguousarray(w),
        )

    @staticmethod
    def _apply(
        compose: A.Compose, image: np.ndarray, mask: np.ndarray, weight: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        data: dict[str, np.ndarray] = {"image": image, "mask": mask}
        if weight is not None:
            data["weight"] = weight
        out = compose(**data)
        img = out["image"]
        if img.ndim == 2:  # some cv2 ops drop a singleton channel axis
            img = img[..., None]
        return img, out["mask"], out.get("weight")


@dataclass(frozen=True)
class AugmentOptions:
    """Training augmentation settings: the keyword options of :func:`build_transforms` and the
    ``data.augment`` section of the training config (declared once, here).

    Attributes:
        flips: random horizontal and (with ``vertical_flips``) vertical flips.
        vertical_flips: include the upside-down flip; false for scenes with an up (streets, portraits),
            where a mirror image is still a valid scene and an upside-down one is not.
        rot90: random 90-degree turns (0/180 only on non-square inputs).
        scale: (min, max) zoom factor range, or None; only used with a crop (fixed output size).
        color: random brightness/contrast (``brightness``, ``contrast`` limits) and gamma (``gamma`` in %).
        elastic: U-Net paper deformation, coarse ``elastic_grid`` grid with std ``elastic_sigma`` px.
        foreground_crops: share of the training crops placed to hold a pixel of ``foreground_classes``
            (nnU-Net oversamples a third of its patches so); the other crops are uniform. 0: all uniform.
        foreground_classes: the class indices those crops hold; None: every class but 0.
    """

    flips: bool = True
    vertical_flips: bool = True
    rot90: bool = True
    scale: tuple[float, float] | None = (0.8, 1.2)
    color: bool = True
    brightness: float = 0.2
    contrast: float = 0.2
    gamma: tuple[int, int] = (80, 120)
    elastic: bool = False
    elastic_grid: int = 3
    elastic_sigma: float = 10.0
    foreground_crops: float = 0.0
    foreground_classes: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        # Checked here, so the training config refuses bad values before a run starts (same messages).
        if self.scale is not None and not 0 < float(self.scale[0]) <= float(self.scale[1]):
            raise ValueError(f"scale must be (min, max) with 0 < min <= max, or None; got {self.scale!r}")
        if not (0 <= self.brightness <= 1 and 0 <= self.contrast <= 1):
            raise ValueError(
                f"brightness and contrast must lie in [0, 1], got {self.brightness!r}, {self.contrast!r}"
            )
        if not 0 < self.gamma[0] <= self.gamma[1]:
            raise ValueError(f"gamma must be (min, max) in percent with 0 < min <= max, got {self.gamma!r}")
        check_int(self.elastic_grid, "elastic_grid", minimum=2)
        if not self.elastic_sigma >= 0:
            raise ValueError(f"elastic_sigma must be >= 0 (pixels), got {self.elastic_sigma!r}")
        if not 0 <= self.foreground_crops <= 1:
            raise ValueError(
                f"foreground_crops must lie in [0, 1] (a share of the crops), got {self.foreground_crops!r}"
            )
        if self.foreground_classes is not None and (
            not self.foreground_classes or any(not 0 < int(c) < IGNORE_INDEX for c in self.foreground_classes)
        ):
            raise ValueError(
                f"foreground_classes must list class indices 1..{IGNORE_INDEX - 1}, got "
                f"{self.foreground_classes!r}; or null for every class but 0"
            )


def _crop(
    crop_size: tuple[int, int], foreground: float, classes: tuple[int, ...] | None, num_classes: int | None
) -> A.BasicTransform:
    """The random training crop: uniform, or with probability ``foreground`` one that holds a pixel of
    ``classes`` (albumentations' CropNonEmptyMaskIfExists, which falls back to uniform on masks without)."""
    h, w = crop_size
    if foreground <= 0:
        return A.RandomCrop(height=h, width=w, p=1.0)
    kept = set(range(1, IGNORE_INDEX)) if classes is None else {int(c) for c in classes}
    # It crops around the non-zero values left after ignore_values, so every other value a mask can hold is
    # ignored: the other classes and void. Knowing num_classes keeps that list short: np.isin over all 255
    # other values is an order of magnitude slower on a large mask than a few comparisons.
    stored = range(num_classes) if num_classes is not None else range(IGNORE_INDEX)
    ignore = [v for v in stored if v not in kept] + [IGNORE_INDEX]
    if foreground >= 1:
        return A.CropNonEmptyMaskIfExists(height=h, width=w, ignore_values=ignore, p=1.0)
    # OneOf picks a child with probability proportional to the child's p.
    return A.OneOf(
        [
            A.CropNonEmptyMaskIfExists(height=h, width=w, ignore_values=ignore, p=foreground),
            A.RandomCrop(height=h, width=w, p=1.0 - foreground),
        ],
        p=1.0,
    )


def build_transforms(
    train: bool,
    crop_size: tuple[int, int] | int | None = None,
    seed: int | None = None,
    num_classes: int | None = None,
    **options: Any,
) -> JointTransform:
    """Training or evaluation transform.

    Training order: random scale -> pad (if smaller than the crop) -> random crop -> flips -> rot90 ->
    brightness/contrast/gamma -> elastic (paper, on the crop). Evaluation (``train=False``) is the identity:
    full images, no crop, so metrics see every pixel.

    Args:
        crop_size: (H, W) or int of the random training crop; None keeps the full image.
        seed: seed for reproducible augmentation (None: random).
        num_classes: the mask's class count (optional; makes foreground crops cheaper on large masks).
        options: fields of :class:`AugmentOptions` (e.g. ``flips=False, elastic=True``).
    """
    opts = AugmentOptions(**options)
    if not train:
        return JointTransform(_Stages(None, None, None, False, opts.elastic_grid, opts.elastic_sigma), seed)
    if crop_size is not None:
        crop_size = to_pair(crop_size, "crop_size", minimum=1)
    scale = opts.scale
    pre = None
    if scale is not None and crop_size is None:
        # Without a crop back to a fixed size, zooming would give every sample a different size (no batching).
        logger.info("scale augmentation needs crop_size; it is skipped for full-image training")
        scale = None
    if scale is not None:
        lo, hi = float(scale[0]), float(scale[1])
        # albumentations samples the factor as 1 + U(scale_limit).
        pre = A.Compose(
            [A.RandomScale(scale_limit=(lo - 1.0, hi - 1.0), interpolation=cv2.INTER_LINEAR, p=1.0)],
            additional_targets={"weight": "mask"},
            mask_interpolation=cv2.INTER_NEAREST,
        )
    ops: list[Any] = []
    if crop_size is not None:
        ops.append(_crop(crop_size, opts.foreground_crops, opts.foreground_classes, num_classes))
    if opts.flips:
        ops.append(A.HorizontalFlip(p=0.5))
        if opts.vertical_flips:
            ops.append(A.VerticalFlip(p=0.5))
    if opts.rot90:
        ops.append(_RandomRotate90KeepShape(p=1.0))
    if opts.color:
        ops += [
            A.RandomBrightnessContrast(brightness_limit=opts.brightness, contrast_limit=opts.contrast, p=0.5),
            A.RandomGamma(gamma_limit=opts.gamma, p=0.5),
        ]
    post = (
        A.Compose(ops, additional_targets={"weight": "mask"}, mask_interpolation=cv2.INTER_NEAREST)
        if ops
        else None
    )
    return JointTransform(
        _Stages(pre, crop_size, post, opts.elastic, opts.elastic_grid, opts.elastic_sigma), seed
    )
