"""One contract for every registered model: shapes, geometry, gradients, state dict, save/load, export and
channel arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch.export import Dim

from unetkit.geometry import geometry_from_config
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import load_model, save_model
from unetkit.models import create_model, list_models
from unetkit.models.base import forward_any_size

# Tiny configurations of every registered model (reused by the training tests). A new model must add a row.
SMALL_KWARGS: dict[str, dict[str, Any]] = {
    "unet": {"base_channels": 4, "depth": 2},
    "unet_original": {"base_channels": 4, "depth": 2},
    "encoder_decoder": {"base_channels": 4, "depth": 2},
    "fcn32s": {"encoder_channels": (4, 4, 8, 8, 8), "convs_per_stage": (1, 1, 1, 1, 1), "head_channels": 8},
    "fcn16s": {"encoder_channels": (4, 4, 8, 8, 8), "convs_per_stage": (1, 1, 1, 1, 1), "head_channels": 8},
    "fcn8s": {"encoder_channels": (4, 4, 8, 8, 8), "convs_per_stage": (1, 1, 1, 1, 1), "head_channels": 8},
    "segnet": {"channels": (4, 8, 8), "convs_per_stage": (1, 1, 1)},
    "pixel_classifier": {"hidden_channels": 8},
    "wide_cnn": {"channels": (4, 8), "kernel_sizes": (7, 5)},
    "fcn_reshape": {"input_size": 32, "channels": (4, 8), "hidden_features": 16},
}

# (H, W) inputs per model: odd and even sizes, except where the architecture restricts them.
INPUT_SIZES: dict[str, list[tuple[int, int]]] = {
    "unet_original": [(44, 52), (48, 48)],  # valid sizes for depth 2 (4k, k >= 11)
    "fcn_reshape": [(32, 32)],
}
DEFAULT_SIZES = [(37, 45), (64, 64)]


def build(name: str, in_channels: int = 3, num_classes: int = 5) -> torch.nn.Module:
    return create_model(name, in_channels=in_channels, num_classes=num_classes, **SMALL_KWARGS[name])


def expected_size(name: str, model: torch.nn.Module, size: tuple[int, int]) -> tuple[int, int]:
    if name == "unet_original":
        return model.output_size(size[0]), model.output_size(size[1])
    return size


def test_every_model_has_small_kwargs() -> None:
    assert sorted(SMALL_KWARGS) == list_models()


@pytest.mark.parametrize("name", list_models())
def test_output_shape_and_attributes(name: str) -> None:
    model = build(name).eval()
    assert (model.in_channels, model.num_classes) == (3, 5)
    assert isinstance(model.size_divisor, int) and model.size_divisor >= 1
    for size in INPUT_SIZES.get(name, DEFAULT_SIZES):
        with torch.no_grad():
            logits = model(torch.randn(2, 3, *size))
        assert logits.shape == (2, 5, *expected_size(name, model, size))
        assert size[0] - logits.shape[-2] == 2 * model.border  # context lost per side (0 when padded)
        assert logits.dtype == torch.float32


def _forward_or_error(model: torch.nn.Module, size: tuple[int, int]) -> tuple[int, int] | None:
    """Output (H', W') of a real forward pass, or None when the model refuses the size."""
    try:
        with torch.no_grad():
            out = model(torch.randn(1, 3, *size))
    except (ValueError, RuntimeError):
        return None
    return int(out.shape[-2]), int(out.shape[-1])


@pytest.mark.parametrize("name", list_models())
def test_stated_geometry_matches_the_forward_pass(name: str) -> None:
    """geometry() is the truth: sizes it calls valid run with the stated output size, others are refused."""
    model = build(name).eval()
    geo = model.geometry()
    assert (model.size_divisor, model.border, model.fixed_input_size) == (
        geo.size_divisor,
        geo.border,
        geo.fixed_input_size,
    )
    if geo.fixed_input_size is not None:
        h, w = geo.fixed_input_size
        candidates = [(h, w), (h + 1, w), (h, w - 1), (h + 8, w + 8)]
    else:
        # Square and non-square sides around the smallest valid one, valid and invalid mixed.
        start = geo.input_side(1)
        sides = list(range(max(1, start - 3), start + 2 * geo.size_divisor + 2))
        candidates = [(s, s) for s in sides] + [(sides[0], sides[-1]), (start, start + geo.size_divisor)]
    valid_seen = invalid_seen = 0
    for size in candidates:
        got = _forward_or_error(model, size)
        if geo.is_valid_size(*size):
            valid_seen += 1
            expected = (geo.output_side(size[0]), geo.output_side(size[1]))
            assert got == expected, f"{name}: {size} should give {expected}, got {got}"
            assert size[0] - expected[0] == 2 * geo.border
        else:
            invalid_seen += 1
            assert got is None, f"{name}: geometry calls {size} invalid but the forward pass gave {got}"
    assert valid_seen > 0
    assert invalid_seen > 0 or (geo.size_divisor == 1 and geo.border == 0)  # any-size nets refuse nothing


@pytest.mark.parametrize("name", list_models())
def test_input_side_is_the_smallest_valid_cover(name: str) -> None:
    geo = build(name).geometry()
    if geo.fixed_input_size is not None:
        pytest.skip("a fixed-size model has one input size")
    for n in (1, 5, 16, 37):
        side = geo.input_side(n)
        assert geo.is_valid_side(side) and geo.output_side(side) >= n
        smaller = [s for s in range(1, side) if geo.is_valid_side(s)]
        assert not smaller or geo.output_side(smaller[-1]) < n


@pytest.mark.parametrize("name", list_models())
def test_forward_any_size_returns_the_input_size(name: str) -> None:
    """Training's padding (forward_any_size) follows the geometry for any image size."""
    model = build(name).eval()
    fixed = model.geometry().fixed_input_size
    # Odd sizes, and one below SegNet's smallest input (its poolings need 2 ** stages pixels).
    for size in [fixed] if fixed is not None else [(37, 45), (5, 6)]:
        with torch.no_grad():
            logits = forward_any_size(model, torch.randn(2, 3, *size))
        assert logits.shape == (2, 5, *size)


@pytest.mark.parametrize("name", list_models())
def test_save_load_gives_identical_logits_and_geometry(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build(name).eval()
    kwargs = {"in_channels": 3, "num_classes": 5, **SMALL_KWARGS[name]}
    config = ModelConfig(name, kwargs, [f"c{i}" for i in range(5)], [0.5] * 3, [0.25] * 3)
    loaded, loaded_config = load_model(save_model(model, config, tmp_path / "model"))
    assert loaded_config.geometry == model.geometry().to_dict()
    assert geometry_from_config(loaded_config) == model.geometry() == loaded.geometry()
    x = torch.randn(2, 3, *INPUT_SIZES.get(name, DEFAULT_SIZES)[0])
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


@pytest.mark.parametrize("name", list_models())
def test_in_channels_respected(name: str) -> None:
    model = build(name, in_channels=3).eval()
    size = INPUT_SIZES.get(name, DEFAULT_SIZES)[0]
    with pytest.raises(RuntimeError):
        model(torch.randn(1, 4, *size))


@pytest.mark.parametrize("name", list_models())
def test_backward_gives_finite_gradients(name: str) -> None:
    model = build(name).train()
    size = INPUT_SIZES.get(name, DEFAULT_SIZES)[0]
    logits = model(torch.randn(2, 3, *size))
    target = torch.randint(0, 5, (2, *logits.shape[-2:]))
    torch.nn.functional.cross_entropy(logits, target).backward()
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert params
    for param_name, param in params:
        assert param.grad is not None, f"{name}: no gradient for {param_name}"
        assert torch.isfinite(param.grad).all(), f"{name}: non-finite gradient for {param_name}"
    assert any(param.grad.abs().sum() > 0 for _, param in params if param.grad is not None)


@pytest.mark.parametrize("name", list_models())
def test_state_dict_round_trip(name: str) -> None:
    size = INPUT_SIZES.get(name, DEFAULT_SIZES)[0]
    x = torch.randn(2, 3, *size)
    source = build(name).eval()
    torch.manual_seed(123)
    copy = build(name).eval()
    with torch.no_grad():
        assert not torch.equal(source(x), copy(x))  # different init, so the load below is what matters
        copy.load_state_dict(source.state_dict())
        assert torch.equal(source(x), copy(x))


def export_sizes(name: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """(trace size, check size): different where the model allows it, so a baked-in size shows up."""
    sizes = INPUT_SIZES.get(name, DEFAULT_SIZES)
    return sizes[0], sizes[-1]


@pytest.mark.parametrize("name", list_models())
def test_export_matches_eager_at_another_size(name: str) -> None:
    """torch.export with dynamic batch/H/W, run at a batch and size other than the trace ones.

    torch.jit.trace is deprecated in this torch; torch.export is the supported tracer (and feeds ONNX).
    A forward that turns sizes into Python ints or branches on them bakes the trace size in and fails here.
    """
    model = build(name).eval()
    trace_size, check_size = export_sizes(name)
    spatial = {} if trace_size == check_size else {2: Dim.AUTO, 3: Dim.AUTO}
    program = torch.export.export(
        model, (torch.randn(2, 3, *trace_size),), dynamic_shapes=({0: Dim.AUTO, **spatial},)
    )
    x = torch.randn(3, 3, *check_size)  # fresh values, batch and (where allowed) size
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(program.module()(x), expected, rtol=1e-5, atol=1e-5)
    assert expected.shape[-2:] == expected_size(name, model, check_size)


def test_export_sizes_differ_where_the_model_allows() -> None:
    fixed = [name for name in list_models() if export_sizes(name)[0] == export_sizes(name)[1]]
    assert fixed == ["fcn_reshape"]  # the only fixed-size model


def test_unknown_model_name_lists_options() -> None:
    with pytest.raises(ValueError, match=r"Unknown model 'unet3'.*Available: .*unet_original"):
        create_model("unet3", in_channels=1, num_classes=2)


def test_model_names_are_case_insensitive() -> None:
    assert (
        type(create_model("UNet", in_channels=1, num_classes=2, base_channels=4, depth=1)).__name__ == "UNet"
    )


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize(
    ("channel_kwargs", "error", "match"),
    [
        ({"in_channels": 0, "num_classes": 2}, ValueError, "in_channels must be a positive int, got 0"),
        ({"in_channels": 1, "num_classes": -1}, ValueError, "num_classes must be a positive int, got -1"),
        ({"in_channels": "3", "num_classes": 2}, TypeError, "in_channels must be a positive int, got str"),
        ({"in_channels": 1, "num_classes": True}, TypeError, "num_classes must be a positive int, got bool"),
    ],
)
def test_bad_channel_arguments(name: str, channel_kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        create_model(name, **channel_kwargs, **SMALL_KWARGS[name])


@pytest.mark.parametrize("name", list_models())
def test_unknown_keyword_is_rejected(name: str) -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'start_neurons'"):
        create_model(name, in_channels=1, num_classes=2, start_neurons=16)


def test_deprecated_model_name_warns_and_builds_the_renamed_model(tmp_path: Path) -> None:
    with pytest.warns(DeprecationWarning, match="'pixel_cnn' is deprecated; use 'pixel_classifier'"):
        model = create_model("pixel_cnn", in_channels=1, num_classes=2, hidden_channels=4)
    assert type(model).__name__ == "PixelClassifier"
    assert "pixel_cnn" not in list_models()
    # A model saved under the old name still loads.
    config = ModelConfig(
        "pixel_cnn", {"in_channels": 1, "num_classes": 2, "hidden_channels": 4}, ["a", "b"], [0.5], [0.2]
    )
    with pytest.warns(DeprecationWarning):
        loaded, _ = load_model(save_model(model, config, tmp_path / "old"))
    assert type(loaded).__name__ == "PixelClassifier"


def test_a_misspelled_keyword_is_named_with_a_did_you_mean() -> None:
    """``create_model("unet", depht=3)`` was Python's bare TypeError."""
    from unetkit.models import create_model

    with pytest.raises(TypeError, match=r"keyword of model 'unet' 'depht'. Did you mean 'depth'\?"):
        create_model("unet", in_channels=1, num_classes=2, depht=3)
