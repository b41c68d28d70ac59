"""Instance scores in the one evaluation path: evaluate_split(instances=...), ``unetkit test`` and fit's final
evaluation on a dataset of instance label images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unetkit.data.io import MaskEncoding
from unetkit.evaluation import evaluate_split
from unetkit.inference.instance_predictor import instance_predictor_for
from unetkit.metrics.instance import InstanceScoreAccumulator
from unetkit.model_files.model_config import ModelConfig


class ThresholdPredictor:
    """Torch-free stand-in for any backend: class 1 where the gray value is above 127."""

    def __init__(self) -> None:
        self.config = ModelConfig("unet", {"in_channels": 1, "num_classes": 2}, ["bg", "fg"], [0.5], [0.25])
        self.calls = 0

    def predict(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        mask = (image[..., 0] > 127).astype(np.uint8)
        return mask, np.stack([1.0 - mask, mask]).astype(np.float32)


def write_instance_pairs(root: Path) -> list[tuple[Path, Path]]:
    """Two images: a lone 4x4 nucleus and two touching 4x4 nuclei (one bright 4x8 block), 16-bit labels."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir(parents=True)
    pairs = []
    for i in range(2):
        image = np.zeros((12, 14), dtype=np.uint8)
        labels = np.zeros((12, 14), dtype=np.uint16)
        image[1:5, 1:5], labels[1:5, 1:5] = 200, 7  # any ids: 7, 300
        if i == 1:
            image[7:11, 2:10] = 200
            labels[7:11, 2:6], labels[7:11, 6:10] = 300, 12
        Image.fromarray(image).save(root / "images" / f"s{i}.png")
        Image.fromarray(labels).save(root / "labels" / f"s{i}.png")
        pairs.append((root / "images" / f"s{i}.png", root / "labels" / f"s{i}.png"))
    return pairs


def test_evaluate_split_scores_instances_of_the_same_forward_pass(tmp_path: Path) -> None:
    pairs = write_instance_pairs(tmp_path / "data")
    encoding = MaskEncoding("instances", 2)
    predictor = ThresholdPredictor()
    plain, _ = evaluate_split(predictor, pairs, encoding, ["bg", "fg"])
    predictor.calls = 0
    scores, table = evaluate_split(
        predictor, pairs, encoding, ["bg", "fg"], out_dir=tmp_path / "run", split="val", figure_samples=2,
        instances=instance_predictor_for(predictor, "components"),
    )  # fmt: skip
    assert predictor.calls == 2  # one forward pass per image serves both scores
    assert float(scores["miou"]) == float(plain["miou"]) == 1.0  # the semantic scores are unchanged
    inst = scores["instances"]
    # Image 0: 1 TP. Image 1: the lone nucleus matches; the touching pair is one object with IoU 0.5 to
    # each nucleus (not > 0.5): TP 1, FP 1, FN 2 -> AP 1/4 at every threshold. Mean over images: 0.625.
    assert inst["ap50"] == inst["ap75"] == inst["map"] == pytest.approx(0.625)
    assert inst["merges"] == 1 and inst["splits"] == 0 and inst["n_true"] == 4 and inst["n_pred"] == 3
    # SEG: the merged object holds all of each touching nucleus (more than half): Jaccard 1/2 for each.
    assert inst["seg"] == pytest.approx((1 + 1 + 0.5 + 0.5) / 4)
    assert inst["method"] == "components" and inst["params"]["min_size"] == 0
    saved = json.loads((tmp_path / "run" / "metrics_val.json").read_text())
    assert saved["instances/ap50"] == pytest.approx(0.625) and saved["instances/merges"] == 1
    assert saved["instances/method"] == "components" and saved["miou"] == 1.0
    assert {"instances/ap75", "instances/map", "instances/seg", "instances/splits"} <= set(saved)
    md = (tmp_path / "run" / "metrics_val.md").read_text()
    assert md == table + "\n" and "| AP50 | AP75 | mAP | SEG | splits | merges |" in md
    assert "| 0.6250 | 0.6250 | 0.6250 | 0.7500 | 0 | 1 |" in md
    assert (tmp_path / "run" / "figures" / "instances_val.png").is_file()
    # min_size of the instance predictor applies: dropping the 16-px nuclei leaves only the merged object.
    small, _ = evaluate_split(
        predictor, pairs, encoding, ["bg", "fg"],
        instances=instance_predictor_for(predictor, "components", min_size=17),
    )  # fmt: skip
    assert small["instances"]["n_pred"] == 1 and small["instances"]["ap50"] == 0.0


def _folder_run(tmp_path: Path, options: str, num_classes: int, extra: dict, binary: bool = False) -> Path:
    """A run folder (config.yaml + model/) on a folder dataset of instance labels, with an untrained model."""
    import torch

    from unetkit.model_files.model_io import save_model
    from unetkit.models import create_model
    from unetkit.training.config import load_config, save_config
    from unetkit.training.evaluate import resolve_dataset

    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (data / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        labels = np.zeros((24, 24), dtype=np.uint16)
        labels[2:9, 2:9], labels[12:20, 10:16], labels[12:20, 16:22] = 1, 2, 3
        image = np.where(labels > 0, 200, 30).astype(np.uint8) + rng.integers(0, 20, (24, 24), dtype=np.uint8)
        Image.fromarray(image).save(data / "images" / f"n{i}.png")
        Image.fromarray((labels > 0).astype(np.uint8) if binary else labels).save(
            data / "masks" / f"n{i}.png"
        )
    config = load_config(
        None,
        [
            "data.dataset=folder",
            f"data.root={data}",
            f"data.options={options}",
            "data.crop_size=null",
            "evaluate.num_figure_samples=1",
            "trainer.accelerator=cpu",
        ],
    )
    spec = resolve_dataset(config)
    run = tmp_path / "run"
    run.mkdir()
    save_config(config, run / "config.yaml")
    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "num_classes": num_classes, "depth": 2, "base_channels": 4}
    model_config = ModelConfig(
        "unet", kwargs, list(spec.class_names), list(spec.mean), list(spec.std), extra=extra
    )
    save_model(create_model("unet", **kwargs), model_config, run / "model")
    return run


def test_unetkit_test_scores_instances_with_the_models_method(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from unetkit.cli.main import main
    from unetkit.data.instances import read_label_image
    from unetkit.inference.backends import load_predictor
    from unetkit.training.config import load_config
    from unetkit.training.evaluate import has_instance_labels, resolve_dataset

    options = "{mask_kind: instances, in_channels: 1, split_fractions: {train: 0.5, val: 0.25, test: 0.25}}"
    run = _folder_run(tmp_path, options, 2, {})
    assert main(["test", str(run)]) == 0
    printed = capsys.readouterr().out
    assert "| AP50 | AP75 | mAP | SEG | splits | merges |" in printed and "instances (components" in printed
    saved = json.loads((run / "metrics_test.json").read_text())
    # The same numbers as predicting and splitting each test image by hand.
    spec = resolve_dataset(load_config(run / "config.yaml"))
    assert has_instance_labels(spec)
    wrapped = instance_predictor_for(load_predictor(run / "model"), "components")
    acc = InstanceScoreAccumulator()
    for image_path, label_path in spec.pairs("test"):
        image = np.asarray(Image.open(image_path))[..., None]
        acc.update(read_label_image(label_path), wrapped.predict_instances(image)[0])
    expected = acc.compute()
    for key in ("ap50", "ap75", "map", "seg", "splits", "merges", "n_pred"):
        assert saved[f"instances/{key}"] == pytest.approx(expected[key], nan_ok=True), key
    assert saved["instances/n_true"] == 3 * len(spec.pairs("test"))


def test_a_boundary_run_is_scored_with_boundary_and_a_binary_dataset_not_at_all(tmp_path: Path) -> None:
    from unetkit.training.evaluate import evaluate

    options = (
        "{mask_kind: instances, instance_target: boundary, in_channels: 1, "
        "split_fractions: {train: 0.5, val: 0.25, test: 0.25}}"
    )
    extra = {"instance_method": "boundary", "instance_classes": [1, 2], "instance_target": "boundary"}
    run = _folder_run(tmp_path / "b", options, 3, extra)
    scores, table = evaluate(run, split="val")
    assert scores["instances"]["method"] == "boundary" and scores["instances"]["params"]["foreground"] == [
        1,
        2,
    ]
    assert json.loads((run / "metrics_val.json").read_text())["instances/method"] == "boundary"
    binary = _folder_run(
        tmp_path / "s",
        "{mask_kind: binary, in_channels: 1, split_fractions: {train: 0.5, val: 0.5}}",
        2,
        {},
        binary=True,
    )
    scores, table = evaluate(binary, split="val")
    assert "instances" not in scores and "AP50" not in table
    assert not any(k.startswith("instances/") for k in json.loads((binary / "metrics_val.json").read_text()))
