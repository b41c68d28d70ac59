"""Trial 24 S6/S7: colour (palette) masks holding colours their class table lacks. A resized or antialiased
mask (many blend colours between the class colours) is told to re-save with nearest-neighbour resizing, at
fit time (every mask decoded) and at plan time (a sampled mask past 256 colours), not to add each colour to
the classes file or that it is a photo; a handful of new colours is named with the pixels each covers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unetkit.data.io import MaskEncoding, read_mask
from unetkit.planning.discovery.classes import read_classes
from unetkit.planning.discovery.encoding import detect_encoding

# CamVid-like class colours (the trial's) and its void.
COLOURS = [(128, 128, 128), (128, 0, 0), (128, 64, 128), (60, 40, 222), (128, 128, 0), (64, 0, 128)]
VOID = (0, 0, 0)
ENCODING = MaskEncoding("palette", len(COLOURS), colors=dict(enumerate(COLOURS)), ignore_colors=(VOID,))
RESIZED = (
    r"most between listed class colours: it looks resized or antialiased; re-save it with nearest-neighbour "
    r"resizing \(no smoothing\)$"
)
STRAY_FIX = (
    r"; fix the mask, or add each colour to the classes file \(classes.json or classes.csv\) as a class or "
    r"as void \(or, where data.options gives the colours, to colors= or ignore_colors=\)$"
)


def class_mask(h: int = 192, w: int = 256, seed: int = 0) -> np.ndarray:
    """A nearest-neighbour class mask: blocks of the class colours and void."""
    rng = np.random.default_rng(seed)
    palette = np.array([*COLOURS, VOID], np.uint8)
    blocks = rng.integers(0, len(palette), (h // 16, w // 16))
    return palette[np.kron(blocks, np.ones((16, 16), np.int64))]


def resized(mask: np.ndarray) -> np.ndarray:
    """The trial's damage: up- and downscaled bilinearly (blend colours at every class edge)."""
    h, w = mask.shape[:2]
    big = Image.fromarray(mask).resize((w * 5 // 2, h * 5 // 2), Image.BILINEAR)
    return np.asarray(big.resize((w, h), Image.BILINEAR))


def save(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def n_colours(arr: np.ndarray) -> int:
    return len(np.unique(arr.reshape(-1, 3), axis=0))


# ------------------------------------------------------------------------------------------- fit (decode)


def test_a_resized_mask_is_told_to_resave_with_nearest_neighbour(tmp_path: Path) -> None:
    # The trial: 1153 colours, and the fix said to add each (the first 5 named) to classes.json.
    arr = resized(class_mask())
    unknown = n_colours(arr) - 7
    assert unknown > 100
    path = save(tmp_path / "masks" / "0001TP_006990.png", arr)
    with pytest.raises(ValueError) as caught:
        read_mask(path, ENCODING)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(
        f"palette mask {path} holds {unknown} colours not in the class colour table (e.g. "
    )
    assert "add each colour" not in text
    with pytest.raises(ValueError, match=RESIZED):
        read_mask(path, ENCODING)


def test_the_resized_examples_give_their_pixels_most_first(tmp_path: Path) -> None:
    arr = resized(class_mask(seed=3))
    path = save(tmp_path / "m.png", arr)
    with pytest.raises(ValueError) as caught:
        read_mask(path, ENCODING)
    shown = str(caught.value).split("(e.g. ", 1)[1].split("),", 1)[0]
    counts = [int(c) for c in re.findall(r": (\d+) px", shown)]
    assert len(counts) == 5 and counts == sorted(counts, reverse=True), shown
    assert shown.endswith(f"and {n_colours(arr) - 7 - 5} more")


def test_a_stray_patch_names_its_pixels_and_where_it_lies(tmp_path: Path) -> None:
    # S7: a 20x20 magenta slip and a whole region read alike ("has colours (255, 0, 255)").
    arr = class_mask()
    arr[40:60, 10:30] = (255, 0, 255)
    path = save(tmp_path / "m.png", arr)
    with pytest.raises(
        ValueError,
        match=rf"^palette mask \S*m\.png has 1 colour not in the class colour table: \(255, 0, 255\): 400 px "
        rf"\(it lies within x 10\.\.29, y 40\.\.59\){STRAY_FIX}",
    ):
        read_mask(path, ENCODING)


def test_a_few_new_colours_are_named_with_their_pixels_most_first(tmp_path: Path) -> None:
    # Genuinely new colours, most pixels on one between class colours (grey between void black and sky grey):
    # too few colours to be a resize's blends, so each is to fix or add, not re-save.
    arr = class_mask()
    arr[100:110, 100:110] = (64, 64, 64)  # 100 px, between void and sky
    arr[0:2, 0:3] = (255, 0, 255)  # 6 px
    arr[5, 5] = (0, 255, 0)  # 1 px
    path = save(tmp_path / "m.png", arr)
    with pytest.raises(
        ValueError,
        match=r"has 3 colours not in the class colour table: \(64, 64, 64\): 100 px, \(255, 0, 255\): 6 px, "
        rf"\(0, 255, 0\): 1 px \(the first lies within x 100\.\.109, y 100\.\.109\){STRAY_FIX}",
    ):
        read_mask(path, ENCODING)


def test_many_colours_that_are_no_blends_are_no_new_classes(tmp_path: Path) -> None:
    # A photo saved where a mask belongs: its colours are neither blends of the class colours nor classes.
    arr = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = save(tmp_path / "photo.png", arr)
    with pytest.raises(
        ValueError,
        match=r"holds \d+ colours not in the class colour table \(e\.g\. .*\): too many for new classes, and "
        r"most are no blend of the class colours \(a photo, or a mask saved lossily\?\); save the mask "
        r"losslessly with one listed colour per class$",
    ):
        read_mask(path, ENCODING)


def test_a_clean_mask_still_decodes(tmp_path: Path) -> None:
    arr = class_mask()
    out = read_mask(save(tmp_path / "m.png", arr), ENCODING)
    assert out.shape == arr.shape[:2] and set(np.unique(out).tolist()) <= {*range(len(COLOURS)), 255}


# ------------------------------------------------------------------------------------------- plan (sample)


def write_folder(root: Path, first: np.ndarray, classes: bool = True) -> list[Path]:
    paths = [save(root / "masks" / "a.png", first)]
    paths += [save(root / "masks" / f"b{i}.png", class_mask(seed=i + 1)) for i in range(3)]
    if classes:
        data = {"classes": [{"name": f"c{i}", "color": list(c)} for i, c in enumerate(COLOURS)]}
        (root / "classes.json").write_text(json.dumps({**data, "void": [list(VOID)]}))
    return paths


def test_plan_names_a_resized_mask_past_256_colours_not_a_photo(tmp_path: Path) -> None:
    # The trial's first (sampled) mask resized: "not a class palette (a photo or a lossy JPEG?)" for a PNG
    # whose other colours were exactly the classes'.
    arr = resized(class_mask(384, 512))
    assert n_colours(arr) > 256
    paths = write_folder(tmp_path, arr)
    with pytest.raises(ValueError) as caught:
        detect_encoding(paths, classes=read_classes(tmp_path))
    text = str(caught.value)
    assert "\n" not in text and "photo" not in text
    assert text.startswith(
        f"mask {paths[0]} holds {n_colours(arr) - 7} colours not in {tmp_path / 'classes.json'} (e.g. "
    )
    with pytest.raises(ValueError, match=RESIZED):
        detect_encoding(paths, classes=read_classes(tmp_path))


def test_plan_without_a_classes_file_measures_blends_of_the_main_colours(tmp_path: Path) -> None:
    arr = resized(class_mask(384, 512))
    paths = write_folder(tmp_path, arr, classes=False)
    with pytest.raises(
        ValueError,
        match=r"^mask \S*a\.png holds \d+ colours \(e\.g\. .*\), most between its 7 main colours: it looks "
        r"resized or antialiased; re-save it with nearest-neighbour resizing \(no smoothing\)$",
    ):
        detect_encoding(paths)


@pytest.mark.parametrize("classes", [True, False])
def test_plan_still_calls_a_photo_no_class_palette(tmp_path: Path, classes: bool) -> None:
    arr = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    paths = write_folder(tmp_path, arr, classes=classes)
    with pytest.raises(
        ValueError,
        match=r"^mask \S*a\.png and the masks before it hold more than 256 colours: not a class palette \(a "
        r"photo or a lossy JPEG\?\); save masks losslessly \(PNG/GIF\) with one colour per class$",
    ):
        detect_encoding(paths, classes=read_classes(tmp_path))


def test_plan_needs_main_colours_that_cover_most_of_the_mask(tmp_path: Path) -> None:
    # Without a classes file the main colours stand in for the classes only where they cover most of the
    # mask: a picture with a red and a blue area whose every other pixel shades from one to the other (each
    # shade on a few pixels) is no resized mask, though its shades are all between its two main colours.
    rng = np.random.default_rng(0)
    t = rng.random((96, 128))[..., None]
    arr = np.rint((1 - t) * np.array([255, 0, 0]) + t * np.array([0, 0, 255])).astype(np.uint8)
    arr[..., 1] = rng.integers(0, 3, (96, 128))  # a level or two off the line: still shades of the two
    arr[:40] = (255, 0, 0)  # 42 %
    arr[40:44] = (0, 0, 255)  # 4 %
    assert n_colours(arr) > 256
    paths = write_folder(tmp_path, arr, classes=False)
    with pytest.raises(ValueError, match=r"^mask \S*a\.png and the masks before it hold more than 256 "):
        detect_encoding(paths)
