"""Deprecated alias of :mod:`unetkit.data.datasets` (the dataset registry and its builders)."""

from __future__ import annotations

from unetkit.data.datasets import DatasetSpec, get_dataset_spec, list_datasets
from unetkit.data.datasets.oxford_pet import download_oxford_pet

__all__ = ["DatasetSpec", "download_oxford_pet", "get_dataset_spec", "list_datasets"]
