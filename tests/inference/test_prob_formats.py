"""The probability-map formats are listed once (inference.writers.PROB_FORMATS): predict's --probs choices,
OutputOptions' check and save_probs's error all read that list."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from unetkit.cli import predict as predict_cli
from unetkit.inference import writers
from unetkit.inference.batch import OutputOptions


def test_every_reader_of_the_formats_takes_the_one_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writers, "PROB_FORMATS", ("none", "npy", "tiff", "zarr"))
    parser = argparse.ArgumentParser()
    predict_cli.add_arguments(parser)
    assert next(a for a in parser._actions if a.dest == "probs").choices == writers.PROB_FORMATS
    assert OutputOptions(probs="zarr").probs == "zarr"
    with pytest.raises(ValueError, match=r"unknown probability format 'png'; use one of: npy, tiff, zarr"):
        writers.save_probs(tmp_path / "p.png", np.zeros((2, 4, 4), np.float32), fmt="png")
