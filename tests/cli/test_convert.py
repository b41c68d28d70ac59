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


# ---------------------------------------------------------------------------------------------- cityscapes


def make_cityscapes(root: Path, test_labels: bool = False, labels: str = "gtFine") -> Path:
    """Two cities per split, one 32x64 image each, as downloaded: leftImg8bit/<split>/<city>/ with
    gtFine/<split>/<city>/ labelIds (bands 7, 26, 0, 1; the test labels all 0 unless ``test_labels``)."""
    bands = np.repeat(np.array([7, 26, 0, 1], np.uint8), 16)[None, :].repeat(32, axis=0)
    for i, (split, city) in enumerate(
        (s, c) for s, cs in {"train": "ab", "val": "cd", "test": "ef"}.items() for c in cs
    ):
        stem = f"city{city}_{i:06d}_000019"
        for folder, name, array in (
            ("leftImg8bit", f"{stem}_leftImg8bit.png", np.full((32, 64, 3), 30 * i, np.uint8)),
            (labels, f"{stem}_{labels}_labelIds.png", bands if split != "test" or test_labels else bands * 0),
        ):
            (root / folder / split / f"city{city}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(root / folder / split / f"city{city}" / name)
    return root


def test_convert_cityscapes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, out = make_cityscapes(tmp_path / "cityscapes"), tmp_path / "converted"
    assert main(["convert", "cityscapes", str(src), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == (
        f"wrote 2 train, 2 val images with their trainId masks (19 classes, 255 void) from gtFine/ to {out}"
    )
    assert (
        "left out leftImg8bit/test/: its 2 gtFine labels are all void (Cityscapes keeps the test labels)"
        in lines
    )
    assert any(
        line.startswith("no test split: val is the evaluation split") and "--recursive" in line
        for line in lines
    )
    assert lines[-1] == f"train with: unetkit fit {out} --time 20m"
    assert "convert" in captured.err  # the progress bar, on stderr
    mask = np.asarray(Image.open(out / "train" / "masks" / "citya_000000_000019.png"))
    assert [int(mask[0, c]) for c in (0, 16, 32, 48)] == [0, 13, 255, 255]
    layout = discover(out)
    assert (
        layout.mask.kind == "index"
        and len(layout.mask.class_names) == 19
        and layout.mask.ignore_values == (255,)
    )
    assert set(layout.splits) == {"train", "val"}


def test_convert_cityscapes_keeps_a_labelled_test_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, out = make_cityscapes(tmp_path / "cityscapes", test_labels=True), tmp_path / "converted"
    assert main(["convert", "cityscapes", str(src), "--out", str(out), "--quiet", "--link", "symbolic"]) == 0
    captured = capsys.readouterr()
    assert (
        captured.out.splitlines()[0].startswith("wrote 2 train, 2 val, 2 test images")
        and "symlinked" in captured.out
    )
    assert "no test split" not in captured.out and "left out" not in captured.out and captured.err == ""
    assert (out / "test" / "images" / "citye_000004_000019.png").is_symlink()


def test_convert_cityscapes_val_cities(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, out = make_cityscapes(tmp_path / "cityscapes"), tmp_path / "converted"
    cities = sorted(p.name for p in (src / "leftImg8bit" / "train").iterdir())
    assert (
        main(["convert", "cityscapes", str(src), "--out", str(out), "--quiet", "--val-cities", cities[0]])
        == 0
    )
    printed = capsys.readouterr().out
    assert f"val: the training images of {cities[0]}; test: the official val split" in printed
    assert sorted(p.name for p in out.iterdir()) == ["classes.json", "test", "train", "val"]


def test_convert_cityscapes_coarse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, out = make_cityscapes(tmp_path / "cityscapes", labels="gtCoarse"), tmp_path / "converted"
    assert main(["convert", "cityscapes", str(src), "--out", str(out), "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(f"from gtCoarse/ to {out}")
    assert lines[1] == (
        f"labels from gtCoarse/, as {src} has no gtFine/: coarse polygons, so val scores are not the "
        "benchmark's (fine labels)"
    )


def test_convert_cityscapes_errors_are_one_line_and_leave_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, out = make_cityscapes(tmp_path / "cityscapes"), tmp_path / "converted"
    # The last val labels of another size: the train pairs are written by then, and must not be left.
    labels = src / "gtFine" / "val" / "cityd" / "cityd_000003_000019_gtFine_labelIds.png"
    Image.fromarray(np.zeros((32, 60), np.uint8)).save(labels)
    assert main(["convert", "cityscapes", str(src), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: labels {labels} are 60x32 but image "
        f"{src / 'leftImg8bit' / 'val' / 'cityd' / 'cityd_000003_000019_leftImg8bit.png'} is 64x32; "
        "re-extract both from the Cityscapes download, or remove the pair\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cityscapes"]  # neither OUT nor a temporary folder
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    assert main(["convert", "cityscapes", str(src), "--out", str(out), "--quiet"]) == 2
    assert capsys.readouterr().err == f"error: {out} already exists and is not empty; pass a new folder\n"
    assert main(["convert", "cityscapes", str(src), "--out", str(out), "--skip-unlabelled"]) == 2
    assert "--skip-unlabelled is for kaggle" in capsys.readouterr().err
    assert main(["convert", "kaggle", str(src), "--out", str(tmp_path / "k"), "--link", "hard"]) == 2
    assert "--link and --val-cities are for cityscapes" in capsys.readouterr().err
    assert (out / "mine.txt").read_text() == "keep"


def test_discovery_names_the_cityscapes_conversion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = make_cityscapes(tmp_path / "cityscapes")
    monkeypatch.chdir(tmp_path)  # plan writes into the current folder
    assert main(["plan", str(src), "--time", "1m"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"unetkit convert cityscapes {src} --out {src}_trainids" in err
