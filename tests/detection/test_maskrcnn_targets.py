"""Instance label images -> torchvision targets; images -> RGB tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unetkit.detection.targets import image_mean_std, image_to_tensor, labels_to_target, to_rgb


def test_boxes_masks_and_labels_from_hand_made_labels() -> None:
    labels = np.zeros((10, 12), dtype=np.uint16)
    labels[1:4, 2:7] = 3  # rows 1-3, columns 2-6
    labels[6, 10] = 5  # one pixel: below min_area, dropped
    labels[5:10, 0:2] = 9  # touches the bottom-left corner
    target = labels_to_target(labels, min_area=2)
    assert target["boxes"].dtype == torch.float32
    assert target["boxes"].tolist() == [[2.0, 1.0, 7.0, 4.0], [0.0, 5.0, 2.0, 10.0]]
    assert target["labels"].dtype == torch.int64 and target["labels"].tolist() == [1, 1]
    masks = target["masks"]
    assert masks.dtype == torch.uint8 and masks.shape == (2, 10, 12)
    assert np.array_equal(masks[0].numpy(), (labels == 3).astype(np.uint8))
    assert np.array_equal(masks[1].numpy(), (labels == 9).astype(np.uint8))


def test_min_area_drops_small_objects() -> None:
    labels = np.zeros((8, 8), dtype=np.int32)
    labels[0:2, 0:2] = 1  # 4 pixels
    labels[5:7, 5:8] = 2  # 6 pixels
    assert labels_to_target(labels, min_area=5)["boxes"].tolist() == [[5.0, 5.0, 8.0, 7.0]]
    assert len(labels_to_target(labels, min_area=4)["boxes"]) == 2


def test_image_without_objects_gives_empty_tensors_of_the_right_shapes() -> None:
    target = labels_to_target(np.zeros((7, 9), dtype=np.uint16))
    assert target["boxes"].shape == (0, 4) and target["boxes"].dtype == torch.float32
    assert target["labels"].shape == (0,) and target["labels"].dtype == torch.int64
    assert target["masks"].shape == (0, 7, 9) and target["masks"].dtype == torch.uint8


def test_bad_labels_are_a_value_error() -> None:
    with pytest.raises(ValueError, match="integer"):
        labels_to_target(np.zeros((4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=">= 0"):
        labels_to_target(np.full((4, 4), -1, dtype=np.int32))


def test_rgba_and_gray_become_rgb() -> None:
    rgba = np.zeros((3, 4, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 10, 255
    assert to_rgb(rgba).shape == (3, 4, 3) and to_rgb(rgba)[0, 0].tolist() == [10, 0, 0]
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    rgb = to_rgb(gray)
    assert rgb.shape == (3, 4, 3) and all(np.array_equal(rgb[..., c], gray) for c in range(3))
    tensor = image_to_tensor(gray)
    assert tensor.shape == (3, 3, 4) and tensor.dtype == torch.float32
    assert torch.allclose(tensor[1], torch.from_numpy(gray).float() / 255)
    with pytest.raises(ValueError, match="uint8"):
        to_rgb(gray.astype(np.uint16))


def test_image_mean_std() -> None:
    a = np.zeros((2, 2, 3), dtype=np.uint8)
    b = np.full((2, 2), 255, dtype=np.uint8)  # gray counts as RGB
    mean, std = image_mean_std([a, b])
    assert mean == pytest.approx([0.5] * 3) and std == pytest.approx([0.5] * 3)
