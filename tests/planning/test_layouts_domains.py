"""Split folders whose sub-folders are groups (domains, sites, patients), each with its own image and mask
folders, on tiny synthetic look-alikes: LoveDA as downloaded (``Train/Urban/images_png`` +
``Train/Urban/masks_png``, ``Rural/`` likewise, ``Test/`` without masks) and a generic site layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from layout_helpers import built_spec
from PIL import Image

from unetkit.constants import IGNORE_INDEX
from unetkit.data.io import read_mask
from unetkit.planning.discovery import discover
from unetkit.planning.plan import no_test_reason

SIZE = 16


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _rgb(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)


def _land_cover(i: int) -> np.ndarray:
    """LoveDA-like mask: 0 (no data) in the first row, classes 1..7 in rows below."""
    m = (np.arange(SIZE, dtype=np.uint8) % 7 + 1)[:, None].repeat(SIZE, 1)
    m[0] = 0
    return np.roll(m, i % 3, axis=1)


# LoveDA's file names are numbers; the same name in Urban/ and Rural/ must stay two samples.
TRAIN = {"Urban": ["1366", "1367", "1368", "1369"], "Rural": ["0", "1", "2", "1366"]}
VAL = {"Urban": ["3514", "3515"], "Rural": ["2522", "2523"]}
TEST = {"Urban": ["5167", "5168"], "Rural": ["4191"]}


def _loveda(root: Path, mask: Any = _land_cover) -> Path:
    i = 0
    for split, domains in (("Train", TRAIN), ("Val", VAL), ("Test", TEST)):
        for domain, names in domains.items():
            for name in names:
                _save(root / split / domain / "images_png" / f"{name}.png", _rgb(i))
                if split != "Test":  # the test labels are not public
                    _save(root / split / domain / "masks_png" / f"{name}.png", mask(i))
                i += 1
    return root


def test_loveda_reads_both_domains_of_each_split(tmp_path: Path) -> None:
    root = _loveda(tmp_path / "LoveDA")
    layout = discover(root)
    assert layout.split_source == "folders"
    assert layout.splits["train"] == [f"Train/Rural/{n}" for n in sorted(TRAIN["Rural"])] + [
        f"Train/Urban/{n}" for n in TRAIN["Urban"]
    ]
    assert layout.splits["val"] == [f"Val/Rural/{n}" for n in VAL["Rural"]] + [
        f"Val/Urban/{n}" for n in VAL["Urban"]
    ]
    # 1366.png of both domains: two samples, each with its own domain's files.
    by_name = {s.name: s for s in layout.samples}
    for domain in ("Urban", "Rural"):
        s = by_name[f"Train/{domain}/1366"]
        assert s.image == root / "Train" / domain / "images_png" / "1366.png"
        assert s.mask == root / "Train" / domain / "masks_png" / "1366.png"
    assert len(by_name) == len(layout.samples) == 12
    groups = "Train/Rural/, Train/Urban/, Val/Rural/, Val/Urban/"
    assert any("groups" in n and groups in n for n in layout.notes)
    built_spec(layout)


def test_loveda_test_split_without_masks_is_left_out_and_said(tmp_path: Path) -> None:
    root = _loveda(tmp_path / "LoveDA")
    layout = discover(root)
    assert "test" not in layout.splits
    (note,) = [n for n in layout.notes if "have no masks" in n]
    assert note.startswith(
        "3 test images (Test/Rural/images_png/, Test/Urban/images_png/) have no masks: left out of the splits"
    )
    # One command for both groups: the split folder with --recursive (outputs mirror Urban/ and Rural/).
    assert note.endswith(f"to segment them after training: unetkit predict RUN {root / 'Test'} --recursive "
                         "--out OUT")  # fmt: skip
    assert not any("not used" in n for n in layout.notes)
    assert layout.unlabeled_images == {"test": 3} == layout.to_dict()["unlabeled_images"]
    # The plan scores validation and says why: the test images exist, without masks.
    why = no_test_reason(layout)
    assert why.startswith("val: the 3 test images have no masks") and "optimistic" in why


def test_loveda_classes_by_name_with_no_data_void(tmp_path: Path) -> None:
    root = _loveda(tmp_path / "LoveDA")
    layout = discover(root)
    m = layout.mask
    assert (m.kind, m.num_classes) == ("remap", 7)
    assert m.class_names == ("background", "building", "road", "water", "barren", "forest", "agriculture")
    assert m.mapping == {0: IGNORE_INDEX, 1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5, 7: 6}
    assert m.colors is not None and m.colors[0] == (255, 255, 255) and m.colors[1] == (255, 0, 0)
    assert any(n.startswith("LoveDA layout") and "0 (no data) is void" in n for n in layout.notes)
    spec = built_spec(layout)
    first = spec.pairs("train")[0][1]
    stored = np.asarray(Image.open(first))
    target = read_mask(first, spec.encoding)
    assert set(np.unique(target[stored == 0]).tolist()) == {IGNORE_INDEX}
    assert set(np.unique(target[stored == 7]).tolist()) == {6}


def test_loveda_classes_yield_to_the_users_choice(tmp_path: Path) -> None:
    root = _loveda(tmp_path / "LoveDA")
    assert discover(root, void=0).mask.kind == "index"  # --void: the user's reading
    assert discover(root, mask_kind="index").mask.num_classes == 8
    # Values beyond LoveDA's 0..7: not LoveDA's masks, read as plain class indices.
    other = _loveda(tmp_path / "other", mask=lambda i: (_land_cover(i) + 1) % 10)
    m = discover(other).mask
    assert m.kind == "index" and m.class_names[0] == "class_0"
    assert not any(n.startswith("LoveDA layout") for n in discover(other).notes)


def test_loveda_domains_with_the_folders_named(tmp_path: Path) -> None:
    root = _loveda(tmp_path / "LoveDA")
    layout = discover(root, image_dir="images_png", mask_dir="masks_png")
    assert len(layout.samples) == 12 and layout.mask.num_classes == 7


def _sites(root: Path, splits: dict[str, int], sites: tuple[str, ...] = ("site_a", "site_b")) -> Path:
    i = 0
    for split, n in splits.items():
        for site in sites:
            for k in range(n):
                _save(root / split / site / "images" / f"img{k:02d}.png", _rgb(i))
                mask = np.zeros((SIZE, SIZE), np.uint8)  # class indices 0..2: LoveDA's would fit too
                mask[2 + i % 8 : 8 + i % 8, 3:9] = 1 + i % 2
                _save(root / split / site / "masks" / f"img{k:02d}.png", mask)
                i += 1
    return root


def test_groups_of_any_name_are_merged_with_the_group_in_the_names(tmp_path: Path) -> None:
    root = _sites(tmp_path / "sites", {"train": 6, "test": 2})
    layout = discover(root)
    # Not LoveDA's folder names: the values are plain class indices, without LoveDA's names or void.
    assert layout.mask.kind == "index" and layout.mask.class_names == ("class_0", "class_1", "class_2")
    assert not any(n.startswith("LoveDA") for n in layout.notes)
    assert layout.splits["test"] == ["test/site_a/img00", "test/site_a/img01", "test/site_b/img00",
                                     "test/site_b/img01"]  # fmt: skip
    # Without a val/ folder, validation is carved from training as the test split relates to it: the test
    # holds both sites, so each site gives the end of its images (it was the last site's images only).
    assert {k: len(v) for k, v in layout.splits.items()} == {"train": 10, "val": 2, "test": 4}
    assert layout.splits["val"] == ["train/site_a/img05", "train/site_b/img05"]
    assert len({s.name for s in layout.samples}) == 16
    built_spec(layout)


def test_a_group_without_masks_beside_labeled_groups_names_it(tmp_path: Path) -> None:
    root = _sites(tmp_path / "sites", {"train": 6})
    for p in sorted((root / "train" / "site_b" / "masks").iterdir()):
        p.unlink()
    (root / "train" / "site_b" / "masks").rmdir()
    with pytest.raises(ValueError) as err:
        discover(root)
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(f"{root / 'train' / 'site_b' / 'images'} has no mask folder beside it")
    assert "add its masks, or move site_b/ out of train/" in text


def test_a_train_split_whose_groups_have_no_masks_is_no_group_layout(tmp_path: Path) -> None:
    # Only a split beside a labeled train split is left out; unlabeled training groups are no layout here.
    root = _sites(tmp_path / "sites", {"train": 3, "val": 2})
    for site in ("site_a", "site_b"):
        for p in sorted((root / "train" / site / "masks").iterdir()):
            p.unlink()
        (root / "train" / site / "masks").rmdir()
    with pytest.raises(ValueError, match=r"has no images/ folder \(it holds train/, val/\)"):
        discover(root)


def test_kaggle_dsb_samples_inside_a_split_folder_are_no_groups(tmp_path: Path) -> None:
    # <id>/images/<id>.png with one mask per nucleus in <id>/masks/: samples, not groups to pair by stem.
    for i in range(3):
        sample = tmp_path / "dsb" / "train" / f"id{i}"
        _save(sample / "images" / f"id{i}.png", _rgb(i))
        for k in range(2):
            _save(sample / "masks" / f"m{k}.png", np.eye(SIZE, dtype=np.uint8) * 255)
    with pytest.raises(ValueError, match=r"has no images/ folder \(it holds train/\)"):
        discover(tmp_path / "dsb")


def test_a_relative_dataset_folder_is_read_as_an_absolute_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finders that name every folder (LoveDA's groups, ISIC, ADE20K) joined a relative root twice."""
    _loveda(tmp_path / "LoveDA")
    monkeypatch.chdir(tmp_path)
    layout = discover("LoveDA")
    assert layout.root == tmp_path / "LoveDA" and len(layout.samples) == len(
        discover(tmp_path / "LoveDA").samples
    )
