"""palette_for: the colours the user gave a model's classes win over the default palette; config.json keeps
them (and old config files without them still load)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from unetkit.model_files.model_config import ModelConfig
from unetkit.palette import (
    IGNORE_COLOR,
    class_palette,
    class_zero_is_background,
    palette_for,
)

ROAD, SKY = (128, 64, 128), (70, 130, 180)
KWARGS = {"in_channels": 1, "num_classes": 3}


def config_with(colors: Any) -> ModelConfig:
    return ModelConfig("unet", KWARGS, ["bg", "road", "sky"], [0.5], [0.25], class_colors=colors)


def test_given_colours_win_and_the_rest_keep_the_default() -> None:
    default = class_palette(4)
    np.testing.assert_array_equal(palette_for(None, 4), default)
    # class -> RGB (keys as YAML/JSON give them, strings too) or one entry (or None) per class.
    for given in ({"1": ROAD, 3: list(SKY)}, [None, ROAD, None, SKY]):
        palette = palette_for(given, 4)
        assert palette.dtype == np.uint8 and palette.shape == (4, 3)
        np.testing.assert_array_equal(palette, [default[0], ROAD, default[2], SKY])
    # Colours of classes beyond the palette are left out (a palette PNG holds 256 classes).
    np.testing.assert_array_equal(palette_for([ROAD, SKY, ROAD], 2), [ROAD, SKY])


def test_a_config_gives_its_class_colors() -> None:
    config = config_with([[0, 0, 0], ROAD, SKY])
    np.testing.assert_array_equal(palette_for(config, 3), [(0, 0, 0), ROAD, SKY])
    plain = config_with(None)
    np.testing.assert_array_equal(palette_for(plain, 3), class_palette(3))
    np.testing.assert_array_equal(palette_for(SimpleNamespace(), 3), class_palette(3))  # no such attribute
    # A one-logit model predicts 0 / 1 and its one colour is its one class's, drawn for value 1.
    one_logit = SimpleNamespace(class_colors=[ROAD], num_classes=1)
    np.testing.assert_array_equal(palette_for(one_logit, 2), [class_palette(1)[0], ROAD])


@pytest.mark.parametrize("bad", [[1, 2], [0, 0, 256], [-1, 0, 0], "red", [0.5, 0, 0], None])
def test_a_bad_colour_is_a_one_line_error_naming_the_class(bad: object) -> None:
    colours = {2: bad} if bad is not None else {-1: ROAD}
    match = r"class colours name class -1" if bad is None else r"the colour of class 2 must be \[R, G, B\]"
    with pytest.raises(ValueError, match=match):
        palette_for(colours, 3)


def test_config_json_keeps_the_colours_and_old_files_still_load(tmp_path: Path) -> None:
    config = config_with(((1, 2, 3), ROAD, SKY))
    assert config.class_colors == [[1, 2, 3], list(ROAD), list(SKY)]  # lists, as JSON gives them back
    assert ModelConfig.load(config.save(tmp_path)) == config
    old = config.to_dict()
    del old["class_colors"]  # a config.json written before class colours were kept
    (tmp_path / "config.json").write_text(json.dumps(old))
    loaded = ModelConfig.load(tmp_path)
    assert loaded.class_colors is None
    np.testing.assert_array_equal(palette_for(loaded, 3), class_palette(3))
    with pytest.raises(ValueError, match=r"class_colors has 2 colours for num_classes=3"):
        config_with([ROAD, SKY])
    with pytest.raises(ValueError, match=r"the colour of class 1 must be \[R, G, B\]"):
        config_with([ROAD, [300, 0, 0], SKY])


CAMVID = "sky building pole road pavement tree sign fence car pedestrian cyclist".split()


def _names_config(names: list[str], colors: Any = None) -> ModelConfig:
    kwargs = {"in_channels": 3, "num_classes": len(names)}
    return ModelConfig("unet", kwargs, names, [0.5] * 3, [0.25] * 3, class_colors=colors)


def test_a_real_class_0_gets_a_colour_of_its_own_not_the_backgrounds_black() -> None:
    """CamVid's class 0 is sky: drawn black, predicted sky read as 'nothing' in masks, overlays, figures."""
    default = class_palette(len(CAMVID))
    for source in (_names_config(CAMVID), SimpleNamespace(class_names=CAMVID, class_colors=None)):
        palette = palette_for(source, len(CAMVID))
        np.testing.assert_array_equal(palette[1:], default[1:])  # the other classes keep their colours
        sky = tuple(int(v) for v in palette[0])
        assert sky not in {(0, 0, 0), IGNORE_COLOR}
        assert sky not in {tuple(int(v) for v in row) for row in palette[1:]}
    # The names given beside the colours themselves (a dataset's colours being filled in) count the same.
    np.testing.assert_array_equal(palette_for(None, len(CAMVID), class_names=CAMVID), palette)
    np.testing.assert_array_equal(palette_for({3: ROAD}, 4, class_names=CAMVID[:4])[3], ROAD)
    assert tuple(palette_for({3: ROAD}, 4, class_names=CAMVID[:4])[0]) != (0, 0, 0)
    # 256 classes (a palette PNG's all): class 0's colour is still one no other class has.
    names = ["sky", *(f"c{i}" for i in range(1, 256))]
    assert len({tuple(row) for row in palette_for(None, 256, class_names=names)}) == 256


def test_class_0_avoids_the_colours_the_user_gave_the_other_classes() -> None:
    spare = tuple(int(v) for v in palette_for(None, 3, class_names=["sky", "a", "b"])[0])
    palette = palette_for({1: spare}, 3, class_names=["sky", "a", "b"])
    assert tuple(palette[1]) == spare and tuple(palette[0]) not in {spare, (0, 0, 0), tuple(palette[2])}


# Spelled out (not read from BACKGROUND_NAMES), so that dropping a name from the rule is caught.
BACKGROUND_WORDS = "background bg _background_ void unlabeled unlabelled none other clutter backdrop negative"


@pytest.mark.parametrize(
    "first",
    [*BACKGROUND_WORDS.split(), "Background", " BG ", "VOID", "Unlabelled", "Clutter", "class_0", "class_7"],
)
def test_a_background_or_unnamed_class_0_stays_black(first: str) -> None:
    palette = palette_for(_names_config([first, "road", "sky"]), 3)
    np.testing.assert_array_equal(palette, class_palette(3))
    assert class_zero_is_background([first, "road"])


def test_class_0_of_a_model_without_names_or_of_a_one_logit_model_stays_black() -> None:
    np.testing.assert_array_equal(palette_for(None, 3), class_palette(3))
    np.testing.assert_array_equal(palette_for(SimpleNamespace(class_names=[]), 3), class_palette(3))
    np.testing.assert_array_equal(palette_for(_names_config(["class_0", "class_1"]), 2), class_palette(2))
    # A one-logit model's one name is its class 1's: its class 0 (the background) stays black.
    one_logit = SimpleNamespace(class_names=["nucleus"], class_colors=None, num_classes=1)
    np.testing.assert_array_equal(palette_for(one_logit, 2), class_palette(2))
    assert class_zero_is_background(None) and not class_zero_is_background(["sky", "road"])


def test_the_colour_the_user_gave_a_real_class_0_wins() -> None:
    given = [list(SKY)] + [list(c) for c in class_palette(len(CAMVID))[1:]]
    np.testing.assert_array_equal(palette_for(_names_config(CAMVID, given), len(CAMVID))[0], SKY)
    # Black too, when the user gave black: their colour, not a guess.
    given[0] = [0, 0, 0]
    np.testing.assert_array_equal(palette_for(_names_config(CAMVID, given), len(CAMVID))[0], (0, 0, 0))
    np.testing.assert_array_equal(palette_for({0: SKY}, 3, class_names=["sky", "a", "b"])[0], SKY)
