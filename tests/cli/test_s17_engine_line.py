"""``unetkit predict``: where backend auto chose the engine (an exported model beside the one given), one
plain console line names it and why, in place of the library's two INFO lines (a user trial: after
``unetkit export RUN``, plain ``predict RUN`` moved from torch to onnxruntime, said only in an INFO line)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_models import three_images, tiny_unet

from unetkit.cli.main import main

pytest.importorskip("onnxruntime")


def test_predict_says_once_which_engine_backend_auto_chose_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on an idle machine: a busy one (other tests, a training) is said in the line and not cached.
    monkeypatch.setattr("unetkit.inference.auto_backend.busy_load", lambda: None)
    model = tiny_unet(tmp_path / "model")
    images = three_images(tmp_path / "images")
    argv = ["predict", str(model), str(images), "--tta", "none"]
    # Before any export: eager torch, named by the library's line as before (nothing chosen).
    assert main([*argv, "--out", str(tmp_path / "torch")]) == 0
    err = capsys.readouterr().err
    assert f"running torch fp32 on cpu ({model})" in err and "engine:" not in err
    assert main(["export", str(model)]) == 0
    capsys.readouterr()
    onnx = model / "export" / "model.onnx"
    for out, how in (("timed", "onnxruntime-fp32: fastest passing backend"), ("cached", "cached in ")):
        assert main([*argv, "--out", str(tmp_path / out)]) == 0
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if "backend auto ->" in line or "running " in line]
        assert len(lines) == 1, err  # one line, not the INFO lines beside it
        (line,) = lines
        assert line.startswith(
            f"engine: backend auto -> onnxruntime fp32 (the default --backend), running {onnx}: {how}"
        )
        assert line.endswith("; --backend torch to run PyTorch instead")
    # -q: no engine line, as no INFO line.
    assert main([*argv, "--out", str(tmp_path / "quiet"), "-q"]) == 0
    assert "engine" not in capsys.readouterr().err
    # A backend named outright chooses nothing: the library's line, as before.
    assert main([*argv, "--out", str(tmp_path / "named"), "--backend", "onnxruntime"]) == 0
    err = capsys.readouterr().err
    assert f"running onnxruntime fp32 ({onnx})" in err and "engine:" not in err
