"""Tests for unetkit.data.folder: pairing, splits, FolderDataset, validate, mean/std."""

from __future__ import annotations

from pathlib import Path

import albumentations as A
import numpy as np
import pytest
import torch
from PIL import Image

from unetkit.constants import IGNORE_INDEX
from unetkit.data.folder import (
    FolderDataset,
    compute_mean_std,
    find_pairs,
    pairs_for_stems,
    split_by_fraction,
    split_by_lists,
    split_by_ranges,
    validate,
)
from unetkit.data.io import MaskEncoding
from unetkit.data.transforms import build_transforms
from unetkit.data.weight_map import WeightMapConfig


def _layout(root: Path, n: int = 4, size: tuple[int, int] = (16, 20)) -> tuple[Path, Path]:
    images, masks = root / "images", root / "masks"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, size, dtype=np.uint8)).save(images / f"{i:02d}.png")
        Image.fromarray(rng.integers(0, 3, size, dtype=np.uint8)).save(masks / f"{i:02d}.png")
    return images, masks


def test_find_pairs_matches_stems(tmp_path: Path) -> None:
    images, masks = _layout(tmp_path)
    (masks / "extra.png").write_bytes((masks / "00.png").read_bytes())  # mask without image: ignored
    pairs = find_pairs(images, masks)
    assert [(i.name, m.name) for i, m in pairs] == [(f"{k:02d}.png", f"{k:02d}.png") for k in range(4)]


def test_find_pairs_errors(tmp_path: Path) -> None:
    images, masks = _layout(tmp_path)
    (masks / "02.png").unlink()
    with pytest.raises(ValueError, match=r"image .*02.png has no mask named 02\.\* in mask folder .*masks"):
        find_pairs(images, masks)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"image folder .*empty contains no files"):
        find_pairs(empty, masks)
    with pytest.raises(ValueError, match=r"mask folder .*nowhere does not exist"):
        find_pairs(images, tmp_path / "nowhere")


def test_hidden_and_other_files_are_not_paired(tmp_path: Path) -> None:
    # A folder copied from a Mac (._00.png resource forks, .DS_Store) with a hidden image and stray files:
    # plan accepted it (discovery skips hidden files) but fit stopped at ".hidden has no mask".
    images, masks = _layout(tmp_path)
    (images / ".hidden.png").write_bytes((images / "00.png").read_bytes())
    (images / "._01.png").write_bytes(b"\0\5\26\7")
    (masks / "._01.png").write_bytes(b"\0\5\26\7")
    for folder in (images, masks):
        (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (images / "notes.txt").write_text("hi")
    (images / "Thumbs.db").write_bytes(b"xx")
    expected = [(images / f"{k:02d}.png", masks / f"{k:02d}.png") for k in range(4)]
    assert find_pairs(images, masks) == expected
    assert pairs_for_stems(images, masks, ["01", "03"]) == [expected[1], expected[3]]


def test_split_by_ranges_contiguous_and_disjoint() -> None:
    stems = [f"{i:02d}" for i in range(30)]
    splits = split_by_ranges(stems[::-1], {"train": (0, 20), "val": (20, 24), "test": (24, 30)})
    assert splits["val"] == ["20", "21", "22", "23"]
    assert sorted([s for v in splits.values() for s in v]) == stems
    with pytest.raises(ValueError, match="overlaps"):
        split_by_ranges(stems, {"train": (0, 20), "val": (19, 24)})
    with pytest.raises(ValueError, match=r"outside 0\.\.30"):
        split_by_ranges(stems, {"train": (0, 31)})


def test_split_by_fraction_disjoint_complete_deterministic() -> None:
    stems = [f"s{i}" for i in range(103)]
    a = split_by_fraction(stems, {"train": 0.7, "val": 0.2, "test": 0.1}, seed=3)
    b = split_by_fraction(stems, {"train": 0.7, "val": 0.2, "test": 0.1}, seed=3)
    c = split_by_fraction(stems, {"train": 0.7, "val": 0.2, "test": 0.1}, seed=4)
    assert a == b and a != c
    assert [len(v) for v in a.values()] == [72, 21, 10]  # 72.1, 20.6, 10.3 -> leftover 1 to val
    all_stems = [s for v in a.values() for s in v]
    assert len(all_stems) == len(set(all_stems)) == 103
    assert len(split_by_fraction(stems, {"val": 0.1})["val"]) == 10
    with pytest.raises(ValueError, match="sum to at most 1"):
        split_by_fraction(stems, {"a": 0.8, "b": 0.3})


def test_split_by_lists(tmp_path: Path) -> None:
    stems = ["a", "b", "c", "d"]
    (tmp_path / "train.txt").write_text("a 1 1\nb.png\n\n# comment\n")
    splits = split_by_lists(stems, {"train": tmp_path / "train.txt", "test": ["c"]})
    assert splits == {"train": ["a", "b"], "test": ["c"]}
    with pytest.raises(ValueError, match=r"'b' is in both the 'train' and 'val' splits"):
        split_by_lists(stems, {"train": tmp_path / "train.txt", "val": ["b", "d"]})
    with pytest.raises(ValueError, match=r"names 1 items without an image/mask pair, e.g. \['zz'\]"):
        split_by_lists(stems, {"test": ["zz"]})
    (tmp_path / "val.txt").write_text("c\nd\nc\n")
    with pytest.raises(ValueError, match=r"val.txt names 'c' more than once; remove the repeated line"):
        split_by_lists(stems, {"val": tmp_path / "val.txt"})
    with pytest.raises(ValueError, match=r"the list for split 'test' names 'd' more than once"):
        split_by_lists(stems, {"test": ["d", "d"]})


def test_dataset_item(tmp_path: Path) -> None:
    images, masks = _layout(tmp_path, n=2, size=(16, 20))
    pairs = find_pairs(images, masks)
    ds = FolderDataset(pairs, MaskEncoding("index", 3), 1, 0.5, 0.25)
    item = ds[1]
    assert item["name"] == "01"
    assert item["image"].dtype == torch.float32 and item["image"].shape == (1, 16, 20)
    assert item["mask"].dtype == torch.int64 and item["mask"].shape == (16, 20)
    raw = np.asarray(Image.open(images / "01.png"), dtype=np.float32)
    np.testing.assert_allclose(item["image"][0].numpy(), (raw / 255 - 0.5) / 0.25, atol=1e-5)
    np.testing.assert_array_equal(item["mask"].numpy(), np.asarray(Image.open(masks / "01.png")))


def test_dataset_size_mismatch(tmp_path: Path) -> None:
    images, masks = _layout(tmp_path, n=1, size=(16, 20))
    Image.fromarray(np.zeros((16, 18), dtype=np.uint8)).save(masks / "00.png")
    pairs = find_pairs(images, masks)
    with pytest.raises(ValueError, match=r"image .*00.png is 20x16 \(WxH\) but mask .*00.png is 18x16"):
        FolderDataset(pairs, MaskEncoding("index", 3), 1, 0.5, 0.25)[0]
    with pytest.raises(ValueError, match=r"is 20x16 \(WxH\) but mask"):
        validate(pairs, MaskEncoding("index", 3), 1)


def test_validate_reports_first_bad_file(tmp_path: Path) -> None:
    images, masks = _layout(tmp_path, n=3)
    enc = MaskEncoding("index", 3)
    pairs = find_pairs(images, masks)
    validate(pairs, enc, 1)
    validate(FolderDataset(pairs, enc, 1, 0.5, 0.2))
    Image.fromarray(np.full((16, 20), 9, dtype=np.uint8)).save(masks / "01.png")
    with pytest.raises(ValueError, match=r"01.png has values 9"):
        validate(pairs, enc, 1)
    # A fit names the split of the bad file (its plan read only training masks).
    with pytest.raises(ValueError, match=r"01.png has values 9.* \(a file of the val split\)$"):
        validate(pairs, enc, 1, split="val")
    with pytest.raises(ValueError, match=r"00.png has 1 channels but the model expects 3"):
        validate(pairs, enc, 3)
    data = (images / "02.png").read_bytes()
    (images / "02.png").write_bytes(data[: len(data) - 40])
    Image.fromarray(np.zeros((16, 20), dtype=np.uint8)).save(masks / "01.png")
    with pytest.raises(ValueError, match=r"02.png"):
        validate(pairs, enc, 1)


def test_weight_map_follows_mask(tmp_path: Path) -> None:
    # Two touching-ish squares of class 1 separated by a 2 px gap: the border term is large in the gap.
    mask = np.zeros((32, 32), dtype=np.uint8)
    mask[8:24, 4:15] = 1
    mask[8:24, 17:28] = 1
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    Image.fromarray((mask * 200 + 20).astype(np.uint8)).save(tmp_path / "images" / "a.png")
    Image.fromarray(mask).save(tmp_path / "masks" / "a.png")
    pairs = find_pairs(tmp_path / "images", tmp_path / "masks")
    from unetkit.data.weight_map import unet_weight_map

    expected = unet_weight_map(mask.astype(np.int64), 10.0, 5.0)
    plain = FolderDataset(pairs, MaskEncoding("index", 2), 1, 0.5, 0.5, weight_map=WeightMapConfig())[0]
    np.testing.assert_allclose(plain["weight"].numpy(), expected, rtol=1e-6)
    cfg = WeightMapConfig(cache_dir=tmp_path / "cache")
    cached = FolderDataset(pairs, MaskEncoding("index", 2), 1, 0.5, 0.5, weight_map=cfg)[0]
    np.testing.assert_allclose(cached["weight"].numpy(), expected, rtol=1e-6)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    # Augmented: the weight map moves with the mask (weight depends only on position relative to the mask).
    ds = FolderDataset(
        pairs,
        MaskEncoding("index", 2),
        1,
        0.5,
        0.5,
        build_transforms(True, 24, scale=None, seed=0),
        weight_map=cfg,
    )
    for _ in range(6):
        item = ds[0]
        m, w, img = item["mask"].numpy(), item["weight"].numpy(), item["image"][0].numpy()
        assert m.shape == w.shape == (24, 24)
        np.testing.assert_array_equal(img > 0, m == 1)  # bright pixels are exactly the class-1 pixels
        # Crop + flips + rot90 permute pixels rigidly: find the one placement that reproduces mask AND weight.
        found = False
        for k in range(4):
            for flip in (False, True):
                em = np.rot90(mask, k)[:, ::-1] if flip else np.rot90(mask, k)
                ew = np.rot90(expected, k)[:, ::-1] if flip else np.rot90(expected, k)
                for dy in range(9):
                    for dx in range(9):
                        if np.array_equal(em[dy : dy + 24, dx : dx + 24], m) and np.array_equal(
                            ew[dy : dy + 24, dx : dx + 24], w
                        ):
                            found = True
        assert found


def test_workers_do_not_repeat_augmentations(tmp_path: Path) -> None:
    images, masks = _layout(tmp_path, n=4, size=(32, 32))
    ds = FolderDataset(
        find_pairs(images, masks), MaskEncoding("index", 3), 1, 0.5, 0.5, build_transforms(True, 16, seed=0)
    )
    # Same index read by 2 workers: with identical forked RNG streams the crops would be identical.
    subset = torch.utils.data.Subset(ds, [0, 0, 0, 0])
    loader = torch.utils.data.DataLoader(subset, batch_size=1, num_workers=2)
    crops = [b["image"] for b in loader]
    assert not torch.equal(crops[0], crops[1])


def test_compute_mean_std(tmp_path: Path) -> None:
    (tmp_path / "a.png").parent.mkdir(exist_ok=True)
    Image.fromarray(np.array([[0, 255]], dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.array([[255, 255]], dtype=np.uint8)).save(tmp_path / "b.png")
    mean, std = compute_mean_std([tmp_path / "a.png", tmp_path / "b.png"])
    assert mean == pytest.approx([0.75]) and std == pytest.approx([np.sqrt(0.75 * 0.25)])
    assert IGNORE_INDEX == 255


def test_cached_dataset_gives_the_same_samples_and_decodes_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images, masks = _layout(tmp_path, n=3, size=(32, 32))
    pairs = find_pairs(images, masks)

    def dataset(cache: bool) -> FolderDataset:
        return FolderDataset(pairs, MaskEncoding("index", 3), 1, 0.5, 0.25, build_transforms(True, 16),
                             cache=cache)  # fmt: skip

    plain, cached = dataset(False), dataset(True)
    reads: list[int] = []
    load = FolderDataset.load
    monkeypatch.setattr(FolderDataset, "load", lambda self, i: (reads.append(i), load(self, i))[1])
    for epoch in range(3):  # the same seeded draws: identical crops, labels and dtypes
        for i in range(3):
            a, b = plain.get(i, seed=(0, epoch, i)), cached.get(i, seed=(0, epoch, i))
            assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
            assert b["mask"].dtype == torch.int64
    assert reads.count(0) == 3 + 1  # the plain dataset every epoch, the cached one once
    image, mask = cached._load_compact(0)
    assert not image.flags.writeable and not mask.flags.writeable and mask.dtype == np.uint8


def test_cache_fits_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    import unetkit.data.folder as folder

    assert folder.decoded_bytes([(2500, 3000)] * 8, 3) == 8 * 2500 * 3000 * 4
    monkeypatch.setattr(folder, "available_memory", lambda: 8 * 1024**3)
    assert folder.cache_fits(240_000_000, workers=0)
    assert not folder.cache_fits(240_000_000, workers=2)  # each loader worker would hold a copy
    assert not folder.cache_fits(folder.CACHE_MAX_BYTES + 1, workers=0)
    monkeypatch.setattr(folder, "available_memory", lambda: 512 * 1024**2)
    assert not folder.cache_fits(240_000_000, workers=0)  # more than a quarter of the free memory


def test_an_albumentations_transform_moves_image_mask_and_weight_together(tmp_path: Path) -> None:
    images, masks = _layout(tmp_path, n=1, size=(16, 20))
    pairs = find_pairs(images, masks)
    plain = FolderDataset(pairs, MaskEncoding("index", 3), 1, 0.5, 0.25, weight_map=WeightMapConfig())[0]
    flipped = FolderDataset(
        pairs,
        MaskEncoding("index", 3),
        1,
        0.5,
        0.25,
        transform=A.HorizontalFlip(p=1.0),
        weight_map=WeightMapConfig(),
    )[0]
    for key in ("image", "mask", "weight"):
        assert torch.equal(flipped[key], plain[key].flip(-1)), key
    assert flipped["mask"].dtype == torch.int64


def test_an_albumentations_transform_is_seeded_per_sample(tmp_path: Path) -> None:
    images, masks = _layout(tmp_path, n=1, size=(32, 32))
    ds = FolderDataset(
        find_pairs(images, masks),
        MaskEncoding("index", 3),
        1,
        0.5,
        0.25,
        transform=A.Compose([A.RandomCrop(16, 16), A.HorizontalFlip()]),
    )
    first = ds.get(0, seed=(0, 1, 2))["image"]
    assert first.shape == (1, 16, 16)
    assert torch.equal(ds.get(0, seed=(0, 1, 2))["image"], first)
    assert any(not torch.equal(ds.get(0, seed=(0, 1, i))["image"], first) for i in range(3, 8))


def test_a_transform_of_another_kind_is_refused_naming_build_transforms(tmp_path: Path) -> None:
    images, masks = _layout(tmp_path, n=1)
    with pytest.raises(TypeError, match=r"build_transforms .*got function"):
        FolderDataset(find_pairs(images, masks), MaskEncoding("index", 3), 1, 0.5, 0.25, lambda x: x)


def test_an_albumentations_normalize_or_totensor_is_refused(tmp_path: Path) -> None:
    """The dataset normalises with its own mean/std and makes the tensors: A.Normalize in the user's
    transform silently normalised twice, and ToTensorV2 broke with a raw AttributeError."""
    images, masks = _layout(tmp_path, n=1, size=(16, 16))
    pairs = find_pairs(images, masks)
    for transform, named in (
        (A.Normalize(mean=0.5, std=0.2), "Normalize"),
        (A.Compose([A.HorizontalFlip(), A.OneOf([A.Normalize(), A.NoOp()])]), "Normalize"),
    ):
        with pytest.raises(ValueError, match=rf"holds {named}: the dataset normalises with its own mean/std"):
            FolderDataset(pairs, MaskEncoding("index", 3), 1, 0.5, 0.25, transform=transform)
