"""``predict RUN --masks DIR`` (and ``--mask-values stored``) read how the run read its masks from
``RUN/config.yaml``; a file there that cannot be read is one ``error:`` line naming it and the fix, not a
silent fallback to other reading options (which scored the ground truth another way than the run read it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_models import three_images
from cli_models import tiny_unet as unet
from PIL import Image

from unetkit.cli.main import main
from unetkit.cli.predict import run_mask_encoding
from unetkit.constants import EXIT_USAGE


def _masks(images: Path, folder: Path) -> Path:
    folder.mkdir()
    for path in sorted(images.glob("*.png")):
        mask = (np.asarray(Image.open(path)) > 128).astype(np.uint8)
        Image.fromarray(mask).save(folder / path.name)
    return folder


BROKEN = {
    "no YAML": ("data:\n  dataset: folder\n  options: [1, 2\n", r"at line \d+"),
    "a list": ("- data\n- folder\n", "its top level is not a mapping"),
    "data a string": ("data: images/\n", "its data section is not a mapping"),
    "options a list": ("data:\n  dataset: folder\n  options: [1, 2]\n", "data.options is not a mapping"),
    "bad options": ("data:\n  dataset: folder\n  options: {mask_kind: paint}\n", "data.options: "),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_run_config_is_named_with_its_fix(tmp_path: Path, case: str) -> None:
    run = tmp_path / "run"
    unet(run / "model")
    text, reason = BROKEN[case]
    (run / "config.yaml").write_text(text)
    with pytest.raises(ValueError, match=reason) as raised:
        run_mask_encoding(run)
    message = str(raised.value)
    assert message.startswith(f"{run / 'config.yaml'}: ") and "\n" not in message
    assert "--mask-encoding KIND" in message


def test_predict_says_so_in_one_line_and_the_fix_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    unet(run / "model")
    (run / "config.yaml").write_text(BROKEN["no YAML"][0])
    images = three_images(tmp_path / "images")
    masks = _masks(images, tmp_path / "masks")
    out = tmp_path / "out"
    base = ["predict", str(run), str(images), "--out", str(out), "-q"]
    assert main([*base, "--masks", str(masks)]) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {run / 'config.yaml'}: ")
    assert "pass --mask-encoding KIND" in err[0]
    assert main([*base, "--mask-values", "stored"]) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pass --mask-values class" in err[0]
    # Either fix given: predict runs (the file is not read for what the options already say).
    assert main([*base, "--masks", str(masks), "--mask-encoding", "index"]) == 0
    assert (out / "metrics.json").is_file()


def test_a_readable_config_without_a_folder_dataset_still_means_none(tmp_path: Path) -> None:
    run = tmp_path / "run"
    unet(run / "model")
    (run / "config.yaml").write_text("data:\n  dataset: synthetic\n")
    assert run_mask_encoding(run) is None
    (run / "config.yaml").write_text("")
    assert run_mask_encoding(run) is None
