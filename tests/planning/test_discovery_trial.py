"""Defects a new user's trial of discovery found: each bad folder stops with one line naming the file and
the fix, and the layouts it missed (val/ beside images/ + masks/) are read."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from unetkit.cli.main import main
from unetkit.cli.plan import parse_split
from unetkit.planning import discover

MakeDataset = Callable[..., Path]


def _one_line(err: pytest.ExceptionInfo[ValueError]) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def _empty(i: int) -> np.ndarray:
    return np.zeros((32, 32), np.uint8)


# ------------------------------------------------------------------------------------- all-background masks


def test_all_background_training_masks_are_refused(make_dataset: MakeDataset) -> None:
    # Trained, they scored a "perfect" mean IoU of 1.0: a model predicting background everywhere is right.
    root = make_dataset(n=12, mask=_empty)
    with pytest.raises(ValueError) as err:
        discover(root)
    text = _one_line(err)
    assert "every one of the 8 training masks holds only 0 (background)" in text
    assert "nothing to learn" in text and "how the masks were saved" in text


def test_all_foreground_training_masks_are_refused_too(make_dataset: MakeDataset) -> None:
    root = make_dataset(n=12, mask=lambda i: np.full((32, 32), 255, np.uint8))
    with pytest.raises(ValueError, match=r"holds only 255 \(foreground\)"):
        discover(root)


def test_masks_beyond_the_sample_are_read_before_refusing(
    make_dataset: MakeDataset, px: SimpleNamespace
) -> None:
    # The encoding is read from a sample: one holding only background is no evidence about the other masks.
    root = make_dataset(n=12, mask=_empty)
    px.write(root / "masks" / "img03.png", px.binary_mask(3))  # a training mask outside the sample of 3
    layout = discover(root, mask_sample=3)
    # Read again with that mask: the values seen are the foreground's too.
    assert (layout.mask.kind, layout.mask.values, layout.mask.sampled) == ("binary", (0, 255), 4)
    with pytest.raises(ValueError, match="every one of the 8 training masks holds only 0"):
        discover(make_dataset(n=12, mask=_empty, root=root.parent / "all_empty"), mask_sample=3)


def test_a_class_only_unsampled_masks_hold_is_in_the_encoding(
    make_dataset: MakeDataset, px: SimpleNamespace
) -> None:
    # The sample held only 0; img03 (unsampled) holds class 2: read with it, not a 1-class plan fit refuses.
    root = make_dataset(n=12, mask=_empty)
    mask = np.zeros((32, 32), np.uint8)
    mask[:8] = 2
    px.write(root / "masks" / "img03.png", mask)
    layout = discover(root, mask_sample=3)
    assert (layout.mask.kind, layout.mask.num_classes, layout.mask.values) == ("index", 3, (0, 2))
    assert layout.mask.sampled == 4


def test_a_foreground_only_outside_training_still_refuses(
    make_dataset: MakeDataset, px: SimpleNamespace
) -> None:
    # Training decides: foreground in a test mask only leaves training nothing to learn.
    root = make_dataset(n=12, mask=_empty)
    px.write(root / "masks" / "img11.png", px.binary_mask(11))
    with pytest.raises(ValueError, match="8 training masks holds only 0"):
        discover(root)


# ------------------------------------------------------------------------------------- tiny images


@pytest.mark.parametrize("size", [(1, 1), (3, 32)])
def test_an_image_too_small_to_train_on_is_named(
    make_dataset: MakeDataset, px: SimpleNamespace, size: tuple[int, int]
) -> None:
    # A 1x1 image passed plan, and fit crashed in the scale augmentation (OpenCV, 150 lines).
    root = make_dataset(n=12)
    h, w = size
    px.write(root / "images" / "img04.png", np.full((h, w), 100, np.uint8))
    px.write(root / "masks" / "img04.png", np.full((h, w), 255, np.uint8))
    with pytest.raises(ValueError) as err:
        discover(root)
    text = _one_line(err)
    assert f"image {root / 'images' / 'img04.png'} is {w}x{h} (WxH): too small to train on" in text
    assert "remove it (and its mask) or re-export it" in text


def test_small_images_of_four_pixels_a_side_pass(make_dataset: MakeDataset, px: SimpleNamespace) -> None:
    root = make_dataset(n=12)
    px.write(root / "images" / "img04.png", np.full((4, 4), 100, np.uint8))
    px.write(root / "masks" / "img04.png", np.full((4, 4), 255, np.uint8))
    assert (4, 4) in discover(root).sizes


# ------------------------------------------------------------------------------------- val/ beside images/


def _pairs(px: SimpleNamespace, folder: Path, indices: range) -> None:
    for i in indices:
        px.write(folder / "images" / f"img{i:02d}.png", px.gray_image(i))
        px.write(folder / "masks" / f"img{i:02d}.png", px.binary_mask(i))


def test_val_and_test_folders_beside_top_level_images_are_their_splits(
    tmp_path: Path, px: SimpleNamespace
) -> None:
    # val/ was silently ignored: the splits were contiguous blocks of the top-level pairs.
    root = tmp_path / "d"
    _pairs(px, root, range(8))
    _pairs(px, root / "val", range(8, 10))
    _pairs(px, root / "test", range(10, 13))
    layout = discover(root)
    assert layout.split_source == "folders"
    assert layout.splits == {
        "train": [f"img{i:02d}" for i in range(8)],
        "val": ["val/img08", "val/img09"],
        "test": ["test/img10", "test/img11", "test/img12"],
    }
    assert layout.samples_of("val")[0].mask == root / "val" / "masks" / "img08.png"
    assert any("train from the image/mask pairs at the top of d/" in n for n in layout.notes)
    # dataset.json names every pair, and the folder builder reads the same splits.
    from unetkit.data.datasets.folder import build_folder

    opts, _ = layout.folder_options()
    spec = build_folder(layout.root, **opts)
    assert {k: len(v) for k, v in spec.splits.items()} == {"train": 8, "val": 2, "test": 3}
    assert len(json.loads(json.dumps(layout.to_dict()))["pairs"]) == 13


def test_split_ranges_over_split_folders_say_what_they_run_over(tmp_path: Path, px: SimpleNamespace) -> None:
    """--split with a val/ folder: the ranges run over every pair name, and the note says so (it said "val
    from val/" while val held top-level pairs)."""
    root = tmp_path / "d"
    _pairs(px, root, range(8))
    _pairs(px, root / "val", range(8, 10))
    layout = discover(root, splits={"train": (0, 6), "val": (6, 8)})
    assert layout.split_source == "given" and layout.splits["val"] == ["img06", "img07"]
    assert not any("val from val/" in n for n in layout.notes)
    (note,) = [n for n in layout.notes if n.startswith("--split ranges")]
    assert "all 10 sorted pair names" in note and "val img06..img07" in note and "drop --split" in note


def test_a_val_folder_beside_top_level_images_and_split_lists_is_ambiguous(
    tmp_path: Path, px: SimpleNamespace
) -> None:
    root = tmp_path / "d"
    _pairs(px, root, range(12))
    _pairs(px, root / "val", range(12, 14))
    (root / "train.txt").write_text("img00\nimg01\n")
    with pytest.raises(ValueError) as err:
        discover(root)
    text = _one_line(err)
    assert "split lists (train.txt) and split folders (val/)" in text and "two ways to split" in text


def test_top_level_images_beside_train_and_val_folders_are_said_unused(
    tmp_path: Path, px: SimpleNamespace
) -> None:
    root = tmp_path / "d"
    _pairs(px, root, range(12))
    _pairs(px, root / "train", range(8))
    _pairs(px, root / "val", range(8, 12))
    layout = discover(root)
    assert layout.splits["val"] == [f"val/img{i:02d}" for i in range(8, 12)]
    assert any(n.startswith(f"{root / 'images'} holds 12 images that are not used") for n in layout.notes)


# ------------------------------------------------------------------------------------- split names


def test_parse_split_refuses_an_unknown_split_name() -> None:
    with pytest.raises(ValueError) as err:
        parse_split("train=0:8,vall=8:10")
    text = _one_line(err)
    assert "'vall'" in text and "did you mean 'val'?" in text and "train, val, test" in text
    with pytest.raises(ValueError, match="twice"):
        parse_split("train=0:8,train=8:10")


def test_discover_refuses_an_unknown_split_name(make_dataset: MakeDataset) -> None:
    with pytest.raises(ValueError, match="names split 'vall'; did you mean 'val'"):
        discover(make_dataset(n=12), splits={"train": (0, 8), "vall": (8, 10)})


def test_plan_refuses_an_unknown_split_name_before_measuring(
    make_dataset: MakeDataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.yaml"
    assert main(["plan", str(make_dataset(n=12)), "--split", "train=0:8,vall=8:10", "--out", str(out)]) == 2
    assert "did you mean 'val'" in capsys.readouterr().err and not out.exists()


# ------------------------------------------------------------------------------------- empty mask folders


def test_an_empty_val_mask_folder_is_an_unlabeled_split(tmp_path: Path, px: SimpleNamespace) -> None:
    # As a missing val/masks/ is: left out, with the predict command (it stopped with no fix).
    root = tmp_path / "d"
    _pairs(px, root / "train", range(10))
    for i in range(10, 13):
        px.write(root / "val" / "images" / f"img{i:02d}.png", px.gray_image(i))
    (root / "val" / "masks").mkdir()
    layout = discover(root)
    assert layout.unlabeled_images == {"val": 3}
    assert any(
        "3 val images (val/images/) have no masks" in n and "unetkit predict" in n for n in layout.notes
    )


def test_an_empty_training_mask_folder_names_the_fix(tmp_path: Path, px: SimpleNamespace) -> None:
    root = tmp_path / "d"
    for i in range(12):
        px.write(root / "images" / f"img{i:02d}.png", px.gray_image(i))
    (root / "masks").mkdir()
    with pytest.raises(ValueError) as err:
        discover(root)
    text = _one_line(err)
    assert f"mask folder {root / 'masks'} holds no masks" in text and "--masks NAME" in text


# ------------------------------------------------------------------------------------- broken links


@pytest.mark.parametrize("what", ["masks", "images"])
def test_a_broken_symlink_is_named_with_its_target(
    make_dataset: MakeDataset, tmp_path: Path, what: str
) -> None:
    # It read as "image 04.png has no mask".
    root = make_dataset(n=12)
    link = root / what / "img04.png"
    link.unlink()
    os.symlink(tmp_path / "gone.png", link)
    with pytest.raises(ValueError) as err:
        discover(root)
    text = _one_line(err)
    kind = what[:-1]
    assert f"{kind} {link} is a broken symlink (-> {tmp_path / 'gone.png'}); fix or remove the link" == text


# ------------------------------------------------------------------------------------- a file, not a folder


def test_a_file_given_as_the_folder(make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_dataset(n=12)
    image = root / "images" / "img00.png"
    with pytest.raises(ValueError) as err:
        discover(image)
    text = _one_line(err)
    assert f"dataset folder {image} is a file, not a folder" in text and f"(here perhaps {root})" in text
    assert main(["fit", str(image), "--time", "1m"]) == 2
    assert "is a file, not a folder; pass the dataset folder" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- smaller wishes


def test_images_in_a_sub_folder_are_named_when_too_few_pairs_are_left(
    tmp_path: Path, px: SimpleNamespace
) -> None:
    root = tmp_path / "d"
    _pairs(px, root, range(6))
    for i in range(6, 12):
        px.write(root / "images" / "sub" / f"img{i:02d}.png", px.gray_image(i))
        px.write(root / "masks" / "sub" / f"img{i:02d}.png", px.binary_mask(i))
    with pytest.raises(ValueError) as err:
        discover(root)
    text = _one_line(err)
    assert (
        "only 6 image/mask pairs" in text
        and f"{root / 'images' / 'sub'} holds 6 images that are not read" in text
    )


def test_one_pair_is_said_in_the_singular(make_dataset: MakeDataset) -> None:
    with pytest.raises(ValueError, match=r"has only 1 image/mask pair: too few"):
        discover(make_dataset(n=1))


def test_a_stem_differing_in_letter_case_is_hinted(tmp_path: Path, px: SimpleNamespace) -> None:
    root = tmp_path / "d"
    for i in range(12):
        px.write(root / "images" / f"Slice{i:02d}.png", px.gray_image(i))
        px.write(root / "masks" / f"slice{i:02d}.png", px.binary_mask(i))
    with pytest.raises(ValueError) as err:
        discover(root)
    assert "mask slice00.png differs from Slice00.png only in letter case" in _one_line(err)


def test_unmatched_help_names_size_and_roi_mismatches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["plan", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "a mask or ROI of another size than its image" in help_text
