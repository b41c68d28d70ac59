"""A binary mask with other values is refused in words a command-line user can act on (a plan reads a sample
of the training masks only, so a validation mask is first read by fit)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unetkit.data.io import MaskEncoding, read_mask


def _save(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


def test_a_binary_mask_with_a_third_value_names_the_cli_option_and_the_config_key(tmp_path: Path) -> None:
    path = _save(tmp_path / "22.png", np.array([[0, 128], [255, 0]], dtype=np.uint8))
    with pytest.raises(ValueError) as err:
        read_mask(path, MaskEncoding("binary", 2))
    text = str(err.value)
    assert "\n" not in text and "kind='index'" not in text
    assert f"binary mask {path} has values 0, 128, 255; expected only 0/255 or only 0/1" in text
    assert "--mask-kind index" in text and "data.options.mask_kind" in text
    assert "nearest neighbour" in text and "--void" not in text


def test_a_binary_mask_with_1_and_255_suggests_void_255(tmp_path: Path) -> None:
    path = _save(tmp_path / "m.png", np.array([[0, 1], [255, 0]], dtype=np.uint8))
    with pytest.raises(ValueError, match=r"pass --void 255 if 255 marks pixels to ignore, or read the masks"):
        read_mask(path, MaskEncoding("binary", 2))


def test_a_mask_in_an_unsupported_mode_names_the_modes_to_save_it_in(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.tif"
    Image.new("CMYK", (4, 4)).save(path)
    with pytest.raises(ValueError) as err:
        read_mask(path, MaskEncoding("index", 2))
    assert str(err.value) == (
        f"cannot read mask {path}: unsupported image mode 'CMYK'; save the mask as 8- or 16-bit gray "
        "(class values), palette or RGB (colours)"
    )


def test_an_image_of_an_unsupported_pixel_type_names_the_types_to_save_it_as() -> None:
    from unetkit.data.io import to_uint8

    with pytest.raises(ValueError, match=r"unsupported pixel type complex64; save it as 8- or 16-bit"):
        to_uint8(np.zeros((2, 2, 1), np.complex64), "the complex64 image array")
