"""nnU-Net's raw layout: ``imagesTr/`` + ``labelsTr/`` (+ ``imagesTs/``) and the classes and channel names
of its ``dataset.json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unetkit.data.io import IMAGE_EXTENSIONS
from unetkit.planning.discovery.classes import ClassTable, _read_text
from unetkit.planning.discovery.files import _image_files
from unetkit.planning.discovery.layout import Sample
from unetkit.planning.discovery.names import NNUNET_IMAGE_DIR, NNUNET_MASK_DIR, NNUNET_TEST_DIR
from unetkit.planning.discovery.split_folders import _Base


def _nnunet_json(root: Path) -> dict[str, Any] | None:
    """``root/dataset.json`` when it is nnU-Net's (it holds "labels"; unetkit's holds "pairs"); else None."""
    path = root / "dataset.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(_read_text(path))
    except (OSError, ValueError):
        return None  # not nnU-Net's either: it is neither read nor replaced
    if not isinstance(data, dict) or "labels" not in data or "pairs" in data:
        return None
    return data


def nnunet_channel_names(root: Path) -> tuple[str, ...]:
    """The channel names of ``root``'s nnU-Net dataset.json (v2 ``"channel_names"``, v1 ``"modality"``:
    ``{"0": "CT"}``) in channel order; empty without one, or where they are not index -> name."""
    data = _nnunet_json(root) or {}
    names = data.get("channel_names", data.get("modality"))
    if not isinstance(names, dict) or not names:
        return ()
    try:
        return tuple(str(names[k]) for k in sorted(names, key=lambda k: int(k)))
    except (TypeError, ValueError):
        return ()


def _nnunet_json_notes(root: Path, samples: Sequence[Sample]) -> list[str]:
    """Notes where ``root``'s nnU-Net dataset.json disagrees with the files found: its ``numTraining``
    against the labelled cases (nnU-Net only warns of it too), its ``file_ending`` against the images' and
    masks' suffixes (nnU-Net reads only files of that ending; unetkit reads them all), naming them."""
    data = _nnunet_json(root)
    if data is None:
        return []
    notes = []
    where = root / "dataset.json"
    count = data.get("numTraining")
    if isinstance(count, int) and not isinstance(count, bool) and count != len(samples):
        notes.append(
            f"{where} gives numTraining {count}, but {len(samples)} labelled cases were found; all "
            f"{len(samples)} are used (correct numTraining if nnU-Net is to read this folder too)"
        )
    ending = data.get("file_ending")
    if isinstance(ending, str) and ending:
        other = [
            p.name for s in samples for p in (s.image, s.mask) if not p.name.lower().endswith(ending.lower())
        ]
        if other:
            notes.append(
                f"{where} gives file_ending {ending!r}, but {len(other)} of the {2 * len(samples)} images "
                f"and masks end otherwise: {', '.join(other[:5])}{', ...' if len(other) > 5 else ''}; "
                f"unetkit reads them, nnU-Net would not (convert them to {ending})"
            )
    return notes


def _nnunet_folders(root: Path, image_dir: str | Path | None, mask_dir: str | Path | None) -> list[_Base]:
    """nnU-Net's raw layout (:data:`NNUNET_IMAGE_DIR` with :data:`NNUNET_MASK_DIR`; :data:`NNUNET_TEST_DIR`,
    without labels, is an unlabeled test split); empty when a folder is named or ``root`` holds no
    imagesTr/ with labelsTr/. A dataset.json naming a file type unetkit does not read (3D NIfTI) is a
    ValueError saying so."""
    images, labels = root / NNUNET_IMAGE_DIR, root / NNUNET_MASK_DIR
    if image_dir is not None or mask_dir is not None or not (images.is_dir() and labels.is_dir()):
        return []
    ending = str((_nnunet_json(root) or {}).get("file_ending", "")).lower()
    if ending and not any(ending.endswith(ext) for ext in IMAGE_EXTENSIONS):
        raise ValueError(
            f"{root / 'dataset.json'} gives file_ending {ending!r}, which unetkit does not read (it reads 2D "
            f"images: {', '.join(IMAGE_EXTENSIONS)}); convert the cases to 2D PNG or TIFF files"
        )
    out = [_Base("", root, images, labels)]
    test = root / NNUNET_TEST_DIR
    if test.is_dir() and _image_files(test):
        out.append(_Base("test", root, test, None, test.name, labeled=False))
    return out


def _nnunet_classes(root: Path) -> ClassTable | None:
    """The classes of nnU-Net's dataset.json by value (v2 ``{"background": 0, "cell": 1}``, v1
    ``{"0": "background", ...}``; v2's ``"ignore"`` label is void); None without such a file. A label
    nnU-Net trains as a region (a list of values) is a ValueError asking for a classes.json."""
    data = _nnunet_json(root)
    if data is None:
        return None
    where = f"{root / 'dataset.json'}"
    labels = data["labels"]
    if not isinstance(labels, dict) or not labels:
        raise ValueError(
            f'{where}: "labels" is {labels!r}, not name -> value; write a classes.json beside it'
        )
    table = ClassTable(source=f"{where} (nnU-Net labels)")
    rows: list[tuple[int, str]] = []
    for key, value in labels.items():
        if isinstance(value, int) and not isinstance(value, bool):
            rows.append((value, str(key)))  # v2: name -> value
        elif str(key).strip().isdigit() and isinstance(value, str):
            rows.append((int(key), value))  # v1: value -> name
        else:
            raise ValueError(
                f"{where}: label {key!r} is {value!r}, not one mask value (nnU-Net's region-based labels are "
                "not trained here); write a classes.json naming one class per mask value"
            )
    for value, name in sorted(rows):
        if name == "ignore":
            table.void_values.append(value)
            continue
        table.names.append(name)
        table.values.append(value)
        table.colors.append(None)
        table.value_given.append(True)
    return table
