"""nnU-Net's raw layout, SegNet's CamVid layout (X/ + Xannot/), the half-empty index classes refusal and the
note on a void value no mask holds, on tiny synthetic folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from layout_helpers import built_spec
from PIL import Image

from unetkit.planning.discovery import discover

SIZE = 32


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _image(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 256, (SIZE, SIZE), dtype=np.uint8)


def _labels(i: int, values: tuple[int, ...] = (0, 1)) -> np.ndarray:
    """A mask holding every one of ``values`` (a band each)."""
    m = np.full((SIZE, SIZE), values[0], np.uint8)
    for k, v in enumerate(values[1:]):
        m[2 + 4 * k : 5 + 4 * k, 2 + i % 5 :] = v
    return m


# ------------------------------------------------------------------------------ nnU-Net raw layout


def _nnunet(root: Path, n: int = 12, labels: object = None, test: int = 3) -> Path:
    for i in range(n):
        _save(root / "imagesTr" / f"case_{i:03d}_0000.png", _image(i))
        _save(root / "labelsTr" / f"case_{i:03d}.png", _labels(i))
    for i in range(test):
        _save(root / "imagesTs" / f"case_{100 + i:03d}_0000.png", _image(100 + i))
    data = {
        "channel_names": {"0": "EM"},
        "labels": labels if labels is not None else {"background": 0, "cell": 1},
        "numTraining": n,
        "file_ending": ".png",
    }
    (root / "dataset.json").write_text(json.dumps(data))
    return root


def test_nnunet_layout_pairs_channel_files_with_labels_and_reads_class_names(tmp_path: Path) -> None:
    root = _nnunet(tmp_path / "Dataset001_Cells")
    layout = discover(root)
    assert len(layout.samples) == 12
    s = layout.samples[0]
    assert (s.image.name, s.mask.name) == ("case_000_0000.png", "case_000.png")
    assert layout.mask.class_names == ("background", "cell")
    assert layout.unlabeled_images == {"test": 3}  # imagesTs/: no labels, left out of the splits
    assert any(n.startswith("nnU-Net layout") for n in layout.notes)
    assert any("imagesTs/" in n and "unetkit predict" in n for n in layout.notes)
    built_spec(layout)


def test_nnunet_v1_labels_and_the_ignore_label(tmp_path: Path) -> None:
    v1 = discover(_nnunet(tmp_path / "v1", labels={"0": "background", "1": "nucleus"}))
    assert v1.mask.class_names == ("background", "nucleus")
    root = _nnunet(tmp_path / "v2", labels={"background": 0, "cell": 1, "ignore": 2})
    for i in range(12):
        _save(root / "labelsTr" / f"case_{i:03d}.png", _labels(i, (0, 1, 2)))
    layout = discover(root)
    assert (layout.mask.class_names, layout.mask.ignore_values) == (("background", "cell"), (2,))


def test_nnunet_region_labels_are_refused(tmp_path: Path) -> None:
    root = _nnunet(tmp_path / "regions", labels={"background": 0, "tumour": [1, 2]})
    with pytest.raises(ValueError, match=r"region-based labels.*classes.json"):
        discover(root)


def test_nnunet_several_channel_files_are_refused_naming_the_case(tmp_path: Path) -> None:
    root = _nnunet(tmp_path / "two", test=0)
    for i in range(12):
        _save(root / "imagesTr" / f"case_{i:03d}_0001.png", _image(50 + i))
    with pytest.raises(ValueError, match=r"case 'case_000' has 2 channel files.*stack the channels"):
        discover(root)


def test_nnunet_folders_named_pair_by_the_channel_suffix(tmp_path: Path) -> None:
    root = _nnunet(tmp_path / "named", test=0)
    layout = discover(root, image_dir="imagesTr", mask_dir="labelsTr")
    assert [s.mask.name for s in layout.samples[:2]] == ["case_000.png", "case_001.png"]
    assert layout.mask.class_names == ("background", "cell")


def test_nnunet_imagests_named_when_folders_are_given(tmp_path: Path) -> None:
    root = _nnunet(tmp_path / "named_ts")
    layout = discover(root, image_dir="imagesTr", mask_dir="labelsTr")
    note = next(n for n in layout.notes if "imagesTs holds" in n)
    assert "nnU-Net's test images" in note and "--roi" not in note


def test_nnunet_3d_file_ending_is_refused(tmp_path: Path) -> None:
    root = _nnunet(tmp_path / "nifti")
    data = json.loads((root / "dataset.json").read_text())
    (root / "dataset.json").write_text(json.dumps(data | {"file_ending": ".nii.gz"}))
    with pytest.raises(ValueError, match=r"file_ending '.nii.gz', which unetkit does not read"):
        discover(root)


def test_numbered_images_with_numbered_masks_still_pair_by_stem(tmp_path: Path) -> None:
    """The channel rule pairs only when it pairs more: frame_0001 with frame_0001 stays as it was."""
    for i in range(12):
        _save(tmp_path / "d" / "images" / f"frame_{i:04d}.png", _image(i))
        _save(tmp_path / "d" / "masks" / f"frame_{i:04d}.png", _labels(i) * 255)
    layout = discover(tmp_path / "d")
    assert [s.mask.name for s in layout.samples[:2]] == ["frame_0000.png", "frame_0001.png"]


# ------------------------------------------------------------------------------ SegNet / smp CamVid


def _segnet(root: Path, splits: dict[str, int], annot: str = "annot", test_masks: bool = True) -> Path:
    for split, n in splits.items():
        for i in range(n):
            _save(root / split / f"{split}{i:03d}.png", _image(i))
            if split != "test" or test_masks:
                _save(root / f"{split}{annot}" / f"{split}{i:03d}.png", _labels(i, (0, 1, 2)))
    return root


def test_segnet_split_folders_with_annot_masks(tmp_path: Path) -> None:
    root = _segnet(tmp_path / "CamVid", {"train": 8, "val": 3, "test": 4})
    layout = discover(root)
    assert layout.split_source == "folders"
    assert {k: len(v) for k, v in layout.splits.items()} == {"train": 8, "val": 3, "test": 4}
    assert layout.samples_of("val")[0].mask == root / "valannot" / "val000.png"
    assert not any("not used" in n for n in layout.notes)
    assert any("val from val/ with valannot/" in n for n in layout.notes)
    built_spec(layout)


def test_segnet_underscore_annot_and_unlabeled_test(tmp_path: Path) -> None:
    root = _segnet(tmp_path / "smp", {"train": 8, "val": 3, "test": 2}, annot="_annot", test_masks=False)
    layout = discover(root)
    assert {k: len(v) for k, v in layout.splits.items()} == {"train": 8, "val": 3}
    assert layout.unlabeled_images == {"test": 2}


def test_carvana_train_masks_with_test_stays_one_pair(tmp_path: Path) -> None:
    """train/ + train_masks/ beside test/ without masks is Carvana's layout, not split folders."""
    root = tmp_path / "carvana"
    for i in range(12):
        _save(root / "train" / f"car{i:02d}.jpg", _image(i))
        _save(root / "train_masks" / f"car{i:02d}_mask.gif", _labels(i) * 255)
    for i in range(2):
        _save(root / "test" / f"t{i}.jpg", _image(i))
    layout = discover(root)
    assert layout.split_source == "contiguous"
    assert any("images to segment after training" in n for n in layout.notes)


def test_segnet_val_named_when_train_folders_are_given(tmp_path: Path) -> None:
    root = _segnet(tmp_path / "CamVid", {"train": 12, "val": 3})
    layout = discover(root, image_dir="train", mask_dir="trainannot")
    val = [n for n in layout.notes if " holds 3 images that are not used" in n]
    assert len(val) == 2 and all("val/ + valannot/ is a split folder" in n for n in val)
    assert not any("--roi" in n for n in val)


# ------------------------------------------------------------------------------ index gaps, void


def _indexed(root: Path, values: tuple[int, ...]) -> Path:
    for i in range(12):
        _save(root / "images" / f"im{i:02d}.png", _image(i))
        _save(root / "masks" / f"im{i:02d}.png", _labels(i, values))
    return root


def test_exactly_half_the_index_classes_empty_is_refused(tmp_path: Path) -> None:
    root = _indexed(tmp_path / "half", (0, 2, 5, 7, 9))
    with pytest.raises(ValueError, match=r"make 10 classes, 5 of them in no mask.*--mask-kind remap"):
        discover(root)
    named = discover(root, class_names=[f"c{i}" for i in range(10)])
    assert named.mask.num_classes == 10
    fewer = discover(_indexed(tmp_path / "fewer", (0, 2, 3, 5, 7, 9)))  # 4 of 10 empty: a note
    assert fewer.mask.gaps == (1, 4, 6, 8)


def test_void_value_in_no_mask_gets_a_note(tmp_path: Path) -> None:
    root = _indexed(tmp_path / "void", (0, 1, 2, 255))
    layout = discover(root, void=[225, 255])
    note = next(n for n in layout.notes if n.startswith("void value 225 occurs in none"))
    assert "{0, 1, 2, 255}" in note
    seen = discover(root, void=255)
    assert not any(n.startswith("void value") for n in seen.notes)
