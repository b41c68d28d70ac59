"""An unexpected (engine) error on one image is one ``error:`` line; with ``-v`` its traceback reaches the log
too, so that it can be reported (the CLI owns the console: the library logs it at DEBUG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_models import three_images
from cli_models import tiny_unet as unet

from unetkit.cli.main import main
from unetkit.inference import predictor as torch_predictor


def _engine_fails_on_b(monkeypatch: pytest.MonkeyPatch) -> None:
    original = torch_predictor.Predictor._predict_batch

    def fails_on_b(self: torch_predictor.Predictor, batch: np.ndarray) -> np.ndarray:
        if batch.shape[-1] == 40:  # b.png only
            raise RuntimeError("engine broke deep inside\nsecond line of the engine")
        return original(self, batch)

    monkeypatch.setattr(torch_predictor.Predictor, "_predict_batch", fails_on_b)


@pytest.mark.parametrize("verbose", [False, True])
def test_unexpected_error_traceback_only_with_verbose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], verbose: bool
) -> None:
    model = unet(tmp_path / "model")
    images = three_images(tmp_path / "images")
    _engine_fails_on_b(monkeypatch)
    args = ["predict", str(model), str(images), "--out", str(tmp_path / "out"), "--backend", "torch"]
    rc = main(["-v", *args] if verbose else [*args, "-q"])
    err = capsys.readouterr().err
    assert rc == 3
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "b.png: prediction failed (RuntimeError: engine broke" in lines[0]
    if verbose:
        # The original error's traceback, down to the frame that raised it, and its whole message.
        assert "Traceback (most recent call last)" in err
        assert "in fails_on_b" in err and "second line of the engine" in err
    else:
        assert "Traceback" not in err and "second line" not in err
