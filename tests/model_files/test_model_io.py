"""save_model / load_model: safetensors round trip, run folders, Lightning checkpoints, clear errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open

from unetkit import __version__
from unetkit.model_files.model_config import CONFIG_NAME, WEIGHTS_NAME, ModelConfig
from unetkit.model_files.model_io import build_model, load_model, save_model
from unetkit.models import create_model

KWARGS: dict[str, Any] = {"in_channels": 1, "num_classes": 2, "base_channels": 4, "depth": 2}


def make_config(**overrides: Any) -> ModelConfig:
    data: dict[str, Any] = {
        "architecture": "unet",
        "model_kwargs": dict(KWARGS),
        "class_names": ["background", "cell"],
        "mean": [0.5],
        "std": [0.25],
    }
    data.update(overrides)
    return ModelConfig(**data)


def trained_unet() -> torch.nn.Module:
    """A unet whose BatchNorm statistics differ from a fresh one, so a lost buffer would show."""
    model = create_model("unet", **KWARGS)
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 1, 32, 32) * 3 + 1)  # updates running_mean/var
    return model.eval()


def lightning_ckpt(model: torch.nn.Module, config: ModelConfig | None, path: Path, **extra: Any) -> Path:
    """What Lightning writes for a module holding the network as ``self.model`` (subset of the keys)."""
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    state["criterion.weight"] = torch.ones(2)  # a training-wrapper buffer that is not part of the net
    hparams: dict[str, Any] = {"lr": 1e-3}
    if config is not None:
        hparams["model_config"] = config.to_dict()
    ckpt = {
        "epoch": 3,
        "global_step": 120,
        "pytorch-lightning_version": "2.6.6",
        "state_dict": state,
        "hyper_parameters": hparams,
        "optimizer_states": [],
        **extra,
    }
    torch.save(ckpt, path)
    return path


def outputs_equal(a: torch.nn.Module, b: torch.nn.Module) -> None:
    x = torch.randn(2, 1, 37, 45)
    with torch.no_grad():
        torch.testing.assert_close(b(x), a(x), rtol=0, atol=0)


def test_save_load_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    model, config = trained_unet(), make_config()
    out = save_model(model, config, tmp_path / "model")
    assert sorted(p.name for p in out.iterdir()) == sorted([CONFIG_NAME, WEIGHTS_NAME])  # no temp left
    loaded, loaded_config = load_model(out)
    # config.json also records the geometry the model states; everything else is the caller's config.
    assert loaded_config.geometry == model.geometry().to_dict() and config.geometry is None
    assert loaded_config == dataclasses.replace(config, geometry=loaded_config.geometry)
    assert not loaded.training
    outputs_equal(model, loaded)
    with safe_open(str(out / WEIGHTS_NAME), framework="pt") as f:
        assert f.metadata() == {"format": "pt", "unetkit_version": __version__, "architecture": "unet"}
        assert set(f.keys()) == set(model.state_dict())
    assert json.loads((out / CONFIG_NAME).read_text())["model_kwargs"] == KWARGS


def test_the_same_weights_save_to_the_same_bytes(tmp_path: Path) -> None:
    """safetensors writes its metadata from a hash map (another key order at each save): a reproduced
    model (fit --replay) must be checkable by its checksum."""
    model, config = trained_unet(), make_config()
    files = {
        save_model(model, config, tmp_path / f"m{i}").joinpath(WEIGHTS_NAME).read_bytes() for i in range(6)
    }
    assert len(files) == 1
    # Saving into an existing folder takes the same path.
    save_model(model, config, tmp_path / "m0")
    assert (tmp_path / "m0" / WEIGHTS_NAME).read_bytes() in files


def test_tuples_become_lists_so_a_json_round_trip_is_equal(tmp_path: Path) -> None:
    kwargs = {"in_channels": 1, "num_classes": 2, "channels": (4, 8), "kernel_sizes": (7, 5)}
    caller_kwargs = dict(kwargs)
    config = make_config(
        architecture="wide_cnn", model_kwargs=kwargs, mean=(0.5,), std=(0.25,), input_size=(32, 48)
    )
    assert config.model_kwargs == {
        "in_channels": 1,
        "num_classes": 2,
        "channels": [4, 8],
        "kernel_sizes": [7, 5],
    }
    assert (config.mean, config.std, config.input_size) == ([0.5], [0.25], [32, 48])
    assert kwargs == caller_kwargs  # the caller's dict is not mutated
    assert ModelConfig.load(config.save(tmp_path)) == config
    assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_save_into_existing_folder_keeps_other_files(tmp_path: Path) -> None:
    (tmp_path / "export").mkdir()
    save_model(trained_unet(), make_config(), tmp_path)
    model = trained_unet()  # different BatchNorm statistics from the first save (seeded differently)
    save_model(model, make_config(), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["export", CONFIG_NAME, WEIGHTS_NAME])
    outputs_equal(model, load_model(tmp_path)[0])


def test_failed_save_leaves_no_model_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(ModelConfig, "save", crash)  # weights written, then the config write fails
    with pytest.raises(OSError, match="disk full"):
        save_model(trained_unet(), make_config(), tmp_path / "model")
    assert list(tmp_path.iterdir()) == []


def test_run_folder_prefers_model_subfolder(tmp_path: Path) -> None:
    model, config = trained_unet(), make_config()
    save_model(model, config, tmp_path / "run" / "model")
    (tmp_path / "run" / "checkpoints").mkdir()
    # A checkpoint of a different network in the run folder must not be picked over model/.
    lightning_ckpt(create_model("unet", **KWARGS), config, tmp_path / "run" / "checkpoints" / "best.ckpt")
    outputs_equal(model, load_model(tmp_path / "run")[0])
    outputs_equal(model, load_model(tmp_path / "run" / "model" / WEIGHTS_NAME)[0])


def test_lightning_checkpoint_loads_without_prefix(tmp_path: Path) -> None:
    model, config = trained_unet(), make_config()
    path = lightning_ckpt(model, config, tmp_path / "last.ckpt")
    loaded, loaded_config = load_model(path)
    assert loaded_config == config
    assert not loaded.training
    outputs_equal(model, loaded)


def test_run_folder_without_model_falls_back_to_best_checkpoint(tmp_path: Path) -> None:
    model = trained_unet()
    (tmp_path / "checkpoints").mkdir()
    lightning_ckpt(model, make_config(), tmp_path / "checkpoints" / "best.ckpt")
    lightning_ckpt(create_model("unet", **KWARGS), make_config(), tmp_path / "checkpoints" / "last.ckpt")
    outputs_equal(model, load_model(tmp_path)[0])


class Payload:
    """Unpickling this would create the file ``marker`` (``open(marker, "w")``): code run by a checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_checkpoint_with_code_is_refused_naming_the_global(tmp_path: Path) -> None:
    marker = tmp_path / "payload_ran"
    path = lightning_ckpt(
        trained_unet(), make_config(), tmp_path / "evil.ckpt", callbacks={"x": Payload(marker)}
    )
    with pytest.raises(
        ValueError, match=r"evil\.ckpt: refusing to load: the checkpoint names the global \w*\.?open"
    ) as info:
        load_model(path)
    assert not marker.exists()  # the payload did not run
    # torch's text opens with advice to set weights_only=False: it is not quoted.
    assert "weights_only" not in str(info.value) and len(str(info.value).splitlines()) == 1


def test_checkpoint_without_model_config_is_explained(tmp_path: Path) -> None:
    path = lightning_ckpt(trained_unet(), None, tmp_path / "old.ckpt")
    with pytest.raises(ValueError, match=r"old\.ckpt: checkpoint has no hyper_parameters\['model_config'\]"):
        load_model(path)


def test_mismatching_weights_list_missing_unexpected_and_shapes(tmp_path: Path) -> None:
    save_model(trained_unet(), make_config(), tmp_path)
    wider = make_config(model_kwargs={**KWARGS, "base_channels": 8})
    wider.save(tmp_path)
    with pytest.raises(ValueError) as info:
        load_model(tmp_path)
    message = str(info.value)
    assert f"weights in {tmp_path / WEIGHTS_NAME} do not match architecture 'unet'" in message
    first = next(k for k, v in trained_unet().state_dict().items() if v.dim() > 0)
    assert f"shape mismatches [{first}: file (4, 1, 3, 3) vs model (8, 1, 3, 3), " in message
    count = int(message.split(" shape mismatches")[0].rsplit(" ", 1)[-1])
    small, wide = create_model("unet", **KWARGS).state_dict(), build_model(wider).state_dict()
    assert count == sum(small[k].shape != wide[k].shape for k in small) == 55  # all but the head bias
    assert ", ... (" in message  # only the first 10 are listed


def test_missing_and_unexpected_keys_are_listed(tmp_path: Path) -> None:
    model, config = trained_unet(), make_config()
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    dropped = sorted(state)[0]
    del state[dropped]
    state["model.extra.weight"] = torch.zeros(3)
    torch.save(
        {"state_dict": state, "hyper_parameters": {"model_config": config.to_dict()}}, tmp_path / "a.ckpt"
    )
    with pytest.raises(
        ValueError, match=r"1 missing keys \[(.+)\]; 1 unexpected keys \[extra\.weight\]"
    ) as info:
        load_model(tmp_path / "a.ckpt")
    assert dropped.removeprefix("model.") in str(info.value)
    loaded, _ = load_model(tmp_path / "a.ckpt", strict=False)  # tolerated (and logged) when not strict
    assert not loaded.training


@pytest.mark.parametrize("missing", [WEIGHTS_NAME, CONFIG_NAME])
def test_missing_file_in_model_folder(tmp_path: Path, missing: str) -> None:
    save_model(trained_unet(), make_config(), tmp_path)
    (tmp_path / missing).unlink()
    with pytest.raises(FileNotFoundError, match=rf"{missing} not found; a model folder must contain"):
        load_model(tmp_path)


def test_a_folder_holding_a_renamed_export_names_the_rename(tmp_path: Path) -> None:
    """A folder of nuclei.onnx + config.json said "model.safetensors not found ... (written by
    unetkit.model_files.save_model)", a Python API, and nothing of the .onnx there (re-check S5)."""
    make_config().save(tmp_path / CONFIG_NAME)
    (tmp_path / "nuclei.onnx").write_bytes(b"onnx")
    wording = r"it holds nuclei\.onnx: rename it to .*model\.onnx \(beside its"
    with pytest.raises(FileNotFoundError, match=wording):
        load_model(tmp_path)


def test_empty_folder_and_missing_path(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"no model found; a model folder must contain model.safetensors"
    ):
        load_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "nope")


def test_unknown_architecture_names_it_and_lists_options(tmp_path: Path) -> None:
    config = make_config()
    config.architecture = "unet3"  # ModelConfig refuses it up front; build_model still names it
    with pytest.raises(
        ValueError, match=r"architecture 'unet3' is not a registered model: .*Available: .*unet"
    ):
        build_model(config)


def test_bad_model_kwargs_name_the_architecture() -> None:
    # Refused when the config is made (a saved config with it could not be built later).
    with pytest.raises(TypeError, match=r"keyword of model 'unet' 'start_neurons'"):
        make_config(model_kwargs={**KWARGS, "start_neurons": 16})


def test_corrupt_safetensors_is_a_value_error(tmp_path: Path) -> None:
    save_model(trained_unet(), make_config(), tmp_path)
    (tmp_path / WEIGHTS_NAME).write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match=r"not a readable safetensors file"):
        load_model(tmp_path)


def test_load_model_leaves_the_global_rng_alone(tmp_path: Path) -> None:
    save_model(trained_unet(), make_config(), tmp_path / "m")
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    load_model(tmp_path / "m")
    assert torch.equal(torch.random.get_rng_state(), state)


def test_save_model_leaves_the_global_rng_alone(tmp_path: Path) -> None:
    model = trained_unet()
    state = torch.random.get_rng_state()
    save_model(model, make_config(), tmp_path / "m")
    assert torch.equal(torch.random.get_rng_state(), state)


def test_save_model_refuses_a_module_of_another_architecture(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"do not fit the config.*unexpected keys \[weight, bias\].*nothing"):
        save_model(torch.nn.Conv2d(3, 4, 1), make_config(), tmp_path / "d1")
    assert not (tmp_path / "d1").exists()


def test_save_model_refuses_weights_of_other_channels_and_classes(tmp_path: Path) -> None:
    other = create_model("unet", **{**KWARGS, "in_channels": 3, "num_classes": 4})
    (tmp_path / "d2").mkdir()  # an existing folder keeps what it had: nothing is written into it
    with pytest.raises(
        ValueError, match=r"3 shape mismatches.*weights \(4, 3, 3, 3\) vs config \(4, 1, 3, 3\)"
    ):
        save_model(other, make_config(), tmp_path / "d2")
    assert list((tmp_path / "d2").iterdir()) == []


def test_config_refuses_an_unknown_architecture_with_did_you_mean() -> None:
    with pytest.raises(ValueError, match=r"architecture: Unknown model 'unte'\. Did you mean 'unet'\?"):
        make_config(architecture="unte")
    with pytest.raises(TypeError, match=r"architecture must be a model name"):
        make_config(architecture=None)


def test_config_keeps_accepting_deprecated_and_detection_names() -> None:
    pixel = {"in_channels": 1, "num_classes": 2, "hidden_channels": 4}
    make_config(architecture="pixel_cnn", model_kwargs=pixel)  # an old config.json's name of pixel_classifier
    make_config(architecture="maskrcnn")  # built by unetkit.detection, not the registry


def test_config_refuses_class_names_that_do_not_count_the_classes() -> None:
    with pytest.raises(ValueError, match=r"3 class_names .* for num_classes=2; give one name per class"):
        make_config(class_names=["a", "b", "c"])


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"mean": [0.5, 0.5]}, ValueError, r"mean has 2 values for in_channels=1"),
        ({"std": [0.2, 0.2, 0.2]}, ValueError, r"std has 3 values for in_channels=1"),
        ({"std": [0.0]}, ValueError, r"std must be > 0"),
        ({"std": [-1.0]}, ValueError, r"std must be > 0"),
        ({"mean": ["0.5"]}, TypeError, r"mean must hold numbers"),
        ({"mean": [float("nan")]}, ValueError, r"mean must be finite"),
        ({"std": 0.25}, TypeError, r"std must be a list of numbers"),
        (
            {"intensity_window": [[4095.0, 0.0]]},
            ValueError,
            r"intensity_window must be \[\[lo, hi\], ...\] with lo < hi",
        ),
        ({"intensity_window": [[0.0, 1.0, 2.0]]}, ValueError, r"intensity_window must be"),
        ({"intensity_window": {"percentiles": [99.8, 1]}}, ValueError, r"needs 0 <= lo < hi <= 100"),
        (
            {"intensity_window": {"percentiles": [1, 99.8], "min_span": 0}},
            ValueError,
            r'takes only an optional "min_span" > 0',
        ),
        ({"intensity_window": {"percentiles": [1, 99.8], "span": 3}}, ValueError, r'optional "min_span"'),
        (
            {"model_kwargs": {**KWARGS, "in_channels": "1"}},
            ValueError,
            r"in_channels must be an integer >= 1",
        ),
        (
            {"model_kwargs": {**KWARGS, "num_classes": 0}, "class_names": []},
            ValueError,
            r"num_classes must be",
        ),
        ({"ignore_index": "255"}, TypeError, r"ignore_index must be an integer label value"),
        ({"ignore_index": 255.0}, TypeError, r"ignore_index must be an integer label value"),
        ({"input_size": [64]}, ValueError, r"input_size must be \[height, width\]"),
        ({"input_size": [64, 0]}, ValueError, r"input_size must be \[height, width\]"),
        ({"convert_channels": "yes"}, TypeError, r"convert_channels must be true or false"),
        (
            {"model_kwargs": {**KWARGS, "depht": 3}},
            TypeError,
            r"keyword of model 'unet' 'depht'. Did you mean 'depth'",
        ),
    ],
)
def test_config_refuses_bad_normalisation(overrides: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make_config(**overrides)


def test_config_accepts_windows_of_either_form() -> None:
    assert make_config(intensity_window=[[0.0, 4095.0]]).intensity_window == [[0.0, 4095.0]]
    assert make_config(intensity_window={"percentiles": [1.0, 99.8]}).intensity_window == {
        "percentiles": [1.0, 99.8]
    }
    spanned = {"percentiles": [1.0, 99.8], "min_span": 25.0}
    assert make_config(intensity_window=spanned).intensity_window == spanned


def test_config_accepts_one_mean_and_std_for_every_channel() -> None:
    config = make_config(model_kwargs={**KWARGS, "in_channels": 3})
    assert config.mean == [0.5] and config.std == [0.25]
    make_config(model_kwargs={**KWARGS, "in_channels": 3}, mean=[0.4, 0.5, 0.6], std=[0.2, 0.2, 0.2])


def test_old_config_json_still_loads(tmp_path: Path) -> None:
    # A config.json of an older run: no geometry, colours or window keys.
    data = {
        "architecture": "unet",
        "model_kwargs": dict(KWARGS),
        "class_names": ["background", "cell"],
        "mean": [0.5],
        "std": [0.25],
        "input_size": [64, 64],
        "ignore_index": 255,
        "extra": {},
    }
    (tmp_path / CONFIG_NAME).write_text(json.dumps(data))
    assert ModelConfig.load(tmp_path).geometry is None
