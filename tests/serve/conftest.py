"""Fixtures of the ``unetkit serve`` tests: tiny saved models (U-Net, Mask R-CNN) and a test slice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from serve_helpers import ISBI_SLICE, TINY, save_tiny_model, synthetic_slice

from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model


@pytest.fixture(autouse=True)
def _restore_torch_threads() -> Iterator[None]:
    """A thread pool with ``threads_per_worker`` sets this process's torch threads (as ``unetkit serve``
    wants): put back after each test, so that one test's pool does not slow down the next."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


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


@pytest.fixture(scope="session")
def maskrcnn_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained Mask R-CNN saved as ``unetkit fit-maskrcnn`` saves one (built as tests/inference and
    tests/detection build theirs), its 30 detections' scores spread across predict's default threshold 0.5
    (on :func:`synthetic_slice`: 29 kept at 0, 13 at 0.4, 3 at 0.5 here) so that a threshold shows in the
    count; at most 30 detections keep a forward pass under a second on the CPU."""
    detection = pytest.importorskip("unetkit.detection")
    torch.manual_seed(0)
    kwargs = {"num_classes": 2, "detections_per_img": 30}
    model = detection.build_maskrcnn(**kwargs)
    with torch.no_grad():
        # A random class head scores every box about 0.57; sharpen and shift it so the scores differ.
        head = model.roi_heads.box_predictor.cls_score
        head.weight.mul_(10.0)
        head.bias[1] -= 2.5
    folder = tmp_path_factory.mktemp("maskrcnn") / "run" / "model"
    detection.save_maskrcnn(model, detection.maskrcnn_config(kwargs), folder)
    return folder.parent  # a run folder, as `unetkit fit-maskrcnn --out` writes
