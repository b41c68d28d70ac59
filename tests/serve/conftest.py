"""Fixtures of the ``unetkit serve`` tests: tiny saved models and a test slice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from serve_helpers import ISBI_SLICE, TINY, save_tiny_model, synthetic_slice

from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random tiny 1-channel, 2-class U-Net (API tests: speed matters, the weights do not)."""
    return save_tiny_model(tmp_path_factory.mktemp("serve") / "model")


@pytest.fixture(scope="session")
def slice_path(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ISBI 2012 slice (512 x 512, 1 channel) from the shared data, or a synthetic one when absent."""
    try:
        path = request.getfixturevalue("shared_data") / ISBI_SLICE
        if path.is_file():
            return path
    except pytest.skip.Exception:
        pass
    path = tmp_path_factory.mktemp("slice") / "synthetic_slice.png"
    Image.fromarray(synthetic_slice(256)).save(path)
    return path


@pytest.fixture(scope="session")
def trained_model_dir(slice_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny U-Net fitted for a few seconds to separate dark membranes (class 0) from bright cells (class 1,
    as in ISBI 2012) of ``slice_path``, so masks, class areas and instance counts are not trivial (a random
    net predicts one class)."""
    from unetkit.data.io import read_image

    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "num_classes": 2, **TINY}
    model = create_model("unet", **kwargs)
    image = read_image(slice_path, channels=1)[..., 0].astype(np.float32)
    # Target: brighter than the image's 30th percentile = cell (class 1); the net learns a smooth version.
    target = (image >= np.percentile(image, 30)).astype(np.int64)
    x = torch.from_numpy((image / 255.0 - 0.5) / 0.25)[None, None]
    y = torch.from_numpy(target)[None]
    optim = torch.optim.Adam(model.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(0)
    h, w = image.shape
    model.train()
    for _ in range(60):
        i = int(torch.randint(0, h - 64 + 1, (1,), generator=gen))
        j = int(torch.randint(0, w - 64 + 1, (1,), generator=gen))
        logits = model(x[..., i : i + 64, j : j + 64])
        loss = torch.nn.functional.cross_entropy(logits, y[:, i : i + 64, j : j + 64])
        optim.zero_grad()
        loss.backward()
        optim.step()
    model.eval()
    config = ModelConfig("unet", kwargs, ["membrane", "cell"], mean=[0.5], std=[0.25])
    return save_model(model, config, tmp_path_factory.mktemp("trained") / "model")
