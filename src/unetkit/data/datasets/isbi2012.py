"""ISBI 2012 EM membranes (the U-Net paper's data): 30 slices, train 00-19, val 20-23, test 24-29."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from unetkit.data.datasets.registry import DatasetSpec, register_dataset, resolve_root
from unetkit.data.folder import find_pairs, split_by_ranges
from unetkit.data.io import MaskEncoding

# Train-split statistics (pixel values in [0, 1]) from unetkit.data.folder.compute_mean_std; tests recompute.
ISBI_MEAN, ISBI_STD = (0.48648,), (0.16653,)


@register_dataset("isbi2012")
def build_isbi2012(
    root: Path | None,
    *,
    ranges: Mapping[str, tuple[int, int]] | None = None,
) -> DatasetSpec:
    """``ranges``: split -> (first, stop) slice index; default train 0-20, val 20-24, test 24-30."""
    root = resolve_root("isbi2012", root)
    image_dir, mask_dir = root / "images", root / "masks"
    stems = [p[0].stem for p in find_pairs(image_dir, mask_dir)]
    # Contiguous blocks from the dataset README: neighbouring slices are strongly correlated (no shuffling).
    splits = split_by_ranges(stems, ranges or {"train": (0, 20), "val": (20, 24), "test": (24, 30)})
    return DatasetSpec(
        name="isbi2012",
        root=root,
        image_dir=image_dir,
        mask_dir=mask_dir,
        encoding=MaskEncoding("binary", num_classes=2),  # 0 = membrane -> class 0, 255 = cell -> class 1
        class_names=("membrane", "cell"),
        in_channels=1,
        num_classes=2,
        mean=ISBI_MEAN,
        std=ISBI_STD,
        splits=splits,
        isbi=True,
    )
