"""fcn_reshape's wrong-size error says why only one size works: its dense head (whole validation images of
another size than the training crop meet this error during fit)."""

from __future__ import annotations

import pytest
import torch

from unetkit.models import create_model


def test_wrong_size_names_the_dense_head() -> None:
    model = create_model("fcn_reshape", in_channels=1, num_classes=2, input_size=16, channels=(4,))
    with pytest.raises(ValueError, match=r"got \(24, 24\) \(its dense head fixes the input size\); resize"):
        model(torch.zeros(1, 1, 24, 24))
