"""``unetkit export`` findings of the deployment trial: opset honoured or refused up front and recorded,
no folder or third-party traceback left by a refusal, option checks before the model loads, Mask R-CNN named.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from cli_models import export_parser as parser
from cli_models import wide_cnn_run

import unetkit.export.onnx as onnx_export
from unetkit.export.common import quiet_loggers
from unetkit.model_files.model_config import ONNX_NAME


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return wide_cnn_run(tmp_path)


@pytest.fixture
def no_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails the test if the model is loaded: the refusals below come before it."""

    def load(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the model was loaded before the options were checked")

    monkeypatch.setattr("unetkit.model_files.model_io.load_model", load)


def run(*argv: str) -> int:
    args = parser().parse_args(["export", *argv])
    return int(args.func(args))


@pytest.mark.parametrize("opset", ["5", "99"])
def test_unwritable_opset_is_refused_before_loading(
    model_dir: Path, tmp_path: Path, no_load: None, opset: str
) -> None:
    with pytest.raises(ValueError, match=rf"ONNX opset {opset} cannot be exported: .* writes opsets 7-\d+"):
        run(str(model_dir), "--out", str(tmp_path / "o"), "--opset", opset)
    assert not (tmp_path / "o").exists()


def test_another_opset_written_is_refused_and_leaves_no_folder(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dynamo exporter wrote opset 18 for --opset 5 (exit 0, one WARNING): now that file is refused."""
    real = onnx_export._onnx_dynamic_axes
    monkeypatch.setattr(onnx_export, "_onnx_dynamic_axes", lambda path: (real(path)[0], 18))
    out = tmp_path / "new" / "d"
    with pytest.raises(
        ValueError, match=r"the legacy exporter wrote opset 18 instead of 16.*no file written"
    ):
        run(str(model_dir), "--out", str(out), "--opset", "16", "--exporter", "legacy")
    assert not (tmp_path / "new").exists()  # neither the folder nor the parent it created


def test_written_opset_is_recorded_and_printed(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o"
    assert run(str(model_dir), "--out", str(out), "--opset", "16", "--exporter", "legacy") == 0
    assert f"wrote {out / ONNX_NAME} (onnx, legacy exporter, opset 16, " in capsys.readouterr().out
    deploy = json.loads((out / "deploy.json").read_text())
    assert deploy["variants"]["onnxruntime-fp32"]["opset"] == 16


def test_refused_export_removes_the_folder_it_created(model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "c2"
    with pytest.raises(ValueError, match="no file written"):
        run(str(model_dir), "--out", str(out), "--atol", "0", "--exporter", "legacy")
    assert not out.exists()
    kept = tmp_path / "mine"  # a folder the user made is never removed
    kept.mkdir()
    with pytest.raises(ValueError):
        run(str(model_dir), "--out", str(kept), "--atol", "0", "--exporter", "legacy")
    assert kept.is_dir()


def test_exporter_logs_are_quiet_only_during_the_call(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("onnxscript.version_converter")
    parent = logging.getLogger("onnxscript")
    before = parent.level
    with caplog.at_level(logging.WARNING):
        with quiet_loggers(("onnxscript",)):
            log.warning("Failed to convert the model", exc_info=RuntimeError("No Adapter To Version $17"))
        assert parent.level == before
        log.warning("after")
    assert [r.getMessage() for r in caplog.records] == ["after"]


@pytest.mark.parametrize("tolerance", ["-0.01", "0"])
def test_tolerance_must_be_positive_before_loading(
    model_dir: Path, tmp_path: Path, no_load: None, tolerance: str
) -> None:
    with pytest.raises(ValueError, match=rf"--tolerance must be > 0 .*got {tolerance.lstrip('+')}"):
        run(str(model_dir), "--format", "openvino", "--precision", "int8", "--tolerance", tolerance)


def test_torchscript_int8_names_both_int8_formats(model_dir: Path, no_load: None) -> None:
    with pytest.raises(ValueError, match=r"use --format openvino or --format onnx\.$"):
        run(str(model_dir), "--format", "torchscript", "--precision", "int8")


def test_help_shows_the_atol_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["export", "--help"])
    assert "(default 1e-4)" in " ".join(capsys.readouterr().out.split())


def test_maskrcnn_run_is_named(tmp_path: Path, no_load: None) -> None:
    run_dir = tmp_path / "mrcnn"
    (run_dir / "model").mkdir(parents=True)
    (run_dir / "model" / "config.json").write_text(json.dumps({"architecture": "maskrcnn"}))
    for model in (run_dir, run_dir / "model"):
        with pytest.raises(ValueError, match="Mask R-CNN models cannot be exported; predict or serve them"):
            run(str(model), "--format", "onnx")
    assert not (run_dir / "export").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_an_out_that_cannot_be_created_is_said_before_loading(model_dir: Path, no_load: None) -> None:
    """A re-check: `export --out /proc/exp` said "does not exist; check the path" (predict's rule now)."""
    with pytest.raises(ValueError, match=r"^--out /proc/unetkit_exp: cannot be created \("):
        run(str(model_dir), "--format", "onnx", "--out", "/proc/unetkit_exp")
