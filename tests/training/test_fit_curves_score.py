"""fit's curves.png marks a final validation score made with TTA apart from the logged one (a trial: the ring
read 0.746, the run's metrics 0.7593, and nothing said why)."""

from __future__ import annotations

from types import SimpleNamespace

from unetkit.training.fit import _scored_apart


def _config(tta: object, split: str) -> SimpleNamespace:
    return SimpleNamespace(evaluate=SimpleNamespace(tta=tta, split=split))


def test_a_tta_scoring_of_val_is_marked_and_other_scorings_are_not() -> None:
    assert _scored_apart(_config(True, "val"), {"miou": 0.7593}) == (0.7593, "8-view TTA")
    assert _scored_apart(_config("identity,hflip", "val"), {"miou": 0.5}) == (0.5, "2-view TTA")
    assert _scored_apart(_config(False, "val"), {"miou": 0.5}) is None  # the ring is the score
    assert _scored_apart(_config(True, "test"), {"miou": 0.5}) is None  # not the curve's images
