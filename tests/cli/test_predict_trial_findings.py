"""``unetkit predict``, from a user trial: a ground-truth mask of another size is named with both sizes as
WxH and the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_models import three_images, tiny_unet
from PIL import Image

from unetkit.cli.main import main


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return three_images(tmp_path / "images")


def test_a_mask_of_another_size_is_named_with_both_sizes_as_wxh_and_the_fix(
    images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The trial got "ground truth ... is (100, 150), image is (217, 301)": (H, W) tuples where fit says WxH,
    and no fix."""
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray(np.zeros((5, 7), np.uint8)).save(masks / "a.png")  # a.png is 30x24 (WxH)
    model = tiny_unet(tmp_path / "model")
    argv = ["predict", str(model), str(images / "a.png"), "--out", str(tmp_path / "o")]
    assert main([*argv, "--masks", str(masks), "--tta", "none", "-q"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if str(masks / "a.png") in line]
    assert errors == [
        f"error: {images / 'a.png'}: ground truth mask {masks / 'a.png'} is 7x5 (WxH), its image 30x24; "
        "resize or re-export the mask to 30x24"
    ]
