"""Instance label images, the Kaggle layout (checked against dsb2018's labels/), and the derived targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from unetkit.data.instance_targets import boundary_target, semantic_from_labels
from unetkit.data.instances import (
    read_instance_sample,
    read_kaggle_labels,
    read_kaggle_sample,
    read_label_image,
    save_label_image,
)


def kaggle_sample(root: Path, name: str, masks: list[np.ndarray], size: tuple[int, int] = (6, 8)) -> Path:
    folder = root / name
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    Image.fromarray(np.full((*size, 3), 100, dtype=np.uint8)).save(folder / "images" / f"{name}.png")
    for i, m in enumerate(masks):
        Image.fromarray(m.astype(np.uint8)).save(folder / "masks" / f"m{i:02d}.png")
    return folder


def test_kaggle_layout_equals_labels_on_dsb2018(shared_data: Path) -> None:
    root = shared_data / "dsb2018"
    ids = sorted(p.name for p in (root / "kaggle_layout").iterdir())
    assert len(ids) == 12
    for sample_id in ids:
        image, labels = read_kaggle_sample(root / "kaggle_layout" / sample_id)
        image2, labels2 = read_instance_sample(
            root / "images" / f"{sample_id}.png", root / "labels" / f"{sample_id}.png"
        )
        # Pixel-exact: the same rule (k-th file -> label k, later mask wins) made labels/.
        np.testing.assert_array_equal(labels, labels2, err_msg=sample_id)
        np.testing.assert_array_equal(image, image2, err_msg=sample_id)
        assert labels.dtype == np.int32 and labels.max() == len(
            list((root / "kaggle_layout" / sample_id / "masks").iterdir())
        )


def test_kaggle_overlap_later_mask_wins_and_numbering(tmp_path: Path) -> None:
    a = np.zeros((6, 8), dtype=np.uint8)
    a[0:3, 0:4] = 255
    b = np.zeros((6, 8), dtype=np.uint8)
    b[2:5, 2:6] = 255  # overlaps a at rows 2, cols 2..3
    c = np.zeros((6, 8), dtype=np.uint8)
    c[5, 7] = 1  # a 0/1 mask is binary too
    folder = kaggle_sample(tmp_path, "s", [a, b, c])
    image, labels = read_kaggle_sample(folder)
    assert image.shape == (6, 8, 3)
    assert labels[2, 2] == 2 and labels[2, 3] == 2 and labels[2, 1] == 1  # the later file won
    assert labels[0, 0] == 1 and labels[4, 5] == 2 and labels[5, 7] == 3
    assert np.count_nonzero(labels == 1) == 12 - 2


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_label_image_round_trip_8_16_bit_and_relabel(tmp_path: Path, suffix: str) -> None:
    labels = np.zeros((5, 7), dtype=np.int64)
    labels[0, 0:2] = 3
    labels[2:4, 2:5] = 70000  # above 16 bits: renumbered in order (3 -> 1, 70000 -> 2)
    path = save_label_image(tmp_path / f"l{suffix}", labels)
    back = read_label_image(path)
    assert back.dtype == np.int32
    np.testing.assert_array_equal(back, np.where(labels == 3, 1, np.where(labels > 0, 2, 0)))
    small = (labels > 0).astype(np.uint8) * 7
    Image.fromarray(small).save(tmp_path / "eight.png")
    np.testing.assert_array_equal(read_label_image(tmp_path / "eight.png"), small)
    tifffile.imwrite(tmp_path / "wide.tif", (labels // 10).astype(np.int32))  # 32-bit integer TIFF
    np.testing.assert_array_equal(read_label_image(tmp_path / "wide.tif"), labels // 10)


def test_bad_input_one_line_errors_naming_the_file(tmp_path: Path) -> None:
    # A label image of another size than its image.
    Image.fromarray(np.zeros((6, 8, 3), dtype=np.uint8)).save(tmp_path / "img.png")
    save_label_image(tmp_path / "lab.png", np.zeros((6, 9), dtype=np.uint16))
    with pytest.raises(ValueError, match=r"lab\.png is 6x9 .*img\.png is 6x8") as err:
        read_instance_sample(tmp_path / "img.png", tmp_path / "lab.png")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=r"lab\.png is 6x9"):
        read_label_image(tmp_path / "lab.png", image_shape=(6, 8))
    # A Kaggle folder with an empty masks/.
    empty = kaggle_sample(tmp_path, "empty", [])
    with pytest.raises(ValueError, match=r"empty.* has an empty masks/ folder"):
        read_kaggle_sample(empty)
    # A mask file that is not binary.
    gray = np.zeros((6, 8), dtype=np.uint8)
    gray[1, 1], gray[2, 2] = 128, 255
    bad = kaggle_sample(tmp_path, "gray", [gray])
    with pytest.raises(ValueError, match=r"m00\.png is not binary \(values 0, 128, 255\)"):
        read_kaggle_labels(bad)
    # A mask of another size than the image.
    other = kaggle_sample(tmp_path, "other", [np.zeros((6, 9), dtype=np.uint8)])
    with pytest.raises(ValueError, match=r"m00\.png is 6x9 .* image is 6x8"):
        read_kaggle_sample(other)
    # More than 65,535 objects for a 16-bit label image.
    many = np.arange(1, 65537, dtype=np.int64).reshape(256, 256)
    with pytest.raises(ValueError, match=r"many\.png: 65536 objects do not fit a 16-bit label image"):
        save_label_image(tmp_path / "many.png", many)
    assert not (tmp_path / "many.png").exists()
    save_label_image(tmp_path / "ok.png", many - 1)  # 65,535 objects fit
    assert read_label_image(tmp_path / "ok.png").max() == 65535
    # A colour label image.
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match=r"rgb\.png is a colour image"):
        read_label_image(tmp_path / "rgb.png")


def two_touching() -> np.ndarray:
    labels = np.zeros((6, 12), dtype=np.int32)
    labels[1:5, 1:5] = 4  # touches object 9 along columns 4 | 5
    labels[1:5, 5:9] = 9
    labels[2:4, 10:12] = 2  # alone, 1 background column away from 9... (column 9 is background)
    return labels


def test_semantic_mask_from_labels() -> None:
    labels = two_touching()
    labels[0, 0] = 1
    np.testing.assert_array_equal(semantic_from_labels(labels), (labels > 0).astype(np.uint8))
    assert semantic_from_labels(labels).dtype == np.uint8


def test_boundary_target_touching_radius_one() -> None:
    labels = two_touching()
    target = boundary_target(labels, radius=1)
    expected = (labels > 0).astype(np.uint8)
    expected[1:5, 4:6] = 2  # the seam: the column of each object next to the other one
    np.testing.assert_array_equal(target, expected)


def test_boundary_target_radius_two_reaches_across_a_gap() -> None:
    labels = two_touching()
    target = boundary_target(labels, radius=2)
    # Seam: 2 columns of each object; object 2 (cols 10-11) is 2 pixels from object 9 (col 8) at rows 2-3.
    assert (target[1:5, 3:7] == 2).all() and (target[1:5, 2] == 1).all() and (target[1:5, 1] == 1).all()
    assert target[2, 8] == 2 and target[2, 10] == 2 and target[2, 11] == 1
    assert target[1, 8] == 1  # (1, 8) -> (2, 10) is sqrt(5) > 2 away


def test_boundary_target_all_edges() -> None:
    labels = np.zeros((7, 7), dtype=np.uint8)
    labels[1:6, 1:6] = 1
    target = boundary_target(labels, radius=1, which="all")
    expected = np.zeros((7, 7), dtype=np.uint8)
    expected[1:6, 1:6] = 2
    expected[2:5, 2:5] = 1
    np.testing.assert_array_equal(target, expected)
    assert (boundary_target(labels, radius=1) == 2).sum() == 0  # nothing touches
    with pytest.raises(ValueError, match="Unknown boundary target 'edges'"):
        boundary_target(labels, which="edges")
