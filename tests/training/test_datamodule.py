"""SegmentationDataModule: every augmentation option reaches the transform; DDP sampler seed = run seed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from unetkit.data.transforms import AugmentOptions, build_transforms
from unetkit.training.config import load_config
from unetkit.training.datamodule import SegmentationDataModule
from unetkit.training.evaluate import resolve_dataset

TINY = ["data.options={num_images: 6, size: [32, 32]}", "data.crop_size=32", "data.batch_size=2"]


def test_every_build_transforms_option_can_be_set_from_the_config(tmp_path: Path) -> None:
    # The config section is the dataclass that build_transforms takes: no option can be left out again.
    options = {f.name for f in dataclasses.fields(AugmentOptions)}
    assert {"elastic_grid", "elastic_sigma", "brightness", "contrast", "gamma"} <= options
    build_transforms(True, 16, **{f.name: f.default for f in dataclasses.fields(AugmentOptions)})
    cfg = load_config(
        "synthetic",
        [
            *TINY,
            f"data.root={tmp_path / 'syn'}",
            "data.augment.elastic=true",
            "data.augment.elastic_grid=4",
            "data.augment.elastic_sigma=3.5",
            "data.augment.brightness=0.4",
            "data.augment.contrast=0.1",
            "data.augment.gamma=[70, 130]",
        ],
    )
    assert isinstance(cfg.data.augment, AugmentOptions)
    dm = SegmentationDataModule(resolve_dataset(cfg), cfg.data, seed=0)
    stages = dm.dataset("train", train=True).transform._stages
    assert (stages.elastic, stages.elastic_grid, stages.elastic_sigma) == (True, 4, 3.5)
    colour = {type(t).__name__: t for t in stages.post.transforms}
    assert colour["RandomBrightnessContrast"].brightness_limit == pytest.approx((-0.4, 0.4))
    assert colour["RandomBrightnessContrast"].contrast_limit == pytest.approx((-0.1, 0.1))
    assert tuple(colour["RandomGamma"].gamma_limit) == (70, 130)


def test_ddp_sampler_is_seeded_with_the_run_seed(tmp_path: Path) -> None:
    import torch.distributed as dist

    cfg = load_config("synthetic", [*TINY, f"data.root={tmp_path / 'syn'}", "trainer.seed=7"])
    dm = SegmentationDataModule(resolve_dataset(cfg), cfg.data, seed=cfg.trainer.seed)
    dm.setup("fit")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        sampler = dm.train_dataloader().sampler.sampler
    finally:
        dist.destroy_process_group()
    assert isinstance(sampler, torch.utils.data.DistributedSampler)
    assert sampler.seed == 7


@pytest.mark.parametrize(
    ("overrides", "cached"),
    [([], True), (["data.num_workers=2"], False), (["data.cache=false"], False),
     (["data.num_workers=2", "data.cache=true"], True)],
)  # fmt: skip
def test_training_images_stay_decoded_when_they_fit(
    tmp_path: Path, overrides: list[str], cached: bool
) -> None:
    cfg = load_config("synthetic", [*TINY, f"data.root={tmp_path / 'syn'}", *overrides])
    dm = SegmentationDataModule(resolve_dataset(cfg), cfg.data, seed=0)
    assert (dm.dataset("train", train=True)._decoded is not None) == cached
    assert dm.dataset("val")._decoded is None  # validation reads each image once per pass anyway


def test_every_split_reads_images_through_the_datasets_intensity_window(tmp_path: Path) -> None:
    cfg = load_config("synthetic", [*TINY, f"data.root={tmp_path / 'syn'}"])
    spec = dataclasses.replace(resolve_dataset(cfg), intensity_window=((10.0, 20.0),))
    dm = SegmentationDataModule(spec, cfg.data, seed=0)
    assert dm.dataset("train", train=True).window == dm.dataset("val").window == ((10.0, 20.0),)


class _OpenCVThreads(torch.utils.data.Dataset):
    """Each item: the OpenCV thread count of the process that loads it."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> int:
        import cv2

        return cv2.getNumThreads()


def test_loader_processes_run_opencv_on_one_thread(tmp_path: Path) -> None:
    """Up to 8 loader processes feed a GPU; OpenCV's default of one thread per core in each oversubscribes."""
    import cv2
    import numpy as np

    from unetkit.training.datamodule import one_thread_worker

    cfg = load_config("synthetic", [*TINY, f"data.root={tmp_path / 'syn'}", "data.num_workers=1"])
    dm = SegmentationDataModule(resolve_dataset(cfg), cfg.data, seed=0)
    before = cv2.getNumThreads()
    assert dm._loader(_OpenCVThreads(), train=False).worker_init_fn is one_thread_worker
    cv2.setNumThreads(4)
    try:
        # OpenCV's thread pool runs here before the workers fork (as after the plan's data probe): a worker
        # setting one thread then waited forever on the parent's pool threads (the timeout turns a hang
        # into a failure).
        side = np.arange(1024, dtype=np.float32)
        cv2.remap(np.ones((1024, 1024), np.float32), *np.meshgrid(side, side), cv2.INTER_CUBIC)
        loader = torch.utils.data.DataLoader(
            _OpenCVThreads(), num_workers=1, worker_init_fn=one_thread_worker, timeout=60
        )
        assert [int(n) for n in loader] == [1, 1]
        assert cv2.getNumThreads() == 4  # the training process keeps its own setting
    finally:
        cv2.setNumThreads(before)


def test_data_val_images_validates_on_an_even_spread_of_val(tmp_path: Path) -> None:
    """A large validation split is scored during training on ``data.val_images`` images spread over it (the
    planner sets it); the time budget's first guess counts those, not the whole split."""
    from unetkit.training.fit import validated_images

    options = "data.options={num_images: 48, size: [32, 32]}"  # 8 validation images
    cfg = load_config("synthetic", [*TINY, f"data.root={tmp_path / 'syn'}", options, "data.val_images=3"])
    spec = resolve_dataset(cfg)
    dm = SegmentationDataModule(spec, cfg.data, seed=0)
    dm.setup("fit")
    assert len(spec.splits["val"]) == 8 and len(dm.val_set) == 3
    assert dm.val_set.indices == [0, 4, 7]  # first, middle, last: every part of the split
    assert validated_images(cfg, spec) == 3
    everything = load_config("synthetic", [*TINY, f"data.root={tmp_path / 'syn'}", options])
    assert validated_images(everything, spec) == 8
    dm_all = SegmentationDataModule(spec, everything.data, seed=0)
    dm_all.setup("validate")
    assert len(dm_all.val_set) == 8
