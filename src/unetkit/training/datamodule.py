"""``SegmentationDataModule``: datasets and loaders for one ``DatasetSpec`` and the ``data`` section."""

from __future__ import annotations

# First: Lightning imported with the caller's process state kept (random streams, loggers, warnings).
from unetkit.training.lightning_import import L

# isort: split

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, Subset

from unetkit.data.datasets import DatasetSpec, cache_root
from unetkit.data.folder import FolderDataset
from unetkit.data.sampling import drops_last_batch, evenly_spaced
from unetkit.data.transforms import build_transforms, use_loader_threads
from unetkit.training.config import DataConfig

logger = logging.getLogger(__name__)


def sample_seed(seed: int, epoch: int, position: int) -> tuple[int, int, int]:
    """The augmentation seed of one training sample: a function of (run seed, epoch, position) only.

    Neither the data-loader worker that draws the sample nor the point where a killed run was resumed can
    change it, so runs with the same ``trainer.seed`` see identical augmentations.
    """
    return (int(seed) % 2**64, int(epoch), int(position))  # SeedSequence wants non-negative entropy


def one_thread_worker(worker_id: int) -> None:
    """``worker_init_fn`` of the loaders: augmentations (OpenCV) run on one thread per loader process."""
    use_loader_threads()


class _TrainSet(Dataset):
    """The training split seen ``times`` times per epoch (small datasets such as ISBI's 20 slices).

    Keys are ``(epoch, position)`` pairs from :class:`_EpochSampler`; each sample's augmentation is seeded
    with :func:`sample_seed`.
    """

    def __init__(self, dataset: FolderDataset, times: int, seed: int) -> None:
        self.dataset, self.times, self.seed = dataset, max(1, int(times)), seed

    def __len__(self) -> int:
        return len(self.dataset) * self.times

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, position = key
        return self.dataset.get(position % len(self.dataset), seed=sample_seed(self.seed, epoch, position))


class _EpochSampler(Sampler[tuple[int, int]]):
    """Yields ``(epoch, index)``: the order (``DistributedSampler``, seeded with seed + epoch) and, through
    the key, each sample's augmentation follow from the run seed and the epoch (Lightning calls
    ``set_epoch``), also in a resumed run and in forked workers."""

    def __init__(self, sampler: DistributedSampler) -> None:
        self.sampler, self.epoch = sampler, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((self.epoch, int(i)) for i in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


class SegmentationDataModule(L.LightningDataModule):
    """Train/val/test loaders over a dataset spec; training gets joint augmentation and random crops.

    ``seed`` (``trainer.seed``) seeds the training order (per epoch) and every sample's augmentation (per
    epoch and position, see :func:`sample_seed`): a run is reproducible, with or without workers, DDP or a
    resume.
    """

    def __init__(self, spec: DatasetSpec, data: DataConfig, seed: int) -> None:
        super().__init__()
        self.spec = spec
        self.cfg = data
        self.seed = seed
        self._keep_train: bool | None = None  # data.cache's answer, decided once (auto reads free memory)
        self._cache_note: str | None = None
        # Training pairs decoded by the check of the inputs, until the training set takes them.
        self._checked_train: dict[tuple[Path, Path], tuple[np.ndarray, np.ndarray]] | None = None

    def dataset(self, split: str, train: bool = False) -> FolderDataset:
        """The split's dataset; ``train`` adds random crops, augmentation and (if configured) weight maps."""
        spec, cfg = self.spec, self.cfg
        transform, weight_map, cache, decoded = None, None, False, None
        if train:
            cache = self._cache_train(spec.pairs(split))
            # The training set alone holds them from now on (a second one decodes its own).
            decoded, self._checked_train = self._checked_train, None
            transform = build_transforms(
                True, cfg.crop_size, num_classes=spec.num_classes, **dataclasses.asdict(cfg.augment)
            )
            if cfg.weight_map is not None:
                cache_dir = cfg.weight_map.cache_dir or str(cache_root() / "weight_maps" / spec.name)
                weight_map = dataclasses.replace(cfg.weight_map, cache_dir=cache_dir)
        return FolderDataset(
            spec.pairs(split),
            spec.encoding,
            in_channels=spec.in_channels,
            mean=spec.mean,
            std=spec.std,
            transform=transform,
            weight_map=weight_map,
            convert_channels=spec.convert_channels,
            cache=cache,
            window=spec.intensity_window,
            decoded=decoded,
        )

    def validation_set(self) -> Dataset:
        """The images validated during training: all of val, or ``data.val_images`` of them evenly spaced
        (a large validation split would take a budget's time; the planner sizes it)."""
        val = self.dataset("val")
        count = self.cfg.val_images
        if count is None or count >= len(val):
            return val
        return Subset(val, evenly_spaced(range(len(val)), count))

    def train_cache_to_fill(self) -> dict[tuple[Path, Path], tuple[np.ndarray, np.ndarray]] | None:
        """Where the check of the inputs (:func:`unetkit.data.folder.validate` ``keep``) puts the training
        pairs it decodes, the training set's cache to start with: the check decoded every pair and dropped
        it, and the first epoch decoded them all again (DSB 2018: 7-13 s of a 1-minute budget). None when
        ``data.cache`` keeps no decoded training images: then nothing is held."""
        if self._keep_train is None:
            try:
                self._keep_train, self._cache_note = self._decide_cache(self.spec.pairs("train"))
            except (OSError, ValueError):
                return None  # no training split, or a header that cannot be read: the check names it
        keep = self._keep_train
        self._checked_train = {} if keep else None
        return self._checked_train

    def _cache_train(self, pairs: Sequence[tuple[Path, Path]]) -> bool:
        """``data.cache``: true/false as given; auto keeps the decoded training images in memory when they fit
        (:func:`unetkit.data.folder.cache_fits`, sizes from the file headers). Decided once: the check of the
        inputs fills the cache that this answer promised."""
        if self._keep_train is None:
            self._keep_train, self._cache_note = self._decide_cache(pairs)
        if self._cache_note is not None:
            # Logged as the training set is built, not before the check of the inputs: a bad file's error
            # stays the one line a failed check prints.
            logger.info("%s", self._cache_note)
        return self._keep_train

    def _decide_cache(self, pairs: Sequence[tuple[Path, Path]]) -> tuple[bool, str | None]:
        """The cache's answer and, for auto, the line that says why."""
        if self.cfg.cache != "auto":
            return bool(self.cfg.cache), None
        from unetkit.data.folder import cache_fits, decoded_bytes
        from unetkit.data.io import image_info

        sizes = [image_info(image)[:2] for image, _ in pairs]
        nbytes = decoded_bytes(sizes, self.spec.in_channels)
        keep = cache_fits(nbytes, self.cfg.num_workers)
        what = "keeping" if keep else "not keeping"
        return keep, f"{what} the {len(pairs)} decoded training images in memory ({nbytes / 1e6:.0f} MB)"

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit"):
            self.train_set = _TrainSet(self.dataset("train", train=True), self.cfg.repeat, self.seed)
            self.val_set = self.validation_set()
        if stage in (None, "validate"):
            self.val_set = self.validation_set()
        if stage in (None, "test"):
            self.test_set = self.dataset("test")

    def _loader(self, dataset: Dataset, train: bool) -> DataLoader:
        workers = self.cfg.num_workers
        sampler: Sampler | None = None
        drop_last = False
        if train:
            drop_last = drops_last_batch(len(dataset), self.cfg.batch_size)  # type: ignore[arg-type]
            world, rank = 1, 0
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                world, rank = torch.distributed.get_world_size(), torch.distributed.get_rank()
            # Our own sampler (the Trainer has use_distributed_sampler=False): shuffle=False really keeps the
            # order (rank r takes items r, r+W, ...: a global batch equals one process's batch), and the order
            # depends on (seed, epoch) only, so a resumed epoch replays the interrupted one.
            sampler = _EpochSampler(
                DistributedSampler(
                    dataset,
                    num_replicas=world,
                    rank=rank,
                    shuffle=self.cfg.shuffle,
                    seed=self.seed,
                    drop_last=drop_last,
                )
            )
        return DataLoader(
            dataset,
            batch_size=self.cfg.batch_size if train else 1,
            sampler=sampler,
            drop_last=drop_last,
            num_workers=workers,
            persistent_workers=workers > 0,
            worker_init_fn=one_thread_worker if workers > 0 else None,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, train=False)
