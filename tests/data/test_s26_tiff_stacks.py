"""Trial 26 (16-bit 2-channel microscopy): the TIFFs tifffile writes for a 2-channel array with its default
options are refused with a message that says what the file looks like and how to save it, in plain words
(pages, z-slices), never tifffile's axis letters ("2 along Q")."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tifffile

from unetkit.cli.main import main
from unetkit.data.io import image_header, read_image, read_raw_image

H, W = 24, 32
CONTIG = "tifffile.imwrite(path, array, photometric='minisblack', planarconfig='contig')"


def _hwc(channels: int = 2) -> np.ndarray:
    rng = np.random.default_rng(channels)
    return rng.integers(0, 4096, (H, W, channels)).astype(np.uint16)


def _refusal(path: Path) -> str:
    """The refusal of ``path`` by read_raw_image, checked to be the header's too (plan reads headers)."""
    with pytest.raises(ValueError) as raised:
        read_raw_image(path)
    with pytest.raises(ValueError) as header:
        image_header(path)
    message = str(raised.value)
    assert str(header.value) == message
    assert not re.search(r"along [A-Z]\b|\bQ\b|tifffile's axes", message), message
    return message


@pytest.mark.parametrize("metadata", [{}, None])  # tifffile's shaped JSON description, or none at all
def test_an_hwc_array_saved_without_photometric_is_named(tmp_path: Path, metadata: dict | None) -> None:
    """tifffile.imwrite(path, (H, W, 2) array) writes H pages of W x 2 pixels (a last axis of 2 is taken as
    samples only with photometric='minisblack'): was '24 along Q: a z-stack, time series ...'."""
    hwc = _hwc()
    tifffile.imwrite(tmp_path / "x.tif", hwc, metadata=metadata)
    assert _refusal(tmp_path / "x.tif") == (
        f"cannot read image {tmp_path / 'x.tif'}: {H} pages of {W}x2 pixels: this looks like an (H, W, 2) "
        f"array ({H}x{W}x2) saved without photometric='minisblack': save it with {CONTIG}"
    )
    # The advice, followed, reads the array as it was.
    tifffile.imwrite(tmp_path / "x.tif", hwc, photometric="minisblack", planarconfig="contig")
    np.testing.assert_array_equal(read_raw_image(tmp_path / "x.tif"), hwc)


def test_a_multispectral_hwc_array_and_an_imagej_one_are_named(tmp_path: Path) -> None:
    eight = np.zeros((40, 48, 8), np.uint16)
    tifffile.imwrite(tmp_path / "eight.tif", eight)
    assert "this looks like an (H, W, 8) array (40x48x8) saved without photometric" in _refusal(
        tmp_path / "eight.tif"
    )
    # imagej=True takes an (H, W, 2) array's first axis as channels: H channels of W x 2 pixels, which were
    # read as a (W, 2, H) image.
    hwc = _hwc()
    tifffile.imwrite(tmp_path / "ij.tif", hwc, imagej=True)
    message = _refusal(tmp_path / "ij.tif")
    assert f"{H} channels of {W}x2 pixels: this looks like an (H, W, 2) array ({H}x{W}x2)" in message
    assert CONTIG in message and "array.transpose(2, 0, 1), imagej=True, metadata={'axes': 'CYX'}" in message
    tifffile.imwrite(tmp_path / "ij.tif", hwc.transpose(2, 0, 1), imagej=True, metadata={"axes": "CYX"})
    np.testing.assert_array_equal(read_raw_image(tmp_path / "ij.tif"), hwc)


@pytest.mark.parametrize("metadata", [{}, None])
def test_two_full_size_pages_may_be_channels(tmp_path: Path, metadata: dict | None) -> None:
    """tifffile.imwrite(path, (2, H, W) array): two pages, which unetkit does not guess to be channels."""
    chw = _hwc().transpose(2, 0, 1)
    tifffile.imwrite(tmp_path / "x.tif", chw, metadata=metadata)
    assert _refusal(tmp_path / "x.tif") == (
        f"cannot read image {tmp_path / 'x.tif'}: 2 pages of {H}x{W} pixels without axis metadata "
        "(channels, z-slices or time points?); unetkit reads one 2-D image per file: if these 2 pages are "
        "channels, save them as one image with tifffile.imwrite(path, array, photometric='minisblack', "
        f"planarconfig='separate') (array as (2, H, W); or {CONTIG} with array as (H, W, 2)); if they are a "
        "z-stack or time series, save each page as its own image"
    )
    tifffile.imwrite(tmp_path / "x.tif", chw, photometric="minisblack", planarconfig="separate")
    np.testing.assert_array_equal(read_raw_image(tmp_path / "x.tif"), chw.transpose(1, 2, 0))


@pytest.mark.parametrize(
    "how",
    [{"imagej": True, "metadata": {"axes": "CYX"}}, {"metadata": {"axes": "CYX"}}, {"imagej": True}],
)
def test_channel_metadata_still_reads_as_channels(tmp_path: Path, how: dict) -> None:
    chw = _hwc().transpose(2, 0, 1)
    tifffile.imwrite(tmp_path / "c.tif", chw, **how)
    np.testing.assert_array_equal(read_raw_image(tmp_path / "c.tif"), chw.transpose(1, 2, 0))
    assert image_header(tmp_path / "c.tif") == (H, W, 2)
    assert read_image(tmp_path / "c.tif", channels=2, window=[[0, 4095]]).shape == (H, W, 2)


def test_a_z_stack_names_its_maximum_projection(tmp_path: Path) -> None:
    z = np.random.default_rng(1).integers(0, 4096, (3, H, W)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "z.tif", z, imagej=True, metadata={"axes": "ZYX"})
    assert _refusal(tmp_path / "z.tif") == (
        f"cannot read image {tmp_path / 'z.tif'}: a z-stack (3 z-slices of {H}x{W} pixels); unetkit reads "
        "one 2-D image per file: save each z-slice as its own image, or its maximum projection as one image: "
        "tifffile.imwrite(path, array.max(axis=0))"
    )
    zc = np.stack([z, z // 2], axis=1)  # ZCYX
    tifffile.imwrite(tmp_path / "zc.tif", zc, imagej=True, metadata={"axes": "ZCYX"})
    message = _refusal(tmp_path / "zc.tif")
    assert f"a z-stack (3 z-slices of {H}x{W} pixels with 2 channels each)" in message
    assert message.endswith(
        "its maximum projection as one image: tifffile.imwrite(path, array.max(axis=0), imagej=True, "
        "metadata={'axes': 'CYX'})"
    )
    # The advice, followed on the array tifffile reads, gives the projection as a 2-channel image.
    projection = tifffile.imread(tmp_path / "zc.tif").max(axis=0)
    tifffile.imwrite(tmp_path / "max.tif", projection, imagej=True, metadata={"axes": "CYX"})
    np.testing.assert_array_equal(read_raw_image(tmp_path / "max.tif"), zc.max(axis=0).transpose(1, 2, 0))


def test_other_stacks_are_said_in_words(tmp_path: Path) -> None:
    frames = np.zeros((3, H, W), np.uint16)
    tifffile.imwrite(tmp_path / "t.tif", frames, imagej=True, metadata={"axes": "TYX"})
    assert _refusal(tmp_path / "t.tif").endswith(
        f"a time series (3 time points of {H}x{W} pixels); unetkit reads one 2-D image per file: save each "
        "time point as its own image"
    )
    tifffile.imwrite(tmp_path / "many.tif", np.zeros((10, H, W), np.uint16))
    message = _refusal(tmp_path / "many.tif")
    assert f"10 pages of {H}x{W} pixels without axis metadata (a z-stack or time series?)" in message
    assert "for a z-stack, its maximum projection array.max(axis=0)" in message
    tifffile.imwrite(tmp_path / "4d.tif", np.zeros((3, 2, H, W), np.uint16))
    assert f"6 pages of {H}x{W} pixels (a 3x2x{H}x{W} array) without axis metadata" in _refusal(
        tmp_path / "4d.tif"
    )
    tifffile.imwrite(
        tmp_path / "tz.tif", np.zeros((2, 3, H, W), np.uint16), imagej=True, metadata={"axes": "TZYX"}
    )
    assert f"a TIFF stack (2 time points x 3 z-slices of {H}x{W} pixels)" in _refusal(tmp_path / "tz.tif")


def test_plan_names_the_hwc_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trial's command: one line, the file and the fix."""
    from PIL import Image

    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(2):
        tifffile.imwrite(root / "images" / f"x{i}.tif", _hwc())
        Image.fromarray(np.zeros((H, W), np.uint8)).save(root / "masks" / f"x{i}.png")
    monkeypatch.chdir(tmp_path)  # plan writes into the current folder
    assert main(["plan", str(root), "--time", "2m"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "this looks like an (H, W, 2) array" in err and CONTIG in err
