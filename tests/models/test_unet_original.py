"""UNetOriginal: the paper's 572 -> 388 shapes, parameter count and the overlap-tile size helpers."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from unetkit.models import (
    UNetOriginal,
    create_model,
    unet_original_input_size_for_output,
    unet_original_output_size,
    unet_original_valid_input_sizes,
)


def test_paper_parameter_count() -> None:
    with torch.device("meta"):
        model = create_model("unet_original", in_channels=1, num_classes=2)
    assert sum(p.numel() for p in model.parameters()) == 31_030_658


def test_paper_shapes_at_full_width() -> None:
    # Full width on the meta device: exact shapes and channels, no arithmetic (a real 572 run is slow).
    with torch.device("meta"):
        model = UNetOriginal(in_channels=1, num_classes=2)
        shapes: dict[str, tuple[int, ...]] = {}
        for name in ("stem", "downs.3", "ups.0", "ups.3"):
            module = model.get_submodule(name)
            module.register_forward_hook(
                lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape))
            )
        logits = model(torch.empty(1, 1, 572, 572))
    assert shapes == {
        "stem": (1, 64, 568, 568),  # first double conv
        "downs.3": (1, 1024, 28, 28),  # bottom of the U
        "ups.0": (1, 512, 52, 52),  # first up step (after its double conv)
        "ups.3": (1, 64, 388, 388),
    }
    assert logits.shape == (1, 2, 388, 388)


def test_real_forward_at_572_with_slim_width() -> None:
    model = UNetOriginal(in_channels=1, num_classes=2, base_channels=2).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 1, 572, 572))
    assert logits.shape == (1, 2, 388, 388)
    assert torch.isfinite(logits).all()


def test_paper_blocks() -> None:
    model = UNetOriginal(in_channels=1, num_classes=2, base_channels=4)
    convs3 = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs3) == 18 and all(m.padding == (0, 0) and m.bias is not None for m in convs3)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)) for m in model.modules())
    ups = [up.up for up in model.ups]
    assert all(isinstance(u, nn.ConvTranspose2d) and u.kernel_size == (2, 2) for u in ups)
    assert [u.out_channels for u in ups] == [32, 16, 8, 4]  # up-conv halves the channels


def test_output_size_and_border() -> None:
    model = UNetOriginal(in_channels=1, num_classes=2, base_channels=2)
    assert unet_original_output_size(572) == 388 == model.output_size(572)
    assert model.border == 92 == (572 - 388) // 2
    assert model.size_divisor == 16
    assert UNetOriginal(1, 2, depth=2, base_channels=2).border == (44 - 4) // 2


def _brute_force_valid(size: int, depth: int) -> bool:
    try:
        unet_original_output_size(size, depth)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_valid_sizes_match_real_forward(depth: int) -> None:
    valid = unet_original_valid_input_sizes(1, 220, depth)
    assert valid == [s for s in range(1, 221) if _brute_force_valid(s, depth)]
    with torch.device("meta"):
        model = UNetOriginal(1, 2, depth=depth, base_channels=2)
        for size in valid[:3]:
            assert model.encode_decode(torch.empty(1, 1, size, size)).shape[-1] == unet_original_output_size(
                size, depth
            )


def test_valid_sizes_depth_4() -> None:
    valid = unet_original_valid_input_sizes(100, 600)
    assert valid[0] == 188 and 572 in valid and 570 not in valid
    assert all(b - a == 16 for a, b in itertools.pairwise(valid))
    assert unet_original_output_size(188) == 4
    assert unet_original_valid_input_sizes(200, 250) == [204, 220, 236]


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5, 6])
def test_valid_sizes_are_16k_minus_4_from_k_12(depth: int) -> None:
    # The rule UNetOriginal's docstring (and the README) states: 2**depth * k - 4 from k = 12 (11 at depth
    # 1); 140, 156 and 172 are of that form at depth 4 but too small.
    step, first_k = 2**depth, 11 if depth == 1 else 12
    expected = [step * k - 4 for k in range(first_k, 21)]
    assert unet_original_valid_input_sizes(1, expected[-1], depth) == expected


def test_input_size_for_output() -> None:
    assert unet_original_input_size_for_output(388) == 572
    assert unet_original_input_size_for_output(389) == 588
    assert unet_original_input_size_for_output(1) == 188
    assert unet_original_input_size_for_output(5, depth=2) == 48  # 44 -> 4, 48 -> 8


def test_invalid_size_names_nearest_valid_sizes() -> None:
    with pytest.raises(ValueError, match=r"Input size 570 is not valid.*Nearest valid sizes: 556 or 572"):
        unet_original_output_size(570)
    with pytest.raises(ValueError, match="Nearest valid sizes: 188"):
        unet_original_output_size(100)


def test_forward_rejects_invalid_size() -> None:
    model = UNetOriginal(1, 2, depth=2, base_channels=2)
    with pytest.raises(ValueError, match=r"Input size 45 is not valid.*Nearest valid sizes: 44 or 48"):
        model(torch.randn(1, 1, 44, 45))
