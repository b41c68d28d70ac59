"""OpenVINO export (verified against eager, refused on a mismatch) and the reduced-precision accuracy gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("openvino")
pytest.importorskip("onnxruntime")

import unetkit.export.openvino as ov_export
from unetkit.cli import export as export_cli
from unetkit.export.quantize import ValidationSet, export_reduced, validation_from_dirs
from unetkit.inference.variants import (
    MANIFEST_NAME,
    available_variants,
    export_check,
    gate_passed,
    read_manifest,
)
from unetkit.model_files.model_config import CONFIG_NAME, ONNX_NAME, ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model

# Loads OpenVINO in the test process: runs in a pytest process of its own (see tests/conftest.py).
pytestmark = pytest.mark.openvino

KWARGS: dict[str, Any] = {"in_channels": 1, "num_classes": 3, "depth": 2, "base_channels": 4}


def tiny() -> tuple[torch.nn.Module, ModelConfig]:
    torch.manual_seed(0)
    model = create_model("unet", **KWARGS).eval()
    return model, ModelConfig("unet", KWARGS, ["bg", "a", "b"], [0.5], [0.25])


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    model, config = tiny()
    out = tmp_path_factory.mktemp("ov") / "export"
    return out, ov_export.export_openvino(model, config, out)


def write_images(folder: Path, count: int, seed: int, size: int = 32) -> tuple[Path, Path]:
    """``count`` random gray images and 3-class index masks in ``folder/images`` and ``folder/masks``."""
    rng = np.random.default_rng(seed)
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(
            folder / "images" / f"{i}.png"
        )
        Image.fromarray(rng.integers(0, 3, (size, size), dtype=np.uint8)).save(folder / "masks" / f"{i}.png")
    return folder / "images", folder / "masks"


def test_export_writes_verified_dynamic_ir(exported: tuple[Path, Any]) -> None:
    out, result = exported
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [CONFIG_NAME, ONNX_NAME, "model.xml", "model.bin", MANIFEST_NAME]
    )
    assert result.format == "openvino" and result.path == out / "model.xml"
    assert result.dynamic_axes == ["batch", "height", "width"]
    # Verified on another batch and size than the trace input.
    assert result.verify_shape[0] != result.sample_shape[0]
    assert result.verify_shape[2:] != result.sample_shape[2:]
    assert result.max_abs_diff is not None and 0 <= result.max_abs_diff <= 1e-4
    # deploy.json keeps both fp32 models' checks (the IR's and the ONNX model's it was converted from).
    assert export_check(out, "openvino")["max_abs_diff"] == result.max_abs_diff
    assert export_check(out, "onnxruntime")["max_abs_diff"] == result.extra["onnx_max_abs_diff"]
    # The IR itself runs at a third size with the eager model's logits.
    model, _ = tiny()
    x = torch.randn(2, 1, 48, 80)
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(ov_export.run_openvino(out / "model.xml", x.numpy()), expected, atol=1e-4)


def test_export_leaves_the_global_rng_alone(tmp_path: Path) -> None:
    model, config = tiny()
    state = torch.random.get_rng_state()
    ov_export.export_openvino(model, config, tmp_path / "out", exporter="legacy")
    assert torch.equal(torch.random.get_rng_state(), state)


def test_export_refused_on_mismatch_leaves_no_ir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = ov_export.run_openvino
    monkeypatch.setattr(ov_export, "run_openvino", lambda xml, x, precision="fp32": real(xml, x) + 1e-3)
    model, config = tiny()
    with pytest.raises(ValueError, match="OpenVINO export of 'unet' disagrees with PyTorch"):
        ov_export.export_openvino(model, config, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # the folder it created, the ONNX stage's files with it
    mine = tmp_path / "mine"  # a folder that existed: its earlier files stay, the export's go
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="OpenVINO export of 'unet' disagrees with PyTorch"):
        ov_export.export_openvino(model, config, mine)
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]  # no model, temp file or folder left


def test_cli_export_openvino(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, config = tiny()
    folder = save_model(model, config, tmp_path / "run" / "model")
    root = __import__("argparse").ArgumentParser()
    export_cli.register(root.add_subparsers(dest="command", required=True))
    args = root.parse_args(["export", str(folder), "--format", "openvino", "--exporter", "legacy"])
    assert export_cli.run(args) == 0
    assert (folder / "export" / "model.xml").is_file() and (folder / "export" / "model.bin").is_file()
    printed = capsys.readouterr().out
    assert "(openvino, openvino read_model (ONNX: legacy) exporter" in printed
    assert "max abs diff vs PyTorch on (3, 1, " in printed


def test_cli_rejects_bf16_for_onnx_before_exporting(tmp_path: Path) -> None:
    model, config = tiny()
    folder = save_model(model, config, tmp_path / "model")
    root = __import__("argparse").ArgumentParser()
    export_cli.register(root.add_subparsers(dest="command", required=True))
    args = root.parse_args(["export", str(folder), "--format", "onnx", "--precision", "bf16"])
    with pytest.raises(ValueError, match="--precision bf16 is not available for --format onnx"):
        export_cli.run(args)
    assert not (folder / "export").exists()


@pytest.fixture
def gate_data(tmp_path: Path) -> tuple[ValidationSet, list[Path]]:
    images, masks = write_images(tmp_path / "val", 2, seed=1)
    calibration, _ = write_images(tmp_path / "train", 3, seed=2)
    return validation_from_dirs(images, masks, 3), sorted(calibration.iterdir())


def _copy_export(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_int8_gate_refuses_and_writes_nothing(
    exported: tuple[Path, Any], tmp_path: Path, gate_data: tuple[ValidationSet, list[Path]], backend: str
) -> None:
    out = _copy_export(exported[0], tmp_path / "export")
    val, calibration = gate_data
    manifest = (out / MANIFEST_NAME).read_bytes()  # the fp32 models' export checks only
    with pytest.raises(
        ValueError, match=rf"{backend}-int8 refused: miou .*\(> tolerance -1\); no INT8 model written"
    ):
        export_reduced(out, backend, "int8", val, calibration, tolerance=-1)
    assert not (out / f"int8-{backend}").exists()
    assert (out / MANIFEST_NAME).read_bytes() == manifest
    assert not any(p.name.startswith(".") for p in out.iterdir())


def test_int8_gate_passes_records_and_goes_stale(
    exported: tuple[Path, Any], tmp_path: Path, gate_data: tuple[ValidationSet, list[Path]]
) -> None:
    out = _copy_export(exported[0], tmp_path / "export")
    val, calibration = gate_data
    gate = export_reduced(out, "openvino", "int8", val, calibration, tolerance=1.0)
    assert gate.passed and gate.metric == "miou" and gate.images == 2
    assert gate.drop == pytest.approx(gate.fp32 - gate.reduced)
    assert (out / "int8-openvino" / "model.xml").is_file() and (out / "int8-openvino" / CONFIG_NAME).is_file()
    entry = read_manifest(out)["variants"]["openvino-int8"]
    assert entry["passed"] is True and entry["extra"]["calibration_batches"] == 3
    assert gate_passed(out, "openvino-int8")
    keys = [(v.backend, v.precision) for v in available_variants(out)]
    assert ("openvino", "int8") in keys and ("openvino", "bf16") not in keys  # bf16 was never gated
    # Another fp32 model in the folder: the recorded gate no longer applies.
    (out / "model.bin").write_bytes((out / "model.bin").read_bytes()[::-1])
    assert not gate_passed(out, "openvino-int8")
    assert ("openvino", "int8") not in [(v.backend, v.precision) for v in available_variants(out)]


def test_bf16_gate_is_recorded_without_a_file(
    exported: tuple[Path, Any], tmp_path: Path, gate_data: tuple[ValidationSet, list[Path]]
) -> None:
    from unetkit.inference.ov_backend import ov_supports_bf16

    if not ov_supports_bf16():
        pytest.skip("this CPU has no native bf16")
    out = _copy_export(exported[0], tmp_path / "export")
    before = sorted(p.name for p in out.iterdir())
    gate = export_reduced(out, "openvino", "bf16", gate_data[0], tolerance=1.0)
    assert gate.passed
    assert sorted(p.name for p in out.iterdir()) == before  # deploy.json (the export checks) was there
    assert json.loads((out / MANIFEST_NAME).read_text())["variants"]["openvino-bf16"]["precision"] == "bf16"


def test_conversion_sends_no_telemetry_and_records_the_opset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ov.convert_model`` starts OpenVINO's usage telemetry (network lookups, ~/intel counters): the IR is
    read with the runtime's ONNX reader instead; the ONNX opset it came from is recorded."""
    import openvino

    def convert_model(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("ov.convert_model sends usage telemetry")

    monkeypatch.setattr(openvino, "convert_model", convert_model)
    model, config = tiny()
    result = ov_export.export_openvino(model, config, tmp_path / "e", opset=16, exporter="legacy")
    assert result.extra["opset"] == 16
    variants = json.loads((tmp_path / "e" / MANIFEST_NAME).read_text())["variants"]
    assert variants["openvino-fp32"]["opset"] == variants["onnxruntime-fp32"]["opset"] == 16


def test_nncf_quantize_runs_without_its_telemetry(
    exported: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nncf
    import nncf.telemetry.decorator as tracker
    from nncf.telemetry.wrapper import NNCFTelemetryStub

    from unetkit.export.quantize import quantize_openvino

    # Under pytest NNCF already stubs its telemetry itself: a stand-in for the real sender.
    original = object()
    monkeypatch.setattr(tracker, "telemetry", original)
    seen: list[Any] = []

    def quantize(model: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(tracker.telemetry)
        return model

    monkeypatch.setattr(nncf, "quantize", quantize)
    quantize_openvino(exported[0] / "model.xml", [np.zeros((1, 1, 32, 32), np.float32)], tmp_path / "q.xml")
    assert len(seen) == 1 and isinstance(seen[0], NNCFTelemetryStub)
    assert tracker.telemetry is original  # put back
