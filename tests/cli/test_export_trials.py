"""``unetkit export`` findings of the deployment trial and its re-checks: opset honoured or refused (up front,
or in one line when too low for the model's ops) and recorded, no folder or third-party traceback left by a
refusal or Ctrl-C at any stage, option checks before the model loads, Mask R-CNN named, ``-q`` as predict's.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from cli_models import export_parser as parser
from cli_models import tiny_unet, wide_cnn_run

import unetkit.export.onnx as onnx_export
from unetkit.cli import export as export_cli
from unetkit.cli.main import main
from unetkit.export.common import quiet_loggers
from unetkit.model_files.model_config import CONFIG_NAME, ONNX_NAME


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


def test_quiet_silences_info_lines_not_the_result(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["export", str(model_dir), "--exporter", "legacy"]
    assert main([*argv, "--out", str(tmp_path / "loud")]) == 0
    assert "INFO unetkit.export.onnx: exported wide_cnn" in capsys.readouterr().err
    assert main([*argv, "--out", str(tmp_path / "quiet"), "-q"]) == 0
    captured = capsys.readouterr()
    assert "INFO" not in captured.err
    assert f"wrote {tmp_path / 'quiet' / ONNX_NAME} (onnx, legacy exporter, opset 17" in captured.out
    assert "max abs diff vs PyTorch on (2, 1, 71, 77)" in captured.out


def test_quiet_keeps_warnings(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As predict -q: warnings still print (here the line before the slow dynamo try)."""

    def legacy_fails(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("no legacy export")

    monkeypatch.setattr(onnx_export, "_export_legacy", legacy_fails)
    assert main(["export", str(model_dir), "--out", str(tmp_path / "o"), "-q"]) == 0
    captured = capsys.readouterr()
    said = "WARNING unetkit.export.onnx: legacy ONNX exporter failed for 'wide_cnn': no legacy export; trying"
    assert f"{said} the dynamo exporter" in captured.err
    assert "INFO" not in captured.err and "(onnx, dynamo exporter, opset 17" in captured.out


def test_quiet_hides_nncf_progress_bar(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """NNCF draws "Statistics collection" on rich's shared console during `--precision int8`: -q mutes it
    for the call only (stood in for here by rich's own track over the calibration)."""
    from rich import get_console
    from rich.progress import track

    class Gate:
        def reason(self) -> str:
            return "onnxruntime-int8 passes"

    def reduced(*args: Any, **kwargs: Any) -> Gate:
        for _ in track(range(2), description="Statistics collection"):
            pass
        return Gate()

    monkeypatch.setattr(export_cli, "reduced_precision_plan", lambda *a, **k: {"backend": "onnxruntime",
                        "val": None, "calibration": []})  # fmt: skip
    monkeypatch.setattr("unetkit.export.quantize.export_reduced", reduced)
    argv = ["export", str(model_dir), "--exporter", "legacy", "--precision", "int8"]
    assert main([*argv, "--out", str(tmp_path / "loud")]) == 0
    assert "Statistics collection" in capsys.readouterr().out
    assert main([*argv, "--out", str(tmp_path / "quiet"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "Statistics collection" not in out and "onnxruntime-int8 passes" in out
    assert get_console().quiet is False  # put back


def test_help_lists_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["export", "--help"])
    assert "--quiet, -q" in capsys.readouterr().out


def test_too_low_opset_is_one_error_line(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """`export RUN --opset 9` printed a 268-line graph dump and a 600-character two-exporter error."""
    model = tiny_unet(tmp_path / "unet")
    assert main(["export", str(model), "--out", str(tmp_path / "o9"), "--opset", "9"]) == 2
    captured = capfd.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "error: ONNX opset 9 is too low for 'unet': its Pad needs opset 11 (the sizes of the padding must be "
        "constant); use --opset 11 or higher (default 17). Export refused and no file written."
    ]
    assert not (tmp_path / "o9").exists()


@pytest.mark.parametrize("existing", [False, True], ids=["new-folder", "existing-folder"])
def test_interrupt_in_the_reduced_precision_stage_leaves_nothing(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(export_cli, "reduced_precision_plan", lambda *a, **k: {"backend": "onnxruntime",
                        "val": None, "calibration": []})  # fmt: skip
    monkeypatch.setattr("unetkit.export.quantize.export_reduced", interrupted)
    out = tmp_path / "o"
    if existing:
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    argv = ["export", str(model_dir), "--out", str(out), "--exporter", "legacy", "--precision", "int8"]
    assert main(argv) == 130
    if existing:
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    else:
        assert not out.exists()


def test_refused_gate_keeps_the_fp32_export(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused INT8 gate is an answer (the fp32 model is fine, INT8 is not), not an interruption."""

    def refused(*args: Any, **kwargs: Any) -> None:
        raise ValueError("onnxruntime-int8 refused: miou drop 0.2 > tolerance 0.005; no INT8 model written.")

    monkeypatch.setattr(export_cli, "reduced_precision_plan", lambda *a, **k: {"backend": "onnxruntime",
                        "val": None, "calibration": []})  # fmt: skip
    monkeypatch.setattr("unetkit.export.quantize.export_reduced", refused)
    out = tmp_path / "o"
    argv = ["export", str(model_dir), "--out", str(out), "--exporter", "legacy", "--precision", "int8"]
    assert main(argv) == 2
    assert sorted(p.name for p in out.iterdir()) == sorted([CONFIG_NAME, ONNX_NAME, "deploy.json"])
