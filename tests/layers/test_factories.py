"""get_norm_layer and check_positive_int."""

from __future__ import annotations

import pytest
from torch import nn

from unetkit.layers import check_positive_int, get_norm_layer


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("batch", nn.BatchNorm2d),
        ("instance", nn.InstanceNorm2d),
        ("group", nn.GroupNorm),
        ("None", nn.Identity),
    ],
)
def test_norm_types(name: str, expected: type) -> None:
    assert type(get_norm_layer(name, 16)) is expected


def test_instance_norm_is_affine() -> None:
    norm = get_norm_layer("instance", 8)
    assert isinstance(norm, nn.InstanceNorm2d) and norm.affine


@pytest.mark.parametrize(("channels", "groups"), [(64, 32), (48, 16), (12, 4), (5, 1)])
def test_group_count_divides_channels(channels: int, groups: int) -> None:
    norm = get_norm_layer("group", channels)
    assert isinstance(norm, nn.GroupNorm) and norm.num_groups == groups


def test_unknown_norm_lists_options() -> None:
    with pytest.raises(
        ValueError, match=r"Unknown norm 'groupnorm'. Did you mean 'group'\? Available: batch"
    ):
        get_norm_layer("groupnorm", 8)


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (0, ValueError, "width must be a positive int, got 0"),
        (2.0, TypeError, "got float: 2.0"),
        (True, TypeError, "bool"),
    ],
)
def test_check_positive_int(value: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        check_positive_int(value, "width")
    assert check_positive_int(3, "width") == 3
