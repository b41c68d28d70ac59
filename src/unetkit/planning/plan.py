"""Plan: a training config chosen from the fingerprint, the measured machine and the time budget.

The rules (each value of a plan carries a one-line reason in ``Plan.reasons``):

* **Depth** from the objects: the U-Net's theoretical receptive field (:func:`receptive_field`) must cover
  twice the median extent of the object ("thing") classes (:func:`object_extent`); at least 4 levels (the
  U-Net paper's depth, which also gives context), at most 5, and the bottleneck keeps >= 8 px of the image.
* **Crop** >= 4x the median object extent and >= 2x its 90th percentile (at least 128 px), a multiple of
  ``2**depth``, at most the median image; an image at most 1.5x that crop is trained whole, and so is a scene
  with an "up" (its top and bottom hold different classes: where a pixel sits carries information).
* **Batch** keeps about ``4 x 256 x 256`` pixels per optimizer step on a CPU (the ISBI recipe's step),
  at least 2 images (batch norm).
* **Width** (``base_channels``) trades capacity against optimizer steps. The ISBI 2012 sweep
  (docs/benchmarks.md, benchmarks/results/isbi_sweep/) found that at a fixed CPU budget the number of
  optimizer steps decides: base 16 gave 0.0758-0.0771 test pixel error after 720 steps (18 epochs of 40
  steps), 0.0744-0.0756 after 1440 and 0.0732 after 2160; base 8 gave 0.0733-0.0748 after 1600-2000 steps
  and 0.0733-0.0741 after 4000. Gains stop near 2000 steps of 4 x 256^2 px, so the rule is: **the widest
  candidate whose measured speed gives >= MIN_STEPS optimizer steps in the budget** (validation and start-up
  time deducted); if none does, the narrowest (it gets the most steps), and the plan says the budget is tight.
  A step costs the measured compute plus reading and augmenting its batch; with loader processes (on a GPU)
  the reading overlaps the compute (:func:`overlapped`): an H100 run predicted 759 steps of 3 minutes by
  adding them and made 4451 (``benchmarks/results/cuda_fit/``). A configuration timed more than once (the
  thread probe, as a candidate, in a re-timing) whose candidate timing is more than ``TIMINGS_DISAGREE`` x
  its fastest counts the fastest (other work on the machine only ever slows a step), with a note.
* **Loss** CE + Dice (the sweep's best; Dice counters imbalance); class weights ``sqrt(median_f / f)``
  (a softened median-frequency balancing, SegNet's rule on CamVid) when a class holds < 2 % of the pixels.
* **Crops on rare classes** (:func:`foreground_crops`): where a crop covers less than half of the median
  image and a class other than 0 holds < 2 % of the pixels, a third of the crops hold a pixel of it
  (nnU-Net's oversampling share); evidence: ``benchmarks/foreground_crops.py`` (generated sparse objects,
  uniform against foreground crops at an equal budget, scored on validation).
* **Augmentation** from the data: upside-down flips and rotations only where the top and bottom halves
  hold the same class mix (no "up"; a scene with an up keeps mirror flips, and its TTA is the mirror
  image only; evidence: ``benchmarks/upright_scenes.py``, CamVid with a training sequence held out as
  validation); scale where image sizes vary or the scene has an up (perspective); elastic deformation for
  few (<= 100) non-photo training images, as in the U-Net paper.
* **Schedule** poly decay (power ``POLY_POWER``) paced by the time budget (``schedule.by: time``);
  ``max_epochs`` is set far above what fits so that the budget, not an epoch cap, ends the run. AdamW with
  ``LEARNING_RATE`` and the benchmark recipes' ``WEIGHT_DECAY``.
* **Epoch length** about ``STEPS_PER_EPOCH`` steps (small sets are repeated), longer where writing the
  measured checkpoint (last.ckpt, every epoch) and the loader processes' restart (one batch read afresh,
  :func:`loader_restart_seconds`) would cost more than ``EPOCH_OVERHEAD_SHARE`` of an epoch
  (:func:`epoch_repeat`: fast GPU steps); the prediction counts both. At most
  1/``MIN_VALIDATIONS`` of the budget's steps (``trainer.limit_train_batches``: a large training set is
  sampled afresh each epoch), so a budgeted run validates, keeps a best checkpoint and a resume point at
  least ``MIN_VALIDATIONS`` times if the machine stays as fast as measured (a busier one trains fewer
  steps in the budget, so fewer epochs).
* **Default budget** (no ``--time``): the fewest whole minutes in which the middle measured width gets
  ``MIN_STEPS`` steps as the plan predicts them (:func:`default_budget`), so the plan picks that width.
* **A budget too short** for ``MIN_USEFUL_STEPS`` steps is planned, with a warning naming a ``--time``
  that buys ``MIN_STEPS``.
* **Validation** every epoch, or every few where one pass costs more than ``VAL_TIME_SHARE`` of an epoch; a
  validation split too large for ``MIN_VALIDATIONS`` passes in that share of the budget is scored during
  training on an even spread of its images (``data.val_images``, :func:`validation_images`); the final
  evaluation always scores every image.
* **Precision** (:func:`choose_precision`): bf16 autocast where it is at least ``BF16_MIN_SPEEDUP`` x faster
  than fp32 on this machine (a CPU with native bf16, or a GPU), fp32 otherwise. The width whose speed-up is
  nearest the widths' median is re-timed with the precisions alternating step by step, and its ratio decides
  (:func:`confirm_bf16_speedup`: a busy machine's bursts of load land on both precisions alike).
  The evidence that it does not cost accuracy at an equal budget: ``benchmarks/precision_check.py`` (fp32 and
  bf16 runs of one plan side by side, scored on validation), ``benchmarks/results/precision/``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import platform
import re
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from unetkit.data.io import Window
from unetkit.data.sampling import epoch_steps
from unetkit.devices import machine_load
from unetkit.planning.discovery import DatasetLayout
from unetkit.planning.fingerprint import Fingerprint, images_text

logger = logging.getLogger(__name__)

# The model a plan measures and writes; its width and depth are this model's keywords (a model.name
# override of a model that does not take them trains without them: unetkit.training.config.load_config).
PLANNED_MODEL = "unet"
MIN_STEPS = 2000  # optimizer steps that the ISBI sweep needed before more steps stopped helping
# Below this many predicted steps a plan warns that the budget trains next to nothing (a judgement, not a
# measurement: the ISBI sweep's shortest runs had 720 steps; a trial's 5 s budget was planned silently).
MIN_USEFUL_STEPS = 50
PIXELS_PER_STEP = 4 * 256 * 256  # the ISBI recipe's batch x crop on a CPU
RARE_CLASS_FRACTION = 0.02
# Crops covering less than this share of the median image can miss a rare class; a third of them are then
# placed on it (nnU-Net's oversampling share; evidence: benchmarks/results/foreground_crops/).
PARTIAL_CROP_SHARE = 0.5
FOREGROUND_CROP_SHARE = 0.333
CPU_WIDTHS = (8, 12, 16, 24, 32)
CUDA_WIDTHS = (16, 24, 32, 48, 64)
MIN_CROP = 128
MAX_WHOLE_IMAGE = 512  # upright scenes up to this side are trained whole (position carries information)
UPRIGHT_ASYMMETRY = 0.1  # top/bottom class-mix difference above which a scene has an "up"
# ... when random upside-down turnings of the images reach it less often than this: 2 %, as a trial's 13
# images of random blobs reached 3 % (CamVid's scenes: under 0.3 %, the test's resolution). With n images
# turning all of them gives the same mix, so p >= 2 / 2**n: 7 images are the fewest that can show an up.
UPRIGHT_P = 0.02


def has_up(fp: Fingerprint) -> bool:
    """Whether the scenes have an up: the top/bottom class mix differs by at least ``UPRIGHT_ASYMMETRY``,
    and by more than chance gives (``fp.upright_p`` < ``UPRIGHT_P``)."""
    return fp.vertical_asymmetry >= UPRIGHT_ASYMMETRY and fp.upright_p < UPRIGHT_P


VAL_TIME_SHARE = 0.1  # validate less often when one validation pass would cost more than this share
# Validations a budgeted run gets at least (the best checkpoint is picked among them, and each epoch end is a
# resume point): an epoch is at most 1/MIN_VALIDATIONS of the budget's steps, and a validation split too
# large for MIN_VALIDATIONS passes in VAL_TIME_SHARE of the budget is scored on an even spread of its images.
MIN_VALIDATIONS = 5
MIN_VAL_IMAGES = 10  # fewer validation images: "last" rather than "best" (the ISBI sweep: no better)
# TTA for a scene with an up: the mirror image only (an upside-down or turned street is no street).
MIRROR_TTA = "identity,hflip"
STEPS_PER_EPOCH = 40  # repeat small training sets so an epoch has about this many steps (ISBI: 20 x 8 / 4)
# Epochs are made longer where writing last.ckpt (every epoch) would cost more than this share of one: on an
# H100, 40-step epochs of the base-64 U-Net spent 1.23 s each outside the loop against 0.15 s at base 16,
# about in proportion to the checkpoint's size (benchmarks/results/cuda_fit/summary.json).
EPOCH_OVERHEAD_SHARE = 0.05
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 1e-4  # AdamW's decoupled decay of the benchmark recipes (benchmarks/configs/)
POLY_POWER = 0.9  # the poly schedule's exponent: DeepLab's and nnU-Net's
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
# Below this speed-up the extra steps are too few to matter; on an AVX2-only CPU bf16 is ~100x slower and
# the rule keeps fp32 by itself.
BF16_MIN_SPEEDUP = 1.25
# The widths' few consecutive steps per precision let a burst of other work land on one precision only (a busy
# 2-core machine measured 1.20-1.33x for one folder, and plans of it flipped between the precisions; under
# heavier load one width measured 0.4x, then 5.2x). So the decision is re-timed at one width, the precisions
# alternating step by step over this many rounds, each precision's fastest step counting
# (:func:`confirm_bf16_speedup`; evidence: benchmarks/precision_probe.py,
# benchmarks/results/precision_probe/).
BF16_CONFIRM_ROUNDS = 4
# NCHW must beat NHWC, the layout the candidates were timed in, by this much at one width re-timed in
# alternation (LAYOUT_ROUNDS steps each) for a CPU plan to train in NCHW: within it the timing is noise, and
# the candidates' step times (NHWC) stay the plan's evidence. On a GPU the plan trains NCHW, unmeasured.
NCHW_MIN_SPEEDUP = 1.05
LAYOUT_ROUNDS = 4
# Where the time limit leaves less than the rounds above need, the re-timings run fewer rounds, never fewer
# than this (alternation needs two to expose both contenders to a burst of load alike); the memory layout,
# whose default (NHWC) holds without it, is then not re-timed. A user trial's --measure-limit 10 on
# 1024x1024 images spent 72 s in full-round re-timings past the limit.
MIN_RETIME_ROUNDS = 2
# One configuration (width, depth, crop, batch, precision, on this machine's threads and layout) can be timed
# more than once: by the thread probe, as a candidate, and in an alternating re-timing (bf16's, the memory
# layout's, bf16's at the trained width). Where the candidate's timing is more than TIMINGS_DISAGREE x the
# fastest of them, the plan takes the fastest: other work on the machine only ever slows a step, never speeds
# one up, so a gap that wide is load (a user trial's busy machine timed one configuration at 0.346 s/step in
# the thread probe and 2.906 s/step as a candidate, and the plan predicted 34 steps from the slow one; its run
# made 108). Within that factor the candidate's own timing stands, as before: the fastest of several idle
# timings is biased low. Where timings are more than TIMINGS_DISAGREE x apart, the measuring notes say so in
# one line (:func:`timings_note`).
TIMINGS_DISAGREE = 2.0
# The sources of one configuration's timings (Machine.timings), as the notes name them.
CANDIDATE_TIMING = "candidate"
THREAD_PROBE_TIMING = "thread probe"
BF16_RETIMING = "bf16 re-timing"
LAYOUT_RETIMING = "layout re-timing"
# The start of the note on timings that disagree (replaced, not repeated, when a re-timing adds one).
TIMINGS_NOTE = "timings of one configuration disagreed"
PRECISION_EVIDENCE = "benchmarks/results/precision/precision.md"
# A measured choice near its threshold can differ between two plans (a trial's: 1.23x, then 1.28x) and changes
# the numbers: the reason says how to hold it.
PIN_PRECISION = "; measured, so a plan on a busy or another machine can differ: --precision pins it"
# The words of the note on candidates a time limit left out ("not measured (time ran out: ...").
TIME_RAN_OUT = "time ran out"


# ------------------------------------------------------------------------------------------ time budget


def parse_duration(text: str | float | int) -> float:
    """``"20m"``, ``"1h"``, ``"90s"``, ``"1h30m"`` or a number of minutes -> seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text) * 60.0
    else:
        raw = str(text).strip().lower()
        if raw.startswith("-") and raw[1:].strip() and raw[1:].lstrip()[0].isdigit():
            # "-3", "-20m": a duration, but negative (said as 0's is, not as "not a duration": trial 27)
            raise ValueError(f"time budget {text!r} must be positive; write e.g. 20m")
        if re.fullmatch(r"\d+(\.\d+)?", raw):
            seconds = float(raw) * 60.0
        else:
            match = re.fullmatch(
                r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?:in)?)?(?:(\d+(?:\.\d+)?)s)?", raw
            )
            if not raw or match is None:
                raise ValueError(f"time budget {text!r} is not a duration; write e.g. 20m, 1h, 90s or 1h30m")
            h, m, s = (float(g) if g else 0.0 for g in match.groups())
            seconds = h * 3600 + m * 60 + s
    if not seconds > 0 or math.isinf(seconds):
        raise ValueError(f"time budget {text!r} must be positive; write e.g. 20m")
    return seconds


def duration_text(minutes: int) -> str:
    """Whole minutes as ``--time`` takes them: ``12m``, ``2h``, ``1h30m``."""
    hours, rest = divmod(int(minutes), 60)
    if not hours:
        return f"{rest}m"
    return f"{hours}h{rest}m" if rest else f"{hours}h"


# The longest budget :func:`minutes_for_steps` looks for (a week): beyond it a budget is no advice.
MAX_ADVISED_MINUTES = 7 * 24 * 60


def minutes_for_steps(steps_at: Callable[[float], int], min_steps: int, budget_s: float) -> int | None:
    """The fewest whole minutes of budget at which ``steps_at(seconds)`` (the plan's prediction of the steps a
    budget buys) reaches ``min_steps``, given that ``budget_s`` does not; None beyond
    :data:`MAX_ADVISED_MINUTES`. Bisects on whole minutes (the prediction grows with the budget)."""
    low = max(1, math.ceil(budget_s / 60.0))  # a budget known to be too short (or the first minute)
    high = low
    while steps_at(high * 60.0) < min_steps:
        low, high = high, high * 2
        if low > MAX_ADVISED_MINUTES:
            return None
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if steps_at(mid * 60.0) >= min_steps else (mid, high)
    return high if steps_at(low * 60.0) < min_steps else low


# ------------------------------------------------------------------------------------------ geometry


def receptive_field(depth: int) -> int:
    """Theoretical receptive field (px) of the padded U-Net (two 3x3 convs per level, 2x2 max pooling, 2x2
    stride-2 transposed convs): the widest input span one output pixel depends on, over the ``2**depth``
    positions a pixel can have on the pooling grid. Depth 2: 44, 3: 100, 4: 204, 5: 412 (``13 * 2**depth
    - 4`` from depth 3); a pixel's own span is 188-204 px at depth 4, by its position.

    Traced back from one output pixel: a level's two convs widen the span by 2 px per side at that level's
    scale; a transposed conv's output row ``i`` comes from its input row ``i // 2`` (so the span it maps to
    depends on the alignment: the decoder is not a fixed number of pixels); a pooling's output row ``i``
    comes from rows ``2i`` and ``2i + 1``. The gradient of one output pixel of a constant-weight U-Net with
    average pools spans exactly this (tests/planning/test_plan.py); summing every level's worst case instead
    (as this function did) gave 96 and 200 for depths 3 and 4.
    """
    widest = 0
    for offset in range(2**depth):
        lo = hi = offset
        for _ in range(depth):  # the decoder, from the output up: a level's convs, then the up-conv's rows
            lo, hi = (lo - 2) // 2, (hi + 2) // 2
        lo, hi = lo - 2, hi + 2  # the bottleneck's convs
        for _ in range(depth):  # the encoder, back down: the pooling's rows, then that level's convs
            lo, hi = 2 * lo - 2, 2 * hi + 1 + 2
        widest = max(widest, hi - lo + 1)
    return widest


@dataclass(frozen=True)
class Geometry:
    depth: int
    crop: tuple[int, int]
    batch: int
    object_extent: float
    reasons: dict[str, str]


def _round_down(value: float, multiple: int) -> int:
    return max(multiple, int(value) // multiple * multiple)


def _round_up(value: float, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


def object_extent(fp: Fingerprint) -> tuple[float, float, str]:
    """(median, 90th-percentile) object extent (px) that depth and crop must cover, and where it comes from.

    Over the object ("thing") classes: the median of their median extents and of their 90th percentiles.
    """
    things = [c for c in fp.classes if c.objects and not c.stuff]
    if not things:
        short = min(fp.size_median)
        return short / 4.0, short / 2.0, f"no object classes (all span the image): from the {short}px side"
    median = float(np.median([c.extent_median for c in things]))
    p90 = float(np.median([c.extent_p90 for c in things]))
    names = ", ".join(c.name for c in things[:4]) + (" ..." if len(things) > 4 else "")
    return median, p90, f"object classes {names}"


def choose_geometry(fp: Fingerprint, device: str) -> Geometry:
    """Depth, crop and batch from the object sizes and image sizes (see the module docstring)."""
    extent, p90, where = object_extent(fp)
    reasons: dict[str, str] = {}
    h_med, w_med = fp.size_median
    short = min(h_med, w_med)
    depth = 4
    while depth < 5 and receptive_field(depth) < 2 * extent and short // 2 ** (depth + 1) >= 8:
        depth += 1
    while depth > 3 and short // 2**depth < 8:
        depth -= 1
    reasons["model.kwargs.depth"] = (
        f"depth {depth}: receptive field {receptive_field(depth)}px covers 2x the median object extent "
        f"{extent:.0f}px ({where}); at least the U-Net paper's 4 levels where the image allows"
    )
    mult = 2**depth
    side = max(MIN_CROP, _round_up(max(4 * extent, 2 * p90), mult))
    crop_h, crop_w = min(side, _round_down(h_med, mult)), min(side, _round_down(w_med, mult))
    upright = has_up(fp)
    if upright and max(h_med, w_med) <= MAX_WHOLE_IMAGE:
        crop_h, crop_w = _round_down(h_med, mult), _round_down(w_med, mult)
        why = (
            f"whole images ({w_med}x{h_med} median, WxH): the scene has an up (top/bottom class mix differs "
            f"by {fp.vertical_asymmetry:.2f}), so where a pixel sits carries information a crop would lose"
        )
    elif h_med <= 1.5 * side and w_med <= 1.5 * side:
        crop_h, crop_w = _round_down(h_med, mult), _round_down(w_med, mult)
        why = f"whole images ({w_med}x{h_med} median, WxH, <= 1.5x the {side}px crop the objects need)"
    else:
        why = (
            f">= 4x the median object extent {extent:.0f}px and 2x the 90th percentile {p90:.0f}px, "
            f">= {MIN_CROP}px, a multiple of 2**{depth}"
        )
    reasons["data.crop_size"] = f"{crop_w}x{crop_h} (WxH): {why}"
    reasons["data.batch_size"], batch = _batch_reason(device, (crop_h, crop_w))
    return Geometry(depth, (crop_h, crop_w), batch, extent, reasons)


# Batch bounds per device: >= 2 (CPU) / 4 (GPU) for batch norm's statistics; the caps keep tiny crops from
# making batches of thousands (one 16x16 crop per image would ask 1024 for 4 x 256^2 px).
BATCH_BOUNDS = {"cpu": (2, 32), "cuda": (4, 64)}


def _batch_reason(device: str, crop: tuple[int, int]) -> tuple[str, int]:
    """The batch size that keeps about 4 x 256^2 px (CPU) or 16 x 256^2 px (GPU) per optimizer step, within
    :data:`BATCH_BOUNDS`, and the plan's reason for it: the bound that set it is named, so that a 16x16 crop's
    batch of 32 does not claim 4 x 256^2 px."""
    low, high = BATCH_BOUNDS["cpu" if device == "cpu" else "cuda"]
    crop_pixels = crop[0] * crop[1]
    crops = f"{crop[1]}x{crop[0]} crops"  # WxH, as the crop's own reason
    target = PIXELS_PER_STEP if device == "cpu" else 4 * PIXELS_PER_STEP
    wanted = round(target / crop_pixels)
    batch = max(low, min(high, wanted))
    step = (
        "4 x 256^2 px per optimizer step (the ISBI recipe's step on a CPU)"
        if device == "cpu"
        else ("16 x 256^2 px per step on a GPU")
    )
    if batch == wanted:
        return f"{batch}: about {step}, >= {low} for batch norm", batch
    if batch == high:
        return (
            f"{batch}: the cap ({high}); about {step} would take {wanted} {crops}, so a step holds "
            f"{batch * crop_pixels} px",
            batch,
        )
    return (
        f"{batch}: >= {low} for batch norm (about {step} would take {wanted} {crops})",
        batch,
    )


# ------------------------------------------------------------------------------------------ machine


@dataclass(frozen=True)
class Candidate:
    """One model/step configuration whose training speed is measured."""

    base_channels: int
    depth: int
    crop: tuple[int, int]
    batch: int
    precision: str = "32-true"

    @property
    def label(self) -> str:
        crop = f"{self.crop[1]}x{self.crop[0]}"  # W x H, as every size shown (self.crop is (H, W))
        return f"unet b{self.base_channels} d{self.depth} {crop} x{self.batch} {self.precision}"


@dataclass(frozen=True)
class ForwardTiming:
    """One view of prediction timed at plan time (:func:`time_forward`): the plan's model predicting an image
    the way the final scoring runs the trained one (eval mode, ``torch.inference_mode``, fp32, the run's
    threads), what the estimate of the scoring after the budget scales by area (:func:`after_budget_text`)."""

    model: str  # "unet b8 d4"
    shape: tuple[int, int]  # (H, W) of the image predicted
    seconds: float  # the fastest prediction of it after a warm-up
    device: str
    threads: int | None  # torch's threads (None on a GPU)
    precision: str = "fp32"

    @property
    def seconds_per_pixel(self) -> float:
        return self.seconds / max(self.shape[0] * self.shape[1], 1)

    def text(self) -> str:
        """``0.101s for one view of a 378x378 image, fp32, 1 thread`` (W x H)."""
        on = f"{self.threads} thread{'' if self.threads == 1 else 's'}" if self.threads else self.device
        size = f"{self.shape[1]}x{self.shape[0]}"
        return f"{self.seconds:.3f}s for one view of a {size} image, {self.precision}, {on}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "image_hw": list(self.shape),
            "seconds": self.seconds,
            "precision": self.precision,
            "device": self.device,
            "threads": self.threads,
        }


@dataclass(frozen=True)
class Machine:
    """Measured speed of this device: seconds per optimizer step of each candidate, the fastest of its
    timings (``timings``: the median of its own steps, and the thread probe's and the re-timings' fastest
    where they timed the same configuration; :data:`TIMINGS_DISAGREE`)."""

    device: str
    description: str
    cpu_flags: tuple[str, ...]
    native_bf16: bool
    threads: int
    step_seconds: dict[str, float]
    data_seconds_per_sample: float = 0.0
    measure_seconds: float = 0.0
    notes: tuple[str, ...] = ()
    # base_channels -> seconds to write one training checkpoint (weights + AdamW state) of that width.
    checkpoint_seconds: dict[int, float] = field(default_factory=dict)
    # fp32 / bf16 step time of one width re-timed in alternation (:func:`confirm_bf16_speedup`); None where
    # bf16 was not measured.
    bf16_confirmed: float | None = None
    # The width (base_channels) bf16_confirmed was re-timed at: the one nearest the widths' median speed-up,
    # then the width a bf16 plan trains (:func:`confirm_at_trained_width`); None where not re-timed.
    bf16_confirmed_width: int | None = None
    # (base_channels, NHWC step / NCHW step) of one width re-timed in alternation (:func:`time_layouts`, CPU
    # only); None where not measured.
    nchw_speedup: tuple[int, float] | None = None
    # Whether the time limit left candidates out (their note says how the limit was split): fp32's reason
    # then says why bf16 was not timed on a machine that has it.
    time_ran_out: bool = False
    # One view of prediction by the plan's model, timed after the choice (:func:`time_forward`); None where
    # not timed (no validation images: no estimate of the scoring after the budget).
    forward: ForwardTiming | None = None
    # label -> {source: seconds per step}: every timing of one configuration (CANDIDATE_TIMING,
    # THREAD_PROBE_TIMING, BF16_RETIMING, LAYOUT_RETIMING), of which step_seconds holds each candidate's
    # fastest; empty in a machine record made of step_seconds alone (each then its one timing).
    timings: dict[str, dict[str, float]] = field(default_factory=dict)


def cpu_flags() -> tuple[str, ...]:
    """The CPU feature flags of /proc/cpuinfo (empty where it does not exist)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return tuple(line.split(":", 1)[1].split())
    except OSError:
        pass
    return ()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def candidates(geometry: Geometry, device: str) -> list[Candidate]:
    """The widths to measure (narrow to wide) at ``geometry``'s depth, crop and batch."""
    widths = CPU_WIDTHS if device == "cpu" else CUDA_WIDTHS
    return [Candidate(w, geometry.depth, geometry.crop, geometry.batch) for w in widths]


def measure_candidates(
    cands: Sequence[Candidate],
    in_channels: int,
    num_classes: int,
    device: str = "cpu",
    *,
    steps: int = 2,
    warmup: int = 1,
    time_limit_s: float = 30.0,
    stop_above_s: float | None = None,
    bf16: bool | None = None,
    data_probe: Callable[[], float] | None = None,
    limit_text: str | None = None,
    earlier: Mapping[str, Mapping[str, float]] | None = None,
) -> Machine:
    """Time ``steps`` training steps (forward, CE + Dice, backward, AdamW) of each candidate on ``device``.

    Candidates are measured narrow to wide; measuring stops when the time spent passes ``time_limit_s`` (the
    first width timed is timed in both precisions all the same: bf16 is decided on it) or a candidate's step
    takes more than ``stop_above_s`` (wider ones are slower still; per precision). ``bf16``
    (default: the CPU has native bf16, avx512_bf16 or amx_bf16, or the device is CUDA) also times each
    candidate under bf16 autocast, right after its fp32 step, so that a time limit cuts both alike.
    ``data_probe()`` returns seconds to read and augment one sample; ``limit_text`` words the time limit in
    the note on the candidates it left out (how ``--measure-limit`` was split). The time to write each width's
    training checkpoint is measured too (:func:`checkpoint_write_seconds`: it sets a fast device's epochs).
    ``earlier``: timings taken before this call, ``{label: {source: seconds per step}}`` (the thread
    probe's step at the thread count it chose, ``{"unet b8 d4 128x128 x16 32-true": {"thread probe":
    0.346}}``). Where a configuration was timed more than once (``earlier``, as a candidate, in a re-timing)
    its step time is the fastest of its timings, and a note names timings more than
    :data:`TIMINGS_DISAGREE` x apart (:func:`timings_note`).
    Random tensors are used: speed does not depend on the values. Does not change torch's thread count.
    """
    import torch

    from unetkit.devices import resolve_device

    device = resolve_device(device)
    flags = cpu_flags()
    native = bool({"avx512_bf16", "amx_bf16"} & set(flags))
    if bf16 is None:
        bf16 = native or device == "cuda"
    start = time.perf_counter()
    limit_words = limit_text or f"measuring time limit {time_limit_s:.0f}s"
    timings: dict[str, float] = {}
    checkpoint_s: dict[int, float] = {}
    notes: list[str] = []
    todo: list[Candidate] = []
    for c in cands:
        todo.append(c)
        if bf16:
            todo.append(Candidate(c.base_channels, c.depth, c.crop, c.batch, "bf16-mixed"))
    skipped: dict[str, list[Candidate]] = {}  # reason -> candidates: one line per reason on the console
    seen: dict[str, dict[str, float]] = {}  # label -> {source: seconds}: every timing (TIMINGS_DISAGREE)
    for label, by_source in (earlier or {}).items():
        for source, seconds in by_source.items():
            _add_timing(seen, label, source, seconds)
    load = _busy_note()
    if load:
        notes.append(load)
    for cand in todo:
        # The first width timed in fp32 is timed in bf16 too, even past the limit: without one width in both
        # precisions bf16 is neither re-timed nor chosen (a trial's 10 s limit, spent on the thread probe and
        # one fp32 step, left bf16 unmeasured on a CPU with avx512_bf16).
        first_pair = (
            cand.precision == "bf16-mixed"
            and dataclasses.replace(cand, precision="32-true").label in timings
            and not _speedups_of(timings, cands)
        )
        if time.perf_counter() - start > time_limit_s and not first_pair:
            why = f"{TIME_RAN_OUT}: {limit_words}"
            skipped.setdefault(why, []).append(cand)
            continue
        # Too slow by the fastest timing of each (a thread probe's 0.38 s/step beside a busy candidate's 2.75
        # once left every wider width unmeasured).
        if stop_above_s is not None and any(
            t > stop_above_s
            for k, t in plan_step_seconds(timings, seen).items()
            if k.endswith(" " + cand.precision)
        ):
            skipped.setdefault("a narrower candidate was already too slow for the budget", []).append(cand)
            continue
        step = TrainingStep(cand, in_channels, num_classes, device)
        times = [step() for _ in range(warmup + steps)][warmup:]
        timings[cand.label] = round(statistics.median(times), 4)
        if cand.base_channels not in checkpoint_s:  # one per width: precision does not change its size
            checkpoint_s[cand.base_channels] = checkpoint_write_seconds(step.model, step.optimizer)
    notes += [f"not measured ({why}): {_candidate_list(skip)}" for why, skip in skipped.items()]
    confirmed = None
    retime = _retime_width(timings, cands)
    retimed: dict[str, float] = {}  # label -> the fastest step of bf16's alternating re-timing
    bf16_rounds = 0
    if bf16 and retime is not None:  # even past the time limit (fewer rounds): it decides the precision
        pair = timings[retime.label] + timings[dataclasses.replace(retime, precision="bf16-mixed").label]
        rounds = retime_rounds(time_limit_s - (time.perf_counter() - start), pair, BF16_CONFIRM_ROUNDS)
        bf16_rounds = max(rounds, MIN_RETIME_ROUNDS)
        confirmed = confirm_bf16_speedup(retime, in_channels, num_classes, device, bf16_rounds, retimed)
    bf16_note_at = len(notes)  # its note is written once every timing is in (it compares the step times)
    layout = None
    layout_timed: dict[str, float] = {}
    middle = _layout_width(timings, cands) if device == "cpu" else None
    if middle is not None:  # it decides the memory layout the run trains in, within the time limit only
        rounds = retime_rounds(time_limit_s - (time.perf_counter() - start), 2 * timings[middle.label],
                               LAYOUT_ROUNDS)  # fmt: skip
        if rounds >= MIN_RETIME_ROUNDS:
            speedup = time_layouts(middle, in_channels, num_classes, device, rounds, layout_timed)
            layout = (middle.base_channels, speedup)
            notes.append(
                f"memory layout re-timed at b{middle.base_channels}, NHWC and NCHW alternating over "
                f"{rounds} steps each (the fastest of each): NCHW {layout[1]:.2f}x NHWC's speed"
            )
        else:
            needs = (MIN_RETIME_ROUNDS + 1) * 2 * timings[middle.label]
            notes.append(
                f"memory layout not re-timed ({TIME_RAN_OUT}: {limit_words}; it needs about {needs:.0f}s at "
                f"b{middle.base_channels}): NHWC, the layout the candidates were timed in"
            )
    for source, measured in (
        (CANDIDATE_TIMING, timings), (BF16_RETIMING, retimed), (LAYOUT_RETIMING, layout_timed)
    ):  # fmt: skip
        for label, seconds in measured.items():
            _add_timing(seen, label, source, seconds)
    step_seconds = plan_step_seconds(timings, seen)
    if confirmed is not None and retime is not None:
        notes.insert(
            bf16_note_at,
            f"bf16 autocast re-timed at b{retime.base_channels}, the precisions alternating over "
            f"{bf16_rounds} steps each (the fastest of each): {confirmed:.2f}x"
            + _precision_disagreement(step_seconds, retime, confirmed),
        )
    disagree = timings_note(seen)
    if disagree:
        notes.append(disagree)
    data_s = 0.0
    if data_probe is not None:
        data_s = round(data_probe(), 4)
    desc = cpu_model() if device == "cpu" else torch.cuda.get_device_name(0)
    return Machine(
        device=device,
        description=desc,
        cpu_flags=tuple(f for f in flags if f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")),
        native_bf16=native,
        threads=torch.get_num_threads(),
        step_seconds=step_seconds,
        data_seconds_per_sample=data_s,
        measure_seconds=round(time.perf_counter() - start, 2),
        notes=tuple(notes),
        checkpoint_seconds=checkpoint_s,
        bf16_confirmed=confirmed,
        bf16_confirmed_width=retime.base_channels if confirmed is not None and retime is not None else None,
        nchw_speedup=layout,
        time_ran_out=any(why.startswith(TIME_RAN_OUT) for why in skipped),
        timings=seen,
    )


def _speedups_of(timings: dict[str, float], cands: Sequence[Candidate]) -> dict[Candidate, float]:
    """``{fp32 candidate: fp32 step / bf16 step}`` for the candidates timed in both precisions."""
    out = {}
    for c in cands:
        bf16 = dataclasses.replace(c, precision="bf16-mixed")
        if c.label in timings and timings.get(bf16.label, 0) > 0:
            out[c] = timings[c.label] / timings[bf16.label]
    return out


def _retime_width(timings: dict[str, float], cands: Sequence[Candidate]) -> Candidate | None:
    """The width whose bf16 speed-up is nearest the widths' median (the narrower on a tie): the one
    :func:`confirm_bf16_speedup` re-times; None where no width was timed in both precisions."""
    speedups = _speedups_of(timings, cands)
    if not speedups:
        return None
    median = statistics.median(speedups.values())
    return min(speedups, key=lambda c: (abs(speedups[c] - median), c.base_channels))


def _add_timing(timings: dict[str, dict[str, float]], label: str, source: str, seconds: float) -> None:
    """Record one timing of ``label`` by ``source`` in ``timings`` (a source's second timing of it: the
    faster of the two)."""
    seen = timings.setdefault(label, {})
    seen[source] = min(seen.get(source, math.inf), float(seconds))


def plan_step_seconds(
    step_seconds: Mapping[str, float], timings: Mapping[str, Mapping[str, float]]
) -> dict[str, float]:
    """``step_seconds`` (the candidates' own timings) with the figure of each configuration whose candidate
    timing is more than :data:`TIMINGS_DISAGREE` x its fastest of ``timings`` replaced by that fastest one
    (other work only ever slows a step: such a gap is load, not the step). Within that factor the candidate's
    timing stands: the fastest of several timings of an idle machine is biased low (the minimum of more
    samples), and it moved an idle ISBI plan from base 16 to 24. A configuration timed outside the
    candidates only (a re-timing of a width the time limit left out) is not added: the candidates' notes
    say why it was not measured, and the choice is among the candidates."""
    chosen = {}
    for label, seconds in step_seconds.items():
        fastest = min([seconds, *(t for t in timings.get(label, {}).values() if t > 0)])
        chosen[label] = fastest if seconds > TIMINGS_DISAGREE * fastest else seconds
    return chosen


def timings_note(timings: Mapping[str, Mapping[str, float]]) -> str:
    """One line naming each configuration whose timings (``{label: {source: seconds per step}}``) are more
    than :data:`TIMINGS_DISAGREE` x apart, its fastest and slowest with their sources, and the figure the
    plan uses; '' where none are (an idle machine's)."""
    parts = []
    for label, seen in timings.items():
        valid = {source: t for source, t in seen.items() if t > 0}
        if len(valid) < 2:
            continue
        fast, slow = min(valid, key=valid.__getitem__), max(valid, key=valid.__getitem__)
        if valid[slow] > TIMINGS_DISAGREE * valid[fast]:
            parts.append(
                f"{label} {valid[fast]:.3f}s/step ({fast}) against {valid[slow]:.3f}s/step ({slow}), "
                f"{valid[slow] / valid[fast]:.1f}x"
            )
    if not parts:
        return ""
    return (
        f"{TIMINGS_NOTE} by more than {TIMINGS_DISAGREE:g}x: {'; '.join(parts)}: other work on the machine "
        "slowed the slower timing (it only ever slows a step), so the plan uses each configuration's fastest "
        "timing, for its steps, estimates and warnings alike; plan again when the machine is idle"
    )


def with_timings(machine: Machine, seconds: Mapping[str, float], source: str) -> Machine:
    """``machine`` with ``seconds`` (``{label: seconds per step}``, timed by ``source``) added to its
    timings: each candidate's step time the fastest of its timings again, and the note on timings that
    disagree (:func:`timings_note`) made again, last. Unchanged where ``seconds`` is empty."""
    if not seconds:
        return machine
    timings = {label: dict(seen) for label, seen in machine.timings.items()}
    for label, step_s in machine.step_seconds.items():  # a record made of step_seconds alone
        timings.setdefault(label, {CANDIDATE_TIMING: step_s})
    for label, step_s in seconds.items():
        _add_timing(timings, label, source, step_s)
    note = timings_note(timings)
    return dataclasses.replace(
        machine,
        step_seconds=plan_step_seconds(machine.step_seconds, timings),
        timings=timings,
        notes=(*(n for n in machine.notes if not n.startswith(TIMINGS_NOTE)), *([note] if note else [])),
    )


class TrainingStep:
    """One training step of a candidate (forward, CE + Dice, backward, AdamW on random tensors: speed does not
    depend on the values), at ``precision`` (default ``cand.precision``); calling it runs a step and returns
    its seconds. ``model`` and ``optimizer`` are kept (a checkpoint write is timed from them)."""

    def __init__(
        self,
        cand: Candidate,
        in_channels: int,
        num_classes: int,
        device: str = "cpu",
        precision: str | None = None,
        channels_last: bool | None = None,
    ) -> None:
        import torch

        from unetkit.losses.factory import create_loss
        from unetkit.models.registry import create_model

        self.device = torch.device(device)
        gen = torch.Generator().manual_seed(0)
        nhwc = self.device.type == "cpu" if channels_last is None else channels_last
        memory_format = torch.channels_last if nhwc else torch.contiguous_format
        self.loss_fn = create_loss("ce+dice", num_classes)
        self.x = torch.randn(cand.batch, in_channels, *cand.crop, generator=gen).to(
            self.device, memory_format=memory_format
        )
        self.y = torch.randint(0, num_classes, (cand.batch, *cand.crop), generator=gen).to(self.device)
        model = create_model(
            "unet", in_channels=in_channels, num_classes=num_classes, depth=cand.depth,
            base_channels=cand.base_channels,
        ).to(self.device)  # fmt: skip
        self.model = model.to(memory_format=memory_format)  # type: ignore[call-overload]
        self.model.train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3)
        self.bf16 = (precision or cand.precision) == "bf16-mixed"

    def __call__(self) -> float:
        import torch

        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            loss = self.loss_fn(self.model(self.x), self.y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - t0


def alternating_fastest(steps: Mapping[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """``{name: fastest seconds}`` of ``steps`` run in alternation: one warm-up call each (first-call
    allocations, kernel selection), then ``rounds`` rounds of one call each. Other work on the machine only
    ever adds time, and alternating exposes every contender to it alike; consecutive runs of one let a burst
    of load land on it alone."""
    for step in steps.values():
        step()
    best = {name: math.inf for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            best[name] = min(best[name], step())
    return best


def _precision_disagreement(timings: Mapping[str, float], retime: Candidate, confirmed: float) -> str:
    """A note's tail where the candidates' consecutive timings of the re-timed width put the precisions in
    the other order than the alternating re-timing (a trial's busy machine listed bf16 at 1.924 s/step
    against fp32's 1.423, then the re-timing chose bf16 at 1.45x, and the plan read as a contradiction)."""
    fp32 = timings.get(dataclasses.replace(retime, precision="32-true").label)
    bf16 = timings.get(dataclasses.replace(retime, precision="bf16-mixed").label)
    if not fp32 or not bf16 or (fp32 / bf16 > 1.0) == (confirmed > 1.0):
        return ""
    return (
        f"; the timings above put them the other way round ({bf16:.3f} against {fp32:.3f}s/step, taken "
        "one precision after the other, so other work on the machine can land on one of them): the "
        "alternating re-timing decides"
    )


def retime_rounds(left_s: float, round_s: float, most: int) -> int:
    """Rounds of an alternating re-timing (:func:`alternating_fastest`: a warm-up round, then the rounds)
    of ``round_s`` seconds each that fit in the ``left_s`` the time limit leaves, at most ``most``;
    may be 0."""
    if round_s <= 0:
        return most
    return max(0, min(most, math.floor(left_s / round_s) - 1))


def confirm_bf16_speedup(
    cand: Candidate,
    in_channels: int,
    num_classes: int,
    device: str = "cpu",
    rounds: int = BF16_CONFIRM_ROUNDS,
    seconds: dict[str, float] | None = None,
) -> float:
    """fp32 step / bf16 step of ``cand``, the precisions timed in alternation
    (:func:`alternating_fastest`). ``seconds``, where given, receives the fastest step of each precision
    (``{label: seconds}``): timings of the candidates' configurations, whose step times take the fastest
    (:data:`TIMINGS_DISAGREE`)."""
    best = alternating_fastest(
        {p: TrainingStep(cand, in_channels, num_classes, device, p) for p in ("32-true", "bf16-mixed")},
        rounds,
    )
    if seconds is not None:
        for precision, step_s in best.items():
            seconds[dataclasses.replace(cand, precision=precision).label] = round(step_s, 4)
    return round(best["32-true"] / best["bf16-mixed"], 4)


def confirm_at_trained_width(
    plan: Plan,
    machine: Machine,
    cands: Sequence[Candidate],
    replan: Callable[[Machine, str | None], Plan],
    in_channels: int,
    num_classes: int,
    device: str = "cpu",
) -> tuple[Plan, Machine]:
    """``(plan, machine)`` with bf16's decision re-timed at the width a bf16 plan trains, and ``plan`` made
    again (``replan(machine, None)``) with that ratio; ``replan(machine, "bf16-mixed")`` gives the bf16
    plan whose width is asked for. The question is whether bf16 is worth it for the model it would train:
    :func:`measure_candidates` re-timed it at the width nearest the widths' median first speed-up, before
    any width was chosen, and small widths gain least from bf16 (a CamVid plan re-timed base 8 at 1.21x and
    trained base 16 in fp32, whose first timing was 1.65x; an ISBI plan re-timed base 8 at 1.14x, and the
    fp32 plan then trained base 8 itself; benchmarks/results/autoconfig/plans/, 2026-11-29).

    Re-timed only where it can change the decision: the bf16 plan's width is not the one re-timed, and its
    first timings disagree with the decision (one side of :data:`BF16_MIN_SPEEDUP` against the other) or,
    for an fp32 decision, it was not timed in both precisions (a re-timing costs 4-14 s on a 2-core CPU at
    the widths plans train; bf16's speed-up grew with the width in every plan measured, so a bf16 decision
    at a narrower width stands). Unchanged where the precision was asked for (``machine.bf16_confirmed``
    None) or the model has no planned width."""
    if machine.bf16_confirmed is None:
        return plan, machine
    kwargs = (replan(machine, "bf16-mixed").config.get("model") or {}).get("kwargs") or {}
    width, depth = kwargs.get("base_channels"), kwargs.get("depth")
    cand = next(
        (c for c in cands if (c.base_channels, c.depth) == (width, depth) and c.precision == "32-true"), None
    )
    if cand is None or width == machine.bf16_confirmed_width:
        return plan, machine
    first = _speedups_of(machine.step_seconds, [cand]).get(cand)
    deciding = machine.bf16_confirmed >= BF16_MIN_SPEEDUP
    if (first is None and deciding) or (first is not None and (first >= BF16_MIN_SPEEDUP) == deciding):
        return plan, machine
    started = time.perf_counter()
    rounds = MIN_RETIME_ROUNDS if machine.time_ran_out else BF16_CONFIRM_ROUNDS
    retimed: dict[str, float] = {}  # the fastest step of each precision: timings of that width
    ratio = confirm_bf16_speedup(cand, in_channels, num_classes, device, rounds, retimed)
    before = f"b{machine.bf16_confirmed_width}: {machine.bf16_confirmed:.2f}x"
    note = (
        f"bf16 autocast re-timed again at b{width}, the width a bf16 plan trains ({before}), the precisions "
        f"alternating over {rounds} steps each: {ratio:.2f}x decides"
    )
    machine = dataclasses.replace(
        machine,
        bf16_confirmed=ratio,
        bf16_confirmed_width=width,
        notes=(*machine.notes, note),
        measure_seconds=round(machine.measure_seconds + time.perf_counter() - started, 2),
    )
    # The re-timed steps count among that width's timings: the plan made again uses the fastest of each.
    machine = with_timings(machine, retimed, BF16_RETIMING)
    return replan(machine, None), machine


def time_layouts(
    cand: Candidate,
    in_channels: int,
    num_classes: int,
    device: str = "cpu",
    rounds: int = LAYOUT_ROUNDS,
    seconds: dict[str, float] | None = None,
) -> float:
    """NHWC step / NCHW step of ``cand`` (above 1: NCHW is faster), the layouts timed in alternation
    (:func:`alternating_fastest`). A committed CPU benchmark had NHWC training slower at base 64 where the
    plan had assumed it faster at small widths: measured here instead (an audit). ``seconds``, where given,
    receives the fastest step in the layout the candidates are timed in (NHWC on a CPU, NCHW on a GPU:
    :class:`TrainingStep`'s default) as ``{cand.label: seconds}``."""
    best = alternating_fastest(
        {
            layout: TrainingStep(cand, in_channels, num_classes, device, channels_last=layout == "nhwc")
            for layout in ("nhwc", "nchw")
        },
        rounds,
    )
    if seconds is not None:
        seconds[cand.label] = round(best["nhwc" if device == "cpu" else "nchw"], 4)
    return round(best["nhwc"] / best["nchw"], 4)


def _layout_width(timings: dict[str, float], cands: Sequence[Candidate]) -> Candidate | None:
    """The fp32 candidate :func:`time_layouts` re-times: the middle one measured (the narrower of two)."""
    measured = [c for c in cands if c.precision == "32-true" and c.label in timings]
    return measured[(len(measured) - 1) // 2] if measured else None


def checkpoint_write_seconds(model: Any, optimizer: Any) -> float:
    """Seconds to write a training checkpoint of ``model`` and ``optimizer`` (weights + AdamW moments) to a
    temporary file, as Lightning writes last.ckpt at every epoch's end (a GPU's tensors are copied off it)."""
    import tempfile

    import torch

    with tempfile.TemporaryDirectory(prefix="unetkit-plan-") as tmp:
        t0 = time.perf_counter()
        state = {"state_dict": model.state_dict(), "optimizer_states": [optimizer.state_dict()]}
        torch.save(state, Path(tmp) / "probe.ckpt")
        return round(time.perf_counter() - t0, 4)


# The timed prediction of :func:`time_forward`: after one warm-up, the fastest of at most FORWARD_ROUNDS
# predictions, fewer once they took FORWARD_TIME_S (a DSB 2018 mean image, 384x330 at b8 d4, took 0.06-0.1 s
# on one thread of a 2-core Xeon, ISBI's 512x512 at b16 0.54 s; the plan itself takes 15-20 s).
FORWARD_ROUNDS = 3
FORWARD_TIME_S = 1.0


def time_forward(
    model: Mapping[str, Any],
    in_channels: int,
    num_classes: int,
    shape: tuple[int, int],
    device: str = "cpu",
    *,
    threads: int | None = None,
) -> ForwardTiming:
    """Time one view of prediction of a random ``shape`` (H, W) image by ``model`` (the plan's
    ``{"name", "kwargs"}``, randomly initialised) the way the final scoring runs the trained model: a
    :class:`~unetkit.inference.predictor.Predictor`'s ``predict_logits`` (eval mode,
    ``torch.inference_mode``, fp32, the image normalised and padded, whole, no TTA) on ``device`` with
    ``threads`` torch threads (the run's ``trainer.num_threads``; None: as they are). One warm-up
    (first-call allocations, kernel selection), then the fastest of at most ``FORWARD_ROUNDS``
    predictions, fewer once they took ``FORWARD_TIME_S``. A side above prediction's tile
    (``AUTO_TILE_SIZE``) is cut to it: a larger image is predicted in tiles, and the estimate scales by area.
    torch's thread count is the caller's again on return; the model's initialisation draws from torch's
    random stream (:func:`~unetkit.planning.folder.plan_folder` keeps the caller's)."""
    from unetkit.inference.pipeline import AUTO_TILE_SIZE
    from unetkit.inference.predictor import Predictor
    from unetkit.model_files.model_config import ModelConfig
    from unetkit.models.registry import create_model

    kwargs = {"in_channels": in_channels, "num_classes": num_classes, **dict(model.get("kwargs") or {})}
    name = str(model.get("name", PLANNED_MODEL))
    net = create_model(name, **kwargs)
    names = [f"class {k}" for k in range(num_classes)]
    config = ModelConfig(name, kwargs, names, [0.5] * in_channels, [0.25] * in_channels)
    predictor = Predictor(net, config, device=device, num_threads=threads)
    h, w = (max(1, min(int(side), AUTO_TILE_SIZE)) for side in shape)
    image = np.random.default_rng(0).integers(0, 256, (h, w, in_channels), dtype=np.uint8)
    # The logits of one view (a TTA view's probabilities and the mask add a softmax and an argmax).
    predictor.predict_logits(image)  # warm-up
    best, spent = math.inf, 0.0
    for _ in range(FORWARD_ROUNDS):
        t0 = time.perf_counter()
        predictor.predict_logits(image)
        took = time.perf_counter() - t0
        best, spent = min(best, took), spent + took
        if spent >= FORWARD_TIME_S:
            break
    shown = dict(model.get("kwargs") or {})
    label = f"{name} b{shown.get('base_channels', '?')} d{shown.get('depth', '?')}"
    return ForwardTiming(
        label,
        (h, w),
        round(best, 4),
        str(predictor.device.type),
        threads if predictor.device.type == "cpu" else None,
    )


def mean_shape(sizes: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """(H, W): the mean height and width of ``sizes`` (at least 1 each); (1, 1) for none."""
    if not sizes:
        return 1, 1
    return (
        max(1, round(sum(h for h, _ in sizes) / len(sizes))),
        max(1, round(sum(w for _, w in sizes) / len(sizes))),
    )


def prediction_pixels(height: int, width: int) -> int:
    """Pixels the forward passes of one view of a ``height x width`` image cover in prediction: the image's
    own, or past ``AUTO_TILE_PIXELS`` its overlapping ``AUTO_TILE_SIZE`` tiles' (automatic tiling)."""
    from unetkit.inference.pipeline import AUTO_TILE_PIXELS, AUTO_TILE_SIZE
    from unetkit.inference.tiling import DEFAULT_OVERLAP, count_tiles

    if height * width <= AUTO_TILE_PIXELS:
        return height * width
    return count_tiles(height, width, AUTO_TILE_SIZE, DEFAULT_OVERLAP) * AUTO_TILE_SIZE**2


def split_sizes(layout: DatasetLayout | None) -> dict[str, list[tuple[int, int]]]:
    """``{split: [(H, W) of each image]}`` from the layout's file headers (empty: no layout or sizes)."""
    if layout is None or len(layout.sizes) != len(layout.samples):
        return {}
    size_of = {sample.name: size for sample, size in zip(layout.samples, layout.sizes)}
    return {
        split: [size_of[name] for name in names if name in size_of] for split, names in layout.splits.items()
    }


def _candidate_list(cands: Sequence[Candidate]) -> str:
    """``unet d5 544x576 x2: b12, b16 (32-true, bf16-mixed)``: candidates sharing depth, crop (W x H) and
    batch."""
    c0 = cands[0]
    widths = ", ".join(f"b{b}" for b in dict.fromkeys(c.base_channels for c in cands))
    precisions = ", ".join(dict.fromkeys(c.precision for c in cands))
    return f"unet d{c0.depth} {c0.crop[1]}x{c0.crop[0]} x{c0.batch}: {widths} ({precisions})"


# A 1-minute load average above this share of the CPUs, with the CPU time spent just before timing showing
# it too (devices.machine_load), means other work competes with the timed steps.
def _busy_note() -> str:
    """A note when the machine is busy before timing starts (other processes slow the measured steps, so
    the plan picks a narrower U-Net than an idle machine would get); empty when idle or unknown."""
    busy = machine_load()
    if busy is None:
        return ""
    load, now, cpus = busy
    seen = (
        f"{now:.1f} of {cpus} CPUs busy just before timing, 1-minute load average {load:.1f}"
        if now is not None
        # Without /proc/stat the load average is all there is, and it lags (work ended <1 min ago counts).
        else f"load average over the last minute {load:.1f} on {cpus} CPUs"
    )
    return (
        f"the machine was busy while timing ({seen}): other work slows the measured steps, so this plan may "
        "be narrower than an idle machine's; plan again when it is idle"
    )


def data_probe(
    layout: DatasetLayout,
    crop: tuple[int, int],
    augment: dict[str, Any],
    n: int = 4,
    cached: bool = False,
    window: Window | None = None,
    loader_process: bool = False,
) -> float:
    """Seconds to read, decode, augment and normalise one training sample (median over ``n`` samples);
    ``cached``: the decoded images stay in memory (``data.cache``), so only augmenting counts; ``window``:
    the intensity window of 16-bit images (the fingerprint's), applied as training will; ``loader_process``:
    read as a loader worker does (a GPU plan's), with OpenCV on one thread."""
    from unetkit.data.transforms import loader_threads

    # Timed as training will read; OpenCV's thread count is put back after (library code leaves it as found).
    with loader_threads() if loader_process else contextlib.nullcontext():
        return _time_samples(layout, crop, augment, n, cached, window)


def _time_samples(
    layout: DatasetLayout,
    crop: tuple[int, int],
    augment: dict[str, Any],
    n: int,
    cached: bool,
    window: Window | None,
) -> float:
    """:func:`data_probe`'s timing."""
    from unetkit.data.io import normalize, read_image, read_mask
    from unetkit.data.sampling import evenly_spaced
    from unetkit.data.transforms import build_transforms
    from unetkit.planning.fingerprint import mask_encoding

    encoding = mask_encoding(layout)
    transform = build_transforms(True, crop, seed=0, num_classes=layout.mask.num_classes, **augment)
    times = []
    for sample in evenly_spaced(layout.samples_of("train") or list(layout.samples), n):
        t0 = time.perf_counter()
        image = read_image(sample.image, layout.channels, convert=layout.convert_channels, window=window)
        if encoding is None:  # instance labels: the class map of their target (semantic, boundary, energy)
            from unetkit.data.instance_targets import instance_target
            from unetkit.planning.discovery import read_mask_values

            raw = read_mask_values(sample.mask)
            mask = instance_target(raw, layout.mask.target, layout.mask.target_params).astype(np.int64)
        else:
            mask = read_mask(sample.mask, encoding)
        if cached:
            t0 = time.perf_counter()
        image, mask, _ = transform(image, mask, None)
        normalize(image, 0.5, 0.25)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# ------------------------------------------------------------------------------------------ plan


@dataclass
class Plan:
    """A training config (``config``: the project's config keys) with a reason per choice.

    ``reasons`` maps dotted config keys to one line; ``table`` lists every measured candidate with its
    predicted steps in the budget; ``summary`` holds the numbers behind the plan (fingerprint, machine).
    """

    config: dict[str, Any]
    reasons: dict[str, str]
    table: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)
    # What the plan expects to go wrong at this budget, one line each (printed as "warning: ...").
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_yaml(self, header: Sequence[str] = ()) -> str:
        """The config as YAML with each reason as a comment above its key (``load_config`` reads it)."""
        lines = [f"# {h}" for h in header]
        for problem in self.unsupported:
            lines.append(f"# NOT EXPRESSIBLE in the config yet: {problem}")
        lines += [f"# warning: {w}" for w in self.warnings]
        for key, value in self.config.items():
            lines += _yaml_entry(key, value, key, self.reasons, 0)
        return "\n".join(lines) + "\n"


def _yaml_entry(key: str, value: Any, dotted: str, reasons: dict[str, str], indent: int) -> list[str]:
    pad = " " * indent
    out = [f"{pad}# {reasons[dotted]}"] if dotted in reasons else []
    small = (
        isinstance(value, dict)
        and len(value) <= 6
        and not any(isinstance(v, (dict, list)) for v in value.values())
    )
    if (
        isinstance(value, dict)
        and value
        and not (small and not any(f"{dotted}.{k}" in reasons for k in value))
    ):
        out.append(f"{pad}{key}:")
        for k, v in value.items():
            out += _yaml_entry(str(k), v, f"{dotted}.{k}", reasons, indent + 2)
        return out
    return [*out, f"{pad}{_flow(key)}: {_flow(value)}"]


def class_weights(fp: Fingerprint) -> tuple[list[float] | None, str]:
    """``sqrt(median_f / f)`` clipped to [0.2, 10] when some class holds < 2 % of the labelled pixels."""
    f = np.asarray([c.pixel_fraction for c in fp.classes], dtype=float)
    # A class absent from the sampled masks (a gap in the values: Pascal VOC's unseen classes, a trimap's
    # unused 0) is not rare: it has no pixels to weight, and it must not switch weighting on for the others.
    rare = [c.name for c in fp.classes if 0 < c.pixel_fraction < RARE_CLASS_FRACTION]
    absent = [c.name for c in fp.classes if c.pixel_fraction <= 0]
    verb = "never occurs" if len(absent) == 1 else "never occur"
    unseen = f"; {_names(absent)} {verb} in the sampled masks" if absent else ""
    if not rare:
        return (
            None,
            f"none: every class present holds >= {RARE_CLASS_FRACTION:.0%} of the pixels (Dice handles the "
            f"rest){unseen}",
        )
    median = float(np.median(f[f > 0]))
    # An absent class keeps the largest weight: if it occurs outside the sampled masks at all (a Pascal VOC
    # class in none of the 48 sampled images), it is rarer than every class sampled.
    weights = np.clip(np.sqrt(median / np.maximum(f, 1e-6)), 0.2, 10.0)
    why = (
        f"sqrt(median freq / freq) (softened median-frequency balancing): {_names(rare)} {_hold(rare)} < "
        f"{RARE_CLASS_FRACTION:.0%} of the pixels"
    )
    return [round(float(w), 3) for w in weights], why + (
        f"{unseen} (the largest weight, in case it is only rarer)" if absent else ""
    )


def _names(names: list[str], limit: int = 8) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _hold(names: list[str]) -> str:
    """The verb after :func:`_names`: "c2 holds", "c2, c3 hold"."""
    return "holds" if len(names) == 1 else "hold"


def foreground_crops(fp: Fingerprint, geo: Geometry, target: str = "semantic") -> tuple[dict[str, Any], str]:
    """``data.augment`` keys that place a third of the crops on the rare classes (< 2 % of the pixels, other
    than class 0) when the crops cover less than half of the median image; else none, with the reason.
    Instance targets (boundary, energy) keep uniform crops: their thin classes are rare by design, wherever
    the objects are, and issue 13's recipes were validated with uniform crops."""
    if target != "semantic":
        return {}, f"uniform crops: the {target} target's thin classes are rare by design, not rare objects"
    # A class absent from the sampled masks has no pixel to place a crop on.
    rare = [c for c in fp.classes if 0 < c.pixel_fraction < RARE_CLASS_FRACTION and c.index > 0]
    image_px = fp.size_median[0] * fp.size_median[1]
    share = geo.crop[0] * geo.crop[1] / max(image_px, 1)
    if not rare:
        return {}, "uniform crops: no class other than 0 holds < 2% of the pixels"
    if share >= PARTIAL_CROP_SHARE:
        return (
            {},
            f"uniform crops: a crop covers {share:.1%} of the median image, so it rarely misses a class",
        )
    names = ", ".join(c.name for c in rare)
    return {"foreground_crops": FOREGROUND_CROP_SHARE, "foreground_classes": [c.index for c in rare]}, (
        f"{FOREGROUND_CROP_SHARE:.0%} of the crops hold a pixel of {names} (< 2% of the pixels; nnU-Net's "
        f"share): a {geo.crop[1]}x{geo.crop[0]} (WxH) crop covers {share:.1%} of the median image and often "
        "misses them (benchmarks/results/foreground_crops/)"
    )


def augmentation(fp: Fingerprint, geo: Geometry, target: str = "semantic") -> tuple[dict[str, Any], str]:
    """``data.augment`` from the data (module docstring), the crop placement of :func:`foreground_crops`
    included, and the reason."""
    upright = has_up(fp)
    photo = fp.normalization == "unit"
    varied = fp.distinct_sizes > 1
    train = fp.num_images.get("train", 0)
    aug: dict[str, Any] = {
        "flips": True,
        "vertical_flips": not upright,
        "rot90": not upright,
        "scale": [0.75, 1.25] if (upright or varied) else None,
        "color": True,
        "elastic": (not upright) and (not photo) and train <= 100,
    }
    why = [
        f"top/bottom class mix differs by {fp.vertical_asymmetry:.2f}: "
        + (
            f"more than random upside-down turnings of the {fp.sampled_images} images give (p "
            f"{fp.upright_p:.3f} < {UPRIGHT_P}): the scene has an up: mirror flips only, no upside-down "
            "flips or 90-degree turns (upside-down flips cost val mIoU on CamVid with either training "
            "sequence held out, benchmarks/results/upright_scenes*/)"
            if upright
            else (
                f"as much as random upside-down turnings of the {fp.sampled_images} images give "
                f"(p {fp.upright_p:.3f} >= {UPRIGHT_P}): no up, flips and 90-degree turns are valid"
                if fp.vertical_asymmetry >= UPRIGHT_ASYMMETRY
                else "no up, flips and 90-degree turns are valid"
            )
        ),
        "scale (0.75-1.25) for "
        + (
            "perspective (0.5-2.0 cost val mIoU on a held-out CamVid sequence, "
            "benchmarks/results/street_scale_0001TP/)"
            if upright
            else "varied image sizes"
        )
        if aug["scale"]
        else "no scale: one image size (fixed magnification)",
    ]
    if aug["elastic"]:
        why.append(f"elastic: {train} non-photo training images (the U-Net paper's augmentation)")
    # Not decided from the data: exposure and contrast differ between images of any source.
    why.append(
        "color: brightness/contrast (+-20%) and gamma (0.8-1.2), each on half the crops, for every dataset "
        "(exposure differs between images and cameras; not measured per dataset)"
    )
    crops, crops_why = foreground_crops(fp, geo, target)
    return aug | crops, "; ".join([*why, crops_why])


def step_seconds_at(machine: Machine, precision: str) -> dict[int, float]:
    """``{base_channels: seconds per step}`` of the candidates measured at ``precision``, narrow to wide
    (read back from :attr:`Candidate.label`, ``unet b8 d4 240x240 x5 32-true``)."""
    rows = (label.split() for label in machine.step_seconds)
    return dict(
        sorted(
            (int(parts[1][1:]), machine.step_seconds[" ".join(parts)])
            for parts in rows
            if parts[-1] == precision
        )
    )


def bf16_speedups(machine: Machine) -> dict[int, float]:
    """``{base_channels: fp32 step / bf16 step}`` for every width measured in both precisions."""
    fp32, bf16 = step_seconds_at(machine, "32-true"), step_seconds_at(machine, "bf16-mixed")
    return {base: fp32[base] / s for base, s in bf16.items() if base in fp32 and s > 0}


def ratio_text(value: float, threshold: float) -> str:
    """``1.21``: a speed-up to two decimals, or more (up to four) where fewer would print it equal to the
    ``threshold`` it is compared with (a plan read "1.05x NHWC's speed (< 1.05x)" for 1.049)."""
    for decimals in (2, 3):
        shown = f"{value:.{decimals}f}"
        if float(shown) != threshold or value == threshold:
            return shown
    return f"{value:.4f}"


def choose_precision(machine: Machine, asked: str | None = None) -> tuple[str, str]:
    """``(precision, why)``: ``asked`` when given; else bf16 autocast where the median speed-up over the
    widths measured in both precisions (or, where one width was re-timed alternating the precisions, its
    speed-up: ``machine.bf16_confirmed``) is at least ``BF16_MIN_SPEEDUP`` x, fp32 otherwise."""
    speedups = bf16_speedups(machine)
    measured = ", ".join(f"b{b} {x:.2f}x" for b, x in speedups.items())
    if asked is not None:
        if asked not in PRECISIONS:
            raise ValueError(f"precision {asked!r} is not one of {', '.join(PRECISIONS)}")
        return asked, f"{asked}: asked for" + (
            f"; measured bf16 autocast speed-up {measured}" if measured else ""
        )
    if not speedups:
        return "32-true", _bf16_not_measured(machine)
    # The median, not the minimum: one width can time slow (a noisy probe, or a channel count that suits the
    # bf16 kernels less; a dry plan of DSB 2018 once turned fp32 that way) and must not flip the decision for
    # every width; a host without native bf16 is ~100x slower at every width.
    median = statistics.median(speedups.values())
    if machine.bf16_confirmed is not None:  # the re-timed width decides (BF16_CONFIRM_ROUNDS)
        median = machine.bf16_confirmed
    # The deciding number first, in both branches: "only 1.95x" (a first timing) beside "re-timed 1.06x <
    # 1.25x", and "was 1.00x ... (re-timed 1.87x): more steps", read as contradictions to trials' users.
    decided = "re-timed alternating" if machine.bf16_confirmed is not None else "median"
    if median >= BF16_MIN_SPEEDUP:
        return "bf16-mixed", (
            f"bf16-mixed: bf16 autocast's speed-up over fp32 (fp32 step time / bf16 step time; under 1x is "
            f"slower) was {ratio_text(median, BF16_MIN_SPEEDUP)}x ({decided}) >= {BF16_MIN_SPEEDUP}x: more "
            "steps in the budget; at an "
            f"equal budget it was no worse on validation (ISBI 2012 and CamVid, {PRECISION_EVIDENCE}); "
            f"{_timings_words(machine)} {measured}{PIN_PRECISION}"
        )
    return "32-true", (
        "32-true: bf16 autocast's speed-up over fp32 (fp32 step time / bf16 step time) was "
        f"{ratio_text(median, BF16_MIN_SPEEDUP)}x "
        f"({decided}) < {BF16_MIN_SPEEDUP}x: too few extra steps to be worth reduced precision; "
        f"{_timings_words(machine)} {measured}{PIN_PRECISION}"
    )


def _timings_words(machine: Machine) -> str:
    """What the per-width speed-ups of the precision's reason are made of: "first timings" (the candidates'
    own), or where a candidate's timing gave way to a faster one of the same configuration more than
    :data:`TIMINGS_DISAGREE` x below it (:func:`plan_step_seconds`), those figures, which the plan's step
    times are too."""
    replaced = any(
        seconds < machine.timings.get(label, {}).get(CANDIDATE_TIMING, seconds)
        for label, seconds in machine.step_seconds.items()
    )
    if replaced:
        apart = f"{TIMINGS_DISAGREE:g}x apart"
        return f"timings (each candidate's own, or its fastest where they were over {apart})"
    return "first timings"


def _bf16_not_measured(machine: Machine) -> str:
    """fp32's reason where no width was timed in both precisions: the CPU has no native bf16, or (a CPU with
    it, or a GPU) why bf16 was not timed. A plan whose --measure-limit ran out in the thread probe and the
    first fp32 step once said "no native bf16 on this CPU: flags ... avx512_bf16", a contradiction."""
    flags = " ".join(machine.cpu_flags) or "unknown"
    if not (machine.native_bf16 or machine.device == "cuda"):
        return f"32-true: bf16 autocast not measured here (no native bf16 on this CPU: flags {flags})"
    has = "a GPU" if machine.device == "cuda" else f"a CPU with native bf16 (flags {flags})"
    if machine.time_ran_out:
        return (
            f"32-true: bf16 autocast was not timed: the measuring time ran out before any width was timed in "
            f"bf16 (see the candidates' notes), on {has}; a larger --measure-limit times it, --precision "
            "bf16-mixed pins it"
        )
    return f"32-true: bf16 autocast was not timed on {has}; --precision bf16-mixed pins it"


def choose_layout(machine: Machine) -> tuple[bool, str]:
    """``(channels_last, why)``: NCHW on a GPU; on a CPU NHWC (the layout the candidates were timed in)
    unless the re-timed NCHW step (``machine.nchw_speedup``) is at least ``NCHW_MIN_SPEEDUP`` x faster."""
    if machine.device != "cpu":
        return False, "NCHW on a GPU"
    if machine.nchw_speedup is None:
        # The measuring time ran out (MIN_RETIME_ROUNDS), or a machine record from before the layouts were
        # timed: stated as what it is.
        return True, (
            "NHWC on a CPU: the layout the candidates' steps were timed in, so the budget's step count "
            "holds; NHWC against NCHW was not timed (the machine's notes say why)"
        )
    width, speedup = machine.nchw_speedup
    timed = (
        f"NCHW re-timed against NHWC at b{width}, alternating: {ratio_text(speedup, NCHW_MIN_SPEEDUP)}x "
        "NHWC's speed"
    )
    if speedup >= NCHW_MIN_SPEEDUP:
        return False, (
            f"NCHW: {timed} (>= {NCHW_MIN_SPEEDUP}x); the candidates' step times (NHWC) are then on the slow "
            "side, and the run gets more steps than planned"
        )
    return True, f"NHWC: {timed} (< {NCHW_MIN_SPEEDUP}x): the layout the candidates' steps were timed in"


def validation_reason(chosen: dict[str, Any], val_used: int) -> str:
    """The reason of ``trainer.check_val_every_n_epoch`` with the share of the training time that validation
    takes at that interval (the chosen candidate's row): under ``VAL_TIME_SHARE``, or above it where at least
    ``MIN_VALIDATIONS`` validations had to fit (a planner audit read "under 10%" beside figures of 17%)."""
    cost = chosen["overhead_per_step"]
    share = cost["validation"] / max(chosen["step_seconds"] + cost["reading data"], 1e-9)
    every = chosen["val_every_n_epochs"]
    if share <= VAL_TIME_SHARE:
        return (
            f"{every}: keeps validation under {VAL_TIME_SHARE:.0%} of the training time (about {share:.0%}; "
            f"{val_used} validation images)"
        )
    return (
        f"{every}: validation takes about {share:.0%} of the training time, above the {VAL_TIME_SHARE:.0%} "
        f"aimed at, so that at least {MIN_VALIDATIONS} validations fit in the budget "
        f"({val_used} validation images)"
    )


def make_plan(
    fp: Fingerprint,
    time_budget_s: float,
    device: str,
    machine: Machine,
    *,
    layout: DatasetLayout | None = None,
    min_steps: int = MIN_STEPS,
    precision: str | None = None,
    geometry: Geometry | None = None,
    score: str | None = None,
) -> Plan:
    """Choose the config (see the module docstring for the rules). Pure: no file, clock or device access.

    ``machine`` holds the measured step times; ``layout`` adds the ``data`` source keys (dataset ``folder``
    with its options) so that the plan is a complete config for ``unetkit fit``. ``precision`` None: chosen
    by :func:`choose_precision`. ``score``: the split the run will score (``fit --score val``); None: test
    where the folder has one, else val. It changes only the estimate of the scoring after the budget.
    """
    precision, precision_why = choose_precision(machine, precision)
    channels_last, layout_why = choose_layout(machine)
    geo = geometry or choose_geometry(fp, device)
    reasons = dict(geo.reasons)
    train_n = max(fp.num_images.get("train", 1), 1)
    val_n = fp.num_images.get("val", 0)
    crop_px = geo.crop[0] * geo.crop[1]
    repeat = max(1, round(STEPS_PER_EPOCH * geo.batch / train_n))
    startup = min(60.0, 0.05 * time_budget_s)
    mean_px = fp.train_pixels / train_n
    workers = loader_workers(device)

    def budget_row(label: str, step_s: float, budget_s: float) -> dict[str, Any]:
        """The candidate ``label``'s row of the table at a budget of ``budget_s`` seconds."""
        startup = min(60.0, 0.05 * budget_s)
        train_s = budget_s - startup
        base = int(label.split()[1][1:])
        step_total = overlapped(step_s, geo.batch * machine.data_seconds_per_sample, workers)
        ckpt_s = machine.checkpoint_seconds.get(base, 0.0)
        restart_s = loader_restart_seconds(geo.batch, machine.data_seconds_per_sample, workers)
        cand_repeat = epoch_repeat(repeat, ckpt_s + restart_s, step_total, train_n, geo.batch)
        cand_steps = epoch_steps(train_n * cand_repeat, geo.batch)  # as the training loader counts them
        # At least MIN_VALIDATIONS epochs in the budget: a larger training set is sampled per epoch.
        # (Validation takes up to VAL_TIME_SHARE of the time on top of the steps.)
        epoch_cap = max(1, int(train_s / (step_total * MIN_VALIDATIONS * (1.0 + VAL_TIME_SHARE))))
        epoch_limit = epoch_cap if cand_steps > epoch_cap else None
        cand_steps = min(cand_steps, epoch_cap)
        epoch_s = cand_steps * step_total
        # One validation pass: forward only (about a third of a training step per pixel) over full images.
        val_all_s = overlapped(
            val_n * mean_px / (geo.batch * crop_px) * step_s / 3.0,
            val_n * machine.data_seconds_per_sample,
            workers,
        )
        val_used = validation_images(val_n, val_all_s, train_s)
        val_s = val_all_s * val_used / val_n if val_n else 0.0
        every = max(1, math.ceil(val_s / (VAL_TIME_SHARE * epoch_s))) if val_n else 1
        # ... but never so rarely that fewer than MIN_VALIDATIONS fit (the floor of MIN_VAL_IMAGES images can
        # cost more than the share: then validation takes a little more of the time).
        every = min(every, max(1, int(train_s / (epoch_s * MIN_VALIDATIONS))))
        # Per epoch: last.ckpt, and best.ckpt at a validation that improved (counted as every one).
        per_epoch_extra = ckpt_s * (1.0 + (1.0 / every if val_n else 0.0))
        per_step = (
            step_total
            + (val_s / (every * cand_steps) if val_n else 0.0)
            + (per_epoch_extra + restart_s) / cand_steps
        )
        steps = int(train_s / per_step)
        return {
            "candidate": label,
            "base_channels": base,
            "step_seconds": step_s,
            # Seconds per step on top of the measured compute, and the reserve: what a budget holds besides
            # steps x step_seconds (:func:`default_budget` says them).
            "overhead_per_step": {
                "reading data": step_total - step_s,
                "validation": val_s / (every * cand_steps) if val_n else 0.0,
                "checkpoints": per_epoch_extra / cand_steps,
                "epoch starts": restart_s / cand_steps,
            },
            "startup_reserve_seconds": startup,
            "steps_in_budget": steps,
            "epochs_in_budget": round(steps / cand_steps, 1),
            "val_every_n_epochs": every,
            "repeat": cand_repeat,
            "steps_per_epoch": cand_steps,
            "checkpoint_seconds": ckpt_s,
            "epoch_start_seconds": restart_s,
            "limit_train_batches": epoch_limit,
            "val_images": val_used,
            "val_pass_seconds": round(val_s, 1),
            "val_pass_seconds_all": round(val_all_s, 1),
        }

    table = [
        budget_row(label, step_s, time_budget_s)
        for label, step_s in machine.step_seconds.items()
        if label.endswith(" " + precision)
    ]
    if not table:
        raise ValueError(f"no measured candidate at precision {precision}; run measure_candidates first")
    table.sort(key=lambda r: r["base_channels"])
    enough = [r for r in table if r["steps_in_budget"] >= min_steps]
    chosen = enough[-1] if enough else table[0]
    if enough:
        why = (
            f"base {chosen['base_channels']}: the widest measured U-Net that gets >= {min_steps} optimizer "
            f"steps in the budget ({chosen['steps_in_budget']} predicted, "
            f"{chosen['step_seconds']:.3f}s/step); "
            "the ISBI sweep: at a fixed budget steps beat width"
        )
    else:
        why = (
            f"base {chosen['base_channels']}: no candidate reaches {min_steps} steps in the budget (tight "
            f"budget); the narrowest gets the most ({chosen['steps_in_budget']})"
        )
    reasons["model.kwargs.base_channels"] = why

    def minutes_for_chosen() -> int | None:
        """The fewest minutes in which the chosen width gets ``min_steps`` steps (None: over a week)."""
        label, step_s = chosen["candidate"], chosen["step_seconds"]
        return minutes_for_steps(
            lambda budget_s: int(budget_row(label, step_s, budget_s)["steps_in_budget"]),
            min_steps,
            time_budget_s,
        )

    plan_warnings: list[str] = []
    rare = [c.name for c in fp.classes if 0 < c.pixel_fraction < RARE_CLASS_FRACTION]
    if rare and chosen["steps_in_budget"] < min_steps:
        # Class weights and Dice act through the steps: a trial's 524-step plan (of 2000) left all five
        # rare CamVid classes at 0 IoU, while its reasons said they were handled.
        step_s = chosen["step_seconds"]
        minutes = minutes_for_chosen()
        advice = (
            f"--time {duration_text(minutes)} buys the base-{chosen['base_channels']} U-Net {min_steps} "
            f"steps ({step_s:.3f}s/step measured)"
            if minutes is not None
            else "no budget under a week buys them at this speed: a faster device or smaller crops would"
        )
        plan_warnings.append(
            f"{_names(rare)} {_hold(rare)} < {RARE_CLASS_FRACTION:.0%} of the pixels and may stay at 0 IoU "
            f"at this budget: {chosen['steps_in_budget']} steps predicted, below the {min_steps} where more "
            f"steps stop helping (class weights and Dice need steps to act); {advice}"
        )
    if chosen["steps_in_budget"] < MIN_USEFUL_STEPS:
        minutes = minutes_for_chosen()
        advice = (
            f"--time {duration_text(minutes)} buys the base-{chosen['base_channels']} U-Net the {min_steps} "
            "steps after which more steps stopped helping (the ISBI sweep)"
            if minutes is not None
            else "no budget under a week buys enough steps at this speed: a faster device or smaller crops "
            "would"
        )
        plan_warnings.append(
            f"a {seconds_text(time_budget_s)} budget buys {chosen['steps_in_budget']} optimizer steps "
            f"(under {MIN_USEFUL_STEPS}): too few to train a useful model; {advice}"
        )
    val_used = chosen["val_images"]
    weights, weights_why = class_weights(fp)
    target = layout.mask.target if layout is not None else "semantic"
    if weights is not None and target != "semantic":
        weights_why += {
            "boundary": "; the boundary class (seams between touching objects) is thin by design: the "
            "weights keep the network from dropping the seams that separate them",
            "energy": "; the deepest energy levels hold few pixels by design (only object cores, and small "
            "objects never reach them): the weights keep the markers of the watershed from vanishing",
        }.get(target, "")
    aug, aug_why = augmentation(fp, geo, target)
    upright = not aug["rot90"]
    # Far above what fits: step times measured on a busy machine can be several times too slow, and an
    # epoch cap reached early would end a budgeted run before its time (issue 12, item 3).
    max_epochs = max(1000, int(chosen["epochs_in_budget"] * 20))
    config: dict[str, Any] = {
        "data": {
            "crop_size": list(geo.crop),
            "batch_size": geo.batch,
            "repeat": chosen["repeat"],
            "num_workers": workers,
            **({"val_images": chosen["val_images"]} if val_n and chosen["val_images"] < val_n else {}),
            "augment": aug,
        },
        "model": {
            "name": PLANNED_MODEL,
            "kwargs": {"base_channels": chosen["base_channels"], "depth": geo.depth},
        },
        "loss": "ce+dice",
        "class_weights": weights,
        "optim": {"name": "adamw", "lr": LEARNING_RATE, "weight_decay": WEIGHT_DECAY},
        "schedule": {"name": "poly", "power": POLY_POWER, "by": "time"},
        "trainer": {
            "max_epochs": max_epochs,
            "max_time_minutes": round(time_budget_s / 60.0, 2),
            "accelerator": "cpu" if device == "cpu" else "gpu",
            "precision": precision,
            "channels_last": channels_last,
            **({"num_threads": machine.threads} if device == "cpu" else {}),
            "check_val_every_n_epoch": chosen["val_every_n_epochs"],
            **(
                {"limit_train_batches": chosen["limit_train_batches"]}
                if chosen["limit_train_batches"]
                else {}
            ),
        },
        "evaluate": {
            "tta": MIRROR_TTA if upright else True,
            "checkpoint": "last" if val_used < MIN_VAL_IMAGES else "best",
            **({} if fp.num_images.get("test") else {"split": "val"}),
        },
    }
    reasons.update(
        {
            "data.repeat": repeat_reason(chosen, repeat, train_n, geo.batch),
            "data.num_workers": "0 on a CPU: loader processes compete with the training threads"
            if device == "cpu"
            else f"{workers}: loader processes feed the GPU (one per CPU but one, at most 8); the plan "
            "counts their reading as overlapping the steps",
            "data.augment": aug_why,
            "loss": "CE + Dice: the ISBI sweep's best; Dice keeps small classes from vanishing",
            "class_weights": weights_why,
            "optim": f"AdamW lr {LEARNING_RATE:g}: the ISBI sweep found lr 1e-3..4e-3 equally good; "
            f"weight decay {WEIGHT_DECAY:g}: the light decay the ISBI 2012 and CamVid benchmark recipes "
            "trained with (benchmarks/configs/; not swept)",
            "schedule": f"poly decay (1 - t)^{POLY_POWER} paced by the time budget: a slower machine still "
            f"ends at a low LR; power {POLY_POWER}, the usual poly exponent (DeepLab, nnU-Net; not swept "
            "here)",
            "trainer.max_epochs": f"{max_epochs}: far above the {chosen['epochs_in_budget']} epochs that "
            "fit, so the time budget ends the run, not an epoch cap",
            "trainer.max_time_minutes": "the time budget",
            "trainer.accelerator": f"{'cpu' if device == 'cpu' else 'gpu'}: the device the steps were timed "
            "on (the plan's width, batch and budget hold there only)",
            **(
                {"trainer.num_threads": "the torch thread count the steps were timed with"}
                if device == "cpu"
                else {}
            ),
            "trainer.precision": precision_why,
            "trainer.channels_last": layout_why,
            "trainer.check_val_every_n_epoch": validation_reason(chosen, val_used),
            **(
                {
                    "trainer.limit_train_batches": f"{chosen['limit_train_batches']}: an epoch is at most "
                    f"1/{MIN_VALIDATIONS} of the steps the budget allows (all {train_n} training images "
                    f"x data.repeat {chosen['repeat']} = {train_n * chosen['repeat']} crops would make "
                    f"{epoch_steps(train_n * chosen['repeat'], geo.batch)} steps), "
                    "so validation, the best checkpoint and the resume points come at least "
                    f"{MIN_VALIDATIONS} times if the machine stays as fast as measured (a busier one trains "
                    "fewer steps, so fewer epochs); each epoch draws a fresh shuffle of the training set"
                }
                if chosen["limit_train_batches"]
                else {}
            ),
            **(
                {
                    "data.val_images": f"{val_used} of the {val_n} validation images, evenly spaced, are "
                    f"scored at each validation during training ({chosen['val_pass_seconds']:.1f}s a pass "
                    f"predicted; all of them: {chosen['val_pass_seconds_all']:.1f}s, more than "
                    f"{VAL_TIME_SHARE:.0%} of the budget over {MIN_VALIDATIONS} validations); the final "
                    "evaluation scores every image"
                }
                if val_n and val_used < val_n
                else {}
            ),
            "evaluate.tta": (
                "dihedral TTA: rotations and flips are valid (no up)"
                if not upright
                else "mirror TTA (identity, hflip): the scene has an up, its mirror image is still a scene; "
                "on CamVid with a training sequence held out as validation it added val mIoU on both "
                "sequences tried (benchmarks/results/upright_scenes*/)"
            )
            + after_budget_text(
                fp,
                # Without a timed prediction: the final scoring runs in fp32, the validation pass under the
                # training's autocast.
                chosen["val_pass_seconds_all"]
                * ((machine.bf16_confirmed or 1.0) if precision == "bf16-mixed" else 1.0),
                2 if upright else 8,
                layout is not None and layout.mask.kind == "instances",
                split=score,
                # The timed prediction stands for the chosen model only (one timed for another width: none).
                forward=machine.forward
                if machine.forward is not None
                and machine.forward.model == f"{PLANNED_MODEL} b{chosen['base_channels']} d{geo.depth}"
                else None,
                sizes=split_sizes(layout),
            ),
            **({} if fp.num_images.get("test") else {"evaluate.split": no_test_reason(layout)}),
            "evaluate.checkpoint": f"last: with < {MIN_VAL_IMAGES} validation images the best is a noisy "
            "pick; the ISBI sweep's selection on validation chose last (isbi_sweep/selection_on_val.md)"
            if val_used < MIN_VAL_IMAGES
            else f"best by validation ({val_used} validation images)",
        }
    )
    unsupported: list[str] = []
    if layout is not None:
        data_keys, data_reasons, unsupported = dataset_config(layout, fp)
        config["data"] = data_keys | config["data"]
        reasons.update(data_reasons)
    summary = {
        "device": machine.device,
        "machine": machine.description,
        "cpu_flags": list(machine.cpu_flags),
        "threads": machine.threads,
        "budget_seconds": time_budget_s,
        "startup_reserve_seconds": startup,
        "steps_per_epoch": chosen["steps_per_epoch"],
        # What fit compares the run with (a busy machine can cut the steps a budget buys: fit says so).
        "predicted_steps": chosen["steps_in_budget"],
        "predicted_step_seconds": chosen["step_seconds"],
        "min_steps": min_steps,
        "object_extent_px": round(geo.object_extent, 1),
        "receptive_field_px": receptive_field(geo.depth),
        "data_seconds_per_sample": machine.data_seconds_per_sample,
        "measure_seconds": machine.measure_seconds,
        "measure_notes": list(machine.notes),
        "step_seconds": dict(machine.step_seconds),
        # One view of prediction timed after the choice: what the estimate after the budget scales.
        **({"forward_seconds": machine.forward.to_dict()} if machine.forward is not None else {}),
    }
    return Plan(
        config=config,
        reasons=reasons,
        table=table,
        summary=summary,
        unsupported=unsupported,
        warnings=plan_warnings,
    )


def validation_images(val_n: int, pass_s: float, train_s: float) -> int:
    """Validation images scored during training: all ``val_n`` when a pass over them (``pass_s``) lets
    ``MIN_VALIDATIONS`` passes fit in ``VAL_TIME_SHARE`` of ``train_s``; else the share that does, at least
    ``MIN_VAL_IMAGES`` (fewer would not pick a better checkpoint than the last)."""
    allowed = VAL_TIME_SHARE * train_s / MIN_VALIDATIONS
    if val_n == 0 or pass_s <= allowed:
        return val_n
    return min(val_n, max(MIN_VAL_IMAGES, int(val_n * allowed / pass_s)))


# See :func:`after_budget_text`: the fallback where no prediction was timed (a Machine without ``forward``).
INFERENCE_OVER_VAL_PASS = 1.5
# Seconds per megapixel of val images that choosing the instance post-processing spends on its grid, the
# predictions made (components' min_size grid and watershed's min_distance x min_size grid, a model trained
# on plain classes: the most; boundary/energy models only filter by size). Measured: DSB 2018's 66 val images
# (11.0 Mpx), 10.0 s on the 2-core EPYC, one thread (components alone: 2.1 s): 0.9 s/Mpx; on a 2-core Xeon
# with AVX-512 and AMX (a VM), a 2-minute DSB model's grid over 66 DSB training images held out as val
# (11.2 Mpx) took 25.0 s of CPU, 2.2 s/Mpx (10 images, 1.4 Mpx: 3.8-4.1 s). Not timed at plan time, so the
# slower host's value: on the EPYC the estimate errs long by about 13 s on DSB's val split.
INSTANCE_GRID_S_PER_MPIX = 2.2


def after_budget_text(
    fp: Fingerprint,
    val_pass_s: float,
    views: int,
    instances: bool,
    split: str | None = None,
    *,
    forward: ForwardTiming | None = None,
    sizes: Mapping[str, Sequence[tuple[int, int]]] | None = None,
) -> str:
    """``; after the budget: ...``: what the final evaluation adds to the wall time, for the scored split
    (``split``; None: test, else val); with instance labels, the choice of the post-processing on val first
    (its predictions then serve a val scoring), plus the post-processing grid it scores on them
    (:data:`INSTANCE_GRID_S_PER_MPIX`). A trial's 1-minute DSB 2018 fit took 3 more minutes after its
    budget, unannounced.

    With ``forward`` (one view of prediction timed here, :func:`time_forward`) each image costs its
    seconds per pixel times the image's prediction pixels (:func:`prediction_pixels`) times the TTA
    ``views``; ``sizes`` (``{split: [(H, W), ...]}``, :func:`split_sizes`) gives the images' sizes, else
    each is taken at the mean training image size. Without it (no prediction timed), the predicted
    validation pass ``val_pass_s`` (forward only, a third of a training step per pixel) times
    :data:`INFERENCE_OVER_VAL_PASS`: a ratio measured on one machine, 2.3x low on another (a trial's Xeon
    with AVX-512: 8 s said, 18.7 s taken)."""
    val_n = fp.num_images.get("val", 0)
    if not val_n:  # no validation pass predicted, nothing to scale
        return ""
    # fit --score val scores val though the folder has a test split (a trial's line said "scoring 2 test
    # images" under --score val).
    if split == "val" or not fp.num_images.get("test"):
        scored, n = "val", val_n
    else:
        scored, n = "test", fp.num_images["test"]
    train_n = fp.num_images.get("train", 0)
    mean_pixels = getattr(fp, "train_pixels", 0) / train_n if train_n else 0.0
    sizes = sizes or {}

    def image_pixels(name: str, count: int) -> float:
        """The pixels of the ``count`` images of split ``name`` (at the mean training size if unknown)."""
        known = sizes.get(name) or []
        return float(sum(h * w for h, w in known)) if len(known) == count else count * mean_pixels

    def view_pixels(name: str, count: int) -> float:
        """Pixels of one view of every image of split ``name`` as prediction passes them (tiles overlap)."""
        known = sizes.get(name) or []
        if len(known) == count:
            return float(sum(prediction_pixels(h, w) for h, w in known))
        side = max(1, round(math.sqrt(mean_pixels)))
        return float(count * prediction_pixels(side, side))

    if forward is not None:
        per_pixel = forward.seconds_per_pixel * views
        scored_s, val_s = view_pixels(scored, n) * per_pixel, view_pixels("val", val_n) * per_pixel
    else:
        # A whole-image TTA view cost about 1.5x the validation pass's third of a step per pixel (measured:
        # DSB 2018's 66 val images, 8 views, 22.6 s on the 2-core EPYC against 15.6 s from a third of a step).
        per_image = val_pass_s * INFERENCE_OVER_VAL_PASS / val_n * views
        scored_s, val_s = n * per_image, val_n * per_image
    parts = [f"scoring {n} {scored} images with {views} views"]
    seconds = scored_s
    if instances:
        parts.insert(0, f"choosing the instance post-processing on {val_n} val images")
        seconds += 0 if scored == "val" else val_s  # the choice's val predictions are reused
        seconds += image_pixels("val", val_n) / 1e6 * INSTANCE_GRID_S_PER_MPIX
    about = f"{max(1, round(seconds))} s" if seconds < 120 else f"{seconds / 60:.1f} min"
    how = (
        f"estimated from a forward pass timed here: {forward.text()}" if forward is not None else "estimated"
    )
    return f"; after the budget, {' and '.join(parts)} take about {about} ({how})"


def no_test_reason(layout: DatasetLayout | None) -> str:
    """The reason for ``evaluate.split: val``: no test split, or one whose images have no masks."""
    unlabeled = (layout.unlabeled_images if layout is not None else {}).get("test", 0)
    why = (
        f"the {unlabeled} test images have no masks (left out; segment them with unetkit predict)"
        if unlabeled
        else "the folder has no test split"
    )
    fix = "test masks" if unlabeled else "test images with masks (test/ or test.txt)"
    return (
        f"val: {why}, so the final scores are on validation, which also guided training: optimistic; "
        f"add {fix} for an honest score"
    )


def loader_restart_seconds(batch: int, data_s_per_sample: float, workers: int) -> float:
    """Seconds an epoch's first step waits for its batch: at each epoch's start the loader processes begin
    their batches afresh (Lightning calls ``iter`` on the loader again; persistent workers keep the
    processes, not the queue), so the first arrives once one process has read and augmented a whole batch.
    None with no loader processes: the reading is then inside every step, the first's included.

    A lower bound: on an H100 with 8 processes, 18 crops of 0.011 s each predict 0.2 s; the trace measured
    0.36 s per epoch start (benchmarks/results/cuda_fit/epoch_trace/)."""
    return batch * data_s_per_sample if workers > 0 else 0.0


def epoch_repeat(repeat: int, per_epoch_s: float, step_s: float, train_n: int, batch: int) -> int:
    """``data.repeat`` for one candidate: ``repeat`` (about ``STEPS_PER_EPOCH`` steps), raised until what
    each epoch costs outside its steps (``per_epoch_s``: writing last.ckpt and the loader's restart) is at
    most ``EPOCH_OVERHEAD_SHARE`` of an epoch of ``step_s`` steps. On a CPU's slow steps it never is raised;
    on a GPU the epochs grow (a 1-minute H100 fit of 41-step epochs spent 12 of its 60 s starting epochs)."""
    if per_epoch_s <= 0 or step_s <= 0:
        return repeat
    min_steps = math.ceil(per_epoch_s / (EPOCH_OVERHEAD_SHARE * step_s))
    return max(repeat, math.ceil(min_steps * batch / train_n))


def repeat_reason(chosen: dict[str, Any], repeat: int, train_n: int, batch: int) -> str:
    """The reason for ``data.repeat`` of the ``chosen`` table row (``repeat``: before checkpoint pacing)."""
    steps = epoch_steps(train_n * chosen["repeat"], batch)
    if chosen["repeat"] == repeat == 1:  # a training set of STEPS_PER_EPOCH batches or more: seen once
        why = "every training image once per epoch"
    elif chosen["repeat"] == repeat:
        why = f"about {STEPS_PER_EPOCH}, so validation and epoch overheads stay small"
    else:
        restart = chosen.get("epoch_start_seconds", 0.0)
        costs = f"writing the {chosen['checkpoint_seconds']:.2f}s checkpoint at each epoch's end" + (
            f" and the loader's restart at its start (about {restart:.2f}s: one batch read afresh)"
            if restart
            else ""
        )
        why = f"more than {STEPS_PER_EPOCH}, so {costs} costs <= {EPOCH_OVERHEAD_SHARE:.0%} of the epoch"
    if not chosen.get("limit_train_batches"):
        return (
            f"{chosen['repeat']}: {steps} steps per epoch ({train_n} training images, batch {batch}): {why}"
        )
    # The epoch cap overrides the count planned here: say both, and which one training takes (an audit read
    # "cut to 29 by trainer.limit_train_batches ... about 40" as two counts for one epoch).
    return (
        f"{chosen['repeat']}: {steps} steps per epoch planned ({train_n} training images, batch {batch}; "
        f"{why}), but the budget is too short for that many: trainer.limit_train_batches cuts each epoch to "
        f"{chosen['steps_per_epoch']} steps, so that at least {MIN_VALIDATIONS} validations fit (each epoch "
        "draws a fresh shuffle of the training crops)"
    )


def loader_workers(device: str) -> int:
    """``data.num_workers`` of a plan: none on a CPU (loader processes would compete with the training
    threads), else one per CPU but one, at most 8 (they feed the GPU)."""
    return 0 if device == "cpu" else min(8, max(1, (os.cpu_count() or 2) - 1))


def overlapped(compute_s: float, data_s: float, workers: int) -> float:
    """Seconds of ``compute_s`` of model work whose inputs take ``data_s`` to read and augment in one process.

    With no loader processes the two run one after the other; ``workers`` processes prepare batches while
    the model computes, so the slower of the compute and ``data_s / workers`` paces the loop.
    """
    return max(compute_s, data_s / workers) if workers > 0 else compute_s + data_s


def seconds_text(seconds: float) -> str:
    """A budget as ``--time`` would write it: ``5s``, ``90s``, ``1m``, ``20m``, ``2.5m`` (whole minutes in
    minutes: ``--time 1m`` read back as ``60s`` on plan.png, beside the text plan's ``1.0 min``)."""
    whole_minutes = seconds >= 60 and float(seconds) % 60 == 0
    return f"{seconds / 60:g}m" if whole_minutes or seconds >= 120 else f"{seconds:g}s"


def default_budget(
    fp: Fingerprint,
    device: str,
    machine: Machine,
    precision: str | None = None,
    min_steps: int = MIN_STEPS,
    geometry: Geometry | None = None,
) -> tuple[float, str]:
    """A budget when none is given, and its reason: the fewest whole minutes in which the middle measured
    width gets ``min_steps`` optimizer steps, as :func:`make_plan` predicts them (validation, checkpoints,
    reading the data and the start-up reserve counted), so the plan made at that budget picks the width it
    names. ``precision`` None: :func:`choose_precision`'s. The reason adds the budget up."""
    precision = choose_precision(machine, precision)[0]
    widths = list(step_seconds_at(machine, precision))
    if not widths:
        raise ValueError("no measured candidate: cannot pick a time budget; pass one, e.g. --time 20m")
    geo = geometry or choose_geometry(fp, device)

    def plan_at(budget_s: float) -> Plan:
        return make_plan(
            fp, budget_s, device, machine, min_steps=min_steps, precision=precision, geometry=geo
        )

    def steps_of(width: int) -> Callable[[float], int]:
        """The steps ``width`` gets at a budget of so many seconds, as the plan predicts them."""

        def at(budget_s: float) -> int:
            rows = plan_at(budget_s).table
            return next(int(r["steps_in_budget"]) for r in rows if r["base_channels"] == width)

        return at

    base, middle = widths[len(widths) // 2], True
    for _ in widths:  # a wider width timed faster than a narrower one (a noisy probe) can be the pick instead
        found = minutes_for_steps(steps_of(base), min_steps, 0.0)
        minutes = found if found is not None else MAX_ADVISED_MINUTES
        picked = plan_at(minutes * 60.0).config["model"]["kwargs"]["base_channels"]
        if picked == base:
            break
        base, middle = picked, False
    row = next(r for r in plan_at(minutes * 60.0).table if r["base_channels"] == base)
    total = minutes * 60.0
    parts = {"steps": min_steps * row["step_seconds"]}
    parts |= {what: min_steps * s for what, s in row["overhead_per_step"].items()}
    parts["start-up reserve"] = row["startup_reserve_seconds"]
    shown = {k: round(v / 60.0, 1) for k, v in parts.items()}
    # What is left rounds up to whole minutes (and room for the predicted steps beyond min_steps); tenths that
    # round above the total are taken off the largest overhead, so the sum shown is the budget.
    rest = round(minutes - sum(shown.values()), 1)
    if rest < 0:
        largest = max((k for k in shown if k != "steps"), key=lambda k: shown[k])
        shown[largest] = round(shown[largest] + rest, 1)
        rest = 0.0
    which = "the middle measured width" if middle else "the widest that reaches them"
    overheads = "".join(f" + {v:.1f} min {k}" for k, v in shown.items() if k != "steps" and v)
    return total, (
        f"no budget given: {minutes} min, the fewest whole minutes in which the base-{base} U-Net ({which}, "
        f"which the plan then picks) gets {min_steps} optimizer steps on this machine: {min_steps} x "
        f"{row['step_seconds']:.3f}s/step measured = {shown['steps']:.1f} min of steps{overheads} + "
        f"{rest:.1f} min left by rounding up to whole minutes ({row['steps_in_budget']} steps predicted)"
    )


def dataset_config(
    layout: DatasetLayout, fp: Fingerprint
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """``data.dataset/root/options`` for the ``folder`` builder, their reasons, and what it cannot express."""
    from unetkit.planning.discovery import _read_list

    opts, missing = layout.folder_options()
    root = layout.root
    if layout.split_source == "lists":
        # The list files themselves where they name the samples as the options do (short configs).
        # Read as training reads them: the whole line where it names a sample (names with spaces).
        known = {sample.name for sample in layout.samples}
        if all(_read_list(root / f"{s}.txt", known) == names for s, names in layout.splits.items()):
            opts["split_lists"] = {s: str(root / f"{s}.txt") for s in layout.splits}
    elif layout.split_source in ("contiguous", "given") and "split_lists" in opts:
        names = sorted(s.name for s in layout.samples)
        ranges, start = {}, 0
        for split, members in layout.splits.items():
            ranges[split] = [start, start + len(members)]
            start += len(members)
        if all(layout.splits[s] == names[a:b] for s, (a, b) in ranges.items()):
            opts.pop("split_lists")
            opts["split_ranges"] = ranges
    opts["mean"], opts["std"] = list(fp.mean), list(fp.std)
    if fp.intensity_window is not None:
        opts["intensity_window"] = fp.intensity_window
    data = {"dataset": "folder", "root": str(root), "options": opts}
    reasons = {
        "data.options": f"discovered: {layout.mask.kind} masks, {layout.mask.num_classes} classes, "
        f"images: {images_text(fp)}, splits from {layout.split_source}; "
        f"normalisation {fp.normalization_reason}",
    }
    if fp.window_reason:
        reasons["data.options.intensity_window"] = fp.window_reason
    if layout.mask.target != "semantic":
        why = {
            "boundary": "touching objects separated by a thin boundary class (the U-Net paper's way); "
            "instances: seeded watershed from the interiors (method boundary)",
            "energy": "the Deep Watershed Transform's energy: quantised distance to each object's own "
            "outline; instances: watershed from the object cores (method energy)",
        }[layout.mask.target]
        reasons["data.options.instance_target"] = (
            f"{layout.mask.target} (--target): {', '.join(layout.mask.class_names)} from the instance "
            f"labels: {why}"
        )
    return data, reasons, missing


# ------------------------------------------------------------------------------------------ overrides


def _flow(value: Any) -> str:
    """One-line YAML for ``value`` (what :func:`unetkit.training.config.parse_override` reads back)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30, sort_keys=False).strip()
    return text.removesuffix("...").strip()


def _no_empty_mappings(value: Any) -> Any:
    """``value`` without its keys that hold an empty mapping (at any depth): given as an override, an empty
    mapping replaces what a config file gave (``model.kwargs={}`` clears it), which a plan never means."""
    if not isinstance(value, dict):
        return value
    return {k: _no_empty_mappings(v) for k, v in value.items() if v != {}}


def to_config_overrides(plan: Plan, layout: DatasetLayout | None = None) -> list[str]:
    """``key=value`` overrides (as ``load_config(path, overrides)`` takes them) that reproduce the plan.

    One override per key (``trainer.max_epochs=...``; ``data.augment`` per field), so a later override still
    replaces a single value. The model is one override, ``model={name: unet, kwargs: {...}}``: its width and
    depth are given with the model they were measured for, so that a later ``model.name=segnet`` drops those
    the other model does not take (:func:`unetkit.training.config.load_config`), while a later
    ``model.kwargs.depth=3`` still replaces the one value. ``layout`` adds the data source when the plan was
    made without one (``data.dataset=folder``, its root and options; mean/std then come from the builder).
    """
    config = {k: (dict(v) if isinstance(v, dict) else v) for k, v in plan.config.items()}
    if layout is not None and "dataset" not in config.get("data", {}):
        opts, _ = layout.folder_options()
        config["data"] = {"dataset": "folder", "root": str(layout.root), "options": opts} | config["data"]
    out: list[str] = []
    for key, value in config.items():
        if not isinstance(value, dict) or key == "model":
            out.append(f"{key}={_flow(_no_empty_mappings(value))}")
            continue
        for sub, v in value.items():
            if v == {}:  # an override's empty mapping clears the key (model.kwargs={}): the plan sets none
                continue
            if isinstance(v, dict) and sub in ("augment", "kwargs") and v:
                out += [f"{key}.{sub}.{k}={_flow(x)}" for k, x in v.items()]
            else:
                out.append(f"{key}.{sub}={_flow(v)}")
    return out
