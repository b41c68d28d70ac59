"""Any folder of images and masks (``dataset: folder``): encoding, splits and statistics from options."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from unetkit.data.datasets.registry import DatasetSpec, register_dataset
from unetkit.data.folder import (
    compute_mean_std,
    find_pairs,
    pairs_for_stems,
    split_by_fraction,
    split_by_lists,
    split_by_ranges,
)
from unetkit.data.io import MaskEncoding


@register_dataset("folder")
def build_folder(
    root: Path | None,
    *,
    image_dir: str | Path | None = None,
    mask_dir: str | Path | None = None,
    encoding: MaskEncoding | None = None,
    num_classes: int | None = None,
    mask_kind: str = "index",
    ignore_values: Sequence[int] = (),
    colors: Mapping[Any, Sequence[int]] | None = None,
    ignore_colors: Sequence[Sequence[int]] = (),
    mapping: Mapping[Any, int] | None = None,
    mask_suffix: str = "",
    in_channels: int = 3,
    split_lists: Mapping[str, Any] | None = None,
    split_ranges: Mapping[str, tuple[int, int]] | None = None,
    split_fractions: Mapping[str, float] | None = None,
    seed: int = 0,
    class_names: Sequence[str] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> DatasetSpec:
    """Images and masks from ``root`` (images/, masks/) or from ``image_dir`` and ``mask_dir``.

    The mask encoding is ``encoding``, or built from plain YAML/CLI options (``num_classes``, ``mask_kind``,
    ``ignore_values``, palette ``colors``/``ignore_colors``, remap ``mapping``). Splits come from
    ``split_lists`` (split -> list file or stems), ``split_ranges`` (split -> (first, stop)) or
    ``split_fractions`` (seeded shuffle; default 70/15/15). ``mean``/``std`` default to the train split's.
    """
    if image_dir is None or mask_dir is None:
        if root is None:
            raise ValueError(
                "dataset 'folder' needs root=... (with images/ and masks/) or image_dir= and mask_dir="
            )
        image_dir = image_dir or Path(root) / "images"
        mask_dir = mask_dir or Path(root) / "masks"
    image_dir, mask_dir = Path(image_dir), Path(mask_dir)
    root = Path(root) if root is not None else image_dir.parent
    if encoding is None:
        if num_classes is None:
            raise ValueError("dataset 'folder' needs num_classes=... (or encoding=MaskEncoding(...))")
        # Plain YAML/CLI options for every mask kind: palette colours and remap tables included.
        encoding = MaskEncoding(
            mask_kind,
            int(num_classes),
            tuple(ignore_values),
            colors={int(k): (int(v[0]), int(v[1]), int(v[2])) for k, v in colors.items()} if colors else None,
            ignore_colors=tuple((int(c[0]), int(c[1]), int(c[2])) for c in ignore_colors),
            mapping={int(k): int(v) for k, v in mapping.items()} if mapping else None,
        )
    stems = [p[0].stem for p in find_pairs(image_dir, mask_dir, mask_suffix=mask_suffix)]
    if split_lists is not None:
        splits = split_by_lists(stems, split_lists)
    elif split_ranges is not None:
        splits = split_by_ranges(stems, split_ranges)
    else:
        fractions = split_fractions or {"train": 0.7, "val": 0.15, "test": 0.15}
        splits = split_by_fraction(stems, fractions, seed=int(seed))
    names = tuple(class_names or [f"class_{i}" for i in range(encoding.num_classes)])
    if mean is None or std is None:
        train = splits.get("train") or stems
        mean, std = compute_mean_std(
            pairs_for_stems(image_dir, mask_dir, train, mask_suffix=mask_suffix), int(in_channels)
        )
    return DatasetSpec(
        name="folder",
        root=root,
        image_dir=image_dir,
        mask_dir=mask_dir,
        encoding=encoding,
        class_names=names,
        in_channels=int(in_channels),
        num_classes=encoding.num_classes,
        mean=tuple(mean),
        std=tuple(std),
        splits=splits,
        mask_suffix=mask_suffix,
    )
