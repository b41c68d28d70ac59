"""discover() on the mask formats of the trial report: palette (P) masks read by index or by colour, 16-bit
and float binary masks, classes files that do not fit colour masks, transparent masks, sparse values."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from unetkit.data.io import read_mask
from unetkit.data.mask_options import folder_encoding
from unetkit.planning import discover

MakeDataset = Callable[..., Path]

BLACK, RED, GREEN = (0, 0, 0), (255, 0, 0), (0, 255, 0)
BLUE, YELLOW = (0, 0, 255), (255, 255, 0)
COLOUR_CLASSES = [
    {"name": "background", "color": list(BLACK)},
    {"name": "round", "color": list(RED)},
    {"name": "rod", "color": list(GREEN)},
]


def truth(i: int) -> np.ndarray:
    """Classes 0 (background), 1 (round: a square block), 2 (rod: a bar), placed by ``i``."""
    m = np.zeros((32, 32), np.uint8)
    r = 2 + (i * 3) % 16
    m[r : r + 8, 2:10] = 1
    m[4:28, 20 + i % 6 : 23 + i % 6] = 2
    return m


def write_palette_mask(
    path: Path, classes: np.ndarray, colours: Sequence[tuple[int, int, int]], order: Any
) -> None:
    """A P mask showing class c in ``colours[c]``, its palette ordered by ``order`` (index k holds class
    ``order[k]``), as an editor's indexed-colour export orders each file's palette its own way."""
    order = list(order)
    indices = np.zeros_like(classes)
    for k, c in enumerate(order):
        indices[classes == c] = k
    img = Image.fromarray(indices, mode="P")
    img.putpalette([v for c in order for v in colours[c]])
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


ORDERS = [(0, 1, 2), (0, 2, 1), (1, 0, 2), (2, 1, 0), (1, 2, 0), (2, 0, 1)]


def palette_dataset(root: Path, px: SimpleNamespace, orders: Sequence[Any], n: int = 12) -> Path:
    for i in range(n):
        px.write(root / "images" / f"img{i:02d}.png", px.gray_image(i))
        write_palette_mask(
            root / "masks" / f"img{i:02d}.png", truth(i), (BLACK, RED, GREEN), orders[i % len(orders)]
        )
    return root


def write_classes(root: Path, data: Any) -> None:
    (root / "classes.json").write_text(json.dumps(data))


def decoded(root: Path, **options: Any) -> list[np.ndarray]:
    """Every mask as fit reads it, from the options discovery writes into the plan."""
    layout = discover(root, **options)
    encoding = folder_encoding(layout.folder_options()[0])
    return [read_mask(s.mask, encoding) for s in layout.samples]


def _one_line(err: pytest.ExceptionInfo[ValueError]) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


# ------------------------------------------------------------------------------------------ palette masks


@pytest.mark.parametrize("with_classes", [True, False])
def test_palette_masks_with_their_own_palette_order_are_read_by_colour(
    tmp_path: Path, px: SimpleNamespace, with_classes: bool
) -> None:
    root = palette_dataset(tmp_path / "data", px, ORDERS)
    if with_classes:
        write_classes(root, {"classes": COLOUR_CLASSES})
    layout = discover(root)
    assert layout.mask.kind == "palette"
    note = next(n for n in layout.notes if "palette (indexed-colour) images" in n)
    assert "read as colour masks through their palettes" in note and "their palettes differ" in note
    got = decoded(root)
    if with_classes:  # the classes file's order
        assert layout.mask.class_names == ("background", "round", "rod")
        for i, classes in enumerate(got):
            np.testing.assert_array_equal(classes, truth(i))
    else:  # one class per colour (sorted by RGB: black, green, red), the same pixels in every file
        by_colour = {c: i for i, c in (layout.mask.colors or {}).items()}
        lut = np.array([by_colour[BLACK], by_colour[RED], by_colour[GREEN]])
        for i, classes in enumerate(got):
            np.testing.assert_array_equal(classes, lut[truth(i)])


def test_palette_masks_whose_palettes_agree_are_class_indices(tmp_path: Path, px: SimpleNamespace) -> None:
    root = palette_dataset(tmp_path / "data", px, [(0, 1, 2)])
    layout = discover(root)
    assert (layout.mask.kind, layout.mask.num_classes) == ("index", 3)
    assert any(
        "whose palettes agree on the colour of every index they use: the index is the class" in n
        for n in layout.notes
    )
    write_classes(root, {"classes": COLOUR_CLASSES})
    layout = discover(root)
    assert layout.mask.kind == "index"
    assert any(
        "agree on the colour of every index they use and with the classes file" in n for n in layout.notes
    )


@pytest.mark.parametrize("suffix", [".png", ".tif", ".bmp"])
def test_the_class_colours_of_agreeing_palette_masks_come_from_their_palette(
    tmp_path: Path, px: SimpleNamespace, suffix: str
) -> None:
    """The plan drew class colours from PNG palettes only, while the mask reader (data.io.mask_palette) reads
    TIFF and BMP palettes too: one reader now, every format it reads."""
    root = tmp_path / "data"
    for i in range(12):
        px.write(root / "images" / f"img{i:02d}.png", px.gray_image(i))
        write_palette_mask(root / "masks" / f"img{i:02d}{suffix}", truth(i), (BLACK, RED, GREEN), (0, 2, 1))
    layout = discover(root)
    assert (layout.mask.kind, layout.mask.colors) == ("index", {0: BLACK, 1: GREEN, 2: RED})
    assert any("class colours from the palette of the masks" in n for n in layout.notes)


def test_a_classes_file_whose_colours_disagree_with_the_palette_order_wins_by_colour(
    tmp_path: Path, px: SimpleNamespace
) -> None:
    # Every file's palette draws index 1 green and index 2 red, and the user's classes.json says red is
    # "round": the colours decide, so the green objects are "rod" (they had been named "round" and drawn
    # red).
    root = palette_dataset(tmp_path / "data", px, [(0, 2, 1)])
    write_classes(root, {"classes": COLOUR_CLASSES})
    layout = discover(root)
    assert layout.mask.kind == "palette"
    assert layout.mask.colors == {0: BLACK, 1: RED, 2: GREEN}
    assert any(
        "draws index 1 as [0, 255, 0], but" in n and "class 'round' (value 1) [255, 0, 0]" in n
        for n in layout.notes
    )
    for i, classes in enumerate(decoded(root)):
        np.testing.assert_array_equal(classes, truth(i))


def other_tools_palette(root: Path) -> Path:
    """The trial's masks (N2): the same indices in every file, VOC-style colours, a gray palette (index i
    drawn (i, i, i)) in some files and, in img01, another tool's palette (1 blue, 2 yellow)."""
    for i in (3, 5, 7, 9):
        write_palette_mask(
            root / "masks" / f"img{i:02d}.png", truth(i), (BLACK, (1, 1, 1), (2, 2, 2)), (0, 1, 2)
        )
    write_palette_mask(root / "masks" / "img01.png", truth(1), (BLACK, BLUE, YELLOW), (0, 1, 2))
    return root


def test_another_tools_palette_over_the_same_indices_asks_how_to_read_the_masks(
    tmp_path: Path, px: SimpleNamespace
) -> None:
    # Read by colour, each class would split into colour variants (7 "classes"); read by index the three
    # classes are right. Neither reading is chosen without a word: the refusal names both fixes.
    root = other_tools_palette(palette_dataset(tmp_path / "data", px, [(0, 1, 2)]))
    with pytest.raises(ValueError) as err:
        discover(root)
    text = _one_line(err)
    assert (
        "the palettes of the masks differ (mask " in text
        and "masks/img01.png draws index 1 as [0, 0, 255]" in text
    )
    assert "read by colour they make 7 classes, read by index 3" in text
    assert "pass --mask-kind index if the indices are the classes" in text
    assert "list each class's colour in classes.json" in text
    # --mask-kind index: the three classes, every pixel right.
    layout = discover(root, mask_kind="index")
    assert (layout.mask.kind, layout.mask.num_classes) == ("index", 3)
    for i, classes in enumerate(decoded(root, mask_kind="index")):
        np.testing.assert_array_equal(classes, truth(i))
    # A classes file of the colours settles it: read by colour, one class per colour listed.
    colours = [BLACK, RED, GREEN, (1, 1, 1), (2, 2, 2), BLUE, YELLOW]
    write_classes(root, {"classes": [{"name": f"c{k}", "color": list(c)} for k, c in enumerate(colours)]})
    layout = discover(root)
    assert (layout.mask.kind, layout.mask.num_classes) == ("palette", 7)
    assert any("their palettes differ (img01.png draws index 1 as [0, 0, 255]" in n for n in layout.notes)


def test_a_palette_drawing_two_indices_in_one_colour_is_still_read_by_colour(
    tmp_path: Path, px: SimpleNamespace
) -> None:
    # img01 shows indices 1 and 2 both blue: its indices are not one colour each, so the index reading is
    # not the consistent one; the masks are read by colour (as shown), with the note.
    root = palette_dataset(tmp_path / "data", px, [(0, 1, 2)])
    write_palette_mask(root / "masks" / "img01.png", truth(1), (BLACK, BLUE, BLUE), (0, 1, 2))
    layout = discover(root)
    assert (layout.mask.kind, layout.mask.num_classes) == ("palette", 4)
    assert any("their palettes differ (img01.png draws index 1 as [0, 0, 255]" in n for n in layout.notes)


def test_a_classes_file_of_values_on_reordered_palettes_names_mask_kind_index(
    tmp_path: Path, px: SimpleNamespace
) -> None:
    root = palette_dataset(tmp_path / "data", px, ORDERS)
    write_classes(root, {"classes": [{"name": n, "value": v} for v, n in enumerate(("bg", "round", "rod"))]})
    with pytest.raises(ValueError) as err:
        discover(root)
    text = _one_line(err)
    assert (
        'classes.json gives the classes by "value", but the masks are palette images whose palettes' in text
    )
    assert "differ (img01.png draws index 1 as [0, 255, 0], img00.png as [255, 0, 0])" in text
    assert "pass --mask-kind index if the indices are the classes" in text
    # --mask-kind index reads the indices, named by the file's values (here the indices of each file's own
    # palette order, as the user asked).
    layout = discover(root, mask_kind="index")
    assert layout.mask.kind == "index" and layout.mask.class_names == ("bg", "round", "rod")
    order = np.array(ORDERS[1])
    np.testing.assert_array_equal(decoded(root, mask_kind="index")[1], np.argsort(order)[truth(1)])


def test_a_palette_colour_in_no_class_is_named_with_its_file(tmp_path: Path, px: SimpleNamespace) -> None:
    root = palette_dataset(tmp_path / "data", px, [(0, 1, 2)])
    write_palette_mask(root / "masks" / "img03.png", truth(3), (BLACK, RED, (0, 0, 255)), (0, 1, 2))
    write_classes(root, {"classes": COLOUR_CLASSES})
    with pytest.raises(ValueError) as err:
        discover(root)
    assert "masks/img03.png holds colour [0, 0, 255] that" in _one_line(err)


def test_rgb_and_palette_masks_of_the_same_colours_mix(tmp_path: Path, px: SimpleNamespace) -> None:
    root = palette_dataset(tmp_path / "data", px, [(0, 1, 2)])
    colours = np.array([BLACK, RED, GREEN], np.uint8)
    for i in range(0, 12, 2):
        px.write(root / "masks" / f"img{i:02d}.png", colours[truth(i)])
    layout = discover(root)
    assert layout.mask.kind == "palette"
    assert any("they are mixed with RGB masks" in n for n in layout.notes)
    by_colour = {c: i for i, c in (layout.mask.colors or {}).items()}
    lut = np.array([by_colour[BLACK], by_colour[RED], by_colour[GREEN]])
    for i, classes in enumerate(decoded(root)):
        np.testing.assert_array_equal(classes, lut[truth(i)])


# ------------------------------------------------------------------------------------- deep binary masks


@pytest.mark.parametrize(("dtype", "high"), [(np.uint16, 255), (np.uint16, 65535), (np.float32, 255)])
def test_binary_masks_stored_16_bit_or_float_are_binary(
    make_dataset: MakeDataset, dtype: type, high: int
) -> None:
    import tifffile

    root = make_dataset(mask=lambda i: np.zeros((32, 32), np.uint8))
    for i in range(12):
        (root / "masks" / f"img{i:02d}.png").unlink()
        mask = (truth(i) > 0).astype(dtype) * dtype(high)
        tifffile.imwrite(root / "masks" / f"img{i:02d}.tif", mask)
    layout = discover(root)
    assert (layout.mask.kind, layout.mask.num_classes) == ("binary", 2)
    for i, classes in enumerate(decoded(root)):
        np.testing.assert_array_equal(classes, (truth(i) > 0).astype(np.int64))


def test_one_16_bit_value_in_every_mask_is_binary_not_instances(make_dataset: MakeDataset) -> None:
    """0/1000 in every mask: a binary mask at a scale of its own (instance scores would take each image's
    objects as one object)."""
    import tifffile

    root = make_dataset(mask=lambda i: np.zeros((32, 32), np.uint8))
    for i in range(12):
        (root / "masks" / f"img{i:02d}.png").unlink()
        tifffile.imwrite(root / "masks" / f"img{i:02d}.tif", (truth(i) > 0).astype(np.uint16) * 1000)
    layout = discover(root)
    assert (layout.mask.kind, layout.mask.num_classes) == ("remap", 2)
    assert layout.mask.class_names == ("background", "foreground")
    assert any("holds 0 and 1000 only" in n and "--mask-kind instances" in n for n in layout.notes)
    for i, classes in enumerate(decoded(root)):
        np.testing.assert_array_equal(classes, (truth(i) > 0).astype(np.int64))
    assert discover(root, mask_kind="instances").mask.kind == "instances"  # the option still settles it


def test_instance_labels_with_several_values_per_file_stay_instances(make_dataset: MakeDataset) -> None:
    def labels(i: int) -> np.ndarray:
        m = np.zeros((32, 32), np.uint16)
        m[2:8, 2:8], m[12:20, 12:20] = 300 + i, 301 + i
        return m

    assert discover(make_dataset(mask=labels)).mask.kind == "instances"


# ------------------------------------------------------------------------- classes files on colour masks


def colour_masks(make_dataset: MakeDataset) -> Path:
    colours = np.array([BLACK, RED, GREEN], np.uint8)
    return make_dataset(mask=lambda i: colours[truth(i)])


def test_a_classes_file_of_values_on_colour_masks_is_refused(make_dataset: MakeDataset) -> None:
    root = colour_masks(make_dataset)
    write_classes(root, {"classes": [{"name": n, "value": v} for v, n in enumerate(("bg", "round", "rod"))]})
    with pytest.raises(ValueError) as err:
        discover(root)
    text = _one_line(err)
    assert 'classes.json gives the classes by "value", but the masks are colour images' in text
    assert 'each class needs a "color"' in text


def test_two_classes_of_the_same_colour_are_named(make_dataset: MakeDataset) -> None:
    root = colour_masks(make_dataset)
    write_classes(root, {"classes": [*COLOUR_CLASSES, {"name": "pole", "color": list(GREEN)}]})
    with pytest.raises(ValueError) as err:
        discover(root)
    assert "classes 'rod' and 'pole' have the same colour [0, 255, 0]" in _one_line(err)


def test_masks_with_transparent_pixels_are_refused(make_dataset: MakeDataset) -> None:
    def rgba(i: int) -> np.ndarray:
        m = np.zeros((32, 32, 4), np.uint8)
        m[..., :3] = 255  # the hidden colour of the transparent background
        m[truth(i) == 1] = (*RED, 255)
        return m

    root = make_dataset(mask=rgba)
    with pytest.raises(ValueError) as err:
        discover(root)
    text = _one_line(err)
    assert f"mask {root / 'masks' / 'img00.png'} has {int((truth(0) != 1).sum())} transparent pixels" in text
    assert "flatten the masks onto their background colour, or save them without alpha" in text


# ------------------------------------------------------------------------------------------ value sets


def test_sparse_values_are_refused_as_index_classes(make_dataset: MakeDataset) -> None:
    # {10, 20, 30} read as indices is a 31-class model with 28 classes in no mask: refused as {0, 128, 255}
    # is, naming both readings.
    root = make_dataset(mask=lambda i: (truth(i) + 1) * 10)
    with pytest.raises(ValueError) as err:
        discover(root)
    text = _one_line(err)
    assert "masks hold values {10, 20, 30}" in text and "31 classes, 28 of them in no mask" in text
    assert "--mask-kind remap" in text and "--mask-kind index" in text
    assert discover(root, mask_kind="index").mask.num_classes == 31
    assert discover(root, mask_kind="remap").mask.num_classes == 3


def test_one_empty_class_below_the_values_is_kept(make_dataset: MakeDataset) -> None:
    layout = discover(make_dataset(mask=lambda i: np.where(truth(i) == 2, 2, 1).astype(np.uint8)))
    assert (layout.mask.kind, layout.mask.num_classes, layout.mask.gaps) == ("index", 3, (0,))


def test_a_public_layout_naming_classes_by_value_keeps_its_sparse_values(tmp_path: Path) -> None:
    # Pascal VOC masks holding only person (15) are VOC's 21 classes, not a sparse-value refusal.
    from unetkit.palette import _voc_color

    root = tmp_path / "VOC2012"
    palette = [v for i in range(256) for v in _voc_color(i)]
    names = [f"2007_{i:06d}" for i in range(12)]
    for i, name in enumerate(names):
        (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((32, 32, 3), 40 + i, np.uint8)).save(root / "JPEGImages" / f"{name}.jpg")
        m = np.where(truth(i) == 1, 15, 0).astype(np.uint8)
        m[0] = 255
        img = Image.fromarray(m, mode="P")
        img.putpalette(palette)
        (root / "SegmentationClass").mkdir(parents=True, exist_ok=True)
        img.save(root / "SegmentationClass" / f"{name}.png")
    lists = root / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True)
    (lists / "train.txt").write_text("\n".join(names[:9]) + "\n")
    (lists / "val.txt").write_text("\n".join(names[9:]) + "\n")
    info = discover(root).mask
    assert (info.kind, info.num_classes, info.class_names[15]) == ("index", 21, "person")


def test_a_folder_of_webp_files_is_named_with_the_conversion(tmp_path: Path) -> None:
    """A folder of .webp photos said "holds no images ...; images in sub-folders are not searched" while the
    16 files lay right there (formats trial #9): the files, their format and the conversion are named."""
    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(tmp_path / "images" / f"{i}.webp")
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "masks" / f"{i}.png")
    with pytest.raises(
        ValueError, match=r"holds 3 \.webp files, which unetkit does not read .* convert them to PNG"
    ):
        discover(tmp_path)
    for i in range(3):
        (tmp_path / "images" / f"{i}.webp").rename(tmp_path / "images" / f"{i}.png")
        (tmp_path / "masks" / f"{i}.png").rename(tmp_path / "masks" / f"{i}.webp")
    with pytest.raises(ValueError, match=r"mask folder .* holds 3 \.webp files, .* save the masks as PNG"):
        discover(tmp_path)
