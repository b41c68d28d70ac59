"""expand_inputs: the image files that `unetkit predict` / `kmeans` read from paths, folders and globs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from unetkit.inference.batch import expand_inputs


def test_a_folder_skips_hidden_files_as_discovery_does(tmp_path: Path) -> None:
    # A folder copied from a Mac holds ._name.png (AppleDouble, no image) beside every image.
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "._a.png").write_bytes(b"\x00\x05\x16\x07 not a png")
    (tmp_path / ".DS_Store").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    files, missing = expand_inputs([str(tmp_path)])
    assert files == [tmp_path / "a.png"] and missing == []
    # A hidden file named on its own is read: the user asked for it.
    assert expand_inputs([str(tmp_path / "._a.png")])[0] == [tmp_path / "._a.png"]
