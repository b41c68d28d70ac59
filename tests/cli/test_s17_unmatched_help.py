"""``--unmatched``'s help says what ``skip`` does with an image that a split list names but that has no mask
(skipped and left out of its list, as discovery does since a user trial's train.txt named two such images),
and discovery does what the help says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unetkit.cli.main import build_parser
from unetkit.planning.discovery import discover

PROMISE = (
    "with skip, an image that a train/val/test list names but that has no mask is skipped too and left out "
    "of its list"
)


@pytest.mark.parametrize("command", ["plan", "fit"])
def test_unmatched_help_says_skip_covers_listed_images_without_masks(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the help
    assert PROMISE in text


def test_discovery_does_what_the_help_says(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for i in range(6):
        image = np.full((16, 16), 40 * i, dtype=np.uint8)
        Image.fromarray(image).save(tmp_path / "images" / f"img{i}.png")
        if i != 1:  # img1 is not annotated yet
            mask = np.zeros((16, 16), dtype=np.uint8)
            mask[4:10, 4:10] = 1
            Image.fromarray(mask).save(tmp_path / "masks" / f"img{i}.png")
    (tmp_path / "train.txt").write_text("img0\nimg1\nimg2\nimg3\n")
    (tmp_path / "val.txt").write_text("img4\nimg5\n")
    layout = discover(tmp_path, unmatched="skip")
    assert layout.splits["train"] == ["img0", "img2", "img3"]
    assert [Path(s).name for s in layout.skipped] == ["img1.png"]
