"""Mask R-CNN's warm-up is paced by the time budget too (trial finding 9: 100 fixed steps, while a 2-minute
run trained 99): it ends at 5 % of the budget or at ``warmup_steps``, whichever comes first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torchvision")

from unetkit.cli.main import main
from unetkit.training.detection import MaskRCNNFitOptions, MaskRCNNTask, _read_options
from unetkit.training.optim import lr_factor


def _factor(warmup_fraction: float, monkeypatch: pytest.MonkeyPatch, fraction: float):
    task = MaskRCNNTask({"num_classes": 2}, warmup_steps=100, warmup_fraction=warmup_fraction)
    monkeypatch.setattr(task, "budget_fraction", lambda: fraction)
    return task.configure_optimizers()["lr_scheduler"]["scheduler"].lr_lambdas[0]


def test_warm_up_ends_at_a_share_of_the_budget_or_its_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MaskRCNNFitOptions(time_minutes=2).warmup_fraction == 0.05
    # 5 % of the budget used at step 3: warmed up (a slow run), the cosine of the clock alone.
    assert _factor(0.05, monkeypatch, 0.05)(3) == pytest.approx(lr_factor("cosine", 0.05))
    # 1 % used at step 3: a fifth of the way (the clock is ahead of 3 / 100 steps).
    assert _factor(0.05, monkeypatch, 0.01)(3) == pytest.approx((0.1 + 0.9 * 0.2) * lr_factor("cosine", 0.01))
    # A fast run: 100 steps before 5 % of the budget end the warm-up.
    assert _factor(0.05, monkeypatch, 0.001)(100) == pytest.approx(lr_factor("cosine", 0.001))
    # By steps only (warmup_fraction 0, as runs recorded before it): still warming up at step 3.
    assert _factor(0.0, monkeypatch, 0.05)(3) == pytest.approx((0.1 + 0.9 * 0.03) * lr_factor("cosine", 0.05))
    with pytest.raises(ValueError, match="warmup_fraction"):
        MaskRCNNFitOptions(time_minutes=2, warmup_fraction=1.0).check()


def test_a_run_recorded_before_warms_up_by_steps_on_resume_and_replay(tmp_path: Path) -> None:
    options = {"time_minutes": 2.0, "warmup_steps": 100, "data_dir": str(tmp_path)}
    (tmp_path / "fit_options.json").write_text(json.dumps(options))
    saved, inputs = _read_options(tmp_path)
    assert saved["warmup_fraction"] == 0.0 and inputs == {"data_dir": str(tmp_path)}
    (tmp_path / "fit_options.json").write_text(json.dumps({**options, "warmup_fraction": 0.05}))
    assert _read_options(tmp_path)[0]["warmup_fraction"] == 0.05


def test_fit_maskrcnn_help_states_the_warm_up(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["fit-maskrcnn", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "warm-up from lr/10 over the first 5% of --time or 100 steps, whichever ends first" in text
