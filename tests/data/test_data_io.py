"""Tests for unetkit.data.io: image/mask reading, conversions, error messages, normalisation."""

from __future__ import annotations

import logging
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from unetkit.constants import IGNORE_INDEX
from unetkit.data.io import (
    LooksBinaryError,
    MaskEncoding,
    estimate_window,
    image_info,
    normalize,
    read_image,
    read_mask,
    read_raw_image,
)


def _save(path: Path, arr: np.ndarray, mode: str | None = None) -> Path:
    img = Image.fromarray(arr) if mode is None else Image.fromarray(arr, mode=mode)
    img.save(path)
    return path


def test_io_does_not_import_torch() -> None:
    code = "import sys, unetkit.data.io; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_gray_png_roundtrip(tmp_path: Path) -> None:
    arr = np.arange(12 * 10, dtype=np.uint8).reshape(12, 10)
    out = read_image(_save(tmp_path / "g.png", arr))
    assert out.dtype == np.uint8 and out.shape == (12, 10, 1)
    np.testing.assert_array_equal(out[..., 0], arr)
    assert image_info(tmp_path / "g.png") == (12, 10, 1)


def test_16bit_png_shifted_to_8bit(tmp_path: Path) -> None:
    arr = np.array([[0, 255, 256, 65535], [4096, 32768, 511, 1000]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    out = read_image(path)
    np.testing.assert_array_equal(out[..., 0], arr >> 8)
    assert out.dtype == np.uint8


def test_16bit_image_through_an_intensity_window(tmp_path: Path) -> None:
    # Microscopy spanning 1000..2020 of 65535: >> 8 keeps 4 grey levels, the window all 256.
    arr = np.array([[1000, 1004, 1510, 2020], [0, 65535, 1002, 1006]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    out = read_image(path, 1, window=[[1000, 2020]])
    # (value - lo) * 255 / (hi - lo), rounded, clipped to 0..255.
    np.testing.assert_array_equal(out[..., 0], [[0, 1, 128, 255], [0, 255, 0, 2]])
    old = read_image(path)[..., 0]  # without a window: >> 8, three grey levels in 1000..2020
    assert set(old[(arr >= 1000) & (arr <= 2020)].tolist()) == {3, 5, 7}


def test_intensity_window_per_channel_and_its_errors(tmp_path: Path) -> None:
    planes = [np.full((2, 2), 100), np.full((2, 2), 3000), np.full((2, 2), 40000)]
    arr = np.stack(planes, -1).astype(np.uint16)
    tifffile.imwrite(tmp_path / "rgb16.tif", arr, photometric="rgb")
    out = read_image(tmp_path / "rgb16.tif", 3, window=[[0, 200], [2000, 4000], [0, 40000]])
    assert out[0, 0].tolist() == [128, 128, 255]
    with pytest.raises(ValueError, match=r"rgb16.tif has 3 channels but the intensity window has 2"):
        read_image(tmp_path / "rgb16.tif", 3, window=[[0, 1], [0, 1]])
    with pytest.raises(ValueError, match=r"lo < hi"):
        read_image(tmp_path / "rgb16.tif", 3, window=[[5, 5]])


def test_estimate_window_from_16bit_images_and_none_for_8bit(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    deep = []
    for i in range(3):
        arr = rng.integers(1000, 5001, (64, 64)).astype(np.uint16)
        arr[0, 0] = 65535  # one hot pixel must not stretch the window (a percentile, not the max)
        Image.fromarray(arr).save(tmp_path / f"d{i}.png")
        deep.append(tmp_path / f"d{i}.png")
    ((lo, hi),) = estimate_window(deep)
    assert 1000 <= lo <= 1010 and 4990 <= hi <= 5000
    Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(tmp_path / "e.png")
    assert estimate_window([tmp_path / "e.png"]) is None
    with pytest.raises(ValueError, match=r"mix bit depths: .*e.png is 8-bit, .*d0.png is 16-bit"):
        estimate_window([tmp_path / "e.png", *deep])


def test_float_tiff_scaled(tmp_path: Path) -> None:
    arr = np.array([[0.0, 0.5], [1.0, 0.25]], dtype=np.float32)
    tifffile.imwrite(tmp_path / "f.tif", arr)
    np.testing.assert_array_equal(read_image(tmp_path / "f.tif")[..., 0], [[0, 128], [255, 64]])
    tifffile.imwrite(tmp_path / "bad.tif", arr * 3)
    with pytest.raises(ValueError, match=r"bad.tif.*float values in \[0, 3\]"):
        read_image(tmp_path / "bad.tif")


def test_16bit_rgb_tiff_via_tifffile(tmp_path: Path) -> None:
    arr = np.full((4, 5, 3), 0x1234, dtype=np.uint16)
    tifffile.imwrite(tmp_path / "rgb16.tif", arr, photometric="rgb")
    out = read_image(tmp_path / "rgb16.tif", channels=3)
    assert out.shape == (4, 5, 3) and np.all(out == 0x12)


def test_tiff_stacks_refused_not_read_as_their_first_page(tmp_path: Path) -> None:
    # tifffile.imwrite writes a (2, H, W) array as two pages: Pillow read the first page alone, silently.
    stack = np.stack([np.full((6, 7), 900, np.uint16), np.full((6, 7), 2500, np.uint16)])
    tifffile.imwrite(tmp_path / "pages.tif", stack)
    with pytest.raises(ValueError, match=r"pages.tif: 2 pages of 6x7 pixels.*if these 2 pages are channels"):
        read_image(tmp_path / "pages.tif", window=[[800, 3000]])
    tifffile.imwrite(tmp_path / "z.tif", np.stack([stack] * 3), imagej=True, metadata={"axes": "ZCYX"})
    with pytest.raises(ValueError, match=r"z.tif: a z-stack \(3 z-slices"):
        read_image(tmp_path / "z.tif")
    # A thumbnail page of another size is not a stack: the image reads as before.
    with tifffile.TiffWriter(tmp_path / "thumb.tif") as tif:
        tif.write(stack[0])
        tif.write(stack[1][:3, :3])
    assert read_image(tmp_path / "thumb.tif", window=[[800, 3000]]).shape == (6, 7, 1)


def test_a_tiff_page_of_another_kind_and_the_same_size_is_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Web trial: an RGB page followed by a gray page of the same size was read as its first page silently."""
    with tifffile.TiffWriter(tmp_path / "two.tif") as tif:
        tif.write(np.full((6, 7, 3), 200, np.uint8), photometric="rgb")
        tif.write(np.full((6, 7), 50, np.uint8))
    with caplog.at_level(logging.WARNING, logger="unetkit"):
        assert read_image(tmp_path / "two.tif").shape == (6, 7, 3)
    assert "two.tif holds 1 more image(s) of its first one's size" in caplog.text and "6x7x3" in caplog.text
    caplog.clear()
    with tifffile.TiffWriter(tmp_path / "thumb.tif") as tif:  # a smaller page is a thumbnail: no word
        tif.write(np.full((6, 7, 3), 200, np.uint8), photometric="rgb")
        tif.write(np.full((3, 3), 50, np.uint8))
    with caplog.at_level(logging.WARNING, logger="unetkit"):
        assert read_image(tmp_path / "thumb.tif").shape == (6, 7, 3)
    assert "more image" not in caplog.text


@pytest.mark.parametrize(
    "how",
    [
        {"photometric": "minisblack", "planarconfig": "separate"},  # one page, planar samples
        {"photometric": "minisblack", "planarconfig": "contig"},  # one page, interleaved samples
        {"imagej": True, "metadata": {"axes": "CYX"}},  # ImageJ hyperstack: one page per channel
    ],
)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_tiff_channels_read_as_channels(tmp_path: Path, how: dict, dtype: type) -> None:
    """Two microscope channels (or any count): read as (H, W, C) in their stored order, whatever the TIFF
    layout; Pillow read the 8-bit interleaved pair as gray, dropping the second channel."""
    chw = np.stack([np.full((6, 7), 90, dtype), np.full((6, 7), 250, dtype)])
    chw[1, 0, 0] = 3  # the second channel is data, not an opaque alpha
    data = chw if how.get("planarconfig") != "contig" else np.moveaxis(chw, 0, -1)
    tifffile.imwrite(tmp_path / "two.tif", data, **how)
    raw = read_raw_image(tmp_path / "two.tif")
    assert raw.shape == (6, 7, 2) and raw.dtype == dtype
    np.testing.assert_array_equal(raw, np.moveaxis(chw, 0, -1))
    assert read_image(tmp_path / "two.tif", channels=2, window=[[0, 255]]).shape == (6, 7, 2)
    five = np.random.default_rng(0).integers(0, 255, (6, 7, 5), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "five.tif", five, photometric="minisblack", planarconfig="contig")
    np.testing.assert_array_equal(read_image(tmp_path / "five.tif"), five)


def test_two_channel_png_is_gray_with_alpha(tmp_path: Path) -> None:
    la = np.zeros((3, 4, 2), dtype=np.uint8)
    la[..., 1] = 255
    assert read_image(_save(tmp_path / "o.png", la)).shape == (3, 4, 1)
    la[0, 0, 1] = 7
    with pytest.raises(ValueError, match=r"transparent pixels.*second microscope channel.*planarconfig"):
        read_image(_save(tmp_path / "t.png", la))


def test_rgba_opaque_alpha_dropped_and_transparent_refused(tmp_path: Path) -> None:
    rgba = np.zeros((3, 4, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    out = read_image(_save(tmp_path / "a.png", rgba), channels=3)
    assert out.shape == (3, 4, 3) and np.all(out[..., 0] == 200) and np.all(out[..., 1:] == 0)
    rgba[0, 0, 3] = 10
    with pytest.raises(ValueError, match=r"t.png has an alpha channel with transparent pixels"):
        read_image(_save(tmp_path / "t.png", rgba))


def test_palette_image_converted_to_rgb(tmp_path: Path) -> None:
    idx = np.array([[0, 1], [1, 0]], dtype=np.uint8)
    img = Image.fromarray(idx, mode="P")
    img.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    img.save(tmp_path / "p.png")
    out = read_image(tmp_path / "p.png")
    np.testing.assert_array_equal(out[0, 0], [10, 20, 30])
    np.testing.assert_array_equal(out[0, 1], [200, 100, 50])


def test_channel_mismatch_refused(tmp_path: Path) -> None:
    rgb = _save(tmp_path / "x.png", np.zeros((4, 4, 3), dtype=np.uint8))
    with pytest.raises(
        ValueError, match=r"x.png has 3 channels but the model expects 1; convert the image .*in_channels=3"
    ):
        read_image(rgb, channels=1)
    gray = _save(tmp_path / "g.png", np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(
        ValueError, match=r"g.png has 1 channels but the model expects 3.*when training, set in_channels=1"
    ):
        read_image(gray, channels=3)


def test_explicit_channel_conversion(tmp_path: Path) -> None:
    gray = _save(tmp_path / "g.png", np.array([[7, 9]], dtype=np.uint8))
    out = read_image(gray, channels=3, convert=True)
    np.testing.assert_array_equal(out[0, 1], [9, 9, 9])
    rgb = _save(tmp_path / "c.png", np.array([[[255, 0, 0], [0, 0, 255]]], dtype=np.uint8))
    expected = np.asarray(Image.open(rgb).convert("L"))  # Pillow's ITU-R 601 luma
    np.testing.assert_array_equal(read_image(rgb, channels=1, convert=True)[..., 0], expected)


def test_truncated_png_names_file(tmp_path: Path) -> None:
    path = _save(tmp_path / "cut.png", np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        ValueError, match=r"cannot read image .*cut.png: .*the file is corrupt or not an image"
    ):
        read_image(path)
    with pytest.raises(ValueError, match=r"cut.png"):
        image_info(path)


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "text.png"
    path.write_text("hello")
    with pytest.raises(ValueError, match=r"cannot read image .*text.png.*not an image"):
        read_image(path)
    with pytest.raises(ValueError, match=r"no such file"):
        read_image(tmp_path / "missing.png")


# ---------------------------------------------------------------------------------------------------- masks


def test_index_mask_with_ignore(tmp_path: Path) -> None:
    arr = np.array([[0, 1, 10], [11, 2, 0]], dtype=np.uint8)
    out = read_mask(_save(tmp_path / "m.png", arr), MaskEncoding("index", 11, ignore_values=(11,)))
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [[0, 1, 10], [IGNORE_INDEX, 2, 0]])


def test_index_mask_out_of_range(tmp_path: Path) -> None:
    arr = np.array([[0, 3, 7], [255, 1, 0]], dtype=np.uint8)
    path = _save(tmp_path / "bad.png", arr)
    with pytest.raises(
        ValueError, match=r"mask .*bad.png has values 3, 7, 255 that are outside the classes \(num_classes=3"
    ):
        read_mask(path, MaskEncoding("index", 3))
    # 255 is fine once declared as ignore; 3 and 7 are still errors.
    with pytest.raises(ValueError, match=r"values 3, 7 that"):
        read_mask(path, MaskEncoding("index", 3, ignore_values=(255,)))


def test_zero_255_mask_read_as_index_says_it_looks_binary(tmp_path: Path) -> None:
    """The usual slip (mask_kind forgotten on 0/255 masks): the error names the option that fixes it."""
    path = _save(tmp_path / "m.png", np.array([[0, 255], [255, 0]], dtype=np.uint8))
    hint = r"values 0/255 look like a binary mask: set mask_kind: binary"
    with pytest.raises(ValueError, match=hint) as info:
        read_mask(path, MaskEncoding("index", 2))
    assert "\n" not in str(info.value)
    # A command names its own option instead of the config key (kmeans: --mask-encoding binary); the rest of
    # the message stays, and a pickled copy (a DataLoader worker's) reads the same.
    assert isinstance(info.value, LooksBinaryError)
    own = str(info.value.with_fix("add --opt binary"))
    assert own.endswith("values 0/255 look like a binary mask: add --opt binary") and "mask_kind" not in own
    assert own.startswith(str(info.value).split("; values 0/255")[0])
    assert str(pickle.loads(pickle.dumps(info.value))) == str(info.value)
    # Other out-of-range values do not get that hint.
    other = _save(tmp_path / "o.png", np.array([[0, 7]], dtype=np.uint8))
    # They name the options that declare the value, for fit DIR and for predict.
    hint = (
        r"o.png has values 7 .*; fix the mask, or declare 7 as void \(fit DIR: --void 7; predict: --ignore-v"
    )
    with pytest.raises(ValueError, match=hint):
        read_mask(other, MaskEncoding("index", 2))


def test_index_mask_16bit_and_palette_indices(tmp_path: Path) -> None:
    arr = np.array([[0, 300], [2, 1]], dtype=np.uint16)
    Image.fromarray(arr).save(tmp_path / "m16.png")
    np.testing.assert_array_equal(
        read_mask(tmp_path / "m16.png", MaskEncoding("remap", 3, mapping={0: 0, 1: 1, 2: 2, 300: 2})),
        [[0, 2], [2, 1]],
    )
    img = Image.fromarray(np.array([[0, 2], [1, 1]], dtype=np.uint8), mode="P")
    img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    img.save(tmp_path / "voc.png")
    # 'P' masks: the palette index is the class (Pascal VOC convention), not the colour.
    np.testing.assert_array_equal(read_mask(tmp_path / "voc.png", MaskEncoding("index", 3)), [[0, 2], [1, 1]])


@pytest.mark.parametrize("high", [1, 255])
def test_binary_mask(tmp_path: Path, high: int) -> None:
    arr = np.array([[0, high], [high, 0]], dtype=np.uint8)
    np.testing.assert_array_equal(
        read_mask(_save(tmp_path / "b.png", arr), MaskEncoding("binary", 2)), [[0, 1], [1, 0]]
    )


def test_binary_mask_rejects_other_values(tmp_path: Path) -> None:
    path = _save(tmp_path / "b.png", np.array([[0, 128], [255, 0]], dtype=np.uint8))
    with pytest.raises(
        ValueError, match=r"binary mask .*b.png has values 0, 128, 255; expected only 0/255 or only 0/1"
    ):
        read_mask(path, MaskEncoding("binary", 2))
    out = read_mask(path, MaskEncoding("binary", 2, ignore_values=(128,)))
    np.testing.assert_array_equal(out, [[0, IGNORE_INDEX], [1, 0]])
    with pytest.raises(ValueError, match="num_classes=2"):
        MaskEncoding("binary", 3)


def test_palette_mask(tmp_path: Path) -> None:
    colors = {0: (0, 0, 0), 1: (255, 0, 0), 2: (0, 128, 0)}
    arr = np.array([[[0, 0, 0], [255, 0, 0]], [[0, 128, 0], [9, 9, 9]]], dtype=np.uint8)
    enc = MaskEncoding("palette", 3, colors=colors, ignore_colors=((9, 9, 9),))
    np.testing.assert_array_equal(read_mask(_save(tmp_path / "c.png", arr), enc), [[0, 1], [2, IGNORE_INDEX]])
    arr[1, 1] = (1, 2, 3)
    # The fix names the classes file first: a discovered folder's colours come from it, not from data.options
    # keys the user never wrote (the old fix named only colors= / ignore_colors=).
    with pytest.raises(
        ValueError,
        match=r"palette mask .*u.png has 1 colour not in the class colour table: \(1, 2, 3\): 1 px \(it lies "
        r"within x 1\.\.1, y 1\.\.1\); fix the "
        r"mask, or add each colour to the classes file \(classes.json or classes.csv\) as a class or as void "
        r"\(or, where data.options gives the colours, to colors= or ignore_colors=\)$",
    ):
        read_mask(_save(tmp_path / "u.png", arr), enc)


def test_remap_oxford_trimap(tmp_path: Path) -> None:
    arr = np.array([[1, 2], [3, 2]], dtype=np.uint8)
    path = _save(tmp_path / "t.png", arr)
    ignore = MaskEncoding("remap", 2, mapping={1: 1, 2: 0, 3: IGNORE_INDEX})
    np.testing.assert_array_equal(read_mask(path, ignore), [[1, 0], [IGNORE_INDEX, 0]])
    as_class = MaskEncoding("remap", 3, mapping={1: 1, 2: 0, 3: 2})
    np.testing.assert_array_equal(read_mask(path, as_class), [[1, 0], [2, 0]])
    path2 = _save(tmp_path / "t4.png", np.array([[1, 4]], dtype=np.uint8))
    with pytest.raises(ValueError, match=r"t4.png has values 4 that are not in the remap mapping") as info:
        read_mask(path2, ignore)
    # The stored values the user declared (1, 2, 3), not the class indices 0..1 they map to.
    assert "the stored values declared: [1, 2, 3]" in str(info.value) and "valid 0..1" not in str(info.value)
    with pytest.raises(ValueError, match=r"remap mapping targets \[5\]"):
        MaskEncoding("remap", 2, mapping={1: 5})


def test_rgb_mask_for_index_kind(tmp_path: Path) -> None:
    gray_as_rgb = np.repeat(np.array([[0, 1]], dtype=np.uint8)[..., None], 3, axis=2)
    np.testing.assert_array_equal(
        read_mask(_save(tmp_path / "g.png", gray_as_rgb), MaskEncoding("index", 2)), [[0, 1]]
    )
    colour = np.array([[[0, 0, 0], [255, 0, 0]]], dtype=np.uint8)
    wording = r"c.png is a colour image, while these masks are read as class values .*classes.json naming"
    with pytest.raises(ValueError, match=wording):
        read_mask(_save(tmp_path / "c.png", colour), MaskEncoding("index", 2))
    # Under instance labels the message names labels, not classes, and no classes.json (a colour rendering
    # of a label image cannot be read back by colour).
    with pytest.raises(
        ValueError, match=r"c.png is a colour image, while these masks are read as instance labels"
    ) as info:
        read_mask(tmp_path / "c.png", MaskEncoding("instances", 2))
    assert "classes.json" not in str(info.value) and "label image itself" in str(info.value)


def test_unknown_kind_suggests() -> None:
    with pytest.raises(ValueError, match=r"Did you mean 'binary'"):
        MaskEncoding("binarry", 2)


# --------------------------------------------------------------------------------------------- normalise


def test_normalize_matches_formula() -> None:
    img = np.array([[[0, 255, 51]]], dtype=np.uint8)  # (1, 1, 3)
    out = normalize(img, (0.5, 0.5, 0.2), (0.5, 0.25, 0.1))
    assert out.dtype == np.float32 and out.shape == (3, 1, 1)
    np.testing.assert_allclose(out[:, 0, 0], [-1.0, 2.0, 0.0], atol=1e-6)
    gray = np.full((2, 3, 1), 255, dtype=np.uint8)
    np.testing.assert_allclose(normalize(gray, 0.5, 0.5), np.ones((1, 2, 3)), atol=1e-6)
    with pytest.raises(ValueError, match=r"mean/std have 2/2 values but the image has 3 channels"):
        normalize(img, (0.5, 0.5), (1, 1))


def test_per_image_window_maps_each_image_by_its_own_percentiles() -> None:
    """Two exposures of one scene (a dim one at a quarter of the bright one's values) read the same through a
    per-image window; a fixed window keeps them apart. Any bit depth, any channel count."""
    from unetkit.data.io import apply_window, is_per_image, per_image_window, to_uint8

    scene = np.random.default_rng(0).integers(0, 200, (20, 30, 2)).astype(np.uint16)
    bright, dim = scene * 4, scene
    window = per_image_window()
    assert is_per_image(window) and not is_per_image([[0, 255]])
    np.testing.assert_array_equal(to_uint8(bright, "b", window), to_uint8(dim, "d", window))
    assert not np.array_equal(to_uint8(bright, "b", [[0, 800]]), to_uint8(dim, "d", [[0, 800]]))
    out = apply_window(dim.astype(np.uint8), {"percentiles": [0, 100]})
    assert out.min() == 0 and out.max() == 255
    assert np.all(apply_window(np.full((2, 2, 1), 7, np.uint8), window) == 0)  # flat: black, no division by 0
    for bad in ({"percentiles": [99, 1]}, {"percentiles": [5]}, {"pct": [1, 99]}):
        with pytest.raises(ValueError, match=r"per-image intensity window is \{'percentiles': \[lo, hi\]\}"):
            apply_window(dim, bad)


def test_per_image_window_keeps_a_background_tile_dark() -> None:
    """An empty field (noise 10..14 only) mapped by its own percentiles became full-contrast noise, which a
    nuclei model read as objects; min_span (the narrowest training span) keeps it dark."""
    from unetkit.data.io import apply_window, per_image_window

    noise = (10 + np.arange(64 * 64).reshape(64, 64, 1) % 5).astype(np.uint8)
    assert apply_window(noise, per_image_window()).max() == 255
    dark = apply_window(noise, per_image_window(min_span=40))
    assert dark.max() == round(4 * 255 / 40)
    wide = (np.arange(64 * 64).reshape(64, 64, 1) % 200).astype(np.uint8)  # a span above min_span: unchanged
    assert np.array_equal(
        apply_window(wide, per_image_window(min_span=40)), apply_window(wide, per_image_window())
    )
    for bad in (0, -1, float("nan"), "30"):
        with pytest.raises(ValueError, match=r"min_span must be a number > 0"):
            apply_window(noise, {"percentiles": [1, 99.8], "min_span": bad})


def test_per_image_window_of_a_large_image_reads_a_subsample(monkeypatch: pytest.MonkeyPatch) -> None:
    """A large image's percentiles come from a strided subsample (a whole-slide image is not copied to
    float and sorted whole); the result matches the full measure on smooth data."""
    import unetkit.data.io as io_module

    ramp = np.tile(np.arange(400, dtype=np.uint16)[None, :, None], (300, 1, 1)) * 10
    full = io_module.apply_window(ramp, io_module.per_image_window())
    seen: list[int] = []
    real = np.percentile

    def spy(a, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(int(np.asarray(a).shape[0]))
        return real(a, *args, **kwargs)

    monkeypatch.setattr(io_module, "_PER_IMAGE_PIXELS", 300 * 400 // 16)
    monkeypatch.setattr(io_module.np, "percentile", spy)
    sub = io_module.apply_window(ramp, io_module.per_image_window())
    assert seen == [75 * 100]  # every 4th row and column
    assert np.abs(sub.astype(int) - full.astype(int)).max() <= 2


def test_four_band_tiff_with_its_last_band_tagged_alpha_says_how_to_keep_the_band(tmp_path: Path) -> None:
    """A remote-sensing trial: tifffile's defaults tag band 4 (near-infrared) of an (H, W, 4) uint16 image as
    alpha, and the refusal's only advice, "save it as RGB", would drop the band the classes differ in."""
    import tifffile

    bands = np.random.default_rng(0).integers(0, 4000, (8, 8, 4), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "tile.tif", bands)  # default: RGB + extra sample (alpha)
    with pytest.raises(ValueError, match=r"transparent pixels.*near-infrared band.*photometric='minisblack'"):
        read_raw_image(tmp_path / "tile.tif")
    tifffile.imwrite(tmp_path / "bands.tif", bands, photometric="minisblack", planarconfig="contig")
    assert read_raw_image(tmp_path / "bands.tif").shape == (8, 8, 4)  # the advice works
    # An array's channels are the caller's: no advice on how to save a file.
    from unetkit.data.io import drop_array_alpha

    with pytest.raises(ValueError, match="transparent pixels") as err:
        drop_array_alpha(bands, 3, "the uint16 image array")
    assert "tifffile" not in str(err.value)
