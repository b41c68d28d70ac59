"""Trial 17, finding 10: an image array's alpha follows the rule of a file's (read_raw_image): an opaque alpha
dropped, a transparent one refused with the same message. ``drop_array_alpha`` is the array's entry to that
one rule (``_drop_opaque_alpha``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unetkit.data.io import drop_array_alpha, read_raw_image


def rgba(alpha: int = 255) -> np.ndarray:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (9, 7, 4), dtype=np.uint8)
    image[..., 3] = 255
    image[4, 3, 3] = alpha
    return image


def test_opaque_alpha_of_an_array_is_dropped_as_a_files_is(tmp_path: Path) -> None:
    image = rgba()
    Image.fromarray(image, "RGBA").save(tmp_path / "a.png")
    from_file = read_raw_image(tmp_path / "a.png")
    assert from_file.shape == (9, 7, 3)
    np.testing.assert_array_equal(drop_array_alpha(image, 3, "the uint8 image array"), from_file)
    # Gray + alpha, for a gray model and (converted later) an RGB one; deeper types opaque at their max.
    la = np.stack([image[..., 0], image[..., 3]], axis=2)
    np.testing.assert_array_equal(drop_array_alpha(la, 1, "the uint8 image array"), image[..., :1])
    np.testing.assert_array_equal(drop_array_alpha(la, 3, "the uint8 image array"), image[..., :1])
    deep = image.astype(np.uint16) * 257
    np.testing.assert_array_equal(drop_array_alpha(deep, 3, "the uint16 image array"), deep[..., :3])
    floats = image.astype(np.float32) / 255
    np.testing.assert_array_equal(drop_array_alpha(floats, 3, "the float32 image array"), floats[..., :3])


def test_transparent_alpha_of_an_array_is_refused_with_the_files_message(tmp_path: Path) -> None:
    image = rgba(alpha=128)
    Image.fromarray(image, "RGBA").save(tmp_path / "a.png")
    with pytest.raises(ValueError) as from_file:
        read_raw_image(tmp_path / "a.png")
    with pytest.raises(ValueError) as from_array:
        drop_array_alpha(image, 3, "the uint8 image array")
    message = str(from_array.value)
    assert message.startswith("the uint8 image array has an alpha channel with transparent pixels"), message
    assert message == str(from_file.value).replace(f"image {tmp_path / 'a.png'}", "the uint8 image array")


@pytest.mark.parametrize("channels", [2, 4])
def test_a_model_of_that_many_channels_reads_them_as_data(channels: int) -> None:
    image = rgba(alpha=0)[..., :channels]  # its last channel is data, whatever its values
    assert drop_array_alpha(image, channels, "the uint8 image array") is image
    three = rgba(alpha=0)[..., :3]
    assert drop_array_alpha(three, 1, "the uint8 image array") is three  # RGB: no alpha to look at
