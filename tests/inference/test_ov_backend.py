"""OvPredictor: the torch predictor's results through OpenVINO (tiling, two image sizes), its errors, and
prediction without torch (``unetkit predict --backend openvino`` in a process where torch cannot load)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("openvino")

import unetkit.inference.ov_backend as ov_backend
from unetkit.export.openvino import export_openvino
from unetkit.inference.backends import list_backends, load_predictor
from unetkit.inference.ov_backend import OvPredictor
from unetkit.inference.predictor import Predictor
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model

# Loads OpenVINO in the test process: runs in a pytest process of its own (see tests/conftest.py).
pytestmark = pytest.mark.openvino

SRC = Path(__file__).resolve().parents[2] / "src"
KWARGS: dict[str, Any] = {"in_channels": 1, "num_classes": 3, "depth": 2, "base_channels": 4}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module, ModelConfig]:
    torch.manual_seed(0)
    model = create_model("unet", **KWARGS).eval()
    config = ModelConfig("unet", KWARGS, ["bg", "a", "b"], [0.5], [0.25])
    folder = save_model(model, config, tmp_path_factory.mktemp("ovp") / "model")
    export_openvino(model, config, folder / "export", exporter="legacy")
    return folder, model, config


def test_registered() -> None:
    assert {"openvino", "auto"} <= set(list_backends())


@pytest.mark.parametrize("shape", [(37, 45), (70, 52)])
def test_matches_torch_predictor(model_dir: tuple[Path, Any, ModelConfig], shape: tuple[int, int]) -> None:
    folder, model, config = model_dir
    image = np.random.default_rng(shape[0]).integers(0, 256, shape, dtype=np.uint8)
    ov = load_predictor(folder, backend="openvino", tile_size=32, num_threads=1)  # finds folder/export
    assert isinstance(ov, OvPredictor) and ov.model_dir == folder / "export"
    expected_mask, expected = Predictor(model, config, tile_size=32).predict(image[..., None])
    mask, probs = ov.predict(image)
    assert probs.shape == (3, *shape)
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    assert (mask == expected_mask).mean() > 0.999  # argmax ties aside, the same classes


def test_one_predictor_serves_several_threads(model_dir: tuple[Path, Any, ModelConfig]) -> None:
    """`unetkit serve` shares one predictor between worker threads: results must not cross over."""
    from concurrent.futures import ThreadPoolExecutor

    folder, _, _ = model_dir
    ov = OvPredictor(folder / "export", num_threads=1)
    images = [np.random.default_rng(i).integers(0, 256, (48 + 8 * i, 40), dtype=np.uint8) for i in range(6)]
    expected = [ov.predict_probs(image) for image in images]
    with ThreadPoolExecutor(max_workers=3) as pool:
        for _ in range(3):
            got = list(pool.map(ov.predict_probs, images))
            for want, have in zip(expected, got):
                np.testing.assert_array_equal(have, want)


def test_threads_and_concurrency_reach_openvino(model_dir: tuple[Path, Any, ModelConfig]) -> None:
    """``load_predictor(num_threads=N)``: N OpenVINO threads per request; ``concurrency=K`` (a serve thread
    pool's K workers sharing the predictor): K streams of N threads, so no request waits for another."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("OpenVINO caps its threads at the core count: 1 thread is its default on 1 core")
    folder, _, _ = model_dir
    one = load_predictor(folder, backend="openvino", num_threads=1).compiled
    assert (one.get_property("INFERENCE_NUM_THREADS"), one.get_property("NUM_STREAMS")) == (1, 1)
    shared = load_predictor(folder, backend="openvino", num_threads=1, concurrency=2).compiled
    assert (shared.get_property("INFERENCE_NUM_THREADS"), shared.get_property("NUM_STREAMS")) == (2, 2)


def test_tta_and_whole_image_match(model_dir: tuple[Path, Any, ModelConfig]) -> None:
    folder, model, config = model_dir
    image = np.random.default_rng(3).integers(0, 256, (40, 36), dtype=np.uint8)
    ov = OvPredictor(folder / "export", tta="flips", num_threads=1)
    expected = Predictor(model, config, tta="flips").predict_probs(image[..., None])
    np.testing.assert_allclose(ov.predict_probs(image), expected, atol=1e-5)


def test_missing_ir_names_the_export_command(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"`unetkit export \S+ --format openvino` \(it writes \S+/export/model\.xml\)"
    ):
        OvPredictor(tmp_path)
    with pytest.raises(FileNotFoundError, match="--precision int8"):
        OvPredictor(tmp_path, precision="int8")


def test_bf16_refused_without_native_support(
    model_dir: tuple[Path, Any, ModelConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ov_backend, "ov_supports_bf16", lambda core=None: False)
    with pytest.raises(ValueError, match="bf16 needs a CPU with native bf16"):
        OvPredictor(model_dir[0], precision="bf16")
    with pytest.raises(ValueError, match=r"Did you mean .fp32.\?"):
        OvPredictor(model_dir[0], precision="fp31")


def test_predict_cli_openvino_without_torch(model_dir: tuple[Path, Any, ModelConfig], tmp_path: Path) -> None:
    folder, model, config = model_dir
    image = np.random.default_rng(0).integers(0, 256, (37, 45), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "img.png")
    expected = Predictor(model, config, tile_size=32).predict_probs(image[..., None])
    out = tmp_path / "out"
    argv = [
        "predict", str(folder / "export"), str(tmp_path / "img.png"), "--out", str(out),
        "--backend", "openvino", "--tile-size", "32", "--probs", "npy", "--quiet",
    ]  # fmt: skip
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None  # any "import torch" now raises ImportError
        from unetkit.cli.main import main
        assert main({argv!r}) == 0
        loaded = [m for m, v in sys.modules.items() if v is not None]
        assert not any(m == "torch" or m.startswith("torch.") for m in loaded), "torch was imported"
        print("OK")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=180,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("OK")
    probs = np.load(out / "probs" / "img.npy").astype(np.float32)
    np.testing.assert_allclose(probs, expected, atol=2e-3)  # float16 on disk


def test_progress_reaches_openvino(model_dir: tuple[Path, Any, ModelConfig]) -> None:
    """``unetkit predict``'s tile bar: ``progress`` goes through ``load_predictor`` to the OpenVINO pipeline,
    one count over the tiles of an image and its TTA views."""
    folder, _, _ = model_dir
    calls: list[tuple[int, int]] = []
    ov = load_predictor(
        folder,
        backend="openvino",
        tile_size=32,
        tta="flips",
        num_threads=1,
        progress=lambda d, t: calls.append((d, t)),
    )
    ov.predict(np.random.default_rng(6).integers(0, 256, (45, 70), dtype=np.uint8))
    total = ov.tiles_per_image(45, 70)
    assert total > 4 and calls[-1] == (total, total) and {t for _, t in calls} == {total}


def test_an_ir_copied_over_an_export_is_refused_at_load(tmp_path: Path) -> None:
    """Another model's IR weights copied by hand over an export: deploy.json records the model.bin export
    wrote, so the IR is refused instead of running with this folder's config.json (re-check S3)."""
    config = ModelConfig("unet", KWARGS, ["bg", "a", "b"], [0.5], [0.25])
    for seed, name in ((0, "first"), (1, "second")):
        torch.manual_seed(seed)
        export_openvino(create_model("unet", **KWARGS).eval(), config, tmp_path / name, exporter="legacy")
    load_predictor(tmp_path / "first", backend="openvino")  # as exported: loads
    (tmp_path / "first" / "model.bin").write_bytes((tmp_path / "second" / "model.bin").read_bytes())
    with pytest.raises(ValueError, match=r"model\.bin is not the file `unetkit export` wrote"):
        load_predictor(tmp_path / "first", backend="openvino")
