"""LR schedules: exact factors, the time-budget schedule with a fake clock, config errors, a real fit."""

from __future__ import annotations

import csv
import itertools
import math
from pathlib import Path

import pytest
import torch
from training_helpers import tiny_model_config

from unetkit.training.config import ScheduleConfig, load_config
from unetkit.training.optim import build_scheduler, lr_factor


def _optimizer(lr: float = 1.0) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def _lrs(sched: dict, optimizer: torch.optim.Optimizer, n: int) -> list[float]:
    out = []
    for _ in range(n):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        sched["scheduler"].step()
    return out


def test_lr_factor_exact_values() -> None:
    assert lr_factor("cosine", 0.0) == 1.0
    assert lr_factor("cosine", 0.5) == pytest.approx(0.5)
    assert lr_factor("cosine", 1.0) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor("poly", 0.5, power=0.9) == pytest.approx(0.5**0.9)
    assert lr_factor("poly", 1.7) == 0.0 and lr_factor("poly", -1.0) == 1.0  # progress is clamped


def test_epoch_schedule_with_warmup() -> None:
    opt = _optimizer()
    sched = build_scheduler(opt, ScheduleConfig(name="poly", power=1.0, warmup_epochs=2), max_epochs=6)
    assert sched["interval"] == "epoch"
    # warmup 0.1 -> 0.55, then poly(power 1) over the remaining 4 epochs
    assert _lrs(sched, opt, 7) == pytest.approx([0.1, 0.55, 1.0, 0.75, 0.5, 0.25, 0.0])


def test_time_schedule_follows_the_clock_or_the_steps_whichever_is_further() -> None:
    clock = {"t": 0.0}
    opt = _optimizer(2.0)
    sched = build_scheduler(
        opt,
        ScheduleConfig(name="cosine", by="time"),
        max_epochs=10,
        total_steps=100,
        budget_fraction=lambda: clock["t"],
    )
    assert sched["interval"] == "step"
    assert _lrs(sched, opt, 1) == [2.0]
    _lrs(sched, opt, 9)  # 10 steps done, clock still at 0: step progress 0.1
    assert opt.param_groups[0]["lr"] == pytest.approx(2.0 * 0.5 * (1 + math.cos(math.pi * 0.1)))
    clock["t"] = 0.5  # half the time budget used after only 11 steps: the clock leads
    _lrs(sched, opt, 1)
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0)
    clock["t"] = 1.0
    _lrs(sched, opt, 1)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_time_schedule_warmup_is_counted_in_steps() -> None:
    opt = _optimizer()
    sched = build_scheduler(
        opt,
        ScheduleConfig(name="poly", by="time", warmup_epochs=1, power=1.0),
        max_epochs=4,
        total_steps=40,
        budget_fraction=lambda: 0.0,
    )
    lrs = _lrs(sched, opt, 12)
    assert lrs[0] == pytest.approx(0.1) and lrs[5] == pytest.approx(0.1 + 0.9 * 0.5)
    assert lrs[10] == pytest.approx(1.0) and lrs[11] == pytest.approx(1.0 - 1 / 30)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["schedule.by=time"], "trainer.max_time_minutes"),
        (["schedule.by=time", "trainer.max_time_minutes=5", "schedule.name=plateau"], "cosine, poly or none"),
        (["schedule.by=minutes"], r"Unknown schedule.by 'minutes'\. Available: epoch, time"),
        (["schedule.name=cosin"], r"Unknown schedule 'cosin'\. Did you mean 'cosine'\?"),
        (["schedule.factor=1.5"], r"schedule\.factor=1\.5 is invalid"),
    ],
)
def test_time_schedule_config_errors(overrides: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config("synthetic", overrides)


def test_budget_fraction_reads_lightnings_timer_including_resumed_time() -> None:
    import lightning as L
    from lightning.pytorch.callbacks import Timer

    from unetkit.training.task import SegmentationTask

    model_config = tiny_model_config()
    task = SegmentationTask(model_config, time_budget_s=60.0)
    timer = Timer(duration={"seconds": 60})
    timer.load_state_dict({"time_elapsed": {"train": 30.0}})  # what a resumed checkpoint restores
    trainer = L.Trainer(logger=False, enable_checkpointing=False)
    trainer.callbacks = [timer]
    task.trainer = trainer
    assert task.budget_fraction() == pytest.approx(0.5)
    assert SegmentationTask(model_config).budget_fraction() == 0.0  # no budget: the clock stays at 0


def test_fit_with_time_schedule_decays_to_zero_within_the_epochs(tmp_path: Path) -> None:
    """A budget much longer than the run: the step count drives the decay, which still ends at ~0."""
    from unetkit.training.fit import fit

    cfg = load_config(
        "synthetic",
        [
            "data.options={num_images: 10, size: [40, 40]}",
            "data.crop_size=32",
            "data.batch_size=2",
            "model.kwargs={base_channels: 4, depth: 2}",
            "trainer.progress_bar=false",
            "trainer.num_threads=1",
            "trainer.log_every_n_steps=1",
            "trainer.max_epochs=2",
            "trainer.max_time_minutes=30",
            "schedule={name: poly, by: time, power: 1.0}",
            "optim.lr=0.01",
            "evaluate.split=val",
            f"output.root={tmp_path}",
            "output.name=r",
        ],
    )
    result = fit(cfg)
    rows = list(csv.DictReader((result.run_dir / "logs" / "metrics.csv").open()))
    lrs = [float(r["lr-AdamW"]) for r in rows if r.get("lr-AdamW")]
    assert len(lrs) >= 4, "the time schedule should log the LR every step"
    assert lrs[0] == pytest.approx(0.01, rel=0.05)
    assert all(a >= b for a, b in itertools.pairwise(lrs)) and lrs[-1] < 0.003


@pytest.mark.parametrize(("monitor", "mode"), [("val/loss", "min"), ("val/miou", "max")])
def test_plateau_schedule_follows_trainer_monitor(monitor: str, mode: str) -> None:
    from unetkit.training.evaluate import resolve_dataset
    from unetkit.training.fit import build_model_config, make_task

    cfg = load_config("synthetic", ["schedule.name=plateau", f"trainer.monitor={monitor}"])
    spec = resolve_dataset(cfg)
    task = make_task(cfg, build_model_config(cfg, spec), spec)
    sched = task.configure_optimizers()["lr_scheduler"]
    assert sched["monitor"] == monitor
    assert sched["scheduler"].mode == mode
