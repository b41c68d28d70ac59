"""fingerprint(): class frequencies, object sizes, normalisation and orientation on synthetic folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from unetkit.planning import discover, fingerprint

MakeDataset = Callable[..., Path]


def _squares(i: int) -> np.ndarray:
    """Two 6x6 squares (class 1) and one 12x4 bar (class 2) on a 64x64 background."""
    m = np.zeros((64, 64), np.uint8)
    m[4:10, 4:10] = 1
    m[30:36, 40:46] = 1
    m[50:62, 10:14] = 2
    return m


def test_class_fractions_and_object_sizes(px: SimpleNamespace, make_dataset: MakeDataset) -> None:
    root = make_dataset(mask=_squares, image=lambda i: px.gray_image(i, 64))
    fp = fingerprint(discover(root))
    c0, c1, c2 = fp.classes
    assert c1.pixel_fraction == pytest.approx(72 / (64 * 64 - 0), abs=1e-4)
    assert c2.pixel_fraction == pytest.approx(48 / 4096, abs=1e-4)
    assert c1.objects == 2 * 8 and c1.extent_median == 6 and c1.area_median == 36  # 8 training images
    assert c2.extent_median == 12 and c2.area_p10 == 48
    assert c0.stuff and not c1.stuff  # the background spans the image; the squares are objects
    assert fp.num_images == {"train": 8, "val": 2, "test": 2}
    assert fp.sampled_images == 8  # training images only: choices never see val/test


def test_instances_stay_separate_where_they_touch(make_dataset: MakeDataset) -> None:
    def labels(i: int) -> np.ndarray:
        m = np.zeros((32, 32), np.uint16)
        for k in range(80):  # touching 3x4 instances: connected components would merge them
            r, c = 3 * (k // 8), 4 * (k % 8)
            m[r : r + 3, c : c + 4] = k + 1
        return m

    fp = fingerprint(discover(make_dataset(mask_dir="labels", mask=labels)))
    assert fp.classes[1].objects == 80 * 8 and fp.classes[1].extent_median == 4


def test_gray_images_get_zscore(make_dataset: MakeDataset) -> None:
    fp = fingerprint(discover(make_dataset()))
    assert fp.normalization == "zscore" and fp.channels == 1
    # the gray images hold uniform values 40..199: mean ~119.5 -> 0.469 on the [0, 1] scale
    assert fp.mean[0] == pytest.approx(119.5 / 255, abs=0.01)
    assert fp.std[0] == pytest.approx(46.2 / 255, abs=0.01)


def test_colour_photos_get_unit_scaling_and_gray_rgb_does_not(make_dataset: MakeDataset) -> None:
    rng = np.random.default_rng(0)
    colour = make_dataset(image=lambda i: rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    fp = fingerprint(discover(colour))
    assert fp.normalization == "unit" and fp.mean == (0.0, 0.0, 0.0) and fp.std == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("planes", [3, 4])  # RGB, and RGBA with an opaque alpha (DSB2018's PNGs)
def test_gray_stored_as_rgb_gets_zscore(
    tmp_path: Path, px: SimpleNamespace, make_dataset: MakeDataset, planes: int
) -> None:
    def image(i: int) -> np.ndarray:
        out = np.repeat(px.gray_image(i)[..., None], planes, 2)
        out[..., 3:] = 255
        return out

    gray_rgb = make_dataset(root=tmp_path / "g", image=image)
    fp = fingerprint(discover(gray_rgb))
    assert fp.gray_as_rgb == 1.0 and fp.normalization == "zscore"


def test_vertical_asymmetry_marks_scenes_with_an_up(make_dataset: MakeDataset, tmp_path: Path) -> None:
    def sky(i: int) -> np.ndarray:
        m = np.zeros((32, 32), np.uint8)
        m[:12] = 1  # "sky" only at the top
        return m

    upright = fingerprint(discover(make_dataset(mask=sky)))
    assert upright.vertical_asymmetry > 0.5 and upright.upright_p < 0.02  # turning any (not all) lowers it
    from unetkit.planning.plan import augmentation, choose_geometry, has_up

    assert has_up(upright)
    _, why = augmentation(upright, choose_geometry(upright, "cpu"))
    # The chance figure is said when the plan decides "up" too, so a borderline call can be seen.
    assert f"more than random upside-down turnings of the {upright.sampled_images} images give (p 0.0" in why
    assert fingerprint(discover(make_dataset(root=tmp_path / "b"))).vertical_asymmetry < 0.1


def test_an_asymmetry_that_chance_gives_is_no_up(make_dataset: MakeDataset, tmp_path: Path) -> None:
    """A trial: 13 images of randomly placed blobs differed by 0.10 top/bottom, and the plan took away
    upside-down flips and 90-degree turns. Blobs, most by chance in the top half of a few images: as large
    an asymmetry, but random turnings of the images give it as often, so no up."""
    from unetkit.planning.plan import augmentation, choose_geometry, has_up

    def blob(i: int) -> np.ndarray:
        m = np.zeros((32, 32), np.uint8)
        row = 2 if i % 4 else 18  # three of every four images: the blob in the top half
        m[row : row + 12, 2 + i : 18 + i] = 1
        return m

    fp = fingerprint(discover(make_dataset(root=tmp_path / "few", mask=blob)))
    assert fp.vertical_asymmetry >= 0.1 and fp.upright_p >= 0.02 and not has_up(fp)
    aug, why = augmentation(fp, choose_geometry(fp, "cpu"))
    assert aug["rot90"] and aug["vertical_flips"]
    assert f"as much as random upside-down turnings of the {fp.sampled_images} images give (p " in why


def test_subsample_is_deterministic_and_said(make_dataset: MakeDataset) -> None:
    layout = discover(make_dataset(n=30))
    a, b = fingerprint(layout, max_images=5), fingerprint(layout, max_images=5)
    assert a.sampled_images == 5 and a.classes == b.classes
    assert any("5 of 20" in n for n in a.notes)


def test_roi_pixels_outside_are_ignored(px: SimpleNamespace, make_dataset: MakeDataset) -> None:
    root = make_dataset()
    for i in range(12):
        roi = np.zeros((32, 32), np.uint8)
        roi[:, :16] = 255
        px.write(root / "roi" / f"img{i:02d}.png", roi)
    fp = fingerprint(discover(root))
    assert fp.ignore_fraction == pytest.approx(0.5)


def _microscopy_16bit(i: int) -> np.ndarray:
    """16-bit gray: noise 1000..1300, the mask's square at 1400 (all within 1000..1400 of 65535)."""
    image = np.random.default_rng(i).integers(1000, 1301, (32, 32)).astype(np.uint16)
    r = 4 + (i * 3) % 20
    image[r : r + 8, 4:12] = 1400
    return image


def test_16bit_images_get_an_intensity_window_from_training_pixels(make_dataset: MakeDataset) -> None:
    from unetkit.planning.plan import dataset_config

    layout = discover(make_dataset(image=_microscopy_16bit))
    fp = fingerprint(layout)
    assert fp.bit_depth == 16
    ((lo, hi),) = fp.intensity_window or [[0, 0]]
    assert 1000 <= lo <= 1002 and hi == 1400  # the stored range, not 0..65535
    # The statistics are on the scale the model sees: the 1000..1400 span fills 0..255 (>> 8: 3..5).
    assert fp.std[0] > 0.2 and "keep 3 grey levels" in fp.window_reason
    data, reasons, _ = dataset_config(layout, fp)
    assert data["options"]["intensity_window"] == fp.intensity_window
    assert "0.05-99.95 percentiles" in reasons["data.options.intensity_window"]


def test_8bit_images_get_no_window(make_dataset: MakeDataset) -> None:
    fp = fingerprint(discover(make_dataset()))
    assert fp.bit_depth == 8 and fp.intensity_window is None and fp.window_reason == ""


def test_images_of_differing_exposure_get_a_per_image_window(make_dataset: MakeDataset) -> None:
    """DSB2018's case: fluorescence images of many exposures (a dim image's nuclei darker than a bright
    image's background). Each is then mapped by its own percentiles; one exposure keeps no window."""
    from unetkit.data.io import per_image_window
    from unetkit.planning.plan import dataset_config

    def exposures(i: int) -> np.ndarray:
        image = np.full((32, 32), 10, np.uint8)
        image[8:20, 8:20] = 40 + 20 * (i % 6)  # bright ends 40..140: 3.5x apart
        return image

    layout = discover(make_dataset(image=exposures))
    fp = fingerprint(layout)
    # The narrowest training span (background 10 to the dimmest square's 40) bounds every window.
    assert fp.intensity_window == per_image_window(min_span=30.0) and fp.exposure_spread >= 2.0
    assert fp.window_reason.startswith("per image: exposure differs between images")
    assert "a window is at least 30 levels wide" in fp.window_reason
    data, reasons, _ = dataset_config(layout, fp)
    assert data["options"]["intensity_window"] == {"percentiles": [1.0, 99.8], "min_span": 30.0}
    assert "per_image_window" in reasons["data.options.intensity_window"]
    same = fingerprint(discover(make_dataset(root=layout.root.parent / "same", image=lambda i: exposures(0))))
    assert same.intensity_window is None and same.exposure_spread == 1.0


def test_a_mixed_set_says_its_share_of_colour_images(
    tmp_path: Path, px: SimpleNamespace, make_dataset: MakeDataset
) -> None:
    """DSB 2018: about a fifth of the images are colour histology among gray fluorescence stored as RGB; the
    reason read "gray or R=G=B" for all of them. It now says the shares found and why z-score still holds."""
    rng = np.random.default_rng(0)
    root = tmp_path / "mixed"
    for i in range(12):
        gray = np.repeat(px.gray_image(i)[..., None], 3, 2)
        image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) if i < 2 else gray  # 2 colour
        px.write(root / "images" / f"img{i:02d}.png", image)
        px.write(root / "masks" / f"img{i:02d}.png", px.binary_mask(i))
    fp = fingerprint(discover(root))  # the first 8 are the training split
    assert fp.normalization == "zscore" and fp.gray_as_rgb == 0.75
    assert (
        "non-photo images: 75% of the 8 sampled images are gray stored as RGB (R = G = B) and 25% colour: "
        "mostly gray, not a set of colour photos, so one z-score for all, the colour ones included; "
    ) in fp.normalization_reason
    assert "gray or R=G=B" not in fp.normalization_reason
    # Mostly colour: x / 255, with the gray share said.
    for i in range(2, 6):
        px.write(root / "images" / f"img{i:02d}.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    fp = fingerprint(discover(root))
    assert fp.normalization == "unit"
    assert "; 25% of the 8 sampled images are gray stored as RGB (R = G = B), under half" in (
        fp.normalization_reason
    )
    gray = fingerprint(discover(make_dataset(root=tmp_path / "gray")))
    assert "non-photo images: 8-bit (uint8) gray images; 0.5-99.5 percentile range" in (
        gray.normalization_reason
    )


def _band_tiles(root: Path, n: int = 10) -> Path:
    """``n`` 4-band uint16 TIFF tiles (all samples bands) with binary masks."""
    import tifffile
    from PIL import Image

    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        bands = np.random.default_rng(i).integers(100, 4000, (32, 32, 4), dtype=np.uint16)
        tifffile.imwrite(
            root / "images" / f"t{i:02d}.tif", bands, photometric="minisblack", planarconfig="contig"
        )
        mask = np.zeros((32, 32), np.uint8)
        mask[4:20, 4:20] = 255
        Image.fromarray(mask).save(root / "masks" / f"t{i:02d}.png")
    return root


def test_a_float_tile_with_nan_or_a_tile_of_other_bands_is_named(tmp_path: Path) -> None:
    """A remote-sensing trial: a float32 tile with NaN among uint16 ones failed with NumPy's bare "cannot
    convert float NaN to integer", and a 3-band tile among 4-band ones with "cannot convert 3 channels to 4",
    neither naming the file."""
    import tifffile

    root = _band_tiles(tmp_path / "nan")
    floats = np.random.default_rng(0).random((32, 32, 4)).astype(np.float32)
    floats[3, 3, 1] = np.nan
    tifffile.imwrite(root / "images" / "t00.tif", floats, photometric="minisblack", planarconfig="contig")
    with pytest.raises(ValueError, match=r"cannot read image .*t00\.tif: 1 of its 4096 values are NaN"):
        fingerprint(discover(root))
    # 1 tile of 3 bands among 24: under the share that gray/RGB conversion allows, but 3 bands do not
    # convert to 4.
    root = _band_tiles(tmp_path / "bands", n=24)
    rgb = np.random.default_rng(1).integers(100, 4000, (32, 32, 3), dtype=np.uint16)
    tifffile.imwrite(root / "images" / "t00.tif", rgb, photometric="rgb")
    odd = r"image .*t00\.tif has 3 channel\(s\) but 23 other images have 4, and only gray and RGB convert"
    with pytest.raises(ValueError, match=odd + r" into each other; give it the same 4 channels"):
        discover(root)
