"""discover() on public dataset layouts as they are downloaded (small synthetic copies, 16 px images):
Pascal VOC, Carvana's X/ + X_masks/, Oxford-IIIT Pet's annotations/trimaps/, and --unmatched skip for a mask
of another size."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from unetkit.constants import IGNORE_INDEX
from unetkit.data.io import read_mask
from unetkit.planning import discover
from unetkit.planning.discovery import DatasetLayout

MakeDataset = Callable[..., Path]
SIZE = 16


def built_from_options(layout: DatasetLayout) -> Any:
    """The ``folder`` spec built from ``layout.folder_options()``: its pairs must be the layout's."""
    from unetkit.data.datasets import get_dataset_spec

    opts, _ = layout.folder_options()
    spec = get_dataset_spec("folder", root=layout.root, **opts, mean=[0.5], std=[0.25])
    for split in layout.splits:
        assert spec.pairs(split) == [(s.image, s.mask) for s in layout.samples_of(split)]
    return spec


def rgb_image(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(40, 200, (SIZE, SIZE, 3), dtype=np.uint8)


def save(path: Path, array: np.ndarray, palette: list[int] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(array)
    if palette is not None:
        img.putpalette(palette)  # an "L" image becomes "P": the stored values are the palette indices
    img.save(path)


# ------------------------------------------------------------------------------------------ Pascal VOC


def voc_palette() -> list[int]:
    """Pascal VOC's colour map: class index bits interleaved into R, G, B (class 1 is (128, 0, 0))."""
    flat = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= (c & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        flat += [r, g, b]
    return flat


def voc_mask(i: int) -> np.ndarray:
    """Classes 0..3 in bands, each object outlined by the void value 255 as VOC draws it."""
    m = np.zeros((SIZE, SIZE), np.uint8)
    m[2:6], m[7:11], m[12:15] = 1, 2, 3
    m[6], m[11] = 255, 255
    return m


def make_voc(root: Path, annotated: int = 12, unannotated: int = 4) -> Path:
    names = [f"2007_{i:06d}" for i in range(annotated + unannotated)]
    for i, name in enumerate(names):
        save(root / "JPEGImages" / f"{name}.jpg", rgb_image(i))
    for i, name in enumerate(names[:annotated]):
        save(root / "SegmentationClass" / f"{name}.png", voc_mask(i), palette=voc_palette())
        save(root / "SegmentationObject" / f"{name}.png", (voc_mask(i) > 0).astype(np.uint8), voc_palette())
    lists = root / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True)
    (lists / "train.txt").write_text("\n".join(names[:8]) + "\n")
    (lists / "val.txt").write_text("\n".join(names[8:annotated]) + "\n")
    (lists / "trainval.txt").write_text("\n".join(names[:annotated]) + "\n")
    # VOC's test masks are not public: its test list names images without a segmentation mask.
    (lists / "test.txt").write_text("\n".join(names[annotated:]) + "\n")
    return root


def test_pascal_voc_layout(tmp_path: Path) -> None:
    root = make_voc(tmp_path / "VOC2012")
    layout = discover(root)
    names = [f"2007_{i:06d}" for i in range(12)]
    assert layout.image_dirs == (root / "JPEGImages",) and layout.mask_dirs == (root / "SegmentationClass",)
    # Only the annotated images are samples; the others are left out without an unmatched error.
    assert [s.name for s in layout.samples] == names and layout.skipped == ()
    assert layout.images_without_masks == 4
    assert any("4 of the 16 images have no segmentation mask" in n for n in layout.notes)
    # Splits from ImageSets/Segmentation: train + val (not trainval.txt); test.txt names no annotated image.
    assert layout.split_source == "lists in ImageSets/Segmentation"
    assert layout.splits == {"train": names[:8], "val": names[8:]}
    assert any("trainval.txt is not used" in n for n in layout.notes)
    assert any("test.txt names 4 images, of which 4 have no mask" in n and "no test split" in n
               for n in layout.notes)  # fmt: skip
    # 255 is void without --void, and said; the palette's colours are the classes' colours.
    # The classes are VOC's 21 by name, also those absent from these masks (a test image may hold them).
    m = layout.mask
    assert (m.kind, m.num_classes, m.ignore_values, m.gaps) == ("index", 21, (255,), tuple(range(4, 21)))
    assert (
        m.class_names[:4] == ("background", "aeroplane", "bicycle", "bird")
        and m.class_names[-1] == "tvmonitor"
    )
    assert any("the 21 VOC classes" in n for n in layout.notes)
    assert any("value 255" in n and "void" in n for n in layout.notes)
    assert {k: m.colors[k] for k in range(4)} == {
        0: (0, 0, 0),
        1: (128, 0, 0),
        2: (0, 128, 0),
        3: (128, 128, 0),
    }
    assert any("SegmentationObject holds 12 images that are not used" in n for n in layout.notes)
    # The folder builder reads the same pairs, 255 as ignored, and keeps the colours.
    opts, _ = layout.folder_options()
    assert "pairs" in opts and opts["colors"][1] == [128, 0, 0]
    spec = built_from_options(layout)
    target = read_mask(spec.pairs("train")[0][1], spec.encoding)
    assert set(np.unique(target).tolist()) == {0, 1, 2, 3, IGNORE_INDEX}
    assert json.loads(json.dumps(layout.to_dict()))["mask"]["colors"]["3"] == [128, 128, 0]


def test_pascal_voc_void_and_split_can_be_chosen(tmp_path: Path) -> None:
    root = make_voc(tmp_path / "VOC2012")
    # --void given: the user's void values, not 255 (which then asks for --void 255 as before).
    with pytest.raises(ValueError, match="--void 255"):
        discover(root, void=0)
    # Without train.txt, trainval.txt less val.txt is the training split.
    (root / "ImageSets" / "Segmentation" / "train.txt").unlink()
    layout = discover(root)
    assert layout.splits["train"] == [f"2007_{i:06d}" for i in range(8)]
    assert any(
        "training split: the images of" in n and "less the images of val.txt" in n for n in layout.notes
    )


def test_pascal_voc_copy_with_rgb_masks_reads_the_voc_colour_map(tmp_path: Path) -> None:
    # Copies of VOC re-saved as RGB: the colours were classes named rgb_R_G_B, the outline colour one of
    # them, while a note said "mask value 255 ... is void".
    root = make_voc(tmp_path / "VOC2012")
    for mask in (root / "SegmentationClass").glob("*.png"):
        Image.open(mask).convert("RGB").save(mask)
    layout = discover(root)
    m = layout.mask
    assert (m.kind, m.num_classes, m.class_names[:2]) == ("palette", 21, ("background", "aeroplane"))
    assert {k: m.colors[k] for k in range(4)} == {
        0: (0, 0, 0),
        1: (128, 0, 0),
        2: (0, 128, 0),
        3: (128, 128, 0),
    }
    assert m.colors[20] == (0, 64, 128)  # tvmonitor: VOC's colour map
    assert m.ignore_colors == ((224, 224, 192),)
    assert any("RGB masks: each colour is its class in the VOC colour map" in n for n in layout.notes)
    assert not any("mask value 255" in n for n in layout.notes)
    spec = built_from_options(layout)
    target = read_mask(spec.pairs("train")[0][1], spec.encoding)
    assert set(np.unique(target).tolist()) == {0, 1, 2, 3, IGNORE_INDEX}


def test_a_split_list_naming_one_missing_image_says_only_that_one(tmp_path: Path) -> None:
    root = make_voc(tmp_path / "VOC2012")
    with (root / "ImageSets" / "Segmentation" / "val.txt").open("a") as fh:
        fh.write("2008_111111\n")
    with pytest.raises(ValueError) as err:
        discover(root)
    text = str(err.value)
    assert "val.txt names '2008_111111' without an image/mask pair" in text and "more" not in text


def test_a_dataset_one_level_down_names_the_inner_folder(tmp_path: Path) -> None:
    # VOC's tar unpacks to VOCdevkit/VOC2012/; a zip to data/images + data/masks (beside a Mac's __MACOSX/).
    # Both were refused as the Kaggle DSB layout (or "no images/ folder"), naming the wrong fix.
    make_voc(tmp_path / "VOCdevkit" / "VOC2012")
    with pytest.raises(
        ValueError, match=r"one folder, VOC2012/.*pass .*VOCdevkit/VOC2012 as the data folder"
    ):
        discover(tmp_path / "VOCdevkit")
    for i in range(12):
        save(tmp_path / "zip" / "data" / "images" / f"img{i:02d}.png", rgb_image(i))
        save(tmp_path / "zip" / "data" / "masks" / f"img{i:02d}.png", voc_mask(i) % 4)
    (tmp_path / "zip" / "__MACOSX").mkdir()
    with pytest.raises(
        ValueError, match=r"one folder, data/, with the dataset inside .*zip/data as the data"
    ):
        discover(tmp_path / "zip")
    assert len(discover(tmp_path / "zip" / "data").samples) == 12
    # One Kaggle DSB sample (<id>/images/<id>.png) is still that layout.
    save(tmp_path / "dsb" / "abc" / "images" / "abc.png", rgb_image(0))
    save(tmp_path / "dsb" / "abc" / "masks" / "m1.png", (voc_mask(0) == 1).astype(np.uint8) * 255)
    with pytest.raises(ValueError, match="Kaggle DSB layout"):
        discover(tmp_path / "dsb")


# ------------------------------------------------------------------------------------------ Carvana


def make_carvana(root: Path, n: int = 12) -> Path:
    for i in range(n):
        name = f"0cdf5b5d0ce1_{i + 1:02d}"
        save(root / "train" / f"{name}.jpg", rgb_image(i))
        mask = np.zeros((SIZE, SIZE), np.uint8)
        mask[4:12, 3 + i % 4 : 10 + i % 4] = 255
        save(root / "train_masks" / f"{name}_mask.gif", mask)
    for i in range(3):  # Kaggle's test images: no masks
        save(root / "test" / f"1a2b3c4d5e6f_{i + 1:02d}.jpg", rgb_image(100 + i))
    return root


def test_carvana_layout_image_folder_beside_its_mask_folder(tmp_path: Path) -> None:
    root = make_carvana(tmp_path / "carvana")
    layout = discover(root)
    assert layout.image_dirs == (root / "train",) and layout.mask_dirs == (root / "train_masks",)
    assert len(layout.samples) == 12 and layout.mask_suffix == "_mask"
    assert (layout.mask.kind, layout.channels, layout.split_source) == ("binary", 3, "contiguous")
    assert any("images from train/, their masks from train_masks/" in n for n in layout.notes)
    assert any("test holds 3 images that are not used" in n and "--images test" in n for n in layout.notes)
    # Kaggle's test/ has no masks: the note says how to segment it rather than only how to train on it.
    assert any(f"(unetkit predict RUN {root / 'test'} --out OUT)" in n for n in layout.notes)
    opts, _ = layout.folder_options()
    assert opts["mask_suffix"] == "_mask" and opts["mask_dir"] == str(root / "train_masks")
    built_from_options(layout)
    # --images alone finds the masks beside the named folder.
    assert discover(root, image_dir="train").mask_dirs == (root / "train_masks",)


def test_several_image_folders_with_masks_beside_them_name_the_flags(tmp_path: Path) -> None:
    root = make_carvana(tmp_path / "carvana")
    make_carvana(tmp_path / "other", n=2)
    (tmp_path / "other" / "train").rename(root / "extra")
    (tmp_path / "other" / "train_masks").rename(root / "extra_labels")
    with pytest.raises(ValueError) as err:
        discover(root)
    text = str(err.value)
    assert "\n" not in text and "extra/ with extra_labels/, train/ with train_masks/" in text
    assert "--images extra --masks extra_labels" in text


# ------------------------------------------------------------------------------------------ Oxford-IIIT Pet


def make_pets(root: Path, n: int = 12, names: list[str] | None = None) -> Path:
    names = names or [f"Abyssinian_{i + 1}" for i in range(n)]
    for i, name in enumerate(names):
        save(root / "images" / f"{name}.jpg", rgb_image(i))
        trimap = np.full((SIZE, SIZE), 2, np.uint8)  # 1 pet, 2 background, 3 border
        trimap[3:13, 3:13] = 3
        trimap[4:12, 4:12] = 1
        save(root / "annotations" / "trimaps" / f"{name}.png", trimap)
        (root / "annotations" / "xmls").mkdir(parents=True, exist_ok=True)
        (root / "annotations" / "xmls" / f"{name}.xml").write_text("<annotation/>")
    # The archive was packed on a Mac: AppleDouble files beside the trimaps are no masks.
    (root / "annotations" / "trimaps" / f"._{names[0]}.png").write_bytes(b"\x00\x05\x16\x07 not an image")
    # Lists with extra columns (class id, species, breed id); trainval and test only.
    rows = [f"{name} 1 1 1" for name in names]
    (root / "annotations" / "trainval.txt").write_text("\n".join(rows[:9]) + "\n")
    (root / "annotations" / "test.txt").write_text("\n".join(rows[9:]) + "\n")
    (root / "annotations" / "list.txt").write_text("#Image CLASS-ID SPECIES BREED ID\n" + "\n".join(rows))
    return root


def test_oxford_pet_layout_masks_one_level_down(tmp_path: Path) -> None:
    root = make_pets(tmp_path / "oxford-iiit-pet")
    layout = discover(root)
    names = [f"Abyssinian_{i + 1}" for i in range(12)]
    assert layout.image_dirs == (root / "images",)
    assert layout.mask_dirs == (root / "annotations" / "trimaps",) and len(layout.samples) == 12
    assert any("masks from annotations/trimaps/" in n for n in layout.notes)
    # trainval.txt (first column) is the training split, its end the validation split; test.txt the test.
    assert layout.split_source == "lists in annotations"
    assert layout.splits == {"train": names[:7], "val": names[7:9], "test": names[9:]}
    # Trimaps read as the oxford_pet dataset reads them: background / pet, the unsure border void.
    m = layout.mask
    assert (m.kind, m.num_classes, m.class_names) == ("remap", 2, ("background", "pet"))
    assert m.mapping == {1: 1, 2: 0, 3: IGNORE_INDEX}
    assert any("Oxford-IIIT Pet trimaps" in n and "void" in n for n in layout.notes)
    assert not any("gaps" in n for n in layout.notes)
    built_from_options(layout)
    # Choosing the reading yourself wins: the values 1..3 as class indices (the unused 0 reported).
    m = discover(root, mask_kind="index").mask
    assert (m.kind, m.num_classes, m.values, m.gaps) == ("index", 4, (1, 2, 3), (0,))


def test_validation_carved_from_every_breed_when_the_test_split_holds_them(tmp_path: Path) -> None:
    """Oxford-IIIT Pet's test.txt holds every breed that trainval.txt holds: validation is spread over the
    breeds too (the last block of sorted names was whole breeds, unlike the test split)."""
    names = [f"{breed}_{i}" for breed in ("Abyssinian", "Bengal") for i in range(1, 9)]
    root = make_pets(tmp_path / "pets", names=names)
    test = ["Abyssinian_8", "Bengal_8"]
    trainval = sorted(n for n in names if n not in test)
    (root / "annotations" / "trainval.txt").write_text("\n".join(f"{n} 1 1 1" for n in trainval) + "\n")
    (root / "annotations" / "test.txt").write_text("\n".join(f"{n} 1 1 1" for n in test) + "\n")
    layout = discover(root)
    val = layout.splits["val"]
    assert len(val) == 3 and {n.split("_")[0] for n in val} == {"Abyssinian", "Bengal"}
    assert set(val).isdisjoint(layout.splits["train"]) and len(layout.splits["train"]) == 11
    assert any("spread evenly" in n for n in layout.notes)
    built_from_options(layout)
    # A test split of an unseen breed keeps the contiguous carve (the last block of the sorted names).
    three = [*names[:6], *names[8:14], "Chihuahua_1", "Chihuahua_2"]
    other = make_pets(tmp_path / "pets3", names=three)
    (other / "annotations" / "trainval.txt").write_text("\n".join(f"{n} 1 1 1" for n in three[:12]) + "\n")
    (other / "annotations" / "test.txt").write_text("Chihuahua_1 1 1 1\nChihuahua_2 1 1 1\n")
    assert discover(other).splits["val"] == ["Bengal_5", "Bengal_6"]


def test_several_mask_sub_folders_name_the_flag(px: SimpleNamespace, tmp_path: Path) -> None:
    root = make_pets(tmp_path / "pets")
    for name in ("Abyssinian_1", "Abyssinian_2"):
        px.write(root / "annotations" / "outlines" / f"{name}.png", np.zeros((SIZE, SIZE), np.uint8))
    with pytest.raises(ValueError) as err:
        discover(root)
    text = str(err.value)
    assert "\n" not in text and "outlines/, trimaps/" in text and "--masks annotations/outlines" in text
    assert discover(root, mask_dir="annotations/trimaps").mask_dirs == (root / "annotations" / "trimaps",)


# ------------------------------------------------------------------------------------------ --unmatched skip


def test_unmatched_skip_leaves_out_a_mask_of_another_size(
    px: SimpleNamespace, make_dataset: MakeDataset
) -> None:
    root = make_dataset()
    px.write(root / "masks" / "img04.png", np.zeros((30, 32), np.uint8))
    with pytest.raises(ValueError, match=r"img04\.png is 32x30 .*--unmatched skip"):
        discover(root)
    layout = discover(root, unmatched="skip")
    assert len(layout.samples) == 11 and "img04" not in [s.name for s in layout.samples]
    assert len(layout.sizes) == 11
    (why,) = layout.skipped
    assert why.startswith(str(root / "images" / "img04.png")) and "32x30 (WxH), the image 32x32" in why
    assert any("skipped 1 images whose mask or ROI has another size" in n for n in layout.notes)
    assert all("img04" not in names for names in layout.splits.values())
    spec = built_from_options(layout)  # explicit pairs: the builder's folder rule would take img04 again
    assert "pairs" in layout.folder_options()[0] and len(spec.table) == 11
    # A split list naming the skipped image loses it, with a note.
    (root / "train.txt").write_text("\n".join(f"img{i:02d}" for i in range(8)) + "\n")
    (root / "val.txt").write_text("img08\nimg09\n")
    listed = discover(root, unmatched="skip")
    assert listed.splits["train"] == ["img00", "img01", "img02", "img03", "img05", "img06", "img07"]
    assert any("train.txt names 8 images, of which 1 were skipped" in n for n in listed.notes)


def test_split_sub_folders_inside_images_and_masks_are_not_nested_masks(
    px: SimpleNamespace, tmp_path: Path
) -> None:
    # images/train/ with masks/train/: no image beside masks/, so masks/train/ is not taken for the masks of
    # every split; each split's images pair with the masks of its own sub-folder (ADE20K's layout).
    root = tmp_path / "d"
    for split in ("train", "val"):
        px.write(root / "images" / split / "a.png", np.zeros((SIZE, SIZE), np.uint8))
        # Some foreground: all-background training masks are refused (nothing to learn).
        px.write(root / "masks" / split / "a.png", px.binary_mask(0, SIZE))
    layout = discover(root)
    assert layout.splits == {"train": ["train/a"], "val": ["val/a"]}
    assert layout.mask_dirs == (root / "masks" / "train", root / "masks" / "val")
    assert [s.mask for s in layout.samples] == [root / "masks" / x / "a.png" for x in ("train", "val")]
