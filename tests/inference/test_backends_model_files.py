"""MODEL naming one exported model (a new user's deployment trial): ``export/model.onnx`` or an
``int8-onnxruntime/`` folder runs that model, labelled with its own precision and accuracy gate; any other
file (``model.ts.pt``) is refused in one line instead of silently running another model of its folder; an
export-only folder's missing eager model is a fact, not an error. The OpenVINO side is in
test_auto_backend_named.py (its own pytest process)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("onnxruntime")

import unetkit.inference.auto_backend as auto
from unetkit.export.onnx import export_onnx
from unetkit.inference.backends import check_model_file, load_predictor, named_model
from unetkit.inference.ort_backend import OrtPredictor
from unetkit.inference.variants import file_sha256, record_gate
from unetkit.model_files.model_config import CONFIG_NAME, ONNX_NAME, ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model

KWARGS: dict[str, Any] = {"in_channels": 1, "num_classes": 2, "depth": 2, "base_channels": 4}


def gate_entry(export_dir: Path, backend: str, source: str) -> dict[str, Any]:
    """A passing gate as ``unetkit export --precision int8`` records it in deploy.json."""
    return {
        "variant": f"{backend}-int8", "metric": "miou", "fp32": 0.77, "reduced": 0.769, "drop": 0.001,
        "tolerance": 0.005, "images": 4, "passed": True, "backend": backend, "precision": "int8",
        "folder": f"int8-{backend}", "source": source,
        "source_sha256": file_sha256(export_dir / ("model.bin" if backend == "openvino" else ONNX_NAME)),
    }  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder with ``export/``: model.onnx, a TorchScript-named file and a gated
    ``int8-onnxruntime/`` (the fp32 ONNX model copied: the loaders do not look inside)."""
    torch.manual_seed(0)
    model = create_model("unet", **KWARGS).eval()
    config = ModelConfig("unet", KWARGS, ["bg", "fg"], [0.5], [0.25])
    folder = save_model(model, config, tmp_path_factory.mktemp("named") / "model")
    export = folder / "export"
    export_onnx(model, config, export, exporter="legacy")
    (export / "model.ts.pt").write_bytes(b"not loaded by any backend")
    int8 = export / "int8-onnxruntime"
    int8.mkdir()
    for name in (ONNX_NAME, CONFIG_NAME):
        shutil.copy2(export / name, int8 / name)
    record_gate(export, "onnxruntime-int8", gate_entry(export, "onnxruntime", ONNX_NAME))
    return folder


@pytest.fixture
def export(built: Path, tmp_path: Path) -> Path:
    """An export-only copy (no torch model), as copied to a deployment machine."""
    return Path(shutil.copytree(built / "export", tmp_path / "export"))


@pytest.fixture
def no_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    def measure(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("timed the folder's models although MODEL names one")

    monkeypatch.setattr(auto, "measure", measure)


def test_onnx_file_runs_that_file_nothing_timed(
    export: Path, no_timing: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="unetkit"):
        predictor = load_predictor(export / ONNX_NAME, backend="auto")
    assert isinstance(predictor, OrtPredictor) and predictor.model_dir == export
    assert (auto.chosen_backend(predictor) or ())[:2] == ("onnxruntime", "fp32")
    assert f"backend auto -> onnxruntime fp32: {export / ONNX_NAME} names this one model" in caplog.text
    assert "fp32, max logit diff" in caplog.text and "against eager at export" in caplog.text
    assert not (export / auto.CACHE_NAME).exists()  # nothing measured, nothing cached


@pytest.mark.parametrize("named", ["int8-onnxruntime", "int8-onnxruntime/model.onnx"])
def test_int8_variant_is_labelled_int8_with_its_gate(
    export: Path, named: str, no_timing: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Trial: ``export/int8-openvino`` was timed as a model folder of its own and logged as fp32 'verified
    against eager at export'; it is the INT8 model, which passed only the accuracy gate."""
    with caplog.at_level(logging.INFO, logger="unetkit"):
        predictor = load_predictor(export / named, backend="auto")
    assert isinstance(predictor, OrtPredictor) and predictor.model_dir == export / "int8-onnxruntime"
    assert (auto.chosen_backend(predictor) or ())[:2] == ("onnxruntime", "int8")
    assert "backend auto -> onnxruntime int8:" in caplog.text
    assert (
        f"accuracy gate passed at export: miou drop +0.0010 <= 0.005 on 4 image(s) ({export / 'deploy.json'})"
        in caplog.text
    )
    assert "fp32" not in caplog.text and "verified against eager" not in caplog.text


def test_int8_variant_without_a_current_gate_is_refused_by_auto(export: Path) -> None:
    # Another fp32 model exported since: the recorded gate no longer applies to the INT8 model.
    onnx = export / ONNX_NAME
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    with pytest.raises(ValueError, match=r"records no passing accuracy gate .* --backend onnxruntime\.$"):
        load_predictor(export / "int8-onnxruntime", backend="auto")
    # Named outright, it runs unchecked.
    assert isinstance(load_predictor(export / "int8-onnxruntime", backend="onnxruntime"), OrtPredictor)


REFUSED = [
    # (file in export/, backend, message)
    ("model.ts.pt", "auto",
     r"model\.ts\.pt: a TorchScript file, which backend auto does not run; pass its folder \S+export "
     r"\(backend auto picks the fastest model there\) or one of its models: \S+model\.onnx\.$"),
    ("model.ts.pt", "onnxruntime",
     r"model\.ts\.pt: a TorchScript file, which the onnxruntime backend does not run; pass "
     r"\S+export/model\.onnx or its folder \S+export with --backend onnxruntime\.$"),
    ("renamed.onnx", "onnxruntime",
     r"renamed\.onnx: the onnxruntime backend loads a model file named model\.onnx, and \S+export holds "
     r"another one; move it into a folder of its own as model\.onnx, with the config\.json of its export"),
    ("model.onnx", "torch",
     r"model\.onnx is an exported ONNX model; the torch backend loads a run folder, a model folder or a "
     r"\.ckpt: run this file with --backend onnxruntime \(or auto\)\.$"),
    ("deploy.json", "auto", r"deploy\.json: not a model file; MODEL is a run folder, a model folder "
     r"\(model\.safetensors \+ config\.json\), a \.ckpt checkpoint, an export folder \(`unetkit export`\), "
     r"or an exported model\.onnx or model\.xml\.$"),
    ("best.ckpt", "onnxruntime",
     r"best\.ckpt: a PyTorch checkpoint, which the onnxruntime backend does not run; pass \S+model\.onnx or "
     r"its folder \S+export with --backend onnxruntime, or run it with --backend torch\.$"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "backend", "message"), REFUSED)
def test_other_files_are_refused_in_one_line(
    export: Path, name: str, backend: str, message: str, no_timing: None
) -> None:
    """Trial: ``predict export/model.ts.pt`` ran the folder's INT8 OpenVINO model instead."""
    if not (export / name).exists():
        shutil.copy2(export / ONNX_NAME, export / name)
    with pytest.raises(ValueError, match=message) as info:
        load_predictor(export / name, backend=backend)
    assert "\n" not in str(info.value)


def test_what_a_model_path_names(built: Path, export: Path) -> None:
    assert named_model(export / ONNX_NAME) == ("onnxruntime", "fp32", export)
    assert named_model(export / "int8-onnxruntime") == ("onnxruntime", "int8", export)
    # Folders holding a torch model or several exports, and checkpoints: auto chooses among them.
    assert named_model(export) is None and named_model(built) is None
    assert named_model(export / "model.ts.pt") is None
    for path, backend in ((built, "onnxruntime"), (built / "model.safetensors", "auto"), (export, "auto")):
        check_model_file(path, backend)  # folders and torch files pass


def test_export_only_folder_has_no_eager_as_a_plain_fact(
    export: Path, built: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Trial: 'eager PyTorch unavailable (FileNotFoundError: ...model.safetensors not found...)' read like
    an error for a folder that, by design, holds only exports."""
    with caplog.at_level(logging.INFO, logger="unetkit"):
        choice = auto.choose(export, size=32, rounds=1)
    assert choice.reason.count("eager PyTorch: not in this folder (export-only)") == 1
    assert "unavailable" not in caplog.text and "not found" not in caplog.text
    assert "skipping torch-fp32" not in caplog.text  # not even tried
    # Beside a torch model, eager PyTorch is the reference.
    with_torch = auto.choose(shutil.copytree(built, tmp_path / "model"), size=32, rounds=1)
    assert "eager PyTorch:" not in with_torch.reason and "x eager" in with_torch.reason


def test_a_variant_folder_belongs_to_its_export_folder(tmp_path: Path) -> None:
    """`unetkit benchmark export/int8-openvino` timed the INT8 model as an fp32 export of its own."""
    from unetkit.inference.variants import find_export_dir

    export = tmp_path / "export"
    for folder in (export, export / "int8-openvino"):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
        (folder / "model.xml").write_text("<net/>")
    assert find_export_dir(export / "int8-openvino") == export
    assert find_export_dir(export / "int8-openvino" / "model.xml") == export
    assert find_export_dir(export) == export
    alone = tmp_path / "int8-openvino"  # a copied variant folder without its export: itself
    shutil.copytree(export / "int8-openvino", alone)
    assert find_export_dir(alone) == alone


def test_option_and_argument_mistakes_are_named(built: Path, tmp_path: Path) -> None:
    """Trial: ``tile=3`` got Python's bare "unexpected keyword argument", None a pathlib error, a folder given
    to read_image was "no such file", device "gpu" torch's list of device types."""
    from unetkit.data.io import read_image

    with pytest.raises(
        TypeError, match=r"unknown option 'tile' for backend 'torch'. Did you mean 'tile_size'\?"
    ):
        load_predictor(built, tile=3)
    with pytest.raises(
        TypeError, match=r"unknown option 'tile' for backend 'onnxruntime'. Did you mean 'tile_s"
    ):
        load_predictor(built / "export", backend="onnxruntime", tile=3)
    with pytest.raises(TypeError, match=r"model must be a path .* got None"):
        load_predictor(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"device must be auto, cpu, cuda \(or cuda:N\) or mps, got 'gpu'"):
        load_predictor(built, device="gpu")
    assert load_predictor(built).device.type == "cpu"  # "auto" on a machine without a GPU
    with pytest.raises(ValueError, match=r"cannot read image .*: it is a folder, not an image file"):
        read_image(tmp_path)
    with pytest.raises(TypeError, match=r"image path must be a str or Path, got None"):
        read_image(None)  # type: ignore[arg-type]
