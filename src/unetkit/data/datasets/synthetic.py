"""The embedded synthetic data (touching cells of a few shapes), generated once into the cache folder."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unetkit.data.datasets.registry import DatasetSpec, cache_root, register_dataset
from unetkit.data.folder import compute_mean_std, find_pairs, pairs_for_stems, split_by_lists
from unetkit.data.io import MaskEncoding
from unetkit.data.synthetic import make_synthetic_dataset
from unetkit.options import check_int, check_positive_int, to_pair

_SHAPE_NAMES = ("round", "elongated", "square", "triangle")


@register_dataset("synthetic")
def build_synthetic(
    root: Path | None,
    *,
    num_images: int = 24,
    size: int | Sequence[int] = (96, 96),
    num_classes: int = 3,
    channels: int = 1,
    seed: int = 0,
) -> DatasetSpec:
    """Generate (once) and describe the synthetic data; ``root`` None: a folder under :func:`cache_root`
    named by a hash of the parameters, so each parameter set is generated once."""
    height, width = to_pair(size, "synthetic size", minimum=1)
    params: dict[str, Any] = {
        "num_images": check_positive_int(num_images, "synthetic num_images"),
        "size": (height, width),
        "num_classes": check_positive_int(num_classes, "synthetic num_classes"),
        "channels": check_positive_int(channels, "synthetic channels"),
        "seed": check_int(seed, "synthetic seed"),
    }
    if root is None:
        tag = hashlib.sha256(repr(sorted(params.items())).encode()).hexdigest()[:10]
        root = cache_root() / f"synthetic-{tag}"
    root = Path(root)
    if not (root / "test.txt").is_file():
        # test.txt is written last, so its presence means a complete earlier generation.
        make_synthetic_dataset(root, **params)
    image_dir, mask_dir = root / "images", root / "masks"
    stems = [p[0].stem for p in find_pairs(image_dir, mask_dir)]
    splits = split_by_lists(stems, {s: root / f"{s}.txt" for s in ("train", "val", "test")})
    n = params["num_classes"]
    names = ("background", *[_SHAPE_NAMES[(k - 1) % 4] + ("" if k <= 4 else f"_{k}") for k in range(1, n)])
    mean, std = compute_mean_std(pairs_for_stems(image_dir, mask_dir, splits["train"]), params["channels"])
    return DatasetSpec(
        name="synthetic",
        root=root.resolve(),
        image_dir=image_dir.resolve(),
        mask_dir=mask_dir.resolve(),
        encoding=MaskEncoding("index", num_classes=n),
        class_names=names,
        in_channels=params["channels"],
        num_classes=n,
        mean=tuple(mean),
        std=tuple(std),
        splits=splits,
    )
