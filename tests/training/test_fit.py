"""End-to-end training runs on tiny synthetic data: run folder, bad input, NaN/inf, reproducibility, kill +
resume."""

from __future__ import annotations

import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from training_helpers import TINY, all_void_val_folder, tiny_model_config

from unetkit.cli.main import main as cli_main
from unetkit.training.config import Config, load_config
from unetkit.training.fit import fit


def _cfg(tmp_path: Path, *extra: str) -> Config:
    return load_config("synthetic", [*TINY, f"output.root={tmp_path / 'runs'}", "output.name=r", *extra])


def test_fit_writes_complete_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UNETKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)
    monkeypatch.delenv("PL_SEED_WORKERS", raising=False)
    torch.manual_seed(1234)
    random.seed(1234)
    np.random.seed(1234)  # noqa: NPY002 - the legacy global stream a notebook uses
    before = (torch.random.get_rng_state(), random.getstate(), np.random.get_state()[1].copy())  # noqa: NPY002
    result = fit(_cfg(tmp_path, "trainer.max_epochs=2"))
    # Library code: the caller's random streams and environment are as they were (the run seeded its own).
    assert torch.equal(torch.random.get_rng_state(), before[0]) and random.getstate() == before[1]
    assert np.array_equal(np.random.get_state()[1], before[2])  # noqa: NPY002
    assert "PL_GLOBAL_SEED" not in os.environ and "PL_SEED_WORKERS" not in os.environ
    run = result.run_dir
    for rel in (
        "config.yaml",
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
        "model/model.safetensors",
        "model/config.json",
        "logs/metrics.csv",
        "metrics_test.json",
        "figures/curves.png",
        "figures/predictions_test.png",
    ):
        assert (run / rel).is_file(), rel
    metrics = json.loads((run / "metrics_test.json").read_text())
    assert 0.0 <= metrics["miou"] <= 1.0 and "iou/background" in metrics
    # Checkpoints load without unpickling arbitrary objects and carry the RNG state for resume.
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 1 and "rng_state" in ckpt
    assert ckpt["hyper_parameters"]["model_config"]["architecture"] == "unet"
    # `unetkit test RUN` reproduces the stored numbers.
    capsys.readouterr()
    assert cli_main(["test", str(run), "trainer.progress_bar=false"]) == 0
    again = json.loads((run / "metrics_test.json").read_text())
    assert again["miou"] == pytest.approx(metrics["miou"], abs=1e-6)
    # It says that it replaced the run's scoring, and with which settings (a trial: silently).
    said = capsys.readouterr().out
    assert f"wrote {run / 'metrics_test.json'} and .md" in said and "replacing the earlier scoring" in said
    assert "(with trainer.progress_bar=false)" in said
    # A run whose curves.png was lost (a drawing that failed after the scoring) gets it back from validate,
    # which also draws it again with its new validation scoring; test leaves a present one alone.
    curves = run / "figures" / "curves.png"
    curves.unlink()
    assert cli_main(["test", str(run), "trainer.progress_bar=false"]) == 0
    assert curves.is_file() and "figures/curves.png" in capsys.readouterr().out
    drawn = curves.stat().st_mtime_ns
    assert cli_main(["test", str(run), "trainer.progress_bar=false"]) == 0
    assert curves.stat().st_mtime_ns == drawn and "curves.png" not in capsys.readouterr().out
    assert cli_main(["validate", str(run), "trainer.progress_bar=false", "evaluate.tta=true"]) == 0
    said = capsys.readouterr().out
    assert curves.stat().st_mtime_ns != drawn and "figures/curves.png" in said
    # Its header names the TTA, and no epoch lines: validate prints none (trial 28).
    assert "val split, scored with 8-view TTA (identity," in said and "epoch lines" not in said


def test_test_and_predict_report_identical_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`unetkit test RUN` and `unetkit predict RUN <test images> --masks`: one predictor, one scorer."""
    from unetkit.training.evaluate import resolve_dataset

    monkeypatch.setenv("UNETKIT_CACHE", str(tmp_path / "cache"))
    # A model that finds the shapes (mIoU ~0.7 in 4 epochs) so that a different pipeline (no TTA, other
    # padding or tiling) would change the numbers; odd image sides (37 x 45) are padded to the divisor.
    sizes = "data.options={num_images: 20, size: [37, 45]}"
    kwargs = "model.kwargs={base_channels: 8, depth: 2}"
    cfg = _cfg(tmp_path, "trainer.max_epochs=4", "data.repeat=4", sizes, kwargs)
    run = fit(cfg).run_dir
    assert cli_main(["test", str(run), "trainer.progress_bar=false", "evaluate.tta=true"]) == 0
    tested = json.loads((run / "metrics_test.json").read_text())
    pairs = resolve_dataset(cfg).pairs("test")
    out = tmp_path / "predicted"
    images = [str(image) for image, _ in pairs]
    args = [
        "predict",
        str(run),
        *images,
        "--out",
        str(out),
        "--masks",
        str(pairs[0][1].parent),
        "--tta",
        "-q",
    ]
    assert cli_main(args) == 0
    predicted = json.loads((out / "metrics.json").read_text())
    assert predicted.pop("images") == len(pairs) and tested.pop("split") == "test"
    assert predicted.pop("not_scored") == 0  # every mask read
    # predict also records the engine that ran (here the run's eager model; unetkit test runs no other).
    assert predicted.pop("engine").startswith("torch ") and predicted.pop("engine_model")
    assert set(predicted) == set(tested) and {"miou", "iou/background", "pixel_accuracy"} <= set(tested)
    assert tested["miou"] > 0.5
    for key, value in tested.items():
        assert value == predicted[key] or (np.isnan(value) and np.isnan(predicted[key])), key


def _folder_dataset(root: Path, fault: str) -> str:
    """4 gray 16x16 pairs under root/images, root/masks with one ``fault``; returns the file it names."""
    images, masks = root / "images", root / "masks"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    for i in range(4):
        Image.fromarray(np.full((16, 16), 100, np.uint8)).save(images / f"{i}.png")
        Image.fromarray(np.zeros((16, 16), np.uint8)).save(masks / f"{i}.png")
    if fault == "mask_value":
        Image.fromarray(np.full((16, 16), 7, np.uint8)).save(masks / "2.png")  # class 7 of 2 classes
        return "2.png"
    if fault == "corrupt_image":
        data = (images / "1.png").read_bytes()
        (images / "1.png").write_bytes(data[: len(data) // 2])
        return "1.png"
    if fault == "size_mismatch":
        Image.fromarray(np.zeros((8, 16), np.uint8)).save(masks / "3.png")
        return "3.png"
    if fault == "missing_mask":
        (masks / "0.png").unlink()
        return "0.png"
    if fault == "channels":
        Image.fromarray(np.full((16, 16, 3), 100, np.uint8)).save(images / "2.png")  # RGB, model expects 1
        return "2.png"
    if fault == "empty_folder":
        for f in images.iterdir():
            f.unlink()
        return "images"
    raise AssertionError(fault)


@pytest.mark.parametrize(
    "fault", ["mask_value", "corrupt_image", "size_mismatch", "missing_mask", "channels", "empty_folder"]
)
def test_bad_input_fails_with_one_line_and_no_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fault: str
) -> None:
    named = _folder_dataset(tmp_path / "data", fault)
    options = "{num_classes: 2, in_channels: 1, split_fractions: {train: 0.5, val: 0.25, test: 0.25}}"
    code = cli_main(
        [
            "fit",
            "data.dataset=folder",
            f"data.root={tmp_path / 'data'}",
            f"data.options={options}",
            "data.crop_size=null",
            f"output.root={tmp_path / 'runs'}",
            "trainer.progress_bar=false",
            "trainer.max_epochs=1",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error:") and named in err[0], err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_validation_split_with_no_scorable_pixel_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Trial: every validation mask void trained silently, logged val/miou 0.0 every epoch and chose the best
    checkpoint on those zeros."""
    root = tmp_path / "data"
    options = all_void_val_folder(root)
    code = cli_main(
        [
            "fit", "data.dataset=folder", f"data.root={root}", f"data.options={options}",
            "data.crop_size=null", f"output.root={tmp_path / 'runs'}", "trainer.progress_bar=false",
            "trainer.max_epochs=1", "evaluate.split=val",
        ]
    )  # fmt: skip
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("INFO")]
    assert code == 2 and len(err) == 1, err
    assert (
        "every mask pixel of the 'val' split is void ([9]) or outside its ROI, so it scores nothing" in err[0]
    )
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    # One validation mask with a class is enough.
    mask = np.full((16, 16), 9, np.uint8)
    mask[0, 0] = 1
    Image.fromarray(mask).save(root / "masks" / "5.png")
    from unetkit.training.config import load_config
    from unetkit.training.evaluate import resolve_dataset
    from unetkit.training.fit import check_inputs

    config = load_config(
        None, ["data.dataset=folder", f"data.root={root}", f"data.options={options}", "evaluate.split=val"]
    )
    assert check_inputs(config, resolve_dataset(config)) == 6
    # A training mask with nothing to learn from is said (trial: planned and trained without a word).
    Image.fromarray(np.full((16, 16), 9, np.uint8)).save(root / "masks" / "2.png")
    monkeypatch.setattr(logging.getLogger("unetkit"), "propagate", True)  # the CLI above gave it a handler
    with caplog.at_level(logging.WARNING, logger="unetkit"):
        assert check_inputs(config, resolve_dataset(config)) == 6
    assert (
        "1 training mask(s) hold no pixel to learn from (all void or outside the ROI), e.g. " in caplog.text
    )
    assert "masks/2.png" in caplog.text


@pytest.mark.parametrize("deferred", [False, True], ids=["cpu-at-once", "gpu-deferred"])
def test_nan_loss_stops_and_keeps_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deferred: bool
) -> None:
    """deferred: the GPU's check (the first non-finite step kept on the device, read before a checkpoint)."""
    from unetkit.training.task import NonFiniteError, SegmentationTask

    monkeypatch.setattr(SegmentationTask, "defer_finite_check", deferred)
    monkeypatch.setenv("UNETKIT_CACHE", str(tmp_path / "cache"))
    original = SegmentationTask._loss

    def poisoned(self, batch):  # type: ignore[no-untyped-def]
        loss, logits = original(self, batch)
        return (loss * float("nan"), logits) if self.current_epoch >= 1 and self.training else (loss, logits)

    monkeypatch.setattr(SegmentationTask, "_loss", poisoned)
    last = tmp_path / "runs" / "r" / "checkpoints" / "last.ckpt"
    with pytest.raises(
        NonFiniteError, match=rf"loss became nan at epoch 1, step (\d+).*finite: {last} \(epoch 0\)"
    ) as info:
        fit(_cfg(tmp_path, "trainer.max_epochs=3"))
    # The first non-finite step is named, also when it is read later: epoch 1 starts after epoch 0's steps.
    first_step = int(re.search(r"step (\d+)", str(info.value)).group(1))  # type: ignore[union-attr]
    assert first_step == torch.load(last, map_location="cpu", weights_only=True)["global_step"]
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())


def test_inf_batchnorm_buffer_is_never_checkpointed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loss can stay finite while BatchNorm's running_var is inf (a huge learning rate): caught before
    the checkpoint is written; the one-line stop names the good checkpoint, and no clipping (it is on)."""
    from unetkit.training.task import NonFiniteError, SegmentationTask

    def blow_up(self, outputs, batch, batch_idx):  # type: ignore[no-untyped-def]
        if self.current_epoch == 1:  # after the optimizer step: the loss of this step was finite
            bn = next(m for m in self.model.modules() if isinstance(m, torch.nn.BatchNorm2d))
            bn.running_var.fill_(float("inf"))

    monkeypatch.setattr(SegmentationTask, "on_train_batch_end", blow_up, raising=False)
    ckpts = tmp_path / "runs" / "r" / "checkpoints"
    with pytest.raises(NonFiniteError) as info:
        fit(_cfg(tmp_path, "trainer.max_epochs=3", "evaluate.split=val"))
    message = str(info.value)
    assert (
        "running_var became NaN/inf at epoch 1" in message and f"{ckpts / 'last.ckpt'} (epoch 0)" in message
    )
    assert re.search(r"lower optim\.lr \(now [\d.e+-]+\) and start a new run\.$", message)
    assert "clip" not in message
    for name in ("last.ckpt", "best.ckpt"):
        ckpt = torch.load(ckpts / name, map_location="cpu", weights_only=True)
        assert ckpt["epoch"] == 0
        assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())
    # Without clipping, the advice mentions it.
    no_clip = ["evaluate.split=val", "output.name=r2", "trainer.gradient_clip_val=null"]
    with pytest.raises(NonFiniteError, match=r"or set trainer\.gradient_clip_val=1\.0"):
        fit(_cfg(tmp_path, "trainer.max_epochs=3", *no_clip))


# A run that reshuffles, augments (flips, rot90, scale, colour, elastic) and crops: the randomness a
# resumed run must replay.
REPRO = ["trainer.max_epochs=3", "data.augment.elastic=true", "evaluate.split=val", "data.repeat=2"]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    """Model weights and optimizer state of ``RUN/checkpoints/last.ckpt``."""
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return {**ckpt["state_dict"], **dict(_flat(ckpt["optimizer_states"], "optimizer"))}


def _flat(value: object, prefix: str) -> list[tuple[str, torch.Tensor]]:
    if isinstance(value, torch.Tensor):
        return [(prefix, value)]
    if isinstance(value, dict):
        return [kv for k, v in value.items() for kv in _flat(v, f"{prefix}.{k}")]
    if isinstance(value, (list, tuple)):
        return [kv for i, v in enumerate(value) for kv in _flat(v, f"{prefix}.{i}")]
    return []


def _assert_bitwise_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} of {len(a)} tensors differ, e.g. {differ[:3]}"


def test_two_runs_with_the_same_seed_are_bitwise_identical(tmp_path: Path) -> None:
    """Also with data-loader workers: each sample's augmentation depends on (seed, epoch, position) only."""
    first = fit(_cfg(tmp_path, *REPRO, "output.name=one")).run_dir
    second = fit(_cfg(tmp_path, *REPRO, "output.name=two", "data.num_workers=2")).run_dir
    _assert_bitwise_equal(_weights(first), _weights(second))
    assert (first / "logs/metrics.csv").read_text() == (second / "logs/metrics.csv").read_text()
    other = fit(_cfg(tmp_path, *REPRO, "output.name=three", "trainer.seed=1")).run_dir
    assert (first / "logs/metrics.csv").read_text() != (other / "logs/metrics.csv").read_text()


@pytest.mark.slow  # 12 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
@pytest.mark.timeout(240)
def test_sigkill_mid_epoch_then_resume_is_bitwise_identical(tmp_path: Path) -> None:
    """Killed (SIGKILL) in the middle of epoch 1, resumed from the epoch-0 checkpoint: the same weights,
    optimizer state, metrics and whole metrics.csv history as the run that was never interrupted."""
    import csv

    whole = fit(_cfg(tmp_path, *REPRO, "output.name=whole")).run_dir
    steps = int(torch.load(whole / "checkpoints/last.ckpt", weights_only=True)["global_step"]) // 3
    args = [*TINY, *REPRO, f"output.root={tmp_path / 'runs'}", "output.name=k"]
    runner = Path(__file__).with_name("self_signal.py")
    kill_at = steps + steps // 2  # the middle of epoch 1
    killed = subprocess.run(
        [sys.executable, str(runner), "SIGKILL", str(kill_at), "fit", "--config", "synthetic", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    run = tmp_path / "runs" / "k"
    assert _epoch(run / "checkpoints" / "last.ckpt") == 0
    rows = list(csv.DictReader((run / "logs" / "metrics.csv").open()))
    assert any(r["epoch"] == "1" for r in rows), "no row of the lost part of epoch 1 reached the disk"
    resumed = fit(load_config(run / "config.yaml"), resume=run).run_dir
    _assert_bitwise_equal(_weights(whole), _weights(resumed))
    # The whole history, each step once: the rows of the lost part of epoch 1 were replaced, not repeated.
    assert (resumed / "logs/metrics.csv").read_text() == (whole / "logs/metrics.csv").read_text()
    val_epochs = [r["epoch"] for r in csv.DictReader((resumed / "logs/metrics.csv").open()) if r["val/miou"]]
    assert val_epochs == ["0", "1", "2"]
    scores = json.loads((resumed / "metrics_val.json").read_text())
    assert scores == json.loads((whole / "metrics_val.json").read_text())
    assert (resumed / "figures" / "curves.png").is_file()


def test_a_run_folder_without_checkpoints_is_replaced(tmp_path: Path) -> None:
    """What a kill before the first checkpoint leaves (config.yaml, logs/) does not block the same name."""
    stale = tmp_path / "runs" / "r"
    (stale / "logs").mkdir(parents=True)
    (stale / "config.yaml").write_text("data: {}\n")
    (stale / "logs" / "metrics.csv").write_text("epoch,step\n0,1\n")
    (stale / "trained_on.json").write_text("{}\n")  # written before training starts
    result = fit(_cfg(tmp_path, "trainer.max_epochs=1", "evaluate.split=val"))
    assert result.run_dir == stale and (stale / "checkpoints" / "last.ckpt").is_file()
    assert "0,1\n" not in (stale / "logs" / "metrics.csv").read_text()
    # A folder with a checkpoint (or with anything else) is never replaced.
    with pytest.raises(ValueError, match=r"holds a finished run; choose another \(--out, or output\.name"):
        fit(_cfg(tmp_path, "trainer.max_epochs=1"))
    # A folder named by the caller (fit_folder's out=) is checked as one from output is.
    with pytest.raises(ValueError, match=r"holds a finished run; choose another"):
        fit(_cfg(tmp_path, "trainer.max_epochs=1", "output.name=elsewhere"), run_dir=stale)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ValueError, match=r"a_file exists and is not a folder; choose a new run folder"):
        fit(_cfg(tmp_path, "trainer.max_epochs=1", "output.name=elsewhere"), run_dir=tmp_path / "a_file")
    other = tmp_path / "runs" / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="exists and is not a run folder"):
        fit(_cfg(tmp_path, "trainer.max_epochs=1", "output.name=mine"))
    assert (other / "notes.txt").is_file()


def _epoch(path: Path) -> int:
    for _ in range(20):
        try:
            return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
        except Exception:  # being replaced right now: retry
            time.sleep(0.05)
    return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])


def test_channels_last_training_saves_a_standard_model(tmp_path: Path) -> None:
    """trainer.channels_last trains in NHWC; the saved weights load into a plain model with equal logits."""
    from unetkit.model_files.model_io import load_model

    result = fit(_cfg(tmp_path, "trainer.max_epochs=1", "trainer.channels_last=true", "evaluate.split=val"))
    ckpt = torch.load(result.run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["hyper_parameters"]["channels_last"] is True
    # Weights with one input channel are both NCHW- and NHWC-contiguous; check the others.
    convs = [
        v for k, v in ckpt["state_dict"].items() if k.startswith("model.") and v.ndim == 4 and v.shape[1] > 1
    ]
    assert convs and all(v.is_contiguous(memory_format=torch.channels_last) for v in convs)
    assert not convs[0].is_contiguous()
    model, _ = load_model(result.run_dir / "model")  # safetensors: standard NCHW model
    assert all(p.is_contiguous() for p in model.parameters())
    x = torch.rand(2, 1, 37, 45)
    with torch.no_grad():
        ref = model(x)
        nhwc, _ = load_model(result.run_dir / "checkpoints" / "last.ckpt")
        got = nhwc.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    np.testing.assert_allclose(got.numpy(), ref.numpy(), atol=1e-5)


def test_ema_checkpoints_hold_the_average_and_resume(tmp_path: Path) -> None:
    """trainer.ema_decay: checkpoints and the saved model hold the EMA weights; resume restores both."""
    from safetensors.torch import load_file

    cfg = _cfg(tmp_path, "trainer.max_epochs=1", "trainer.ema_decay=0.5", "evaluate.split=val")
    result = fit(cfg)
    ckpt = torch.load(result.run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    ema, raw = ckpt["state_dict"], ckpt["current_model_state"]
    key = next(k for k in ema if k.startswith("model.") and k.endswith("weight") and ema[k].ndim == 4)
    assert not torch.equal(ema[key], raw[key])  # the average lags behind the raw weights
    saved = load_file(str(result.run_dir / "model" / "model.safetensors"))
    torch.testing.assert_close(saved[key.removeprefix("model.")], ema[key])  # the model file is the average
    # Resume one more epoch: both states are restored and training goes on.
    cfg2 = _cfg(tmp_path, "trainer.max_epochs=2", "trainer.ema_decay=0.5", "evaluate.split=val")
    resumed = fit(cfg2, resume=result.run_dir)
    assert _epoch(resumed.run_dir / "checkpoints" / "last.ckpt") == 1
    with pytest.raises(ValueError, match="ema_decay"):
        fit(_cfg(tmp_path, "trainer.ema_decay=1.5", "output.name=bad"))
    assert not (tmp_path / "runs" / "bad").exists()


def test_weighted_ce_trains_and_validates_without_val_weight_maps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The paper's loss: training batches carry weight maps, validation batches do not (w = 1 there)."""
    import csv

    monkeypatch.setenv("UNETKIT_CACHE", str(tmp_path / "cache"))
    cfg = _cfg(
        tmp_path, "trainer.max_epochs=1", "loss=weighted_ce+dice", "data.weight_map={w0: 10, sigma: 5}"
    )
    result = fit(cfg)
    rows = list(csv.DictReader((result.run_dir / "logs" / "metrics.csv").open()))
    val_losses = [float(r["val/loss"]) for r in rows if r.get("val/loss")]
    assert val_losses and all(np.isfinite(val_losses))
    assert (result.run_dir / "metrics_test.json").is_file()
    assert any((tmp_path / "cache").rglob("*")), "weight maps were not cached"
    # Training stays strict: weighted_ce without weight maps is refused before any run folder exists.
    with pytest.raises(ValueError, match=r"weighted_ce needs the U-Net weight map: set data\.weight_map"):
        _cfg(tmp_path, "loss=weighted_ce", "output.name=no_map")
    assert not (tmp_path / "runs" / "no_map").exists()


def test_export_checkpoint_choice(tmp_path: Path) -> None:
    from unetkit.training.run_folder import export_checkpoint

    ckpts = tmp_path / "checkpoints"
    ckpts.mkdir()
    (ckpts / "last.ckpt").write_bytes(b"")
    assert export_checkpoint(tmp_path, "best").name == "last.ckpt"  # no best yet (e.g. no validation)
    (ckpts / "best.ckpt").write_bytes(b"")
    assert export_checkpoint(tmp_path, "best").name == "best.ckpt"
    assert export_checkpoint(tmp_path, "last").name == "last.ckpt"
    with pytest.raises(ValueError, match=r"Unknown evaluate\.checkpoint 'final'\. Available: best, last"):
        load_config("synthetic", ["evaluate.checkpoint=final"])


def test_fit_exports_the_last_checkpoint_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safetensors.torch import load_file

    import unetkit.viz.figures as figures

    drawn: list[object] = []
    plot = figures.plot_training_curves

    def recorded(*args: object, **kwargs: object) -> object:
        drawn.append(kwargs.get("kept"))
        drawn.append(kwargs.get("scored"))
        return plot(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(figures, "plot_training_curves", recorded)
    result = fit(
        _cfg(
            tmp_path, "trainer.max_epochs=2", "evaluate.checkpoint=last", "evaluate.split=val",
            "evaluate.tta=identity,hflip",
        )
    )  # fmt: skip
    # curves.png marks the checkpoint that became the model: last.ckpt, saved at the end of epoch 1, and the
    # final score, made with 2 views, apart from the logged one.
    assert drawn == [("last", 1), (pytest.approx(float(result.scores["miou"])), "2-view TTA")]
    saved = load_file(str(result.run_dir / "model" / "model.safetensors"))
    last = torch.load(result.run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    weights = {k.removeprefix("model."): v for k, v in last["state_dict"].items() if k.startswith("model.")}
    assert saved.keys() == weights.keys()
    assert all(torch.equal(saved[k], weights[k]) for k in saved)


def test_last_checkpoint_holds_the_final_weights_when_validation_is_sparse(tmp_path: Path) -> None:
    """Validating every 3rd epoch must not lose the epochs after the last validation (nor, in a run shorter
    than one validation interval, every checkpoint): last.ckpt is written at each training epoch's end."""
    sparse = ["trainer.max_epochs=2", "trainer.check_val_every_n_epoch=3", "evaluate.checkpoint=last"]
    result = fit(_cfg(tmp_path, *sparse, "evaluate.split=val"))
    last = torch.load(result.run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["epoch"] == 1  # the second (final) epoch, although no validation ran
    steps_per_epoch = last["global_step"] // 2
    assert steps_per_epoch > 0 and last["global_step"] == 2 * steps_per_epoch


def test_the_datasets_class_colours_reach_the_models_config_json(tmp_path: Path) -> None:
    from unetkit.data.datasets import get_dataset_spec
    from unetkit.model_files.model_config import ModelConfig
    from unetkit.palette import class_palette
    from unetkit.training.fit import build_model_config

    for folder in ("images", "masks"):
        (tmp_path / "data" / folder).mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((16, 16), 100, np.uint8)).save(tmp_path / "data" / "images" / f"{i}.png")
        Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "data" / "masks" / f"{i}.png")
    options = {"in_channels": 1, "num_classes": 3, "mean": [0.5], "std": [0.25]}
    spec = get_dataset_spec("folder", root=tmp_path / "data", colors={1: [128, 64, 128]}, **options)
    saved = build_model_config(_cfg(tmp_path), spec).save(tmp_path / "model.json")
    background, _, third = class_palette(3).tolist()
    assert ModelConfig.load(saved).class_colors == [background, [128, 64, 128], third]
    plain = get_dataset_spec("folder", root=tmp_path / "data", **options)
    assert build_model_config(_cfg(tmp_path), plain).class_colors is None
    assert "void_color" not in build_model_config(_cfg(tmp_path), plain).extra
    # Colour masks with a void colour: figures draw void in it (the first, when several).
    colours = {0: [0, 0, 255], 1: [128, 64, 128], 2: [0, 255, 0]}
    palette = get_dataset_spec(
        "folder", root=tmp_path / "data", mask_kind="palette", colors=colours,
        ignore_colors=[[0, 0, 0], [9, 9, 9]], **options,
    )  # fmt: skip
    extra = build_model_config(_cfg(tmp_path), palette).extra
    assert extra.pop("mask_encoding")["ignore_colors"] == [[0, 0, 0], [9, 9, 9]]  # how its masks were read
    assert extra == {"instance_target": "semantic", "void_color": [0, 0, 0]}


def test_the_deferred_loss_check_reads_the_device_every_few_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """A GPU run reads its recorded first non-finite loss every FINITE_CHECK_STEPS steps (no sync between)."""
    from unetkit.training.task import NonFiniteError, SegmentationTask

    config = tiny_model_config()
    task = SegmentationTask(config)
    monkeypatch.setattr(task, "defer_finite_check", True)
    steps = iter(range(10))
    monkeypatch.setattr(SegmentationTask, "global_step", property(lambda self: next(steps)))
    monkeypatch.setattr(SegmentationTask, "FINITE_CHECK_STEPS", 4)
    task._check_loss(torch.tensor(1.0))  # step 0
    task._check_loss(torch.tensor(float("inf")))  # step 1: recorded, not read yet
    task._check_loss(torch.tensor(float("nan")))  # step 2: not the first
    with pytest.raises(NonFiniteError, match=r"loss became inf at epoch 0, step 1$"):
        task._check_loss(torch.tensor(1.0))  # step 3: the fourth step reads it


def test_the_model_records_its_scoring_tta_and_its_masks_stored_values(tmp_path: Path) -> None:
    """What predict needs to match the run: the TTA it scored with, and each class's stored mask value."""
    from unetkit.data.datasets import get_dataset_spec
    from unetkit.training.fit import build_model_config

    for folder in ("images", "masks"):
        (tmp_path / "data" / folder).mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((16, 16), 100, np.uint8)).save(tmp_path / "data" / "images" / f"{i}.png")
        Image.fromarray(np.full((16, 16), 10, np.uint8)).save(tmp_path / "data" / "masks" / f"{i}.png")
    options = {"in_channels": 1, "num_classes": 3, "mean": [0.5], "std": [0.25]}
    mapping = {0: 0, 10: 1, 11: 1, 20: 2, 99: 255}
    remap = get_dataset_spec("folder", root=tmp_path / "data", mask_kind="remap", mapping=mapping, **options)
    cfg = _cfg(tmp_path)
    extra = build_model_config(cfg, remap).extra
    assert extra.pop("mask_encoding")["kind"] == "remap"
    assert extra == {"instance_target": "semantic", "stored_values": [0, 10, 20]}  # 10 and 11: the smallest
    cfg.evaluate.tta = "identity,hflip"
    plain = get_dataset_spec("folder", root=tmp_path / "data", **options)
    extra = build_model_config(cfg, plain).extra
    assert extra.pop("mask_encoding")["kind"] == "index"
    assert extra == {"instance_target": "semantic", "tta": "identity,hflip"}
    cfg.evaluate.tta = True
    assert build_model_config(cfg, plain).extra["tta"].count(",") == 7  # the 8 flips/rotations, by name
