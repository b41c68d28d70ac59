"""fit_maskrcnn and ``unetkit fit-maskrcnn``: data checks, the time budget, the run folder, resume."""

from __future__ import annotations

import csv
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "detection"))
from maskrcnn_data import make_instance_folder

from unetkit.cli.main import main
from unetkit.data.instances import read_label_image
from unetkit.detection import is_maskrcnn_model, load_maskrcnn_predictor
from unetkit.training.detection import (
    CropDataset,
    MaskRCNNTask,
    fit_maskrcnn,
    instance_pairs,
    load_samples,
)

SIZES = {"train": [(64, 64), (80, 96), (64, 128)], "val": [(64, 64), (72, 90)], "test": [(64, 64)]}
FAST = {"crop_size": 64, "epoch_steps": 4, "val_images": 2, "warmup_steps": 2}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_instance_folder(tmp_path / "data", SIZES)


def test_instance_pairs_and_crops(folder: Path) -> None:
    pairs = instance_pairs(folder, "train")
    assert [p[0].name for p in pairs] == ["train00.png", "train01.png", "train02.png"]
    samples = load_samples(pairs)
    assert samples[1].image.shape == (80, 96, 3) and samples[1].labels.shape == (80, 96)
    crops = CropDataset(samples, crop_size=48, length=6, seed=0, min_area=4)
    image, target = crops[0]
    assert image.shape == (3, 48, 48) and target["masks"].shape[1:] == (48, 48)
    again, _ = crops[0]
    assert image.equal(again)  # crops are a function of (seed, epoch, index): resume draws the same
    crops.epoch = 1
    assert not crops[0][0].equal(image)
    # Images are drawn in proportion to their area.
    assert crops.weights.tolist() == pytest.approx([64 * 64 / 19968, 80 * 96 / 19968, 64 * 128 / 19968])


def test_bad_folders_are_one_line_errors(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no images/ folder"):
        instance_pairs(tmp_path, "train")
    (tmp_path / "images").mkdir()
    with pytest.raises(ValueError, match="no labels/ folder"):
        instance_pairs(tmp_path, "train")
    (folder / "val.txt").write_text("val00\nghost\n")
    with pytest.raises(ValueError, match="lists 'ghost'"):
        instance_pairs(folder, "val")
    with pytest.raises(ValueError, match=r"other\.txt not found"):
        instance_pairs(folder, "other")
    # a label image of another size than its image
    Image.fromarray(np.zeros((10, 10), dtype=np.uint16)).save(folder / "labels" / "train00.png")
    with pytest.raises(ValueError, match=r"train00\.png is 10x10"):
        load_samples(instance_pairs(folder, "train"))


def test_fit_refuses_an_existing_run_folder_and_bad_options(folder: Path, tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "x").write_text("")
    with pytest.raises(ValueError, match="already exists"):
        fit_maskrcnn(folder, tmp_path / "run", 0.1)
    with pytest.raises(ValueError, match="batch_size"):
        fit_maskrcnn(folder, tmp_path / "new", 0.1, batch_size=0)
    with pytest.raises(FileNotFoundError, match="cannot resume"):
        fit_maskrcnn(folder, tmp_path / "new", resume=True)
    assert not (tmp_path / "new").exists()


@pytest.mark.slow
def test_fit_within_the_budget_saves_a_loadable_model_and_resumes(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A slow validation (2 s per image here, as on large real images): a run that ignored it would end
    # that much after its budget.
    validation_step = MaskRCNNTask.validation_step

    def slow_validation_step(self: MaskRCNNTask, batch: Any, batch_idx: int) -> None:
        time.sleep(2.0)
        validation_step(self, batch, batch_idx)

    monkeypatch.setattr(MaskRCNNTask, "validation_step", slow_validation_step)
    run = tmp_path / "run"
    budget_min = 0.5
    result = fit_maskrcnn(folder, run, budget_min, batch_size=2, **FAST)  # type: ignore[arg-type]
    summary = json.loads((run / "metrics_val.json").read_text())
    # The budget counts validation: the Timer (training + validation + checkpoints) ends within it.
    assert summary["timer_seconds"] <= budget_min * 60 + 1.0
    # and uses most of it (at worst about one epoch end is left unused: 4 s of validation here)
    assert summary["timer_seconds"] >= budget_min * 60 * 0.6
    assert result.steps > 4 and summary["steps"] == result.steps
    assert set(result.scores) >= {"ap50", "ap75", "map", "seg"} and result.scores["images"] == 2
    assert result.params == summary["params"] > 1_000_000
    assert is_maskrcnn_model(run) and (run / "checkpoints" / "last.ckpt").is_file()
    config = json.loads((run / "model" / "config.json").read_text())
    assert config["architecture"] == "maskrcnn" and config["model_kwargs"]["backbone"] == "mobilenet_v3_large"
    assert "weights_path" not in config["model_kwargs"]
    with (run / "logs" / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert any(r.get("val/map") for r in rows) and any(r.get("train/loss_mask") for r in rows)
    # The LR warms up, then follows the clock: it ends far below its peak (at the budget it would reach 0; the
    # slow validation here makes training stop up to one epoch end before that).
    lrs = [float(r["train/lr"]) for r in rows if r.get("train/lr")]
    assert lrs[0] < max(lrs) == pytest.approx(1e-3, rel=0.3) and lrs[-1] < 0.25 * max(lrs)

    predictor = load_maskrcnn_predictor(run)
    image_path, label_path = instance_pairs(folder, "val")[1]
    image = np.asarray(Image.open(image_path))
    labels = predictor.predict_instances(image)
    assert labels.shape == read_label_image(label_path).shape == (72, 90)

    # Resume with a longer budget: training continues from the checkpoint, the elapsed time carries over.
    resumed = fit_maskrcnn(folder, run, 2 * budget_min, resume=True)
    summary = json.loads((run / "metrics_val.json").read_text())
    assert resumed.steps > result.steps
    assert budget_min * 60 < summary["timer_seconds"] <= 2 * budget_min * 60 + 1.0
    assert resumed.train_seconds < 1.5 * budget_min * 60  # it had only the rest of the budget left
    with (run / "logs" / "metrics.csv").open() as fh:
        steps = [int(r["step"]) for r in csv.DictReader(fh) if r.get("train/loss_step")]
    assert steps[0] == 0 and steps == sorted(steps)  # the first run's history kept


@pytest.mark.slow  # 6 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_cli_fit_maskrcnn(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = ["--time", "6s", "--out", str(out), "--crop", "64", "--epoch-steps", "3", "--val-images", "1"]
    code = main(["fit-maskrcnn", str(folder), *args, "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0
    assert f"run folder: {out}" in printed and "AP50" in printed and "mAP" in printed
    chosen = json.loads((out / "model" / "config.json").read_text())["extra"]["instance_postprocess"]
    values = ", ".join(f"{k} {v:g}" for k, v in chosen["values"].items())
    assert f"images, {values}): AP50" in printed  # the val scores are those of the chosen values
    assert f"predict and serve use {values}: chosen on val" in printed
    # The val scores are those of the post-processing chosen on val (trial finding 8: they were those of
    # the run's own threshold and min_area 4): exactly predict's, with the recorded defaults.
    from unetkit.data.io import estimate_window
    from unetkit.inference.instance_predictor import load_instance_predictor
    from unetkit.metrics.instance import InstanceScoreAccumulator
    from unetkit.training.detection import instance_pairs, load_samples

    window = estimate_window([image for image, _ in instance_pairs(folder, "train")])
    val = load_samples(instance_pairs(folder, "val"), window)
    predictor = load_instance_predictor(out, device="cpu")
    acc = InstanceScoreAccumulator()
    for sample in val:
        acc.update(sample.labels, predictor.predict(sample.image).labels)
    summary = json.loads((out / "metrics_val.json").read_text())
    assert summary["scores"] == json.loads(json.dumps(acc.compute()))
    assert {k: summary[k] for k in chosen["values"]} == chosen["values"]
    # The grid is recorded, as for a U-Net: in metrics_val.json and RUN/instance_selection.json.
    grid = summary["postprocess_chosen_on_val"]["grid"]
    assert len(grid) == 12 and {r["method"] for r in grid} == {"maskrcnn"}
    assert json.loads((out / "instance_selection.json").read_text())["grid"] == grid
    assert is_maskrcnn_model(out)
    record = json.loads((out / "train.json").read_text())  # as `unetkit fit` writes it
    assert record["train_seconds"] > 0 and record["command"].startswith(f"unetkit fit-maskrcnn {folder}")


def test_cli_errors_are_one_line(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["fit-maskrcnn", str(tmp_path / "missing"), "--time", "1m", "--out", str(tmp_path / "r")]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "images/ folder" in err and "\n" not in err
    assert main(["fit-maskrcnn", str(folder), "--out", str(tmp_path / "r")]) == 2
    assert "--time" in capsys.readouterr().err
    assert main(["fit-maskrcnn", str(folder), "--time", "soon", "--out", str(tmp_path / "r")]) == 2
    assert "not a duration" in capsys.readouterr().err
    weights = ["--weights", str(tmp_path / "w.pth")]
    assert main(["fit-maskrcnn", str(folder), "--time", "1m", *weights, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "w.pth" in err and "\n" not in err
    assert not (tmp_path / "r").exists()


def test_a_non_finite_loss_stops_with_the_fix(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN

    def nan_losses(self: Any, images: Any, targets: Any = None) -> dict[str, torch.Tensor]:
        return {"loss_mask": torch.tensor(float("nan"), requires_grad=True)}

    monkeypatch.setattr(GeneralizedRCNN, "forward", nan_losses)
    # The run seeds every global stream; the caller's come back as they were (here on the error path).
    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)
    random.seed(123)
    np.random.seed(123)  # noqa: NPY002 -- the legacy global state is what seed_everything reseeds
    torch.manual_seed(123)
    expected = (random.random(), np.random.random(), torch.rand(3))  # noqa: NPY002
    random.seed(123)
    np.random.seed(123)  # noqa: NPY002
    torch.manual_seed(123)
    with pytest.raises(ValueError, match=r"loss became nan.*no checkpoint was kept; lower the learning rate"):
        fit_maskrcnn(folder, tmp_path / "run", 0.2, **FAST)  # type: ignore[arg-type]
    assert not (tmp_path / "run").exists()  # a run that kept nothing leaves no folder
    assert random.random() == expected[0] and np.random.random() == expected[1]  # noqa: NPY002
    assert torch.rand(3).equal(expected[2])
    assert "PL_GLOBAL_SEED" not in os.environ


@pytest.mark.slow  # 7 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_16bit_images_train_and_predict_through_one_window(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from unetkit.inference.instance_predictor import load_instance_predictor

    for path in (folder / "images").glob("*.png"):
        luma = np.asarray(Image.open(path).convert("L")).astype(np.uint16)
        Image.fromarray(1000 + 4 * luma).save(path)  # 1000..2020 of 65535: >> 8 leaves 5 grey levels
    samples = load_samples(instance_pairs(folder, "train"), [[1000, 2020]])
    assert samples[0].image.max() > 200  # the window's scale, not 3..7
    out = tmp_path / "run"
    args = ["--time", "6s", "--out", str(out), "--crop", "64", "--epoch-steps", "3", "--val-images", "1"]
    assert main(["fit-maskrcnn", str(folder), *args, "--no-progress"]) == 0
    capsys.readouterr()
    ((lo, hi),) = json.loads((out / "model" / "config.json").read_text())["intensity_window"]
    assert 1000 <= lo < hi <= 2020 and hi - lo > 500  # the stored range, not 0..65535
    assert load_instance_predictor(out).intensity_window == [[lo, hi]]  # predict reads images so too
