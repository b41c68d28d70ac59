"""``unetkit fit DIR --target energy``: a tiny run on touching discs writes a model whose config.json names
its instance method, and that method splits the model's prediction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from unetkit.cli.main import main

FAST = ["--threads", "1", "--measure-limit", "2"]
TINY = ["trainer.max_epochs=1", "model.kwargs.base_channels=4", "data.repeat=1", "evaluate.tta=false"]


def touching_discs_folder(root: Path, n: int = 6, size: int = 64) -> Path:
    """``n`` gray images with 16-bit instance labels (ids from 500): two touching discs each; split lists."""
    for d in ("images", "labels"):
        (root / d).mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        labels = np.zeros((size, size), np.uint16)
        cy, cx = 20 + 3 * i, 18 + 2 * i
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= 100] = 500 + 2 * i
        labels[((yy - cy) ** 2 + (xx - cx - 18) ** 2 <= 100) & (labels == 0)] = 501 + 2 * i
        rng = np.random.default_rng(i)
        image = np.where(labels > 0, 190, 40) + rng.integers(0, 30, (size, size))
        Image.fromarray(image.astype(np.uint8)).save(root / "images" / f"n{i}.png")
        Image.fromarray(labels).save(root / "labels" / f"n{i}.png")
    (root / "train.txt").write_text("\n".join(f"n{i}" for i in range(n - 2)) + "\n")
    (root / "val.txt").write_text(f"n{n - 2}\n")
    (root / "test.txt").write_text(f"n{n - 1}\n")
    return root


@pytest.mark.slow  # 6 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_fit_dir_target_energy_names_the_instance_method(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from unetkit.inference.backends import load_predictor
    from unetkit.inference.instances import instances_from_mask

    root = touching_discs_folder(tmp_path / "data")
    runs = tmp_path / "runs"
    code = main(
        ["fit", str(root), "--time", "0.2m", "--target", "energy", *FAST, f"output.root={runs}", *TINY]
    )
    assert code == 0
    assert "masks: instances, 5 classes (background, level_1" in capsys.readouterr().out
    (run,) = list(runs.iterdir())
    model_config = json.loads((run / "model" / "config.json").read_text())
    assert model_config["model_kwargs"]["num_classes"] == 5
    assert model_config["class_names"] == ["background", "level_1", "level_2", "level_3", "level_4"]
    chosen = model_config["extra"].pop("instance_postprocess")
    assert model_config["extra"].pop("mask_encoding")["instance_target"] == "energy"
    assert model_config["extra"] == {
        "instance_method": "energy",
        "instance_classes": [1, 2, 3, 4],
        "instance_target": "energy",
        "instance_params": {"levels": [1, 3, 5, 8]},
    }
    # The post-processing was chosen on the one val image (never the test image) and recorded; the final
    # scoring used it.
    selection = json.loads((run / "instance_selection.json").read_text())
    assert chosen["method"] == "energy" and chosen["values"] == selection["values"]
    assert "val split, 1 images" in chosen["chosen_on"] and len(selection["grid"]) == 4
    assert selection["grid"][0]["n_true"] == 2  # the val image's two discs (the test image has two too)
    test_scores = json.loads((run / "metrics_test.json").read_text())
    assert test_scores["instances/params"]["min_size"] == chosen["values"]["min_size"]
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["data"]["options"]["instance_target"] == "energy"
    # The hint is enough to split a prediction of the saved model into instances.
    predictor = load_predictor(run / "model")
    image = np.asarray(Image.open(root / "images" / "n5.png"))[..., None]
    mask, probs = predictor.predict(image)
    extra = predictor.config.extra
    labels, count = instances_from_mask(
        mask, extra["instance_classes"], extra["instance_method"], probs=probs
    )
    assert labels.shape == (64, 64) and count == int(labels.max())


def test_fit_target_without_a_folder_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--target", "boundary", "trainer.max_epochs=1"]) == 2
    err = capsys.readouterr().err
    assert "--target plans a dataset folder" in err and err.count("\n") == 1


@pytest.mark.slow  # 6 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_fit_scoring_val_predicts_each_val_image_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Trial: after a 1-minute DSB2018 fit, choosing the instance post-processing on val (89 s) and scoring
    val (72 s) predicted every val image twice; the choice's predictions now serve the scoring."""
    from unetkit.inference.pipeline import BasePredictor

    root = touching_discs_folder(tmp_path / "data")
    (root / "val.txt").write_text("n3\nn4\n")
    (root / "train.txt").write_text("n0\nn1\nn2\n")
    seen: list[bytes] = []
    predict = BasePredictor.predict

    def counted(self: BasePredictor, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        seen.append(image.tobytes())
        return predict(self, image)

    monkeypatch.setattr(BasePredictor, "predict", counted)
    # The choice gets a progress bar of its own (it had run for 89 s in silence after the budget).
    from unetkit.cli import console

    bars: dict[str, list[tuple[int, int]]] = {}

    class Recorded(console.LazyBar):
        def __call__(self, done: int, total: int) -> None:
            bars.setdefault(self.desc, []).append((done, total))

    monkeypatch.setattr(console, "LazyBar", Recorded)
    runs = tmp_path / "runs"
    code = main(["fit", str(root), "--time", "0.2m", "--score", "val", *FAST, f"output.root={runs}", *TINY])
    assert code == 0, capsys.readouterr().err
    assert bars["choosing instance post-processing on val"][-1] == (2, 2)
    assert bars["scoring val"][-1] == (2, 2)
    (run,) = list(runs.iterdir())
    assert json.loads((run / "instance_selection.json").read_text())["grid"]  # the choice ran on val
    assert "instances/map" in json.loads((run / "metrics_val.json").read_text())  # and val was scored
    assert len(seen) == 2 and len(set(seen)) == 2  # n3, n4: once each
