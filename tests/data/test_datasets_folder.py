"""The ``folder`` dataset builder's layouts: instance label masks, ROI folders, split sub-folders, pairs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from unetkit.constants import IGNORE_INDEX
from unetkit.data.datasets import get_dataset_spec
from unetkit.data.folder import FolderDataset, validate
from unetkit.data.io import MaskEncoding, read_mask


def write(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def image(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 255, (16, 16), dtype=np.uint8)


def square(i: int) -> np.ndarray:
    """0/255 mask: a square in the right half."""
    m = np.zeros((16, 16), np.uint8)
    m[4:10, 8 + i % 4 : 12 + i % 4] = 255
    return m


def left_half_roi(size: tuple[int, int] = (16, 16)) -> np.ndarray:
    """ROI: the right half only (0 on the left)."""
    roi = np.zeros(size, np.uint8)
    roi[:, size[1] // 2 :] = 255
    return roi


def spec_of(root: Path | None, **options: Any) -> Any:
    return get_dataset_spec("folder", root=root, in_channels=1, mean=[0.5], std=[0.25], **options)


def test_instance_label_masks_become_foreground(tmp_path: Path) -> None:
    # 16-bit instance labels (DSB 2018): 0 background, 1..N nuclei, values above 255 included.
    for i in range(4):
        labels = np.zeros((16, 16), np.uint16)
        labels[2:6, 2:6], labels[8:12, 8:12] = 1, 300 + i
        write(tmp_path / "images" / f"n{i}.png", image(i))
        write(tmp_path / "labels" / f"n{i}.png", labels)
    spec = spec_of(tmp_path, mask_dir=tmp_path / "labels", mask_kind="instances",
                   split_fractions={"train": 0.5, "val": 0.25, "test": 0.25})  # fmt: skip
    assert spec.num_classes == 2  # num_classes defaults to 2 for instance labels
    target = FolderDataset(spec.pairs("train"), spec.encoding, 1, 0.5, 0.25)[0]["mask"].numpy()
    assert target.dtype == np.int64 and set(np.unique(target).tolist()) == {0, 1}
    assert target[2:6, 2:6].min() == 1 and target[8:12, 8:12].min() == 1 and target.sum() == 32


def test_roi_dir_ignores_pixels_outside_in_targets_and_metrics(tmp_path: Path) -> None:
    from unetkit.evaluation import evaluate_split

    for i in range(4):
        write(tmp_path / "images" / f"a{i}.png", image(i))
        write(tmp_path / "masks" / f"a{i}_mask.png", square(i))
        write(tmp_path / "fov" / f"a{i}_fov.png", left_half_roi())
    ranges = {"train": (0, 2), "val": (2, 3), "test": (3, 4)}
    spec = spec_of(tmp_path, num_classes=2, mask_kind="binary", mask_suffix="_mask", roi_dir="fov",
                   roi_suffix="_fov", split_ranges=ranges)  # fmt: skip
    target = FolderDataset(spec.pairs("train"), spec.encoding, 1, 0.5, 0.25)[0]["mask"].numpy()
    assert (target[:, :8] == IGNORE_INDEX).all() and set(np.unique(target[:, 8:]).tolist()) == {0, 1}
    given = spec_of(tmp_path, encoding=MaskEncoding("binary", 2), mask_suffix="_mask", roi_dir="fov",
                    roi_suffix="_fov", split_ranges=ranges)  # fmt: skip
    assert given.encoding.rois == spec.encoding.rois and len(given.encoding.rois) == 4

    # The metrics skip the same pixels: a prediction wrong only outside the ROI scores perfectly.
    truth = read_mask(spec.pairs("test")[0][1], spec.encoding)
    inside = np.where(truth == IGNORE_INDEX, 1, truth)  # "foreground" everywhere outside the ROI

    class Predictor:
        config = SimpleNamespace(num_classes=2, in_channels=1)

        def predict(self, _: np.ndarray) -> tuple[np.ndarray, None]:
            return inside, None

    scores, _ = evaluate_split(Predictor(), spec.pairs("test"), spec.encoding, ["bg", "fg"])
    assert scores["miou"] == pytest.approx(1.0)


def test_roi_of_another_size_is_one_line_error_naming_it(tmp_path: Path) -> None:
    for i in range(2):
        write(tmp_path / "images" / f"a{i}.png", image(i))
        write(tmp_path / "masks" / f"a{i}.png", square(i))
        write(tmp_path / "roi" / f"a{i}.png", left_half_roi((16, 24) if i == 1 else (16, 16)))
    spec = spec_of(tmp_path, num_classes=2, mask_kind="binary", roi_dir="roi",
                   split_lists={"train": ["a0", "a1"]})  # fmt: skip
    with pytest.raises(
        ValueError, match=r"^ROI .*roi/a1\.png is 24x16 \(WxH\) but mask .*a1\.png is 16x16; resize"
    ) as e:
        validate(spec.pairs("train"), spec.encoding, in_channels=1)
    assert "\n" not in str(e.value)


def test_image_without_roi_is_named(tmp_path: Path) -> None:
    for i in range(2):
        write(tmp_path / "images" / f"a{i}.png", image(i))
        write(tmp_path / "masks" / f"a{i}.png", square(i))
    write(tmp_path / "roi" / "a0.png", left_half_roi())
    with pytest.raises(ValueError, match=r"image .*a1\.png has no ROI named a1\.\* in roi folder"):
        spec_of(tmp_path, num_classes=2, mask_kind="binary", roi_dir="roi")


def test_split_sub_folders(tmp_path: Path) -> None:
    # The same stem in two splits stays two samples (names are split/stem).
    for split, stems in (("train", ["a", "b", "c"]), ("val", ["a"]), ("test", ["d"])):
        for i, stem in enumerate(stems):
            write(tmp_path / split / "images" / f"{stem}.png", image(i))
            write(tmp_path / split / "labels" / f"{stem}.png", square(i))
    spec = spec_of(tmp_path, num_classes=2, mask_kind="binary", split_dirs=["train", "val", "test"],
                   mask_dir="labels")  # fmt: skip
    assert spec.splits == {"train": ["train/a", "train/b", "train/c"], "val": ["val/a"], "test": ["test/d"]}
    assert spec.pairs("val") == [(tmp_path / "val/images/a.png", tmp_path / "val/labels/a.png")]
    assert len(FolderDataset(spec.pairs("train"), spec.encoding, 1, 0.5, 0.25)) == 3
    with pytest.raises(ValueError, match="split_dirs already gives the splits"):
        spec_of(tmp_path, num_classes=2, split_dirs=["train"], split_lists={"train": ["a"]})
    with pytest.raises(ValueError, match=r"split folder .*valid does not exist"):
        spec_of(tmp_path, num_classes=2, split_dirs={"train": "train", "val": "valid"}, mask_dir="labels")


def test_explicit_pairs_with_suffixed_names_and_rois(tmp_path: Path) -> None:
    # DRIVE: images 21_training.tif, masks 21_manual1.gif, field of view 21_training_mask.gif.
    pairs = {}
    for i in (21, 22, 23):
        write(tmp_path / "images" / f"{i}_training.png", image(i))
        write(tmp_path / "1st_manual" / f"{i}_manual1.gif", square(i))
        write(tmp_path / "mask" / f"{i}_training_mask.gif", left_half_roi())
        pairs[str(i)] = [
            f"images/{i}_training.png",
            f"1st_manual/{i}_manual1.gif",
            f"mask/{i}_training_mask.gif",
        ]
    spec = spec_of(tmp_path, num_classes=2, mask_kind="binary", pairs=pairs,
                   split_lists={"train": ["21", "22"], "val": ["23"]})  # fmt: skip
    assert spec.pairs("val") == [
        (tmp_path / "images/23_training.png", tmp_path / "1st_manual/23_manual1.gif")
    ]
    target = FolderDataset(spec.pairs("val"), spec.encoding, 1, 0.5, 0.25)[0]["mask"].numpy()
    assert (target[:, :8] == IGNORE_INDEX).all() and target[:, 8:].max() == 1
    with pytest.raises(ValueError, match="pairs name every file, so mask_suffix would be ignored"):
        spec_of(tmp_path, num_classes=2, pairs=pairs, mask_suffix="_manual1")
    with pytest.raises(ValueError, match=r"pairs\['24'\]: mask file .*24_manual1\.gif does not exist"):
        spec_of(
            tmp_path, num_classes=2, pairs={"24": ["images/21_training.png", "1st_manual/24_manual1.gif"]}
        )
    with pytest.raises(ValueError, match="split 'val' of dataset 'folder' names '99'"):
        spec_of(
            tmp_path, num_classes=2, pairs=pairs, split_lists={"train": ["21"]}, splits={"val": ["99"]}
        ).pairs("val")


def test_plain_options_keep_working_with_stems(tmp_path: Path) -> None:
    for i in range(6):
        write(tmp_path / "images" / f"{i:02d}.png", image(i))
        write(tmp_path / "masks" / f"{i:02d}.png", square(i))
    spec = spec_of(
        tmp_path, num_classes=2, mask_kind="binary", split_ranges={"train": (0, 4), "test": (4, 6)}
    )
    assert spec.splits["test"] == ["04", "05"] and spec.encoding.rois is None
    assert spec.pairs("test")[1] == (tmp_path / "images/05.png", tmp_path / "masks/05.png")


def test_16bit_window_measured_on_the_train_split_and_used_by_the_dataset(tmp_path: Path) -> None:
    # Train images span 1000..2000; the last (test) image is far brighter and must not move the window.
    for i in range(10):
        deep = np.random.default_rng(i).integers(1000, 2001, (16, 16)).astype(np.uint16)
        write(tmp_path / "images" / f"im{i}.png", deep + (40000 if i == 9 else 0))
        write(tmp_path / "masks" / f"im{i}.png", square(i))
    ranges = {"train": (0, 8), "val": (8, 9), "test": (9, 10)}
    spec = get_dataset_spec("folder", root=tmp_path, in_channels=1, mask_kind="binary", split_ranges=ranges)
    ((lo, hi),) = spec.intensity_window
    assert 1000 <= lo <= 1002 and 1998 <= hi <= 2000
    # mean/std after the window: uniform over 0..255 -> about 0.5 and 0.29 (>> 8 would give 3..7 / 255).
    assert spec.mean[0] == pytest.approx(0.5, abs=0.03) and spec.std[0] == pytest.approx(0.29, abs=0.03)
    sample = FolderDataset(spec.pairs("train"), spec.encoding, 1, 0.0, 1.0, window=spec.intensity_window)[0]
    assert float(sample["image"].max()) > 0.95 and float(sample["image"].min()) < 0.05
    given = get_dataset_spec("folder", root=tmp_path, in_channels=1, mask_kind="binary",
                             split_ranges=ranges, intensity_window=[[0, 4000]])  # fmt: skip
    assert given.intensity_window == ((0.0, 4000.0),)
    with pytest.raises(ValueError, match=r"intensity_window must be \[\[lo, hi\], \.\.\.\].*got 5"):
        get_dataset_spec("folder", root=tmp_path, in_channels=1, mask_kind="binary", intensity_window=5)
    per_image = get_dataset_spec("folder", root=tmp_path, in_channels=1, mask_kind="binary",
                                 split_ranges=ranges, intensity_window={"percentiles": [1, 99]})  # fmt: skip
    assert per_image.intensity_window == {"percentiles": [1.0, 99.0]}
    spanned_window = {"percentiles": [1, 99], "min_span": 30}
    spanned = get_dataset_spec("folder", root=tmp_path, in_channels=1, mask_kind="binary",
                               split_ranges=ranges, intensity_window=spanned_window)  # fmt: skip
    assert spanned.intensity_window == {"percentiles": [1.0, 99.0], "min_span": 30.0}
    with pytest.raises(ValueError, match=r"dataset 'folder': intensity_window: a per-image intensity window"):
        get_dataset_spec("folder", root=tmp_path, in_channels=1, mask_kind="binary",
                         intensity_window={"percentiles": [99, 1]})  # fmt: skip
    assert spec_of(tmp_path, mask_kind="binary", image_dir=None).intensity_window is not None


def test_given_class_colours_reach_the_spec_for_any_mask_kind(tmp_path: Path) -> None:
    from unetkit.palette import class_palette

    for i in range(4):
        write(tmp_path / "images" / f"{i}.png", image(i))
        write(tmp_path / "masks" / f"{i}.png", (square(i) // 255) * 2)  # index masks: classes 0 and 2
    default = [tuple(int(v) for v in c) for c in class_palette(3)]
    # Index masks with classes.json colours (YAML keys may be strings): the others keep the default.
    spec = spec_of(tmp_path, num_classes=3, colors={"2": [128, 64, 128]})
    assert spec.class_colors == (default[0], default[1], (128, 64, 128))
    assert spec_of(tmp_path, num_classes=3).class_colors is None  # none given: the default, not written
    # A named class 0 (CamVid's sky) left without a colour is not stored as the background's black.
    sky = ["sky", "tree", "road"]
    named = spec_of(tmp_path, num_classes=3, colors={"2": [128, 64, 128]}, class_names=sky)
    assert named.class_colors[0] != (0, 0, 0) and named.class_colors[1:] == (default[1], (128, 64, 128))
    with pytest.raises(ValueError, match=r"colors name classes \[5\] outside 0\.\.2"):
        spec_of(tmp_path, num_classes=3, colors={5: [1, 2, 3]})
    # A class name as key, or a colour that is no RGB: one line with the form expected.
    with pytest.raises(ValueError, match=r"key 'road' is not a class index.*colors=\{0: \[0, 0, 0\]"):
        spec_of(tmp_path, num_classes=3, colors={"road": [128, 64, 128]})
    with pytest.raises(ValueError, match=r"class 1 has \[1, 2\]; give \[R, G, B\]"):
        spec_of(tmp_path, num_classes=3, mask_kind="palette", colors={0: [0, 0, 0], 1: [1, 2]})
    # Any dataset takes them as a spec field too (data.options.class_colors), one per class.
    given = spec_of(tmp_path, num_classes=3, class_colors=[[1, 2, 3], [4, 5, 6], [7, 8, 9]]).class_colors
    assert given == ((1, 2, 3), (4, 5, 6), (7, 8, 9))
    with pytest.raises(ValueError, match=r"2 class colours for num_classes=3"):
        spec_of(tmp_path, num_classes=3, class_colors=[[1, 2, 3], [4, 5, 6]])
    # Palette masks: the colours that encode the classes are the colours they are drawn in.
    for i in range(4):
        rgb = np.zeros((16, 16, 3), np.uint8)
        rgb[square(i) > 0] = (250, 170, 30)
        write(tmp_path / "rgb" / f"{i}.png", rgb)
    encoding = MaskEncoding("palette", 2, colors={0: (0, 0, 0), 1: (250, 170, 30)})
    assert spec_of(tmp_path, mask_dir=tmp_path / "rgb", encoding=encoding).class_colors == (
        (0, 0, 0),
        (250, 170, 30),
    )
