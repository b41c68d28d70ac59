"""ONNX export findings of the re-checks: an opset too low for the model's ops refused in one line (no graph
dump, no dynamo try), no dynamo retry after a round-off accuracy refusal (a line before any other retry),
and a refused or interrupted export that leaves nothing it created."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
import torch

import unetkit.export.onnx as onnx_export
import unetkit.export.openvino as ov_export
from unetkit.export import export_onnx
from unetkit.export.common import remove_created_on_error
from unetkit.export.onnx import opset_too_low
from unetkit.model_files.model_config import CONFIG_NAME, ONNX_NAME, ModelConfig
from unetkit.models import create_model

UNET_KWARGS: dict[str, Any] = {"in_channels": 1, "num_classes": 2, "base_channels": 4, "depth": 2}


def build(name: str, **kwargs: Any) -> tuple[torch.nn.Module, ModelConfig]:
    kwargs = {"in_channels": 1, "num_classes": 2, **kwargs}
    config = ModelConfig(name, kwargs, ["background", "cell"], [0.5], [0.25])
    return create_model(name, **kwargs).eval(), config


@pytest.fixture
def unet() -> tuple[torch.nn.Module, ModelConfig]:
    torch.manual_seed(0)
    return build("unet", base_channels=4, depth=2)


@pytest.fixture
def dynamo_calls(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> list[list[str]]:
    """Stands in for the dynamo exporter (10-70 s): records each call with the log lines said before it,
    then fails."""
    calls: list[list[str]] = []

    def dynamo(*args: Any, **kwargs: Any) -> None:
        calls.append([r.getMessage() for r in caplog.records])
        raise RuntimeError("dynamo stub")

    monkeypatch.setattr(onnx_export, "_export_dynamo", dynamo)
    return calls


# --- an opset too low for the model's ops ---


def test_too_low_opset_is_one_line_without_graph_dump_or_dynamo(
    unet: tuple[torch.nn.Module, ModelConfig],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    dynamo_calls: list[list[str]],
) -> None:
    """`export --opset 9` printed a 268-line "Torch IR graph at exception" dump (torch's C++ log), tried the
    dynamo exporter too (34 s, it can only write 18) and ended in a two-exporter error."""
    model, config = unet
    out = tmp_path / "new" / "o9"
    with pytest.raises(ValueError) as refused:
        export_onnx(model, config, out, opset=9)
    assert str(refused.value) == (
        "ONNX opset 9 is too low for 'unet': its Pad needs opset 11 (the sizes of the padding must be "
        "constant); use --opset 11 or higher (default 17). Export refused and no file written."
    )
    assert dynamo_calls == []
    captured = capfd.readouterr()
    assert "graph(" not in captured.out + captured.err and "Torch IR" not in captured.out + captured.err
    assert not (tmp_path / "new").exists()


def test_native_output_of_a_legacy_export_that_works_is_passed_on(
    unet: tuple[torch.nn.Module, ModelConfig],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Standard output is held during the legacy exporter's call only to drop it on a failure."""
    real = torch.onnx.export

    def chatty(*args: Any, **kwargs: Any) -> Any:
        os.write(1, b"native exporter output\n")  # as torch's C++ code writes: under Python's sys.stdout
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", chatty)
    model, config = unet
    export_onnx(model, config, tmp_path / "o", exporter="legacy")
    assert "native exporter output" in capfd.readouterr().out


def test_a_model_that_works_at_a_low_opset_is_exported(tmp_path: Path) -> None:
    """Nothing is refused up front: a wide_cnn has no op that needs more than opset 7."""
    model, config = build("wide_cnn", channels=(4, 8), kernel_sizes=(7, 5))
    result = export_onnx(model, config, tmp_path, opset=7, exporter="legacy")
    assert result.extra["opset"] == 7 and result.max_abs_diff is not None and result.max_abs_diff <= 1e-4


def test_too_low_opset_without_a_number_from_torch(tmp_path: Path) -> None:
    model, config = build("unet_original", base_channels=4, depth=2)
    expected = (
        r"^ONNX opset 9 is too low for 'unet_original': its Slice with dynamic inputs needs a higher opset; "
        r"use a higher --opset \(default 17\)\. Export refused"
    )
    with pytest.raises(ValueError, match=expected):
        export_onnx(model, config, tmp_path / "o", opset=9, exporter="legacy")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "Unsupported: ONNX export of Pad in opset 9. The sizes of the padding must be constant. Please "
            "try opset version 11.  [Caused by the value '111 defined in (%111 : int[]",
            ("Pad", "the sizes of the padding must be constant", 11),
        ),
        (
            "Exporting the operator 'aten::foo' to ONNX opset version 9 is not supported. Support for this "
            "operator was added in version 13, try exporting with this version",
            ("aten::foo", "", 13),
        ),
        (
            "Unsupported: ONNX export of Slice with dynamic inputs. DynamicSlice is a deprecated "
            "experimental op. Please use statically allocated variables or export to a higher opset version.",
            ("Slice with dynamic inputs", "", None),
        ),
        # Not a matter of the opset: SegNet's legacy failure, an op no opset has.
        ("cond must be a bool, but got a Tensor.", None),
        ("Exporting the operator 'aten::max_unpool2d' to ONNX opset version 17 is not supported", None),
    ],
)
def test_opset_too_low_reads_torchs_wordings(
    message: str, expected: tuple[str, str, int | None] | None
) -> None:
    found = opset_too_low(RuntimeError(message))
    assert (found if found is None else (found.op, found.why, found.needed)) == expected


# --- the dynamo retry ---


def test_roundoff_refusal_is_not_retried_with_dynamo(
    unet: tuple[torch.nn.Module, ModelConfig], tmp_path: Path, dynamo_calls: list[list[str]]
) -> None:
    """`--atol 0`: the legacy file differs by float32 round-off (6e-8); the dynamo graph gives the same
    numbers (bitwise, measured on six zoo models), so its 34-75 s try only buried the real reason."""
    model, config = unet
    expected = (
        r"^ONNX export \(legacy exporter\) of 'unet' disagrees with PyTorch .* > atol 0; export refused and "
        r"no file written \(raise --atol"
    )
    with pytest.raises(ValueError, match=expected):
        export_onnx(model, config, tmp_path / "o", atol=0.0)
    assert dynamo_calls == []
    assert not (tmp_path / "o").exists()


def test_dynamo_retry_is_said_before_it_starts(
    unet: tuple[torch.nn.Module, ModelConfig],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    dynamo_calls: list[list[str]],
) -> None:
    """A legacy file that is wrong (not round-off) may be a legacy exporter bug: dynamo is still tried, and
    a line says so first."""
    real = onnx_export.run_onnxruntime
    monkeypatch.setattr(onnx_export, "run_onnxruntime", lambda path, x: real(path, x) + 0.5)
    model, config = unet
    with (
        caplog.at_level(logging.WARNING, logger="unetkit"),
        pytest.raises(ValueError, match="every exporter"),
    ):
        export_onnx(model, config, tmp_path / "o")
    assert len(dynamo_calls) == 1
    said = [line for line in dynamo_calls[0] if "trying the dynamo exporter" in line]
    assert said and said[0].startswith("legacy ONNX exporter failed for 'unet': ONNX export (legacy")


@pytest.mark.slow  # 7 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_segnet_auto_falls_back_to_dynamo(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """SegNet's MaxUnpool2d has no legacy export: `auto` still reaches the dynamo exporter (~10 s)."""
    model, config = build("segnet", channels=(4, 8, 8), convs_per_stage=(1, 1, 1))
    with caplog.at_level(logging.WARNING, logger="unetkit"):
        result = export_onnx(model, config, tmp_path)
    assert result.exporter == "dynamo" and result.extra["opset"] == 17
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-4
    assert any("trying the dynamo exporter" in r.getMessage() for r in caplog.records)


# --- nothing left by a refused or interrupted export ---


def test_remove_created_on_error_removes_a_new_folder_with_its_files(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    with pytest.raises(KeyboardInterrupt), remove_created_on_error(out):
        out.mkdir(parents=True)
        (out / "model.onnx").write_text("x")
        raise KeyboardInterrupt
    assert not (tmp_path / "a").exists()


def test_remove_created_on_error_keeps_earlier_contents(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "config.json").write_text("old")
    with pytest.raises(KeyboardInterrupt), remove_created_on_error(out):
        (out / "config.json").write_text("rewritten")
        (out / "model.onnx").write_text("x")
        (out / "int8-openvino").mkdir()
        (out / "int8-openvino" / "model.xml").write_text("x")
        raise KeyboardInterrupt
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "notes.txt"]
    assert (out / "notes.txt").read_text() == "mine"


def test_remove_created_on_error_only_for_the_errors_named(tmp_path: Path) -> None:
    out = tmp_path / "o"
    with pytest.raises(ValueError), remove_created_on_error(out, on=(KeyboardInterrupt,)):
        out.mkdir()
        (out / "model.onnx").write_text("x")
        raise ValueError("a refused gate keeps the fp32 export")
    assert (out / "model.onnx").is_file()


# Each stage of `export --format openvino`: the ONNX export, its records, the IR conversion, the IR's record.
STAGES = [
    (onnx_export, "_export_legacy"),
    (onnx_export, "record_export_check"),
    (ov_export, "convert_onnx"),
    (ov_export, "record_export_check"),
]


@pytest.mark.parametrize(("module", "name"), STAGES, ids=[f"{m.__name__}.{n}" for m, n in STAGES])
@pytest.mark.parametrize("existing", [False, True], ids=["new-folder", "existing-folder"])
def test_openvino_export_interrupted_at_any_stage_leaves_nothing(
    unet: tuple[torch.nn.Module, ModelConfig],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    module: Any,
    name: str,
    existing: bool,
) -> None:
    """Ctrl-C after the ONNX stage of `export --format openvino` left a complete ONNX export (model.onnx,
    config.json, deploy.json) in the folder it had created. OpenVINO itself is never loaded here: the
    interrupt comes at or before its conversion, or the conversion is stubbed."""
    real = getattr(module, name)
    calls = {"n": 0}

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        raise KeyboardInterrupt

    monkeypatch.setattr(module, name, interrupted)
    if name == "record_export_check" and module is ov_export:
        # The IR stage runs with a stand-in for OpenVINO: the ONNX file copied as "IR".
        def convert(onnx_path: Path, xml_path: Path) -> None:
            xml_path.write_bytes(onnx_path.read_bytes())
            xml_path.with_suffix(".bin").write_bytes(b"")

        monkeypatch.setattr(ov_export, "convert_onnx", convert)
        monkeypatch.setattr(
            ov_export, "run_openvino", lambda xml, x, precision="fp32": onnx_export.run_onnxruntime(xml, x)
        )
    out = tmp_path / "export"
    if existing:
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    model, config = unet
    with pytest.raises(KeyboardInterrupt):
        ov_export.export_openvino(model, config, out, exporter="legacy")
    assert calls["n"] == 1 and real is not None
    if existing:
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    else:
        assert not out.exists()


def test_refused_onnx_export_into_an_existing_folder_adds_nothing(
    unet: tuple[torch.nn.Module, ModelConfig], tmp_path: Path
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    model, config = unet
    export_onnx(model, config, out, exporter="legacy")  # an earlier export of the same weights
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(ValueError, match="disagrees"):
        export_onnx(model, config, out, exporter="legacy", atol=0.0)
    assert sorted(p.name for p in out.iterdir()) == before == sorted([CONFIG_NAME, ONNX_NAME, "deploy.json"])


@pytest.mark.parametrize("name", ["_export_legacy", "record_export_check", "_record_opset"])
def test_onnx_export_interrupted_at_any_stage_leaves_no_folder(
    unet: tuple[torch.nn.Module, ModelConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The ONNX export alone: config.json and deploy.json are written inside its guard too."""

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx_export, name, interrupted)
    model, config = unet
    with pytest.raises(KeyboardInterrupt):
        export_onnx(model, config, tmp_path / "new" / "export", exporter="legacy")
    assert not (tmp_path / "new").exists()
