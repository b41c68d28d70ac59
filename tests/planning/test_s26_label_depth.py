"""Trial 26: 16-bit 2-channel fluorescence TIFFs with 16-bit instance label TIFFs.

An 8-bit label image among 16-bit ones whose ids reach 255 is noted (ids past 255 may have wrapped: two
nuclei under one id), by discovery for the masks it samples and by the fingerprint for the training masks
it reads beyond them; the plan says the images' bit depth where it names their channels, and one
percentile range per channel of a multi-channel image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from unetkit.planning.discovery import discover
from unetkit.planning.fingerprint import fingerprint
from unetkit.planning.plan import dataset_config

SIZE = 64


def _labels(objects: int) -> np.ndarray:
    """uint16 instance labels 1..``objects``: 2x2 squares on a 3 px grid (up to 441 of them)."""
    lab = np.zeros((SIZE, SIZE), np.uint16)
    k = 0
    for y in range(0, SIZE - 1, 3):
        for x in range(0, SIZE - 1, 3):
            if k < objects:
                lab[y : y + 2, x : x + 2] = k + 1
                k += 1
    return lab


def _folder(root: Path, n: int = 10, wrapped: int | None = None, exposure: bool = False) -> Path:
    """``n`` 2-channel uint16 TIFFs (channel 0 dim, channel 1 bright) with uint16 instance labels of 70+
    ids; label ``wrapped`` is saved as uint8 with 300 ids wrapped past 255; ``exposure``: images 1..4x
    brighter in turn (a per-image window)."""
    rng = np.random.default_rng(0)
    for i in range(n):
        lab = _labels(300 if i == wrapped else 70 + i)
        img = np.stack([rng.normal(1000, 100, (SIZE, SIZE)), rng.normal(5000, 300, (SIZE, SIZE))], -1)
        img[lab > 0] += (500, 3000)
        img *= 1 + i % 4 if exposure else 1
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "labels").mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(
            root / "images" / f"im{i:02d}.tif",
            img.astype(np.uint16),
            photometric="minisblack",
            planarconfig="contig",
        )
        tifffile.imwrite(
            root / "labels" / f"im{i:02d}.tif", (lab % 256).astype(np.uint8) if i == wrapped else lab
        )
    return root


WRAPPED = (
    "labels/im01.tif is 8-bit while the other 6 sampled label images are 16-bit (uint16), and its ids reach "
    "255: ids past 255 may have wrapped (two objects under one id, id 256 lost as background); save it at "
    "16 bits"
)


def test_wrapped_8bit_label_among_16bit_is_noted(tmp_path: Path) -> None:
    layout = discover(_folder(tmp_path / "d", wrapped=1))
    assert layout.mask.kind == "instances"  # noted, not refused
    assert WRAPPED in layout.notes
    assert WRAPPED in layout.to_dict()["notes"]  # dataset.json
    # Said once: the fingerprint names only files discovery did not.
    assert not any("may have wrapped" in n for n in fingerprint(layout).notes)


def test_8bit_labels_below_255_or_all_16bit_are_not_noted(tmp_path: Path) -> None:
    ok = discover(_folder(tmp_path / "ok"))
    assert not any("may have wrapped" in n for n in ok.notes)
    few = _folder(tmp_path / "few")
    tifffile.imwrite(few / "labels" / "im02.tif", _labels(40).astype(np.uint8))  # 40 ids fit in 8 bits
    assert not any("may have wrapped" in n for n in discover(few).notes)


def test_fingerprint_names_a_wrapped_label_discovery_did_not_sample(tmp_path: Path) -> None:
    # Discovery reads 2 of the 7 training masks (im00, im06); the fingerprint reads all 7, im01 among them.
    layout = discover(_folder(tmp_path / "d", wrapped=1), mask_sample=2)
    assert not any("may have wrapped" in n for n in layout.notes)
    notes = fingerprint(layout).notes
    assert any(n.startswith("labels/im01.tif is 8-bit while the other 6 sampled label images") for n in notes)


def test_plan_says_bit_depth_and_one_range_per_channel(tmp_path: Path) -> None:
    layout = discover(_folder(tmp_path / "d", exposure=True))
    fp = fingerprint(layout)
    assert (fp.bit_depth, fp.dtype) == (16, "uint16")
    _, reasons, _ = dataset_config(layout, fp)
    assert "images: 16-bit (uint16), 2 channels, splits from" in reasons["data.options"]
    assert "non-photo images: 16-bit (uint16), 2 channels, not RGB; 0.5-99.5 percentile range ch0 " in (
        fp.normalization_reason
    )
    # Per-image window: each channel's range of the images' own bright ends; the dim channel's is lower.
    assert "their own 99.8th percentiles span ch0 " in fp.window_reason
    ch0, ch1 = (
        fp.window_reason.split("span ch0 ")[1].split(" (10th-90th")[0].split(", ch1 ")  # "a..b", "c..d"
    )
    assert float(ch0.split("..")[1]) < float(ch1.split("..")[0])
    assert "the brightest channel's " in fp.window_reason


def test_fixed_window_names_each_channel(tmp_path: Path) -> None:
    fp = fingerprint(discover(_folder(tmp_path / "d")))  # one exposure: one window for all images
    assert fp.window_reason.startswith("16-bit images with values ch0 ")
    assert ": stored values ch0 " in fp.window_reason and ", ch1 " in fp.window_reason
