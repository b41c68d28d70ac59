"""Oxford-IIIT Pet (trimaps: pet, background, border) and its download (checked archives, safe extraction)."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from unetkit.constants import IGNORE_INDEX
from unetkit.data.datasets.registry import DatasetSpec, register_dataset, resolve_root
from unetkit.data.folder import read_list_file, split_by_fraction, split_by_lists
from unetkit.data.io import MaskEncoding
from unetkit.files import atomic_path
from unetkit.options import look_up_option

logger = logging.getLogger(__name__)

# Fewer images than this after extraction (the archive holds 7390) means a damaged or truncated download.
MIN_IMAGES = 7000

# ImageNet statistics: the usual choice for natural photos.
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

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


@register_dataset("oxford_pet")
def build_oxford_pet(
    root: Path | None, *, border: str = "ignore", val_fraction: float = 0.1, seed: int = 0
) -> DatasetSpec:
    """``border``: "ignore" (the unsure outline is IGNORE_INDEX) or "class" (a third class); the official
    test list is the test split, ``val_fraction`` of trainval (seeded) is the validation split."""
    border = look_up_option(border, ("ignore", "class"), "oxford_pet border")
    root = resolve_root("oxford_pet", root)
    image_dir, mask_dir = root / "images", root / "annotations" / "trimaps"
    trainval = read_list_file(root / "annotations" / "trainval.txt")
    test = read_list_file(root / "annotations" / "test.txt")
    parts = split_by_fraction(trainval, {"val": float(val_fraction)}, seed=int(seed))
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


# ------------------------------------------------------------------------------------------------ download


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
    """Extract ``archive`` into ``dest`` after checking every member (see :func:`_safe_members`).

    The members go to a hidden folder inside ``dest`` first; their top-level entries move into ``dest`` only
    once all are out, so an interrupted extraction leaves no half-filled ``images/`` that a later call would
    take for complete (it skips what is present). An entry already in ``dest`` is replaced.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".extracting-") as staging_name:
        staging = Path(staging_name)
        with tarfile.open(archive) as tar:
            members = _safe_members(tar, staging)
            # Python's "data" filter repeats the path/link checks at extraction time.
            tar.extractall(staging, members=members, filter="data")
        for entry in sorted(staging.iterdir()):
            target = dest / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            os.replace(entry, target)


def download_oxford_pet(root: str | Path, force: bool = False) -> Path:
    """Download and extract Oxford-IIIT Pet into ``root`` (images/, annotations/trimaps/, list files).

    About 800 MB. Archives are checked against their MD5 before extraction and deleted afterwards. The tests
    run it on local archives (``file://`` URLs): there is no network there.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for filename, url, md5 in OXFORD_PET_URLS:
        marker = root / ("images" if filename.startswith("images") else "annotations")
        if marker.is_dir() and not force:
            logger.info("%s already present, skipping %s", marker, url)
            continue
        archive = root / filename
        logger.info("downloading %s", url)
        # The archive name appears only once the download is complete and its MD5 matches.
        with atomic_path(archive) as partial:
            with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
                shutil.copyfileobj(response, out, length=1 << 20)
            got = _md5(partial)
            if got != md5:
                raise ValueError(
                    f"download of {url} has MD5 {got}, expected {md5}; the file is incomplete or changed"
                )
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
    if n_images < MIN_IMAGES:
        raise ValueError(
            f"Oxford-IIIT Pet in {root} has {n_images} images, expected 7390; delete it and retry"
        )
    return root
