"""Dataset registry and builders: ``get_dataset_spec(name, root, **options)``, ``@register_dataset(name)``.

One module per builder (synthetic, isbi2012, camvid, oxford_pet, folder); each declares its options in its
own signature. Builder modules are imported on first use of their name (see ``registry._BUILTIN``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from unetkit.data.datasets.registry import (
    DatasetSpec,
    cache_root,
    dataset_options,
    get_builder,
    get_dataset_spec,
    list_datasets,
    register_dataset,
    resolve_root,
)

if TYPE_CHECKING:
    from unetkit.data.datasets.oxford_pet import download_oxford_pet


def __getattr__(name: str) -> Any:
    if name == "download_oxford_pet":  # lazy: the builder module imports torch (via data.folder)
        from unetkit.data.datasets.oxford_pet import download_oxford_pet

        return download_oxford_pet
    raise AttributeError(f"module 'unetkit.data.datasets' has no attribute {name!r}")


__all__ = [
    "DatasetSpec",
    "cache_root",
    "dataset_options",
    "download_oxford_pet",
    "get_builder",
    "get_dataset_spec",
    "list_datasets",
    "register_dataset",
    "resolve_root",
]
