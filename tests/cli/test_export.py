"""``unetkit export``: parser wiring, printed result, refusal as ValueError (main turns it into exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_models import export_parser as parser
from cli_models import wide_cnn_run

import unetkit.export.onnx as onnx_export
from unetkit.cli import export as export_cli
from unetkit.inference.bench import Candidate, _verdict
from unetkit.inference.variants import export_check
from unetkit.model_files.model_config import CONFIG_NAME, ONNX_NAME


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return wide_cnn_run(tmp_path)


def test_export_onnx_prints_path_and_difference(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["export", str(model_dir.parent), "--exporter", "legacy"])
    assert args.func is export_cli.run
    assert args.format == "onnx" and args.opset == 17 and args.atol == 1e-4 and args.verify
    assert args.func(args) == 0
    out_dir = model_dir.parent / "export"  # default: MODEL/export
    assert sorted(p.name for p in out_dir.iterdir()) == [CONFIG_NAME, "deploy.json", ONNX_NAME]
    printed = capsys.readouterr().out
    assert f"wrote {out_dir / ONNX_NAME} (onnx, legacy exporter" in printed
    diff = float(printed.split("max abs diff vs PyTorch on (2, 1, 71, 77): ")[1].split(" ")[0])
    assert 0 <= diff <= 1e-4


def test_export_torchscript_to_chosen_folder(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = parser().parse_args(
        ["export", str(model_dir), "--format", "torchscript", "--out", str(tmp_path / "ts")]
    )
    assert export_cli.run(args) == 0
    assert (tmp_path / "ts" / "model.ts.pt").is_file()
    assert "max abs diff vs PyTorch on (2, 1, 71, 77): 0 (atol 0.0001)" in capsys.readouterr().out


def test_no_verify(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(
        ["export", str(model_dir), "--out", str(tmp_path / "o"), "--no-verify", "--exporter", "legacy"]
    )
    assert export_cli.run(args) == 0
    assert "not verified (--no-verify)" in capsys.readouterr().out
    # Recorded, so that a benchmark without the eager model does not call it checked.
    check = export_check(tmp_path / "o", "onnxruntime")
    assert check is not None and check["checked"] is False and check["max_abs_diff"] is None
    candidate = Candidate("onnxruntime", "fp32", lambda **o: None, True, check)
    passes, why = _verdict(candidate, None, 1e-4, None, None)
    assert not passes and "--no-verify" in why


def test_export_records_its_eager_check(model_dir: Path, tmp_path: Path) -> None:
    """deploy.json keeps the fp32 model's check against eager; a later export of other weights makes it
    stale (a benchmark without eager then does not quote it)."""
    out = tmp_path / "o"
    args = parser().parse_args(["export", str(model_dir), "--out", str(out), "--exporter", "legacy"])
    assert export_cli.run(args) == 0
    check = export_check(out, "onnxruntime")
    assert check is not None and check["checked"] is True and 0 <= check["max_abs_diff"] <= 1e-4
    assert check["atol"] == 1e-4 and check["shape"] == [2, 1, 71, 77]
    passes, why = _verdict(
        Candidate("onnxruntime", "fp32", lambda **o: None, True, check), None, 1e-4, None, None
    )
    assert passes and why.startswith("as exported: max logit diff") and "against eager at export" in why
    (out / ONNX_NAME).write_bytes((out / ONNX_NAME).read_bytes() + b"\0")  # another model now
    assert export_check(out, "onnxruntime") is None


def test_disagreeing_model_raises_value_error(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = onnx_export.run_onnxruntime
    monkeypatch.setattr(onnx_export, "run_onnxruntime", lambda path, x: real(path, x) * 2 + 1)
    args = parser().parse_args(
        ["export", str(model_dir), "--out", str(tmp_path / "o"), "--exporter", "legacy", "--atol", "1e-3"]
    )
    with pytest.raises(ValueError, match=r"disagrees with PyTorch .* > atol 0\.001; export refused"):
        export_cli.run(args)
    assert not (tmp_path / "o" / ONNX_NAME).exists()


def test_missing_model_is_file_not_found(tmp_path: Path) -> None:
    args = parser().parse_args(["export", str(tmp_path / "nope")])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_cli.run(args)
