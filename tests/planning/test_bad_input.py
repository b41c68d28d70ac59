"""Item 5 of issue 12: each bad input is a one-line ValueError naming the file and the fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from unetkit.planning import discover

MakeDataset = Callable[..., Path]


def _one_line(err: pytest.ExceptionInfo[ValueError]) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def test_image_without_mask(make_dataset: MakeDataset) -> None:
    root = make_dataset()
    (root / "masks" / "img03.png").unlink()
    with pytest.raises(ValueError) as err:
        discover(root)
    text = _one_line(err)
    assert "img03.png has no mask" in text and "--unmatched skip" in text


def test_mask_without_image(make_dataset: MakeDataset) -> None:
    root = make_dataset()
    (root / "images" / "img05.png").unlink()
    with pytest.raises(ValueError) as err:
        discover(root)
    assert "mask" in _one_line(err) and "img05.png has no image" in str(err.value)


def test_unmatched_skip_reports_the_files(make_dataset: MakeDataset) -> None:
    root = make_dataset()
    (root / "images" / "img05.png").unlink()
    layout = discover(root, unmatched="skip")
    assert len(layout.samples) == 11
    assert [Path(s).name for s in layout.skipped] == ["img05.png"]
    assert any("img05.png" in n for n in layout.notes)


def test_mask_of_another_size(px: SimpleNamespace, make_dataset: MakeDataset) -> None:
    root = make_dataset()
    px.write(root / "masks" / "img04.png", np.zeros((30, 32), np.uint8))
    with pytest.raises(ValueError) as err:
        discover(root)
    text = _one_line(err)
    assert "img04.png is 32x30" in text and "resize the mask" in text


def test_photo_stored_sideways_is_read_upright_and_a_mask_of_its_stored_size_is_named(
    px: SimpleNamespace, make_dataset: MakeDataset
) -> None:
    # A phone photo stored 48x32 with EXIF orientation 6 shows as 32x48, and its mask was drawn on that: it
    # is read upright (as viewers show it), and its shown size is its size; said once in the notes.
    from PIL import Image

    root = make_dataset()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.zeros((32, 48), np.uint8)).save(root / "images" / "img04.png", exif=exif)
    px.write(root / "masks" / "img04.png", np.zeros((48, 32), np.uint8))
    layout = discover(root)
    assert layout.sizes[4] == (48, 32)
    assert (
        "1 images carry an EXIF orientation (e.g. img04.png); read upright, as viewers show them"
        in " ".join(layout.notes)
    )
    # A mask made on the pixels as stored: named, with the orientation and the fix.
    px.write(root / "masks" / "img04.png", np.zeros((32, 48), np.uint8))
    with pytest.raises(ValueError) as err:
        discover(root)
    text = _one_line(err)
    assert "img04.png is 48x32" in text and "EXIF orientation 6 and is read upright" in text
    assert "turn the mask upright too" in text
    # Turned by 90 degrees without an EXIF orientation: said so, not "resize".
    Image.fromarray(np.zeros((32, 48), np.uint8)).save(root / "images" / "img04.png")
    px.write(root / "masks" / "img04.png", np.zeros((48, 32), np.uint8))
    with pytest.raises(ValueError, match=r"the mask is the image turned by 90 degrees"):
        discover(root)


def test_roi_of_another_size(px: SimpleNamespace, make_dataset: MakeDataset) -> None:
    root = make_dataset()
    for i in range(12):
        px.write(root / "roi" / f"img{i:02d}.png", np.full((32, 32) if i != 7 else (16, 16), 255, np.uint8))
    with pytest.raises(ValueError) as err:
        discover(root)
    text = _one_line(err)
    assert "ROI" in text and "roi/img07.png" in text


def test_too_small_to_split(make_dataset: MakeDataset) -> None:
    with pytest.raises(ValueError) as err:
        discover(make_dataset(n=5))
    text = _one_line(err)
    assert "only 5 image/mask pairs" in text and "val/" in text


def test_mixed_channel_counts(px: SimpleNamespace, make_dataset: MakeDataset) -> None:
    root = make_dataset()
    px.write(root / "images" / "img02.png", np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(ValueError) as err:
        discover(root)
    text = _one_line(err)
    assert "img02.png has 3 channel(s)" in text and "grayscale" in text


def test_a_few_images_of_another_channel_count_are_read_converted(
    px: SimpleNamespace, make_dataset: MakeDataset
) -> None:
    # Oxford-IIIT Pet: a few gray JPEGs among colour photos. One gray image of 24 (4%) is converted (gray ->
    # RGB is lossless) and said; the plan's fingerprint reads it converted too.
    from unetkit.planning import fingerprint

    colour = make_dataset(n=24, image=lambda i: np.repeat(px.gray_image(i)[..., None], 3, 2) + np.uint8(i))
    px.write(colour / "images" / "img05.png", px.gray_image(5))
    layout = discover(colour)
    assert layout.channels == 3 and layout.convert_channels
    assert any("1 of 24 images are not RGB (img05.png): they are read as RGB" in n for n in layout.notes)
    assert layout.folder_options()[0]["convert_channels"] is True
    assert fingerprint(layout).channels == 3
    from unetkit.planning.plan import data_probe

    assert data_probe(layout, (32, 32), {}, n=24) > 0  # the plan's timing reads every image converted


def test_colour_and_gray_masks_mixed(px: SimpleNamespace, make_dataset: MakeDataset) -> None:
    root = make_dataset()
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[:4] = (200, 10, 10)
    px.write(root / "masks" / "img06.png", rgb)
    with pytest.raises(ValueError) as err:
        discover(root, mask_sample=100)
    assert "img06.png is a colour image" in _one_line(err)


def test_no_masks_folder(px: SimpleNamespace, tmp_path: Path) -> None:
    px.write(tmp_path / "d" / "images" / "a.png", np.zeros((8, 8), np.uint8))
    px.write(tmp_path / "d" / "tracings" / "a.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError) as err:
        discover(tmp_path / "d")
    text = _one_line(err)
    # The folders found and the option a command-line user types to name the right one (the one folder
    # besides images/: named).
    assert "no masks/" in text and "it holds images/, tracings/" in text and "--masks tracings" in text


def test_split_folders_too_small_to_carve_a_validation_split(
    tmp_path: Path, make_dataset: MakeDataset
) -> None:
    root = tmp_path / "splits"
    make_dataset(n=4, root=root / "train")
    make_dataset(n=2, root=root / "test")
    with pytest.raises(ValueError) as err:
        discover(root)
    text = _one_line(err)
    assert "train/, test/" in text and "4 training images are too few" in text and "val/ folder" in text


def test_a_named_folder_that_does_not_exist(make_dataset: MakeDataset) -> None:
    root = make_dataset()
    with pytest.raises(ValueError) as err:
        discover(root, roi_dir="field")
    text = _one_line(err)
    assert "roi_dir (--roi) names folder" in text and "field, which does not exist" in text
    assert "it holds images/, masks/" in text


def test_hidden_files_plan_skips_are_skipped_by_the_builder_too(make_dataset: MakeDataset) -> None:
    # plan reported the pairs, then fit stopped at "image .../.hidden.png has no mask": discovery skipped the
    # hidden image, the folder builder did not.
    from unetkit.data.datasets import get_dataset_spec

    root = make_dataset()
    (root / "images" / ".hidden.png").write_bytes((root / "images" / "img00.png").read_bytes())
    (root / "images" / "._img01.png").write_bytes(b"\0\5\26\7")  # macOS resource fork
    (root / "images" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "train.txt").write_text("\n".join(f"img{i:02d}" for i in range(9)) + "\n")
    (root / "val.txt").write_text("img09\nimg10\nimg11\n")
    layout = discover(root)
    assert len(layout.samples) == 12
    opts, _ = layout.folder_options()
    assert "pairs" not in opts  # the folder rule, which lists the folders itself
    spec = get_dataset_spec("folder", root=root, **opts, mean=[0.5], std=[0.25])
    for split in layout.splits:
        assert spec.pairs(split) == [(s.image, s.mask) for s in layout.samples_of(split)]
