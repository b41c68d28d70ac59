"""evenly_spaced: the one deterministic subsample (masks sampled for the encoding, fingerprint images, the
data probe, validation images during training)."""

from __future__ import annotations

from unetkit.data.sampling import evenly_spaced


def test_an_even_spread_keeps_the_first_and_the_last() -> None:
    assert evenly_spaced(list(range(10)), 3) == [0, 4, 9]
    assert evenly_spaced("abcdefgh", 2) == ["a", "h"]


def test_asking_for_as_many_or_more_returns_all_and_none_returns_none() -> None:
    assert evenly_spaced([3, 1, 2], 3) == [3, 1, 2] and evenly_spaced([3, 1, 2], 10) == [3, 1, 2]
    assert evenly_spaced(list(range(5)), 0) == []


def test_epoch_steps_counts_whole_batches_as_the_training_loader_does() -> None:
    """The plan said 34 steps per epoch (532 images, batch 16) where training ran 33: the loader drops the
    partial last batch. One rule for both."""
    import torch

    from unetkit.data.sampling import epoch_steps
    from unetkit.training.datamodule import SegmentationDataModule

    assert epoch_steps(532, 16) == 33 and epoch_steps(16, 16) == 1 and epoch_steps(5, 16) == 1
    assert epoch_steps(0, 4) == 0
    module = SegmentationDataModule.__new__(SegmentationDataModule)
    module.cfg = type("Cfg", (), {"num_workers": 0, "batch_size": 16, "shuffle": False})()  # type: ignore[assignment]
    module.seed = 0
    for n in (5, 16, 17, 532):
        loader = module._loader(torch.utils.data.TensorDataset(torch.zeros(n)), train=True)
        assert len(loader) == epoch_steps(n, 16), n
