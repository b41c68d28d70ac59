"""Instance-aware training targets: boundary and energy values on touching squares, the target registry,
and the folder dataset's ``instance_target`` option (3-class boundary masks, energy levels, bad input)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unetkit.data.datasets import get_dataset_spec
from unetkit.data.folder import FolderDataset
from unetkit.data.instance_targets import (
    ENERGY_LEVELS,
    boundary_target,
    energy_target,
    instance_hint,
    instance_target,
    instance_target_classes,
    object_distance,
)
from unetkit.data.io import MaskEncoding, read_mask
from unetkit.data.transforms import build_transforms


def touching_squares() -> np.ndarray:
    """Two 6x6 squares side by side (ids 3 and 7), touching along one column seam, in a 8x16 image."""
    labels = np.zeros((8, 16), dtype=np.uint16)
    labels[1:7, 1:7] = 3
    labels[1:7, 7:13] = 7
    return labels


def test_boundary_target_on_touching_squares() -> None:
    target = boundary_target(touching_squares(), radius=1)
    expected = np.zeros((8, 16), dtype=np.uint8)
    expected[1:7, 1:13] = 1
    expected[1:7, 6:8] = 2  # the seam: the last column of one square, the first of the other
    np.testing.assert_array_equal(target, expected)
    np.testing.assert_array_equal(instance_target(touching_squares(), "boundary", {"radius": 1}), expected)


def test_object_distance_is_per_object() -> None:
    distance = object_distance(touching_squares())
    # Each square is 6 wide: distances 1, 2, 3, 3, 2, 1 across it; the seam is an outline for both sides
    # (the neighbour square is outside), so the row reads the same for both.
    np.testing.assert_array_equal(distance[3, 1:13], [1, 2, 3, 3, 2, 1] * 2)
    assert distance[0].max() == 0 and distance[:, 13:].max() == 0  # background
    # The image edge counts as outside: an object touching it has distance 1 there.
    edge = np.zeros((5, 5), dtype=np.uint8)
    edge[:, :3] = 1
    np.testing.assert_array_equal(object_distance(edge)[2, :3], [1, 2, 1])


def test_energy_target_on_touching_squares() -> None:
    target = energy_target(touching_squares(), levels=(1, 2, 3))
    expected_row = [0, 1, 2, 3, 3, 2, 1, 1, 2, 3, 3, 2, 1, 0, 0, 0]
    np.testing.assert_array_equal(target[3], expected_row)
    assert target.dtype == np.uint8 and target[0].max() == 0
    # The default levels (1, 3, 5, 8): distances 1-2 -> 1, 3-4 -> 2, 5-7 -> 3, >= 8 -> 4.
    big = np.zeros((20, 20), dtype=np.uint8)
    big[1:19, 1:19] = 5  # an 18x18 square: distances 1..9 from its outline
    row = energy_target(big)[9, 1:10]
    np.testing.assert_array_equal(row, [1, 1, 2, 2, 3, 3, 3, 4, 4])
    assert ENERGY_LEVELS == (1, 3, 5, 8)


def test_target_names_hints_and_errors() -> None:
    assert instance_target_classes("boundary") == ("background", "interior", "boundary")
    assert instance_target_classes("energy") == ("background", "level_1", "level_2", "level_3", "level_4")
    assert instance_target_classes("energy", {"levels": [1, 4]}) == ("background", "level_1", "level_2")
    assert instance_hint("energy") == {
        "instance_method": "energy",
        "instance_classes": [1, 2, 3, 4],
        "instance_target": "energy",
        "instance_params": {"levels": [1, 3, 5, 8]},
    }
    assert instance_hint("boundary")["instance_classes"] == [1, 2]
    assert instance_hint("semantic")["instance_method"] == "components"
    with pytest.raises(ValueError, match=r"Unknown instance_target 'watershed'.*boundary, energy, semantic"):
        instance_target(touching_squares(), "watershed")
    with pytest.raises(ValueError, match="increase and start at 1"):
        energy_target(touching_squares(), levels=(2, 4))
    with pytest.raises(ValueError, match="takes no parameter 'radius'"):
        instance_target(touching_squares(), "energy", {"radius": 2})


# --------------------------------------------------------------------------------- the folder dataset


def instance_folder(root: Path, n: int = 4) -> Path:
    """``n`` 24 px images with 16-bit label images: two touching squares each (ids 300 + i, 301 + i)."""
    for d in ("images", "labels"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        labels = np.zeros((24, 24), dtype=np.uint16)
        labels[4:14, 2 + i : 12 + i] = 300 + i
        labels[4:14, 12 + i : 22] = 301 + i
        image = np.where(labels > 0, 200, 30).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"s{i}.png")
        Image.fromarray(labels).save(root / "labels" / f"s{i}.png")
    return root


def folder_spec(root: Path, **options: object):  # type: ignore[no-untyped-def]
    return get_dataset_spec(
        "folder",
        root=root,
        image_dir=root / "images",
        mask_dir=root / "labels",
        mask_kind="instances",
        in_channels=1,
        split_fractions={"train": 0.5, "val": 0.25, "test": 0.25},
        **options,
    )


def test_folder_boundary_target_gives_three_class_masks(tmp_path: Path) -> None:
    spec = folder_spec(instance_folder(tmp_path / "d"), instance_target="boundary")
    assert spec.num_classes == 3 and spec.class_names == ("background", "interior", "boundary")
    assert spec.encoding.instance_target == "boundary" and spec.encoding.instance_params == {"radius": 2}
    pairs = spec.pairs("train")
    raw = np.asarray(Image.open(pairs[0][1]))
    np.testing.assert_array_equal(read_mask(pairs[0][1], spec.encoding), boundary_target(raw, radius=2))
    # Through the dataset, with a crop and flips (nearest: the class map moves with the image).
    transform = build_transforms(True, (16, 16), seed=0, flips=True)
    dataset = FolderDataset(pairs, spec.encoding, 1, spec.mean, spec.std, transform=transform)
    for i in range(len(dataset)):
        mask = dataset[i]["mask"].numpy()
        assert mask.shape == (16, 16) and set(np.unique(mask).tolist()) <= {0, 1, 2}
    seen = set(np.unique(FolderDataset(pairs, spec.encoding, 1, spec.mean, spec.std)[0]["mask"]).tolist())
    assert seen == {0, 1, 2}


def test_folder_energy_target_and_semantic_default(tmp_path: Path) -> None:
    root = instance_folder(tmp_path / "d")
    spec = folder_spec(root, instance_target="energy", energy_levels=[1, 2, 4])
    assert spec.num_classes == 4 and spec.class_names == ("background", "level_1", "level_2", "level_3")
    pair = spec.pairs("train")[0]
    np.testing.assert_array_equal(
        read_mask(pair[1], spec.encoding), energy_target(np.asarray(Image.open(pair[1])), (1, 2, 4))
    )
    semantic = folder_spec(root)  # the default: label > 0 is foreground, 2 classes
    assert semantic.num_classes == 2 and semantic.encoding.instance_target == "semantic"
    assert set(np.unique(read_mask(pair[1], semantic.encoding)).tolist()) == {0, 1}


def test_folder_instance_target_bad_input(tmp_path: Path) -> None:
    root = instance_folder(tmp_path / "d")
    with pytest.raises(ValueError, match=r"Unknown instance_target 'boundry'.*Available: boundary, energy"):
        folder_spec(root, instance_target="boundry")
    with pytest.raises(ValueError, match=r"needs instance label masks \(mask_kind=instances\), got"):
        get_dataset_spec(
            "folder", root=root, image_dir=root / "images", mask_dir=root / "labels", num_classes=3,
            mask_kind="index", instance_target="boundary",
        )  # fmt: skip
    with pytest.raises(ValueError, match="has 3 classes, got num_classes=2; drop num_classes"):
        folder_spec(root, instance_target="boundary", num_classes=2)
    with pytest.raises(ValueError, match="energy_levels needs instance_target=energy"):
        folder_spec(root, instance_target="boundary", energy_levels=[1, 3])
    with pytest.raises(ValueError, match="needs instance label masks"):
        MaskEncoding("binary", 2, instance_target="boundary")
