"""Trial 24 S4: a GeoTIFF's nodata pixels (GDAL_NODATA) are left out of its prediction as an ROI's outside is:
void (255) in the mask, the mask GeoTIFF's nodata, not scored, the image untinted in the overlay; with an ROI
both are left out. Without the tag nothing changes."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from tests.inference.test_georef_predict import GEOTAGS, SIZE, _Squares

from unetkit.data.io import MaskEncoding
from unetkit.inference.batch import GroundTruth, predict_files
from unetkit.inference.georef import GDAL_NODATA


def _scene(path: Path, nodata: str | None) -> Path:
    """A 16 px gray GeoTIFF whose two bottom rows hold 0, tagged as nodata when ``nodata`` is given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((SIZE, SIZE), 100, np.uint8)
    pixels[-2:] = 0
    tags = [*GEOTAGS, *([(GDAL_NODATA, 2, 0, nodata, True)] if nodata is not None else [])]
    tifffile.imwrite(path, pixels, extratags=tags)
    return path


def _truth(folder: Path) -> Path:
    folder.mkdir(parents=True)
    truth = np.zeros((SIZE, SIZE), np.uint8)
    truth[1:5, 1:5] = 1
    truth[-2:] = 1  # wrong under the nodata rows: they must not count
    Image.fromarray(truth).save(folder / "scene.png")
    return folder


def test_nodata_pixels_are_void_unscored_and_the_geotiffs_nodata(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scene = _scene(tmp_path / "in" / "scene.tif", "0")
    out = tmp_path / "out"
    truth = GroundTruth(_truth(tmp_path / "truth"), MaskEncoding("index", 2))
    with caplog.at_level(logging.INFO, logger="unetkit"):
        result = predict_files(_Squares(), [scene], out, ground_truth=truth)
    assert not result.failures
    png = np.asarray(Image.open(out / "masks" / "scene.png"))
    assert (png[-2:] == 255).all() and png[1:5, 1:5].min() == 1 and (png[5:-2] == 0).all()
    with tifffile.TiffFile(out / "masks" / "scene.tif") as tif:
        assert tif.pages.first.tags[GDAL_NODATA].value == "255"
    assert result.scores is not None and result.scores["miou"] == pytest.approx(
        1.0
    )  # the bottom rows: unscored
    assert f"{scene}: 32 pixels hold its nodata value 0: left out" in caplog.text


def test_without_the_tag_every_pixel_is_predicted_and_scored(tmp_path: Path) -> None:
    scene = _scene(tmp_path / "in" / "scene.tif", None)
    truth = GroundTruth(_truth(tmp_path / "truth"), MaskEncoding("index", 2))
    result = predict_files(_Squares(), [scene], tmp_path / "out", ground_truth=truth)
    png = np.asarray(Image.open(tmp_path / "out" / "masks" / "scene.png"))
    assert (png[-2:] == 0).all()
    assert result.scores is not None and result.scores["miou"] < 0.9  # the bottom rows count against it
    with tifffile.TiffFile(tmp_path / "out" / "masks" / "scene.tif") as tif:
        assert GDAL_NODATA not in tif.pages.first.tags


def test_nodata_and_an_roi_are_both_left_out(tmp_path: Path) -> None:
    scene = _scene(tmp_path / "in" / "scene.tif", "0")
    roi = np.ones((SIZE, SIZE), np.uint8)
    roi[:, -3:] = 0  # the three right columns outside
    (tmp_path / "roi").mkdir()
    Image.fromarray(roi * 255).save(tmp_path / "roi" / "scene.png")
    result = predict_files(_Squares(), [scene], tmp_path / "out", roi=tmp_path / "roi")
    assert not result.failures
    png = np.asarray(Image.open(tmp_path / "out" / "masks" / "scene.png"))
    assert (png[-2:] == 255).all() and (png[:, -3:] == 255).all() and (png[5:-2, :-3] == 0).all()


def test_a_geotiff_mask_gets_a_class_names_sidecar_and_georeferenced_probs(tmp_path: Path) -> None:
    """Trial 24 S5, S10: masks/<name>.tif.aux.xml names the classes for GDAL/QGIS; --probs tiff is one
    multi-band image carrying the input's georeferencing and the class names; a rerun of a plain input
    removes the stale sidecar."""
    from unetkit.inference.batch import OutputOptions
    from unetkit.inference.georef import read_georef

    scene = _scene(tmp_path / "in" / "scene.tif", None)
    out = tmp_path / "out"
    result = predict_files(_Squares(), [scene], out, outputs=OutputOptions(probs="tiff"))
    assert not result.failures
    sidecar = (out / "masks" / "scene.tif.aux.xml").read_text()
    assert "<Category>bg</Category>" in sidecar and "<Category>fg</Category>" in sidecar
    probs = tifffile.imread(out / "probs" / "scene.tif")
    assert probs.shape == (2, SIZE, SIZE) and probs.dtype == np.float16
    georef, source = read_georef(out / "probs" / "scene.tif"), read_georef(scene)
    assert georef is not None and source is not None
    assert {t[0] for t in georef.tags} >= {t[0] for t in source.tags}
    Image.fromarray(np.full((SIZE, SIZE), 100, np.uint8)).save(tmp_path / "scene.png")
    again = predict_files(_Squares(), [tmp_path / "scene.png"], out)
    assert out / "masks" / "scene.tif.aux.xml" in again.removed


def test_a_one_logit_models_probs_tiff_names_its_one_band(tmp_path: Path) -> None:
    from tests.inference.test_s20_bands import Mixing

    from unetkit.inference.batch import OutputOptions

    scene = _scene(tmp_path / "in" / "scene.tif", None)
    result = predict_files(
        Mixing(1, channels=1), [scene], tmp_path / "out", outputs=OutputOptions(probs="tiff")
    )
    assert not result.failures
    assert tifffile.imread(tmp_path / "out" / "probs" / "scene.tif").shape == (SIZE, SIZE)
    with tifffile.TiffFile(tmp_path / "out" / "probs" / "scene.tif") as tif:
        assert (
            ">c0<" in tif.pages.first.tags[42112].value
        )  # Mixing's class 0 is its one class: the band's name


def test_the_georeferencing_carries_the_nodata_value_read_nodata_reads(tmp_path: Path) -> None:
    from unetkit.inference.georef import read_georef, read_nodata

    tagged, plain = _scene(tmp_path / "a.tif", "0"), _scene(tmp_path / "b.tif", None)
    georef, without = read_georef(tagged), read_georef(plain)
    assert georef is not None and without is not None
    assert georef.nodata == read_nodata(tagged) == 0.0 and without.nodata is None
