"""The server's start-up probe of which instance methods run on the model says nothing of its own: an
untuned watershed's "runs with its defaults" line appeared at `unetkit serve` start-up for a model whose
page offers no instances by default (a README trial)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from unetkit.inference.backends import load_predictor
from unetkit.serve.jobs import instance_choices


def test_the_instance_probe_logs_no_watershed_defaults(
    trained_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    predictor = load_predictor(trained_model_dir)
    with caplog.at_level(logging.INFO, logger="unetkit"):
        choices = instance_choices(predictor.config, predictor)
    assert "watershed" in choices["choices"]  # the probe ran the watershed
    assert "runs with its defaults" not in caplog.text
