"""Trial 23, F4 and F10: predict records the engine that ran (metrics.json, summary.csv) and says that
INT8 results can differ from PyTorch's; an export folder shipped alone is offered no ``--backend torch``
(nothing there for it to load), and ``--backend torch`` on it says it holds no PyTorch weights."""

from __future__ import annotations

import csv
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_models import three_images, tiny_unet
from PIL import Image

from unetkit.cli.main import main
from unetkit.cli.predict import engine_note
from unetkit.inference.auto_backend import Choice

pytest.importorskip("onnxruntime")


class _Engine:
    """A predictor as backend auto leaves it: its engine and the choice."""

    def __init__(self, backend: str, precision: str, path: Path, choice: Choice) -> None:
        self._engine = (backend, precision, path)
        self.auto_choice = choice  # what auto_backend.chosen_backend reads

    def engine(self) -> tuple[str, str, Path]:
        return self._engine


def _chose() -> list[logging.LogRecord]:
    record = logging.LogRecord("unetkit", logging.INFO, "", 0, "backend auto -> x", None, None)
    return [record]


def _export(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.xml").write_text("<net/>")
    return folder


def test_an_int8_engine_line_says_results_can_differ_and_how_to_pin_pytorch(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "model.safetensors").write_bytes(b"")
    export = _export(run / "export")
    int8 = export / "int8-openvino" / "model.xml"
    choice = Choice("openvino", "int8", "openvino-int8: fastest passing backend", export)
    line = engine_note(_Engine("openvino", "int8", int8, choice), _chose(), run)
    assert line.startswith(f"engine: backend auto -> openvino int8 (the default --backend), running {int8}: ")
    assert line.endswith(
        "; INT8 results (masks, counts, scores) can differ slightly from PyTorch's; --backend torch to run "
        "PyTorch instead"
    )
    # fp32: no INT8 words, the hint as before.
    choice = Choice("openvino", "fp32", "openvino-fp32: fastest passing backend", export)
    line = engine_note(_Engine("openvino", "fp32", export / "model.xml", choice), _chose(), run)
    assert "INT8" not in line and line.endswith("; --backend torch to run PyTorch instead")


def test_an_export_folder_shipped_alone_is_offered_no_backend_torch(tmp_path: Path) -> None:
    export = _export(tmp_path / "colleague" / "export")
    choice = Choice("openvino", "fp32", "openvino-fp32: fastest passing backend", export)
    line = engine_note(_Engine("openvino", "fp32", export / "model.xml", choice), _chose(), export)
    assert "--backend torch to run PyTorch instead" not in line
    assert line.endswith(
        "; PyTorch is not in this export folder: to run it, ship the run's model/ folder beside it and "
        "predict that folder with --backend torch"
    )
    # The run's model/ shipped beside it: that folder is named.
    beside = tmp_path / "colleague" / "model"
    beside.mkdir()
    (beside / "model.safetensors").write_bytes(b"")
    line = engine_note(_Engine("openvino", "fp32", export / "model.xml", choice), _chose(), export)
    assert line.endswith(f"; to run PyTorch instead, predict {beside} --backend torch (this export folder "
                         "holds no PyTorch weights)")  # fmt: skip


def test_predict_records_the_engine_and_backend_torch_on_a_shipped_export_says_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tiny_unet(tmp_path / "model")
    images = three_images(tmp_path / "images")
    masks = tmp_path / "masks"
    masks.mkdir()
    for name in ("a", "b", "c"):
        with Image.open(images / f"{name}.png") as img:
            Image.fromarray((np.asarray(img) > 128).astype(np.uint8)).save(masks / f"{name}.png")
    assert main(["export", str(model)]) == 0
    shipped = tmp_path / "colleague" / "export"
    shutil.copytree(model / "export", shipped)
    capsys.readouterr()
    out = tmp_path / "out"
    argv = ["predict", str(shipped), str(images), "--tta", "none", "--masks", str(masks), "--out", str(out)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("engine:")]
    assert "--backend torch to run PyTorch instead" not in line and "ship the run's model/ folder" in line
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["engine"] == "onnxruntime fp32" and metrics["engine_model"] == str(shipped / "model.onnx")
    with (out / "summary.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [row["engine"] for row in rows] == ["onnxruntime fp32"] * 3
    # The engine last, after the mask file and the image's own scores.
    assert list(rows[0])[-1] == "engine" and list(rows[0]).index("mask_file") < list(rows[0]).index("miou")
    # Following the old hint: the error says this export folder holds no PyTorch weights, and where they are.
    argv = ["predict", str(shipped), str(images), "--backend", "torch", "--out", str(tmp_path / "torch")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert (
        f"{shipped} is an export folder (model.onnx): it holds no PyTorch weights (model.safetensors)" in err
    )
    assert "the run's model/ folder (or the run folder)" in err
    assert "a model folder must contain" not in err
    # Eager torch records its engine too.
    argv = ["predict", str(model), str(images), "--backend", "torch", "--tta", "none", "--masks", str(masks)]
    assert main([*argv, "--out", str(tmp_path / "eager")]) == 0
    assert json.loads((tmp_path / "eager" / "metrics.json").read_text())["engine"] == "torch fp32 on cpu"


def test_loading_an_export_folder_as_pytorch_names_the_model_folder_beside_it(tmp_path: Path) -> None:
    from unetkit.model_files.model_io import load_model

    model = tiny_unet(tmp_path / "run" / "model")
    export = _export(tmp_path / "run" / "export")
    with pytest.raises(FileNotFoundError) as info:
        load_model(export)
    assert str(info.value).startswith(
        f"{export} is an export folder (model.xml): it holds no PyTorch weights"
    )
    assert f"to run PyTorch, pass {model} (or {tmp_path / 'run'}, which holds it)" in str(info.value)
    # A folder that is no export folder keeps the model-folder message.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors not found; a model folder must contain"):
        load_model(tmp_path / "other")
