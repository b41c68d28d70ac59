"""``unetkit predict``, from a user trial: the note on the run's TTA says what it costs (one forward pass per
view) and how to turn it off; a ground-truth mask of another size is named with both sizes as WxH and the
fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_models import three_images, tiny_unet
from PIL import Image

from unetkit.cli.main import main
from unetkit.model_files.model_config import SCORED_TTA


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return three_images(tmp_path / "images")


@pytest.mark.parametrize(("scored", "views"), [("d4", 8), ("identity,hflip", 2)])
def test_the_run_tta_note_says_its_passes_per_image_and_how_to_turn_it_off(
    scored: str, views: int, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trial waited 81 s on one large image with the run's 8 views (13 s with --tta none); the note said
    only that TTA was on."""
    model = tiny_unet(tmp_path / "model", {SCORED_TTA: scored})
    assert main(["predict", str(model), str(images / "a.png"), "--out", str(tmp_path / "out"), "-q"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "test-time augmentation" in line]
    assert notes == [
        f"note: test-time augmentation {scored}, as the run scored this model: {views} forward pass(es) per "
        f"image, about {views}x the time of one (--tta none for one pass)"
    ]


def test_a_mask_of_another_size_is_named_with_both_sizes_as_wxh_and_the_fix(
    images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The trial got "ground truth ... is (100, 150), image is (217, 301)": (H, W) tuples where fit says WxH,
    and no fix."""
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray(np.zeros((5, 7), np.uint8)).save(masks / "a.png")  # a.png is 30x24 (WxH)
    model = tiny_unet(tmp_path / "model")
    argv = ["predict", str(model), str(images / "a.png"), "--out", str(tmp_path / "o")]
    assert main([*argv, "--masks", str(masks), "--tta", "none", "-q"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if str(masks / "a.png") in line]
    assert errors == [
        f"error: {images / 'a.png'}: ground truth mask {masks / 'a.png'} is 7x5 (WxH), its image 30x24; "
        "resize or re-export the mask to 30x24"
    ]


def test_a_large_image_says_its_tiles_in_lines_where_no_bar_is_drawn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a pipe (no bar: stderr is no terminal) a trial's log said nothing for the 81 s of one large
    image: its tiles are plain lines, as every bar's (at most every FILE_REFRESH_SECONDS, here at every
    update, and one at the end); an image of a few tiles gets none, and --quiet none at all."""
    import unetkit.cli.console as console

    folder = tmp_path / "inputs"
    folder.mkdir()
    rng = np.random.default_rng(7)
    Image.fromarray(rng.integers(0, 256, (20, 24), dtype=np.uint8)).save(folder / "a_small.png")  # 2 x 2
    Image.fromarray(rng.integers(0, 256, (64, 96), dtype=np.uint8)).save(folder / "b_big.png")  # 4 x 6
    model = tiny_unet(tmp_path / "model")
    argv = ["predict", str(model), str(folder), "--tile-size", "16", "--overlap", "0", "--tta", "none"]
    argv += ["--batch-size", "8"]  # progress after every 8 tiles: 8, 16 and 24
    monkeypatch.setattr(console, "FILE_REFRESH_SECONDS", 0.0)
    assert main([*argv, "--out", str(tmp_path / "o1")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("tiles of")]
    assert [line.split(" (")[0] for line in lines[:2]] == [
        f"tiles of b_big.png: {n}/24 tiles" for n in (8, 16)
    ]
    assert len(lines) == 3 and lines[-1].startswith("tiles of b_big.png: 24/24 tiles in ")
    assert main([*argv, "--out", str(tmp_path / "o2"), "--quiet"]) == 0
    assert "tiles of" not in capsys.readouterr().err
