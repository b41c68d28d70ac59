"""Shared pytest fixtures."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

# Test models are tiny and some tests run subprocesses beside this one: one intra-op thread avoids
# oversubscribed OpenMP threads waiting on each other (measured 10x slower on the 2-core CI machine).
torch.set_num_threads(1)

SHARED_DATA = Path(
    os.environ.get("UNETKIT_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; skips the test when it is absent."""
    path = SHARED_DATA.resolve()
    if not path.is_dir():
        pytest.skip(f"shared data folder not found at {path}")
    return path


@pytest.fixture(autouse=True)
def _idle_for_backend_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    """backend auto times a choice again once a busy machine is idle (auto_backend.read_cache): under the
    suite's own load that would make the cached-choice tests depend on the load average. The tests of that
    rule patch ``busy_load`` themselves."""
    import unetkit.inference.auto_backend as auto

    monkeypatch.setattr(auto, "busy_load", lambda: None)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One torch thread in every test, whatever an earlier test's CLI call set (``--threads``, the plan's
    thread probe: the CLI owns the process), restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session", autouse=True)
def _cache_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every cache (unetkit's synthetic data and weight maps, anything under XDG_CACHE_HOME) goes to one
    temp folder per test session, never to ~/.cache/unetkit: tests must not write outside pytest's temp
    dirs. Session-wide so that tests still share the generated synthetic data; subprocesses inherit it."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UNETKIT_CACHE", str(cache / "unetkit"))
        mp.setenv("XDG_CACHE_HOME", str(cache))
        yield cache


@pytest.fixture
def maskrcnn_without_torchvision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Mask R-CNN model folder whose loader fails to import torchvision, as where it is not installed
    (predict and serve load it through one loader: instance_predictor._load_maskrcnn)."""
    from unetkit.inference import instance_predictor as ip

    (tmp_path / "loader_needing_torchvision.py").write_text("import torchvision\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "torchvision", None)  # any import of torchvision now fails
    monkeypatch.setattr(ip, "MASKRCNN_LOADER", ("loader_needing_torchvision", "load_maskrcnn_predictor"))
    model = tmp_path / "maskrcnn"
    model.mkdir()
    (model / "config.json").write_text('{"architecture": "maskrcnn"}')
    return model


@pytest.fixture
def failing_savefig(monkeypatch: pytest.MonkeyPatch) -> str:
    """matplotlib's ``Figure.savefig`` writes some bytes to its target, then fails (OSError) as a real
    failure half-way through encoding would; returns the error's text."""
    from matplotlib.figure import Figure

    message = "disk full while drawing"

    def half_written(self: Figure, fname: Any, **kwargs: object) -> None:
        if hasattr(fname, "write"):
            fname.write(b"\x89PNG\r\n half")
        else:
            Path(fname).write_bytes(b"\x89PNG\r\n half")
        raise OSError(message)

    monkeypatch.setattr(Figure, "savefig", half_written)
    return message


@pytest.hookimpl(trylast=True)  # after -m/-k deselection
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Once OpenVINO's runtime is loaded in a process, a later fork() (DataLoader workers, subprocesses) made
    # the pytest process die with SIGSEGV (seen here on torch 2.13 + openvino 2026.4, also with vfork off).
    # So the tests that load it run in a pytest process of their own: scripts/test.sh runs
    # `pytest -m "not openvino"` and then `pytest -m openvino`. A session that collected both kinds skips the
    # OpenVINO ones and says how to run them, instead of crashing.
    ov = [item for item in items if item.get_closest_marker("openvino") is not None]
    if ov and len(ov) < len(items):
        skip = pytest.mark.skip(reason="loads OpenVINO: run in its own process with `pytest -m openvino`")
        for item in ov:
            item.add_marker(skip)


class FakeDetector:
    """Stand-in for the Mask R-CNN predictor: one instance per connected blob brighter than the threshold."""

    def predict_instances(self, image: Any, score_threshold: float = 0.5, mask_threshold: float = 0.5) -> Any:
        import numpy as np
        from scipy import ndimage as ndi

        labels, _ = ndi.label(image[..., 0] >= score_threshold * 255)
        return labels.astype(np.int32)


@pytest.fixture
def fake_maskrcnn_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Mask R-CNN model folder (its config.json) whose loader gives a :class:`FakeDetector`: the CLI and
    the instance API without training or running a detector."""
    import json
    import types

    from unetkit.inference import instance_predictor as ip

    module = types.ModuleType("fake_maskrcnn_loader")
    module.load_maskrcnn_predictor = lambda model_dir: FakeDetector()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(ip, "MASKRCNN_LOADER", (module.__name__, "load_maskrcnn_predictor"))
    folder = tmp_path / "maskrcnn"
    folder.mkdir()
    config = {"architecture": "maskrcnn", "class_names": ["background", "nucleus"], "model_kwargs": {}}
    (folder / "config.json").write_text(json.dumps(config))
    return folder
