"""Trial 24 (noticed, left alone then): the probability TIFF of an input with pixels left out (outside
``--roi``, the input's GeoTIFF nodata) holds NaN there in every band, and its GDAL_NODATA is ``nan``, as the
mask GeoTIFF's void is its nodata; an input without pixels left out gets no nodata tag; the caller's
probabilities are not changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from tests.inference.test_georef_predict import SIZE, _Squares
from tests.inference.test_s25_nodata_predict import _scene

from unetkit.inference.batch import OutputOptions, predict_files
from unetkit.inference.georef import GDAL_NODATA
from unetkit.inference.writers import save_probs


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_nodata_pixels_are_nan_in_every_band_and_the_tiffs_nodata(tmp_path: Path, dtype: str) -> None:
    scene = _scene(tmp_path / "in" / "scene.tif", "0")  # its two bottom rows are nodata
    out = tmp_path / "out"
    result = predict_files(_Squares(), [scene], out, outputs=OutputOptions(probs="tiff", probs_dtype=dtype))
    assert not result.failures
    probs = tifffile.imread(out / "probs" / "scene.tif")
    assert probs.shape == (2, SIZE, SIZE) and probs.dtype == np.dtype(dtype)
    assert np.isnan(probs[:, -2:]).all() and not np.isnan(probs[:, :-2]).any()
    with tifffile.TiffFile(out / "probs" / "scene.tif") as tif:
        assert tif.pages.first.tags[GDAL_NODATA].value == "nan"


def test_without_pixels_left_out_there_is_no_nodata(tmp_path: Path) -> None:
    scene = _scene(tmp_path / "in" / "scene.tif", None)
    predict_files(_Squares(), [scene], tmp_path / "out", outputs=OutputOptions(probs="tiff"))
    assert not np.isnan(tifffile.imread(tmp_path / "out" / "probs" / "scene.tif")).any()
    with tifffile.TiffFile(tmp_path / "out" / "probs" / "scene.tif") as tif:
        assert GDAL_NODATA not in tif.pages.first.tags


def test_the_callers_probabilities_are_not_changed(tmp_path: Path) -> None:
    probs = np.full((2, 4, 5), 0.5, np.float32)
    outside = np.zeros((4, 5), bool)
    outside[0] = True
    save_probs(tmp_path / "p.tif", probs, "tiff", np.float32, outside=outside)
    assert (probs == 0.5).all()
    assert np.isnan(tifffile.imread(tmp_path / "p.tif")[:, 0]).all()
    save_probs(tmp_path / "none.tif", probs, "tiff", outside=np.zeros((4, 5), bool))  # nothing left out
    with tifffile.TiffFile(tmp_path / "none.tif") as tif:
        assert GDAL_NODATA not in tif.pages.first.tags
    with pytest.raises(ValueError, match=r"outside is \(5, 4\), probabilities \(K, H, W\) \(2, 4, 5\)"):
        save_probs(tmp_path / "q.tif", probs, "tiff", outside=outside.T)
