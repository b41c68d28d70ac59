"""load_instance_predictor: one "image -> instance labels" interface for semantic models and Mask R-CNN."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from unetkit.inference import instance_predictor as ip
from unetkit.inference.instance_predictor import (
    InstancePredictor,
    instance_predictor_for,
    keep_large_instances,
    load_instance_predictor,
)
from unetkit.inference.instances import instances_from_mask
from unetkit.model_files.model_config import ModelConfig


def save_unet(folder: Path, num_classes: int, extra: dict[str, Any] | None = None) -> Path:
    """A tiny untrained U-Net model folder (1 channel in)."""
    import torch

    from unetkit.model_files.model_io import save_model
    from unetkit.models import create_model

    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "num_classes": num_classes, "depth": 2, "base_channels": 4}
    names = ["background", *[f"c{i}" for i in range(1, num_classes)]]
    config = ModelConfig("unet", kwargs, class_names=names, mean=[0.5], std=[0.25], extra=extra or {})
    return save_model(create_model("unet", **kwargs), config, folder)


def save_threshold_model(folder: Path) -> Path:
    """A 2-class model that is a fixed threshold: class 1 where the normalised gray value exceeds 1 (a 1x1
    pixel classifier with set weights), so its masks are known shapes, unlike an untrained U-Net's."""
    import torch

    from unetkit.model_files.model_io import save_model
    from unetkit.models import create_model

    kwargs = {"in_channels": 1, "num_classes": 2, "hidden_channels": 1, "num_layers": 1, "norm": "none"}
    model = create_model("pixel_classifier", **kwargs)
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
        first, head = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        first.weight.fill_(1.0)  # h = relu((x / 255 - 0.5) / 0.25)
        head.weight[1].fill_(1.0)
        head.bias[1] = -1.0  # logit 1 - logit 0 = h - 1
    config = ModelConfig("pixel_classifier", kwargs, ["bg", "fg"], [0.5], [0.25])
    return save_model(model, config, folder)


def discs_image() -> np.ndarray:
    """uint8 (40, 36, 1): two touching bright discs and a lone one."""
    image = np.zeros((40, 36, 1), np.uint8)
    yy, xx = np.mgrid[:40, :36]
    for cy, cx in [(10, 10), (10, 18), (28, 20)]:
        image[(yy - cy) ** 2 + (xx - cx) ** 2 <= 25] = 220
    return image


class StubPredictor:
    """A torch-free semantic predictor that returns a fixed (mask, probs) for any image."""

    def __init__(self, mask: np.ndarray, probs: np.ndarray, extra: dict[str, Any] | None = None) -> None:
        k = probs.shape[0]
        self.config = ModelConfig(
            "unet", {"in_channels": 1, "num_classes": k}, ["bg", *[f"c{i}" for i in range(1, k)]],
            [0.5], [0.25], extra=extra or {},
        )  # fmt: skip
        self.mask, self.probs = mask, probs
        self.calls = 0

    def predict(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        return self.mask, self.probs


def interior_band_case() -> tuple[np.ndarray, np.ndarray]:
    """Two interior seeds and a boundary band whose split depends on p(interior) (see test_instances)."""
    mask = np.zeros((3, 10), dtype=np.uint8)
    mask[:, 0:2] = 1
    mask[:, 2:8] = 2
    mask[:, 8:10] = 1
    probs = np.zeros((3, 3, 10), dtype=np.float32)
    probs[1] = (mask == 1).astype(np.float32)
    probs[1, :, 2:7] = 0.4
    probs[1, :, 7] = 0.05
    probs[2] = 1 - probs[1]
    probs[0] = 0.0
    return mask, probs


def test_semantic_model_is_its_predictor_then_instances_from_mask(tmp_path: Path) -> None:
    from unetkit.inference.backends import load_predictor

    model = save_threshold_model(tmp_path / "model")
    image = discs_image()
    predictor = load_instance_predictor(model, "watershed", min_size=3, min_distance=3)
    labels, count = predictor.predict_instances(image)
    mask, probs = load_predictor(model).predict(image)
    np.testing.assert_array_equal(mask, image[..., 0] > 127)
    expected, n = instances_from_mask(mask, [1], "watershed", 3, probs=probs, min_distance=3)
    np.testing.assert_array_equal(labels, expected)
    assert count == n == 3 and labels.dtype == np.int32 and labels.shape == (40, 36)
    assert instances_from_mask(mask, [1], "components")[1] == 2  # the method matters on this image
    assert predictor.method == "watershed"
    assert predictor.params == {"foreground": [1], "min_size": 3, "min_distance": 3, "tta": False}
    assert predictor.num_parameters() == sum(
        p.numel()
        for p in predictor.predictor.model.parameters()  # type: ignore[attr-defined]
    )


def test_probabilities_reach_the_instance_method() -> None:
    mask, probs = interior_band_case()
    stub = StubPredictor(mask, probs)
    labels, count = instance_predictor_for(stub, "boundary").predict_instances(np.zeros((3, 10, 1), np.uint8))
    by_probs, _ = instances_from_mask(mask, [1, 2], "boundary", probs=probs)
    by_distance, _ = instances_from_mask(mask, [1, 2], "boundary")
    assert not np.array_equal(by_probs, by_distance)  # the case can tell them apart
    np.testing.assert_array_equal(labels, by_probs)
    assert count == 2 and stub.calls == 1


def test_auto_uses_the_models_recorded_method_and_classes_else_components() -> None:
    mask, probs = interior_band_case()
    recorded = {"instance_method": "boundary", "instance_classes": [1, 2], "instance_target": "boundary"}
    auto = instance_predictor_for(StubPredictor(mask, probs, recorded), "auto")
    assert auto.method == "boundary" and auto.params["foreground"] == [1, 2]
    assert auto.predict_instances(np.zeros((3, 10, 1), np.uint8))[1] == 2
    plain = instance_predictor_for(StubPredictor(mask, probs), "auto")
    assert plain.method == "components" and plain.predict_instances(np.zeros((3, 10, 1), np.uint8))[1] == 1
    # Energy levels: the recorded classes (not "every class but 0") are what the method reads.
    levels = {"instance_method": "components", "instance_classes": [2], "instance_target": "semantic"}
    only_two = instance_predictor_for(StubPredictor(mask, probs, levels), "auto")
    assert only_two.params["foreground"] == [2]
    np.testing.assert_array_equal(
        only_two.predict_instances(np.zeros((3, 10, 1), np.uint8))[0] > 0, mask == 2
    )


def test_unknown_and_unfitting_methods_are_one_line_errors(tmp_path: Path) -> None:
    two = save_unet(tmp_path / "two", 2)
    with pytest.raises(ValueError, match="watershd") as info:
        load_instance_predictor(two, "watershd")
    assert "watershed" in str(info.value)  # the options are listed (did you mean)
    with pytest.raises(ValueError, match=r"'boundary' does not fit a 2-class semantic model") as info:
        load_instance_predictor(two, "boundary")
    assert "methods that fit: components, watershed" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ValueError, match="needs a Mask R-CNN model folder"):
        load_instance_predictor(two, "maskrcnn")
    with pytest.raises(ValueError, match="score_threshold applies to Mask R-CNN"):
        load_instance_predictor(two, "components", score_threshold=0.3)
    mask, probs = interior_band_case()
    semantic = StubPredictor(mask, probs, {"instance_target": "semantic"})
    with pytest.raises(ValueError, match="does not fit a 3-class semantic model"):
        instance_predictor_for(semantic, "boundary")
    energy = StubPredictor(mask, probs, {"instance_target": "energy", "instance_method": "energy"})
    with pytest.raises(ValueError, match=r"'boundary' does not fit a 3-class model trained for 'energy'"):
        instance_predictor_for(energy, "boundary")
    with pytest.raises(ValueError, match=r"foreground classes \[5\] do not fit a model of 3 classes"):
        instance_predictor_for(StubPredictor(mask, probs), "components", foreground=[5])


def test_with_params_reuses_the_model_and_keeps_large_objects() -> None:
    mask = np.zeros((8, 12), dtype=np.uint8)
    mask[1:6, 1:6] = 1  # 25 px
    mask[2:4, 9:11] = 1  # 4 px
    probs = np.stack([1.0 - mask, mask]).astype(np.float32)
    stub = StubPredictor(mask, probs)
    base = instance_predictor_for(stub, "components")
    assert base.predict_instances(np.zeros((8, 12, 1), np.uint8))[1] == 2
    bigger = base.with_params(min_size=5)
    assert bigger.params["min_size"] == 5 and base.params["min_size"] == 0
    labels, count = bigger.predict_instances(np.zeros((8, 12, 1), np.uint8))
    assert count == 1 and labels[2, 9] == 0 and labels[3, 3] == 1
    with pytest.raises(ValueError, match="'score_threshold' is not a parameter of instance method"):
        base.with_params(score_threshold=0.2)
    sparse = np.zeros((4, 5), dtype=np.int64)
    sparse[0, :2], sparse[2, :], sparse[3, 4] = 70000, 9, 3
    kept, n = keep_large_instances(sparse, 2)
    assert n == 2 and kept.dtype == np.int32 and kept[2, 0] == 1 and kept[0, 0] == 2 and kept[3, 4] == 0


# ------------------------------------------------------------------------------------ Mask R-CNN stand-in
class FakeDetector:
    """Stand-in for unetkit.detection.maskrcnn's predictor: one object per bright connected blob, scored by
    its mean brightness."""

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self.calls: list[tuple[float, float]] = []

    def predict_instances(
        self, image: np.ndarray, score_threshold: float = 0.5, mask_threshold: float = 0.5
    ) -> np.ndarray:
        from scipy import ndimage as ndi

        self.calls.append((score_threshold, mask_threshold))
        blobs, n = ndi.label(image[..., 0] > 0)
        out = np.zeros(image.shape[:2], dtype=np.int32)
        for k in range(1, n + 1):
            if image[..., 0][blobs == k].mean() / 255.0 >= score_threshold:
                out[blobs == k] = out.max() + 1
        return out


@pytest.fixture
def fake_maskrcnn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Mask R-CNN run folder (RUN/model/config.json) whose loader is FakeDetector."""
    module = types.ModuleType("fake_maskrcnn_loader")
    module.load_maskrcnn_predictor = lambda model_dir, device="cpu": FakeDetector(model_dir)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(ip, "MASKRCNN_LOADER", (module.__name__, "load_maskrcnn_predictor"))
    model = tmp_path / "mrcnn_run" / "model"
    model.mkdir(parents=True)
    (model / "config.json").write_text(
        json.dumps({"architecture": "maskrcnn", "class_names": ["bg", "nucleus"]})
    )
    return model.parent


def test_maskrcnn_folder_is_found_and_auto_picks_it(fake_maskrcnn: Path, tmp_path: Path) -> None:
    image = np.zeros((10, 12, 3), dtype=np.uint8)
    image[1:4, 1:4] = 250  # bright: score 0.98
    image[6:9, 6:11] = 100  # dim: score 0.39
    image[0, 11] = 250  # 1 px
    auto = load_instance_predictor(fake_maskrcnn, device="cpu", tile_size=64)  # tiling options dropped
    assert isinstance(auto, InstancePredictor) and auto.method == "maskrcnn" and not auto.has_probs
    assert auto.class_names == ["background", "nucleus"] and auto.in_channels == 3
    labels, count = auto.predict_instances(image)
    assert labels.max() == count == 2 and auto.detector.calls == [(0.5, 0.5)]  # type: ignore[attr-defined]
    strict = load_instance_predictor(fake_maskrcnn / "model", "maskrcnn", score_threshold=0.3, min_size=2)
    prediction = strict.predict(image)
    assert prediction.count == 2 and prediction.labels[0, 11] == 0 and prediction.labels[7, 7] > 0
    np.testing.assert_array_equal(prediction.mask, prediction.labels > 0)
    assert strict.params == {"score_threshold": 0.3, "mask_threshold": 0.5, "min_size": 2}
    assert strict.with_params(score_threshold=0.9).predict_instances(image)[1] == 1
    with pytest.raises(ValueError, match=r"is a Mask R-CNN model; instance method 'watershed'.*maskrcnn"):
        load_instance_predictor(fake_maskrcnn, "watershed")
    with pytest.raises(ValueError, match="test-time augmentation is not available"):
        load_instance_predictor(fake_maskrcnn, tta=True)


def test_a_real_maskrcnn_model_folder_goes_through_the_same_interface(tmp_path: Path) -> None:
    """helper M's loader (unetkit.detection): an untrained Mask R-CNN saved as a run folder."""
    import torch

    detection = pytest.importorskip("unetkit.detection")
    torch.manual_seed(0)
    model = detection.build_maskrcnn(num_classes=2)
    detection.save_maskrcnn(model, detection.maskrcnn_config({"num_classes": 2}), tmp_path / "run" / "model")
    predictor = load_instance_predictor(tmp_path / "run", device="cpu", tile_size=64)
    assert predictor.method == "maskrcnn" and predictor.in_channels == 3
    assert predictor.num_parameters() == sum(p.numel() for p in model.parameters())
    image = np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    labels, count = predictor.with_params(score_threshold=0.0, min_size=4).predict_instances(image)
    assert labels.shape == (48, 40) and labels.dtype == np.int32 and int(labels.max()) == count
    sizes = np.bincount(labels.ravel())[1:]
    assert count > 0 and (sizes >= 4).all()  # an untrained detector finds noise; min_size still applies


def installed_torch() -> str:
    """The installed torch's version without its local label (``2.14.1``, not ``2.14.1+cpu``)."""
    import importlib.metadata

    return importlib.metadata.version("torch").split("+")[0]


def core_pin(package: str) -> str:
    """``package``'s requirement in pyproject.toml's [project] dependencies (e.g. ``torchvision>=0.17``)."""
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M)
    assert block is not None
    (pin,) = re.findall(rf'"({re.escape(package)}\b[^"]*)"', block.group(1))
    return str(pin)


@pytest.fixture
def maskrcnn_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``load(statement)``: load a Mask R-CNN run folder whose loader module runs ``statement`` on import;
    returns the run folder and the error."""
    run = tmp_path / "mrcnn_run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "config.json").write_text(json.dumps({"architecture": "maskrcnn"}))
    monkeypatch.syspath_prepend(str(tmp_path))

    def load(statement: str, name: str) -> tuple[Path, BaseException]:
        (tmp_path / f"{name}.py").write_text(f"{statement}\n\ndef load_maskrcnn_predictor(folder): ...\n")
        monkeypatch.setattr(ip, "MASKRCNN_LOADER", (name, "load_maskrcnn_predictor"))
        with pytest.raises(BaseException) as info:
            load_instance_predictor(run)
        return run, info.value

    return load


@pytest.mark.parametrize("package", ["torchvision", "torch"])
def test_a_missing_detection_package_is_one_line_naming_its_pip_install(
    maskrcnn_loading: Any, monkeypatch: pytest.MonkeyPatch, package: str
) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # as if not installed: any import of it fails
    run, error = maskrcnn_loading(f"import {package}", f"loader_without_{package}")
    assert isinstance(error, ValueError)
    # The pin of pyproject.toml (torchvision is a core dependency, no extra), quoted for the shell.
    assert ip._requirement(package) == core_pin(package)
    keep_torch = f" 'torch=={installed_torch()}'" if package == "torchvision" else ""
    assert str(error) == (
        f"{run} is a Mask R-CNN model, which needs {package} (not installed): "
        f"pip install '{core_pin(package)}'{keep_torch}"
    )


def test_an_installed_package_that_fails_to_import_asks_for_an_upgrade(maskrcnn_loading: Any) -> None:
    pytest.importorskip("torchvision")
    run, error = maskrcnn_loading("import torchvision.no_such_module", "loader_old_torchvision")
    assert isinstance(error, ValueError) and "\n" not in str(error)
    assert str(error) == (
        f"{run} is a Mask R-CNN model, which needs torchvision (the installed one fails: No module named "
        f"'torchvision.no_such_module'): pip install --upgrade '{core_pin('torchvision')}' "
        f"'torch=={installed_torch()}'"
    )


def test_a_broken_unetkit_module_is_not_reported_as_a_missing_package(maskrcnn_loading: Any) -> None:
    _, error = maskrcnn_loading("import unetkit.no_such_module", "loader_broken_unetkit")
    assert isinstance(error, ModuleNotFoundError) and error.name == "unetkit.no_such_module"


def test_background_is_no_foreground_and_a_detector_takes_tta_none(fake_maskrcnn_dir: Path) -> None:
    """A trial: foreground [0, 1] made the whole image one object; tta="none" was refused for a Mask R-CNN
    (the CLI's --tta none is what the model does anyway)."""
    maskrcnn_dir = fake_maskrcnn_dir
    mask, probs = interior_band_case()
    with pytest.raises(
        ValueError, match=r"foreground classes \[0, 1\] do not fit .*name class indices in 1\.\.2"
    ):
        instance_predictor_for(StubPredictor(mask, probs), "components", foreground=[0, 1])
    load_instance_predictor(maskrcnn_dir, tta="none")  # accepted
    with pytest.raises(ValueError, match=r"drop tta='flips' \(or pass tta='none'\)"):
        load_instance_predictor(maskrcnn_dir, tta="flips")


def test_an_untuned_watershed_says_it_runs_its_defaults(caplog: pytest.LogCaptureFixture) -> None:
    """A re-check: a model trained before fit compared the watershed ran it untuned without a word."""
    import logging

    from unetkit.inference.instance_selection import RECORD_KEY

    mask, probs = interior_band_case()
    with caplog.at_level(logging.INFO, logger="unetkit"):
        instance_predictor_for(StubPredictor(mask, probs), "watershed")
    assert "watershed runs with its defaults (min_distance 5, min_size 0)" in caplog.text
    # Retraining a model of binary masks with fit would not tune it (a README trial): the line says when fit
    # does, and does not advise it.
    assert "only for models trained on instance labels" in caplog.text and "train it again" not in caplog.text
    caplog.clear()
    tuned = {RECORD_KEY: {"method": "watershed", "values": {"min_size": 20, "min_distance": 11}}}
    with caplog.at_level(logging.INFO, logger="unetkit"):
        instance_predictor_for(StubPredictor(mask, probs), "watershed", min_distance=7)
        chosen = instance_predictor_for(StubPredictor(mask, probs, tuned), "watershed")
    assert "defaults" not in caplog.text and chosen.params["min_distance"] == 11
