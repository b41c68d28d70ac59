"""``--backend auto``: the fastest passing backend, measured once, cached beside the model, invalidated by
another CPU or changed model files; eager PyTorch without an export; and the choice rule itself."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

pytest.importorskip("openvino")
pytest.importorskip("onnxruntime")

import unetkit.inference.auto_backend as auto
from unetkit.export.openvino import export_openvino
from unetkit.inference import bench
from unetkit.inference.backends import load_predictor
from unetkit.inference.ort_backend import OrtPredictor
from unetkit.inference.ov_backend import OvPredictor
from unetkit.inference.predictor import Predictor
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model

# Loads OpenVINO in the test process: runs in a pytest process of its own (see tests/conftest.py).
pytestmark = pytest.mark.openvino

KWARGS: dict[str, Any] = {"in_channels": 1, "num_classes": 2, "depth": 2, "base_channels": 4}


def tiny_folder(folder: Path, export: bool) -> Path:
    torch.manual_seed(0)
    model = create_model("unet", **KWARGS).eval()
    config = ModelConfig("unet", KWARGS, ["bg", "fg"], [0.5], [0.25])
    save_model(model, config, folder)
    if export:
        export_openvino(model, config, folder / "export", exporter="legacy")
    return folder


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_folder(tmp_path_factory.mktemp("auto") / "model", export=True)


@pytest.fixture
def model(exported: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(exported, tmp_path / "model"))


def row(name: str, images_per_s: float, passes: bool) -> bench.Measurement:
    backend, precision = name.rsplit("-", 1)
    return bench.Measurement(name, backend, precision, [1.0], images_per_s, 1.0, 1.0, 0.0, passes, "test")


def test_recommend_takes_the_fastest_passing_row() -> None:
    rows = [row("torch-fp32", 1, True), row("openvino-fp32", 3, True), row("openvino-int8", 9, False)]
    assert bench.recommend(rows) is rows[1]
    assert bench.recommend([row("openvino-int8", 9, False)]) is None


def test_fp32_verdict_needs_agreement_with_eager() -> None:
    fp32 = bench.Candidate("onnxruntime", "fp32", lambda **o: None)
    assert bench._verdict(fp32, 5e-5, 1e-4, None, None)[0]
    assert not bench._verdict(fp32, 2e-4, 1e-4, None, None)[0]
    # Without an eager model here: as exported, and said so (export may have been told --no-verify).
    passes, why = bench._verdict(fp32, None, 1e-4, None, None)
    assert passes and why.startswith("as exported") and "--no-verify" in why
    int8 = bench.Candidate("openvino", "int8", lambda **o: None, gate_passed=False)
    assert not bench._verdict(int8, 1e-6, 1e-4, None, None)[0]  # close logits do not replace the gate
    gated = bench.Candidate("openvino", "int8", lambda **o: None, gate_passed=True)
    assert bench._verdict(gated, 0.3, 1e-4, None, None)[0]
    measured = {"metric": "miou", "drop": 0.01}
    assert not bench._verdict(gated, 0.3, 1e-4, measured, 0.005)[0]  # a validation set here decides


def test_without_export_auto_is_torch_and_writes_no_cache(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path / "model", export=False)
    predictor = load_predictor(folder, backend="auto")
    assert isinstance(predictor, Predictor)
    assert not (folder / auto.CACHE_NAME).exists()
    # The predictor says what auto chose (serve reports it); one loaded by name says nothing.
    assert (auto.chosen_backend(predictor) or ())[:2] == ("torch", "fp32")
    assert auto.chosen_backend(load_predictor(folder, backend="torch")) is None


def test_measures_once_caches_and_reuses(
    model: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="unetkit"):
        predictor = load_predictor(model, backend="auto", tile_size=32)
    cache = json.loads((model / auto.CACHE_NAME).read_text())
    names = {r["name"] for r in cache["rows"]}
    assert {"torch-fp32", "openvino-fp32", "onnxruntime-fp32"} <= names
    assert cache["cpu"]["cpu_flags"] == auto.cpu_info()["cpu_flags"]
    passing = [r for r in cache["rows"] if r["passes_gate"]]
    fastest = max(passing, key=lambda r: r["images_per_s"])
    assert fastest["name"] == f"{cache['backend']}-{cache['precision']}"
    # Ungated reduced precision (bf16 on this export) is timed at most, never chosen.
    assert all(r["passes_gate"] is False for r in cache["rows"] if r["name"].endswith("bf16"))
    expected = {"torch": Predictor, "openvino": OvPredictor, "onnxruntime": OrtPredictor}[cache["backend"]]
    assert isinstance(predictor, expected) and predictor.tile_size == (32, 32)
    assert (auto.chosen_backend(predictor) or ())[:2] == (cache["backend"], cache["precision"])
    assert f"backend auto -> {cache['backend']} {cache['precision']}" in caplog.text
    assert "fastest passing backend" in caplog.text

    def no_measuring(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("measured again despite a valid cache")

    monkeypatch.setattr(auto, "measure", no_measuring)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="unetkit"):
        again = load_predictor(model, backend="auto")
    assert type(again) is type(predictor)
    assert "cached in" in caplog.text


def test_other_cpu_or_new_files_invalidate_the_cache(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    auto.choose(model)
    assert auto.read_cache(model, model / "export") is not None
    real = auto.cpu_info()
    monkeypatch.setattr(
        auto, "cpu_info", lambda: {**real, "cpu_flags": [f for f in real["cpu_flags"] if "avx512" not in f]}
    )
    assert auto.read_cache(model, model / "export") is None  # an AVX2-only CPU must measure again
    monkeypatch.undo()
    assert auto.read_cache(model, model / "export") is not None
    # Timed at the default thread count: a predictor at one thread (serve's workers) measures again.
    cache = json.loads((model / auto.CACHE_NAME).read_text())
    assert cache["threads"] is None and cache["input"] == {"size": auto.AUTO_SIZE, "batch": 1}
    assert auto.read_cache(model, model / "export", num_threads=1) is None
    onnx = model / "export" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes())  # re-exported: new modification time
    assert auto.read_cache(model, model / "export") is None


def test_fp32_backend_that_disagrees_is_not_chosen(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = OvPredictor._predict_batch
    monkeypatch.setattr(OvPredictor, "_predict_batch", lambda self, b: real(self, b) + 1e-3)
    built, _ = bench.build_predictors(bench.list_candidates(model))
    rows = {
        r.name: r for r in bench.measure(built, bench.bench_input(built["torch-fp32"][1], 32, 1), rounds=1)
    }
    assert not rows["openvino-fp32"].passes_gate and rows["openvino-fp32"].max_logit_diff > 1e-4
    assert rows["onnxruntime-fp32"].passes_gate and rows["torch-fp32"].passes_gate
    choice = auto.choose(model, refresh=True, size=32)
    assert (choice.backend, choice.precision) != ("openvino", "fp32") and not choice.cached


def test_auto_choice_predicts_like_torch(model: Path) -> None:
    image = np.random.default_rng(0).integers(0, 256, (40, 44), dtype=np.uint8)
    chosen = load_predictor(model, backend="auto").predict_probs(image)
    expected = load_predictor(model, backend="torch").predict_probs(image[..., None])
    np.testing.assert_allclose(chosen, expected, atol=1e-4)


def test_cached_choice_that_no_longer_loads_is_measured_again(model: Path) -> None:
    auto.choose(model)
    path = model / auto.CACHE_NAME
    data = json.loads(path.read_text())
    data.update(backend="onnxruntime", precision="int8")  # a variant this folder does not have
    path.write_text(json.dumps(data))
    assert auto.choose(model).cached
    predictor = load_predictor(model, backend="auto")
    rewritten = json.loads(path.read_text())
    assert rewritten["precision"] == "fp32" and rewritten["measured_utc"]
    # The choice measured again, not the stale cached one.
    assert (auto.chosen_backend(predictor) or ())[:2] == (rewritten["backend"], "fp32")
    assert predictor.predict(np.zeros((32, 32), dtype=np.uint8))[0].shape == (32, 32)


def engine_threads(built: dict[str, tuple[bench.Candidate, Any]]) -> dict[str, int]:
    """Each timed candidate's threads: onnxruntime's session, OpenVINO's compiled model, torch's process."""
    counts = {}
    for name, (_, predictor) in built.items():
        if isinstance(predictor, OrtPredictor):
            counts[name] = predictor.session.get_session_options().intra_op_num_threads
        elif isinstance(predictor, OvPredictor):
            counts[name] = int(predictor.compiled.get_property("INFERENCE_NUM_THREADS"))
        else:
            counts[name] = torch.get_num_threads()
    return counts


def test_timing_runs_at_the_threads_asked_for_and_puts_them_back(
    model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``unetkit serve`` times every engine at its workers' threads (tests/serve/test_serve_engine.py):
    eager PyTorch, onnxruntime and OpenVINO alike, so the choice is made as the workers will run."""
    before = torch.get_num_threads()
    # 1 thread asked for, torch at 2: the count differs from torch's and from OpenVINO's default (all cores,
    # on a machine with more than one).
    torch.set_num_threads(2)
    timed_at: list[dict[str, int]] = []
    real = auto.measure

    def measure(built: Any, *args: Any, **kwargs: Any) -> Any:
        timed_at.append(engine_threads(built))
        return real(built, *args, **kwargs)

    monkeypatch.setattr(auto, "measure", measure)
    try:
        auto.choose(model, size=32, num_threads=1)
        assert {"torch-fp32", "onnxruntime-fp32", "openvino-fp32"} <= set(timed_at[0])
        assert set(timed_at[0].values()) == {1}
        assert torch.get_num_threads() == 2  # put back
        auto.choose(model, refresh=True, size=32)  # None: torch's current count, the others' defaults
        assert timed_at[1]["torch-fp32"] == 2 and timed_at[1]["onnxruntime-fp32"] == 0
        assert auto.choose_for(model, device="cuda").backend == "torch"  # a GPU: eager, nothing timed
        assert auto.choose_for(model).cached  # the CPU at the count last timed: the cached choice
        assert len(timed_at) == 2
        # Another thread count than the cached choice's: timed again, at that count.
        assert not auto.choose_for(model, num_threads=1).cached
        assert len(timed_at) == 3 and set(timed_at[2].values()) == {1}
        assert auto.choose_for(model, num_threads=1).cached
    finally:
        torch.set_num_threads(before)


def test_a_choice_made_before_loads_at_the_threads_without_timing(
    model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a ``unetkit serve`` worker loads: the pool's choice (``choice``), its engine at the worker's
    threads, carried by the predictor (the engine ``GET /api/model`` names); nothing timed."""

    def no_measuring(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("timed although the choice was given")

    monkeypatch.setattr(auto, "measure", no_measuring)
    choice = auto.Choice("onnxruntime", "fp32", "chosen by the caller", model / "export")
    predictor = load_predictor(model, backend="auto", choice=choice, num_threads=2)
    assert isinstance(predictor, OrtPredictor) and auto.chosen_backend(predictor) == choice
    assert predictor.session.get_session_options().intra_op_num_threads == 2
    with pytest.raises(TypeError, match=r"choice must be an auto_backend\.Choice"):
        load_predictor(model, backend="auto", choice="onnxruntime")
