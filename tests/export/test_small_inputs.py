"""Exported models run on every image size eager PyTorch runs on (a side of 8 px or less too), through the
one rule of the model's geometry (min_pass_side); the export check tries that small input; an export folder
never holds two models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from unetkit.export import export_onnx, export_torchscript
from unetkit.geometry import ModelGeometry
from unetkit.inference.backends import load_predictor
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model, weights_digest
from unetkit.models import create_model

KWARGS: dict[str, Any] = {"in_channels": 1, "num_classes": 2, "base_channels": 4, "depth": 3}


def _model(seed: int = 0) -> tuple[torch.nn.Module, ModelConfig]:
    torch.manual_seed(seed)
    model = create_model("unet", **KWARGS).eval()
    return model, ModelConfig("unet", KWARGS, ["background", "cell"], [0.5], [0.25])


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("small")
    model, config = _model()
    save_model(model, config, folder)
    export_onnx(model, config, folder / "export")
    return folder


@pytest.mark.parametrize("size", [(5, 7), (8, 8), (1, 1), (3, 40)])
def test_onnxruntime_runs_tiny_images_as_eager(exported: Path, size: tuple[int, int]) -> None:
    image = np.random.default_rng(0).integers(0, 256, size=size, dtype=np.uint8)
    ort = load_predictor(exported / "export", backend="onnxruntime")
    eager = load_predictor(exported, backend="torch")
    mask, probs = ort.predict(image)
    _, eager_probs = eager.predict(image)
    assert mask.shape == size and probs.shape == (2, *size)
    np.testing.assert_allclose(probs, eager_probs, atol=1e-4)


def test_raw_graph_fails_below_the_pass_side(exported: Path) -> None:
    """Why the pipeline pads: the graph itself reflects, and reflect padding needs pad < side."""
    import onnxruntime as ort

    session = ort.InferenceSession(
        str(exported / "export" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    with pytest.raises(Exception, match=r"(?i)pad"):
        session.run(None, {session.get_inputs()[0].name: np.zeros((1, 1, 3, 3), np.float32)})
    # config.json says so (a trial read its min_side 1 as "any size" and ran the graph on a 5 px side),
    # and the graph runs at that side.
    geometry = json.loads((exported / "export" / "config.json").read_text())["geometry"]
    assert geometry["min_side"] == 2 ** KWARGS["depth"]
    side = geometry["min_side"]
    out = session.run(None, {session.get_inputs()[0].name: np.zeros((1, 1, side, side + 3), np.float32)})[0]
    assert out.shape == (1, 2, side, side + 3)
    # The model's own config.json (eager PyTorch pads small sides itself) keeps 1.
    assert json.loads((exported / "config.json").read_text())["geometry"]["min_side"] == 1


def test_pass_shape_never_below_the_padding_multiple(exported: Path) -> None:
    predictor = load_predictor(exported / "export", backend="onnxruntime")
    assert predictor.min_pass_side == 2 ** KWARGS["depth"]
    assert predictor.pass_shape(3, 100) == (8, 100)


@pytest.mark.slow  # 21 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_export_check_tries_a_small_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pipeline that gave the graph too small an input would be caught at export, not at predict."""
    model, config = _model()
    monkeypatch.setattr(ModelGeometry, "min_pass_side", property(lambda self: 3))
    with pytest.raises(ValueError, match=r"smallest input predict gives it, shape \(1, 1, 3, 3\)"):
        export_onnx(model, config, tmp_path / "onnx")
    assert not (tmp_path / "onnx" / "model.onnx").exists()
    with pytest.raises(ValueError, match=r"shape \(1, 1, 3, 3\)"):
        export_torchscript(model, config, tmp_path / "ts")


# ------------------------------------------------------------------------------- one model per folder


def test_export_refuses_a_folder_of_another_model(tmp_path: Path) -> None:
    first, config = _model(0)
    second, _ = _model(1)
    out = tmp_path / "export"
    export_onnx(first, config, out)
    export_torchscript(first, config, out)  # the same weights, another format: allowed
    recorded = json.loads((out / "deploy.json").read_text())["variants"]["torchscript-fp32"]
    assert recorded["weights_sha256"] == weights_digest(first)
    export_onnx(first, config, out)  # and again
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(ValueError, match=r"another model's exported files \(config.json, model.onnx, "
                       r"model.ts.pt.*another folder \(--out DIR\), or remove"):  # fmt: skip
        export_onnx(second, config, out)
    with pytest.raises(ValueError, match="another model's exported files"):
        export_torchscript(second, config, out)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_unrecorded_model_file_counts_as_unknown(tmp_path: Path) -> None:
    model, config = _model(0)
    out = tmp_path / "export"
    export_onnx(model, config, out)
    manifest = json.loads((out / "deploy.json").read_text())
    assert manifest["variants"]["onnxruntime-fp32"]["weights_sha256"] == weights_digest(model)
    (out / "model.xml").write_text("<net/>")  # a hand-copied file deploy.json does not record
    with pytest.raises(ValueError, match=r"\(model.xml;"):
        export_onnx(model, config, out)


def test_a_model_file_copied_over_an_export_is_refused_at_load(tmp_path: Path) -> None:
    """Another model's model.onnx copied by hand over an export ran with this folder's config.json and was
    quoted as checked against eager (re-check S3): deploy.json records the file export wrote."""
    first, config = _model(0)
    second, _ = _model(1)
    export_onnx(first, config, tmp_path / "first")
    export_onnx(second, config, tmp_path / "second")
    load_predictor(tmp_path / "first", backend="onnxruntime")  # as exported: loads
    (tmp_path / "first" / "model.onnx").write_bytes((tmp_path / "second" / "model.onnx").read_bytes())
    with pytest.raises(
        ValueError, match=r"model\.onnx is not the file `unetkit export` wrote .*copied in by hand"
    ):
        load_predictor(tmp_path / "first", backend="onnxruntime")


def test_torchscript_config_states_the_smallest_side(tmp_path: Path) -> None:
    """A traced graph reflects as the ONNX one does: its config.json names the side it needs."""
    model, config = _model()
    export_torchscript(model, config, tmp_path / "ts")
    geometry = json.loads((tmp_path / "ts" / "config.json").read_text())["geometry"]
    assert geometry["min_side"] == 2 ** KWARGS["depth"]
