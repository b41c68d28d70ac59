"""Trial 17 / CLI report item 4: an instance predictor names min_distance among its parameters only for a
method that reads it (watershed); the table header said "instances (energy; ..., min_distance 5)" while
fit's line said "instances: energy (min_size 40)"."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from unetkit.evaluation import instance_section
from unetkit.inference.instance_predictor import instance_predictor_for
from unetkit.inference.instances import instances_from_mask, uses_min_distance
from unetkit.metrics.instance import InstanceScoreAccumulator
from unetkit.model_files.model_config import ModelConfig


class Stub:
    """A torch-free semantic predictor returning a fixed (mask, probs)."""

    def __init__(self, mask: np.ndarray, probs: np.ndarray) -> None:
        k = probs.shape[0]
        names = ["bg", *[f"c{i}" for i in range(1, k)]]
        self.config = ModelConfig("unet", {"in_channels": 1, "num_classes": k}, names, [0.5], [0.25])
        self.mask, self.probs = mask, probs

    def predict(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.mask, self.probs


def stub() -> Stub:
    mask = np.zeros((12, 12), dtype=np.uint8)
    mask[1:5, 1:5] = 1
    mask[2:4, 2:4] = 2
    mask[7:11, 6:11] = 1
    probs = np.stack([(mask == k).astype(np.float32) for k in range(3)])
    return Stub(mask, probs)


def header(predictor: Any) -> str:
    """The title line the fit/predict tables and metrics.md print for these parameters."""
    s = stub()
    labels, _ = predictor.labels_from_prediction(s.mask, s.probs)
    scores = InstanceScoreAccumulator()
    scores.update(labels, labels)
    section = {"method": predictor.method, "params": dict(predictor.params), **scores.compute()}
    return instance_section(section).splitlines()[0]


@pytest.mark.parametrize("method", ["components", "boundary", "energy"])
def test_a_method_that_ignores_min_distance_does_not_name_it(method: str) -> None:
    assert not uses_min_distance(method)
    predictor = instance_predictor_for(stub(), method, foreground=[1, 2], min_size=2)
    assert predictor.params == {"foreground": [1, 2], "min_size": 2}
    assert "min_distance" not in header(predictor), header(predictor)
    # Still accepted (a script passes it for every method), still not shown, and the labels unchanged.
    given = instance_predictor_for(stub(), method, foreground=[1, 2], min_size=2, min_distance=3)
    tuned = given.with_params(min_distance=4, min_size=1)
    assert "min_distance" not in given.params and "min_distance" not in tuned.params
    assert tuned.params["min_size"] == 1
    s = stub()
    labels, count = given.labels_from_prediction(s.mask, s.probs)
    expected, n = instances_from_mask(s.mask, [1, 2], method, 2, probs=s.probs, min_distance=3)
    assert count == n and np.array_equal(labels, expected)


def test_watershed_names_min_distance_and_uses_it() -> None:
    assert uses_min_distance("watershed")
    predictor = instance_predictor_for(stub(), "watershed", foreground=[1, 2], min_size=0, min_distance=2)
    assert predictor.params == {"foreground": [1, 2], "min_size": 0, "min_distance": 2}
    assert header(predictor) == "instances (watershed; foreground [1, 2], min_size 0, min_distance 2):"
    assert predictor.with_params(min_distance=3).params["min_distance"] == 3


def test_a_min_distance_given_to_energy_reaches_watershed_through_with_params() -> None:
    """A value the user gave is kept, though not shown, when with_params switches to a method using it."""
    energy = instance_predictor_for(stub(), "energy", foreground=[1, 2], min_distance=7)
    assert energy.with_params(method="watershed").params["min_distance"] == 7
    plain = instance_predictor_for(stub(), "energy", foreground=[1, 2])
    assert plain.with_params(method="watershed").params["min_distance"] == 5  # the default, nothing given
