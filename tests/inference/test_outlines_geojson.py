"""Instance outlines as GeoJSON (``predict --outlines``): one closed polygon per instance along its pixel
edges, in pixel coordinates with pixel corners at integers, its id, area and class."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from unetkit.inference.writers import instance_outlines, save_outlines_geojson


def _ring_area(ring: list[list[float]]) -> float:
    xy = np.asarray(ring)
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * abs(float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1])))


def test_each_instance_is_one_closed_polygon_on_its_pixel_edges() -> None:
    labels = np.zeros((40, 50), dtype=np.int32)
    labels[5:15, 10:30] = 1  # rows 5..14, cols 10..29: x in [10, 30], y in [5, 15]
    yy, xx = np.mgrid[:40, :50]
    labels[(yy - 28) ** 2 + (xx - 35) ** 2 <= 64] = 3  # a disk; id 2 has no pixel
    mask = (labels > 0).astype(np.uint8) * 2
    mask[labels == 3] = 1
    features = instance_outlines(labels, mask, ["background", "small", "big"])["features"]
    assert [f["properties"]["id"] for f in features] == [1, 3]  # an id without pixels has no outline
    box, disk = (f["geometry"]["coordinates"][0] for f in features)
    assert box[0] == box[-1] and disk[0] == disk[-1]
    xs, ys = zip(*box)
    assert (min(xs), max(xs), min(ys), max(ys)) == (10.0, 30.0, 5.0, 15.0)
    assert features[0]["properties"] == {
        "id": 1, "area_px": 200, "objectType": "detection", "classification": {"name": "big"},
    }  # fmt: skip
    assert features[1]["properties"]["classification"] == {"name": "small"}
    # Corners are cut (marching squares): the area is the pixel area less an eighth of a pixel per corner.
    assert _ring_area(box) == pytest.approx(200 - 4 * 0.125)
    assert _ring_area(disk) == pytest.approx(features[1]["properties"]["area_px"], rel=0.05)


def test_an_instance_in_two_pieces_keeps_the_larger_and_no_mask_means_no_class(tmp_path: Path) -> None:
    labels = np.zeros((20, 20), dtype=np.uint16)
    labels[2:4, 2:4] = 7
    labels[10:18, 10:18] = 7
    written = save_outlines_geojson(tmp_path / "x.geojson", labels)
    collection = json.loads(written.read_text())
    assert collection["type"] == "FeatureCollection"
    (feature,) = collection["features"]
    xs, ys = zip(*feature["geometry"]["coordinates"][0])
    assert (min(xs), max(xs), min(ys), max(ys)) == (10.0, 18.0, 10.0, 18.0)
    assert feature["properties"] == {"id": 7, "area_px": 68, "objectType": "detection"}


def test_labels_and_mask_of_other_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"labels must be \(H, W\), got shape \(2, 3, 4\)"):
        instance_outlines(np.zeros((2, 3, 4), dtype=np.int32))
    with pytest.raises(ValueError, match=r"mask is \(3, 3\) but labels are \(4, 4\)"):
        instance_outlines(np.zeros((4, 4), dtype=np.int32), np.zeros((3, 3), dtype=np.uint8), ["a"])
