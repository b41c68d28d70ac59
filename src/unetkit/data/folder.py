"""Image/mask folder pairs, train/val/test splits, and the torch Dataset that reads them."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset

from unetkit.data.io import (
    IMAGE_EXTENSIONS,
    MaskEncoding,
    Window,
    is_hidden,
    normalize,
    read_image,
    read_mask,
)
from unetkit.data.list_files import check_disjoint, read_list_file
from unetkit.data.transforms import JointTransform, is_albumentations
from unetkit.data.weight_map import WeightMapCache, WeightMapConfig, unet_weight_map
from unetkit.devices import available_memory

logger = logging.getLogger(__name__)

Pair = tuple[Path, Path]


def _list_files(folder: Path, extensions: Sequence[str], what: str) -> dict[str, Path]:
    """stem -> file for the files in ``folder`` with one of ``extensions`` (case-insensitive)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{what} folder {folder} does not exist; check the dataset root / {what}_dir")
    exts = {e.lower() for e in extensions}
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if is_hidden(path):
            continue
        if path.suffix.lower() in exts and path.is_symlink():
            path.stat()  # a symlink loop or a dangling link: an OSError naming it, not a skipped file
        if path.is_file() and path.suffix.lower() in exts:
            if path.stem in files:
                raise ValueError(
                    f"{what} folder {folder} has two files with the stem {path.stem!r}: "
                    f"{files[path.stem].name} and {path.name}; keep one"
                )
            files[path.stem] = path
    if not files:
        raise ValueError(
            f"{what} folder {folder} contains no files with extensions {', '.join(sorted(exts))}"
        )
    return files


def find_pairs(
    image_dir: str | Path,
    mask_dir: str | Path,
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
    mask_suffix: str = "",
) -> list[Pair]:
    """Match ``image_dir/<stem>.<ext>`` with ``mask_dir/<stem><mask_suffix>.<ext>``; sorted by stem.

    Every image needs a mask (ValueError naming the image otherwise). Masks without an image are ignored
    with a log message (folders often hold extra annotations).
    """
    images = _list_files(Path(image_dir), extensions, "image")
    masks = _list_files(Path(mask_dir), extensions, "mask")
    pairs: list[Pair] = []
    for stem, image in images.items():
        mask = masks.get(stem + mask_suffix)
        if mask is None:
            raise ValueError(
                f"image {image} has no mask named {stem + mask_suffix}.* in mask folder {mask_dir}; "
                "add the mask or remove the image"
            )
        pairs.append((image, mask))
    extra = len(masks) - len(pairs)
    if extra:
        logger.info("%d masks in %s have no image and are ignored", extra, mask_dir)
    return pairs


def pairs_for_stems(
    image_dir: str | Path,
    mask_dir: str | Path,
    stems: Sequence[str],
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
    mask_suffix: str = "",
) -> list[Pair]:
    """Pairs for the given stems only (other files in the folders are not looked at), in ``stems`` order."""
    images = _list_files(Path(image_dir), extensions, "image")
    masks = _list_files(Path(mask_dir), extensions, "mask")
    pairs: list[Pair] = []
    for stem in stems:
        if stem not in images:
            raise ValueError(f"split lists {stem!r} but image folder {image_dir} has no {stem}.* image")
        mask = masks.get(stem + mask_suffix)
        if mask is None:
            raise ValueError(
                f"image {images[stem]} has no mask named {stem + mask_suffix}.* in mask folder "
                f"{mask_dir}; add the mask or remove the image from the split"
            )
        pairs.append((images[stem], mask))
    return pairs


# --------------------------------------------------------------------------------------------------- splits


def split_by_lists(
    stems: Sequence[str], lists: Mapping[str, str | Path | Sequence[str]]
) -> dict[str, list[str]]:
    """Splits given by list files (or lists of stems): ``{"train": "train.txt", "val": [...]}``.

    Every listed stem must be in ``stems``; a stem listed in two splits is a ValueError.
    """
    available = set(stems)
    out: dict[str, list[str]] = {}
    for name, source in lists.items():
        if isinstance(source, (str, Path)):
            listed = read_list_file(source, available)
        else:
            listed = [str(s) for s in source]
        missing = [s for s in listed if s not in available]
        if missing:
            where = f"list file {source}" if isinstance(source, (str, Path)) else f"list for split {name!r}"
            raise ValueError(
                f"{where} names {len(missing)} items without an image/mask pair, e.g. {missing[:3]}"
            )
        if len(set(listed)) != len(listed):
            # Refused here, where a config names the lists: a repeated line would be sampled (or scored) twice
            # as often. Discovery (``unetkit fit DIR``) counts it once and says so; a config has no console.
            where = f"the list for split {name!r}"
            if isinstance(source, (str, Path)):
                where = f"list file {source}"
            twice = next(s for s in listed if listed.count(s) > 1)
            raise ValueError(
                f"{where} names {twice!r} more than once; remove the repeated line "
                "(or train with `unetkit fit DIR`, which counts it once)"
            )
        out[name] = listed
    check_disjoint(out)
    return out


def split_by_ranges(stems: Sequence[str], ranges: Mapping[str, tuple[int, int]]) -> dict[str, list[str]]:
    """Contiguous splits by position in the sorted stems: ``{"train": (0, 20), "val": (20, 24)}`` (half-open).

    Contiguous blocks avoid leakage between correlated neighbours (e.g. adjacent EM slices).
    """
    ordered = sorted(stems)
    used = np.zeros(len(ordered), dtype=bool)
    out: dict[str, list[str]] = {}
    for name, (start, stop) in ranges.items():
        if not 0 <= start <= stop <= len(ordered):
            raise ValueError(
                f"range {name!r}=({start}, {stop}) is outside 0..{len(ordered)} ({len(ordered)} items)"
            )
        if used[start:stop].any():
            raise ValueError(
                f"range {name!r}=({start}, {stop}) overlaps another split; ranges must be disjoint"
            )
        used[start:stop] = True
        out[name] = ordered[start:stop]
    return out


def split_by_fraction(
    stems: Sequence[str], fractions: Mapping[str, float], seed: int = 0
) -> dict[str, list[str]]:
    """Random disjoint splits with the given fractions (summing to <= 1), reproducible with ``seed``.

    Sizes are ``floor(fraction * n)``; leftovers go to the splits with the largest remainders, and only
    when the fractions sum to 1 (so everything is used). Each split is returned sorted.
    """
    total = sum(fractions.values())
    if any(f < 0 for f in fractions.values()) or total > 1.0 + 1e-9:
        raise ValueError(f"fractions must be >= 0 and sum to at most 1, got {dict(fractions)}")
    ordered = sorted(stems)
    n = len(ordered)
    exact = [f * n for f in fractions.values()]
    sizes = [int(np.floor(e + 1e-9)) for e in exact]
    if abs(total - 1.0) < 1e-9:
        order = np.argsort([-(e - s) for e, s in zip(exact, sizes)], kind="stable")
        for i in order[: n - sum(sizes)]:
            sizes[i] += 1
    perm = np.random.default_rng(seed).permutation(n)
    out: dict[str, list[str]] = {}
    start = 0
    for name, size in zip(fractions, sizes):
        out[name] = sorted(ordered[i] for i in perm[start : start + size])
        start += size
    return out


# -------------------------------------------------------------------------------------------------- dataset

# Decoded training images are kept in memory when they fit in this much and in a quarter of the memory free
# at the start: a large PNG decodes slower than a training step on its crop (benchmarks/data_cache.py).
CACHE_MAX_BYTES = 2 * 1024**3


def decoded_bytes(sizes: Sequence[tuple[int, int]], channels: int) -> int:
    """Bytes that the decoded images ((H, W) each, uint8 x ``channels``) and uint8 class maps take."""
    return sum(h * w * (channels + 1) for h, w in sizes)


def cache_fits(nbytes: int, workers: int) -> bool:
    """Whether decoded images of ``nbytes`` may be kept in memory: no loader workers (each would hold its
    own copy), at most ``CACHE_MAX_BYTES`` and a quarter of the available memory."""
    free = available_memory()
    return workers == 0 and nbytes <= CACHE_MAX_BYTES and (free is None or nbytes <= free // 4)


def _check_same_size(image: np.ndarray, mask: np.ndarray, pair: Pair) -> None:
    if image.shape[:2] != mask.shape:
        raise ValueError(
            f"image {pair[0]} is {image.shape[1]}x{image.shape[0]} (WxH) but mask {pair[1]} is "
            f"{mask.shape[1]}x{mask.shape[0]}; they must have the same size"
        )


def cached_form(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A decoded pair as the training cache keeps it: the class map as uint8 (classes < 255 and
    IGNORE_INDEX = 255), both read-only (a transform never edits the cache)."""
    compact = mask.astype(np.uint8)
    image.flags.writeable = compact.flags.writeable = False
    return image, compact


def _joint_transform(transform: Any) -> JointTransform | None:
    """``transform`` as a joint transform: an albumentations one (which takes named arrays) is wrapped."""
    if transform is None or isinstance(transform, JointTransform):
        return transform
    if is_albumentations(transform):
        return JointTransform.from_albumentations(transform)
    # Duck typing: a user's joint transform need only be called like one and be reseedable.
    if callable(transform) and callable(getattr(transform, "reseed", None)):
        return transform  # type: ignore[no-any-return]
    raise TypeError(
        f"transform must be a joint transform from unetkit.data.transforms.build_transforms (or an "
        f"albumentations transform), got {type(transform).__name__}: {transform!r}"
    )


class FolderDataset(Dataset):
    """Image/mask pairs as a torch Dataset.

    ``dataset[i]`` is a dict: "image" float32 (C, H, W) normalised with mean/std, "mask" int64 (H, W) with
    IGNORE_INDEX for ignored pixels, "name" (the image stem), and "weight" float32 (H, W) when ``weight_map``
    is given. The weight map is computed on the untransformed mask and then transformed with it (nearest), so
    it stays aligned with the augmented mask.

    ``transform``: a :func:`~unetkit.data.transforms.build_transforms` result, or an albumentations transform
    (``A.HorizontalFlip()``, ``A.Compose([...])``), applied jointly to image, mask and weight map
    (:meth:`~unetkit.data.transforms.JointTransform.from_albumentations`).

    ``cache``: keep each decoded pair in memory after its first use. ``decoded``: pairs decoded already
    (``(image path, mask path) -> cached_form(image, mask)``, what :func:`validate` ``keep`` collects), the
    cache's start, so that a pair checked before training is not decoded again; ignored without ``cache``.
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        encoding: MaskEncoding,
        in_channels: int,
        mean: Sequence[float] | float,
        std: Sequence[float] | float,
        transform: JointTransform | A.BasicTransform | A.BaseCompose | None = None,
        weight_map: WeightMapConfig | None = None,
        convert_channels: bool = False,
        cache: bool = False,
        window: Window | None = None,
        decoded: Mapping[Pair, tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> None:
        if not pairs:
            raise ValueError("FolderDataset needs at least one (image, mask) pair; the split is empty")
        self.pairs: list[Pair] = [(Path(i), Path(m)) for i, m in pairs]
        self.encoding = encoding
        self.in_channels = int(in_channels)
        self.mean = tuple(np.atleast_1d(np.asarray(mean, dtype=float)).tolist())
        self.std = tuple(np.atleast_1d(np.asarray(std, dtype=float)).tolist())
        self.transform = _joint_transform(transform)
        self.weight_map = weight_map
        self.convert_channels = convert_channels
        self.window = window
        self._cache: Any = None
        self._worker_seed: int | None = None
        # index -> (image, class map as uint8), read-only: decoded once, augmented many times.
        self._decoded: dict[int, tuple[np.ndarray, np.ndarray]] | None = None
        if cache:
            given = decoded or {}
            self._decoded = {i: given[pair] for i, pair in enumerate(self.pairs) if pair in given}

    def __len__(self) -> int:
        return len(self.pairs)

    def _weight(self, mask: np.ndarray, pair: Pair) -> np.ndarray:
        cfg = self.weight_map
        if cfg is None:
            raise RuntimeError("FolderDataset._weight called without a weight_map config")  # internal misuse
        if cfg.cache_dir is None:
            return np.asarray(unet_weight_map(mask, **cfg.map_params()), dtype=np.float32)
        if self._cache is None:
            self._cache = WeightMapCache(cfg.cache_dir, **cfg.map_params())
        # The cache hashes the mask bytes and parameters, so the stem is a readable, collision-safe key.
        return np.asarray(self._cache.get(pair[1].stem, mask), dtype=np.float32)

    def _maybe_reseed(self) -> None:
        # Forked DataLoader workers inherit identical RNG states; torch gives each worker (and each epoch) a
        # different initial seed, so reseed the augmentation from it the first time a worker uses it.
        info = torch.utils.data.get_worker_info()
        if info is None or self.transform is None:
            return
        seed = int(info.seed % 2**32)
        if seed != self._worker_seed:
            self.transform.reseed(seed)
            self._worker_seed = seed

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Untransformed (image uint8 (H, W, C), mask int64 (H, W)) of pair ``index``."""
        pair = self.pairs[index]
        image = read_image(pair[0], self.in_channels, convert=self.convert_channels, window=self.window)
        mask = read_mask(pair[1], self.encoding)
        _check_same_size(image, mask, pair)
        return image, mask

    def _load_compact(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`load`, from memory when caching (the class map then uint8: classes and void < 256)."""
        if self._decoded is None:
            return self.load(index)
        if index not in self._decoded:
            self._decoded[index] = cached_form(*self.load(index))
        return self._decoded[index]

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.get(index)

    def get(self, index: int, seed: Sequence[int] | None = None) -> dict[str, Any]:
        """Sample ``index``; ``seed`` (e.g. ``(run_seed, epoch, position)``) fixes its augmentation draw.

        Without ``seed`` the transform draws from its own running stream (reseeded per data-loader worker).
        """
        pair = self.pairs[index]
        image, mask = self._load_compact(index)
        weight = self._weight(mask.astype(np.int64), pair) if self.weight_map is not None else None
        if self.transform is not None:
            if seed is not None:
                self.transform.reseed(seed)
            else:
                self._maybe_reseed()
            image, mask, weight = self.transform(image, mask, weight)
        sample: dict[str, Any] = {
            "image": torch.from_numpy(normalize(image, self.mean, self.std)),
            "mask": torch.from_numpy(np.ascontiguousarray(mask, dtype=np.int64)),
            "name": pair[0].stem,
        }
        if weight is not None:
            sample["weight"] = torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float32))
        return sample


def validate(
    dataset_or_pairs: FolderDataset | Sequence[Pair],
    encoding: MaskEncoding | None = None,
    in_channels: int | None = None,
    *,
    convert: bool | None = None,
    split: str | None = None,
    workers: int | None = None,
    window: Window | None = None,
    on_mask: Callable[[Path, np.ndarray], None] | None = None,
    keep: MutableMapping[Pair, tuple[np.ndarray, np.ndarray]] | None = None,
) -> int:
    """Decode every pair before training: the whole image (truncated JPEGs, transparency, channels), the
    whole mask (values) and their sizes. Returns the number of pairs checked. ``on_mask(mask path, class
    mask (H, W))`` sees each decoded mask (from the pool's threads), so a caller can look at the classes
    without reading the masks twice. ``keep``: each checked pair is put there as the training cache holds
    it (``(image path, mask path) -> cached_form(image, mask)``; :class:`FolderDataset` ``decoded``), so
    that training does not decode it again; give it only where the training set caches (it then holds what
    the cache would).

    Raises the ValueError of the first bad pair (in order; images are decoded in ``workers`` threads, Pillow
    releases the GIL while decoding). Pass ``encoding`` and ``in_channels`` when giving bare pairs (a
    FolderDataset carries its own); ``split`` names the split in the empty-split error; ``window``: the
    intensity window of 16-bit images (as training reads them).
    """
    if isinstance(dataset_or_pairs, FolderDataset):
        pairs: Sequence[Pair] = dataset_or_pairs.pairs
        encoding = encoding or dataset_or_pairs.encoding
        in_channels = in_channels or dataset_or_pairs.in_channels
        convert = dataset_or_pairs.convert_channels if convert is None else convert
        window = dataset_or_pairs.window if window is None else window
    else:
        pairs = dataset_or_pairs
    if encoding is None:
        raise ValueError(
            "validate needs the mask encoding when given bare pairs: validate(pairs, encoding=...)"
        )
    if not pairs:
        what = f"the {split!r} split" if split else "the dataset split"
        raise ValueError(f"{what} is empty; give it images (or change the dataset's split options)")

    def check(pair: Pair) -> None:
        image_path, mask_path = pair
        image = read_image(image_path, in_channels, convert=bool(convert), window=window)
        mask = read_mask(mask_path, encoding)
        _check_same_size(image, mask, (Path(image_path), Path(mask_path)))
        if on_mask is not None:
            on_mask(Path(mask_path), mask)
        if keep is not None:
            keep[(Path(image_path), Path(mask_path))] = cached_form(image, mask)

    # A thread pool, not processes: decoding runs in C with the GIL released, and errors stay in order.
    pool = ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1))
    try:
        for _ in pool.map(check, pairs):
            pass
    except ValueError as exc:
        if not split:
            raise
        # Which split holds the file: a bad validation or test file stops a fit whose plan read only
        # training masks, and `fit --score val` still reads the test split.
        raise ValueError(f"{exc} (a file of the {split} split)") from exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return len(pairs)


def compute_mean_std(
    pairs: Sequence[Pair] | Sequence[Path],
    channels: int | None = None,
    *,
    window: Window | None = None,
    convert: bool = False,
) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the images (values in [0, 1], after the intensity ``window``; with
    ``convert``, images of another channel count read as ``channels``) over all pixels of all given images.

    Accepts pairs or bare image paths. Accumulates in float64 so large datasets stay exact.
    """
    total = None
    total_sq = None
    count = 0
    for item in pairs:
        path = item[0] if isinstance(item, tuple) else item
        x = read_image(path, channels, convert=convert, window=window).astype(np.float64) / 255.0
        flat = x.reshape(-1, x.shape[2])
        if total is None:
            total, total_sq = flat.sum(0), (flat**2).sum(0)
        else:
            if flat.shape[1] != total.shape[0]:
                raise ValueError(
                    f"image {path} has {flat.shape[1]} channels, earlier images {total.shape[0]}"
                )
            total += flat.sum(0)
            total_sq += (flat**2).sum(0)
        count += flat.shape[0]
    if total is None or total_sq is None:
        raise ValueError("compute_mean_std got no images")
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return [float(m) for m in mean], [float(s) for s in std]
