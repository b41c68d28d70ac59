"""GeoTIFF masks: a georeferenced input's tags read as stored and copied onto its class mask (pixels intact,
written atomically); files without georeferencing give None."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from PIL import Image

from unetkit.inference.georef import GDAL_METADATA, GDAL_NODATA, GEOTIFF_TAGS, GeoRef, mask_tags, read_georef
from unetkit.inference.writers import save_mask_geotiff

H, W = 48, 64
# A GeoKey directory for WGS 84 / UTM zone 33N (EPSG:32633): version 1.1.0, 5 keys; each key is (id, where its
# value is: 0 = here, else a tag; count; value or offset).
GEOKEYS = (
    (1, 1, 0, 5),
    (1024, 0, 1, 1),  # GTModelTypeGeoKey: projected
    (1025, 0, 1, 1),  # GTRasterTypeGeoKey: pixel is area
    (1026, 34737, 22, 0),  # GTCitationGeoKey: in GeoAsciiParams
    (2057, 34736, 1, 0),  # GeogSemiMajorAxisGeoKey: in GeoDoubleParams
    (3072, 0, 1, 32633),  # ProjectedCSTypeGeoKey
)
GEOKEY_DIRECTORY = tuple(v for key in GEOKEYS for v in key)
CITATION = "WGS 84 / UTM zone 33N|"
PIXEL_SCALE = (10.0, 10.0, 0.0)
TIEPOINT = (0.0, 0.0, 0.0, 500000.0, 4649776.0, 0.0)
DATASET_ITEM = '<Item name="ACQUISITION">2026-06-01</Item>'
BAND_ITEM = '<Item name="SCALE" sample="0" role="scale">0.0001</Item>'


def _geotags(citation: str | bytes = CITATION, transform: bool = False) -> list[tuple[int, int, int, Any]]:
    """(code, TIFF datatype, count, value) of a UTM 33N GeoTIFF: pixel scale + tiepoint, or a transformation
    matrix (``transform``)."""
    placement: list[tuple[int, int, int, Any]] = (
        [(34264, 12, 16, (10.0, 0.0, 0.0, 500000.0, 0.0, -10.0, 0.0, 4649776.0, *(0.0,) * 7, 1.0))]
        if transform
        else [(33550, 12, 3, PIXEL_SCALE), (33922, 12, 6, TIEPOINT)]
    )
    return [
        *placement,
        (34735, 3, len(GEOKEY_DIRECTORY), GEOKEY_DIRECTORY),
        (34736, 12, 1, (6378137.0,)),
        (34737, 2, 0, citation),
    ]


def _write_geotiff(path: Path, extra: list[tuple[int, int, int, Any]] | None = None, **kwargs: Any) -> Path:
    """A 64x48 RGB image with the UTM 33N georeferencing (``kwargs``: tifffile's, tiles, compression ...)."""
    pixels = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    tags = kwargs.pop("geotags", _geotags())
    extratags = [(*tag, True) for tag in [*tags, *(extra or [])]]  # True: writeonce, tifffile's 5th field
    tifffile.imwrite(path, pixels, photometric="rgb", extratags=extratags, **kwargs)
    return path


def _tags(georef: GeoRef, codes: Any) -> dict[int, tuple[int, int, int, Any]]:
    return {t[0]: t for t in georef.tags if t[0] in codes}


def _mask() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 5, (H, W)).astype(np.int64)


def test_read_georef_gives_the_tags_as_stored(tmp_path: Path) -> None:
    georef = read_georef(_write_geotiff(tmp_path / "scene.tif"))
    assert georef is not None
    assert georef.shape == (H, W)
    assert georef.tag(33550) == (33550, 12, 3, PIXEL_SCALE)
    assert georef.tag(33922) == (33922, 12, 6, TIEPOINT)
    assert georef.tag(34735) == (34735, 3, len(GEOKEY_DIRECTORY), GEOKEY_DIRECTORY)
    assert georef.tag(34737) == (34737, 2, len(CITATION) + 1, CITATION)
    assert georef.tag(34264) is None and georef.tag(GDAL_NODATA) is None
    assert [t[0] for t in georef.tags] == sorted(t[0] for t in georef.tags)


@pytest.mark.parametrize(
    "layout",
    [
        {},
        {"tile": (16, 16), "compression": "zlib"},  # tiled + deflate, as GDAL's COGs are
        {"bigtiff": True, "byteorder": ">", "rowsperstrip": 7},
        {"geotags": _geotags(transform=True)},  # a transformation matrix instead of scale + tiepoint
    ],
    ids=["strips", "tiled-deflate", "bigtiff-big-endian", "transformation-matrix"],
)
def test_mask_geotiff_carries_the_inputs_georeferencing_and_the_pixels(
    tmp_path: Path, layout: dict[str, Any]
) -> None:
    source = read_georef(_write_geotiff(tmp_path / "scene.tif", **layout))
    assert source is not None
    mask = _mask()
    path = save_mask_geotiff(tmp_path / "masks" / "scene.tif", mask, source, num_classes=5)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        assert page.dtype == np.uint8 and page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        np.testing.assert_array_equal(page.asarray(), mask)
        # tifffile's own GeoKey decoding (independent of read_georef) sees the CRS.
        keys = tif.geotiff_metadata
        assert keys is not None and keys["ProjectedCSTypeGeoKey"] == 32633
    copied = read_georef(path)
    assert copied is not None and copied.shape == (H, W)
    # Every GeoTIFF tag equal: code, datatype, count and value.
    assert _tags(copied, GEOTIFF_TAGS) == _tags(source, GEOTIFF_TAGS)
    assert len(_tags(source, GEOTIFF_TAGS)) == len(layout.get("geotags", _geotags()))


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_files_without_geotags_give_none(tmp_path: Path, suffix: str) -> None:
    pixels = np.zeros((H, W), np.uint8)
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, pixels)
    assert read_georef(plain) is None
    png = tmp_path / f"picture{suffix}"  # a PNG, also under a TIFF's name
    Image.fromarray(pixels).save(png, format="PNG")
    assert read_georef(png) is None
    # GDAL's tags alone do not place an image.
    gdal_only = tmp_path / "gdal_only.tif"
    tifffile.imwrite(gdal_only, pixels, extratags=[(GDAL_NODATA, 2, 0, "0", True)])
    assert read_georef(gdal_only) is None
    # TIFF's first bytes, then nothing tifffile can parse: the image cannot be read either, so no georef.
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"II*\x00" + b"\xff" * 12)
    assert read_georef(broken) is None


def test_non_ascii_strings_round_trip(tmp_path: Path) -> None:
    # GDAL writes UTF-8 into ASCII tags; tifffile refuses a str that is not 7-bit ASCII, so they go as bytes.
    citation = "ETRS89 / UTM zone 33N – Österreich|"
    source = read_georef(_write_geotiff(tmp_path / "scene.tif", geotags=_geotags(citation.encode())))
    assert source is not None and source.tag(34737) is not None
    copied = read_georef(save_mask_geotiff(tmp_path / "m.tif", _mask(), source))
    assert copied is not None and copied.tag(34737) == source.tag(34737)
    assert copied.tag(34737)[3] == citation  # type: ignore[index]


def test_gdal_metadata_keeps_dataset_items_and_nodata_is_the_masks_own(tmp_path: Path) -> None:
    metadata = f"<GDALMetadata>\n  {DATASET_ITEM}\n  {BAND_ITEM}\n</GDALMetadata>\n"
    extra = [(GDAL_METADATA, 2, 0, metadata), (GDAL_NODATA, 2, 0, "0")]
    source = read_georef(_write_geotiff(tmp_path / "scene.tif", extra))
    assert source is not None
    assert source.tag(GDAL_METADATA) is not None and source.tag(GDAL_NODATA) is not None  # read as stored
    copied = read_georef(save_mask_geotiff(tmp_path / "m.tif", _mask(), source))
    assert copied is not None
    kept = copied.tag(GDAL_METADATA)
    assert kept is not None
    assert DATASET_ITEM in kept[3] and 'sample="0"' not in kept[3]  # the input band's SCALE is not the mask's
    # The input's nodata 0 would hide class 0 in GIS tools: not copied.
    assert copied.tag(GDAL_NODATA) is None
    # The mask's own void value is.
    voided = read_georef(save_mask_geotiff(tmp_path / "v.tif", _mask(), source, nodata=255))
    assert voided is not None and voided.tag(GDAL_NODATA) == (GDAL_NODATA, 2, 4, "255")


def test_gdal_metadata_without_band_items_is_copied_byte_for_byte(tmp_path: Path) -> None:
    # The comment is one thing an XML round trip (ElementTree) would drop.
    only_dataset = f"<GDALMetadata>\n  <!-- by GDAL -->\n  {DATASET_ITEM}\n</GDALMetadata>\n"
    source = read_georef(_write_geotiff(tmp_path / "a.tif", [(GDAL_METADATA, 2, 0, only_dataset)]))
    assert source is not None
    stored = source.tag(GDAL_METADATA)
    assert stored is not None and DATASET_ITEM in stored[3] and "<!-- by GDAL -->" in stored[3]
    tags = {t[0]: t for t in mask_tags(source)}
    assert tags[GDAL_METADATA][3] == stored[3].encode()  # not re-serialized
    # Band items only, or XML that does not parse: nothing of it is copied.
    for text in (f"<GDALMetadata>{BAND_ITEM}</GDALMetadata>", "<GDALMetadata><Item"):
        other = read_georef(_write_geotiff(tmp_path / "b.tif", [(GDAL_METADATA, 2, 0, text)]))
        assert other is not None and other.tag(GDAL_METADATA) is not None
        assert GDAL_METADATA not in {t[0] for t in mask_tags(other)}


@pytest.mark.parametrize(
    ("num_classes", "dtype"), [(2, np.uint8), (256, np.uint8), (300, np.uint16), (70000, np.int32)]
)
def test_pixel_type_follows_the_class_count(tmp_path: Path, num_classes: int, dtype: type) -> None:
    source = read_georef(_write_geotiff(tmp_path / "scene.tif"))
    assert source is not None
    mask = _mask()
    mask[0, 0] = num_classes - 1
    with tifffile.TiffFile(
        save_mask_geotiff(tmp_path / "m.tif", mask, source, num_classes=num_classes)
    ) as tif:
        assert tif.pages.first.dtype == dtype
        np.testing.assert_array_equal(tif.pages.first.asarray(), mask)


def test_palette_becomes_the_colour_map(tmp_path: Path) -> None:
    source = read_georef(_write_geotiff(tmp_path / "scene.tif"))
    assert source is not None
    colours = np.array([[0, 0, 0], [255, 0, 0], [0, 128, 255]], dtype=np.uint8)
    path = save_mask_geotiff(tmp_path / "m.tif", _mask() % 3, source, num_classes=3, palette=colours)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        assert page.photometric == tifffile.PHOTOMETRIC.PALETTE
        assert page.colormap is not None
        np.testing.assert_array_equal(page.colormap[:, :3].T, colours.astype(np.uint16) * 257)
        np.testing.assert_array_equal(page.asarray(), _mask() % 3)  # the class indices, not colours


def test_a_mask_of_another_size_or_with_negative_values_is_refused(tmp_path: Path) -> None:
    source = read_georef(_write_geotiff(tmp_path / "scene.tif"))
    assert source is not None
    with pytest.raises(ValueError, match=r"mask is 32x48 \(WxH\) but the georeferencing is for a 64x48"):
        save_mask_geotiff(tmp_path / "m.tif", np.zeros((H, 32), np.uint8), source)
    with pytest.raises(ValueError, match="negative values"):
        save_mask_geotiff(tmp_path / "m.tif", np.full((H, W), -1), source)
    assert not (tmp_path / "m.tif").exists()


def test_a_failure_mid_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = read_georef(_write_geotiff(tmp_path / "scene.tif"))
    assert source is not None
    out = tmp_path / "masks"
    earlier = save_mask_geotiff(out / "scene.tif", np.zeros((H, W), np.uint8), source)
    before = earlier.read_bytes()

    def half_written(fh: Any, *args: Any, **kwargs: Any) -> None:
        fh.write(b"II*\x00partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tifffile, "imwrite", half_written)
    with pytest.raises(OSError, match="No space left"):
        save_mask_geotiff(out / "scene.tif", _mask(), source)
    with pytest.raises(OSError, match="No space left"):
        save_mask_geotiff(out / "new.tif", _mask(), source)
    # The earlier file intact, no new one, no temp file left.
    assert sorted(p.name for p in out.iterdir()) == ["scene.tif"]
    assert earlier.read_bytes() == before


def test_georef_is_frozen(tmp_path: Path) -> None:
    source = read_georef(_write_geotiff(tmp_path / "scene.tif"))
    assert source is not None
    with pytest.raises(AttributeError):
        source.shape = (1, 1)  # type: ignore[misc]
