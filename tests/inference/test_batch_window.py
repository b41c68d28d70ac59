"""predict_files reads deep images through the model's intensity window, as the model was trained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from unetkit.inference.batch import predict_files
from unetkit.model_files.model_config import ModelConfig


class _Recorder:
    """A predictor that records the uint8 images it is given and predicts class 0 everywhere."""

    def __init__(self, window: list[list[float]] | None) -> None:
        self.config = ModelConfig(
            "unet", {"in_channels": 1, "num_classes": 2}, ["bg", "fg"], [0.5], [0.25], intensity_window=window
        )
        self.seen: list[np.ndarray] = []

    def predict(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.seen.append(image)
        h, w = image.shape[:2]
        return np.zeros((h, w), np.int64), np.full((2, h, w), 0.5, np.float32)


def test_predict_files_applies_the_models_intensity_window(tmp_path: Path) -> None:
    deep = np.linspace(1000, 2000, 64).reshape(8, 8).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    windowed, shifted = _Recorder([[1000, 2000]]), _Recorder(None)
    predict_files(windowed, [tmp_path / "deep.png"], tmp_path / "a")
    predict_files(shifted, [tmp_path / "deep.png"], tmp_path / "b")
    assert windowed.seen[0].min() == 0 and windowed.seen[0].max() == 255
    assert shifted.seen[0].max() == 2000 >> 8  # a model trained on 8-bit images: the fixed >> 8 rule
    # The config round-trips through config.json (the onnxruntime and served models read it from there).
    windowed.config.save(tmp_path / "model")
    assert ModelConfig.load(tmp_path / "model").intensity_window == [[1000, 2000]]


def test_evaluate_split_applies_the_models_intensity_window(tmp_path: Path) -> None:
    from unetkit.data.io import MaskEncoding
    from unetkit.evaluation import evaluate_split

    deep = np.linspace(1000, 2000, 64).reshape(8, 8).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "mask.png")
    recorder = _Recorder([[1000, 2000]])
    pairs = [(tmp_path / "deep.png", tmp_path / "mask.png")]
    evaluate_split(recorder, pairs, MaskEncoding("index", 2), ["bg", "fg"])
    assert recorder.seen[0].min() == 0 and recorder.seen[0].max() == 255


def test_predict_files_notes_images_far_outside_the_window_and_segments_them_as_they_are(
    tmp_path: Path,
) -> None:
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8) * 4).save(tmp_path / "eight.png")
    Image.fromarray(np.linspace(0, 63182, 64).reshape(8, 8).astype(np.uint16)).save(tmp_path / "deep.png")
    recorder = _Recorder([[0, 63182]])  # a model trained on 16-bit images
    files = [tmp_path / "eight.png", tmp_path / "deep.png"]
    result = predict_files(recorder, files, tmp_path / "out")
    assert [path for path, _ in result.window_notes] == [tmp_path / "eight.png"]
    assert result.window_notes[0][1].startswith("8-bit values 0..252 (uint8)")
    assert len(result.rows) == 2 and recorder.seen[0].max() <= 1  # segmented, not rescaled
    assert result.columns[-1] == "window_note"
    assert result.rows[0]["window_note"] == result.window_notes[0][1] and "window_note" not in result.rows[1]
    # Images that fit the window: no note and summary.csv keeps its usual columns.
    fitting = predict_files(_Recorder([[0, 63182]]), files[1:], tmp_path / "fit")
    assert fitting.window_notes == [] and "window_note" not in fitting.columns
