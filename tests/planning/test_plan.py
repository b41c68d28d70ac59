"""make_plan's rules on synthetic fingerprints and machines; YAML and overrides that the config accepts."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from unetkit.data.sampling import epoch_steps
from unetkit.planning import Machine, discover, fingerprint, make_plan, parse_duration, to_config_overrides
from unetkit.planning.discovery import DatasetLayout
from unetkit.planning.fingerprint import ClassStats, Fingerprint
from unetkit.planning.plan import (
    EPOCH_OVERHEAD_SHARE,
    FOREGROUND_CROP_SHARE,
    MIN_STEPS,
    MIN_VAL_IMAGES,
    MIN_VALIDATIONS,
    VAL_TIME_SHARE,
    Candidate,
    candidates,
    choose_geometry,
    default_budget,
    foreground_crops,
    measure_candidates,
    receptive_field,
    validation_images,
)

MakeDataset = Callable[..., Path]


def make_fp(
    *,
    extent: float = 40.0,
    p90: float | None = None,
    size: tuple[int, int] = (512, 512),
    fractions: tuple[float, ...] = (0.3, 0.7),
    asymmetry: float = 0.0,
    train: int = 20,
    val: int = 4,
    normalization: str = "zscore",
    distinct_sizes: int = 1,
) -> Fingerprint:
    classes = [ClassStats(0, "bg", fractions[0], 1.0, 1, 512, 512, 512, 1e5, 1e5, 512.0, True)]
    for i, f in enumerate(fractions[1:], start=1):
        top = p90 or 2 * extent
        classes.append(ClassStats(i, f"c{i}", f, 1.0, 100, extent, extent / 2, top, extent**2, 10, extent))
    return Fingerprint(
        root="/x", num_images={"train": train, "val": val, "test": 6}, train_pixels=train * size[0] * size[1],
        channels=1, size_median=size, size_min=size, size_max=size, distinct_sizes=distinct_sizes,
        intensity={}, gray_as_rgb=0.0, normalization=normalization, mean=(0.5,), std=(0.2,),
        normalization_reason="test", classes=tuple(classes), ignore_fraction=0.0,
        vertical_asymmetry=asymmetry, sampled_images=train, seconds=0.0,
    )  # fmt: skip


def make_machine(step_by_width: dict[int, float], geometry_fp: Fingerprint | None = None) -> Machine:
    geo = choose_geometry(geometry_fp or make_fp(), "cpu")
    times = {Candidate(w, geo.depth, geo.crop, geo.batch).label: t for w, t in step_by_width.items()}
    return Machine("cpu", "test cpu", (), False, 2, times)


def test_widest_candidate_with_enough_steps() -> None:
    fp = make_fp()
    # 1140 s budget: 0.25 s/step gives ~4300 steps, 0.5 s ~2100, 1.0 s ~1000.
    machine = make_machine({8: 0.25, 16: 0.5, 32: 1.0}, fp)
    plan = make_plan(fp, 1140, "cpu", machine)
    assert plan.config["model"]["kwargs"]["base_channels"] == 16
    steps = {r["base_channels"]: r["steps_in_budget"] for r in plan.table}
    assert steps[16] >= MIN_STEPS > steps[32]
    assert "widest" in plan.reasons["model.kwargs.base_channels"]
    # What fit compares the run with (it names a run that bought far fewer steps).
    assert plan.summary["predicted_steps"] == steps[16] and plan.summary["predicted_step_seconds"] == 0.5
    # NHWC is what the steps were timed in, not a measured win over NCHW (no committed result says so).
    assert plan.config["trainer"]["channels_last"] is True
    assert "NHWC against NCHW was not timed" in plan.reasons["trainer.channels_last"]


def test_the_plan_trains_on_the_device_it_measured() -> None:
    fp = make_fp()
    assert make_plan(fp, 600, "cpu", make_machine({8: 0.3}, fp)).config["trainer"]["accelerator"] == "cpu"
    gpu = dataclasses.replace(make_machine({8: 0.3}, fp), device="cuda")
    trainer = make_plan(fp, 600, "cuda", gpu).config["trainer"]
    assert trainer["accelerator"] == "gpu" and not trainer["channels_last"] and "num_threads" not in trainer


def test_loader_processes_overlap_reading_with_gpu_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The H100 run of benchmarks/cuda_fit.sh: 0.024 s/step, 0.011 s to read a sample, batch 18, 8 loaders.
    Adding the reading to each step predicted 759 steps in 3 minutes; the run made 4451."""
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    fp = make_fp()
    geo = choose_geometry(fp, "cuda")
    times = {Candidate(w, geo.depth, geo.crop, geo.batch).label: t for w, t in {16: 0.024, 64: 0.055}.items()}
    gpu = Machine("cuda", "test gpu", (), False, 16, times, data_seconds_per_sample=0.011)
    plan = make_plan(fp, 180, "cuda", gpu)
    steps = {r["base_channels"]: r["steps_in_budget"] for r in plan.table}
    assert plan.config["data"]["num_workers"] == 8
    assert steps[16] > 2500 and steps[64] > MIN_STEPS  # adding the reading: about 360
    assert plan.config["model"]["kwargs"]["base_channels"] == 64
    # On a CPU the loader runs in the training process: reading adds to every step.
    cpu = dataclasses.replace(gpu, device="cpu")
    serial = make_plan(fp, 180, "cpu", cpu, geometry=geo)
    assert serial.config["data"]["num_workers"] == 0
    assert {r["base_channels"]: r["steps_in_budget"] for r in serial.table}[16] < 1000


def test_a_longer_budget_buys_width() -> None:
    fp = make_fp()
    machine = make_machine({8: 0.25, 16: 0.5, 32: 1.0}, fp)
    assert make_plan(fp, 4000, "cpu", machine).config["model"]["kwargs"]["base_channels"] == 32


def test_tight_budget_takes_the_narrowest() -> None:
    fp = make_fp()
    plan = make_plan(fp, 300, "cpu", make_machine({8: 0.25, 16: 0.5}, fp))
    assert plan.config["model"]["kwargs"]["base_channels"] == 8
    assert "tight" in plan.reasons["model.kwargs.base_channels"]


def test_depth_and_crop_follow_the_objects() -> None:
    small = choose_geometry(make_fp(extent=20), "cpu")
    assert small.depth == 4 and small.crop == (128, 128)  # 4 x 20 = 80 -> the 128 px minimum
    big = choose_geometry(make_fp(extent=150, size=(1024, 1024)), "cpu")
    assert big.depth == 5 and receptive_field(5) >= 2 * 150
    assert big.crop[0] % 2**5 == 0 and big.crop[0] >= 4 * 150
    mid = choose_geometry(make_fp(extent=30, p90=150), "cpu")
    assert mid.crop[0] % 16 == 0 and mid.crop[0] >= 2 * 150  # >= 2x the 90th percentile
    # about 4 x 256^2 px per step on a CPU
    assert mid.batch * mid.crop[0] * mid.crop[1] == pytest.approx(4 * 256 * 256, rel=0.25)


def test_receptive_field_values() -> None:
    assert [receptive_field(d) for d in (2, 3, 4, 5)] == [44, 100, 204, 412]


def _gradient_spans(depth: int) -> set[int]:
    """The input rows the gradient of one output pixel reaches in a padded U-Net with constant positive
    weights and average pools (a max pool passes gradient to one input only), over every pixel position
    on the pooling grid: what each of its output pixels sees."""
    import torch

    from unetkit.models import create_model

    model = create_model("unet", in_channels=1, num_classes=1, depth=depth, base_channels=1, norm="none")

    def average_pools(module: torch.nn.Module) -> None:
        for name, child in module.named_children():
            if isinstance(child, torch.nn.MaxPool2d):
                setattr(module, name, torch.nn.AvgPool2d(2, 2))
            else:
                average_pools(child)

    average_pools(model)
    model = model.double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.01 if p.dim() > 1 else 0.0)
    spans = set()
    size = 4 * receptive_field(depth)
    for offset in range(2**depth):
        x = torch.ones(1, 1, size, 4, dtype=torch.double, requires_grad=True)
        model(x)[0, 0, size // 2 + offset, 2].backward()
        assert x.grad is not None
        rows = (x.grad[0, 0].abs() > 0).any(dim=1).nonzero()[:, 0]
        spans.add(int(rows.max() - rows.min() + 1))
    return spans


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_receptive_field_is_the_widest_span_the_gradient_reaches(depth: int) -> None:
    # Depth 4: 188 or 204 px by position; the function said 200 (and 96 for depth 3, where 92/100).
    assert max(_gradient_spans(depth)) == receptive_field(depth)


RECORDED_PLANS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "autoconfig" / "plans"


@pytest.mark.parametrize("name", ["isbi2012", "camvid", "dsb2018"])
def test_recorded_plans_keep_their_depth_under_the_receptive_field(name: str) -> None:
    # The exact receptive field (204, was 200 at depth 4) must not change the depth these plans chose.
    import re

    plan = yaml.safe_load((RECORDED_PLANS / f"{name}.yaml").read_text())
    text = (RECORDED_PLANS / f"{name}.yaml").read_text()
    extent = float(re.search(r"median object extent (\d+(?:\.\d+)?)px", text).group(1))  # type: ignore[union-attr]
    depth = plan["model"]["kwargs"]["depth"]
    # Images large enough for depth 5: only the receptive field keeps the depth at 4.
    assert choose_geometry(make_fp(extent=extent, size=(1024, 1024)), "cpu").depth == depth == 4


def test_small_images_reduce_depth() -> None:
    geo = choose_geometry(make_fp(size=(32, 32), extent=4), "cpu")
    assert geo.depth == 3 and geo.crop == (32, 32)
    # 32 x 32 crops: 4 x 256^2 px would take 256 crops; the reason names the cap, not a step it does not make
    assert geo.batch == 32
    reason = geo.reasons["data.batch_size"]
    assert reason.startswith("32: the cap (32)") and "256 32x32 crops" in reason and "32768 px" in reason
    assert (
        choose_geometry(make_fp(extent=30, p90=150), "cpu")
        .reasons["data.batch_size"]
        .endswith("(the ISBI recipe's step on a CPU), >= 2 for batch norm")
    )


def test_upright_scenes_train_whole_images_without_rotations() -> None:
    fp = make_fp(asymmetry=0.6, size=(192, 256), normalization="unit", train=184, val=51)
    plan = make_plan(fp, 1680, "cpu", make_machine({8: 0.3}, fp))
    assert plan.config["data"]["crop_size"] == [192, 256]
    assert plan.config["data"]["augment"]["rot90"] is False
    assert plan.config["data"]["augment"]["vertical_flips"] is False  # mirror flips only
    assert plan.config["data"]["augment"]["flips"] is True
    assert plan.config["data"]["augment"]["scale"] == [0.75, 1.25]
    assert plan.config["evaluate"]["tta"] == "identity,hflip"  # the mirror image only
    assert plan.config["evaluate"]["checkpoint"] == "best"  # 51 validation images


def test_sizes_in_the_reasons_and_candidate_names_are_width_x_height() -> None:
    """data.crop_size stays [H, W] (as torch shapes); the text beside it says W x H, as every size shown."""
    fp = make_fp(asymmetry=0.6, size=(192, 256), normalization="unit", train=184, val=51)
    plan = make_plan(fp, 1680, "cpu", make_machine({8: 0.3}, fp))
    assert plan.config["data"]["crop_size"] == [192, 256]
    assert plan.reasons["data.crop_size"].startswith("256x192 (WxH): whole images (256x192 median, WxH)")
    assert Candidate(8, 4, (192, 256), 5).label == "unet b8 d4 256x192 x5 32-true"


def test_microscopy_gets_rotations_elastic_and_last_checkpoint() -> None:
    fp = make_fp()
    plan = make_plan(fp, 1140, "cpu", make_machine({8: 0.3}, fp))
    aug = plan.config["data"]["augment"]
    assert aug["rot90"] and aug["vertical_flips"] and aug["elastic"] and aug["scale"] is None
    assert plan.config["evaluate"] == {"tta": True, "checkpoint": "last"}


def test_no_test_split_scores_validation_and_says_so() -> None:
    import dataclasses

    fp = dataclasses.replace(make_fp(), num_images={"train": 20, "val": 4})
    plan = make_plan(fp, 600, "cpu", make_machine({8: 0.3}, fp))
    assert plan.config["evaluate"]["split"] == "val"
    why = plan.reasons["evaluate.split"]
    assert "no test split" in why and "optimistic" in why
    with_test = make_fp()
    planned = make_plan(with_test, 600, "cpu", make_machine({8: 0.3}, with_test))
    assert "split" not in planned.config["evaluate"]


def test_rare_classes_get_weights() -> None:
    fp = make_fp(fractions=(0.6, 0.385, 0.01, 0.005))
    plan = make_plan(fp, 600, "cpu", make_machine({8: 0.3}, fp))
    w = plan.config["class_weights"]
    assert len(w) == 4 and w[3] > w[2] > w[1] > 0 and w[0] < 1
    assert "c2, c3" in plan.reasons["class_weights"]
    assert make_plan(make_fp(), 600, "cpu", make_machine({8: 0.3})).config["class_weights"] is None


def test_classes_absent_from_the_masks_are_not_rare() -> None:
    # Pascal VOC's unseen classes, a trimap's unused 0: no pixels to weight or to place crops on. They
    # switched class weights and foreground crops on ("class_0 hold < 2% of the pixels").
    fp = make_fp(fractions=(0.0, 0.2, 0.75, 0.05))
    plan = make_plan(fp, 600, "cpu", make_machine({8: 0.3}, fp))
    why = plan.reasons["class_weights"]
    assert plan.config["class_weights"] is None and why.startswith("none: every class present holds")
    assert "bg never occurs in the sampled masks" in why
    assert "foreground_crops" not in plan.config["data"]["augment"]
    # With a rare class present, the absent one is no crop target; it keeps the largest weight (a class in
    # none of the sampled masks may still occur in the others, rarer than any).
    fp = make_fp(fractions=(0.6, 0.39, 0.01, 0.0))
    plan = make_plan(fp, 600, "cpu", make_machine({8: 0.3}, fp))
    w = plan.config["class_weights"]
    assert w[3] == 10.0 and w[2] > w[1] and "c2 holds < 2%" in plan.reasons["class_weights"]
    assert "c3 never occurs in the sampled masks (the largest weight" in plan.reasons["class_weights"]
    assert plan.config["data"]["augment"]["foreground_classes"] == [2]


def test_rare_classes_get_a_third_of_the_crops_when_crops_are_small() -> None:
    # 512 px images, 40 px objects: 160 px crops cover 10% of an image and often miss a rare class.
    fp = make_fp(fractions=(0.6, 0.385, 0.01, 0.005))
    plan = make_plan(fp, 600, "cpu", make_machine({8: 0.3}, fp))
    aug = plan.config["data"]["augment"]
    assert aug["foreground_crops"] == FOREGROUND_CROP_SHARE and aug["foreground_classes"] == [2, 3]
    assert "hold a pixel of c2, c3" in plan.reasons["data.augment"]
    # Crops of (nearly) the whole image cannot miss a class; no rare class, nothing to place crops on.
    whole = make_fp(fractions=(0.6, 0.385, 0.01, 0.005), size=(192, 256))
    plan = make_plan(whole, 600, "cpu", make_machine({8: 0.3}, whole))
    assert "foreground_crops" not in plan.config["data"]["augment"]
    assert "rarely misses a class" in plan.reasons["data.augment"]
    common = make_fp()
    assert (
        "foreground_crops"
        not in make_plan(common, 600, "cpu", make_machine({8: 0.3}, common)).config["data"]["augment"]
    )
    # Instance targets: the boundary class is thin by design, wherever the objects are: uniform crops.
    assert foreground_crops(fp, choose_geometry(fp, "cpu"), "boundary")[0] == {}
    # A rare background (class 0) is not a crop target: crops are placed on the objects.
    rare_bg = make_fp(fractions=(0.01, 0.99))
    assert (
        "foreground_crops"
        not in make_plan(rare_bg, 600, "cpu", make_machine({8: 0.3}, rare_bg)).config["data"]["augment"]
    )


def test_budget_and_epoch_cap() -> None:
    fp = make_fp()
    plan = make_plan(fp, 1140, "cpu", make_machine({8: 0.25}, fp))
    row = plan.table[0]
    assert plan.config["trainer"]["max_time_minutes"] == 19.0
    assert plan.config["schedule"]["by"] == "time"
    # the budget ends the run, even on a machine 10x faster than the measured one
    assert plan.config["trainer"]["max_epochs"] >= 10 * row["epochs_in_budget"]
    assert plan.config["trainer"]["precision"] == "32-true"
    # Steps per epoch as the training loader counts them: whole batches (the partial last one is dropped;
    # 21 images x repeat 19 = 399 samples in batches of 10 are 39 steps, not 40).
    odd = make_fp(train=21)
    odd_plan = make_plan(odd, 1140, "cpu", make_machine({8: 0.25}, odd))
    data = odd_plan.config["data"]
    assert odd_plan.table[0]["steps_per_epoch"] == epoch_steps(21 * data["repeat"], data["batch_size"]) == 39


@pytest.mark.parametrize(
    ("bf16_seconds", "expected"),
    [(0.2, "bf16-mixed"), (0.35, "32-true"), (40.0, "32-true")],  # 2x, 1.14x, AVX2-only (100x slower)
)
def test_bf16_used_only_where_measured_faster(bf16_seconds: float, expected: str) -> None:
    fp = make_fp()
    geo = choose_geometry(fp, "cpu")
    fp32 = Candidate(8, geo.depth, geo.crop, geo.batch)
    bf16 = dataclasses.replace(fp32, precision="bf16-mixed")
    machine = Machine("cpu", "t", ("avx512_bf16",), True, 2, {fp32.label: 0.4, bf16.label: bf16_seconds})
    plan = make_plan(fp, 1140, "cpu", machine)
    assert plan.config["trainer"]["precision"] == expected
    assert f"{0.4 / bf16_seconds:.2f}x" in plan.reasons["trainer.precision"]
    # the table (and so the width and the steps) is the chosen precision's
    assert plan.table[0]["step_seconds"] == (bf16_seconds if expected == "bf16-mixed" else 0.4)
    asked = make_plan(fp, 1140, "cpu", machine, precision="32-true")
    assert asked.config["trainer"]["precision"] == "32-true" and "asked" in asked.reasons["trainer.precision"]


def test_bf16_decided_by_the_median_width_not_the_slowest() -> None:
    """One width timing slow in bf16 (a noisy probe) does not flip the decision; most widths slow does."""
    fp = make_fp()
    geo = choose_geometry(fp, "cpu")
    widths = (8, 12, 16, 24)

    def machine(speedups: tuple[float, ...]) -> Machine:
        seconds = {}
        for base, x in zip(widths, speedups, strict=True):
            fp32 = Candidate(base, geo.depth, geo.crop, geo.batch)
            seconds[fp32.label] = 0.1 * base
            seconds[dataclasses.replace(fp32, precision="bf16-mixed").label] = 0.1 * base / x
        return Machine("cpu", "t", ("avx512_bf16",), True, 2, seconds)

    one_slow = make_plan(fp, 1140, "cpu", machine((1.35, 1.13, 1.80, 1.85)))
    assert one_slow.config["trainer"]["precision"] == "bf16-mixed"
    assert "was 1.58x (median) >= 1.25x" in one_slow.reasons["trainer.precision"]
    most_slow = make_plan(fp, 1140, "cpu", machine((1.35, 1.13, 1.10, 1.20)))
    assert most_slow.config["trainer"]["precision"] == "32-true"


def test_bf16_is_re_timed_alternating_and_that_ratio_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    """The widths' few consecutive steps let a burst of load land on one precision (a busy machine flipped
    plans of one folder between the precisions): the width nearest the median is re-timed, alternating the
    precisions, and that decides."""
    import unetkit.planning.plan as plan_module

    fp = make_fp()
    geo = choose_geometry(fp, "cpu")
    cands = [Candidate(b, geo.depth, geo.crop, geo.batch) for b in (8, 12, 16)]

    def timings(speedups: tuple[float, ...]) -> dict[str, float]:
        out = {}
        for c, x in zip(cands, speedups, strict=True):
            out[c.label] = 0.1 * c.base_channels
            out[dataclasses.replace(c, precision="bf16-mixed").label] = 0.1 * c.base_channels / x
        return out

    retime = plan_module._retime_width
    assert retime(timings((1.30, 1.27, 1.10)), cands) == cands[1]  # the median width
    assert retime(timings((1.60, 1.90, 1.50)), cands) == cands[0]
    assert retime({cands[0].label: 0.1}, cands) is None  # bf16 not measured
    # The re-timed ratio decides, and the reason says so.
    base = Machine("cpu", "t", ("avx512_bf16",), True, 2, timings((1.30, 1.27, 1.10)))
    assert make_plan(fp, 1140, "cpu", base).config["trainer"]["precision"] == "bf16-mixed"
    # A first timing under 1x, overruled by the re-timing, reads as slower (a trial read "0.79x faster").
    overruled = make_plan(fp, 1140, "cpu", dataclasses.replace(base, step_seconds=timings((0.79, 0.8, 0.9)),
                                                              bf16_confirmed=1.33))  # fmt: skip
    why = overruled.reasons["trainer.precision"]
    # The deciding (re-timed) figure first, the first timings after it (a trial read "was 1.00x ... (re-timed
    # 1.87x): more steps" as a contradiction).
    assert "under 1x is slower) was 1.33x (re-timed alternating) >= 1.25x: more steps" in why
    assert "first timings b8 0.79x" in why
    assert "faster" not in why
    slower = make_plan(fp, 1140, "cpu", dataclasses.replace(base, bf16_confirmed=1.12))
    assert slower.config["trainer"]["precision"] == "32-true"
    # The deciding number comes first; the first timings ("b8 1.30x" above 1.25x) follow, not "only 1.30x".
    why = slower.reasons["trainer.precision"]
    assert why.startswith("32-true: bf16 autocast's speed-up over fp32 (fp32 step time / bf16 step time) was "
                          "1.12x (re-timed alternating) < 1.25x: too few extra steps")  # fmt: skip
    assert "first timings b8 1.30x, b12 1.27x, b16 1.10x" in why and "only" not in why
    median_only = dataclasses.replace(base, step_seconds=timings((1.1, 1.2, 1.15)))
    median_why = make_plan(fp, 1140, "cpu", median_only).reasons["trainer.precision"]
    assert "was 1.15x (median) < 1.25x" in median_why
    faster = dataclasses.replace(base, step_seconds=timings((1.1, 1.2, 1.15)), bf16_confirmed=1.31)
    assert make_plan(fp, 1140, "cpu", faster).config["trainer"]["precision"] == "bf16-mixed"
    # measure_candidates re-times where bf16 was measured, and only there (and says so).
    tiny = [Candidate(w, 2, (16, 16), 2) for w in (4, 8)]
    seen: list[Candidate] = []

    def fake_confirm(cand: Candidate, *args: object, **kwargs: object) -> float:
        seen.append(cand)
        return 1.5

    monkeypatch.setattr(plan_module, "confirm_bf16_speedup", fake_confirm)
    monkeypatch.setattr(plan_module, "_retime_width", lambda t, c: c[1])
    m = measure_candidates(tiny, 1, 2, "cpu", steps=1, warmup=0, bf16=True)
    assert seen == [tiny[1]] and m.bf16_confirmed == 1.5
    assert any("re-timed at b8" in n and "1.50x" in n for n in m.notes)
    assert measure_candidates(tiny, 1, 2, "cpu", steps=1, warmup=0, bf16=False).bf16_confirmed is None
    assert len(seen) == 1


def test_confirm_bf16_speedup_times_both_precisions() -> None:
    from unetkit.planning.plan import confirm_bf16_speedup

    ratio = confirm_bf16_speedup(Candidate(4, 2, (16, 16), 2), 1, 2, "cpu", rounds=1)
    assert math.isfinite(ratio) and ratio > 0


def test_the_memory_layout_is_timed_and_chosen_on_a_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """An audit: every CPU plan trained NHWC as "faster" without a measurement, and the one committed CPU
    benchmark had it slower at base 64. The plan re-times one width in both layouts and keeps NHWC (the
    layout its candidates were timed in) unless NCHW is at least 1.05x faster."""
    import torch

    from unetkit.planning import plan as plan_module
    from unetkit.planning.plan import TrainingStep, choose_layout, time_layouts

    fp = make_fp()
    base = make_machine({8: 0.25, 16: 0.5}, fp)
    assert choose_layout(base)[0] is True
    assert "NHWC against NCHW was not timed" in choose_layout(base)[1]  # an old machine record
    faster = make_plan(fp, 1140, "cpu", dataclasses.replace(base, nchw_speedup=(12, 1.3)))
    assert faster.config["trainer"]["channels_last"] is False
    assert faster.reasons["trainer.channels_last"].startswith(
        "NCHW: NCHW re-timed against NHWC at b12, alternating: 1.30x NHWC's speed (>= 1.05x)"
    )
    kept = make_plan(fp, 1140, "cpu", dataclasses.replace(base, nchw_speedup=(12, 1.04)))
    assert kept.config["trainer"]["channels_last"] is True
    assert "1.04x NHWC's speed (< 1.05x)" in kept.reasons["trainer.channels_last"]
    gpu = dataclasses.replace(base, device="cuda", nchw_speedup=None)
    assert choose_layout(gpu) == (False, "NCHW on a GPU")
    # The steps are built in the layout asked for, and measure_candidates times the middle width on a CPU.
    cand = Candidate(4, 2, (16, 16), 2)
    nchw = TrainingStep(cand, 3, 2, "cpu", channels_last=False).x  # 3 channels: one channel is both layouts
    assert nchw.is_contiguous() and not nchw.is_contiguous(memory_format=torch.channels_last)
    assert not TrainingStep(cand, 3, 2, "cpu").x.is_contiguous()  # NHWC by default on a CPU
    assert math.isfinite(time_layouts(cand, 1, 2, "cpu", rounds=1))
    seen: list[Candidate] = []

    def fake_layouts(c: Candidate, *args: object, **kwargs: object) -> float:
        seen.append(c)
        return 0.9

    monkeypatch.setattr(plan_module, "time_layouts", fake_layouts)
    tiny = [Candidate(w, 2, (16, 16), 2) for w in (4, 8, 12)]
    m = measure_candidates(tiny, 1, 2, "cpu", steps=1, warmup=0, bf16=False)
    assert seen == [tiny[1]] and m.nchw_speedup == (8, 0.9)
    assert any("memory layout re-timed at b8" in n and "NCHW 0.90x NHWC's speed" in n for n in m.notes)


def test_fp32_where_bf16_was_not_measured() -> None:
    fp = make_fp()
    plan = make_plan(fp, 1140, "cpu", make_machine({8: 0.25}, fp))
    assert plan.config["trainer"]["precision"] == "32-true"
    assert "not measured" in plan.reasons["trainer.precision"]


def test_default_budget_from_machine_speed() -> None:
    fp = make_fp()
    seconds, why = default_budget(fp, "cpu", make_machine({8: 0.1, 16: 0.2, 32: 0.4}, fp))
    # 2000 x 0.2 s = 6.7 min of steps, + the data, validation, checkpoints and start-up reserve the plan
    # predicts -> 8 whole minutes (tests/planning/test_plan_trial_budget.py checks the arithmetic).
    assert seconds == pytest.approx(60 * 8)
    assert "base-16" in why


@pytest.mark.parametrize(
    ("text", "seconds"), [("20m", 1200), ("1h", 3600), ("90s", 90), ("1h30m", 5400), ("19", 1140), (2, 120)]
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "0m", "20 minutes", "-5m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="20m"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["0", "0m", "-3", "-5m", " -1h30m", -3])
def test_a_zero_or_negative_budget_is_said_to_be_not_positive(text: str | int) -> None:
    # Trial 27: "-3" was "not a duration" where "0" was "must be positive".
    with pytest.raises(ValueError, match=f"time budget {text!r} must be positive; write e.g. 20m"):
        parse_duration(text)


def test_measure_candidates_times_each_and_stops_when_too_slow() -> None:
    cands = [Candidate(w, 3, (32, 32), 2) for w in (4, 8, 16)]
    m = measure_candidates(cands, 1, 2, "cpu", steps=1, warmup=0, bf16=False)
    assert set(m.step_seconds) == {c.label for c in cands} and all(t > 0 for t in m.step_seconds.values())
    stopped = measure_candidates(cands, 1, 2, "cpu", steps=1, warmup=0, bf16=False, stop_above_s=1e-9)
    assert list(stopped.step_seconds) == [cands[0].label]
    skipped = [n for n in stopped.notes if n.startswith("not measured")]
    # One line per reason, naming the widths (not one line per candidate).
    assert skipped == ["not measured (a narrower candidate was already too slow for the budget): "
                       "unet d3 32x32 x2: b8, b16 (32-true)"]  # fmt: skip
    # One checkpoint write timed per width (not per precision): it paces the epochs (make_plan).
    assert set(m.checkpoint_seconds) == {4, 8, 16} and all(t > 0 for t in m.checkpoint_seconds.values())
    with_bf16 = measure_candidates(cands, 1, 2, "cpu", steps=1, warmup=0, bf16=True)
    assert set(with_bf16.checkpoint_seconds) == {4, 8, 16}
    # every width in both precisions, each bf16 right after its fp32 (a time limit cuts both alike)
    assert list(with_bf16.step_seconds) == [
        c.label.removesuffix("32-true") + p for c in cands for p in ("32-true", "bf16-mixed")
    ]
    both_stop = measure_candidates(cands, 1, 2, "cpu", steps=1, warmup=0, bf16=True, stop_above_s=1e-9)
    assert len(both_stop.step_seconds) == 2  # the narrowest in each precision, then each stops


def test_epochs_grow_until_the_checkpoint_write_is_a_small_share(monkeypatch: pytest.MonkeyPatch) -> None:
    """The H100 run of benchmarks/cuda_fit.sh: 40-step epochs of base 64 (0.055 s/step) spent 1.23 s each
    outside the loop, mostly writing last.ckpt; the plan predicted 1.74x the steps the run made."""
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    fp = make_fp()
    geo = choose_geometry(fp, "cuda")
    times = {Candidate(w, geo.depth, geo.crop, geo.batch).label: t for w, t in {16: 0.024, 64: 0.055}.items()}
    free = Machine("cuda", "test gpu", (), False, 16, times)  # reading is free here: steps pace the epochs
    gpu = dataclasses.replace(free, checkpoint_seconds={16: 0.1, 64: 1.1})
    rows = {r["base_channels"]: r for r in make_plan(fp, 180, "cuda", gpu).table}
    ignored = {r["base_channels"]: r for r in make_plan(fp, 180, "cuda", free).table}
    for base, row in rows.items():
        epoch_s = row["steps_per_epoch"] * row["step_seconds"]
        assert row["checkpoint_seconds"] <= EPOCH_OVERHEAD_SHARE * epoch_s + 1e-9, base
        # Counted in the prediction: fewer steps than free checkpoints, but longer epochs keep the cost small.
        assert (
            0.9 * ignored[base]["steps_in_budget"] < row["steps_in_budget"] < ignored[base]["steps_in_budget"]
        )
    assert rows[64]["steps_per_epoch"] >= 10 * ignored[64]["steps_per_epoch"]
    plan = make_plan(fp, 180, "cuda", gpu)
    chosen = plan.table[-1]
    assert plan.config["data"]["repeat"] == chosen["repeat"] > ignored[64]["repeat"]
    assert plan.summary["steps_per_epoch"] == chosen["steps_per_epoch"]
    assert "checkpoint" in plan.reasons["data.repeat"]
    # A CPU's slow steps: a small checkpoint changes nothing (the bar runs' plans keep ~40-step epochs).
    cpu = make_machine({8: 0.4, 16: 0.7})
    paced = dataclasses.replace(cpu, checkpoint_seconds={8: 0.02, 16: 0.05})
    assert [r["repeat"] for r in make_plan(fp, 600, "cpu", paced).table] == [
        r["repeat"] for r in make_plan(fp, 600, "cpu", cpu).table
    ]


def test_measure_candidates_says_when_the_machine_is_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    import unetkit.devices as devices
    import unetkit.planning.plan as plan_module

    cands = [Candidate(4, 3, (32, 32), 2)]
    monkeypatch.setattr(plan_module.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(plan_module.os, "getloadavg", lambda: (3.0, 1.0, 0.5))
    monkeypatch.setattr(
        devices, "_cpu_times", lambda: None
    )  # the load average only (tests/planning/test_busy_note)
    busy = measure_candidates(cands, 1, 2, "cpu", steps=1, warmup=0, bf16=False)
    assert any("busy while timing (load average over the last minute 3.0 on 2 CPUs)" in n for n in busy.notes)
    monkeypatch.setattr(plan_module.os, "getloadavg", lambda: (0.9, 1.0, 0.5))
    idle = measure_candidates(cands, 1, 2, "cpu", steps=1, warmup=0, bf16=False)
    assert not any("busy" in n for n in idle.notes)


def _plan_for(root: Path) -> tuple[object, object]:
    layout = discover(root)
    fp = fingerprint(layout)
    geo = choose_geometry(fp, "cpu")
    machine = Machine("cpu", "t", (), False, 1, {c.label: 0.1 for c in candidates(geo, "cpu")})
    return make_plan(fp, 600, "cpu", machine, layout=layout, geometry=geo), layout


def test_plan_yaml_is_a_config_with_reasons(tmp_path: Path, make_dataset: MakeDataset) -> None:
    from unetkit.training.config import load_config

    plan, _ = _plan_for(make_dataset(n=12))
    text = plan.to_yaml(["header"])  # type: ignore[attr-defined]
    assert "# header" in text and "# base " in text and "\n    # depth " in text
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    config = load_config(path)
    assert config.data.dataset == "folder" and config.model.kwargs["base_channels"] == 32
    assert config.data.options["split_ranges"] == {"train": [0, 8], "val": [8, 10], "test": [10, 12]}
    assert yaml.safe_load(text)["trainer"]["max_time_minutes"] == 10.0


def test_config_overrides_are_accepted_by_load_config(make_dataset: MakeDataset) -> None:
    from unetkit.training.config import load_config

    plan, layout = _plan_for(make_dataset(n=12))
    overrides = to_config_overrides(plan, layout)  # type: ignore[arg-type]
    assert "trainer.max_time_minutes=10.0" in overrides and "data.augment.rot90=true" in overrides
    config = load_config(None, overrides)
    assert config.data.crop_size == (32, 32)
    assert config.trainer.check_val_every_n_epoch >= 1
    assert config.data.options["mask_kind"] == "binary"
    # every key stays overridable after the plan
    assert load_config(None, [*overrides, "model.kwargs.base_channels=4"]).model.kwargs["base_channels"] == 4


def test_dataset_config_of_suffixed_names_and_short_list_names_builds(px: Any, tmp_path: Path) -> None:
    # Images 21_training.png with masks 21_manual1.png and split lists naming "21": the data options list
    # the pairs and the resolved names (the list files name stems the builder would not find).
    from unetkit.data.datasets import get_dataset_spec
    from unetkit.planning.plan import dataset_config

    root = tmp_path / "drive"
    for i in range(21, 33):
        px.write(root / "images" / f"{i}_training.png", px.gray_image(i))
        px.write(root / "masks" / f"{i}_manual1.png", px.binary_mask(i))
    (root / "train.txt").write_text("\n".join(str(i) for i in range(21, 29)) + "\n")
    (root / "val.txt").write_text("29\n30\n")
    (root / "test.txt").write_text("31\n32\n")
    layout = discover(root)
    data, _, missing = dataset_config(layout, fingerprint(layout))
    assert missing == [] and data["options"]["pairs"]["29_training"] == ["images/29_training.png",
                                                                         "masks/29_manual1.png"]  # fmt: skip
    assert data["options"]["split_lists"]["val"] == ["29_training", "30_training"]
    spec = get_dataset_spec("folder", root=data["root"], **data["options"])
    assert spec.pairs("val")[0] == (root / "images/29_training.png", root / "masks/29_manual1.png")


def test_data_probe_reads_as_a_loader_process_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """A GPU plan's samples are read in loader processes with OpenCV on one thread (one_thread_worker); the
    probe times them that way, and leaves the planning process's OpenCV threads as it found them."""
    import cv2

    import unetkit.planning.plan as plan_module

    seen: list[int] = []
    monkeypatch.setattr(plan_module, "_time_samples", lambda *a: seen.append(cv2.getNumThreads()) or 0.01)
    before = cv2.getNumThreads()
    cv2.setNumThreads(3)  # a multi-threaded setting, whatever this machine's default
    try:
        layout = cast(DatasetLayout, None)
        assert plan_module.data_probe(layout, (32, 32), {}, loader_process=True) == 0.01
        plan_module.data_probe(layout, (32, 32), {})
        assert seen == [1, 3] and cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(before)


def test_a_large_dataset_still_validates_several_times_in_its_budget() -> None:
    """A Cityscapes-sized folder (2975 training, 500 validation images of 1024x2048) on a CPU in 20 minutes:
    whole epochs and whole validation passes did not fit five times in the budget. Before the rule the
    plan's validation interval was longer than the budget (no validation but the one forced at the stop), and
    "best" had nothing to choose from."""
    fp = make_fp(train=2975, val=500, size=(1024, 2048), fractions=(0.3, 0.3, 0.4), asymmetry=0.3)
    plan = make_plan(fp, 1200, "cpu", make_machine({8: 0.8, 16: 1.6}, fp))
    (chosen,) = [
        r for r in plan.table if r["base_channels"] == plan.config["model"]["kwargs"]["base_channels"]
    ]
    trainer, data = plan.config["trainer"], plan.config["data"]
    assert trainer["limit_train_batches"] == chosen["steps_per_epoch"] < math.ceil(2975 / data["batch_size"])
    # The repeat's reason counts the epoch's steps before the cap and names the cap (it read "N steps per
    # epoch ... about 40" with N the capped count, then "cut to 29 by trainer.limit_train_batches ... about
    # 40": what was planned, what was cut and why, said in that order).
    whole = epoch_steps(2975 * data["repeat"], data["batch_size"])
    reason = plan.reasons["data.repeat"]
    assert reason.startswith(f"{data['repeat']}: {whole} steps per epoch planned (2975 training images, ")
    assert reason.endswith(
        f"), but the budget is too short for that many: trainer.limit_train_batches cuts each epoch to "
        f"{chosen['steps_per_epoch']} steps, so that at least {MIN_VALIDATIONS} validations fit (each epoch "
        "draws a fresh shuffle of the training crops)"
    )
    assert chosen["epochs_in_budget"] / trainer["check_val_every_n_epoch"] >= MIN_VALIDATIONS - 0.5
    assert MIN_VAL_IMAGES <= data["val_images"] < 500
    # The validations during training take at most their share of the budget.
    assert chosen["val_pass_seconds"] * MIN_VALIDATIONS <= 1.01 * VAL_TIME_SHARE * 1200
    assert plan.config["evaluate"]["checkpoint"] == "best"
    assert "fresh shuffle" in plan.reasons["trainer.limit_train_batches"]
    # Crops, not images (a trial read "all 200 training images" for 20 images drawn 10 times).
    repeat = plan.config["data"].get("repeat", 1)
    assert (
        f"all 2975 training images x data.repeat {repeat} = {2975 * repeat} crops"
        in plan.reasons["trainer.limit_train_batches"]
    )
    assert "; every training image once per epoch), but " in plan.reasons["data.repeat"]  # not "about 40"
    assert "the final evaluation scores every image" in plan.reasons["data.val_images"]
    # An ISBI-sized folder keeps whole epochs and every validation image.
    small = make_fp()
    kept_plan = make_plan(small, 1140, "cpu", make_machine({8: 0.3}, small))
    kept = kept_plan.config
    assert "limit_train_batches" not in kept["trainer"] and "val_images" not in kept["data"]
    assert kept_plan.reasons["data.repeat"].endswith("about 40, so validation and epoch overheads stay small")


def test_validation_images_fit_their_share_of_the_budget() -> None:
    # 5 passes may take 10 % of 1000 s: 20 s a pass, 20 of 500 images at 1 s each.
    assert validation_images(500, 500.0, 1000.0) == 20
    assert validation_images(500, 10.0, 1000.0) == 500  # cheap: all of them
    assert validation_images(500, 50000.0, 1000.0) == MIN_VAL_IMAGES  # never fewer than picking "best" needs
    assert validation_images(4, 100.0, 1000.0) == 4 and validation_images(0, 0.0, 1000.0) == 0


def test_epochs_grow_until_the_loader_restart_is_a_small_share(monkeypatch: pytest.MonkeyPatch) -> None:
    """The H100 trace of a 1-minute ISBI fit (benchmarks/results/cuda_fit/epoch_trace/): 41-step epochs of
    0.028 s steps with 8 loader processes spent 12 of the 60 s between one epoch's end and the next epoch's
    first step (the loader restarts its batches); 148-step epochs made 1640 steps instead of 1377."""
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    fp = make_fp()
    geo = choose_geometry(fp, "cuda")
    times = {Candidate(16, geo.depth, geo.crop, geo.batch).label: 0.028}
    no_reading = Machine("cuda", "test gpu", (), False, 16, times, checkpoint_seconds={16: 0.03})
    reading = dataclasses.replace(no_reading, data_seconds_per_sample=0.011)
    # 10 minutes: long enough that the MIN_VALIDATIONS epoch cap does not shorten the epochs
    plain = make_plan(fp, 600, "cuda", no_reading)
    plan = make_plan(fp, 600, "cuda", reading)
    row, plain_row = plan.table[0], plain.table[0]
    restart = geo.batch * 0.011
    assert row["epoch_start_seconds"] == pytest.approx(restart)
    epoch_s = row["steps_per_epoch"] * (row["step_seconds"] + row["overhead_per_step"]["reading data"])
    assert row["limit_train_batches"] is None
    assert row["checkpoint_seconds"] + restart <= EPOCH_OVERHEAD_SHARE * epoch_s + 1e-9
    assert row["steps_per_epoch"] > 2 * plain_row["steps_per_epoch"]
    # Counted in the prediction and said in the reason.
    assert row["overhead_per_step"]["epoch starts"] == pytest.approx(restart / row["steps_per_epoch"])
    assert "loader's restart" in plan.reasons["data.repeat"]
    # On a CPU there are no loader processes: the reading is inside each step, nothing restarts.
    cpu = Machine("cpu", "test cpu", (), False, 2, times, data_seconds_per_sample=0.011)
    assert all(r["epoch_start_seconds"] == 0.0 for r in make_plan(fp, 60, "cpu", cpu).table)


def test_a_retimed_precision_that_reverses_the_candidates_timings_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A trial's busy machine listed bf16 at 1.924 s/step against fp32's 1.423, then chose bf16 at 1.45x by
    the alternating re-timing, without a word on why the two disagree."""
    import torch

    import unetkit.planning.plan as plan_module
    from unetkit.planning.plan import _precision_disagreement

    cand = Candidate(8, 4, (256, 256), 4)
    bf16 = dataclasses.replace(cand, precision="bf16-mixed")
    timings = {cand.label: 1.423, bf16.label: 1.924}
    note = _precision_disagreement(timings, cand, 1.45)
    assert "1.924 against 1.423s/step" in note and "alternating re-timing decides" in note
    assert _precision_disagreement(timings, cand, 0.8) == ""  # the same order: nothing to explain
    assert _precision_disagreement({cand.label: 1.4}, cand, 1.45) == ""  # bf16 not timed at that width
    # measure_candidates says it in its re-timing note.

    class FakeStep:
        def __init__(self, cand: Candidate, *args: object, **kwargs: object) -> None:
            self.time = 1.924 if cand.precision == "bf16-mixed" else 1.423
            self.model, self.optimizer = torch.nn.Linear(1, 1), None

        def __call__(self) -> float:
            return self.time

    monkeypatch.setattr(plan_module, "TrainingStep", FakeStep)
    monkeypatch.setattr(plan_module, "checkpoint_write_seconds", lambda model, optimizer: 0.0)
    monkeypatch.setattr(plan_module, "confirm_bf16_speedup", lambda *args, **kwargs: 1.45)
    m = plan_module.measure_candidates([cand], 1, 2, "cpu", steps=1, warmup=0, bf16=True)
    assert any("re-timed at b8" in n and "alternating re-timing decides" in n for n in m.notes), m.notes
