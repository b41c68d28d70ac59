"""MODEL naming one OpenVINO model (a new user's deployment trial): ``export/model.xml`` runs that IR,
``export/int8-openvino`` (or its model.xml) runs as INT8 with its accuracy gate named, not as fp32 'verified
against eager'; a model file of the other engine is refused. onnxruntime's side: test_backends_model_files.py.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("openvino")
pytest.importorskip("onnxruntime")

import unetkit.inference.auto_backend as auto
from unetkit.export.openvino import export_openvino
from unetkit.inference.backends import load_predictor
from unetkit.inference.ov_backend import OvPredictor
from unetkit.inference.variants import OPENVINO_NAME, file_sha256, record_gate
from unetkit.model_files.model_config import CONFIG_NAME, ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model

# Loads OpenVINO in the test process: runs in a pytest process of its own (see tests/conftest.py).
pytestmark = pytest.mark.openvino

KWARGS: dict[str, Any] = {"in_channels": 1, "num_classes": 2, "depth": 2, "base_channels": 4}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export folder (no torch model) with model.xml, model.onnx and a gated ``int8-openvino/`` (the fp32
    IR copied: the loaders do not look inside, and NNCF would take seconds)."""
    torch.manual_seed(0)
    model = create_model("unet", **KWARGS).eval()
    config = ModelConfig("unet", KWARGS, ["bg", "fg"], [0.5], [0.25])
    folder = save_model(model, config, tmp_path_factory.mktemp("named_ov") / "model")
    export = folder / "export"
    export_openvino(model, config, export, exporter="legacy")
    int8 = export / "int8-openvino"
    int8.mkdir()
    for name in (OPENVINO_NAME, "model.bin", CONFIG_NAME):
        shutil.copy2(export / name, int8 / name)
    entry = {
        "variant": "openvino-int8", "metric": "miou", "fp32": 0.769, "reduced": 0.7703, "drop": -0.0013,
        "tolerance": 0.005, "images": 4, "passed": True, "backend": "openvino", "precision": "int8",
        "folder": "int8-openvino", "source": OPENVINO_NAME,
        "source_sha256": file_sha256(export / "model.bin"),
    }  # fmt: skip
    record_gate(export, "openvino-int8", entry)
    return export


@pytest.fixture
def export(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    def measure(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("timed the folder's models although MODEL names one")

    monkeypatch.setattr(auto, "measure", measure)
    return Path(shutil.copytree(built, tmp_path / "export"))


@pytest.mark.parametrize("named", ["int8-openvino", "int8-openvino/model.xml"])
def test_int8_folder_runs_as_int8_with_its_gate(
    export: Path, named: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Trial: 'backend auto -> openvino fp32: ... (verified against eager at export (no eager model here));
    others: openvino-bf16 ... (fails checks)' for the INT8 folder."""
    with caplog.at_level(logging.INFO, logger="unetkit"):
        predictor = load_predictor(export / named, backend="auto")
    assert isinstance(predictor, OvPredictor) and predictor.model_dir == export / "int8-openvino"
    assert predictor.precision == "int8" and predictor.describe()["precision"] == "int8"
    assert (auto.chosen_backend(predictor) or ())[:2] == ("openvino", "int8")
    assert "backend auto -> openvino int8:" in caplog.text
    assert "accuracy gate passed at export: miou drop -0.0013 <= 0.005 on 4 image(s)" in caplog.text
    assert "verified against eager" not in caplog.text and "bf16" not in caplog.text
    assert not (export / "int8-openvino" / auto.CACHE_NAME).exists()


def test_openvino_backend_labels_an_int8_folder_int8(export: Path) -> None:
    """``--backend openvino export/int8-openvino`` (``unetkit serve`` reports ``describe()``)."""
    predictor = load_predictor(export / "int8-openvino", backend="openvino")
    assert predictor.precision == "int8" and predictor.model_dir == export / "int8-openvino"
    assert load_predictor(export, backend="openvino").precision == "fp32"
    assert load_predictor(export, backend="openvino", precision="int8").model_dir == export / "int8-openvino"


def test_xml_file_runs_that_file(export: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="unetkit"):
        predictor = load_predictor(export / OPENVINO_NAME, backend="auto")
    assert isinstance(predictor, OvPredictor) and predictor.model_dir == export
    assert (predictor.precision, (auto.chosen_backend(predictor) or ())[:2]) == ("fp32", ("openvino", "fp32"))
    assert f"backend auto -> openvino fp32: {export / OPENVINO_NAME} names this one model" in caplog.text


@pytest.mark.parametrize(
    ("name", "backend", "message"),
    [
        ("model.onnx", "openvino", r"model\.onnx is an ONNX model, which the openvino backend does not run; "
         r"run it with --backend onnxruntime \(or auto\), or pass \S+export/model\.xml\.$"),
        ("model.xml", "onnxruntime",
         r"model\.xml is an OpenVINO model, which the onnxruntime backend does not run; run it with "
         r"--backend openvino \(or auto\), or pass \S+export/model\.onnx\.$"),
        ("model.bin", "auto", r"model\.bin: the weights of the OpenVINO model model\.xml \(that file loads "
         r"them\), which backend auto does not run"),
    ],
)  # fmt: skip
def test_a_file_of_another_engine_is_refused(export: Path, name: str, backend: str, message: str) -> None:
    """It ran the folder's own model of that engine instead (model.xml with onnxruntime ran model.onnx)."""
    with pytest.raises(ValueError, match=message):
        load_predictor(export / name, backend=backend)
