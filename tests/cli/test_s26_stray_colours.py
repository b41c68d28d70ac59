"""Trial 24 S2(c): at predict time a colour ground-truth mask holding a colour the model's class table lacks
is told the fix that applies there (the classes file no longer matters once the model is trained):
``--ignore-colors R,G,B`` leaves such colours out of the scores as void. Scoring options without ``--masks``
are refused instead of dropped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_models import three_images, tiny_unet
from PIL import Image

from unetkit.cli.main import main
from unetkit.data.io import MaskEncoding, UnknownColoursError, read_mask
from unetkit.data.mask_options import encoding_record
from unetkit.model_files.model_config import MASK_ENCODING

PALETTE = MaskEncoding("palette", 2, colors={0: (0, 0, 0), 1: (250, 50, 10)})
STRAY = (255, 0, 255)


def _colour_truth(folder: Path, images: Path, stray: bool) -> Path:
    """Colour masks of ``images``: their bright square in the cell colour, the rest black; with ``stray``
    a 3x4 patch of a colour the table lacks in the first mask."""
    folder.mkdir()
    for i, path in enumerate(sorted(images.iterdir())):
        gray = np.asarray(Image.open(path))
        rgb = np.zeros((*gray.shape, 3), np.uint8)
        rgb[gray > 200] = (250, 50, 10)
        if stray and i == 0:
            rgb[1:4, 2:6] = STRAY
        Image.fromarray(rgb).save(folder / path.name)
    return folder


def test_the_library_error_keeps_its_classes_file_fix_and_names_the_colours(tmp_path: Path) -> None:
    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[1:4, 2:6] = STRAY
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb).save(tmp_path / "m.png")
    with pytest.raises(UnknownColoursError) as caught:
        read_mask(tmp_path / "m.png", PALETTE)
    assert caught.value.colours == (STRAY, (1, 2, 3))  # most pixels first
    assert "add each colour to the classes file" in str(caught.value)  # fit's fix, for fit
    assert str(caught.value).startswith(caught.value.head + "; ")


def _argv(tmp_path: Path, stray: bool) -> list[str]:
    images = three_images(tmp_path / "images")
    truth = _colour_truth(tmp_path / "truth", images, stray)
    model = tiny_unet(tmp_path / "shipped", extra={MASK_ENCODING: encoding_record(PALETTE)})
    return ["predict", str(model), str(images), "--masks", str(truth), "--tta", "none"]


def test_predict_names_its_own_fix_for_a_stray_colour_and_the_option_scores_without_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _argv(tmp_path, stray=True)
    assert main([*argv, "--out", str(tmp_path / "refused")]) != 0
    err = capsys.readouterr().err
    assert "(255, 0, 255): 12 px" in err
    assert "the model's classes are fixed by its training" in err
    assert "--ignore-colors 255,0,255" in err
    assert "classes file" not in err  # fit's fix does not apply to a trained model

    assert main([*argv, "--out", str(tmp_path / "out"), "--ignore-colors", "255,0,255"]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["images"] == 3
    assert "void [[255, 0, 255]]" in capsys.readouterr().err  # the ground-truth line names it


def test_ignore_colors_is_for_colour_ground_truth_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _argv(tmp_path, stray=False)
    argv[argv.index("--masks") + 1] = str(tmp_path / "images")  # gray masks, read as class values
    argv += ["--mask-encoding", "index", "--ignore-colors", "9,9,9", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "--ignore-colors applies to colour ground truth" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("option", "shown"),
    [
        (["--ignore-colors", "1,2,3"], "--ignore-colors says"),
        (["--isbi", "--ignore-values", "11"], "--ignore-values, --isbi say"),
        (["--mask-encoding", "binary"], "--mask-encoding says"),
    ],
)
def test_scoring_options_without_masks_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str], shown: str
) -> None:
    images = three_images(tmp_path / "images")
    model = tiny_unet(tmp_path / "m")
    assert main(["predict", str(model), str(images), "--out", str(tmp_path / "o"), *option]) == 2
    err = capsys.readouterr().err
    assert shown in err and "add --masks DIR" in err
    assert not (tmp_path / "o").exists()


def test_a_colour_value_that_is_no_colour_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit):
        main(["predict", str(tmp_path), str(tmp_path), "--ignore-colors", "255,0"])
    assert "'255,0' is no colour: give R,G,B" in capsys.readouterr().err
