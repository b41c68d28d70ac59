"""fit decodes each training image once: the check of the inputs fills the training cache."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from training_helpers import TINY

from unetkit.data import folder
from unetkit.training import fit as fit_module
from unetkit.training.config import load_config
from unetkit.training.evaluate import resolve_dataset
from unetkit.training.fit import fit


def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> Counter[Path]:
    decoded: Counter[Path] = Counter()
    read_image = folder.read_image

    def counting(path: Any, *args: Any, **kwargs: Any) -> Any:
        decoded[Path(path)] += 1
        return read_image(path, *args, **kwargs)

    monkeypatch.setattr(folder, "read_image", counting)
    return decoded


@pytest.mark.parametrize(("cache", "decodes"), [("auto", 1), ("false", None)])
def test_the_check_of_the_inputs_fills_the_training_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: str, decodes: int | None
) -> None:
    """The check decoded every pair before training and dropped them, so the first epoch decoded them all
    again (DSB 2018: 7-13 s of a 1-minute budget). Without the cache each step decodes its image."""
    config = load_config(
        "synthetic",
        [*TINY, f"output.root={tmp_path}", "output.name=r", "trainer.max_epochs=2", f"data.cache={cache}"],
    )
    spec = resolve_dataset(config)  # the synthetic set's mean/std decode its training images once more
    monkeypatch.setattr(fit_module, "resolve_dataset", lambda config: spec)
    train = [image for image, _ in spec.pairs("train")]
    decoded = _count_decodes(monkeypatch)
    fit(config)
    counts = [decoded[Path(image)] for image in train]
    if decodes is not None:
        assert counts == [decodes] * len(train)
    else:
        assert min(counts) >= 3  # the check, then once per epoch


@pytest.mark.parametrize(
    ("overrides", "kept"),
    [([], True), (["data.num_workers=2"], False), (["data.cache=false"], False), (["data.cache=true"], True)],
)
def test_the_check_keeps_decoded_pairs_only_where_the_training_set_caches(
    tmp_path: Path, overrides: list[str], kept: bool
) -> None:
    """No more memory than the cache would hold: without a cache the check keeps nothing."""
    from unetkit.training.datamodule import SegmentationDataModule

    config = load_config("synthetic", [*TINY, f"data.root={tmp_path / 'syn'}", *overrides])
    datamodule = SegmentationDataModule(resolve_dataset(config), config.data, seed=0)
    keep = datamodule.train_cache_to_fill()
    assert (keep is not None) == kept
    if keep is not None:
        pair, image = datamodule.spec.pairs("train")[0], np.zeros((40, 40, 1), np.uint8)
        keep[pair] = folder.cached_form(image, np.zeros((40, 40), np.int64))
        train = datamodule.dataset("train", train=True)
        assert train._decoded is not None and train._decoded[0][0] is image  # taken as it is, not decoded
        assert datamodule.dataset("train", train=True)._decoded == {}  # handed over once, not held twice
