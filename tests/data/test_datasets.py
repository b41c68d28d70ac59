"""The dataset registry: a contract over every builder, real ISBI/CamVid specs, Oxford Pet, errors."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unetkit.constants import IGNORE_INDEX
from unetkit.data.datasets import get_dataset_spec, list_datasets, register_dataset
from unetkit.data.datasets.oxford_pet import _safe_members
from unetkit.data.folder import FolderDataset, compute_mean_std, validate


@pytest.mark.realdata
def test_isbi_spec(shared_data: Path) -> None:
    spec = get_dataset_spec("isbi2012", root=shared_data / "isbi2012")
    assert {k: len(v) for k, v in spec.splits.items()} == {"train": 20, "val": 4, "test": 6}
    assert (
        spec.splits["val"] == ["20", "21", "22", "23"]
        and spec.isbi
        and spec.class_names == ("membrane", "cell")
    )
    ds = FolderDataset(spec.pairs("val"), spec.encoding, spec.in_channels, spec.mean, spec.std)
    item = ds[0]
    assert item["image"].shape == (1, 512, 512) and item["mask"].shape == (512, 512)
    frac_cell = item["mask"].float().mean().item()
    assert set(item["mask"].unique().tolist()) == {0, 1} and 0.7 < frac_cell < 0.85  # README: 73-83 % cells
    mean, std = compute_mean_std(spec.pairs("train"))
    assert mean == pytest.approx(spec.mean, abs=1e-4) and std == pytest.approx(spec.std, abs=1e-4)


@pytest.mark.realdata
def test_camvid_spec(shared_data: Path) -> None:
    spec = get_dataset_spec("camvid", root=shared_data / "camvid")
    assert {k: len(v) for k, v in spec.splits.items()} == {"train": 184, "val": 51, "test": 233}
    assert spec.num_classes == 11 and spec.class_names[0] == "Sky" and spec.class_names[10] == "Bicyclist"
    validate(spec.pairs("val"), spec.encoding, spec.in_channels)
    ds = FolderDataset(spec.pairs("val")[:3], spec.encoding, spec.in_channels, spec.mean, spec.std)
    for i in range(3):
        item = ds[i]
        assert item["image"].shape == (3, 192, 256) and item["mask"].shape == (192, 256)
        values = set(item["mask"].unique().tolist())
        assert values <= set(range(11)) | {IGNORE_INDEX}
    mean, _ = compute_mean_std(spec.pairs("train")[::8])
    assert mean == pytest.approx(spec.mean, abs=0.03)


@pytest.mark.realdata
def test_default_root_from_env(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNETKIT_DATA", str(shared_data))
    assert get_dataset_spec("isbi2012").root == (shared_data / "isbi2012").resolve()


def test_missing_root_and_unknown_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNETKIT_DATA", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        ValueError,
        match=r"dataset folder for 'camvid' not found \(looked in: .*camvid.*\); "
        r"pass data.root=.* \(root= from Python\)",
    ):
        get_dataset_spec("camvid")
    with pytest.raises(ValueError, match=r"Unknown dataset 'isbi'\. Did you mean 'isbi2012'"):
        get_dataset_spec("isbi")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['bogus'\]"):
        get_dataset_spec("synthetic", root=tmp_path / "s", num_images=3, bogus=1)


def _jpg(path: Path, seed: int, gray: bool = False) -> None:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (20, 24) if gray else (20, 24, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, quality=95)


def _oxford_layout(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    names = [f"Abyssinian_{i}" for i in range(1, 11)] + [f"pug_{i}" for i in range(1, 6)]
    for i, name in enumerate(names):
        _jpg(root / "images" / f"{name}.jpg", i, gray=(name == "pug_3"))
        trimap = np.full((20, 24), 2, dtype=np.uint8)
        trimap[5:15, 6:18] = 3
        trimap[7:13, 8:16] = 1
        Image.fromarray(trimap).save(root / "annotations" / "trimaps" / f"{name}.png")
    (root / "images" / "Abyssinian_1.mat").write_bytes(b"stray file in the real archive")
    lines = [f"{n} 1 1 1\n" for n in names]
    (root / "annotations" / "trainval.txt").write_text("".join(lines[:10]))
    (root / "annotations" / "test.txt").write_text("".join(lines[10:]))
    return root


def test_oxford_pet_reader(tmp_path: Path) -> None:
    root = _oxford_layout(tmp_path / "pets")
    spec = get_dataset_spec("oxford_pet", root=root)
    assert [len(spec.splits[s]) for s in ("train", "val", "test")] == [9, 1, 5]
    assert spec.splits == get_dataset_spec("oxford_pet", root=root).splits  # seeded val split
    assert spec.class_names == ("background", "pet")
    pairs = spec.pairs("test")
    validate(
        FolderDataset(pairs, spec.encoding, 3, spec.mean, spec.std, convert_channels=spec.convert_channels)
    )
    ds = FolderDataset(pairs, spec.encoding, 3, spec.mean, spec.std, convert_channels=spec.convert_channels)
    item = ds[2]  # pug_3 is a grayscale JPEG: converted to 3 channels for this preset
    assert item["name"] == "pug_3" and item["image"].shape == (3, 20, 24)
    m = item["mask"].numpy()
    assert m[10, 12] == 1 and m[0, 0] == 0 and m[5, 6] == IGNORE_INDEX
    border = get_dataset_spec("oxford_pet", root=root, border="class")
    assert border.num_classes == 3
    m3 = FolderDataset(
        border.pairs("test"), border.encoding, 3, border.mean, border.std, convert_channels=True
    )[0]
    assert set(m3["mask"].unique().tolist()) == {0, 1, 2}


def test_synthetic_and_folder_presets(tmp_path: Path) -> None:
    spec = get_dataset_spec("synthetic", root=tmp_path / "syn", num_images=6, size=(32, 32))
    assert [len(spec.splits[s]) for s in ("train", "val", "test")] == [4, 1, 1]
    assert spec.class_names == ("background", "round", "elongated") and spec.in_channels == 1
    folder = get_dataset_spec("folder", root=tmp_path / "syn", num_classes=3, in_channels=1, seed=1)
    assert sorted([s for v in folder.splits.values() for s in v]) == [f"{i:03d}" for i in range(6)]
    ranges = get_dataset_spec(
        "folder",
        root=tmp_path / "syn",
        num_classes=3,
        in_channels=1,
        split_ranges={"train": (0, 4), "test": (4, 6)},
    )
    assert ranges.splits["test"] == ["004", "005"]
    with pytest.raises(ValueError, match="needs num_classes"):
        get_dataset_spec("folder", root=tmp_path / "syn")


def test_tar_member_filter(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"x"
        info = tarfile.TarInfo("../evil.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    with (
        tarfile.open(fileobj=buf) as tar,
        pytest.raises(ValueError, match=r"'\.\./evil\.txt' would be written outside"),
    ):
        _safe_members(tar, tmp_path)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        link = tarfile.TarInfo("images/link")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar, pytest.raises(ValueError, match="not a regular file"):
        _safe_members(tar, tmp_path)


def test_folder_preset_palette_and_remap_from_plain_options(tmp_path: Path) -> None:
    """The YAML/CLI route (`data.options`) reaches every mask kind, not only index/binary."""
    from PIL import Image

    from unetkit.data.io import read_mask

    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir()
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:2] = (255, 0, 0)
    rgb[3, 3] = (9, 9, 9)
    Image.fromarray(np.full((4, 4), 50, np.uint8)).save(tmp_path / "images" / "a.png")
    Image.fromarray(rgb).save(tmp_path / "masks" / "a.png")
    spec = get_dataset_spec(
        "folder", root=tmp_path, num_classes=2, in_channels=1, mask_kind="palette",
        colors={0: [0, 0, 0], 1: [255, 0, 0]}, ignore_colors=[[9, 9, 9]],
        split_lists={"train": ["a"]},
    )  # fmt: skip
    mask = read_mask(tmp_path / "masks" / "a.png", spec.encoding)
    assert mask[:2].tolist() == [[1] * 4] * 2 and mask[3, 3] == 255 and mask[2].tolist() == [0] * 4
    Image.fromarray(np.array([[1, 2], [3, 2]], np.uint8)).save(tmp_path / "masks" / "a.png")
    spec = get_dataset_spec(
        "folder", root=tmp_path, num_classes=2, in_channels=1, mask_kind="remap",
        mapping={1: 1, 2: 0, 3: 255}, split_lists={"train": ["a"]},
    )  # fmt: skip
    assert read_mask(tmp_path / "masks" / "a.png", spec.encoding).tolist() == [[1, 0], [255, 0]]


# ------------------------------------------------------------------------------ contract over the registry


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _isbi_layout(root: Path) -> tuple[Path, dict]:
    rng = np.random.default_rng(0)
    for i in range(30):
        _png(root / "images" / f"{i:02d}.png", rng.integers(0, 255, (16, 16), dtype=np.uint8))
        _png(root / "masks" / f"{i:02d}.png", np.where(rng.random((16, 16)) > 0.2, 255, 0).astype(np.uint8))
    return root, {}


def _camvid_layout(root: Path) -> tuple[Path, dict]:
    rng = np.random.default_rng(1)
    stems = [f"f{i}" for i in range(6)]
    for stem in stems:
        _png(root / "images" / f"{stem}.png", rng.integers(0, 255, (12, 16, 3), dtype=np.uint8))
        _png(root / "masks" / f"{stem}.png", rng.integers(0, 12, (12, 16), dtype=np.uint8))  # 11 = void
    for split, part in (("train", stems[:4]), ("val", stems[4:5]), ("test", stems[5:])):
        (root / f"{split}.txt").write_text("\n".join(part) + "\n")
    return root, {}


def _folder_layout(root: Path) -> tuple[Path, dict]:
    rng = np.random.default_rng(2)
    for i in range(8):
        _png(root / "images" / f"{i}.png", rng.integers(0, 255, (10, 14), dtype=np.uint8))
        _png(root / "masks" / f"{i}.png", rng.integers(0, 3, (10, 14), dtype=np.uint8))
    return root, {"num_classes": 3, "in_channels": 1}


LAYOUTS = {
    "synthetic": lambda root: (root, {"num_images": 6, "size": 16}),
    "isbi2012": _isbi_layout,
    "camvid": _camvid_layout,
    "oxford_pet": lambda root: (_oxford_layout(root), {}),
    "folder": _folder_layout,
}


@pytest.mark.parametrize("name", list_datasets())
def test_every_registered_dataset_builds_from_a_small_layout(name: str, tmp_path: Path) -> None:
    """Contract: each builder gives a valid spec whose splits read as a FolderDataset (a new dataset adds a
    layout to LAYOUTS)."""
    assert name in LAYOUTS, f"add a small layout for dataset {name!r} to LAYOUTS"
    root, options = LAYOUTS[name](tmp_path / name)
    spec = get_dataset_spec(name, root=root, **options)
    assert spec.name == name and len(spec.class_names) == spec.num_classes
    assert len(spec.mean) == len(spec.std) == spec.in_channels
    assert all(spec.splits.get(split) for split in ("train", "val", "test")), spec.splits
    seen = [stem for stems in spec.splits.values() for stem in stems]
    assert len(seen) == len(set(seen)), "splits must be disjoint"
    for split in ("train", "val", "test"):
        ds = FolderDataset(
            spec.pairs(split), spec.encoding, spec.in_channels, spec.mean, spec.std,
            convert_channels=spec.convert_channels,
        )  # fmt: skip
        validate(ds)
        item = ds[0]
        assert item["image"].shape[0] == spec.in_channels and item["image"].shape[1:] == item["mask"].shape
        values = set(item["mask"].unique().tolist()) - {IGNORE_INDEX}
        assert values <= set(range(spec.num_classes))


def test_register_dataset_adds_a_name_with_its_own_options(tmp_path: Path) -> None:
    from unetkit.data.datasets import registry
    from unetkit.data.datasets.synthetic import build_synthetic

    @register_dataset("test_tiny")
    def build_tiny(root: Path | None, *, num_images: int = 6) -> registry.DatasetSpec:
        return build_synthetic(root, num_images=num_images, size=16)

    try:
        assert "test_tiny" in list_datasets()
        spec = get_dataset_spec("test_tiny", root=tmp_path / "t", num_images=5)
        assert sum(len(v) for v in spec.splits.values()) == 5
        with pytest.raises(
            ValueError, match=r"unknown option\(s\) \['num_image'\].*Did you mean 'num_images'"
        ):
            get_dataset_spec("test_tiny", root=tmp_path / "t", num_image=5)
        with pytest.raises(TypeError, match=r"builder\(root, \*, option=default"):
            register_dataset("test_bad")(lambda root, size: None)
    finally:
        registry._REGISTRY.pop("test_tiny", None)
