"""``unetkit convert kaggle SRC --out OUT``: one mask file per object -> 16-bit instance labels, whole or not
at all; and discovery's one-line error that names the command on a Kaggle-layout folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unetkit.cli.main import main
from unetkit.planning import discover

DSB = Path(__file__).resolve().parents[3] / "shared" / "data" / "dsb2018"


def make_kaggle(root: Path, n: int = 3, empty: int | None = None) -> Path:
    """``n`` samples ``<id>/images/<id>.png`` with two square nuclei each in ``<id>/masks/``."""
    for i in range(n):
        sample = root / f"id{i}"
        (sample / "images").mkdir(parents=True)
        (sample / "masks").mkdir()
        Image.fromarray(np.full((16, 20, 3), 40 * i, np.uint8)).save(sample / "images" / f"id{i}.png")
        if i == empty:
            continue
        for k, (r, c) in enumerate(((2, 2), (8, 10))):
            m = np.zeros((16, 20), np.uint8)
            m[r : r + 4, c : c + 4 + i] = 255
            Image.fromarray(m).save(sample / "masks" / f"m{k}.png")
    return root


def test_convert_writes_images_and_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, out = make_kaggle(tmp_path / "kaggle"), tmp_path / "converted"
    assert main(["convert", "kaggle", str(src), "--out", str(out), "--quiet"]) == 0
    assert f"train with: unetkit fit {out} --mask-kind instances" in capsys.readouterr().out
    labels = np.asarray(Image.open(out / "labels" / "id1.png"))
    assert labels.dtype == np.uint16 and labels.shape == (16, 20)
    assert labels[3, 3] == 1 and labels[9, 11] == 2 and np.count_nonzero(labels == 2) == 4 * 5
    assert (out / "images" / "id1.png").read_bytes() == (src / "id1" / "images" / "id1.png").read_bytes()
    splits = {"train": ["id0"], "val": ["id1"], "test": ["id2"]}
    assert discover(out, splits=splits, mask_kind="instances").mask.kind == "instances"
    # Two objects per image in a 16-bit file: instance labels or class indices 0..2? Discovery asks.
    with pytest.raises(
        ValueError, match=r"uint16 with small values 0\.\.2 .*--mask-kind instances.*--mask-kind index"
    ):
        discover(out, splits=splits)
    assert discover(out, splits=splits, mask_kind="index").mask.kind == "index"


def test_discovery_names_the_conversion(tmp_path: Path) -> None:
    src = make_kaggle(tmp_path / "kaggle")
    with pytest.raises(ValueError, match=r"Kaggle DSB layout .* unetkit convert kaggle \S*kaggle --out"):
        discover(src)


def test_convert_is_whole_or_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, out = make_kaggle(tmp_path / "kaggle", empty=1), tmp_path / "converted"
    assert main(["convert", "kaggle", str(src), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "id1 has no masks; remove the folder or pass --skip-unlabelled" in err and err.count("\n") == 1
    assert not out.exists() and list(tmp_path.iterdir()) == [src]  # no partial folder left either
    assert main(["convert", "kaggle", str(src), "--out", str(out), "--quiet", "--skip-unlabelled"]) == 0
    assert "left out 1 folders without masks: id1" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["id0.png", "id2.png"]
    assert main(["convert", "kaggle", str(src), "--out", str(out), "--quiet"]) == 2  # never overwrites
    assert "already exists and is not empty" in capsys.readouterr().err


@pytest.mark.skipif(not (DSB / "kaggle_layout").is_dir(), reason="../shared/data/dsb2018 is not here")
def test_converted_dsb_sample_equals_the_datasets_labels(tmp_path: Path) -> None:
    out = tmp_path / "converted"
    assert main(["convert", "kaggle", str(DSB / "kaggle_layout"), "--out", str(out), "--quiet"]) == 0
    converted = sorted((out / "labels").iterdir())
    assert len(converted) == 12
    for path in converted:
        expected = np.asarray(Image.open(DSB / "labels" / path.name))
        np.testing.assert_array_equal(np.asarray(Image.open(path)), expected)
