"""unetkit.data: reading images/masks, the dataset registry, splits, joint augmentation, synthetic data.

Only :mod:`unetkit.data.io` is imported eagerly; the other names load on first use (PEP 562) so that
``import unetkit.data.io`` stays free of torch/albumentations for the onnxruntime prediction path.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from unetkit.data.io import IMAGE_EXTENSIONS, MaskEncoding, image_info, normalize, read_image, read_mask

if TYPE_CHECKING:
    from unetkit.data.datasets import (
        DatasetSpec,
        download_oxford_pet,
        get_dataset_spec,
        list_datasets,
        register_dataset,
    )
    from unetkit.data.folder import (
        FolderDataset,
        compute_mean_std,
        find_pairs,
        pairs_for_stems,
        read_list_file,
        split_by_fraction,
        split_by_lists,
        split_by_ranges,
        validate,
    )
    from unetkit.data.instance_targets import boundary_target, semantic_from_labels
    from unetkit.data.instances import read_kaggle_sample, read_label_image, save_label_image
    from unetkit.data.synthetic import make_synthetic_dataset
    from unetkit.data.transforms import (
        JointTransform,
        build_transforms,
        elastic_deform,
        random_displacement_field,
    )
    from unetkit.data.weight_map import WeightMapConfig

_LAZY = {
    "FolderDataset": "folder",
    "WeightMapConfig": "weight_map",
    "compute_mean_std": "folder",
    "find_pairs": "folder",
    "pairs_for_stems": "folder",
    "read_list_file": "folder",
    "split_by_fraction": "folder",
    "split_by_lists": "folder",
    "split_by_ranges": "folder",
    "validate": "folder",
    "DatasetSpec": "datasets",
    "download_oxford_pet": "datasets",
    "get_dataset_spec": "datasets",
    "list_datasets": "datasets",
    "register_dataset": "datasets",
    "make_synthetic_dataset": "synthetic",
    "JointTransform": "transforms",
    "build_transforms": "transforms",
    "elastic_deform": "transforms",
    "random_displacement_field": "transforms",
    "read_label_image": "instances",
    "read_kaggle_sample": "instances",
    "save_label_image": "instances",
    "boundary_target": "instance_targets",
    "semantic_from_labels": "instance_targets",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'unetkit.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"unetkit.data.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "IMAGE_EXTENSIONS",
    "DatasetSpec",
    "FolderDataset",
    "JointTransform",
    "MaskEncoding",
    "WeightMapConfig",
    "boundary_target",
    "build_transforms",
    "compute_mean_std",
    "download_oxford_pet",
    "elastic_deform",
    "find_pairs",
    "get_dataset_spec",
    "image_info",
    "list_datasets",
    "make_synthetic_dataset",
    "normalize",
    "pairs_for_stems",
    "random_displacement_field",
    "read_image",
    "read_kaggle_sample",
    "read_label_image",
    "read_list_file",
    "read_mask",
    "register_dataset",
    "save_label_image",
    "semantic_from_labels",
    "split_by_fraction",
    "split_by_lists",
    "split_by_ranges",
    "validate",
]
