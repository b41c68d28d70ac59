"""Cityscapes as downloaded -> trainId masks (:mod:`unetkit.data.cityscapes`), on a tiny synthetic look-alike
(the data cannot be fetched here): the labelId -> trainId table, the converted folder and how discovery reads
it, the test split's void labels, and one-line errors for partial downloads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unetkit.data.cityscapes import (
    LABEL_ID_TO_TRAIN_ID,
    TRAIN_ID_COLORS,
    TRAIN_ID_NAMES,
    classes_json,
    convert_cityscapes,
    to_train_ids,
)
from unetkit.planning import discover

H, W = 32, 64
CITIES = {"train": ("aachen", "bochum"), "val": ("frankfurt", "lindau"), "test": ("berlin", "bielefeld")}


def label_ids(i: int) -> np.ndarray:
    """(H, W) labelIds in four column bands: 7 road, 26 car, 0 unlabeled, 1 ego vehicle; row ``i`` is 24
    (person), so each image differs."""
    ids = np.repeat(np.array([7, 26, 0, 1], np.uint8), W // 4)[None, :].repeat(H, axis=0)
    ids[i % H, :] = 24
    return ids


def make_cityscapes(root: Path, labels: str = "gtFine", per_city: int = 2) -> Path:
    """``root/leftImg8bit/<split>/<city>/..._leftImg8bit.png`` with ``root/<labels>/...`` beside, as the
    download has them (labelIds, color, instanceIds, polygons); the test labels all 0 (void), as published."""
    i = 0
    for split, cities in CITIES.items():
        for city in cities:
            for frame in range(per_city):
                stem = f"{city}_{i:06d}_{frame * 19:06d}"
                image_dir, label_dir = root / "leftImg8bit" / split / city, root / labels / split / city
                image_dir.mkdir(parents=True, exist_ok=True)
                label_dir.mkdir(parents=True, exist_ok=True)
                rgb = np.random.default_rng(i).integers(0, 255, (H, W, 3), dtype=np.uint8)
                Image.fromarray(rgb).save(image_dir / f"{stem}_leftImg8bit.png")
                ids = label_ids(i) if split != "test" else np.zeros((H, W), np.uint8)
                Image.fromarray(ids).save(label_dir / f"{stem}_{labels}_labelIds.png")
                Image.fromarray(rgb).save(label_dir / f"{stem}_{labels}_color.png")
                Image.fromarray(ids.astype(np.uint16) * 1000).save(
                    label_dir / f"{stem}_{labels}_instanceIds.png"
                )
                (label_dir / f"{stem}_{labels}_polygons.json").write_text("{}")
                i += 1
    return root


def test_label_table_is_the_official_one() -> None:
    assert [
        LABEL_ID_TO_TRAIN_ID[i]
        for i in (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)
    ] == list(range(19))
    assert len(LABEL_ID_TO_TRAIN_ID) == 19 and len(TRAIN_ID_NAMES) == 19 == len(TRAIN_ID_COLORS)
    assert TRAIN_ID_NAMES[0] == "road" and TRAIN_ID_NAMES[13] == "car" and TRAIN_ID_NAMES[18] == "bicycle"
    assert TRAIN_ID_COLORS[0] == (128, 64, 128) and TRAIN_ID_COLORS[11] == (220, 20, 60)
    assert TRAIN_ID_COLORS[18] == (119, 11, 32)
    every = np.arange(34, dtype=np.uint8)[None, :]
    mapped = to_train_ids(every)[0]
    assert mapped.dtype == np.uint8
    assert [int(mapped[i]) for i in (7, 26, 0, 1, 33)] == [0, 13, 255, 255, 18]
    # Every id outside the 19 is void: unlabeled..static, ground, parking, rail track, guard rail, bridge,
    # tunnel, polegroup, caravan, trailer.
    assert {i for i in range(34) if mapped[i] == 255} == set(range(34)) - set(LABEL_ID_TO_TRAIN_ID)


def test_values_that_are_no_label_id_are_refused() -> None:
    with pytest.raises(ValueError, match=r"x\.png holds value 40, not a Cityscapes label id \(0\.\.33\)"):
        to_train_ids(np.array([[7, 40]], np.uint8), "x.png")
    with pytest.raises(ValueError, match=r"x\.png is not a single-channel integer labelIds image"):
        to_train_ids(np.zeros((2, 2, 3), np.uint8), "x.png")


def test_converted_folder_and_what_discovery_reads(tmp_path: Path) -> None:
    src, out = make_cityscapes(tmp_path / "cityscapes"), tmp_path / "converted"
    done = convert_cityscapes(src, out)
    assert done.counts == {"train": 4, "val": 4} and done.label_dir == "gtFine"
    assert "test" in done.left_out and "all void" in done.left_out["test"]
    assert sorted(p.name for p in out.iterdir()) == ["classes.json", "train", "val"]
    names = sorted(p.name for p in (out / "train" / "images").iterdir())
    assert names == ["aachen_000000_000000.png", "aachen_000001_000019.png", "bochum_000002_000000.png",
                     "bochum_000003_000019.png"]  # fmt: skip
    assert sorted(p.name for p in (out / "train" / "masks").iterdir()) == names
    image = src / "leftImg8bit" / "val" / "lindau" / "lindau_000006_000000_leftImg8bit.png"
    assert (out / "val" / "images" / "lindau_000006_000000.png").read_bytes() == image.read_bytes()
    mask = np.asarray(Image.open(out / "val" / "masks" / "lindau_000006_000000.png"))
    assert mask.dtype == np.uint8 and mask.shape == (H, W)
    # Bands 7, 26, 0, 1 -> road 0, car 13, void, void; the person row (24) -> 11.
    assert [int(mask[0, c]) for c in (0, 16, 32, 48)] == [0, 13, 255, 255]
    assert set(np.unique(mask[6])) == {11}
    assert json.loads((out / "classes.json").read_text()) == classes_json()
    table = classes_json()["classes"]
    assert isinstance(table, list) and table[13] == {"value": 13, "name": "car", "color": [0, 0, 142]}

    layout = discover(out)
    assert layout.mask.kind == "index" and layout.mask.num_classes == 19
    assert layout.mask.class_names == TRAIN_ID_NAMES and layout.mask.ignore_values == (255,)
    assert layout.mask.colors is not None and layout.mask.colors[0] == (128, 64, 128)
    assert layout.split_source == "folders" and set(layout.splits) == {"train", "val"}
    val = (
        "frankfurt_000004_000000",
        "frankfurt_000005_000019",
        "lindau_000006_000000",
        "lindau_000007_000019",
    )
    assert layout.splits["val"] == [f"val/{n}" for n in val]
    assert layout.channels == 3 and layout.skipped == ()


def test_a_test_split_with_labels_is_kept(tmp_path: Path) -> None:
    src = make_cityscapes(tmp_path / "cityscapes")
    # One labelled test mask, not the first: the void ones before it are written as well.
    path = src / "gtFine" / "test" / "bielefeld" / "bielefeld_000010_000000_gtFine_labelIds.png"
    Image.fromarray(label_ids(1)).save(path)
    done = convert_cityscapes(src, tmp_path / "out")
    assert done.counts == {"train": 4, "val": 4, "test": 4} and "test" not in done.left_out
    assert len(list((tmp_path / "out" / "test" / "masks").iterdir())) == 4
    layout = discover(tmp_path / "out")
    assert len(layout.splits["test"]) == 4


def test_val_cities_hold_out_training_cities_and_make_official_val_the_test_split(tmp_path: Path) -> None:
    """An honest score: validation (which picks checkpoints) is a held-out training city, and the official
    val split is scored once as test."""
    src = make_cityscapes(tmp_path / "cityscapes")
    out = tmp_path / "out"
    done = convert_cityscapes(src, out, val_cities=["bochum"])
    assert done.counts == {"train": 2, "val": 2, "test": 4}
    assert "official val split is the test split" in done.left_out["test"]
    layout = discover(out)
    assert [n.split("/")[1].split("_")[0] for n in layout.splits["val"]] == ["bochum", "bochum"]
    assert {n.split("/")[1].split("_")[0] for n in layout.splits["train"]} == {"aachen"}
    assert {n.split("/")[1].split("_")[0] for n in layout.splits["test"]} == {"frankfurt", "lindau"}
    with pytest.raises(ValueError, match=r"val_cities \['zurich'\] are not training cities .*aachen, bochum"):
        convert_cityscapes(src, tmp_path / "o2", val_cities=["zurich"])
    with pytest.raises(ValueError, match="hold every training city"):
        convert_cityscapes(src, tmp_path / "o3", val_cities=["aachen", "bochum"])
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()


def test_gt_coarse_when_there_is_no_gt_fine(tmp_path: Path) -> None:
    src = make_cityscapes(tmp_path / "cityscapes", labels="gtCoarse")
    done = convert_cityscapes(src, tmp_path / "out")
    assert done.label_dir == "gtCoarse" and done.counts == {"train": 4, "val": 4}
    (src / "gtCoarse" / "val" / "lindau" / "lindau_000006_000000_gtCoarse_labelIds.png").unlink()
    with pytest.raises(ValueError, match=r"has no labels \S*_gtCoarse_labelIds\.png; unpack gtCoarse\.zip"):
        convert_cityscapes(src, tmp_path / "again")
    # Both: the fine labels, the benchmark's.
    make_cityscapes(src, labels="gtFine")
    assert convert_cityscapes(src, tmp_path / "both").label_dir == "gtFine"


def test_links(tmp_path: Path) -> None:
    src = make_cityscapes(tmp_path / "cityscapes", per_city=1)
    convert_cityscapes(src, tmp_path / "sym", link="symbolic")
    linked = tmp_path / "sym" / "train" / "images" / "aachen_000000_000000.png"
    assert (
        linked.is_symlink()
        and linked.resolve()
        == (src / "leftImg8bit" / "train" / "aachen" / "aachen_000000_000000_leftImg8bit.png").resolve()
    )
    convert_cityscapes(src, tmp_path / "hard", link="hard")
    hard = tmp_path / "hard" / "train" / "images" / "aachen_000000_000000.png"
    assert not hard.is_symlink() and hard.stat().st_nlink == 2
    assert discover(tmp_path / "sym").mask.num_classes == 19


def _break(src: Path, case: str) -> str:
    """Damage ``src`` as a partial or wrong download would; returns the message expected."""
    fine = src / "gtFine"
    if case == "no leftImg8bit":
        (src / "leftImg8bit").rename(src / "images_somewhere")
        return (
            r"cityscapes has no leftImg8bit/ folder \(it holds gtFine/, images_somewhere/\); pass the folder"
        )
    if case == "no labels folder":
        fine.rename(src / "labels_somewhere")
        return (
            r"cityscapes has leftImg8bit/ but no gtFine/ \(nor gtCoarse/\) folder; unpack gtFine_trainvaltest"
        )
    if case == "no val":
        for p in sorted((src / "leftImg8bit" / "val").rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        (src / "leftImg8bit" / "val").rmdir()
        return (
            r"leftImg8bit has no val/ folder \(it holds test/, train/\); unpack leftImg8bit_trainvaltest\.zip"
        )
    if case == "image without labels":
        (fine / "train" / "bochum" / "bochum_000002_000000_gtFine_labelIds.png").unlink()
        return (r"image \S*bochum_000002_000000_leftImg8bit\.png has no labels \S*gtFine/train/bochum/"
                r"bochum_000002_000000_gtFine_labelIds\.png; unpack gtFine_trainvaltest\.zip")  # fmt: skip
    if case == "labels without image":
        (src / "leftImg8bit" / "val" / "lindau" / "lindau_000006_000000_leftImg8bit.png").unlink()
        return (r"labels \S*lindau_000006_000000_gtFine_labelIds\.png have no image "
                r"\S*lindau_000006_000000_leftImg8bit")  # fmt: skip
    if case == "labels of another size":
        path = fine / "val" / "frankfurt" / "frankfurt_000004_000000_gtFine_labelIds.png"
        Image.fromarray(np.zeros((H, W // 2), np.uint8)).save(path)
        return r"labels \S*frankfurt_000004_000000_gtFine_labelIds\.png are 32x32 but image \S* is 64x32"
    if case == "not a label id":
        path = fine / "train" / "aachen" / "aachen_000001_000019_gtFine_labelIds.png"
        Image.fromarray(np.full((H, W), 200, np.uint8)).save(path)
        return r"aachen_000001_000019_gtFine_labelIds\.png holds value 200, not a Cityscapes label id"
    if case == "misnamed image":
        (src / "leftImg8bit" / "train" / "aachen" / "extra.png").write_bytes(b"")
        return r"image \S*aachen/extra\.png is not named <city>_<seq>_<frame>_leftImg8bit\.png"
    if case == "truncated image":
        path = src / "leftImg8bit" / "train" / "bochum" / "bochum_000003_000019_leftImg8bit.png"
        path.write_bytes(path.read_bytes()[:200])
        return r"bochum_000003_000019_leftImg8bit\.png"
    raise AssertionError(case)


CASES = ("no leftImg8bit", "no labels folder", "no val", "image without labels", "labels without image",
         "labels of another size", "not a label id", "misnamed image", "truncated image")  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_bad_downloads_are_one_line_errors_and_leave_nothing(tmp_path: Path, case: str) -> None:
    src = make_cityscapes(tmp_path / "cityscapes")
    expected = _break(src, case)
    with pytest.raises(ValueError, match=expected) as info:
        convert_cityscapes(src, tmp_path / "out")
    assert "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cityscapes"]  # no OUT, no temporary folder


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    src, out = make_cityscapes(tmp_path / "cityscapes", per_city=1), tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"out already exists and is not empty; pass a new folder"):
        convert_cityscapes(src, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    (out / "keep.txt").unlink()
    assert convert_cityscapes(src, out).counts == {"train": 2, "val": 2}  # an empty folder is fine


def test_discovery_names_the_conversion(tmp_path: Path) -> None:
    src = make_cityscapes(tmp_path / "cityscapes", per_city=1)
    expected = (r"cityscapes has no images/ folder \(it holds gtFine/, leftImg8bit/\): Cityscapes as "
                r"downloaded .* unetkit convert cityscapes \S*cityscapes --out \S*cityscapes_trainids "
                r"\(then unetkit fit")  # fmt: skip
    with pytest.raises(ValueError, match=expected):
        discover(src)
    # Named by hand, the image folder holds only split folders: the error names the command too.
    with pytest.raises(ValueError, match=r"\(it holds test/, train/, val/\); .*unetkit convert cityscapes"):
        discover(src, image_dir="leftImg8bit", mask_dir="gtFine")
    (src / "gtFine").rename(src / "gtCoarse")
    with pytest.raises(ValueError, match=r"label ids in gtCoarse/\); convert it once"):
        discover(src)
