"""Dataset presets: where the files are, how masks are encoded, class names, splits, normalisation.

Roots are found in this order: the ``root`` argument, ``$UNETKIT_DATA/<folder>``, ``../shared/data/<folder>``
relative to the current directory.

Mean/std values are the per-channel statistics of the *train split* (pixel values in [0, 1]) measured with
:func:`unetkit.data.folder.compute_mean_std`; tests recompute them on the real data. Oxford Pet uses the
ImageNet statistics (the usual choice for natural photos); "synthetic" and "folder" compute them from the
train split when the spec is built.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
import tarfile
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unetkit.constants import IGNORE_INDEX
from unetkit.data.folder import (
    Pair,
    compute_mean_std,
    find_pairs,
    pairs_for_stems,
    read_list_file,
    split_by_fraction,
    split_by_lists,
    split_by_ranges,
)
from unetkit.data.io import MaskEncoding
from unetkit.data.synthetic import make_synthetic_dataset
from unetkit.options import look_up_option

logger = logging.getLogger(__name__)

DATASETS = ("isbi2012", "camvid", "oxford_pet", "synthetic", "folder")
DATA_ENV = "UNETKIT_DATA"

ISBI_MEAN, ISBI_STD = (0.48648,), (0.16653,)
CAMVID_MEAN, CAMVID_STD = (0.41135, 0.42459, 0.43221), (0.30275, 0.30721, 0.30327)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CAMVID_CLASSES = (
    "Sky",
    "Building",
    "Pole",
    "Road",
    "Pavement",
    "Tree",
    "SignSymbol",
    "Fence",
    "Car",
    "Pedestrian",
    "Bicyclist",
)

OXFORD_PET_URLS = (
    # (file name, URL, MD5 as pinned by torchvision's OxfordIIITPet for the same archives)
    (
        "images.tar.gz",
        "https://thor.robots.ox.ac.uk/datasets/pets/images.tar.gz",
        "5c4f3ee8e5d25df40f4fd59a7f44e54c",
    ),
    (
        "annotations.tar.gz",
        "https://thor.robots.ox.ac.uk/datasets/pets/annotations.tar.gz",
        "95a8c909bbe2e81eed6a22bccdf3f68f",
    ),
)


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to build the datasets of one benchmark.

    ``splits`` maps split name -> image stems; ``isbi`` marks the ISBI 2012 EM data (the paper's setting:
    weight maps and overlap-tile inference apply). ``convert_channels`` opts in to gray<->RGB conversion.
    """

    name: str
    root: Path
    image_dir: Path
    mask_dir: Path
    encoding: MaskEncoding
    class_names: tuple[str, ...]
    in_channels: int
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    splits: Mapping[str, list[str]] = field(default_factory=dict)
    isbi: bool = False
    mask_suffix: str = ""
    convert_channels: bool = False

    def __post_init__(self) -> None:
        if len(self.class_names) != self.num_classes:
            raise ValueError(
                f"dataset {self.name!r}: {len(self.class_names)} class names for "
                f"num_classes={self.num_classes}"
            )
        if self.encoding.num_classes != self.num_classes:
            raise ValueError(
                f"dataset {self.name!r}: encoding has num_classes={self.encoding.num_classes}, "
                f"spec {self.num_classes}"
            )

    def pairs(self, split: str) -> list[Pair]:
        """(image, mask) paths of ``split``, in the split's order."""
        if split not in self.splits:
            raise ValueError(
                f"dataset {self.name!r} has no split {split!r}; available: {', '.join(self.splits)}"
            )
        return pairs_for_stems(
            self.image_dir, self.mask_dir, self.splits[split], mask_suffix=self.mask_suffix
        )


def _resolve_root(folder: str, root: str | Path | None) -> Path:
    if root is not None:
        candidates = [Path(root)]
    else:
        candidates = []
        if os.environ.get(DATA_ENV):
            candidates.append(Path(os.environ[DATA_ENV]) / folder)
        candidates.append(Path.cwd() / ".." / "shared" / "data" / folder)
    for cand in candidates:
        if cand.is_dir():
            return cand.resolve()
    looked = ", ".join(str(c) for c in candidates)
    raise ValueError(
        f"dataset folder for {folder!r} not found (looked in: {looked}); pass root=/path/to/{folder} or set "
        f"{DATA_ENV}=/path/to/data (the folder that contains {folder}/)"
    )


def _isbi(root: Path, options: dict[str, Any]) -> DatasetSpec:
    image_dir, mask_dir = root / "images", root / "masks"
    stems = [p[0].stem for p in find_pairs(image_dir, mask_dir)]
    # Contiguous blocks from the dataset README: neighbouring slices are strongly correlated (no shuffling).
    splits = split_by_ranges(
        stems, options.pop("ranges", {"train": (0, 20), "val": (20, 24), "test": (24, 30)})
    )
    return DatasetSpec(
        name="isbi2012",
        root=root,
        image_dir=image_dir,
        mask_dir=mask_dir,
        encoding=MaskEncoding("binary", num_classes=2),  # 0 = membrane -> class 0, 255 = cell -> class 1
        class_names=("membrane", "cell"),
        in_channels=1,
        num_classes=2,
        mean=ISBI_MEAN,
        std=ISBI_STD,
        splits=splits,
        isbi=True,
    )


def _camvid(root: Path, options: dict[str, Any]) -> DatasetSpec:
    image_dir, mask_dir = root / "images", root / "masks"
    stems = [p[0].stem for p in find_pairs(image_dir, mask_dir)]
    splits = split_by_lists(stems, {s: root / f"{s}.txt" for s in ("train", "val", "test")})
    return DatasetSpec(
        name="camvid",
        root=root,
        image_dir=image_dir,
        mask_dir=mask_dir,
        encoding=MaskEncoding("index", num_classes=11, ignore_values=(11,)),  # 11 = Unlabelled/void
        class_names=CAMVID_CLASSES,
        in_channels=3,
        num_classes=11,
        mean=CAMVID_MEAN,
        std=CAMVID_STD,
        splits=splits,
    )


def _oxford_pet(root: Path, options: dict[str, Any]) -> DatasetSpec:
    border = look_up_option(options.pop("border", "ignore"), ("ignore", "class"), "oxford_pet border")
    val_fraction = float(options.pop("val_fraction", 0.1))
    seed = int(options.pop("seed", 0))
    image_dir, mask_dir = root / "images", root / "annotations" / "trimaps"
    trainval = read_list_file(root / "annotations" / "trainval.txt")
    test = read_list_file(root / "annotations" / "test.txt")
    parts = split_by_fraction(trainval, {"val": val_fraction}, seed=seed)
    val = set(parts["val"])
    splits = {"train": [s for s in trainval if s not in val], "val": parts["val"], "test": test}
    split_by_lists(trainval + test, splits)  # checks disjointness
    # Trimaps: 1 = pet, 2 = background, 3 = border (unsure region around the outline).
    mapping = {1: 1, 2: 0, 3: IGNORE_INDEX if border == "ignore" else 2}
    names = ("background", "pet") if border == "ignore" else ("background", "pet", "border")
    return DatasetSpec(
        name="oxford_pet",
        root=root,
        image_dir=image_dir,
        mask_dir=mask_dir,
        encoding=MaskEncoding("remap", num_classes=len(names), mapping=mapping),
        class_names=names,
        in_channels=3,
        num_classes=len(names),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        splits=splits,
        convert_channels=True,  # a few Oxford Pet JPEGs are grayscale or CMYK
    )


def _synthetic(root: Path | None, options: dict[str, Any]) -> DatasetSpec:
    size = tuple(int(s) for s in options.pop("size", (96, 96)))
    n = int(options.pop("num_classes", 3))
    channels = int(options.pop("channels", 1))
    params: dict[str, Any] = {
        "num_images": int(options.pop("num_images", 24)),
        "size": (size[0], size[1]),
        "num_classes": n,
        "channels": channels,
        "seed": int(options.pop("seed", 0)),
    }
    if root is None:
        tag = hashlib.sha256(repr(sorted(params.items())).encode()).hexdigest()[:10]
        cache = Path(os.environ.get("UNETKIT_CACHE", Path.home() / ".cache" / "unetkit"))
        root = cache / f"synthetic-{tag}"
    root = Path(root)
    if not (root / "test.txt").is_file():
        # test.txt is written last, so its presence means a complete earlier generation.
        make_synthetic_dataset(root, **params)
    image_dir, mask_dir = root / "images", root / "masks"
    stems = [p[0].stem for p in find_pairs(image_dir, mask_dir)]
    splits = split_by_lists(stems, {s: root / f"{s}.txt" for s in ("train", "val", "test")})
    shape_names = ["round", "elongated", "square", "triangle"]
    names = ("background", *[shape_names[(k - 1) % 4] + ("" if k <= 4 else f"_{k}") for k in range(1, n)])
    mean, std = compute_mean_std(pairs_for_stems(image_dir, mask_dir, splits["train"]), channels)
    return DatasetSpec(
        name="synthetic",
        root=root.resolve(),
        image_dir=image_dir.resolve(),
        mask_dir=mask_dir.resolve(),
        encoding=MaskEncoding("index", num_classes=n),
        class_names=names,
        in_channels=channels,
        num_classes=n,
        mean=tuple(mean),
        std=tuple(std),
        splits=splits,
    )


def _folder(root: Path | None, options: dict[str, Any]) -> DatasetSpec:
    image_dir = options.pop("image_dir", None)
    mask_dir = options.pop("mask_dir", None)
    if image_dir is None or mask_dir is None:
        if root is None:
            raise ValueError(
                "dataset 'folder' needs root=... (with images/ and masks/) or image_dir= and mask_dir="
            )
        image_dir = image_dir or Path(root) / "images"
        mask_dir = mask_dir or Path(root) / "masks"
    image_dir, mask_dir = Path(image_dir), Path(mask_dir)
    root = Path(root) if root is not None else image_dir.parent
    encoding = options.pop("encoding", None)
    num_classes = options.pop("num_classes", None)
    if encoding is None:
        if num_classes is None:
            raise ValueError("dataset 'folder' needs num_classes=... (or encoding=MaskEncoding(...))")
        # Plain YAML/CLI options for every mask kind: palette colours and remap tables included.
        colors = options.pop("colors", None)
        encoding = MaskEncoding(
            options.pop("mask_kind", "index"),
            int(num_classes),
            tuple(options.pop("ignore_values", ())),
            colors={int(k): (int(v[0]), int(v[1]), int(v[2])) for k, v in colors.items()} if colors else None,
            ignore_colors=tuple(tuple(int(c) for c in rgb) for rgb in options.pop("ignore_colors", ())),  # type: ignore[misc]
            mapping={int(k): int(v) for k, v in options.pop("mapping", {}).items()} or None,
        )
    num_classes = encoding.num_classes
    mask_suffix = str(options.pop("mask_suffix", ""))
    in_channels = int(options.pop("in_channels", 3))
    stems = [p[0].stem for p in find_pairs(image_dir, mask_dir, mask_suffix=mask_suffix)]
    if "split_lists" in options:
        splits = split_by_lists(stems, options.pop("split_lists"))
    elif "split_ranges" in options:
        splits = split_by_ranges(stems, options.pop("split_ranges"))
    else:
        fractions = options.pop("split_fractions", {"train": 0.7, "val": 0.15, "test": 0.15})
        splits = split_by_fraction(stems, fractions, seed=int(options.pop("seed", 0)))
    class_names = tuple(options.pop("class_names", [f"class_{i}" for i in range(num_classes)]))
    mean, std = options.pop("mean", None), options.pop("std", None)
    if mean is None or std is None:
        train = splits.get("train") or stems
        mean, std = compute_mean_std(
            pairs_for_stems(image_dir, mask_dir, train, mask_suffix=mask_suffix), in_channels
        )
    return DatasetSpec(
        name="folder",
        root=root,
        image_dir=image_dir,
        mask_dir=mask_dir,
        encoding=encoding,
        class_names=class_names,
        in_channels=in_channels,
        num_classes=num_classes,
        mean=tuple(mean),
        std=tuple(std),
        splits=splits,
        mask_suffix=mask_suffix,
    )


_OPTIONS = {
    "isbi2012": ("ranges",),
    "camvid": (),
    "oxford_pet": ("border", "val_fraction", "seed"),
    "synthetic": ("num_images", "size", "num_classes", "channels", "seed"),
    "folder": (
        "image_dir",
        "mask_dir",
        "encoding",
        "num_classes",
        "mask_kind",
        "ignore_values",
        "colors",
        "ignore_colors",
        "mapping",
        "mask_suffix",
        "in_channels",
        "split_lists",
        "split_ranges",
        "split_fractions",
        "seed",
        "class_names",
        "mean",
        "std",
    ),
}


def get_dataset_spec(name: str, root: str | Path | None = None, **overrides: Any) -> DatasetSpec:
    """Spec of a named dataset: "isbi2012", "camvid", "oxford_pet", "synthetic" or "folder".

    Preset options (e.g. ``border="class"`` for oxford_pet, ``num_images`` for synthetic, ``image_dir``/
    ``mask_dir``/``num_classes``/``split_*`` for folder) are consumed by the preset; any remaining keyword
    replaces the DatasetSpec field of that name (e.g. ``mean=..., std=...``).
    """
    key = look_up_option(name, DATASETS, "dataset")
    options = {k: v for k, v in overrides.items() if k in _OPTIONS[key]}
    fields = {k: v for k, v in overrides.items() if k not in _OPTIONS[key]}
    valid_fields = {f.name for f in dataclasses.fields(DatasetSpec)}
    unknown = sorted(set(fields) - valid_fields)
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for dataset {key!r}; preset options: {list(_OPTIONS[key])}, "
            f"spec fields: {sorted(valid_fields)}"
        )
    if key == "isbi2012":
        spec = _isbi(_resolve_root("isbi2012", root), options)
    elif key == "camvid":
        spec = _camvid(_resolve_root("camvid", root), options)
    elif key == "oxford_pet":
        spec = _oxford_pet(_resolve_root("oxford_pet", root), options)
    elif key == "synthetic":
        spec = _synthetic(Path(root) if root is not None else None, options)
    else:
        spec = _folder(Path(root) if root is not None else None, options)
    return dataclasses.replace(spec, **fields) if fields else spec


# ------------------------------------------------------------------------------------------ Oxford download


def _safe_members(tar: tarfile.TarFile, dest: Path) -> list[tarfile.TarInfo]:
    """Regular files and folders that stay inside ``dest``; refuse links, devices, absolute or '..' paths."""
    dest = dest.resolve()
    members = []
    for member in tar.getmembers():
        target = (dest / member.name).resolve()
        if not (member.isfile() or member.isdir()):
            raise ValueError(
                f"archive member {member.name!r} is not a regular file or folder; refusing to extract"
            )
        if os.path.isabs(member.name) or (target != dest and dest not in target.parents):
            raise ValueError(
                f"archive member {member.name!r} would be written outside {dest}; refusing to extract"
            )
        members.append(member)
    return members


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def extract_tar(archive: Path, dest: Path) -> None:
    """Extract ``archive`` into ``dest`` after checking every member (see :func:`_safe_members`)."""
    with tarfile.open(archive) as tar:
        members = _safe_members(tar, dest)
        # Python's "data" filter repeats the path/link checks at extraction time.
        tar.extractall(dest, members=members, filter="data")


def download_oxford_pet(root: str | Path, force: bool = False) -> Path:
    """Download and extract Oxford-IIIT Pet into ``root`` (images/, annotations/trimaps/, list files).

    About 800 MB. Archives are checked against their MD5 before extraction and deleted afterwards.
    Not called by the tests (no network there).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for filename, url, md5 in OXFORD_PET_URLS:
        marker = root / ("images" if filename.startswith("images") else "annotations")
        if marker.is_dir() and not force:
            logger.info("%s already present, skipping %s", marker, url)
            continue
        archive = root / filename
        partial = archive.with_name(filename + ".part")
        logger.info("downloading %s", url)
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
        got = _md5(partial)
        if got != md5:
            partial.unlink()
            raise ValueError(
                f"download of {url} has MD5 {got}, expected {md5}; the file is incomplete or changed"
            )
        partial.replace(archive)
        extract_tar(archive, root)
        archive.unlink()
    missing = [
        str(p)
        for p in (
            root / "images",
            root / "annotations" / "trimaps",
            root / "annotations" / "trainval.txt",
            root / "annotations" / "test.txt",
        )
        if not p.exists()
    ]
    if missing:
        raise ValueError(f"Oxford-IIIT Pet in {root} is incomplete after extraction; missing {missing}")
    n_images = sum(1 for _ in (root / "images").glob("*.jpg"))
    if n_images < 7000:
        raise ValueError(
            f"Oxford-IIIT Pet in {root} has {n_images} images, expected 7390; delete it and retry"
        )
    return root


def list_datasets() -> Sequence[str]:
    """Names accepted by :func:`get_dataset_spec`."""
    return DATASETS
