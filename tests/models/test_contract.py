"""One contract for every registered model: shapes, gradients, state dict, export, channel arguments."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.export import Dim

from unetkit.models import create_model, list_models

# Tiny configurations of every registered model (reused by the training tests). A new model must add a row.
SMALL_KWARGS: dict[str, dict[str, Any]] = {
    "unet": {"base_channels": 4, "depth": 2},
    "unet_original": {"base_channels": 4, "depth": 2},
    "encoder_decoder": {"base_channels": 4, "depth": 2},
    "fcn32s": {"encoder_channels": (4, 4, 8, 8, 8), "convs_per_stage": (1, 1, 1, 1, 1), "head_channels": 8},
    "fcn16s": {"encoder_channels": (4, 4, 8, 8, 8), "convs_per_stage": (1, 1, 1, 1, 1), "head_channels": 8},
    "fcn8s": {"encoder_channels": (4, 4, 8, 8, 8), "convs_per_stage": (1, 1, 1, 1, 1), "head_channels": 8},
    "segnet": {"channels": (4, 8, 8), "convs_per_stage": (1, 1, 1)},
    "pixel_cnn": {"hidden_channels": 8},
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
