"""``GET /api/model``'s geometry says how a client pads an image itself: ``pad_multiple`` and
``min_pass_side`` beside ``size_divisor`` (:class:`unetkit.geometry.ModelGeometry`), as the model states
them."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="unetkit serve needs the 'serve' extra")
pytest.importorskip("httpx", reason="the API tests need httpx")

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # Starlette now prefers the httpx2 fork; httpx works
    from fastapi.testclient import TestClient

from unetkit.inference.backends import load_predictor
from unetkit.serve.app import create_app


def test_model_geometry_names_the_pad_multiple_and_the_smallest_pass(model_dir: Path) -> None:
    geometry = load_predictor(model_dir).geometry
    # The tiny depth-2 U-Net pads its own input to a multiple of 4: a value other than the default 1.
    assert geometry.pad_multiple == 4 and geometry.min_pass_side == 4, geometry
    with TestClient(create_app(model_dir)) as c:
        served = c.get("/api/model").json()["geometry"]
    assert served["pad_multiple"] == geometry.pad_multiple
    assert served["min_pass_side"] == geometry.min_pass_side
