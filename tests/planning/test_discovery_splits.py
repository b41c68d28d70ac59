"""discover()'s splits when a folder gives no validation split (carved from training, by its groups) and
when a split list names images that have no masks (an unlabeled split, left out as an unlabeled folder is)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest
from layout_helpers import built_spec

from unetkit.planning.discovery import CARVED_VAL_FRACTION, MIN_GROUPS_TO_HOLD_OUT, discover
from unetkit.planning.discovery.splits import _group_tails, _held_out_groups
from unetkit.planning.plan import no_test_reason

MakeDataset = Callable[..., Path]


def _pairs(px: SimpleNamespace, root: Path, names: Sequence[str], masks: bool = True) -> None:
    """``root/images/NAME.png`` for each name, with ``root/masks/NAME.png`` when ``masks``."""
    for i, name in enumerate(names):
        px.write(root / "images" / f"{name}.png", px.gray_image(i))
        if masks:
            px.write(root / "masks" / f"{name}.png", px.binary_mask(i))


def _groups(px: SimpleNamespace, split_dir: Path, sizes: dict[str, int], masks: bool = True) -> None:
    """A split folder of groups (LoveDA's ``Train/Urban/``): ``GROUP/images/NNNN.png`` (+ ``masks/``)."""
    for group, n in sizes.items():
        _pairs(px, split_dir / group, [f"{1000 + k}" for k in range(n)], masks)


def _val_note(notes: Sequence[str]) -> str:
    (note,) = [n for n in notes if n.startswith("no validation split given")]
    return note


# ------------------------------------------------------------------------- validation carved by groups


def test_loveda_without_val_takes_the_end_of_each_domain(px: SimpleNamespace, tmp_path: Path) -> None:
    # LoveDA as downloaded less Val/: the test split has no masks, so validation was the end of the sorted
    # training names: all Urban (one domain). Now each domain gives the end of its images by its size.
    root = tmp_path / "LoveDA"
    _groups(px, root / "Train", {"Urban": 10, "Rural": 14})
    _groups(px, root / "Test", {"Urban": 2, "Rural": 2}, masks=False)
    layout = discover(root)
    assert layout.unlabeled_images == {"test": 4} and "test" not in layout.splits
    # 24 x 3/16 = 4.5 -> 5: 14/24 of it (2.9 -> 3) from Rural, 10/24 (2.1 -> 2) from Urban.
    assert layout.splits["val"] == ["Train/Rural/1011", "Train/Rural/1012", "Train/Rural/1013",
                                    "Train/Urban/1008", "Train/Urban/1009"]  # fmt: skip
    assert len(layout.splits["train"]) == 19 and set(layout.splits["train"]).isdisjoint(layout.splits["val"])
    note = _val_note(layout.notes)
    assert "the last images of each of the 2 groups" in note and "(5 of 24: 3 of Rural/, 2 of Urban/)" in note
    assert "as no labeled test split is given" in note and "add a val/ folder to choose them" in note
    built_spec(layout)


def test_many_site_folders_hold_out_whole_sites_spread_evenly(px: SimpleNamespace, tmp_path: Path) -> None:
    root = tmp_path / "sites"
    sites = [f"site{s:02d}" for s in range(12)]
    _groups(px, root / "train", dict.fromkeys(sites, 4))
    layout = discover(root)
    # 48 x 3/16 = 9: two sites (8 images) come nearest; the middles of the halves of the sorted sites.
    val_sites = {n.split("/")[1] for n in layout.splits["val"]}
    assert val_sites == {"site03", "site09"} and len(layout.splits["val"]) == 8
    assert val_sites.isdisjoint({n.split("/")[1] for n in layout.splits["train"]})  # no site on both sides
    note = _val_note(layout.notes)
    assert "2 of the 12 groups of the training images (site03/, site09/)" in note
    assert "spread evenly over the sorted groups" in note and "(8 of 48 images)" in note
    built_spec(layout)


def test_many_name_groups_in_a_list_hold_out_whole_patients(px: SimpleNamespace, tmp_path: Path) -> None:
    # Patients by name (p03_2: patient p03), train.txt only: whole patients, from all over the sorted list
    # (the last block was the last patients only).
    root = tmp_path / "ct"
    names = [f"p{p:02d}_{k}" for p in range(10) for k in range(6)]
    _pairs(px, root, names)
    (root / "train.txt").write_text("\n".join(names) + "\n")
    layout = discover(root)
    # 60 x 3/16 = 11.25 -> 11: two patients (12 images).
    assert layout.splits["val"] == [f"p{p:02d}_{k}" for p in (2, 7) for k in range(6)]
    assert "(p02, p07)" in _val_note(layout.notes)


def test_a_few_name_groups_without_a_test_split_give_the_end_of_each(
    px: SimpleNamespace, tmp_path: Path
) -> None:
    # Three sequences: whole ones would be a single sequence; the end of each, by its size, instead.
    root = tmp_path / "video"
    names = [f"{seq}_{k:04d}" for seq, n in (("seqA", 8), ("seqB", 16), ("seqC", 8)) for k in range(n)]
    _pairs(px, root, names)
    (root / "train.txt").write_text("\n".join(names) + "\n")
    layout = discover(root)
    # 32 x 3/16 = 6: 1.5, 3, 1.5 -> ties of remainder broken in group order: 2, 3, 1.
    assert layout.splits["val"] == ["seqA_0006", "seqA_0007", "seqB_0013", "seqB_0014", "seqB_0015",
                                    "seqC_0007"]  # fmt: skip


def test_site_folders_seen_by_the_test_split_give_the_end_of_each(
    px: SimpleNamespace, tmp_path: Path
) -> None:
    # A labeled test split from the same sites as training: validation, standing in for it, holds every
    # site too, even where whole sites could be held out.
    root = tmp_path / "sites"
    sites = {f"site{s:02d}": 4 for s in range(8)}
    _groups(px, root / "train", sites)
    _groups(px, root / "test", dict.fromkeys(sites, 1))
    layout = discover(root)
    assert {n.split("/")[1] for n in layout.splits["val"]} == set(sites)
    assert all(n.endswith("/1003") for n in layout.splits["val"])  # each site's last image
    assert "as the test split holds every group" in _val_note(layout.notes)


def test_a_test_split_of_unseen_groups_holds_out_whole_groups(px: SimpleNamespace, tmp_path: Path) -> None:
    # Test sequences unseen in training: validation of whole sequences stands in for them; with many, they
    # are spread over the sorted sequences (the last block took the last ones).
    root = tmp_path / "video"
    train = [f"s{g:02d}_{k}" for g in range(8) for k in range(4)]
    _pairs(px, root, [*train, "t99_0", "t99_1"])
    (root / "train.txt").write_text("\n".join(train) + "\n")
    (root / "test.txt").write_text("t99_0\nt99_1\n")
    layout = discover(root)
    # 32 x 3/16 = 6: one sequence (4) and two (8) are as near; the fewer groups win the tie.
    assert layout.splits["val"] == [f"s04_{k}" for k in range(4)]
    assert layout.splits["test"] == ["t99_0", "t99_1"]


def test_the_other_carve_rules_still_hold(px: SimpleNamespace, tmp_path: Path) -> None:
    # No groups (ISBI 2012's slices 00..29): the last contiguous block.
    flat = tmp_path / "flat"
    _pairs(px, flat, [f"{i:02d}" for i in range(16)])
    (flat / "train.txt").write_text("\n".join(f"{i:02d}" for i in range(16)) + "\n")
    assert discover(flat).splits["val"] == ["13", "14", "15"]
    # Every test name group also in training (Oxford-IIIT Pet's breeds): spread evenly over the names.
    seen = tmp_path / "seen"
    names = [f"{g}_{k}" for g in ("cat", "dog") for k in range(1, 10)]
    _pairs(px, seen, names)
    (seen / "train.txt").write_text("\n".join(n for n in names if not n.endswith("_9")) + "\n")
    (seen / "test.txt").write_text("cat_9\ndog_9\n")
    assert discover(seen).splits["val"] == ["cat_3", "dog_1", "dog_6"]  # 16 x 3/16 = 3, spread
    # A few groups and a test split of unseen ones: the last block, a group kept whole where it fits.
    unseen = tmp_path / "unseen"
    train = [f"s{g}_{k:02d}" for g in range(1, 5) for k in range(4)]
    _pairs(px, unseen, [*train, "t9_00", "t9_01"])
    (unseen / "train.txt").write_text("\n".join(train) + "\n")
    (unseen / "test.txt").write_text("t9_00\nt9_01\n")
    assert discover(unseen).splits["val"] == [f"s4_{k:02d}" for k in range(4)]


def test_held_out_groups_and_group_tails_at_their_edges() -> None:
    groups = {f"g{i}": [f"g{i}_{k}" for k in range(4)] for i in range(MIN_GROUPS_TO_HOLD_OUT)}
    assert (
        MIN_GROUPS_TO_HOLD_OUT * CARVED_VAL_FRACTION >= 1 > (MIN_GROUPS_TO_HOLD_OUT - 1) * CARVED_VAL_FRACTION
    )
    assert _held_out_groups(groups, 4) == ["g3"]
    assert _held_out_groups(dict(list(groups.items())[:-1]), 4) is None  # too few groups to hold out
    # One group holding most images: no count of whole groups comes near the share, so none are held out.
    lopsided = {k: v[:1] for k, v in groups.items()} | {"g0": [f"g0_{k}" for k in range(100)]}
    assert _held_out_groups(lopsided, 20) is None
    # Tails: a group of two or more gives one at least and keeps one; a single image stays in training.
    tails = _group_tails({"a": ["a1", "a2"], "b": ["b1"], "c": [f"c{k}" for k in range(20)]}, 2)
    assert tails == {"a": ["a2"], "b": [], "c": ["c18", "c19"]}


# ------------------------------------------------------------------------- lists naming images without masks


def _listed(px: SimpleNamespace, root: Path, n_train: int = 9, n_test: int = 3) -> Path:
    """images/img00.. with masks for the first ``n_train`` (train.txt), none for the ``n_test`` after them."""
    train = [f"img{i:02d}" for i in range(n_train)]
    test = [f"img{i:02d}" for i in range(n_train, n_train + n_test)]
    _pairs(px, root, train)
    _pairs(px, root, test, masks=False)
    for i, name in enumerate(test):  # other pixels than the training images'
        px.write(root / "images" / f"{name}.png", px.gray_image(100 + i))
    (root / "train.txt").write_text("\n".join(train) + "\n")
    (root / "test.txt").write_text("\n".join(test) + "\n")
    return root


def test_a_test_list_whose_images_all_lack_masks_is_left_out(px: SimpleNamespace, tmp_path: Path) -> None:
    root = _listed(px, tmp_path / "kaggle")
    layout = discover(root)
    assert set(layout.splits) == {"train", "val"} and len(layout.samples) == 9
    assert layout.unlabeled_images == {"test": 3} == layout.to_dict()["unlabeled_images"]
    (note,) = [n for n in layout.notes if "have no masks" in n]
    assert note == (
        "3 test images (named by test.txt, in images/) have no masks: left out of the splits (they cannot be "
        f"scored); to segment them after training: unetkit predict RUN {root / 'images'} --out OUT (it "
        "segments every image of images/, those of the other splits too)"
    )
    assert no_test_reason(layout).startswith("val: the 3 test images have no masks")
    # The folder rule would ask for the test images' masks: the pairs are listed instead.
    opts, _ = layout.folder_options()
    assert "pairs" in opts and "image_dir" not in opts
    built_spec(layout)


def test_a_val_list_whose_images_all_lack_masks_is_left_out(px: SimpleNamespace, tmp_path: Path) -> None:
    root = _listed(px, tmp_path / "d")
    (root / "test.txt").rename(root / "val.txt")
    layout = discover(root)
    assert layout.unlabeled_images == {"val": 3}
    assert layout.splits["val"] == ["img07", "img08"]  # carved from training instead
    assert any(
        n.startswith("3 val images (named by val.txt, in images/) have no masks") for n in layout.notes
    )


def test_a_list_with_some_masks_missing_names_them(px: SimpleNamespace, tmp_path: Path) -> None:
    root = _listed(px, tmp_path / "d")
    (root / "test.txt").write_text("img07\nimg09\nimg10\n")  # img07 has a mask
    (root / "train.txt").write_text("\n".join(f"img{i:02d}" for i in range(7)) + "\n")
    with pytest.raises(ValueError) as err:
        discover(root)
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(f"{root / 'test.txt'} names 'img09' (and 1 more), whose image {root / 'images'}")
    assert "add the masks, take them out of test.txt" in text
    assert text.endswith("or pass --unmatched skip to leave them out")


@pytest.mark.parametrize("train", [["img00", "img09"], ["img09", "img10", "img11"]])
def test_a_train_list_naming_images_without_masks_stays_an_error(
    px: SimpleNamespace, tmp_path: Path, train: list[str]
) -> None:
    # Some or all: training images need masks; train.txt is never an unlabeled split.
    root = _listed(px, tmp_path / "d")
    (root / "train.txt").write_text("\n".join(train) + "\n")
    (root / "test.txt").write_text("img01\n")
    with pytest.raises(ValueError) as err:
        discover(root)
    more = " (and 2 more)" if len(train) == 3 else ""
    assert str(err.value) == (
        f"{root / 'train.txt'} names 'img09'{more}, whose image {root / 'images' / 'img09.png'} has no mask "
        f"in {root / 'masks'}; add the masks, take them out of train.txt, or pass --unmatched skip to leave "
        "them out"
    )


def test_images_without_masks_beside_lists_that_do_not_name_them(px: SimpleNamespace, tmp_path: Path) -> None:
    root = _listed(px, tmp_path / "d")
    (root / "test.txt").write_text("img09\n")
    # img10 and img11 are in no list: the usual pairing error, or skipped when asked.
    with pytest.raises(
        ValueError, match=r"image \S+img10\.png \(and 1 more\) has no mask in .*--unmatched skip"
    ):
        discover(root)
    layout = discover(root, unmatched="skip")
    assert layout.unlabeled_images == {"test": 1}
    assert [Path(s).name for s in layout.skipped] == ["img10.png", "img11.png"]
    # Splits given: the lists are not read, so an image without a mask is the pairing error, as before.
    (root / "test.txt").write_text("img09\nimg10\nimg11\n")
    with pytest.raises(ValueError, match=r"image \S+img09\.png \(and 2 more\) has no mask in"):
        discover(root, splits={"train": (0, 6), "val": (6, 9)})


def test_discover_reads_split_lists_without_importing_torch(tmp_path: Path) -> None:
    """The list-line rule is shared with the training reader; it lives where discovery stays torch-free."""
    import subprocess
    import sys

    import numpy as np
    from PIL import Image

    for d in ("images", "masks"):
        (tmp_path / d).mkdir()
    for i in range(6):
        Image.fromarray(np.full((16, 16), 10 * i, np.uint8)).save(tmp_path / "images" / f"a {i}.png")
        Image.fromarray(np.where(np.arange(16)[:, None] < 8, 255, 0).astype(np.uint8).repeat(16, 1)).save(
            tmp_path / "masks" / f"a {i}.png"
        )
    for split, names in {"train": "a 0\na 1\na 2\na 3\n", "val": "a 4\n", "test": "a 5\n"}.items():
        (tmp_path / f"{split}.txt").write_text(names)
    code = (
        "import sys; from unetkit.planning.discovery import discover; "
        f"layout = discover({str(tmp_path)!r}); "
        "print(sorted(layout.splits), 'torch' in sys.modules, 'albumentations' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["['test',", "'train',", "'val']", "False", "False"], done.stderr


def test_list_files_naming_one_image_in_two_splits_are_refused_with_the_folder_and_the_fix(
    px: SimpleNamespace, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    names = [f"{i:02d}" for i in range(12)]
    _pairs(px, root, names)
    (root / "train.txt").write_text("\n".join(names[:10]) + "\n")
    (root / "val.txt").write_text("09\n10\n11\n")
    with pytest.raises(ValueError) as err:
        discover(root)
    assert str(err.value) == (
        f"'09' is in both the 'train' and 'val' splits of {root}; splits must be disjoint: remove it from "
        "one of them"
    )
