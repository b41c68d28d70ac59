"""``DatasetSpec`` and the dataset registry: ``@register_dataset("name")`` and ``get_dataset_spec(name)``.

A dataset builder is ``builder(root: Path | None, *, option=default, ...) -> DatasetSpec``. Its keyword-only
parameters are its options (``data.options`` in the training config): the signature is the one declaration,
so unknown options are reported with the builder's own list. Builders register in their own module, listed
in ``_BUILTIN`` so that a name is known (for config checks and "did you mean") before its module is imported.

Roots are found in this order: the ``root`` argument, ``$UNETKIT_DATA/<folder>``, ``../shared/data/<folder>``
relative to the current directory (see :func:`resolve_root`).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from unetkit.data.io import MaskEncoding
from unetkit.options import look_up_option
from unetkit.palette import palette_for

if TYPE_CHECKING:
    from unetkit.data.folder import Pair

DATA_ENV = "UNETKIT_DATA"
CACHE_ENV = "UNETKIT_CACHE"


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to build the datasets of one benchmark.

    ``splits`` maps split name -> image stems; ``isbi`` marks the ISBI 2012 EM data (the paper's setting:
    weight maps and overlap-tile inference apply). ``convert_channels`` opts in to gray<->RGB conversion.
    ``intensity_window`` (per channel [lo, hi] of stored values, or ``{"percentiles": [lo, hi]}``: each image
    by its own) maps stored values onto 0..255 (:func:`unetkit.data.io.apply_window`); None for 8-bit data
    read as stored. ``class_colors`` (one RGB per class) are the
    colours the user gave the classes (classes.json, a palette PNG's palette; classes without one take
    :func:`~unetkit.palette.class_palette`'s), kept in the model's config.json to draw its classes in; None
    when none were given.
    """

    name: str
    root: Path
    image_dir: Path
    mask_dir: Path
    encoding: MaskEncoding
    class_names: tuple[str, ...]
    in_channels: int
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    splits: Mapping[str, list[str]] = field(default_factory=dict)
    isbi: bool = False
    mask_suffix: str = ""
    convert_channels: bool = False
    intensity_window: tuple[tuple[float, float], ...] | dict[str, Any] | None = None
    class_colors: tuple[tuple[int, int, int], ...] | None = None

    def __post_init__(self) -> None:
        if len(self.class_names) != self.num_classes:
            raise ValueError(
                f"dataset {self.name!r}: {len(self.class_names)} class names for "
                f"num_classes={self.num_classes}"
            )
        if self.encoding.num_classes != self.num_classes:
            raise ValueError(
                f"dataset {self.name!r}: encoding has num_classes={self.encoding.num_classes}, "
                f"spec {self.num_classes}"
            )
        if self.class_colors is not None:
            if len(self.class_colors) != self.num_classes:
                raise ValueError(
                    f"dataset {self.name!r}: {len(self.class_colors)} class colours for "
                    f"num_classes={self.num_classes}"
                )
            rows = palette_for(list(self.class_colors), self.num_classes)
            object.__setattr__(self, "class_colors", tuple((int(r), int(g), int(b)) for r, g, b in rows))

    def pairs(self, split: str) -> list[Pair]:
        """(image, mask) paths of ``split``, in the split's order."""
        from unetkit.data.folder import pairs_for_stems  # lazy: listing dataset names needs no torch

        if split not in self.splits:
            raise ValueError(
                f"dataset {self.name!r} has no split {split!r}; available: {', '.join(self.splits)}"
            )
        return pairs_for_stems(
            self.image_dir, self.mask_dir, self.splits[split], mask_suffix=self.mask_suffix
        )


DatasetBuilder = Callable[..., DatasetSpec]
F = TypeVar("F", bound=DatasetBuilder)

# name -> module that registers it on import.
_BUILTIN: dict[str, str] = {
    "synthetic": "unetkit.data.datasets.synthetic",
    "isbi2012": "unetkit.data.datasets.isbi2012",
    "camvid": "unetkit.data.datasets.camvid",
    "oxford_pet": "unetkit.data.datasets.oxford_pet",
    "folder": "unetkit.data.datasets.folder",
}
_REGISTRY: dict[str, DatasetBuilder] = {}


def register_dataset(name: str) -> Callable[[F], F]:
    """Decorator: register ``builder(root, *, options...) -> DatasetSpec`` under ``name``."""

    def decorate(builder: F) -> F:
        key = name.lower()
        if key in _REGISTRY and _REGISTRY[key] is not builder:
            raise ValueError(f"A dataset is already registered under the name {key!r}.")
        params = list(inspect.signature(builder).parameters.values())
        if not params or params[0].name != "root" or any(p.kind != p.KEYWORD_ONLY for p in params[1:]):
            raise TypeError(
                f"dataset builder {builder.__name__} must look like builder(root, *, option=default, ...)"
            )
        _REGISTRY[key] = builder
        return builder

    return decorate


def list_datasets() -> list[str]:
    """Names accepted by :func:`get_dataset_spec`, sorted."""
    return sorted(set(_BUILTIN) | set(_REGISTRY))


def get_builder(name: str) -> DatasetBuilder:
    """The builder registered under ``name``; an unknown name lists the options."""
    key = look_up_option(name, list_datasets(), "dataset")
    if key not in _REGISTRY:
        importlib.import_module(_BUILTIN[key])
    if key not in _REGISTRY:
        raise RuntimeError(f"module {_BUILTIN[key]} did not register dataset {key!r}")  # programming error
    return _REGISTRY[key]


def dataset_options(name: str) -> list[str]:
    """The options of dataset ``name``: its builder's keyword-only parameters."""
    params = inspect.signature(get_builder(name)).parameters.values()
    return [p.name for p in params if p.kind == p.KEYWORD_ONLY]


def split_overrides(name: str, overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``overrides`` -> (builder options, DatasetSpec field replacements); unknown names raise ValueError."""
    options = dataset_options(name)
    spec_fields = {f.name for f in dataclasses.fields(DatasetSpec)}
    unknown = sorted(set(overrides) - set(options) - spec_fields)
    if unknown:
        close = difflib.get_close_matches(unknown[0], [*options, *spec_fields], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown option(s) {unknown} for dataset {name!r}.{hint} Dataset options: {options}, "
            f"spec fields: {sorted(spec_fields)}."
        )
    built = {k: v for k, v in overrides.items() if k in options}
    return built, {k: v for k, v in overrides.items() if k not in options}


def get_dataset_spec(name: str, root: str | Path | None = None, **overrides: Any) -> DatasetSpec:
    """Spec of a registered dataset (see :func:`list_datasets`).

    Builder options (e.g. ``border="class"`` for oxford_pet, ``num_images`` for synthetic, ``image_dir``/
    ``mask_dir``/``num_classes``/``split_*`` for folder) go to the builder; any other keyword replaces the
    DatasetSpec field of that name (e.g. ``mean=..., std=...``).
    """
    builder = get_builder(name)
    options, fields = split_overrides(name.lower(), overrides)
    spec = builder(Path(root) if root is not None else None, **options)
    return dataclasses.replace(spec, **fields) if fields else spec


def resolve_root(folder: str, root: str | Path | None) -> Path:
    """The dataset folder: ``root``, else ``$UNETKIT_DATA/<folder>``, else ``../shared/data/<folder>``."""
    if root is not None:
        candidates = [Path(root)]
    else:
        candidates = []
        if os.environ.get(DATA_ENV):
            candidates.append(Path(os.environ[DATA_ENV]) / folder)
        candidates.append(Path.cwd() / ".." / "shared" / "data" / folder)
    for cand in candidates:
        if cand.is_dir():
            return cand.resolve()
    looked = ", ".join(str(c) for c in candidates)
    raise ValueError(
        f"dataset folder for {folder!r} not found (looked in: {looked}); pass data.root=/path/to/{folder} "
        f"(root= from Python) or set {DATA_ENV}=/path/to/data (the folder that contains {folder}/)"
    )


def cache_root() -> Path:
    """Where generated data and weight maps are cached: ``$UNETKIT_CACHE`` or ``~/.cache/unetkit``.

    Never next to the data: dataset folders may be shared or read-only. Tests point it at a temp folder.
    """
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "unetkit")
