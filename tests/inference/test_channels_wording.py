"""Trial L: a TIFF of 3 fluorescence channels for a 2-channel model was refused as "has 3 channels (RGB)".
A TIFF's three channels may be any three bands: the refusal names RGB (or gray) only where the file says
so (a photo format, a TIFF whose Photometric tag is colour), otherwise just the count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from unetkit.cli.main import main
from unetkit.data.io import read_raw_image
from unetkit.inference.batch import model_image
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model

STAINS = np.random.default_rng(0).integers(0, 4000, (8, 8, 3), dtype=np.uint16)  # three fluorescence channels


def refusal(path: Path, channels: int = 2) -> str:
    """predict's (and serve's) refusal of the file at ``path`` for a model of ``channels`` channels."""
    with pytest.raises(ValueError) as err:
        model_image(read_raw_image(path), path, channels)
    return str(err.value)


@pytest.mark.parametrize("layout", ["samples", "imagej"])
def test_three_fluorescence_channels_are_named_by_their_count_only(tmp_path: Path, layout: str) -> None:
    path = tmp_path / "cells.tif"
    if layout == "samples":  # one page of 3 samples, Photometric MinIsBlack
        tifffile.imwrite(path, STAINS, photometric="minisblack", planarconfig="contig")
    else:  # an ImageJ hyperstack: three channel pages
        tifffile.imwrite(path, np.moveaxis(STAINS, -1, 0), imagej=True, metadata={"axes": "CYX"})
    message = refusal(path)
    assert f"{path} has 3 channels but the model expects 2 channels; " in message, message
    assert "RGB" not in message.split(";")[0], message


def test_a_tiff_whose_photometric_is_rgb_is_named_rgb(tmp_path: Path) -> None:
    path = tmp_path / "colour.tif"
    tifffile.imwrite(path, STAINS, photometric="rgb")
    assert f"{path} has 3 channels (RGB) but the model expects 2 channels; " in refusal(path)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_photo_is_named_rgb(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"photo{suffix}"
    Image.fromarray((STAINS >> 4).astype(np.uint8)).save(path)
    assert f"{path} has 3 channels (RGB) but the model expects 2 channels; " in refusal(path)


def test_one_channel_is_gray() -> None:
    with pytest.raises(ValueError, match=r"has 1 channel \(gray\) but the model expects 2 channels; "):
        model_image(np.zeros((4, 4, 1), np.uint8), "one.tif", 2)


@pytest.mark.parametrize(
    ("name", "said"), [("x.png", "x.png has 3 channels (RGB) but"), ("x.tif", "x.tif has 3 channels but")]
)
def test_a_file_not_there_to_open_is_judged_by_its_suffix(name: str, said: str) -> None:
    with pytest.raises(ValueError) as err:
        model_image(np.zeros((4, 4, 3), np.uint8), name, 2)
    assert said in str(err.value), str(err.value)


def test_predict_names_the_fluorescence_tiff_by_its_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The trial's command: ``unetkit predict`` of the TIFF with a 2-channel model."""
    kwargs = {"in_channels": 2, "num_classes": 2, "depth": 2, "base_channels": 4}
    torch.manual_seed(0)
    model = save_model(
        create_model("unet", **kwargs),
        ModelConfig("unet", kwargs, ["bg", "cell"], [0.5] * 2, [0.25] * 2),
        tmp_path / "model",
    )
    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, STAINS, photometric="minisblack", planarconfig="contig")
    assert main(["predict", str(model), str(path), "--out", str(tmp_path / "out"), "-q"]) != 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert f"error: {path} has 3 channels but the model expects 2 channels; " in err[0], err
