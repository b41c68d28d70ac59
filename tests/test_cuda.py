"""CUDA paths (skipped without a GPU): prediction matches the CPU, AMP training steps stay finite."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unetkit.model_files.model_config import ModelConfig
from unetkit.models import create_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _model_and_config() -> tuple[torch.nn.Module, ModelConfig]:
    kwargs = {"in_channels": 1, "num_classes": 3, "base_channels": 8, "depth": 3}
    config = ModelConfig("unet", kwargs, ["a", "b", "c"], mean=[0.5], std=[0.25])
    return create_model("unet", **kwargs).eval(), config


def _gpu_config(tmp_path, name: str, *extra: str):  # type: ignore[no-untyped-def]
    """A tiny synthetic run on the GPU into ``tmp_path/name``."""
    from unetkit.training.config import load_config

    tiny = [
        "data.options={num_images: 10, size: [40, 40]}",
        "data.crop_size=32",
        "data.batch_size=4",
        "model.kwargs={base_channels: 4, depth: 2}",
        "trainer.accelerator=gpu",
        "trainer.progress_bar=false",
    ]
    return load_config("synthetic", [*tiny, *extra, f"output.root={tmp_path}", f"output.name={name}"])


def test_predictor_cuda_matches_cpu() -> None:
    from unetkit.inference.predictor import Predictor

    model, config = _model_and_config()
    image = np.random.default_rng(0).integers(0, 255, (97, 131, 1), dtype=np.uint8)
    cpu = Predictor(model, config, device="cpu", tile_size=64).predict_logits(image)
    gpu = Predictor(model, config, device="cuda", tile_size=64).predict_logits(image)
    np.testing.assert_allclose(gpu, cpu, atol=1e-3)
    amp = Predictor(model, config, device="cuda", tile_size=64, amp=True).predict_logits(image)
    assert np.isfinite(amp).all() and (amp.argmax(0) == cpu.argmax(0)).mean() > 0.95


def test_fit_on_gpu_uses_mixed_precision(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from unetkit.training.fit import fit

    monkeypatch.setenv("UNETKIT_CACHE", str(tmp_path / "cache"))
    config = _gpu_config(tmp_path, "gpu", "trainer.max_epochs=2")
    from unetkit.training.trainer import resolve_precision as _precision

    assert _precision("auto") == "16-mixed"
    result = fit(config)
    ckpt = torch.load(result.run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 1 and "MixedPrecision" in ckpt  # Lightning stores the AMP grad-scaler state
    assert 0.0 <= float(result.scores["miou"]) <= 1.0


def test_a_nan_loss_on_gpu_is_caught_by_the_deferred_check(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """On a GPU the loss is read off the device every 50 steps and before each checkpoint (task.py): a NaN
    still stops the run before a non-finite checkpoint, naming the first bad step."""
    from unetkit.training.fit import fit
    from unetkit.training.task import NonFiniteError, SegmentationTask

    original = SegmentationTask._loss

    def poisoned(self, batch):  # type: ignore[no-untyped-def]
        loss, logits = original(self, batch)
        return (loss * float("nan"), logits) if self.current_epoch >= 1 and self.training else (loss, logits)

    monkeypatch.setattr(SegmentationTask, "_loss", poisoned)
    monkeypatch.setenv("UNETKIT_CACHE", str(tmp_path / "cache"))
    config = _gpu_config(tmp_path, "gpu-nan", "trainer.max_epochs=3", "trainer.precision=32-true")
    with pytest.raises(NonFiniteError, match=r"loss became nan at epoch 1, step \d+"):
        fit(config)
    last = tmp_path / "gpu-nan" / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 0
