"""Instance post-processing chosen on validation images (``select_postprocessing``) and recorded in the
model (``extra.instance_postprocess``): predict, serve and the final scoring use the recorded values unless
told otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_instance_predictor import fake_maskrcnn, save_threshold_model  # noqa: F401  (a fixture)

from unetkit.cli.main import main
from unetkit.inference.instance_predictor import load_instance_predictor
from unetkit.inference.instance_selection import (
    MIN_SIZES,
    RECORD_KEY,
    candidates,
    recorded_postprocessing,
    select_postprocessing,
)
from unetkit.model_files.model_config import ModelConfig


def blob_and_specks(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(gray uint8 (48, 48, 1) image, true labels): one bright 12x12 object and 6 bright single pixels that
    are noise, not objects (the threshold model finds all 7)."""
    image = np.full((48, 48), 40, np.uint8)
    labels = np.zeros((48, 48), np.int32)
    image[10:22, 10:22] = 220
    labels[10:22, 10:22] = 1
    for y, x in [(30, 30), (30, 36), (30, 42), (36, 30), (36, 36), (42, 42 - seed)]:
        image[y, x] = 220
    return image[..., None], labels


def test_the_grid_picks_the_min_size_that_drops_the_specks(tmp_path: Path) -> None:
    predictor = load_instance_predictor(save_threshold_model(tmp_path / "m"), "components", min_size=0)
    samples = [blob_and_specks(seed) for seed in range(3)]
    calls: list[tuple[int, int]] = []
    selection = select_postprocessing(predictor, samples, lambda s: s, lambda d, t: calls.append((d, t)))
    assert (
        [r["values"] for r in selection.rows]
        == candidates("components")
        == [{"min_size": m} for m in MIN_SIZES]
    )
    by_size = {r["values"]["min_size"]: r for r in selection.rows}
    assert by_size[0]["n_pred"] == 21 and by_size[0]["map"] < 0.2  # 3 objects + 18 specks
    assert by_size[10]["n_pred"] == 3 and by_size[10]["map"] == 1.0
    # 10, 20 and 40 all score 1.0: ties go to the first in grid order, the smallest.
    assert selection.values == {"min_size": 10}
    assert calls == [(1, 3), (2, 3), (3, 3)]  # a semantic model predicts each image once
    with pytest.raises(ValueError, match="at least one validation image"):
        select_postprocessing(predictor, [], lambda s: s)


def _record(folder: Path, method: str, values: dict[str, int]) -> None:
    config = ModelConfig.load(folder / "config.json")
    config.extra = {**config.extra, RECORD_KEY: {"method": method, "values": values}}
    config.save(folder / "config.json")


def test_recorded_values_are_the_default_for_their_method_only(tmp_path: Path) -> None:
    folder = save_threshold_model(tmp_path / "m")
    assert load_instance_predictor(folder, "components").params["min_size"] == 0  # nothing recorded
    _record(folder, "components", {"min_size": 20})
    assert recorded_postprocessing(ModelConfig.load(folder / "config.json"), "watershed") == {}
    assert load_instance_predictor(folder, "components").params["min_size"] == 20
    assert load_instance_predictor(folder, "auto").params["min_size"] == 20  # auto: components here
    assert load_instance_predictor(folder, "components", min_size=0).params["min_size"] == 0  # told otherwise
    watershed = load_instance_predictor(folder, "watershed").params
    assert watershed["min_size"] == 0 and watershed["min_distance"] == 5  # chosen for another method
    _record(folder, "watershed", {"min_distance": 9, "min_size": 10})
    assert load_instance_predictor(folder, "watershed").params["min_distance"] == 9


def test_predict_uses_the_recorded_min_size_unless_given(tmp_path: Path) -> None:
    folder = save_threshold_model(tmp_path / "m")
    _record(folder, "components", {"min_size": 10})
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(blob_and_specks(0)[0][..., 0]).save(images / "a.png")

    def count(*extra: str) -> int:
        out = tmp_path / f"out{len(extra)}"
        argv = ["predict", str(folder), str(images), "--out", str(out), "--instances", "auto", "--quiet"]
        assert main([*argv, *extra]) == 0
        labels = np.asarray(Image.open(out / "instances" / "a.png"))
        return int(len(np.unique(labels)) - 1)

    assert count() == 1
    assert count("--min-size", "0") == 7


def test_serve_uses_the_recorded_min_size_unless_given(tmp_path: Path) -> None:
    from unetkit.inference.backends import load_predictor
    from unetkit.serve.jobs import RequestOptions, _instancer

    folder = save_threshold_model(tmp_path / "m")
    _record(folder, "components", {"min_size": 10})
    predictor = load_predictor(folder)
    assert _instancer(predictor, RequestOptions(instances="auto")).params["min_size"] == 10
    given = RequestOptions(instances="auto", min_size=0)
    assert _instancer(predictor, given).params["min_size"] == 0


def test_fit_records_nothing_without_instance_labels(tmp_path: Path) -> None:
    """A semantic dataset's model gets no instance_postprocess (and no instance_selection.json)."""
    from unetkit.training.config import load_config
    from unetkit.training.evaluate import choose_instance_postprocessing, resolve_dataset

    config = load_config(
        "synthetic", ["data.options={num_images: 6, size: [32, 32]}", f"data.root={tmp_path}"]
    )
    assert choose_instance_postprocessing(tmp_path / "run", config, resolve_dataset(config)) is None
    assert not (tmp_path / "run").exists()


def test_a_maskrcnn_paints_every_threshold_from_one_detection_pass(tmp_path: Path) -> None:
    """labels_at_thresholds (one pass at the lowest threshold) gives what a pass at each threshold gives:
    an untrained detector's many low-score boxes, thresholds cut between them."""
    import torch

    detection = pytest.importorskip("unetkit.detection")
    torch.manual_seed(0)
    model = detection.build_maskrcnn(num_classes=2)
    detection.save_maskrcnn(model, detection.maskrcnn_config({"num_classes": 2}), tmp_path / "run" / "model")
    predictor = load_instance_predictor(tmp_path / "run", device="cpu", min_size=3)
    image = np.random.default_rng(0).integers(0, 256, (64, 56, 3), dtype=np.uint8)
    scores = np.sort(predictor.detector.detect(image, 0.0).scores)  # type: ignore[attr-defined]
    assert len(scores) >= 10
    thresholds = [0.0, float(scores[len(scores) // 3]), float(scores[2 * len(scores) // 3])]
    painted = predictor.labels_at_thresholds(image, thresholds)  # type: ignore[attr-defined]
    counts = []
    for t in thresholds:
        alone = predictor.with_params(score_threshold=t).predict(image).labels
        np.testing.assert_array_equal(painted[t], alone)
        counts.append(int(alone.max()))
    assert counts[0] > counts[1] > counts[2] > 0  # the thresholds cut between real detections


def test_a_maskrcnn_run_records_its_threshold_and_predict_uses_it(tmp_path: Path) -> None:
    from test_instance_predictor import FakeDetector

    from unetkit.inference.instance_predictor import MaskRCNNInstancePredictor

    class Detector(FakeDetector):
        def __init__(self) -> None:
            super().__init__(tmp_path)

    image = np.zeros((20, 20, 3), np.uint8)
    image[2:8, 2:8] = 250  # a real object, score 0.98
    image[12:18, 12:18] = 100  # a doubtful one, score 0.39: not in the truth
    truth = np.zeros((20, 20), np.int32)
    truth[2:8, 2:8] = 1
    wrapper = MaskRCNNInstancePredictor(Detector(), {"class_names": ["bg", "nucleus"]})
    selection = select_postprocessing(wrapper, [(image, truth)], lambda s: s)
    assert selection.values == {"score_threshold": 0.5, "min_size": 0}  # 0.3 keeps the doubtful one
    assert [r["values"]["score_threshold"] for r in selection.rows[::4]] == [0.3, 0.5, 0.7]


def test_a_maskrcnn_model_defaults_to_its_recorded_values(fake_maskrcnn: Path) -> None:  # noqa: F811
    config_path = fake_maskrcnn / "model" / "config.json"
    config = json.loads(config_path.read_text())
    assert load_instance_predictor(fake_maskrcnn).params["score_threshold"] == 0.5  # nothing recorded
    config["extra"] = {RECORD_KEY: {"method": "maskrcnn", "values": {"score_threshold": 0.7, "min_size": 2}}}
    config_path.write_text(json.dumps(config))
    assert load_instance_predictor(fake_maskrcnn).params == {
        "score_threshold": 0.7, "mask_threshold": 0.5, "min_size": 2,
    }  # fmt: skip
    given = load_instance_predictor(fake_maskrcnn, score_threshold=0.3, min_size=0).params
    assert given["score_threshold"] == 0.3 and given["min_size"] == 0
    assert load_instance_predictor(fake_maskrcnn, score_threshold=None).params["score_threshold"] == 0.7
