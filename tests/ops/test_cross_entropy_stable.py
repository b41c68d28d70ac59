"""unetkit.ops.cross_entropy in its log-sum-exp form (trial 27 F13): finite and equal to F.cross_entropy where
the true class's probability underflows (a logit gap beyond about 745), the lecture's numbers unchanged."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from unetkit.ops import cross_entropy
from unetkit.ops.cross_entropy import cross_entropy_steps, log_sum_exp


def _torch_ce(logits: np.ndarray, labels: np.ndarray) -> float:
    return F.cross_entropy(
        torch.tensor(logits, dtype=torch.float64)[None], torch.tensor(labels)[None], ignore_index=255
    ).item()


@pytest.mark.parametrize("gap", [745.0, 800.0, 1000.0, 1e5])
def test_a_huge_logit_gap_gives_torchs_finite_loss(gap: float) -> None:
    logits = np.array([[[gap]], [[0.0]], [[-gap]]])
    labels = np.array([[2]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero in log
        ours = cross_entropy(logits, labels)
    assert np.isfinite(ours)
    assert ours == pytest.approx(_torch_ce(logits, labels), rel=1e-12)
    assert ours == pytest.approx(2 * gap, rel=1e-12)


def test_mixed_pixels_match_torch() -> None:
    rng = np.random.default_rng(7)
    logits = rng.normal(scale=600.0, size=(3, 4, 5))
    labels = rng.integers(0, 3, size=(4, 5))
    labels[0, 0] = 255
    steps = cross_entropy_steps(logits, labels)
    assert np.isfinite(steps.pixel_loss[steps.valid]).all()
    assert steps.loss == pytest.approx(_torch_ce(logits, labels), rel=1e-12)
    assert steps.log_sum_exp is not None
    np.testing.assert_allclose(
        steps.log_sum_exp, torch.logsumexp(torch.tensor(logits), dim=0).numpy(), rtol=1e-14
    )


def test_log_sum_exp_is_stable() -> None:
    np.testing.assert_allclose(log_sum_exp([[1000.0], [1000.0]]), [1000.0 + np.log(2.0)])
    np.testing.assert_allclose(log_sum_exp([[-1000.0], [-1000.0]]), [-1000.0 + np.log(2.0)])
