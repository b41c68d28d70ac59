"""``SegmentationDataModule``: datasets and loaders for one ``DatasetSpec`` and the ``data`` config."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from unetkit.data.folder import FolderDataset, WeightMapConfig
from unetkit.data.presets import DatasetSpec
from unetkit.data.transforms import build_transforms


def _cache_root() -> Path:
    # Never write next to the data: dataset folders may be shared or read-only.
    return Path(os.environ.get("UNETKIT_CACHE", Path.home() / ".cache" / "unetkit"))


class _Repeat(Dataset):
    """Visit every item ``times`` times per epoch (small datasets such as ISBI's 20 slices)."""

    def __init__(self, dataset: Dataset, times: int) -> None:
        self.dataset, self.times = dataset, max(1, int(times))

    def __len__(self) -> int:
        return len(self.dataset) * self.times  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        return self.dataset[index % len(self.dataset)]  # type: ignore[arg-type]


class SegmentationDataModule(L.LightningDataModule):
    """Train/val/test loaders over a dataset spec; training gets joint augmentation and random crops."""

    def __init__(self, spec: DatasetSpec, data_cfg: dict[str, Any]) -> None:
        super().__init__()
        self.spec = spec
        self.cfg = data_cfg

    def dataset(self, split: str, train: bool = False) -> FolderDataset:
        """The split's dataset; ``train`` adds random crops, augmentation and (if configured) weight maps."""
        spec = self.spec
        transform, weight_map = None, None
        if train:
            aug = dict(self.cfg.get("augment") or {})
            crop = self.cfg.get("crop_size")
            transform = build_transforms(train=True, crop_size=(crop[0], crop[1]) if crop else None, **aug)
            wm = self.cfg.get("weight_map")
            if wm:
                wm = dict(wm)
                weight_map = WeightMapConfig(
                    w0=float(wm.pop("w0", 10.0)),
                    sigma=float(wm.pop("sigma", 5.0)),
                    cache_dir=wm.pop("cache_dir", _cache_root() / "weight_maps" / spec.name),
                    options=wm,
                )
        return FolderDataset(
            spec.pairs(split),
            spec.encoding,
            in_channels=spec.in_channels,
            mean=spec.mean,
            std=spec.std,
            transform=transform,
            weight_map=weight_map,
            convert_channels=spec.convert_channels,
        )

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit"):
            self.train_set = _Repeat(self.dataset("train", train=True), self.cfg.get("repeat", 1))
            self.val_set = self.dataset("val")
        if stage in (None, "validate"):
            self.val_set = self.dataset("val")
        if stage in (None, "test"):
            self.test_set = self.dataset("test")

    def _loader(self, dataset: Dataset, train: bool) -> DataLoader:
        workers = int(self.cfg.get("num_workers", 0))
        shuffle = train and bool(self.cfg.get("shuffle", True))
        drop_last = train and len(dataset) > int(self.cfg["batch_size"])  # type: ignore[arg-type]
        sampler: DistributedSampler | None = None
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # Our own sampler (the Trainer has use_distributed_sampler=False) so that shuffle=False really
            # keeps the order: rank r takes items r, r+W, ... and a global batch equals one process's batch.
            sampler = DistributedSampler(
                dataset, shuffle=shuffle, seed=int(self.cfg.get("seed", 0)), drop_last=drop_last
            )
            shuffle = False
        return DataLoader(
            dataset,
            batch_size=int(self.cfg["batch_size"]) if train else 1,
            shuffle=shuffle,
            sampler=sampler,
            drop_last=drop_last,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, train=False)
