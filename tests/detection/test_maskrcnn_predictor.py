"""Model folders (save/load), painting detections into label images, tiling, MaskRCNNPredictor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from maskrcnn_data import disk_image, disk_labels
from scipy import ndimage
from torch.nn import functional as F

from unetkit.detection import (
    Detections,
    MaskRCNNPredictor,
    build_maskrcnn,
    is_maskrcnn_model,
    load_maskrcnn_predictor,
    maskrcnn_config,
    paint_instances,
    save_maskrcnn,
)


def _square_detection(
    x0: int, y0: int, x1: int, y1: int, score: float
) -> tuple[list[float], float, np.ndarray]:
    return [x0, y0, x1, y1], score, np.ones((28, 28), dtype=np.float32)


def _detections(*items: tuple[list[float], float, np.ndarray]) -> Detections:
    boxes = np.array([i[0] for i in items], dtype=np.float32)
    scores = np.array([i[1] for i in items], dtype=np.float32)
    masks = np.stack([i[2] for i in items])
    return Detections(boxes, scores, masks)


def test_paint_higher_score_wins_overlaps_and_labels_follow_the_score() -> None:
    low = _square_detection(2, 2, 12, 12, 0.6)
    high = _square_detection(8, 8, 18, 18, 0.9)
    below = _square_detection(20, 2, 28, 10, 0.3)  # under the score threshold
    labels = paint_instances(_detections(low, high, below), (30, 30), score_threshold=0.5)
    assert labels.dtype == np.int32 and labels.shape == (30, 30)
    assert set(np.unique(labels).tolist()) == {0, 1, 2}
    assert labels[10, 10] == 1  # the overlap goes to the higher score, which is label 1
    assert labels[4, 4] == 2 and labels[16, 16] == 1
    assert labels[5, 24] == 0
    # A fully painted box (masks of ones): torchvision pastes a 28x28 mask into the box expanded by 1/14.
    assert np.count_nonzero(labels == 1) >= 100


def test_paint_drops_objects_left_with_fewer_than_min_area_pixels() -> None:
    big = _square_detection(0, 0, 20, 20, 0.9)
    hidden = _square_detection(5, 5, 10, 10, 0.8)  # inside the higher-scoring one: nothing left
    sliver = _square_detection(0, 0, 22, 20, 0.7)  # a strip of a few columns left beside the big one
    apart = _square_detection(30, 30, 40, 40, 0.6)
    labels = paint_instances(_detections(big, hidden, sliver, apart), (44, 44), min_area=60)
    assert np.unique(labels).tolist() == [0, 1, 2]  # consecutive: the dropped ones take no label
    assert labels[35, 35] == 2 and labels[10, 21] == 0
    kept = paint_instances(_detections(big, hidden, sliver, apart), (44, 44), min_area=4)
    assert np.unique(kept).tolist() == [0, 1, 2, 3] and kept[10, 21] == 2


def test_paint_mask_threshold_and_empty_detections() -> None:
    soft = _square_detection(0, 0, 10, 10, 0.9)
    half = (soft[0], soft[1], np.full((28, 28), 0.4, dtype=np.float32))
    assert paint_instances(_detections(half), (12, 12), mask_threshold=0.5).max() == 0
    assert paint_instances(_detections(half), (12, 12), mask_threshold=0.3).max() == 1
    assert paint_instances(Detections.concat([]), (5, 7)).shape == (5, 7)


def _predictor(**kwargs: object) -> MaskRCNNPredictor:
    torch.manual_seed(0)
    # Not ImageNet's statistics: a round trip must carry them.
    kwargs_ = {
        "backbone": "mobilenet_v3_large",
        "image_mean": [0.2, 0.25, 0.3],
        "image_std": [0.3, 0.2, 0.25],
    }
    return MaskRCNNPredictor(build_maskrcnn(**kwargs_), maskrcnn_config(kwargs_), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("channels", [None, 3, 4])
def test_predictor_returns_labels_of_the_input_size_for_a_non_square_image(channels: int | None) -> None:
    rng = np.random.default_rng(0)
    image = disk_image(disk_labels((48, 80), 5, rng), rng)
    image = image[..., 0] if channels is None else image[..., :channels]
    labels = _predictor().predict_instances(image, score_threshold=0.0)
    assert labels.shape == (48, 80) and labels.dtype == np.int32
    ids = np.unique(labels)
    assert ids[0] == 0 and np.array_equal(ids[1:], np.arange(1, ids.size))  # consecutive 1..n
    assert ids.size > 1  # an untrained model still detects something at score 0


def test_save_load_round_trip_gives_identical_predictions(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    image = disk_image(disk_labels((64, 96), 6, rng), rng)
    predictor = _predictor()
    before = predictor.predict_instances(image, score_threshold=0.0)
    out = save_maskrcnn(predictor.model, predictor.config, tmp_path / "model")
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"] == "maskrcnn"
    assert config["model_kwargs"]["backbone"] == "mobilenet_v3_large"
    assert config["class_names"] == ["background", "nucleus"]
    assert is_maskrcnn_model(out) and is_maskrcnn_model(out / "config.json")
    assert is_maskrcnn_model(tmp_path)  # a run folder holding model/
    assert not is_maskrcnn_model(tmp_path / "elsewhere")
    loaded = load_maskrcnn_predictor(out)
    after = loaded.predict_instances(image, score_threshold=0.0)
    assert before.max() > 0 and np.array_equal(before, after)
    assert loaded.config.class_names == ["background", "nucleus"]


def test_loading_leaves_the_callers_torch_stream_where_it_was(tmp_path: Path) -> None:
    from unetkit.inference.instance_predictor import load_instance_predictor

    predictor = _predictor()
    save_maskrcnn(predictor.model, predictor.config, tmp_path / "model")
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    load_instance_predictor(tmp_path / "model")  # builds the network (random init) before the weights
    assert torch.rand(3).equal(expected)


def test_loading_a_folder_of_another_architecture_is_a_clear_error(tmp_path: Path) -> None:
    predictor = _predictor()
    save_maskrcnn(predictor.model, predictor.config, tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    config["architecture"] = "unet"  # a U-Net's config (its own keywords) beside these weights
    config["model_kwargs"] = {"in_channels": 3, "num_classes": len(config["class_names"]), "depth": 2}
    (tmp_path / "model" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="not 'maskrcnn'"):
        load_maskrcnn_predictor(tmp_path / "model")
    (tmp_path / "model" / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors not found"):
        load_maskrcnn_predictor(tmp_path)


def _fake_detect(x: torch.Tensor) -> Detections:
    """An exact 'detector' for images whose objects have distinct grey levels: one detection per grey level,
    scored by it."""
    ids = np.rint(x[0].numpy() * 255).astype(np.int64)
    boxes, scores, masks = [], [], []
    for value, found in enumerate(ndimage.find_objects(ids), start=1):
        if found is None:
            continue
        rows, cols = found
        crop = torch.from_numpy((ids[rows, cols] == value).astype(np.float32))
        masks.append(F.interpolate(crop[None, None], size=(28, 28), mode="bilinear")[0, 0].numpy())
        boxes.append([cols.start, rows.start, cols.stop, rows.stop])
        scores.append(value / 255)
    if not boxes:
        return Detections.concat([])
    return Detections.concat([Detections(np.float32(boxes), np.float32(scores), np.stack(masks))])


def test_tiled_prediction_equals_whole_image_prediction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Objects smaller than the overlap are taken whole from the tile that owns their centre."""
    rng = np.random.default_rng(3)
    labels = disk_labels((150, 230), 40, rng, radius=(3, 6))
    gray = np.zeros(labels.shape, dtype=np.uint8)
    gray[labels > 0] = (100 + labels[labels > 0]).astype(np.uint8)  # a distinct grey level per object
    whole = _predictor()
    tiled = _predictor(max_pixels=64 * 64, tile_size=64, tile_overlap=16)
    for predictor in (whole, tiled):
        monkeypatch.setattr(predictor, "_detect_tensor", _fake_detect)
    expected = whole.predict_instances(gray, score_threshold=0.0)
    got = tiled.predict_instances(gray, score_threshold=0.0)
    assert expected.max() == labels.max()
    assert np.array_equal(got, expected)


def test_tiled_prediction_with_the_real_model_covers_the_image() -> None:
    rng = np.random.default_rng(2)
    image = disk_image(disk_labels((100, 140), 10, rng), rng)
    labels = _predictor(max_pixels=64 * 64, tile_size=64, tile_overlap=16).predict_instances(
        image, score_threshold=0.0
    )
    assert labels.shape == (100, 140) and labels.max() > 0


def test_bad_arguments() -> None:
    predictor = _predictor()
    with pytest.raises(ValueError, match="score_threshold"):
        predictor.predict_instances(np.zeros((8, 8), np.uint8), score_threshold=1.5)
    with pytest.raises(ValueError, match="uint8"):
        predictor.predict_instances(np.zeros((8, 8), np.float32))
    with pytest.raises(ValueError, match="tile_size"):
        _predictor(tile_size=16, tile_overlap=16)
