"""Reading images and masks as they are shown: EXIF orientation, palette masks through their palettes,
deep binary masks and transparent mask pixels (trial report on mask and image formats)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from unetkit.data.io import MaskEncoding, image_header, read_image, read_mask, read_raw_image

# Stored 3 rows x 5 columns, every pixel its own value: any turn or flip shows in the array.
STORED = np.arange(15, dtype=np.uint8).reshape(3, 5) * 10


def _with_orientation(path: Path, array: np.ndarray, orientation: int) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(array).save(path, exif=exif)
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_images_are_read_upright_as_viewers_show_them(tmp_path: Path, orientation: int) -> None:
    # A phone photo stored sideways or upside down, its mask drawn on the upright photo (as a viewer or an
    # annotation tool shows it): read upright, and the header gives the shown size (5..8 swap W and H).
    path = _with_orientation(tmp_path / "photo.png", np.stack([STORED] * 3, axis=2), orientation)
    with Image.open(path) as img:
        shown = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    assert read_image(path).shape == shown.shape
    np.testing.assert_array_equal(read_image(path), shown)
    np.testing.assert_array_equal(read_raw_image(path), shown)
    assert image_header(path) == (*shown.shape[:2], 3)
    assert image_header(path) == ((5, 3, 3) if orientation >= 5 else (3, 5, 3))


def test_jpeg_photos_and_masks_are_read_upright(tmp_path: Path) -> None:
    image = np.zeros((32, 48, 3), np.uint8)
    image[:8, :16] = 255  # a bright block in the stored top-left corner
    path = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = 3  # upside down
    Image.fromarray(image).save(path, exif=exif, quality=95)
    upright = read_image(path)
    assert upright.shape == (32, 48, 3) and upright[-4, -4].mean() > 200 and upright[4, 4].mean() < 50
    # Masks go through the same rule: a JPEG binary mask, and a PNG one.
    mask = tmp_path / "mask.jpg"
    Image.fromarray(image[..., 0]).save(mask, exif=exif, quality=95)
    np.testing.assert_array_equal(read_mask(mask, MaskEncoding("binary", 2)), upright[..., 0] > 128)
    mask = tmp_path / "mask.png"
    _with_orientation(mask, STORED // 10, 6)
    classes = read_mask(mask, MaskEncoding("index", 15))
    np.testing.assert_array_equal(classes, np.rot90(STORED // 10, k=-1))


def _palette_mask(path: Path, indices: np.ndarray, colours: list[tuple[int, int, int]]) -> Path:
    img = Image.fromarray(indices.astype(np.uint8), mode="P")
    img.putpalette([c for colour in colours for c in colour])
    img.save(path)
    return path


def test_a_palette_mask_of_a_colour_model_is_read_through_its_palette(tmp_path: Path) -> None:
    # predict --masks (and fit) with colour classes: a P file is read by the colours it shows, whatever the
    # order of its palette (it had been refused as "must be an 8-bit RGB image").
    indices = np.array([[0, 1], [2, 1]])
    path = _palette_mask(tmp_path / "m.png", indices, [(0, 0, 0), (0, 255, 0), (255, 0, 0)])
    encoding = MaskEncoding("palette", 3, colors={0: (0, 0, 0), 1: (255, 0, 0), 2: (0, 255, 0)})
    np.testing.assert_array_equal(read_mask(path, encoding), [[0, 2], [1, 2]])
    # The index reading keeps the indices.
    np.testing.assert_array_equal(read_mask(path, MaskEncoding("index", 3)), indices)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_a_16_bit_binary_mask_at_full_scale_is_read_as_binary(tmp_path: Path, dtype: type) -> None:
    import tifffile

    mask: np.ndarray = np.zeros((4, 4), dtype)
    mask[1:3, 1:3] = 65535
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, mask)
    out = read_mask(path, MaskEncoding("binary", 2))
    np.testing.assert_array_equal(out, (mask > 0).astype(np.int64))


def test_a_mask_with_transparent_pixels_is_refused_naming_the_count_and_the_fix(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 255
    path = tmp_path / "m.png"
    Image.fromarray(rgba).save(path)
    encoding = MaskEncoding("palette", 2, colors={0: (0, 0, 0), 1: (255, 0, 0)})
    assert (read_mask(path, encoding) == 1).all()  # opaque: the alpha is dropped
    rgba[:2, :, 3] = 0  # 8 transparent pixels, whose hidden colour is red
    Image.fromarray(rgba).save(path)
    with pytest.raises(ValueError) as err:
        read_mask(path, encoding)
    text = str(err.value)
    assert "\n" not in text
    assert f"mask {path} has 8 transparent pixels" in text
    assert "flatten the masks onto their background colour, or save them without alpha" in text


def test_a_palette_mask_read_by_colour_with_a_transparent_entry_is_refused(tmp_path: Path) -> None:
    # As an RGBA mask: the colour of a transparent palette entry is hidden from whoever drew the mask.
    path = tmp_path / "m.png"
    img = Image.fromarray(np.array([[0, 1], [1, 1]], np.uint8), mode="P")
    img.putpalette([255, 255, 255, 255, 0, 0])
    img.save(path, transparency=0)
    encoding = MaskEncoding("palette", 2, colors={0: (255, 255, 255), 1: (255, 0, 0)})
    with pytest.raises(ValueError, match=r"has 1 transparent pixels"):
        read_mask(path, encoding)
    np.testing.assert_array_equal(read_mask(path, MaskEncoding("index", 2)), [[0, 1], [1, 1]])
