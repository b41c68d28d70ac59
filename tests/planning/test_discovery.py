"""discover(): layouts, pairing, splits, classes files and encoding detection on small folders."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from unetkit.data.io import MaskEncoding, read_mask
from unetkit.planning import discover
from unetkit.planning.discovery import DatasetLayout, detect_encoding

MakeDataset = Callable[..., Path]


def built_from_options(layout: DatasetLayout) -> Any:
    """The ``folder`` spec built from ``layout.folder_options()``; its pairs and ROIs must be the layout's."""
    from unetkit.data.datasets import get_dataset_spec

    opts, missing = layout.folder_options()
    assert missing == []
    spec = get_dataset_spec("folder", root=layout.root, **opts, mean=[0.5], std=[0.25])
    for split in layout.splits:
        samples = layout.samples_of(split)
        assert spec.pairs(split) == [(s.image, s.mask) for s in samples]
        rois = spec.encoding.rois or {}
        assert [rois.get(str(s.mask)) for s in samples] == [str(s.roi) if s.roi else None for s in samples]
    return spec


def test_binary_folder_with_contiguous_split(make_dataset: MakeDataset) -> None:
    root = make_dataset(n=30)
    layout = discover(root)
    assert layout.mask.kind == "binary" and layout.mask.num_classes == 2
    assert layout.channels == 1
    # 65/15/20 contiguous blocks of the sorted names: the ISBI README's 20/4/6 on 30 items.
    assert [len(layout.splits[s]) for s in ("train", "val", "test")] == [20, 4, 6]
    assert layout.splits["val"] == [f"img{i:02d}" for i in range(20, 24)]
    assert layout.split_source == "contiguous"
    opts, missing = layout.folder_options()
    assert missing == [] and opts["mask_kind"] == "binary" and opts["num_classes"] == 2
    assert "pairs" not in opts and built_from_options(layout).encoding.rois is None
    json.dumps(layout.to_dict())  # plain JSON types


@pytest.mark.parametrize("mask_dir", ["labels", "annotations"])
def test_other_mask_folder_names(make_dataset: MakeDataset, mask_dir: str) -> None:
    layout = discover(make_dataset(mask_dir=mask_dir))
    assert layout.mask_dirs[0].name == mask_dir
    assert len(layout.samples) == 12


@pytest.mark.parametrize("suffix", ["_mask", "_label", "_labels", "_gt", "_manual1", "-mask", "_seg"])
def test_pairs_with_a_mask_suffix(make_dataset: MakeDataset, suffix: str) -> None:
    layout = discover(make_dataset(suffix=suffix))
    assert len(layout.samples) == 12
    assert layout.mask_suffix == suffix
    assert all(s.mask.stem == s.image.stem + suffix for s in layout.samples)
    assert layout.folder_options()[0]["mask_suffix"] == suffix
    built_from_options(layout)


def test_drive_style_names_gif_masks_and_fov(px: SimpleNamespace, tmp_path: Path) -> None:
    # DRIVE: images 21_training.png, masks 21_manual1.gif, field of view fov/21_training_mask.gif.
    root = tmp_path / "drive"
    for i in range(21, 33):
        px.write(root / "images" / f"{i}_training.png", px.gray_image(i))
        px.write(root / "masks" / f"{i}_manual1.gif", px.binary_mask(i))
        px.write(root / "fov" / f"{i}_training_mask.gif", np.full((32, 32), 255, np.uint8))
    layout = discover(root)
    assert len(layout.samples) == 12 and layout.has_roi
    assert all(s.roi is not None and s.roi.name.startswith(s.image.stem) for s in layout.samples)
    assert layout.mask.kind == "binary"
    opts, _ = layout.folder_options()
    # 21_manual1 does not start with 21_training: no suffix rule, so every pair is listed (with its ROI).
    assert opts["pairs"]["21_training"] == ["images/21_training.png", "masks/21_manual1.gif",
                                            "fov/21_training_mask.gif"]  # fmt: skip
    assert built_from_options(layout).encoding.rois is not None


def test_gif_mask_reads_gray_values_not_palette_indices(tmp_path: Path) -> None:
    # A GIF whose palette stores white at index 0 and black at index 1: the index must not be the label.
    from PIL import Image

    index = np.ones((16, 16), np.uint8)
    index[:4, :4] = 0  # white square
    gif = Image.fromarray(index, mode="P")
    gif.putpalette([255, 255, 255, 0, 0, 0])
    path = tmp_path / "m.gif"
    gif.save(path)
    decoded = read_mask(path, MaskEncoding("binary", 2))
    assert np.array_equal(decoded, (index == 0).astype(np.int64))  # white (255) -> class 1
    assert detect_encoding([path]).kind == "binary"


def test_split_lists(make_dataset: MakeDataset) -> None:
    root = make_dataset()
    (root / "train.txt").write_text("\n".join(f"img{i:02d}" for i in range(8)) + "\n")
    (root / "val.txt").write_text("img08\nimg09.png\n")  # extensions are dropped
    (root / "test.txt").write_text("img10\nimg11\n")
    layout = discover(root)
    assert layout.split_source == "lists"
    assert layout.splits["val"] == ["img08", "img09"]
    built_from_options(layout)


def test_split_lists_without_val_ask_for_it(make_dataset: MakeDataset) -> None:
    root = make_dataset()
    (root / "train.txt").write_text("img00\n")
    with pytest.raises(ValueError, match=r"val\.txt"):
        discover(root)


def test_split_lists_without_val_carve_it_from_the_end_of_train(make_dataset: MakeDataset) -> None:
    root = make_dataset()
    (root / "train.txt").write_text("\n".join(f"img{i:02d}" for i in range(8)) + "\n")
    (root / "test.txt").write_text("img10\nimg11\n")
    layout = discover(root)
    # 8 x 15/80 = 1.5 -> 2: the last contiguous block, so neighbouring frames stay on one side.
    assert layout.splits == {"train": [f"img{i:02d}" for i in range(6)], "val": ["img06", "img07"],
                             "test": ["img10", "img11"]}  # fmt: skip
    assert any("the last 2 of the 8 training images" in n and "val.txt" in n for n in layout.notes)
    built_from_options(layout)


def test_split_folders(tmp_path: Path, make_dataset: MakeDataset) -> None:
    root = tmp_path / "splits"
    for split, n in (("train", 6), ("val", 2), ("test", 2)):
        make_dataset(n=n, root=root / split)
    layout = discover(root)
    assert layout.split_source == "folders"
    assert [len(layout.splits[s]) for s in ("train", "val", "test")] == [6, 2, 2]
    assert layout.splits["val"][0].startswith("val/")
    opts, _ = layout.folder_options()
    assert opts["split_dirs"] == ["train", "val", "test"] and "split_lists" not in opts
    built_from_options(layout)


def test_split_folders_without_val_carve_it(tmp_path: Path, make_dataset: MakeDataset) -> None:
    root = tmp_path / "splits"
    make_dataset(n=6, root=root / "train")
    make_dataset(n=2, root=root / "test")
    layout = discover(root)
    assert layout.splits["val"] == ["train/img05"] and len(layout.splits["train"]) == 5
    opts, _ = layout.folder_options()
    assert "split_dirs" not in opts  # val is part of train/: the pairs and split lists say so
    built_from_options(layout)


def _without_masks(folder: Path) -> None:
    for f in (folder / "masks").iterdir():
        f.unlink()
    (folder / "masks").rmdir()


def test_a_split_folder_without_masks_is_left_out_and_said(tmp_path: Path, make_dataset: MakeDataset) -> None:
    # test/images/ without test/masks/ (Kaggle-style unlabeled test images): left out of the splits, with
    # the command that segments them (the path quoted: a space in it stays one argument).
    root = tmp_path / "my data"
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        make_dataset(n=n, root=root / split)
    _without_masks(root / "test")
    layout = discover(root)
    assert layout.splits == {
        "train": [f"train/img{i:02d}" for i in range(6)],
        "val": ["val/img00", "val/img01"],
    }
    (note,) = [n for n in layout.notes if "have no masks" in n]
    assert note == (
        "3 test images (test/images/) have no masks: left out of the splits (they cannot be scored); to "
        f"segment them after training: unetkit predict RUN '{root / 'test' / 'images'}' --out OUT"
    )
    assert layout.folder_options()[0]["split_dirs"] == ["train", "val"]
    built_from_options(layout)
    # Named folders: --images/--masks name them in every split.
    for split in ("train", "val", "test"):
        (root / split / "images").rename(root / split / "img")
        if split != "test":
            (root / split / "masks").rename(root / split / "lbl")
    named = discover(root, image_dir="img", mask_dir="lbl")
    assert set(named.splits) == {"train", "val"}
    assert any(n.startswith("3 test images (test/img/) have no masks") for n in named.notes)


def test_a_val_folder_without_masks_is_left_out_and_val_carved(
    tmp_path: Path, make_dataset: MakeDataset
) -> None:
    root = tmp_path / "splits"
    for split, n in (("train", 6), ("val", 2), ("test", 2)):
        make_dataset(n=n, root=root / split)
    _without_masks(root / "val")
    layout = discover(root)
    assert layout.splits["val"] == ["train/img05"] and len(layout.splits["test"]) == 2
    assert any(n.startswith("2 val images (val/images/) have no masks") for n in layout.notes)


def test_a_split_folder_with_some_masks_missing_names_them(tmp_path: Path, make_dataset: MakeDataset) -> None:
    # Masks for some of a split's images: a broken split, not an unlabeled one; one line names the images.
    root = tmp_path / "splits"
    for split, n in (("train", 6), ("test", 3)):
        make_dataset(n=n, root=root / split)
    (root / "test" / "masks" / "img01.png").unlink()
    (root / "test" / "masks" / "img02.png").unlink()
    with pytest.raises(ValueError) as err:
        discover(root)
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(f"image {root / 'test' / 'images' / 'img01.png'} (and 1 more) has no mask in")


def test_a_split_folder_without_masks_stays_an_error_when_not_unlabeled(
    tmp_path: Path, make_dataset: MakeDataset
) -> None:
    root = tmp_path / "splits"
    for split, n in (("train", 6), ("test", 3)):
        make_dataset(n=n, root=root / split)
    # Another folder with images beside test/images/: maybe the masks under another name; the flags decide.
    (root / "test" / "masks").rename(root / "test" / "seg")
    with pytest.raises(ValueError, match=r"test has no masks/ .*\(it holds images/, seg/\).*--masks NAME"):
        discover(root)
    # train/ without masks is no unlabeled split: it is the error, whatever the other splits hold.
    (root / "test" / "seg").rename(root / "test" / "masks")
    _without_masks(root / "train")
    with pytest.raises(ValueError, match=r"train has no masks/ .*\(it holds images/\)"):
        discover(root)


def test_a_misnamed_masks_folder_gets_a_concrete_fix_and_case_is_ignored(
    tmp_path: Path, make_dataset: MakeDataset
) -> None:
    """Trial 20: images/ beside mask/ or segmentation/ was told 'name their folder with mask_dir (--masks
    NAME)', and Masks/ was not found at all."""
    for name in ("mask", "segmentation"):
        root = make_dataset(n=6, root=tmp_path / name, mask_dir=name)
        with pytest.raises(ValueError) as err:
            discover(root)
        assert f"name their folder: --masks {name} (mask_dir={name!r} from Python)" in str(err.value)
    # Two candidates: which one holds the masks is the user's to say.
    (tmp_path / "mask" / "seg").mkdir()
    (tmp_path / "mask" / "seg" / "img00.png").write_bytes(
        (tmp_path / "mask" / "images" / "img00.png").read_bytes()
    )
    with pytest.raises(
        ValueError, match=r"\(it holds images/, mask/, seg/\).*name their folder: --masks NAME"
    ):
        discover(tmp_path / "mask")
    # images/ beside Masks/ (saved where names ignore case) is images/ beside masks/ (Images/ with Masks/
    # was found already, as a pair of folders told by their names).
    root = make_dataset(root=tmp_path / "upper", mask_dir="Masks")
    layout = discover(root)
    assert layout.mask_dirs == (root / "Masks",) and layout.image_dirs == (root / "images",)
    (root / "images").rename(root / "IMAGES")
    assert discover(root).image_dirs == (root / "IMAGES",)


def test_a_misnamed_images_folder_gets_a_concrete_fix(tmp_path: Path, make_dataset: MakeDataset) -> None:
    """Trial 20: pics/ beside masks/ was told 'name their folder with image_dir (--images NAME)', config-key
    jargon; as for a misnamed masks folder, the one other folder with images is named."""
    root = make_dataset(root=tmp_path / "d")
    (root / "images").rename(root / "pics")
    shutil.copytree(root / "masks", root / "roi")  # a region of interest's folder: no candidate for images
    with pytest.raises(ValueError) as err:
        discover(root)
    assert "name their folder: --images pics (image_dir='pics' from Python)" in str(err.value)
    assert "image_dir (" not in str(err.value)
    assert discover(root, image_dir="pics").image_dirs == (root / "pics",)  # the fix it names works
    # Two candidates, or no masks folder (its one folder of images may be the masks): the user's to say.
    (root / "scans").mkdir()
    (root / "scans" / "img00.png").write_bytes((root / "pics" / "img00.png").read_bytes())
    with pytest.raises(ValueError, match=r"name their folder: --images NAME \(image_dir from Python\)$"):
        discover(root)
    for extra in ("scans", "masks", "roi"):
        shutil.rmtree(root / extra)
    with pytest.raises(ValueError, match=r"name their folder: --images NAME \(image_dir from Python\)$"):
        discover(root)


def test_public_dataset_layout_drive(px: SimpleNamespace, tmp_path: Path) -> None:
    """DRIVE as downloaded: training/ and test/, images 21_training.tif, tracings 1st_manual/21_manual1.gif,
    field of view mask/21_training_mask.gif: found without renaming; mask/ is named, not guessed."""
    root = tmp_path / "DRIVE"
    for split, ids in (("training", range(21, 31)), ("test", range(1, 4))):
        for i in ids:
            px.write(root / split / "images" / f"{i:02d}_{split}.tif", np.full((20, 18, 3), i, np.uint8))
            px.write(
                root / split / "1st_manual" / f"{i:02d}_manual1.gif", np.eye(20, 18, dtype=np.uint8) * 255
            )
            fov = np.zeros((20, 18), np.uint8)
            fov[2:-2, 2:-2] = 255
            px.write(root / split / "mask" / f"{i:02d}_{split}_mask.gif", fov)
    layout = discover(root)
    assert layout.split_source == "folders" and layout.mask.kind == "binary" and not layout.has_roi
    assert [len(layout.splits[s]) for s in ("train", "val", "test")] == [8, 2, 3]
    assert layout.splits["val"] == ["training/29_training", "training/30_training"]
    assert sum("training/mask holds 10 images that are not used" in n and "--roi mask" in n
               for n in layout.notes) == 1  # fmt: skip
    with_fov = discover(root, roi_dir="mask")
    assert with_fov.has_roi and all(
        s.roi is not None and s.roi.parent.name == "mask" for s in with_fov.samples
    )
    assert not any("not used" in n for n in with_fov.notes)
    built_from_options(with_fov)
    # As downloaded, test/ has its field of view but no manual: with --roi mask it is left out, said.
    for path in (root / "test" / "1st_manual").iterdir():
        path.unlink()
    (root / "test" / "1st_manual").rmdir()
    as_downloaded = discover(root, roi_dir="mask")
    assert "test" not in as_downloaded.splits and as_downloaded.has_roi
    assert sum("3 test images (test/images/) have no masks" in n and "unetkit predict" in n
               for n in as_downloaded.notes) == 1  # fmt: skip
    built_from_options(as_downloaded)


def test_split_folders_named_training_validation_testing(tmp_path: Path, make_dataset: MakeDataset) -> None:
    root = tmp_path / "splits"
    for split, n in (("training", 6), ("validation", 2), ("testing", 2)):
        make_dataset(n=n, root=root / split)
    layout = discover(root)
    assert [len(layout.splits[s]) for s in ("train", "val", "test")] == [6, 2, 2]
    opts, _ = layout.folder_options()
    assert opts["split_dirs"] == {"train": "training", "val": "validation", "test": "testing"}
    built_from_options(layout)


def test_given_split_ranges(make_dataset: MakeDataset) -> None:
    layout = discover(make_dataset(n=12), splits={"train": (0, 8), "val": (8, 10), "test": (10, 12)})
    assert layout.split_source == "given" and layout.splits["test"] == ["img10", "img11"]


def test_classes_json_names_and_void(make_dataset: MakeDataset) -> None:
    def mask(i: int) -> np.ndarray:
        m = np.zeros((32, 32), np.uint8)
        m[:8] = 1
        m[8:12] = 2
        m[-2:] = 9  # void
        return m

    root = make_dataset(mask=mask)
    (root / "classes.json").write_text(json.dumps({"classes": ["bg", "road", "car"], "void": 9}))
    layout = discover(root)
    assert layout.mask.kind == "index"
    assert layout.mask.class_names == ("bg", "road", "car")
    assert layout.mask.ignore_values == (9,)


def test_classes_csv_palette(make_dataset: MakeDataset) -> None:
    colours = {"sky": (128, 128, 128), "road": (128, 64, 128), "void": (0, 0, 0)}

    def mask(i: int) -> np.ndarray:
        m = np.zeros((32, 32, 3), np.uint8)
        m[:10] = colours["sky"]
        m[10:30] = colours["road"]
        return m

    root = make_dataset(mask=mask)
    (root / "classes.csv").write_text(
        "name,r,g,b,void\nsky,128,128,128,false\nroad,128,64,128,false\nvoid,0,0,0,true\n"
    )
    m = discover(root).mask
    assert m.kind == "palette" and m.class_names == ("sky", "road")
    assert m.colors == {0: (128, 128, 128), 1: (128, 64, 128)}
    assert m.ignore_colors == ((0, 0, 0),)


@pytest.mark.parametrize("void", [[[255, 255, 255]], [255, 255, 255], "#ffffff", ["#FFFFFF"]])
def test_classes_json_top_level_void_colour_of_colour_masks(make_dataset: MakeDataset, void: Any) -> None:
    # The top-level "void" of classes.json took mask values only: a colour there stopped discovery with
    # "int() argument must be ... not 'list'", naming neither the file nor the fix.
    def mask(i: int) -> np.ndarray:
        m = np.zeros((32, 32, 3), np.uint8)
        m[:10] = (255, 0, 0)
        m[-2:] = (255, 255, 255)  # void outline
        return m

    root = make_dataset(mask=mask)
    classes = [{"name": "bg", "color": [0, 0, 0]}, {"name": "road", "color": [255, 0, 0]}]
    (root / "classes.json").write_text(json.dumps({"classes": classes, "void": void}))
    m = discover(root).mask
    assert m.kind == "palette" and m.class_names == ("bg", "road")
    assert m.ignore_colors == ((255, 255, 255),)


def test_classes_json_top_level_void_of_gray_masks_and_a_bad_entry(make_dataset: MakeDataset) -> None:
    def mask(i: int) -> np.ndarray:
        m = np.zeros((32, 32), np.uint8)
        m[:8], m[-2:], m[-4:-2] = 1, 254, 255
        return m

    root = make_dataset(mask=mask)
    (root / "classes.json").write_text(json.dumps({"classes": ["bg", "cell"], "void": [254, 255, 7]}))
    assert discover(root).mask.ignore_values == (7, 254, 255)
    (root / "classes.json").write_text(json.dumps({"classes": ["bg", "cell"], "void": [{"r": 255}]}))
    with pytest.raises(ValueError, match=r"classes.json: void entry \{'r': 255\} is neither a mask value"):
        discover(root)


def test_palette_without_classes_file_lists_the_colours(make_dataset: MakeDataset) -> None:
    def mask(i: int) -> np.ndarray:
        m = np.zeros((32, 32, 3), np.uint8)
        m[:10] = (255, 0, 0)
        m[10:20] = (0, 255, 0)
        return m

    m = discover(make_dataset(mask=mask)).mask
    assert m.kind == "palette" and m.num_classes == 3
    assert set(m.colors.values()) == {(0, 0, 0), (255, 0, 0), (0, 255, 0)}


def test_colour_masks_name_classes_json_for_names_and_void(make_dataset: MakeDataset) -> None:
    # --void took a value and was dropped silently for colour masks (the white outline stayed a class).
    def mask(i: int) -> np.ndarray:
        m = np.zeros((32, 32, 3), np.uint8)
        m[:10] = (255, 0, 0)
        m[-2:] = (255, 255, 255)
        return m

    root = make_dataset(mask=mask)
    with pytest.raises(ValueError, match=r"--void takes stored values of single-channel masks.*classes.json"):
        discover(root, void=255)
    layout = discover(root)
    assert any("3 colours of the masks are the classes" in n and '"void": [[255, 255, 255]]' in n
               for n in layout.notes)  # fmt: skip
    classes = [{"name": "bg", "color": [0, 0, 0]}, {"name": "road", "color": [255, 0, 0]}]
    (root / "classes.json").write_text(json.dumps({"classes": classes, "void": [[255, 255, 255]]}))
    assert not any("colours of the masks are the classes" in n for n in discover(root).notes)


def test_index_masks_report_gaps(make_dataset: MakeDataset) -> None:
    def mask(i: int) -> np.ndarray:
        m = np.zeros((32, 32), np.uint8)
        m[:5], m[5:10] = 1, 3
        return m

    layout = discover(make_dataset(mask=mask))
    assert layout.mask.kind == "index" and layout.mask.num_classes == 4
    assert layout.mask.gaps == (2,)
    assert any("gaps" in n for n in layout.notes)


def test_16bit_instance_labels(make_dataset: MakeDataset) -> None:
    def labels(i: int) -> np.ndarray:
        m = np.zeros((32, 32), np.uint16)
        for k in range(70):  # more labels than small class indices
            m[k % 32, (k // 32) * 8 : (k // 32) * 8 + 4] = k + 1
        return m

    root = make_dataset(mask_dir="labels", mask=labels)
    m = discover(root).mask
    assert m.kind == "instances" and m.num_classes == 2 and m.dtype == "uint16"
    spec = built_from_options(discover(root))
    assert spec.encoding.kind == "instances"
    target = read_mask(spec.pairs("train")[0][1], spec.encoding)
    assert set(np.unique(target).tolist()) == {0, 1}


def test_values_0_1_are_binary(px: SimpleNamespace, make_dataset: MakeDataset) -> None:
    layout = discover(make_dataset(mask=lambda i: (px.binary_mask(i) // 255).astype(np.uint8)))
    assert layout.mask.kind == "binary"


# ------------------------------------------------------------------------------------------ ambiguity


def test_index_asked_for_0_255_masks_says_they_look_binary(make_dataset: MakeDataset) -> None:
    with pytest.raises(ValueError, match=r"look binary; pass --mask-kind binary") as err:
        discover(make_dataset(), mask_kind="index")
    assert "\n" not in str(err.value)


def test_255_beside_small_classes_asks_for_void(make_dataset: MakeDataset) -> None:
    def mask(i: int) -> np.ndarray:
        m = np.zeros((32, 32), np.uint8)
        m[:5], m[5:10], m[-1] = 1, 2, 255
        return m

    root = make_dataset(mask=mask)
    with pytest.raises(ValueError, match="--void 255"):
        discover(root)
    assert discover(root, void=255).mask.num_classes == 3


def test_values_that_fit_no_encoding(make_dataset: MakeDataset) -> None:
    def mask(i: int) -> np.ndarray:
        return np.tile(np.arange(0, 256, 8, dtype=np.uint8), (32, 1))  # 32 spread values: a photo/JPEG

    root = make_dataset(mask=mask)
    with pytest.raises(ValueError, match=r"fit no encoding.*--mask-kind remap"):
        discover(root)
    remapped = discover(root, mask_kind="remap").mask
    assert remapped.kind == "remap" and remapped.num_classes == 32


def test_binary_asked_for_class_indices(make_dataset: MakeDataset) -> None:
    root = make_dataset(mask=lambda i: np.full((32, 32), 3, np.uint8))
    with pytest.raises(ValueError, match="--mask-kind binary but"):
        discover(root, mask_kind="binary")


def test_binary_masks_some_0_1_others_0_255(make_dataset: MakeDataset) -> None:
    def mask(i: int) -> np.ndarray:
        m = np.zeros((32, 32), np.uint8)
        m[8:20, 8:20] = 1 if i % 2 else 255  # an export that changed its foreground value
        return m

    root = make_dataset(mask=mask)
    for kind in (None, "binary"):
        info = discover(root, mask_kind=kind).mask
        assert info.kind == "binary" and info.num_classes == 2


def test_binary_asked_for_masks_with_1_and_255_together(make_dataset: MakeDataset) -> None:
    def mask(i: int) -> np.ndarray:
        m = np.zeros((32, 32), np.uint8)
        m[8:20, 8:20] = 1
        m[8:20, 20] = 255  # a void border, as VOC draws it
        return m

    root = make_dataset(mask=mask)
    with pytest.raises(ValueError, match=r"--mask-kind binary but mask .* holds 1 and 255 together.*--void"):
        discover(root, mask_kind="binary")
    assert discover(root, mask_kind="binary", void=255).mask.kind == "binary"


def test_validation_sharing_a_sequence_with_training_is_noted() -> None:
    from unetkit.planning.discovery import name_group, shared_group_notes

    assert [name_group(n) for n in ("0016E5_07959", "Seq05VD_f00000", "train/img07", "p3-12", "00")] == [
        "0016E5", "Seq05VD", "img", "p3", "",
    ]  # fmt: skip
    # CamVid's split: validation frames all from a training sequence, test frames partly.
    splits = {
        "train": [f"0001TP_{i:06d}" for i in range(3)] + [f"0016E5_{i:05d}" for i in range(4)],
        "val": [f"0016E5_{i:05d}" for i in range(10, 13)],
        "test": ["0001TP_009000", "Seq05VD_f00000", "Seq05VD_f00030"],
    }
    val, test = shared_group_notes(splits)
    assert val.startswith("3 of 3 val images share a name group with training images (0016E5)")
    assert test.startswith("1 of 3 test images share a name group with training images (0001TP)")
    # Names that form no groups say nothing: one group (img00..), numbers only (ISBI), unique names (hashes).
    assert shared_group_notes({"train": [f"img{i:02d}" for i in range(8)], "val": ["img08"]}) == []
    assert shared_group_notes({"train": [f"{i:02d}" for i in range(20)], "val": ["20", "21"]}) == []
    assert shared_group_notes({"train": ["a1f3", "b2e9", "c0d4"], "val": ["d5c2"]}) == []


def test_discover_notes_validation_groups(make_dataset: MakeDataset) -> None:
    root = make_dataset(n=12)
    names = [p.stem for p in sorted((root / "images").iterdir())]
    for i, old in enumerate(names):  # two sequences, a and b, of six frames
        new = f"{'ab'[i // 6]}_{i:03d}"
        (root / "images" / f"{old}.png").rename(root / "images" / f"{new}.png")
        (root / "masks" / f"{old}.png").rename(root / "masks" / f"{new}.png")
    (root / "train.txt").write_text("a_000\na_001\na_002\na_003\nb_006\nb_007\nb_008\n")
    (root / "val.txt").write_text("a_004\na_005\n")
    (root / "test.txt").write_text("b_009\nb_010\nb_011\n")
    notes = discover(root).notes
    assert any(n.startswith("2 of 2 val images share a name group with training images (a)") for n in notes)


def test_images_and_masks_side_by_side(px: SimpleNamespace, tmp_path: Path) -> None:
    """case01.tif with case01_mask.tif in one folder (as e.g. the LGG MRI set ships): found without options,
    and with --images . --masks . as well; ROI-suffixed files there are neither images nor masks."""
    root = tmp_path / "flat"
    for i in range(12):
        px.write(root / f"case{i:02d}.tif", np.full((16, 16), 10 * i, np.uint8))
        px.write(root / f"case{i:02d}_mask.tif", np.eye(16, dtype=np.uint8) * 255)
    px.write(root / "case00_roi.png", np.full((16, 16), 255, np.uint8))
    layout = discover(root)
    assert len(layout.samples) == 12 and layout.mask.kind == "binary"
    assert all(s.mask.stem == s.image.stem + "_mask" for s in layout.samples)
    assert any("side by side" in n for n in layout.notes)
    assert [s.name for s in discover(root, image_dir=".", mask_dir=".").samples] == [
        s.name for s in layout.samples
    ]
    built_from_options(layout)


def test_default_split_keeps_each_group_in_one_split(make_dataset: MakeDataset) -> None:
    from unetkit.planning.discovery import shared_group_notes, snap_to_groups

    # 5 patients x 7 slices: 65/15/20 cuts at 23 and 28 move to the patient boundaries 21 and 28.
    names = [f"p{g}_{i:03d}" for g in range(1, 6) for i in range(7)]
    assert snap_to_groups(names, [23, 28]) == [21, 28]
    # No groups (numbers, one prefix) or groups too coarse for the fractions: the cuts stay.
    assert snap_to_groups([f"{i:02d}" for i in range(30)], [20, 24]) is None
    assert snap_to_groups([f"p{g}_{i}" for g in (1, 2) for i in range(7)], [11]) is None
    root = make_dataset(n=35)
    for i, old in enumerate(sorted(p.stem for p in (root / "images").iterdir())):
        (root / "images" / f"{old}.png").rename(root / "images" / f"{names[i]}.png")
        (root / "masks" / f"{old}.png").rename(root / "masks" / f"{names[i]}.png")
    layout = discover(root)
    assert [len(layout.splits[s]) for s in ("train", "val", "test")] == [21, 7, 7]
    assert shared_group_notes(layout.splits) == []
    assert any("at name-group boundaries" in n for n in layout.notes)


def test_split_folders_in_other_capitals(tmp_path: Path, make_dataset: MakeDataset) -> None:
    # LoveDA's Train/ and Val/, many Kaggle sets' Test/: split folders match whatever their case.
    root = tmp_path / "splits"
    for split, n in (("Train", 6), ("Val", 2), ("Test", 2)):
        make_dataset(n=n, root=root / split)
    layout = discover(root)
    assert layout.split_source == "folders"
    assert [len(layout.splits[s]) for s in ("train", "val", "test")] == [6, 2, 2]
    assert layout.splits["val"][0] == "Val/img00"
    opts, _ = layout.folder_options()
    assert opts["split_dirs"] == {"train": "Train", "val": "Val", "test": "Test"}
    built_from_options(layout)


def test_carved_validation_keeps_a_group_whole(tmp_path: Path, make_dataset: MakeDataset) -> None:
    root = tmp_path / "splits"
    make_dataset(n=16, root=root / "train")
    make_dataset(n=2, root=root / "test")
    names = [f"s{g}_{i:02d}" for g in range(1, 5) for i in range(4)]  # 4 sequences of 4 frames
    for i, old in enumerate(sorted(p.stem for p in (root / "train" / "images").iterdir())):
        (root / "train" / "images" / f"{old}.png").rename(root / "train" / "images" / f"{names[i]}.png")
        (root / "train" / "masks" / f"{old}.png").rename(root / "train" / "masks" / f"{names[i]}.png")
    layout = discover(root)
    # 16 x 3/16 = 3 frames would split sequence s4; the whole of s4 (4 frames) becomes validation.
    assert layout.splits["val"] == [f"train/s4_{i:02d}" for i in range(4)]


def test_classes_json_colours_of_class_index_masks(make_dataset: MakeDataset) -> None:
    # Gray class-index masks: classes.json's colours are the classes' colours to draw, as for a palette.
    root = make_dataset(mask=lambda i: np.eye(32, dtype=np.uint8))
    (root / "classes.json").write_text(
        json.dumps(
            {"classes": [{"name": "bg", "color": "#000000"}, {"name": "line", "color": [250, 10, 10]}]}
        )
    )
    layout = discover(root)
    assert layout.mask.kind == "index" and layout.mask.colors == {0: (0, 0, 0), 1: (250, 10, 10)}
    assert layout.folder_options()[0]["colors"] == {0: [0, 0, 0], 1: [250, 10, 10]}
    built_from_options(layout)


def test_a_folder_named_for_images_and_masks_holding_both_is_read_side_by_side(
    px: SimpleNamespace, tmp_path: Path
) -> None:
    # img_and_masks/ with case01.png beside case01_mask.png: a mask word in the name made it a mask folder
    # (and then no image folder was found).
    root = tmp_path / "d"
    for i in range(12):
        px.write(root / "img_and_masks" / f"case{i:02d}.png", px.gray_image(i))
        px.write(root / "img_and_masks" / f"case{i:02d}_mask.png", px.binary_mask(i))
    layout = discover(root)
    assert len(layout.samples) == 12 and layout.mask.kind == "binary"
    assert layout.image_dirs == layout.mask_dirs == (root / "img_and_masks",)
    assert all(s.mask.stem == s.image.stem + "_mask" for s in layout.samples)
    built_from_options(layout)


def test_a_folder_named_for_images_and_masks_is_settled_by_the_other_folder(
    px: SimpleNamespace, tmp_path: Path
) -> None:
    # images_for_labels/ holds the images (no mask suffix): the only other folder, groundtruth_png/, holds
    # the masks, so it is the image folder. A mask word in its name made both folders mask folders.
    root = tmp_path / "d"
    for i in range(12):
        px.write(root / "images_for_labels" / f"case{i:02d}.png", px.gray_image(i))
        px.write(root / "groundtruth_png" / f"case{i:02d}.png", px.binary_mask(i))
    layout = discover(root)
    assert layout.image_dirs == (root / "images_for_labels",)
    assert layout.mask_dirs == (root / "groundtruth_png",)
    # gt_images/ whose files all carry a mask suffix holds masks, beside raw_input/.
    other = tmp_path / "e"
    for i in range(12):
        px.write(other / "raw_input" / f"case{i:02d}.png", px.gray_image(i))
        px.write(other / "gt_images" / f"case{i:02d}_mask.png", px.binary_mask(i))
    assert discover(other).mask_dirs == (other / "gt_images",)


def test_a_folder_named_for_images_and_masks_that_nothing_settles_names_the_flags(
    px: SimpleNamespace, tmp_path: Path
) -> None:
    root = tmp_path / "d"
    for i in range(12):
        px.write(root / "images_masks" / f"case{i:02d}.png", px.binary_mask(i))
        px.write(root / "scans" / f"case{i:02d}.png", px.gray_image(i))
    with pytest.raises(ValueError) as err:
        discover(root)
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"folder {root / 'images_masks'} has both an image word")
    assert text.endswith("name the folders with --images NAME --masks NAME")
    assert discover(root, image_dir="scans", mask_dir="images_masks").mask_dirs == (root / "images_masks",)
