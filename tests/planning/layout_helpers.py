"""Helpers shared by the layout tests (test_layouts_public.py, test_layouts_domains.py)."""

from __future__ import annotations

from typing import Any

from unetkit.data.io import read_mask
from unetkit.planning.discovery import DatasetLayout


def built_spec(layout: DatasetLayout) -> Any:
    """The ``folder`` dataset built from ``layout.folder_options()`` pairs the layout's files and decodes
    every mask of every split (as ``unetkit fit`` does before it writes anything)."""
    from unetkit.data.datasets import get_dataset_spec

    opts, _ = layout.folder_options()
    spec = get_dataset_spec("folder", root=layout.root, **opts, mean=[0.5], std=[0.25])
    for split in layout.splits:
        samples = layout.samples_of(split)
        assert spec.pairs(split) == [(s.image, s.mask) for s in samples]
        for s in samples:
            read_mask(s.mask, spec.encoding)
    return spec
