"""A user trial's findings on DSB 2018 copies: --unmatched skip with a train.txt naming images that have no
mask yet, and the advice when instance label masks are given as --mask-kind binary."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from layout_helpers import built_spec

import unetkit
from unetkit.planning.discovery import discover

MakeDataset = Callable[..., Path]
FAST = {"threads": 1, "measure_limit": 2.0, "device": "cpu"}


def _listed_with_missing_masks(make_dataset: MakeDataset) -> Path:
    """12 pairs, train.txt naming img00..img08 and val.txt img09..img11, with the masks of img02 and img05
    deleted (images not annotated yet)."""
    root = make_dataset(n=12)
    (root / "train.txt").write_text("\n".join(f"img{i:02d}" for i in range(9)) + "\n")
    (root / "val.txt").write_text("img09\nimg10\nimg11\n")
    for name in ("img02", "img05"):
        (root / "masks" / f"{name}.png").unlink()
    return root


def test_a_train_list_naming_images_without_masks_names_unmatched_skip(make_dataset: MakeDataset) -> None:
    root = _listed_with_missing_masks(make_dataset)
    with pytest.raises(ValueError) as err:
        discover(root)
    text = str(err.value)
    assert "\n" not in text
    assert text == (
        f"{root / 'train.txt'} names 'img02' (and 1 more), whose image {root / 'images' / 'img02.png'} has "
        f"no mask in {root / 'masks'}; add the masks, take them out of train.txt, or pass --unmatched skip "
        "to leave them out"
    )


def test_unmatched_skip_leaves_listed_images_without_masks_out(make_dataset: MakeDataset) -> None:
    root = _listed_with_missing_masks(make_dataset)
    layout = discover(root, unmatched="skip")
    assert layout.splits["train"] == ["img00", "img01", "img03", "img04", "img06", "img07", "img08"]
    assert layout.splits["val"] == ["img09", "img10", "img11"]
    assert sorted(Path(s).name for s in layout.skipped) == ["img02.png", "img05.png"]
    assert "skipped 2 files without a partner (--unmatched skip): img02.png, img05.png" in layout.notes
    assert (
        f"{root / 'train.txt'} names 9 images, of which 2 were skipped: left out of the train split"
        in layout.notes
    )
    built_spec(layout)  # fit's dataset pairs the same files, without the skipped images


def test_unmatched_skip_with_a_partly_unlabeled_val_list(make_dataset: MakeDataset) -> None:
    # val.txt naming one image without a mask among labelled ones: skipped too (not an unlabeled split).
    root = _listed_with_missing_masks(make_dataset)
    for name in ("img02", "img05"):  # training fully labelled here
        (root / "masks" / f"{name}.png").write_bytes((root / "masks" / "img00.png").read_bytes())
    (root / "masks" / "img10.png").unlink()
    with pytest.raises(ValueError, match=r"val\.txt names 'img10'.*--unmatched skip to leave them out$"):
        discover(root)
    layout = discover(root, unmatched="skip")
    assert layout.splits["val"] == ["img09", "img11"]
    assert len(layout.splits["train"]) == 9
    assert [Path(s).name for s in layout.skipped] == ["img10.png"]


def test_plan_folder_with_unmatched_skip_plans_a_listed_folder_with_missing_masks(
    make_dataset: MakeDataset,
) -> None:
    root = _listed_with_missing_masks(make_dataset)
    planned = unetkit.plan_folder(root, budget="30s", unmatched="skip", **FAST)
    assert planned.layout.splits["train"] == ["img00", "img01", "img03", "img04", "img06", "img07", "img08"]


def _labels(i: int, count: int = 80) -> np.ndarray:
    """16-bit instance labels: ``count`` one-pixel-apart objects numbered 1..count (every other column)."""
    m = np.zeros((32, 32), np.uint16)
    rows, cols = np.divmod(np.arange(count), 16)
    m[2 * rows + i % 2, 2 * cols] = np.arange(1, count + 1, dtype=np.uint16)
    return m


def test_binary_on_instance_labels_advises_instances(make_dataset: MakeDataset) -> None:
    root = make_dataset(n=12, mask=_labels)
    assert discover(root).mask.kind == "instances"  # as discovery reads them without --mask-kind
    with pytest.raises(ValueError) as err:
        discover(root, mask_kind="binary")
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith("--mask-kind binary but mask ")
    assert (
        "(81 values)}; they look like instance labels (uint16, one value per object): pass --mask-kind "
        "instances; --mask-kind index only if the values are classes" in text
    )


def test_binary_on_few_8bit_values_names_both_readings(
    make_dataset: MakeDataset, px: SimpleNamespace
) -> None:
    root = make_dataset(n=12, mask=lambda i: (px.binary_mask(i) // 255 * (1 + i % 3)).astype(np.uint8))
    with pytest.raises(ValueError) as err:
        discover(root, mask_kind="binary")
    assert (
        "holds values {0, 1, 2, 3}; pass --mask-kind instances if each value is one object (instance "
        "labels), or --mask-kind index if the values are classes" in str(err.value)
    )
