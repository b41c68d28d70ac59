"""The plan's estimate of the scoring after the budget scales one view of prediction timed at plan time
(trial finding F7: a third of a bf16 training step per pixel times a ratio measured on an AVX2 EPYC said 8 s
on a Xeon with AVX-512 and AMX, where the choice of the instance post-processing took 18.7 s)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

import unetkit
from unetkit.planning import plan as plan_module
from unetkit.planning.plan import (
    INSTANCE_GRID_S_PER_MPIX,
    ForwardTiming,
    after_budget_text,
    make_plan,
    prediction_pixels,
    time_forward,
)

MakeDataset = Callable[..., Path]
FAST = {"threads": 1, "measure_limit": 2.0, "device": "cpu"}


def _forward(seconds: float, model: str = "unet b8 d4") -> ForwardTiming:
    return ForwardTiming(model, (100, 200), seconds, "cpu", 1)


def _seconds(text: str) -> float:
    match = re.search(r"take about (\d+(?:\.\d+)?) (s|min)", text)
    assert match, text
    return float(match.group(1)) * (60 if match.group(2) == "min" else 1)


def test_the_estimate_scales_the_timed_prediction_by_area_and_views() -> None:
    fp = SimpleNamespace(num_images={"train": 40, "val": 10, "test": 20}, train_pixels=40 * 20_000)
    sizes = {"val": [(100, 200)] * 5 + [(200, 400)] * 5, "test": [(300, 300)] * 20}
    # 0.05 s for 20000 px: 2.5 us a pixel; val 5 x 20000 + 5 x 80000 px, test 20 x 90000 px.
    text = after_budget_text(fp, 99.0, 8, False, forward=_forward(0.05), sizes=sizes)  # type: ignore[arg-type]
    assert _seconds(text) == round(20 * 90_000 * 2.5e-6 * 8) == 36  # the validation pass (99 s) plays no part
    assert "scoring 20 test images with 8 views" in text
    assert text.endswith(
        "(estimated from a forward pass timed here: 0.050s for one view of a 200x100 image, fp32, 1 thread)"
    )
    doubled = after_budget_text(fp, 99.0, 8, False, forward=_forward(0.10), sizes=sizes)  # type: ignore[arg-type]
    assert _seconds(doubled) == 72
    on_val = after_budget_text(fp, 99.0, 2, False, "val", forward=_forward(0.05), sizes=sizes)  # type: ignore[arg-type]
    assert _seconds(on_val) == round(500_000 * 2.5e-6 * 2) == 2
    # Instances on val: the val predictions (8 views) plus the grid over the val images' own pixels.
    inst = after_budget_text(fp, 99.0, 8, True, "val", forward=_forward(0.05), sizes=sizes)  # type: ignore[arg-type]
    assert _seconds(inst) == round(500_000 * 2.5e-6 * 8 + 0.5 * INSTANCE_GRID_S_PER_MPIX) == 11
    # Without sizes, every image at the mean training size (20000 px).
    plain = after_budget_text(fp, 99.0, 8, False, forward=_forward(0.05))  # type: ignore[arg-type]
    assert _seconds(plain) == round(20 * 20_000 * 2.5e-6 * 8) == 8


def test_images_past_the_tile_limit_count_their_overlapping_tiles() -> None:
    assert prediction_pixels(1000, 1000) == 1_000_000  # one whole-image pass
    assert prediction_pixels(6000, 8000) > 1.5 * 6000 * 8000  # 512 px tiles overlapping by a quarter


def _fp_and_machine() -> tuple[Any, Any]:
    from test_plan import make_fp, make_machine

    fp = make_fp(size=(256, 256), train=20, val=4)
    return fp, make_machine({8: 0.1}, fp)


def test_make_plan_estimates_from_the_machines_timed_prediction_and_records_it() -> None:
    fp, machine = _fp_and_machine()
    base = make_plan(fp, 600, "cpu", machine)
    depth = base.config["model"]["kwargs"]["depth"]
    assert "forward_seconds" not in base.summary and "forward pass timed" not in base.reasons["evaluate.tta"]
    timed = dataclasses.replace(machine, forward=_forward(0.4, f"unet b8 d{depth}"))
    plan = make_plan(fp, 600, "cpu", timed)
    assert plan.summary["forward_seconds"] == {
        "model": f"unet b8 d{depth}", "image_hw": [100, 200], "seconds": 0.4, "precision": "fp32",
        "device": "cpu", "threads": 1,
    }  # fmt: skip
    # 6 test images of 256x256 px, 8 views, at 0.4 s per 20000 px.
    assert (
        f"take about {round(6 * 65536 * 0.4 / 20000 * 8)} s (estimated from a forward pass timed"
        in (plan.reasons["evaluate.tta"])
    )
    assert plan.config == base.config  # only the estimate reads the timing
    # A prediction timed for another width does not stand for the chosen one.
    other = make_plan(fp, 600, "cpu", dataclasses.replace(machine, forward=_forward(0.4, "unet b16 d4")))
    assert other.reasons["evaluate.tta"] == base.reasons["evaluate.tta"]


def test_plan_folder_times_the_chosen_model_and_writes_the_record(
    make_dataset: MakeDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    def stub(model: Any, in_channels: int, num_classes: int, shape: Any, device: str, **kw: Any) -> Any:
        calls.append({"model": model, "shape": shape, "device": device, **kw})
        kwargs = model["kwargs"]
        label = f"unet b{kwargs['base_channels']} d{kwargs['depth']}"
        return ForwardTiming(label, shape, timed[-1], "cpu", 1)

    monkeypatch.setattr(plan_module, "time_forward", stub)
    root = make_dataset(n=12)
    estimates, timed = [], [0.5]  # the stub's seconds: 0.5, then 1.0
    for seconds in (0.5, 1.0):
        timed.append(seconds)
        planned = unetkit.plan_folder(root, budget="2m", **FAST)
        estimates.append(_seconds(planned.plan.reasons["evaluate.tta"]))
    (call, _) = calls
    assert call["model"] == planned.plan.config["model"] and call["threads"] == 1 and call["device"] == "cpu"
    val = planned.layout.splits["val"]
    assert val and call["shape"] == (32, 32)  # the mean val image
    assert estimates[1] == 2 * estimates[0]  # the estimate scales with the timed seconds
    record = planned.plan.summary["forward_seconds"]
    assert record["seconds"] == 1.0 and record["image_hw"] == [32, 32]
    assert "forward" in planned.plan.summary["plan_seconds"]
    header = planned.plan_yaml.splitlines()
    kwargs = planned.plan.config["model"]["kwargs"]
    timed = (
        f"forward pass timed as prediction runs it (eval, inference mode), unet b{kwargs['base_channels']} "
    )
    assert any(
        timed in line and "1.000s for one view of a 32x32 image, fp32, 1 thread" in line for line in header
    )
    assert "estimated from a forward pass timed here" in planned.plan_yaml


def test_a_folder_without_val_images_times_no_prediction(
    make_dataset: MakeDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Discovery carves a val split where a folder has none; a layout without one (its images moved to
    train here) prints no estimate, so nothing is timed for it."""
    import unetkit.planning as planning

    discover = planning.discover

    def without_val(*args: Any, **kwargs: Any) -> Any:
        layout = discover(*args, **kwargs)
        splits = dict(layout.splits)
        splits["train"] = [*splits["train"], *splits.pop("val")]
        return dataclasses.replace(layout, splits=splits)

    monkeypatch.setattr(planning, "discover", without_val)
    monkeypatch.setattr(plan_module, "time_forward", lambda *a, **k: pytest.fail("timed without val images"))
    planned = unetkit.plan_folder(make_dataset(n=12), budget="2m", **FAST)
    assert "val" not in planned.layout.splits
    assert "forward_seconds" not in planned.plan.summary
    assert "after the budget" not in planned.plan.reasons["evaluate.tta"]


def test_time_forward_predicts_as_the_final_scoring_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """eval mode, torch.inference_mode, fp32, the run's threads, the whole image (a tile's side at most);
    torch's thread count is the caller's again after it."""
    from unetkit.models import registry

    seen: list[tuple[bool, bool, bool, Any, int, tuple[int, ...]]] = []
    create = registry.create_model

    def spied(name: str, **kwargs: Any) -> Any:
        def hook(module: Any, args: Any, out: Any) -> None:
            (x,) = args
            autocast = torch.is_autocast_enabled("cpu")
            inference = torch.is_inference_mode_enabled()
            seen.append(
                (module.training, inference, autocast, x.dtype, torch.get_num_threads(), tuple(x.shape))
            )

        model = create(name, **kwargs)
        model.register_forward_hook(hook)
        return model

    monkeypatch.setattr(registry, "create_model", spied)
    caller = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = {"name": "unet", "kwargs": {"base_channels": 4, "depth": 2}}
        timing = time_forward(model, 3, 2, (600, 40), "cpu", threads=1)
        assert torch.get_num_threads() == 2  # put back
    finally:
        torch.set_num_threads(caller)
    assert timing.model == "unet b4 d2" and timing.shape == (512, 40) and timing.seconds > 0
    assert timing.threads == 1 and timing.precision == "fp32"
    assert 2 <= len(seen) <= 1 + plan_module.FORWARD_ROUNDS  # a warm-up, then the timed ones
    assert all(s == (False, True, False, torch.float32, 1, (1, 3, 512, 40)) for s in seen), seen
