"""unetkit.geometry: the one (torch-free) implementation of the unpadded U-Net's size rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import unetkit.layers
import unetkit.layers.factories
import unetkit.models
import unetkit.models.unet_original
from unetkit import geometry
from unetkit.geometry import (
    check_positive_int,
    nearest_valid_sizes,
    simulate_output_size,
    smallest_valid_input,
    unet_original_border,
    unet_original_input_size_for_output,
    unet_original_output_size,
    unet_original_valid_input_sizes,
)
from unetkit.inference.pipeline import unet_original_geometry

SRC = Path(__file__).resolve().parents[1] / "src"
PUBLIC = (
    "unet_original_input_size_for_output",
    "unet_original_output_size",
    "unet_original_valid_input_sizes",
)


def brute_force_valid(depth: int, max_size: int) -> list[int]:
    """Every side up to ``max_size`` whose maps stay non-empty and even before each pooling."""
    return [s for s in range(1, max_size + 1) if simulate_output_size(s, depth) is not None]


def test_hand_computed_depth_2() -> None:
    # 44 -> conv 40 -> pool 20 -> conv 16 -> pool 8 -> conv 4 -> up 8, conv 4 -> up 8, conv 4.
    assert simulate_output_size(44, 2) == 4
    assert simulate_output_size(45, 2) is None  # odd before the first pooling
    assert simulate_output_size(40, 2) is None  # 40 -> 36 -> 18 -> 14 -> 7: odd before the second pooling
    assert smallest_valid_input(2) == 44
    assert unet_original_border(2) == 20
    assert unet_original_border(4) == 92  # the paper: 572 -> 388


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_closed_forms_agree_with_brute_force(depth: int) -> None:
    valid = brute_force_valid(depth, 700)
    assert unet_original_valid_input_sizes(1, 700, depth) == valid
    assert unet_original_valid_input_sizes(valid[3] - 1, valid[6], depth) == valid[3:7]
    assert smallest_valid_input(depth) == valid[0]
    assert {s - unet_original_output_size(s, depth) for s in valid} == {2 * unet_original_border(depth)}
    for n in (1, 2, 7, 100, 389):
        expected = min(s for s in valid if unet_original_output_size(s, depth) >= n)
        assert unet_original_input_size_for_output(n, depth) == expected
    for side in (valid[2] + 1, valid[2] + 2**depth - 1):
        assert nearest_valid_sizes(side, depth) == [valid[2], valid[3]]
    assert nearest_valid_sizes(1, depth) == [valid[0]]


@pytest.mark.parametrize("side", [44, 52, 60])
def test_output_size_matches_the_network(side: int) -> None:
    model = unetkit.models.create_model(
        "unet_original", in_channels=1, num_classes=2, depth=2, base_channels=2
    )
    with torch.no_grad():
        out = model(torch.zeros(1, 1, side, side + 8))
    assert out.shape[-2:] == (unet_original_output_size(side, 2), unet_original_output_size(side + 8, 2))
    assert model.border == unet_original_border(2)


def test_errors() -> None:
    with pytest.raises(
        ValueError, match=r"Input size 45 is not valid .*depth 2.*Nearest valid sizes: 44 or 48"
    ):
        unet_original_output_size(45, depth=2)
    with pytest.raises(ValueError, match=r"max_size \(3\) must be >= min_size \(5\)"):
        unet_original_valid_input_sizes(5, 3)
    with pytest.raises(ValueError, match="output_size must be a positive int, got 0"):
        unet_original_input_size_for_output(0)
    with pytest.raises(TypeError, match="depth must be a positive int, got bool: True"):
        unet_original_output_size(572, depth=True)
    assert check_positive_int(3, "x") == 3
    with pytest.raises(TypeError, match=r"x must be a positive int, got float: 2\.0"):
        check_positive_int(2.0, "x")


def test_models_and_layers_re_export_the_same_functions() -> None:
    for name in PUBLIC:
        assert getattr(unetkit.models.unet_original, name) is getattr(geometry, name)
        assert getattr(unetkit.models, name) is getattr(geometry, name)
    assert (
        unetkit.layers.check_positive_int is unetkit.layers.factories.check_positive_int is check_positive_int
    )


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_inference_geometry_uses_it(depth: int) -> None:
    geo = unet_original_geometry(depth)
    assert (geo.border, geo.grid, geo.size_divisor) == (unet_original_border(depth), 2**depth, 2**depth)
    for n in (1, 7, 100, 389):
        assert geo.input_side(n) == unet_original_input_size_for_output(n, depth)
    assert geo.input_side(0) == smallest_valid_input(depth)  # nothing left to cover: smallest tile


def test_imports_without_torch() -> None:
    script = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "import unetkit.geometry, unetkit.inference.pipeline\n"
        "print(unetkit.geometry.unet_original_output_size(572))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "388"


def test_model_geometry_round_trips_through_json() -> None:
    import json

    from unetkit.geometry import ModelGeometry

    for geo in (
        ModelGeometry(),
        ModelGeometry(size_divisor=8, min_side=16),
        ModelGeometry(fixed_input_size=(32, 48)),
        ModelGeometry(pad_multiple=64),
        unet_original_geometry(3),
    ):
        assert ModelGeometry.from_dict(json.loads(json.dumps(geo.to_dict()))) == geo
    with pytest.raises(ValueError, match=r"unknown geometry keys \['stride'\]"):
        ModelGeometry.from_dict({"size_divisor": 2, "stride": 4})


def test_model_geometry_rules() -> None:
    from unetkit.geometry import ModelGeometry

    padded = ModelGeometry(size_divisor=8, min_side=16)
    assert [s for s in range(1, 41) if padded.is_valid_side(s)] == [16, 24, 32, 40]
    assert padded.input_side(1) == 16 and padded.input_side(17) == 24
    assert padded.valid_sides(30) == [16, 24]
    with pytest.raises(ValueError, match=r"input side 20 is not valid.*nearest valid sides: 16 or 24"):
        padded.output_side(20)
    with pytest.raises(ValueError, match=r"input side 8 is smaller than the minimum 16 px"):
        padded.output_side(8)
    padded.check_input_size(16, 24)
    with pytest.raises(ValueError, match=r"input side 12 is smaller than the minimum 16 px"):
        padded.check_input_size(16, 12)
    fixed = ModelGeometry(fixed_input_size=(32, 48))
    assert fixed.is_valid_size(32, 48) and not fixed.is_valid_size(48, 32)
    fixed.check_input_size(32, 48)
    with pytest.raises(ValueError, match=r"input size \(48, 32\) differs from the one size \(32, 48\)"):
        fixed.check_input_size(48, 32)
    unpadded = unet_original_geometry(4)
    assert (unpadded.output_side(572), unpadded.grid) == (388, 16)
    assert unpadded.valid_sides(220) == [188, 204, 220]
    with pytest.raises(ValueError, match=r"unpadded_depth=4 implies \(size_divisor, border\)=\(16, 92\)"):
        ModelGeometry(size_divisor=16, border=90, unpadded_depth=4)
    with pytest.raises(ValueError, match="border must be an int >= 0"):
        ModelGeometry(border=-1)


def test_pad_multiple_is_the_min_pass_side() -> None:
    """A net that pads itself states its pad multiple; every backend gives it sides of at least that."""
    from unetkit.geometry import ModelGeometry

    assert ModelGeometry(pad_multiple=64).min_pass_side == 64
    assert ModelGeometry(pad_multiple=8, min_side=16).min_pass_side == 16
    assert ModelGeometry().min_pass_side == 1
    with pytest.raises(ValueError, match="pad_multiple"):
        ModelGeometry(pad_multiple=0)


def test_config_without_pad_multiple_reads_as_before() -> None:
    """A config.json written before pad_multiple was stored: a padded net pads to 2 ** depth (32 when the
    kwargs name no depth), as the pipeline assumed for such files; other nets are left as stated."""
    from unetkit.geometry import ModelGeometry, geometry_from_config
    from unetkit.model_files.model_config import ModelConfig

    def config(kwargs: dict[str, object], geo: ModelGeometry) -> ModelConfig:
        stated = geo.to_dict()
        del stated["pad_multiple"]
        return ModelConfig("unet", kwargs, ["a", "b"], [0.5], [0.25], geometry=stated)

    assert geometry_from_config(config({"depth": 3}, ModelGeometry())).pad_multiple == 8
    assert geometry_from_config(config({}, ModelGeometry())).pad_multiple == 32
    assert geometry_from_config(config({"depth": 3}, unet_original_geometry(3))).pad_multiple == 1
    assert geometry_from_config(config({}, ModelGeometry(fixed_input_size=(8, 8)))).pad_multiple == 1
    stated = ModelConfig("fcn32s", {}, ["a", "b"], [0.5], [0.25], geometry={"pad_multiple": 64})
    assert geometry_from_config(stated).pad_multiple == 64


def test_one_tracing_check() -> None:
    import unetkit.layers.padding
    import unetkit.losses.functional
    import unetkit.models.base
    from unetkit.tracing import is_tracing

    assert unetkit.layers.padding.is_tracing is is_tracing
    assert unetkit.losses.functional.is_tracing is is_tracing
    assert unetkit.models.base.is_tracing is is_tracing
    assert not is_tracing()
