"""Mask-reading options of a folder dataset (``data.options``: ``mask_kind``, ``num_classes``,
``ignore_values``, palette ``colors``, remap ``mapping``, instance targets) -> a :class:`MaskEncoding`.

Without torch (unlike the dataset classes): ``unetkit predict RUN --masks DIR`` reads ground truth the way
the run read its masks on the onnxruntime path too, which never imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from unetkit.data.instance_targets import (
    ENERGY_LEVELS,
    INSTANCE_TARGETS,
    check_instance_target,
    instance_target_classes,
)
from unetkit.data.io import MaskEncoding
from unetkit.options import look_up_option


def instance_target_of(
    mask_kind: str,
    encoding: MaskEncoding | None,
    instance_target: str,
    boundary_radius: int,
    energy_levels: Sequence[int] | None,
) -> tuple[str, dict[str, Any]]:
    """The checked (target, parameters) of the ``instance_target`` options (one-line errors)."""
    target = look_up_option(instance_target, INSTANCE_TARGETS, "instance_target")
    if target == "semantic":
        if energy_levels is not None or boundary_radius != 2:
            raise ValueError(
                "dataset 'folder': energy_levels/boundary_radius need instance_target=energy/boundary; "
                "set instance_target or drop them"
            )
        return target, {}
    if encoding is not None:
        raise ValueError(
            f"dataset 'folder': instance_target={target!r} with encoding=...: give "
            "MaskEncoding('instances', ..., instance_target=...) instead"
        )
    if str(mask_kind).lower() != "instances":
        raise ValueError(
            f"dataset 'folder': instance_target={target!r} needs instance label masks (mask_kind=instances), "
            f"got mask_kind={mask_kind!r}; drop instance_target or point mask_dir at instance labels"
        )
    if target == "boundary" and energy_levels is not None:
        raise ValueError("dataset 'folder': energy_levels needs instance_target=energy; drop energy_levels")
    if target == "energy" and boundary_radius != 2:
        raise ValueError("dataset 'folder': boundary_radius needs instance_target=boundary; drop it")
    params = (
        {"radius": boundary_radius}
        if target == "boundary"
        else {"levels": list(energy_levels if energy_levels is not None else ENERGY_LEVELS)}
    )
    return check_instance_target(target, params)


def class_colors_by_index(colors: Mapping[Any, Sequence[int]]) -> dict[int, tuple[int, int, int]]:
    """``colors`` (class index -> [R, G, B], keys as YAML gives them: ints or digit strings) with int keys;
    a one-line ValueError for a key that is no class index (a class name, say) or a colour that is no RGB."""
    out = {}
    for key, value in colors.items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise ValueError(
                f"colors: key {key!r} is not a class index; colours are keyed by class index (the mask "
                "value's class), e.g. colors={0: [0, 0, 0], 1: [128, 64, 128]}"
            ) from None
        if not isinstance(value, (list, tuple)) or len(value) != 3:
            raise ValueError(f"colors: class {index} has {value!r}; give [R, G, B] with values 0..255")
        out[index] = (int(value[0]), int(value[1]), int(value[2]))
    return out


def encoding_of(
    mask_kind: str,
    num_classes: int,
    ignore_values: Sequence[int],
    colors: Mapping[Any, Sequence[int]] | None,
    ignore_colors: Sequence[Sequence[int]],
    mapping: Mapping[Any, int] | None,
    target: str,
    target_params: Mapping[str, Any],
) -> MaskEncoding:
    """The MaskEncoding of plain YAML/CLI options, for every mask kind (palette colours, remap tables)."""
    return MaskEncoding(
        mask_kind,
        int(num_classes),
        tuple(int(v) for v in ignore_values),
        colors=class_colors_by_index(colors) if colors else None,
        ignore_colors=tuple((int(c[0]), int(c[1]), int(c[2])) for c in ignore_colors),
        mapping={int(k): int(v) for k, v in mapping.items()} if mapping else None,
        instance_target=target,
        instance_params=dict(target_params) or None,
    )


def class_count(
    num_classes: int | None, mask_kind: str, target: str, target_params: Mapping[str, Any]
) -> int:
    """``num_classes``, or its default: the instance target's classes, 2 for binary/instance masks; else a
    one-line error asking for it."""
    if num_classes is not None:
        return int(num_classes)
    if target != "semantic":
        return len(instance_target_classes(target, dict(target_params)))
    if mask_kind in ("binary", "instances"):
        return 2
    raise ValueError("dataset 'folder' needs num_classes=... (or encoding=MaskEncoding(...))")


def folder_encoding(options: Mapping[str, Any]) -> MaskEncoding:
    """How a folder dataset with these ``data.options`` reads its masks (a run's ``config.yaml``), without
    listing the folder: ``unetkit predict RUN ... --masks DIR`` scores ground truth the way the run read it.
    ROIs are per image and not part of it."""
    mask_kind = str(options.get("mask_kind", "index"))
    target, params = instance_target_of(
        mask_kind,
        None,
        str(options.get("instance_target", "semantic")),
        int(options.get("boundary_radius", 2)),
        options.get("energy_levels"),
    )
    num_classes = class_count(options.get("num_classes"), mask_kind, target, params)
    return encoding_of(
        mask_kind, num_classes, options.get("ignore_values", ()), options.get("colors"),
        options.get("ignore_colors", ()), options.get("mapping"), target, params,
    )  # fmt: skip


def mask_info_encoding(mask: Any) -> MaskEncoding:
    """The :class:`MaskEncoding` of a discovered (or given) mask encoding, a
    :class:`~unetkit.planning.discovery.MaskInfo` (palette colours and void colours, a remap's table, void
    values): how ``unetkit kmeans --masks DIR`` reads ground truth found with a folder's classes file, as fit
    reads the masks that discovery described. Instance labels are refused (they hold no classes to score a
    clustering against)."""
    if mask.kind == "instances":
        raise ValueError(
            "the masks hold instance labels (one value per object), not classes; score against class masks"
        )
    return encoding_of(
        mask.kind, mask.num_classes, mask.ignore_values, mask.colors if mask.kind == "palette" else None,
        mask.ignore_colors, mask.mapping, "semantic", {},
    )  # fmt: skip


def encoding_record(encoding: MaskEncoding) -> dict[str, Any]:
    """``encoding`` as plain JSON (a model config's ``extra["mask_encoding"]``), without its per-file ROIs;
    :func:`encoding_from_record` reads it back."""
    return {
        "kind": encoding.kind,
        "num_classes": int(encoding.num_classes),
        "ignore_values": [int(v) for v in encoding.ignore_values],
        "colors": (
            {str(k): [int(c) for c in v] for k, v in encoding.colors.items()} if encoding.colors else None
        ),
        "ignore_colors": [[int(c) for c in colour] for colour in encoding.ignore_colors],
        "mapping": {str(k): int(v) for k, v in encoding.mapping.items()} if encoding.mapping else None,
        "instance_target": encoding.instance_target,
        "instance_params": dict(encoding.instance_params) if encoding.instance_params else None,
    }


def encoding_from_record(record: Any) -> MaskEncoding | None:
    """The :class:`MaskEncoding` of :func:`encoding_record`'s dict; None for anything else (a model config
    from before the record, or one edited by hand into another shape)."""
    if not isinstance(record, Mapping) or "kind" not in record or "num_classes" not in record:
        return None
    try:
        return encoding_of(
            str(record["kind"]), int(record["num_classes"]), record.get("ignore_values") or (),
            record.get("colors"), record.get("ignore_colors") or (), record.get("mapping"),
            str(record.get("instance_target") or "semantic"), record.get("instance_params") or {},
        )  # fmt: skip
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):
        return None
