"""Public segmentation datasets as they are downloaded, on tiny synthetic look-alikes (same folder shapes,
names, file types and mask encodings; nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from layout_helpers import built_spec
from PIL import Image

from unetkit.constants import IGNORE_INDEX
from unetkit.data.io import MaskEncoding, read_mask
from unetkit.planning.discovery import discover

SIZE = 32


def _save(path: Path, array: np.ndarray, **kwargs: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".tif":
        tifffile.imwrite(path, array)
    else:
        Image.fromarray(array).save(path, **kwargs)


def _rgb(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)


def _disc(i: int) -> np.ndarray:
    yy, xx = np.mgrid[:SIZE, :SIZE]
    return ((yy - 10 - i % 12) ** 2 + (xx - 16) ** 2 < 49).astype(np.uint8) * 255


def _instances(i: int) -> np.ndarray:
    """16-bit instance labels 1..k, a few objects per image (nuclei, cells)."""
    m = np.zeros((SIZE, SIZE), np.uint16)
    for k in range(1 + i % 4):
        m[2 + 7 * k : 7 + 7 * k, 3 + 3 * k : 9 + 3 * k] = k + 1
    return m


# ------------------------------------------------------------------------------ Kvasir-SEG: JPEG masks


def _kvasir(root: Path, mask: object = None) -> Path:
    for i in range(12):
        name = f"cju{i:02d}x{(i * 7919) % 1000:03d}ab"
        _save(root / "images" / f"{name}.jpg", _rgb(i), quality=90)
        m = _disc(i) if mask is None else mask(i)  # type: ignore[operator]
        _save(root / "masks" / f"{name}.jpg", np.repeat(m[..., None], 3, 2), quality=90)  # RGB, as shipped
    (root / "kavsir_bboxes.json").write_text("{}")
    return root


def test_kvasir_jpeg_masks_are_read_as_binary(tmp_path: Path) -> None:
    root = _kvasir(tmp_path / "Kvasir-SEG")
    smeared = np.asarray(Image.open(root / "masks" / "cju00x000ab.jpg"))
    assert not set(np.unique(smeared).tolist()) <= {0, 255}  # the look-alike is smeared, as Kvasir's are
    layout = discover(root)
    assert layout.mask.kind == "binary" and layout.mask.values == (0, 255)
    assert any("12 masks are JPEGs" in n and "thresholded at 128" in n for n in layout.notes)
    first = layout.samples[0]
    classes = read_mask(first.mask, MaskEncoding("binary", 2))
    assert np.array_equal(classes, (_disc(0) > 0).astype(np.int64))
    built_spec(layout)


def test_jpeg_masks_under_png_names_get_the_jpeg_note(tmp_path: Path) -> None:
    """JPEG data saved as .png (a renamed export) is as lossy as a .jpg: told by the content, as read."""
    root = _kvasir(tmp_path / "Kvasir-SEG")
    for jpg in sorted((root / "masks").glob("*.jpg"))[:3]:
        jpg.rename(jpg.with_suffix(".png"))
    layout = discover(root)
    assert layout.mask.kind == "binary"
    note = next(n for n in layout.notes if "12 masks are JPEGs" in n)
    assert "cju00x000ab.png is JPEG data under a .png name" in note


@pytest.mark.parametrize(
    "mask",
    [
        lambda i: (np.arange(SIZE * SIZE).reshape(SIZE, SIZE) % 4).astype(np.uint8),  # class indices 0..3
        lambda i: np.tile(np.repeat(np.array([0, 128, 255], np.uint8), 11)[:SIZE], (SIZE, 1)),  # 3 levels
        lambda i: np.zeros((SIZE, SIZE), np.uint8),  # no foreground: nothing says it is binary
    ],
    ids=["indices", "three-levels", "empty"],
)
def test_jpeg_masks_that_are_not_binary_are_refused(tmp_path: Path, mask: object) -> None:
    root = _kvasir(tmp_path / "d", mask)
    with pytest.raises(ValueError, match=r"cju00x000ab\.jpg: it is a JPEG, and masks must be lossless"):
        discover(root)


# ------------------------------------------------------------------------------ ISIC 2018: named folders

ISIC_IMAGES = "ISIC2018_Task1-2_{}_Input"
ISIC_MASKS = "ISIC2018_Task1_{}_GroundTruth"


def _isic(root: Path, splits: dict[str, int]) -> Path:
    offset = 0
    for split, n in splits.items():
        for i in range(offset, offset + n):
            _save(root / ISIC_IMAGES.format(split) / f"ISIC_{i:07d}.jpg", _rgb(i), quality=90)
            _save(root / ISIC_MASKS.format(split) / f"ISIC_{i:07d}_segmentation.png", _disc(i))
        (root / ISIC_IMAGES.format(split) / "LICENSE.txt").write_text("CC-BY-NC")
        offset += n
    return root


def test_isic_input_and_groundtruth_folders_pair_by_their_names(tmp_path: Path) -> None:
    root = _isic(tmp_path / "isic", {"Training": 12})
    layout = discover(root)
    assert (
        len(layout.samples) == 12 and layout.mask.kind == "binary" and layout.mask_suffix == "_segmentation"
    )
    assert layout.image_dirs == (root / ISIC_IMAGES.format("Training"),)
    assert layout.mask_dirs == (root / ISIC_MASKS.format("Training"),)
    assert any("told by their names" in n for n in layout.notes)
    assert layout.split_source == "contiguous"


def test_isic_training_validation_test_folders_are_the_splits(tmp_path: Path) -> None:
    root = _isic(tmp_path / "isic", {"Training": 12, "Validation": 3, "Test": 4})
    layout = discover(root)
    assert layout.split_source == "folders"
    assert {k: len(v) for k, v in layout.splits.items()} == {"train": 12, "val": 3, "test": 4}
    # ISIC's image ids are unique over the splits: the names are the plain stems, not
    # ISIC2018_Task1-2_Validation_Input/ISIC_0000012, in dataset.json and in what is written per sample.
    assert layout.splits["val"][0] == "ISIC_0000012"
    assert [s.name for s in layout.samples][:2] == ["ISIC_0000000", "ISIC_0000001"]
    assert layout.to_dict()["pairs"][0]["name"] == "ISIC_0000000"
    assert not any("not used" in n for n in layout.notes)  # each split's folders are used by that split
    assert "pairs" in layout.folder_options()[0]  # no folder rule names these files: every pair is listed
    built_spec(layout)


def test_isic_names_keep_the_folder_when_a_stem_recurs_in_another_split(tmp_path: Path) -> None:
    root = _isic(tmp_path / "isic", {"Training": 12, "Validation": 3})
    _save(root / ISIC_IMAGES.format("Validation") / "ISIC_0000000.jpg", _rgb(0), quality=90)
    _save(root / ISIC_MASKS.format("Validation") / "ISIC_0000000_segmentation.png", _disc(0))
    layout = discover(root)
    names = [s.name for s in layout.samples]
    assert len(set(names)) == len(names) == 16
    assert layout.splits["val"][0] == f"{ISIC_IMAGES.format('Validation')}/ISIC_0000000"
    assert layout.splits["train"][0] == f"{ISIC_IMAGES.format('Training')}/ISIC_0000000"
    built_spec(layout)


def test_isic_test_input_without_its_groundtruth_is_left_out(tmp_path: Path) -> None:
    # ISIC 2018 as often downloaded: the test ground truth came later, as a separate archive.
    root = _isic(tmp_path / "isic", {"Training": 12, "Validation": 3, "Test": 4})
    _drop(root / ISIC_MASKS.format("Test"))
    layout = discover(root)
    assert {k: len(v) for k, v in layout.splits.items()} == {"train": 12, "val": 3}
    (note,) = [n for n in layout.notes if "have no masks" in n]
    test_input = ISIC_IMAGES.format("Test")
    assert note == (
        f"4 test images ({test_input}/) have no masks: left out of the splits (they cannot be scored); to "
        f"segment them after training: unetkit predict RUN {root / test_input} --out OUT"
    )
    assert not any("not used" in n for n in layout.notes)  # said once, as left out
    assert not any(test_input in n for n in layout.notes if "told by their names" in n)
    built_spec(layout)
    # Training and Test only: validation carved from training, still no test split.
    _drop(root / ISIC_IMAGES.format("Validation"))
    _drop(root / ISIC_MASKS.format("Validation"))
    assert set(discover(root).splits) == {"train", "val"}


def test_isic_training_input_without_its_groundtruth_pairs_no_one_way(tmp_path: Path) -> None:
    # Only a split beside labeled training images is left out: without Training's masks nothing pairs.
    root = _isic(tmp_path / "isic", {"Training": 6, "Validation": 3})
    _drop(root / ISIC_MASKS.format("Training"))
    with pytest.raises(ValueError, match="pair no one way"):
        discover(root)


def test_named_folders_that_pair_no_one_way_name_the_flags(tmp_path: Path) -> None:
    root = _isic(tmp_path / "isic", {"Training": 6})
    for i in range(3):  # a second image folder without a split word
        _save(root / "extra_images" / f"ISIC_{i:07d}.jpg", _rgb(i), quality=90)
    with pytest.raises(
        ValueError, match=r"pair no one way; choose with --images \S+ --masks \S+GroundTruth$"
    ):
        discover(root)


# ------------------------------------------------------------------------------ Cellpose


def _cellpose(folder: Path, n: int, npy: bool = True) -> None:
    for i in range(n):
        _save(
            folder / f"img_{i:03d}.tif", np.random.default_rng(i).integers(0, 4000, (SIZE, SIZE), np.uint16)
        )
        _save(folder / f"img_{i:03d}_masks.tif", _instances(i))
        if npy:
            np.save(folder / f"img_{i:03d}_seg.npy", {"masks": _instances(i)}, allow_pickle=True)


def test_cellpose_folder_masks_beside_images_and_seg_npy_noted(tmp_path: Path) -> None:
    root = tmp_path / "cellpose"
    _cellpose(root, 12)
    with pytest.raises(ValueError, match="pass --mask-kind instances if each value is one object"):
        discover(root)
    layout = discover(root, mask_kind="instances")
    assert len(layout.samples) == 12 and layout.mask.kind == "instances"
    assert layout.samples[0].mask == root / "img_000_masks.tif"
    assert any("12 .npy files" in n and "img_000_seg.npy" in n and "not read" in n for n in layout.notes)


def test_split_folders_with_images_and_masks_side_by_side(tmp_path: Path) -> None:
    # Cellpose's dataset: train/000_img.png beside train/000_masks.png, test/ likewise.
    root = tmp_path / "cyto"
    for split, n in (("train", 12), ("test", 4)):
        for i in range(n):
            _save(root / split / f"{i:03d}_img.png", _rgb(i))
            _save(root / split / f"{i:03d}_masks.png", _instances(i))
    layout = discover(root, mask_kind="instances")
    assert layout.split_source == "folders"
    assert {k: len(v) for k, v in layout.splits.items()} == {"train": 10, "val": 2, "test": 4}
    assert layout.splits["test"][0] == "test/000_img"
    by_name = {s.name: s for s in layout.samples}
    assert by_name["test/000_img"].mask == root / "test" / "000_masks.png"
    built_spec(layout)
    # test/ of images alone (no _masks file): left out and said, not silently passed over.
    for p in (root / "test").glob("*_masks.png"):
        p.unlink()
    layout = discover(root, mask_kind="instances")
    assert set(layout.splits) == {"train", "val"}
    assert any(
        n.startswith("4 test images (test/) have no masks")
        and n.endswith(f"unetkit predict RUN {root / 'test'} --out OUT")
        for n in layout.notes
    )
    # Some masks missing is a broken split, not an unlabeled one: the error names the image.
    _save(root / "test" / "000_masks.png", _instances(0))
    with pytest.raises(ValueError, match=r"image \S+001_img.png \(and 2 more\) has no mask in"):
        discover(root, mask_kind="instances")


# ------------------------------------------------------------------------------ StarDist / DSB


def test_stardist_train_test_folders_with_16bit_instance_labels(tmp_path: Path) -> None:
    root = tmp_path / "dsb2018"
    for split, n in (("train", 12), ("test", 4)):
        for i in range(n):
            name = f"{i:04d}{'ab' * 8}.tif"
            _save(
                root / split / "images" / name,
                np.random.default_rng(i).integers(0, 255, (SIZE, SIZE), np.uint8),
            )
            _save(root / split / "masks" / name, _instances(i))
    with pytest.raises(ValueError, match=r"uint16 with small values.*--mask-kind instances"):
        discover(root)
    layout = discover(root, mask_kind="instances")
    assert {k: len(v) for k, v in layout.splits.items()} == {"train": 10, "val": 2, "test": 4}


# ------------------------------------------------------------------------------ ADE20K


def _ade(root: Path) -> Path:
    for split, tag, n in (("training", "train", 12), ("validation", "val", 4)):
        for i in range(n):
            m = np.random.default_rng(i).integers(0, 151, (SIZE, SIZE)).astype(np.uint8)
            m[:4], m[4:8] = 0, 150
            _save(root / "images" / split / f"ADE_{tag}_{i + 1:08d}.jpg", _rgb(i), quality=90)
            _save(root / "annotations" / split / f"ADE_{tag}_{i + 1:08d}.png", m)
    names = ["wall", "building;edifice", *[f"thing{i}" for i in range(3, 151)]]
    rows = [f"{i},0.01,10,1,{name}" for i, name in enumerate(names, start=1)]
    (root / "objectInfo150.csv").write_text("Idx,Ratio,Train,Val,Name\n" + "\n".join(rows) + "\n")
    (root / "sceneCategories.txt").write_text("ADE_train_00000001 airport\n")
    return root


def test_ade20k_split_folders_inside_images_and_annotations(tmp_path: Path) -> None:
    root = _ade(tmp_path / "ADEChallengeData2016")
    # As downloaded: objectInfo150.csv names the 150 classes (values 1..150), 0 ("other") is void.
    named = discover(root)
    assert named.mask.num_classes == 150 and named.mask.class_names[:2] == ("wall", "building")
    assert any("objectInfo150.csv" in n for n in named.notes)
    spec = built_spec(named)
    first = spec.pairs("train")[0][1]
    target = read_mask(first, spec.encoding)
    stored = np.asarray(Image.open(first))
    assert set(np.unique(target[stored == 0])) == {IGNORE_INDEX}
    assert set(np.unique(target[stored == 150])) == {149}
    # Without it, the 151 values ask for the reading; --mask-kind index --void 0 keeps value = class.
    (root / "objectInfo150.csv").unlink()
    with pytest.raises(ValueError, match=r"masks hold 151 values .*--mask-kind index"):
        discover(root)
    layout = discover(root, mask_kind="index", void=0)
    assert layout.split_source == "folders"
    assert {k: len(v) for k, v in layout.splits.items()} == {"train": 12, "val": 4}
    assert layout.splits["val"][0] == "validation/ADE_val_00000001"
    assert layout.mask.num_classes == 151 and layout.mask.ignore_values == (0,)
    assert any("sub-folders of images/ and annotations/" in n for n in layout.notes)
    sample = {s.name: s for s in layout.samples}["validation/ADE_val_00000001"]
    assert sample.mask == root / "annotations" / "validation" / "ADE_val_00000001.png"
    assert "pairs" in layout.folder_options()[0]
    built_spec(layout)


def _drop(folder: Path) -> None:
    for p in folder.iterdir():
        p.unlink()
    folder.rmdir()


def test_inner_split_folder_without_its_masks_is_left_out(tmp_path: Path) -> None:
    # images/validation/ without annotations/validation/: an unlabeled split, left out and said; validation
    # is then carved from training.
    root = _ade(tmp_path / "ade")
    _drop(root / "annotations" / "validation")
    layout = discover(root)
    assert {k: len(v) for k, v in layout.splits.items()} == {"train": 10, "val": 2}
    assert all(n.startswith("training/") for n in layout.splits["val"])
    (note,) = [n for n in layout.notes if "have no masks" in n]
    assert note == (
        "4 val images (images/validation/) have no masks: left out of the splits (they cannot be scored); "
        f"to segment them after training: unetkit predict RUN {root / 'images' / 'validation'} --out OUT"
    )
    assert any(n.endswith("annotations/: training/") for n in layout.notes)
    built_spec(layout)


def test_inner_split_folder_without_the_training_masks_names_the_folder(tmp_path: Path) -> None:
    root = _ade(tmp_path / "ade")
    _drop(root / "annotations" / "training")
    with pytest.raises(ValueError, match=r"images/training holds the train images but .*annotations has no "):
        discover(root)


# ------------------------------------------------------------------------------ Cityscapes (not read)


def test_images_one_folder_further_down_name_the_sub_folders(tmp_path: Path) -> None:
    # Cityscapes: leftImg8bit/train/<city>/... is deeper than any layout looks; the error says so.
    root = tmp_path / "cityscapes"
    for i in range(3):
        stem = f"aachen_{i:06d}_000019"
        _save(root / "leftImg8bit" / "train" / "aachen" / f"{stem}_leftImg8bit.png", _rgb(i))
        _save(
            root / "gtFine" / "train" / "aachen" / f"{stem}_gtFine_labelIds.png",
            np.zeros((SIZE, SIZE), np.uint8),
        )
    with pytest.raises(ValueError, match=r"has no images/ folder \(it holds gtFine/, leftImg8bit/\)"):
        discover(root)
    with pytest.raises(ValueError, match=r"leftImg8bit holds no images .*\(it holds train/\); .*--images"):
        discover(root, image_dir="leftImg8bit", mask_dir="gtFine")
