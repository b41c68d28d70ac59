"""The overlay's colour weight has one default (unetkit.constants.OVERLAY_ALPHA): the overlay functions,
predict's option and its Python options, and the server's request options all take it from there."""

from __future__ import annotations

import argparse
import inspect

import pytest

import unetkit.constants as constants
from unetkit.cli import predict as predict_cli
from unetkit.inference.batch import OutputOptions
from unetkit.serve.jobs import RequestOptions
from unetkit.viz import overlay


def test_every_overlay_default_is_the_constant(monkeypatch: pytest.MonkeyPatch) -> None:
    for function in (overlay.overlay, overlay.prediction_overlay):
        assert inspect.signature(function).parameters["alpha"].default == constants.OVERLAY_ALPHA
    assert OutputOptions().alpha == RequestOptions().alpha == constants.OVERLAY_ALPHA
    # The command line reads it when its parser is built: a changed constant shows in default and help.
    monkeypatch.setattr(predict_cli, "OVERLAY_ALPHA", 0.25)
    parser = argparse.ArgumentParser()
    predict_cli.add_arguments(parser)
    action = next(a for a in parser._actions if a.dest == "alpha")
    assert (action.default, action.help) == (0.25, "overlay colour weight (default 0.25)")
