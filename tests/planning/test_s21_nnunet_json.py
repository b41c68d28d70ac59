"""An nnU-Net dataset.json beyond its labels (a user trial migrating from nnU-Net): its channel_names decide
the normalisation where unetkit can follow them and the reason says where it differs; numTraining and
file_ending that disagree with the files found are notes naming both; a case of several channel files is
asked to be stacked into a file that can hold them (.tif, not .png, for 2 or 4+ channels)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unetkit.planning import discover, fingerprint

SIZE = 32
# How a multi-channel TIFF unetkit reads is written (a plain imwrite of (H, W, 2) reads as a 2-page stack).
TIFF_WRITE = "tifffile.imwrite(path, array_hwc, photometric='minisblack', planarconfig='contig')"


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _labels(i: int) -> np.ndarray:
    m = np.zeros((SIZE, SIZE), np.uint8)
    m[4:20, 4 + i % 5 : 20] = 1
    return m


def _image(i: int) -> np.ndarray:
    """Dark background (about 20), bright foreground (about 200) where _labels is 1."""
    rng = np.random.default_rng(i)
    image = rng.integers(10, 30, (SIZE, SIZE)).astype(np.uint8)
    fg = _labels(i) > 0
    image[fg] = rng.integers(190, 211, int(fg.sum())).astype(np.uint8)
    return image


def _nnunet(root: Path, channel_names: object = None, n: int = 12, **extra: object) -> Path:
    for i in range(n):
        _save(root / "imagesTr" / f"case_{i:03d}_0000.png", _image(i))
        _save(root / "labelsTr" / f"case_{i:03d}.png", _labels(i))
    data: dict[str, object] = {
        "labels": {"background": 0, "cell": 1},
        "numTraining": n,
        "file_ending": ".png",
    }
    if channel_names is not None:
        data["channel_names"] = channel_names
    (root / "dataset.json").write_text(json.dumps(data | extra))
    return root


# ------------------------------------------------------------------------------ channel_names


def test_ct_clips_to_the_foreground_percentiles_and_z_scores_the_foreground(tmp_path: Path) -> None:
    layout = discover(_nnunet(tmp_path / "ct", {"0": "CT"}))
    assert layout.channel_names == ("CT",) and layout.to_dict()["channel_names"] == ["CT"]
    fp = fingerprint(layout)
    assert fp.normalization == "zscore"
    assert isinstance(fp.intensity_window, list)
    ((lo, hi),) = fp.intensity_window
    assert 188 <= lo <= 192 and 208 <= hi <= 212  # the foreground's range, not the background's 10..30
    assert "0.5-99.5 percentiles" in fp.window_reason and "nnU-Net's CT clip" in fp.window_reason
    # The foreground's mean/std on the window's 0..255 scale: about mid-range and wide, not the images'.
    assert 0.3 < fp.mean[0] < 0.7 and fp.std[0] > 0.2
    assert "dataset.json's channel_names say CT: nnU-Net would clip" in fp.normalization_reason
    assert "training foreground's mean/std" in fp.normalization_reason


def test_rgb_to_0_1_divides_by_255_where_the_pixels_alone_would_z_score(tmp_path: Path) -> None:
    fp = fingerprint(discover(_nnunet(tmp_path / "rgb", {"0": "rgb_to_0_1"})))
    assert (fp.normalization, fp.mean, fp.std) == ("unit", (0.0,), (1.0,))
    assert (
        fp.normalization_reason
        == "x / 255 (dataset.json's channel_names say rgb_to_0_1: nnU-Net would divide by 255)"
    )
    plain = fingerprint(discover(_nnunet(tmp_path / "gray")))  # no channel_names: the pixels' choice
    assert plain.normalization == "zscore" and "nnU-Net" not in plain.normalization_reason


def test_nonorm_and_other_names_say_what_nnunet_would_do_differently(tmp_path: Path) -> None:
    none = fingerprint(discover(_nnunet(tmp_path / "nonorm", {"0": "noNorm"})))
    assert none.normalization == "unit"
    assert "noNorm: nnU-Net would leave the stored values as they are; unetkit divides by 255" in (
        none.normalization_reason
    )
    em = fingerprint(discover(_nnunet(tmp_path / "em", {"0": "EM"})))
    assert em.normalization == "zscore" and em.intensity_window is None
    assert (
        "dataset.json's channel_names say EM: nnU-Net would z-score each image with its own mean/std; "
        "unetkit uses one mean/std for all images"
    ) in em.normalization_reason
    assert "nnU-Net's rule" not in em.normalization_reason


def test_colour_photos_named_r_g_b_keep_x_255_and_say_nnunet_would_z_score(tmp_path: Path) -> None:
    root = _nnunet(tmp_path / "photos", {"0": "R", "1": "G", "2": "B"})
    rng = np.random.default_rng(0)
    for i in range(12):
        _save(root / "imagesTr" / f"case_{i:03d}_0000.png", rng.integers(0, 256, (SIZE, SIZE, 3), np.uint8))
    fp = fingerprint(discover(root))
    assert fp.normalization == "unit"
    assert fp.normalization_reason.endswith(
        "dataset.json's channel_names say R, G, B: nnU-Net would z-score each image with its own mean/std; "
        "unetkit divides colour photos by 255 all the same)"
    )


def test_channel_names_of_another_channel_count_are_said_not_followed(tmp_path: Path) -> None:
    fp = fingerprint(discover(_nnunet(tmp_path / "two", {"0": "rgb_to_0_1", "1": "rgb_to_0_1"})))
    assert fp.normalization == "zscore"
    assert fp.normalization_reason.endswith(
        "dataset.json's channel_names (rgb_to_0_1, rgb_to_0_1) name 2 channels, the images have 1: "
        "not followed"
    )


# ------------------------------------------------------------------------------ numTraining, file_ending


def test_num_training_that_disagrees_is_a_note_naming_both_counts(tmp_path: Path) -> None:
    root = _nnunet(tmp_path / "count", numTraining=14)
    notes = [n for n in discover(root).notes if "numTraining" in n]
    assert notes == [
        f"{root / 'dataset.json'} gives numTraining 14, but 12 labelled cases were found; all 12 are used "
        "(correct numTraining if nnU-Net is to read this folder too)"
    ]
    assert not [n for n in discover(_nnunet(tmp_path / "right")).notes if "numTraining" in n]


def test_files_of_another_ending_than_file_ending_are_named(tmp_path: Path) -> None:
    root = _nnunet(tmp_path / "ending")
    (root / "imagesTr" / "case_005_0000.png").unlink()
    _save(root / "imagesTr" / "case_005_0000.tif", _image(5))
    layout = discover(root)
    assert len(layout.samples) == 12
    note = next(n for n in layout.notes if "file_ending" in n)
    assert (
        "gives file_ending '.png', but 1 of the 24 images and masks end otherwise: case_005_0000.tif;" in note
    )


# ------------------------------------------------------------------------------ channel files


@pytest.mark.parametrize(
    ("channels", "named"),
    [
        (2, f"a 2-channel TIFF named case_000_0000.tif ({TIFF_WRITE})"),
        (3, "an RGB image (or a 3-channel TIFF) named case_000_0000.png"),
        (4, f"a 4-channel TIFF named case_000_0000.tif ({TIFF_WRITE})"),
    ],
)
def test_several_channel_files_are_asked_for_a_file_that_holds_them(
    tmp_path: Path, channels: int, named: str
) -> None:
    root = _nnunet(tmp_path / f"c{channels}")
    for c in range(1, channels):
        for i in range(12):
            _save(root / "imagesTr" / f"case_{i:03d}_{c:04d}.png", _image(50 + i))
    with pytest.raises(ValueError, match=r"case 'case_000' has \d channel files") as raised:
        discover(root)
    assert str(raised.value).endswith(f"stack the channels into one file per case: {named}")


def test_the_tiff_the_refusal_asks_for_is_read_with_its_channels(tmp_path: Path) -> None:
    """Written as the message says, two channels and their two channel names are read as such."""
    tifffile = pytest.importorskip("tifffile")
    root = _nnunet(tmp_path / "stacked", {"0": "EM", "1": "CT"}, file_ending=".tif")
    for i in range(12):
        (root / "imagesTr" / f"case_{i:03d}_0000.png").unlink()
        stacked = np.stack([_image(i), _image(50 + i)], axis=-1)
        tifffile.imwrite(
            root / "imagesTr" / f"case_{i:03d}_0000.tif",
            stacked,
            photometric="minisblack",
            planarconfig="contig",
        )
    layout = discover(root)
    assert layout.channels == 2 and layout.channel_names == ("EM", "CT")
    reason = fingerprint(layout).normalization_reason
    assert (
        "dataset.json's channel_names say EM, CT: nnU-Net would z-score each image with its own mean/std "
        "(channel 0, EM); clip to the foreground's 0.5-99.5 percentiles, then z-score with the foreground's "
        "mean/std (channel 1, CT); unetkit uses one mean/std for all images"
    ) in reason
