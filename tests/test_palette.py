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
from unetkit.palette import class_palette, palette_for

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
