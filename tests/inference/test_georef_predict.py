"""``predict`` on a georeferenced TIFF: ``masks/<name>.tif`` beside the PNG, with the input's georeferencing
(what GIS tools need to overlay it); other inputs get none, and a rerun removes a stale one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from PIL import Image

import unetkit.inference.writers as writers
from unetkit.inference.batch import predict_files
from unetkit.inference.georef import GDAL_NODATA, GEOTIFF_TAGS, read_georef
from unetkit.model_files.model_config import ModelConfig

SIZE = 16
GEOKEYS = (1, 1, 0, 2, 1024, 0, 1, 1, 3072, 0, 1, 32633)  # projected, EPSG:32633 (UTM zone 33N)
GEOTAGS = [
    (33550, 12, 3, (10.0, 10.0, 0.0), True),
    (33922, 12, 6, (0.0, 0.0, 0.0, 500000.0, 4649776.0, 0.0), True),
    (34735, 3, len(GEOKEYS), GEOKEYS, True),
]


class _Squares:
    """Predicts class 1 in a 4x4 square (top left) of the image, class 0 elsewhere."""

    def __init__(self) -> None:
        self.config = ModelConfig("unet", {"in_channels": 1, "num_classes": 2}, ["bg", "fg"], [0.5], [0.25])

    def predict(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mask = np.zeros(image.shape[:2], np.int64)
        mask[1:5, 1:5] = 1
        return mask, np.stack([1.0 - mask, mask]).astype(np.float32)


def _scene(path: Path, geo: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((SIZE, SIZE), 100, np.uint8)
    tifffile.imwrite(path, pixels, extratags=GEOTAGS if geo else [])
    return path


def _geotags(path: Path) -> dict[int, Any]:
    georef = read_georef(path)
    assert georef is not None
    return {t[0]: t for t in georef.tags if t[0] in GEOTIFF_TAGS}


def test_a_geotiff_input_gets_a_geotiff_mask_with_its_georeferencing(tmp_path: Path) -> None:
    scene = _scene(tmp_path / "in" / "scene.tif")
    out = tmp_path / "out"
    result = predict_files(_Squares(), [scene], out)
    assert not result.failures
    with Image.open(out / "masks" / "scene.png") as img:
        png = np.asarray(img)
    with tifffile.TiffFile(out / "masks" / "scene.tif") as tif:
        page = tif.pages.first
        np.testing.assert_array_equal(page.asarray(), png)  # the PNG's values
        assert page.photometric == tifffile.PHOTOMETRIC.PALETTE  # the PNG's colours
    assert _geotags(out / "masks" / "scene.tif") == _geotags(scene)
    assert png[1:5, 1:5].min() == 1 and png.sum() == 16


def test_other_inputs_get_no_geotiff_and_a_stale_one_is_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    predict_files(_Squares(), [_scene(tmp_path / "a" / "scene.tif")], out)
    assert (out / "masks" / "scene.tif").is_file()
    # The same output name, now without georeferencing: the earlier GeoTIFF would pass for this run's.
    result = predict_files(_Squares(), [_scene(tmp_path / "b" / "scene.tif", geo=False)], out)
    assert not result.failures
    assert result.removed == [out / "masks" / "scene.tif", out / "masks" / "scene.tif.aux.xml"]
    png = tmp_path / "c" / "photo.png"
    png.parent.mkdir()
    Image.fromarray(np.zeros((SIZE, SIZE), np.uint8)).save(png)
    predict_files(_Squares(), [png], out)
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["photo.png", "scene.png"]


def test_void_outside_the_roi_is_the_geotiffs_nodata(tmp_path: Path) -> None:
    scene = _scene(tmp_path / "in" / "scene.tif")
    roi = np.zeros((SIZE, SIZE), np.uint8)
    roi[:, : SIZE // 2] = 255
    (tmp_path / "roi").mkdir()
    Image.fromarray(roi).save(tmp_path / "roi" / "scene.png")
    out = tmp_path / "out"
    assert not predict_files(_Squares(), [scene], out, roi=tmp_path / "roi").failures
    georef = read_georef(out / "masks" / "scene.tif")
    assert georef is not None and georef.tag(GDAL_NODATA) == (GDAL_NODATA, 2, 4, "255")
    with tifffile.TiffFile(out / "masks" / "scene.tif") as tif:
        assert (tif.pages.first.asarray()[:, SIZE // 2 :] == 255).all()
    # Without --roi every pixel has a class: no nodata.
    predict_files(_Squares(), [scene], tmp_path / "plain")
    plain = read_georef(tmp_path / "plain" / "masks" / "scene.tif")
    assert plain is not None and plain.tag(GDAL_NODATA) is None


@pytest.mark.parametrize("error", [ValueError("mask is 8x16"), OSError(28, "No space left on device")])
def test_a_failing_geotiff_write_leaves_none_of_the_images_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def refuse(path: Path, **kwargs: Any) -> Path:
        raise error

    monkeypatch.setattr(writers, "save_mask_geotiff", refuse)
    out = tmp_path / "out"
    scene = _scene(tmp_path / "in" / "scene.tif")
    result = predict_files(_Squares(), [scene, _scene(tmp_path / "in" / "other.tif", geo=False)], out)
    assert [path for path, _ in result.failures] == [scene]
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["other.png"]
