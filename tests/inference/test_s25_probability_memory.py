"""An image whose (K, H, W) class probabilities (TTA's mean, or probabilities asked for) do not fit in the
memory free now is one line naming the sizes and the fix, before any tile runs (Linux would hand out the
array and kill the process when its pages are touched, with every later image of a batch unwritten); the
mask alone (no TTA, no probabilities) is still made band by band. The free memory reads a container's
limit too."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.inference.test_s20_bands import Mixing

import unetkit.devices as devices
import unetkit.inference.memory as memory
from unetkit.inference.batch import OutputOptions, predict_files
from unetkit.inference.memory import check_probability_memory, probability_bytes


def _free(monkeypatch: pytest.MonkeyPatch, nbytes: int | None) -> None:
    monkeypatch.setattr(memory, "available_memory", lambda: nbytes)


class Counting(Mixing):
    """Counts the batches of tiles run."""

    batches = 0

    def _predict_batch(self, batch: np.ndarray) -> np.ndarray:
        type(self).batches += 1
        return super()._predict_batch(batch)


def test_the_check_names_the_sizes_and_what_to_drop(monkeypatch: pytest.MonkeyPatch) -> None:
    assert probability_bytes(12, 20000, 20000) == 4 * 12 * 20000 * 20000
    _free(monkeypatch, 10 * 1024**3)
    check_probability_memory(12, 10000, 10000, 2, probs_asked=False)  # 4.8 GB + its mask: fits, nothing said
    _free(monkeypatch, None)
    check_probability_memory(12, 20000, 20000, 2, probs_asked=False)  # unknown: not checked
    _free(monkeypatch, 10 * 1024**3)
    with pytest.raises(ValueError) as err:
        check_probability_memory(12, 20000, 30000, 2, probs_asked=False)
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith("image of 30000x20000 px: its 2-view TTA averages class probabilities, ")
    assert "12 x 20000 x 30000 float32 = 27.4 GiB with its mask, and 10.0 GiB of memory is free" in text
    assert "--tta none" in text and "band by band in about 1.1 GiB more" in text
    with pytest.raises(ValueError) as err:
        check_probability_memory(12, 20000, 30000, 0, probs_asked=True)
    assert "its class probabilities are kept (--probs, --instances or predict())," in str(err.value)
    assert "without --probs, --instances and TTA" in str(err.value)


def test_a_predictor_refuses_before_any_tile_and_the_plain_mask_still_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = np.random.default_rng(0).integers(0, 256, (64, 48), dtype=np.uint8)
    # Room for the image's mask, not for its 3 x 64 x 48 float32 map.
    _free(monkeypatch, 64 * 48 * 4)
    tta = Counting(3, channels=1, tile_size=32, tta="flips")
    with pytest.raises(ValueError, match=r"image of 48x64 px: its 4-view TTA averages class probabilities"):
        tta.predict_mask(image)
    with pytest.raises(
        ValueError, match=r"its class probabilities are kept .* and averaged over 4 TTA views"
    ):
        tta.predict(image)
    plain = Counting(3, channels=1, tile_size=32)
    with pytest.raises(ValueError, match=r"its class probabilities are kept \(--probs"):
        plain.predict_probs(image)
    assert Counting.batches == 0  # refused before any tile ran
    mask = plain.predict_mask(image)  # band by band: no map, no check
    assert mask.shape == (64, 48) and Counting.batches > 0
    _free(monkeypatch, 1024**3)
    np.testing.assert_array_equal(plain.predict(image)[0], mask)


def test_predict_files_fails_that_image_alone_and_writes_nothing_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(tmp_path / "small.png")
    Image.fromarray(rng.integers(0, 256, (120, 100), dtype=np.uint8)).save(tmp_path / "large.png")
    _free(monkeypatch, 16 * 16 * 3 * 4 * 4)  # room for the small image's map, not the large one's
    out = tmp_path / "out"
    result = predict_files(
        Mixing(3, channels=1, tile_size=32, tta="flips"),
        [tmp_path / "small.png", tmp_path / "large.png"],
        out,
        outputs=OutputOptions(overlay=False),
    )
    assert [Path(path).name for path, _ in result.failures] == ["large.png"]
    assert "image of 100x120 px: its 4-view TTA" in str(result.failures[0][1])
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["small.png"]


def test_free_memory_is_the_containers_limit_less_its_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit, usage = tmp_path / "memory.max", tmp_path / "memory.current"
    monkeypatch.setattr(devices, "_CGROUP_MEMORY", ((limit, usage),))
    host = devices.available_memory()
    assert host is not None and host > 0  # no cgroup files: the host's MemAvailable
    limit.write_text("1000000\n")
    usage.write_text("400000\n")
    assert devices.available_memory() == 600000  # far below the host's
    limit.write_text("max\n")
    free = devices.available_memory()
    assert free is not None and free > 600000  # no limit: the host's again


@pytest.mark.parametrize("classes", [1, 4])
@pytest.mark.parametrize("tta", ["identity,hflip", "hflip,identity", "hflip"])
def test_a_mirror_tta_mask_is_made_band_by_band_with_the_same_values(classes: int, tta: str) -> None:
    """The image and its mirror (a street scene's TTA) run in step: the mask equals the one made from the
    whole (K, H, W) mean (``predict``), bit for bit, and no such array is held (peak far below it); the
    progress callback counts every view's tiles once, up to the total."""
    height, width = 6000, 256  # tall: the map (24 MiB for 4 classes) dwarfs a row of tiles
    image = np.random.default_rng(7).integers(0, 256, (height, width), dtype=np.uint8)
    seen: list[tuple[int, int]] = []
    predictor = Mixing(
        classes, channels=1, tile_size=128, batch_size=2, tta=tta, progress=lambda d, t: seen.append((d, t))
    )
    mask, probs = predictor.predict(image)
    assert probs.shape == (classes, height, width)
    seen.clear()
    tracemalloc.start()
    try:
        banded = predictor.predict_mask(image)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(banded, mask)
    maps = 4 * height * width * 4  # the 4-class map; 1 class: a quarter of it, the peak the same
    assert peak < maps / 3, f"peak {peak / 2**20:.1f} MiB against {maps / 2**20:.1f} MiB of class maps"
    total = predictor.tiles_per_image(height, width)
    assert seen[-1] == (total, total) and all(t == total for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and [d for d, _ in seen].count(total) == 1


def test_a_mirror_tta_mask_needs_no_room_for_the_map(monkeypatch: pytest.MonkeyPatch) -> None:
    image = np.random.default_rng(0).integers(0, 256, (64, 48), dtype=np.uint8)
    _free(monkeypatch, 64 * 48 * 4)  # no room for the 3-class map
    mask = Mixing(3, channels=1, tile_size=32, tta="identity,hflip").predict_mask(image)
    assert mask.shape == (64, 48)
    with pytest.raises(ValueError, match="2-view TTA"):
        Mixing(3, channels=1, tile_size=32, tta="identity,vflip").predict_mask(image)  # rows reversed
