"""Trial 24 S4, S5, S10: GIS outputs. ``--probs tiff`` is one multi-band image (band i: class i) in the asked
float type, deflate-compressed, with the input's georeferencing and the class names as band descriptions (S5);
an input TIFF's nodata value is read and where the image holds it is found (S4); a mask GeoTIFF's class names
go into a GDAL ``.aux.xml`` sidecar that GDAL/QGIS read (S10)."""

from __future__ import annotations

import importlib.util
import logging
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from xml.sax.saxutils import unescape

import numpy as np
import pytest
import tifffile
from tests.inference.test_georef import BAND_ITEM, DATASET_ITEM, H, W, _write_geotiff

from unetkit.data.io import read_raw_image
from unetkit.inference import writers
from unetkit.inference.georef import (
    GDAL_METADATA,
    GDAL_NODATA,
    GEOTIFF_TAGS,
    nodata_outside,
    read_georef,
    read_nodata,
)
from unetkit.inference.writers import save_class_names_sidecar, save_probs
from unetkit.palette import class_palette

NAMES = ["water", "road & <rail>", "forêt"]


def _probs(k: int = 3) -> np.ndarray:
    return np.random.default_rng(0).dirichlet(np.ones(k), (H, W)).transpose(2, 0, 1).astype(np.float32)


def _georef(tmp_path: Path, extra: list[tuple[int, int, int, Any]] | None = None) -> Any:
    georef = read_georef(_write_geotiff(tmp_path / "scene.tif", extra))
    assert georef is not None
    return georef


def _descriptions(page: Any) -> dict[int, str]:
    """The band descriptions as GDAL reads them: values escaped once more than the XML needs (GDAL's way)."""
    root = ET.fromstring(page.tags[GDAL_METADATA].value)
    return {int(i.get("sample", -1)): unescape(i.text or "") for i in root if i.get("role") == "description"}


# ------------------------------------------------------------------------------------ S5: probability TIFF


def test_probs_tiff_is_one_georeferenced_compressed_band_per_class(tmp_path: Path) -> None:
    metadata = f"<GDALMetadata>{DATASET_ITEM}{BAND_ITEM}</GDALMetadata>"
    georef = _georef(tmp_path, [(GDAL_METADATA, 2, 0, metadata)])
    probs = _probs()
    path = save_probs(tmp_path / "p.tif", probs, "tiff", georef=georef, class_names=NAMES)
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 1  # one image, not K pages (GDAL shows pages as sub-datasets)
        page = tif.pages.first
        assert page.samplesperpixel == 3 and page.planarconfig == 2  # K bands, stored band after band
        assert page.photometric == 1 and page.dtype == np.float16  # minisblack; the default dtype, honoured
        assert page.compression == 8  # deflate
        for code in GEOTIFF_TAGS:
            stored = georef.tag(code)
            assert (page.tags[code].value if code in page.tags else None) == (stored and stored[3])
        assert _descriptions(page) == dict(enumerate(NAMES))
        # GDAL's own escaping: once for the value, once for the XML; read back by GDAL as "road & <rail>".
        assert ">road &amp;amp; &amp;lt;rail&amp;gt;</Item>" in page.tags[GDAL_METADATA].value
        root = ET.fromstring(page.tags[GDAL_METADATA].value)
        dataset_items = [i.get("name") for i in root if i.get("sample") is None]
        assert dataset_items == ["ACQUISITION"]  # the input's dataset item kept
        assert "SCALE" not in page.tags[GDAL_METADATA].value  # the input's band items describe its bands
        assert GDAL_NODATA not in page.tags
    back = tifffile.imread(path)
    assert back.shape == probs.shape and back.dtype == np.float16
    np.testing.assert_array_equal(back, probs.astype(np.float16))


def test_probs_tiff_float32_is_exact_and_other_types_are_refused(tmp_path: Path) -> None:
    probs = _probs()
    path = save_probs(tmp_path / "p.tif", probs, "tiff", np.float32)
    np.testing.assert_array_equal(tifffile.imread(path), probs)
    with tifffile.TiffFile(path) as tif:  # no georef, no names: no GeoTIFF tags, no GDAL metadata
        assert not {*GEOTIFF_TAGS, GDAL_METADATA} & set(tif.pages.first.tags.keys())
    with pytest.raises(ValueError, match=r"probability TIFFs are float16 or float32, got dtype float64"):
        save_probs(tmp_path / "q.tif", probs, "tiff", np.float64)
    assert not (tmp_path / "q.tif").exists()


def test_probs_tiff_refuses_what_does_not_fit(tmp_path: Path) -> None:
    georef = _georef(tmp_path)
    with pytest.raises(ValueError, match=r"2 class names for 3 probability bands"):
        save_probs(tmp_path / "p.tif", _probs(), "tiff", class_names=NAMES[:2])
    with pytest.raises(
        ValueError, match=r"probabilities are 32x48 \(WxH\) but the georeferencing is for a 64x48"
    ):
        save_probs(tmp_path / "p.tif", _probs()[:, :, :32], "tiff", georef=georef)
    with pytest.raises(ValueError, match=r"must be \(K, H, W\), got shape \(48, 64\)"):
        save_probs(tmp_path / "p.tif", _probs()[0], "tiff")
    assert not (tmp_path / "p.tif").exists()


def test_a_one_class_probs_tiff_is_one_band(tmp_path: Path) -> None:
    probs = _probs(2)[:1]
    path = save_probs(tmp_path / "p.tif", probs, "tiff", georef=_georef(tmp_path), class_names=["building"])
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 1 and tif.pages.first.samplesperpixel == 1
        assert _descriptions(tif.pages.first) == {0: "building"}
    np.testing.assert_array_equal(tifffile.imread(path), probs[0].astype(np.float16))  # (H, W) for K = 1


def test_probs_npy_is_unchanged_by_the_tiff_keywords(tmp_path: Path) -> None:
    probs = _probs()
    path = save_probs(tmp_path / "p.npy", probs, georef=_georef(tmp_path), class_names=NAMES)
    back = np.load(path)
    assert back.dtype == np.float16 and back.shape == probs.shape


def test_a_probs_tiff_past_4_gib_is_a_bigtiff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tifffile picks BigTIFF by itself only for uncompressed data: a compressed classic TIFF past 4 GiB fails
    when written."""
    with tifffile.TiffFile(save_probs(tmp_path / "small.tif", _probs(), "tiff")) as tif:
        assert not tif.is_bigtiff
    monkeypatch.setattr(writers, "BIGTIFF_BYTES", _probs().astype(np.float16).nbytes - 1)
    path = save_probs(tmp_path / "big.tif", _probs(), "tiff", georef=_georef(tmp_path), class_names=NAMES)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_bigtiff and _descriptions(tif.pages.first) == dict(enumerate(NAMES))
    np.testing.assert_array_equal(tifffile.imread(path), _probs().astype(np.float16))


def test_the_float_predictor_is_used_only_where_tifffile_can_encode_it(tmp_path: Path) -> None:
    """Without imagecodecs (this venv) deflate alone; with it, TIFF's floating-point predictor (smaller)."""
    has_codecs = importlib.util.find_spec("imagecodecs") is not None
    assert writers._float_predictor() == (3 if has_codecs else None)
    path = save_probs(tmp_path / "p.tif", _probs(), "tiff")
    with tifffile.TiffFile(path) as tif:
        assert tif.pages.first.predictor == (3 if has_codecs else 1)
        assert tif.pages.first.compression == 8
    np.testing.assert_array_equal(tifffile.imread(path), _probs().astype(np.float16))


def test_gdal_reads_the_probs_tiff_as_named_georeferenced_bands(tmp_path: Path) -> None:
    """Run where rasterio (GDAL) is installed; unetkit does not need it."""
    rasterio = pytest.importorskip("rasterio")
    probs = _probs()
    path = save_probs(tmp_path / "p.tif", probs, "tiff", georef=_georef(tmp_path), class_names=NAMES)
    with rasterio.open(path) as src:
        assert src.count == 3 and src.descriptions == tuple(NAMES)
        assert src.crs.to_epsg() == 32633
        assert tuple(src.transform)[:6] == (10.0, 0.0, 500000.0, 0.0, -10.0, 4649776.0)
        np.testing.assert_array_equal(src.read(), probs.astype(np.float16).astype(np.float32))


# ------------------------------------------------------------------------------------------- S4: nodata


def _tiff_with_nodata(path: Path, pixels: np.ndarray, nodata: str | None) -> Path:
    extratags = [] if nodata is None else [(GDAL_NODATA, 2, 0, nodata, True)]
    tifffile.imwrite(path, pixels, extratags=extratags)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0.0), ("-9999", -9999.0), ("-3.4028234663852886e+38", -3.4028234663852886e38), (" 255 ", 255.0)],
)
def test_read_nodata_gives_the_gdal_nodata_tag_as_a_float(tmp_path: Path, text: str, expected: float) -> None:
    path = _tiff_with_nodata(tmp_path / "a.tif", np.zeros((4, 5), np.uint8), text)
    assert read_nodata(path) == expected
    assert isinstance(read_nodata(path), float)


def test_read_nodata_nan_none_and_not_a_number(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pixels = np.zeros((4, 5), np.float32)
    value = read_nodata(_tiff_with_nodata(tmp_path / "nan.tif", pixels, "nan"))
    assert value is not None and np.isnan(value)
    assert read_nodata(_tiff_with_nodata(tmp_path / "none.tif", pixels, None)) is None
    assert read_nodata(_write_geotiff(tmp_path / "geo.tif")) is None  # georeferenced, no nodata
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert read_nodata(tmp_path / "a.png") is None  # not a TIFF
    (tmp_path / "broken.tif").write_bytes(b"II*\x00" + b"\xff" * 20)
    assert read_nodata(tmp_path / "broken.tif") is None  # a TIFF tifffile cannot parse
    with caplog.at_level(logging.WARNING, logger="unetkit.inference.georef"):
        assert read_nodata(_tiff_with_nodata(tmp_path / "junk.tif", pixels, "none")) is None
    assert "junk.tif has a GDAL_NODATA tag that is no number ('none')" in caplog.text


def test_nodata_outside_needs_every_band_at_the_value(tmp_path: Path) -> None:
    """Trial 24's scene: an RGB GeoTIFF, GDAL_NODATA=0, a black border; a dark pixel with one band at 0 is
    data."""
    pixels = np.full((H, W, 3), 90, np.uint8)
    pixels[:5] = 0
    pixels[10, 10] = (0, 7, 0)
    path = tmp_path / "scene.tif"
    tifffile.imwrite(path, pixels, photometric="rgb", extratags=[(GDAL_NODATA, 2, 0, "0", True)])
    nodata = read_nodata(path)
    assert nodata == 0.0
    outside = nodata_outside(read_raw_image(path), nodata)
    assert outside.shape == (H, W) and outside.dtype == bool
    assert outside[:5].all() and not outside[5:].any()
    np.testing.assert_array_equal(nodata_outside(pixels[..., 1], 0), pixels[..., 1] == 0)  # (H, W) too


def test_nodata_outside_compares_in_the_images_own_type() -> None:
    floats = np.zeros((3, 4, 2), np.float32)
    floats[0, 0] = np.float32(-9999.9)  # -9999.9 as a float32 pixel is not -9999.9 as a float64
    floats[1, 1] = np.nan
    assert nodata_outside(floats, -9999.9).sum() == 1 and nodata_outside(floats, -9999.9)[0, 0]
    assert nodata_outside(floats, float("nan")).sum() == 1 and nodata_outside(floats, float("nan"))[1, 1]
    small = np.zeros((3, 4), np.uint8)
    for value in (-9999.0, 0.5, 256.0, float("nan")):  # values a uint8 cannot hold match no pixel
        assert not nodata_outside(small, value).any()
    half = np.zeros((3, 4), np.float16)
    half[0, 0] = -np.inf  # -3.4e38 is no float16 (it overflows to -inf): it matches no pixel, -inf either
    with np.errstate(all="raise"):
        assert not nodata_outside(half, -3.4028234663852886e38).any()
    assert nodata_outside(np.array([[True, False]]), 1).tolist() == [[True, False]]


def test_nodata_outside_refuses_what_is_no_image() -> None:
    with pytest.raises(ValueError, match=r"must be \(H, W\) or \(H, W, C\), got shape \(2, 3, 4, 5\)"):
        nodata_outside(np.zeros((2, 3, 4, 5)), 0)
    with pytest.raises(TypeError, match=r"must hold numbers .* got dtype <U1"):
        nodata_outside(np.array([["a"]]), 0)


# ------------------------------------------------------------------------------- S10: class-name sidecar


def _sidecar(path: Path) -> tuple[list[str], list[tuple[str, str, str]], list[list[str]]]:
    band = ET.parse(path).getroot().find("PAMRasterBand[@band='1']")
    assert band is not None
    categories = [c.text or "" for c in band.findall("CategoryNames/Category")]
    rat = band.find("GDALRasterAttributeTable[@tableType='thematic']")
    assert rat is not None
    fields = [
        (f.findtext("Name", ""), f.findtext("Type", ""), f.findtext("Usage", ""))
        for f in rat.iter("FieldDefn")
    ]
    rows = [[c.text or "" for c in row.findall("F")] for row in rat.findall("Row")]
    return categories, fields, rows


def test_the_sidecar_names_each_class_value_for_gdal(tmp_path: Path) -> None:
    path = save_class_names_sidecar(tmp_path / "masks" / "scene.tif", NAMES)
    assert path == tmp_path / "masks" / "scene.tif.aux.xml"
    categories, fields, rows = _sidecar(path)
    assert categories == NAMES  # GDAL's category names: value i is NAMES[i]
    # GDAL's codes: Value integer (0) of usage MinMax (5), Class string (2) of usage Name (2).
    assert fields == [("Value", "0", "5"), ("Class", "2", "2")]
    assert rows == [["0", "water"], ["1", "road & <rail>"], ["2", "forêt"]]
    assert [p.name for p in path.parent.iterdir()] == ["scene.tif.aux.xml"]  # no temp file left


def test_the_sidecar_colours_match_the_masks_colour_map(tmp_path: Path) -> None:
    palette = np.array([[0, 0, 255], [128, 128, 128]], np.uint8)  # fewer colours than classes
    path = save_class_names_sidecar(tmp_path / "scene.tif", NAMES, palette)
    _, fields, rows = _sidecar(path)
    assert fields[2:] == [("Red", "0", "6"), ("Green", "0", "7"), ("Blue", "0", "8")]
    third = [str(int(c)) for c in class_palette(3)[2]]  # beyond the palette: class_palette's, as in the TIFF
    assert [row[2:] for row in rows] == [["0", "0", "255"], ["128", "128", "128"], third]
    save_class_names_sidecar(tmp_path / "scene.tif", ["a", "b"])  # rewritten whole
    assert _sidecar(path)[0] == ["a", "b"]


def test_the_sidecar_refuses_what_names_no_class(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no class names given"):
        save_class_names_sidecar(tmp_path / "m.tif", [])
    with pytest.raises(TypeError, match=r"class names must be strings, got 3"):
        save_class_names_sidecar(tmp_path / "m.tif", ["a", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"colors must be \(N, 3\), got shape \(3,\)"):
        save_class_names_sidecar(tmp_path / "m.tif", ["a"], np.zeros(3, np.uint8))
    assert list(tmp_path.iterdir()) == []
