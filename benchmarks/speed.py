"""Speed against peers, in one process on the same inputs: training and inference images/s.

Candidates (all with 1 input channel and 2 classes, the ISBI/lecture setting):
    * ``reference``: the lecture's eager U-Net (benchmarks/reference_unet.py), base 64, BatchNorm,
      ConvTranspose2d k4 (the AI VIET NAM code);
    * ``unetkit``: ``create_model("unet", base_channels=64, depth=4, norm="batch", upsample=UPSAMPLE)`` in
      eager mode; UPSAMPLE defaults to ``transpose4`` so that it is the reference's architecture exactly
      (weights are copied into the reference and the logits compared);
    * ``unetkit-fused`` / ``unetkit-channels_last`` / ``unetkit-compile`` (inference:
      :func:`unetkit.inference.fast.optimize_for_inference`), ``unetkit-ort`` (ONNX export, onnxruntime
      with all graph optimisations), ``unetkit-channels_last`` (training: NHWC weights and inputs);
    * peers with their default settings, when importable: ``monai`` =
      ``monai.networks.nets.BasicUNet(spatial_dims=2, features=(64, 128, 256, 512, 1024, 64))`` and
      ``smp`` = ``segmentation_models_pytorch.Unet(encoder_name="resnet34", encoder_weights=None)``.

Every (phase, size, batch) case warms each candidate up once, then runs ``repeats`` rounds; in each round
every candidate runs once, in turn (interleaved), and the median round time is kept. FLOPs per image are
counted with ``torch.utils.flop_counter.FlopCounterMode`` (2 per multiply-add; convolutions and matmuls);
the fp32 peak is the median ``torch.mm`` GFLOP/s of square matrices measured in the same process.

Usage (see benchmarks/README.md): ``bash benchmarks/run_speed.sh`` or
``.venv-bench/bin/python benchmarks/speed.py --out benchmarks/results/speed``.
Writes speed.json, speed.md and speed.png in ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import resource
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from harness import PeakRss, matmul_gflops
from reference_unet import UNet as ReferenceUNet
from reference_unet import copy_weights

from unetkit.inference.fast import optimize_for_inference
from unetkit.models import create_model

IN_CHANNELS, NUM_CLASSES = 1, 2
FLOP_SIZE = 64  # FLOPs are counted at this size and scaled by the pixel count


# ----------------------------------------------------------------------------------------------- helpers
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------------------------------- candidates
@dataclass
class Candidate:
    """One model in one mode; ``build(batch, size)`` returns the step to time (one batch)."""

    name: str
    phase: str  # "infer" | "train"
    build: Callable[[torch.Tensor, torch.Tensor], Callable[[], None]]
    flops: dict[int, float] = field(default_factory=dict)  # size -> FLOPs per image
    params: int = 0
    note: str = ""
    mode: Callable[[], str] | None = None  # the mode in effect (compile may fall back to channels_last)
    logits: Callable[[torch.Tensor], torch.Tensor] | None = None  # for the check against eager logits


def _infer_step(model: Callable[[torch.Tensor], Any], channels_last: bool = False) -> Callable[..., Any]:
    def build(x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
        xx = x.contiguous(memory_format=torch.channels_last) if channels_last else x

        def step() -> None:
            with torch.inference_mode():
                model(xx)

        return step

    return build


def _train_step(model: nn.Module, channels_last: bool = False) -> Callable[..., Any]:
    if channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def build(x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
        xx = x.contiguous(memory_format=torch.channels_last) if channels_last else x

        def step() -> None:
            model.train()
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xx), y)
            loss.backward()
            optimizer.step()

        return step

    return build


def _ort_step(session: Any, input_name: str) -> Callable[..., Any]:
    def build(x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
        arr = np.ascontiguousarray(x.cpu().numpy())

        def step() -> None:
            session.run(None, {input_name: arr})

        return step

    return build


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_candidates(args: argparse.Namespace, device: torch.device, notes: list[str]) -> list[Candidate]:
    """All candidates; peers that cannot be imported are skipped with a note."""
    torch.manual_seed(0)
    up_kernel = {"transpose4": 4, "transpose": 2}[args.upsample]
    make_unetkit = lambda: create_model(  # noqa: E731
        "unet",
        in_channels=IN_CHANNELS,
        num_classes=NUM_CLASSES,
        base_channels=args.base,
        depth=4,
        norm="batch",
        upsample=args.upsample,
    ).to(device)
    unetkit = make_unetkit()
    reference = ReferenceUNet(IN_CHANNELS, NUM_CLASSES, base=args.base, up_kernel=up_kernel).to(device)
    copy_weights(unetkit, reference)  # same function: checked below, and the FLOP counts must agree
    unetkit.eval()
    reference.eval()
    with torch.no_grad():
        x = torch.randn(1, IN_CHANNELS, 64, 64, device=device)
        diff = (unetkit(x) - reference(x)).abs().max().item()
    notes.append(
        f"unetkit `unet` (upsample={args.upsample}) vs reference with copied weights: max |logit "
        f"difference| = {diff:.2e} (same architecture, same function)."
    )

    cands: list[Candidate] = []
    phases = set(args.phases.split(","))
    args.eager_model = unetkit  # the eager logits every fast mode is checked against
    if "infer" in phases:
        cands.append(Candidate("reference", "infer", _infer_step(reference), params=_params(reference)))
        cands.append(Candidate("unetkit", "infer", _infer_step(unetkit), params=_params(unetkit)))
        for mode in args.fast_modes.split(","):
            if not mode:
                continue
            fast = optimize_for_inference(unetkit, mode=mode)
            cands.append(
                Candidate(
                    f"unetkit-{mode}",
                    "infer",
                    _infer_step(fast),
                    params=_params(unetkit),
                    note="optimize_for_inference",
                    mode=lambda fast=fast: str(fast.mode),
                    logits=fast,
                )
            )
        if args.ort and device.type == "cpu":
            ort = _make_ort(unetkit, notes)
            if ort is not None:
                ort_build, ort_logits = ort
                cands.append(
                    Candidate(
                        "unetkit-ort",
                        "infer",
                        ort_build,
                        params=_params(unetkit),
                        note="onnxruntime, ORT_ENABLE_ALL",
                        logits=ort_logits,
                    )
                )
    if "train" in phases:
        cands.append(
            Candidate("reference", "train", _train_step(_train_copy(reference)), params=_params(reference))
        )
        cands.append(
            Candidate("unetkit", "train", _train_step(_train_copy(unetkit)), params=_params(unetkit))
        )
        if args.train_channels_last:
            cands.append(
                Candidate(
                    "unetkit-channels_last",
                    "train",
                    _train_step(_train_copy(unetkit), channels_last=True),
                    params=_params(unetkit),
                )
            )
    for name, factory in (("monai", _make_monai), ("smp", _make_smp)):
        if name not in args.peers.split(","):
            continue
        try:
            peer = factory().to(device)
        except Exception as exc:  # ImportError, or a peer's own version error
            notes.append(f"{name} skipped: {type(exc).__name__}: {exc}".splitlines()[0])
            continue
        peer.eval()
        if "infer" in phases:
            cands.append(Candidate(name, "infer", _infer_step(peer), params=_params(peer)))
        if "train" in phases:
            cands.append(Candidate(name, "train", _train_step(_train_copy(peer)), params=_params(peer)))
    # FLOPs per image: counted once per (architecture, phase) on a copy, at FLOP_SIZE, then scaled.
    flop_models = {"reference": reference, "unetkit": unetkit}
    cache: dict[tuple[str, str], float] = {}
    for c in cands:
        base = c.name.split("-")[0]
        if (base, c.phase) not in cache:
            model = flop_models.get(base)
            if model is None:
                model = flop_models[base] = (_make_monai if base == "monai" else _make_smp)().to(device)
            cache[base, c.phase] = harness.count_flops(
                _train_copy(model), (1, IN_CHANNELS, FLOP_SIZE, FLOP_SIZE), train=c.phase == "train"
            )
        # Every layer of these fully convolutional nets costs in proportion to the pixel count.
        c.flops = {size: cache[base, c.phase] * (size / FLOP_SIZE) ** 2 for size in args.sizes}
    return cands


def _train_copy(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model).train()


def _make_monai() -> nn.Module:
    from monai.networks.nets import BasicUNet

    return BasicUNet(
        spatial_dims=2,
        in_channels=IN_CHANNELS,
        out_channels=NUM_CLASSES,
        features=(64, 128, 256, 512, 1024, 64),
    )


def _make_smp() -> nn.Module:
    import segmentation_models_pytorch as smp

    return smp.Unet(
        encoder_name="resnet34", encoder_weights=None, in_channels=IN_CHANNELS, classes=NUM_CLASSES
    )


def _make_ort(model: nn.Module, notes: list[str]) -> tuple[Callable[..., Any], Callable[..., Any]] | None:
    try:
        import onnxruntime as ort

        from unetkit.export import export_onnx
        from unetkit.export.onnx import INPUT_NAME
        from unetkit.model_files.model_config import ModelConfig
    except ImportError as exc:
        notes.append(f"onnxruntime skipped: {exc}")
        return None
    config = ModelConfig(
        architecture="unet",
        model_kwargs={"in_channels": IN_CHANNELS, "num_classes": NUM_CLASSES},
        class_names=["membrane", "cell"],
        mean=[0.5],
        std=[0.25],
    )
    tmp = Path(tempfile.mkdtemp(prefix="unetkit-speed-"))
    result = export_onnx(model, config, tmp, verify=True)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = torch.get_num_threads()  # the same threads as PyTorch
    session = ort.InferenceSession(str(result.path), options, providers=["CPUExecutionProvider"])
    notes.append(
        f"onnxruntime {ort.__version__}: {result.exporter} exporter, max |diff| to eager at export "
        f"{result.max_abs_diff:.1e}, intra_op_num_threads={options.intra_op_num_threads}."
    )

    def logits(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {INPUT_NAME: x.cpu().numpy()})[0])

    return _ort_step(session, INPUT_NAME), logits


# ------------------------------------------------------------------------------------------- measuring
def run_case(
    cands: list[Candidate],
    phase: str,
    size: int,
    batch: int,
    repeats: int,
    device: torch.device,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Warm every candidate up once, then ``repeats`` interleaved rounds; median seconds per batch."""
    gen = torch.Generator().manual_seed(size * 10 + batch)
    x = torch.randn(batch, IN_CHANNELS, size, size, generator=gen).to(device)
    y = torch.randint(0, NUM_CLASSES, (batch, size, size), generator=gen).to(device)
    active = [c for c in cands if c.phase == phase]
    steps: dict[str, Callable[[], None]] = {}
    rows: dict[str, dict[str, Any]] = {}
    for c in active:
        rows[c.name] = {
            "candidate": c.name,
            "phase": phase,
            "size": size,
            "batch": batch,
            "times": [],
            "flops_per_image": c.flops.get(size, float("nan")),
            "params": c.params,
        }
        try:
            steps[c.name] = c.build(x, y)
            t0 = time.perf_counter()
            with PeakRss() as rss:
                steps[c.name]()  # warm-up (and compilation for the compile mode)
                _sync(device)
            rows[c.name]["warmup_s"] = time.perf_counter() - t0
            rows[c.name]["extra_rss_mib"] = (rss.peak - rss.start_rss) / 2**20
            if c.mode is not None:
                rows[c.name]["effective_mode"] = c.mode()
        except Exception as exc:
            rows[c.name]["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            log(f"  {c.name}: FAILED {rows[c.name]['error']}")
            traceback.print_exc()
            steps.pop(c.name, None)
    for r in range(repeats):
        for c in active:
            if c.name not in steps:
                continue
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            with PeakRss() as rss:
                _sync(device)
                t0 = time.perf_counter()
                steps[c.name]()
                _sync(device)
                seconds = time.perf_counter() - t0
            row = rows[c.name]
            row["times"].append(seconds)
            row["extra_rss_mib"] = max(row.get("extra_rss_mib", 0.0), (rss.peak - rss.start_rss) / 2**20)
            row["peak_rss_mib"] = max(row.get("peak_rss_mib", 0.0), rss.peak / 2**20)
            if device.type == "cuda":
                row["peak_cuda_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
            log(f"  round {r + 1}/{repeats} {c.name}: {seconds:.3f} s")
    out = []
    for row in rows.values():
        if row["times"]:
            med = statistics.median(row["times"])
            row["seconds_per_batch"] = med
            row["images_per_s"] = batch / med
            row["gflops_per_s"] = row["flops_per_image"] * batch / med / 1e9
        out.append(row)
    return out


def check_logits(
    cands: list[Candidate], eager: nn.Module, size: int, device: torch.device
) -> dict[str, float]:
    """Max |logits - eager logits| of every fast inference candidate on one (1, C, size, size) input."""
    gen = torch.Generator().manual_seed(123)
    x = torch.randn(1, IN_CHANNELS, size, size, generator=gen).to(device)
    with torch.inference_mode():
        expected = eager.eval()(x).float().cpu()
    out = {}
    for c in cands:
        if c.phase == "infer" and c.logits is not None:
            with torch.inference_mode():
                got = c.logits(x).float().cpu()
            out[c.name] = float((got - expected).abs().max())
    return out


def profile_top_ops(step: Callable[[], None], device: torch.device, rows: int = 14) -> str:
    """torch.profiler table of the ops with the most self time (CPU, or CUDA kernels) for one ``step``."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    step()
    with profile(activities=activities) as prof:
        step()
        _sync(device)
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return str(prof.key_averages().table(sort_by=sort, row_limit=rows, max_name_column_width=40))


def data_pipeline_rate(batches: int) -> list[dict[str, Any]]:
    """Images/s of loading + augmenting ISBI crops (benchmarks/data_pipeline.measure)."""
    try:
        from data_pipeline import measure
    except ImportError as exc:
        return [{"error": str(exc)}]
    out = []
    for elastic, workers in ((False, 0), (True, 0), (False, 2)):
        try:
            out.append(measure("isbi2012", 256, elastic, workers, batches, 4))
        except (ValueError, FileNotFoundError) as exc:  # dataset not present
            return [{"error": str(exc).splitlines()[0]}]
    return out


# -------------------------------------------------------------------------------------------- reporting
def _fmt(v: float | None, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    return f"{v:.{digits}f}"


def _best(
    rows: list[dict[str, Any]], phase: str, size: int, batch: int, names: list[str]
) -> dict[str, Any] | None:
    found = [
        r
        for r in rows
        if r["phase"] == phase
        and r["size"] == size
        and r["batch"] == batch
        and r["candidate"] in names
        and "images_per_s" in r
    ]
    return max(found, key=lambda r: r["images_per_s"]) if found else None


def _get(rows: list[dict[str, Any]], phase: str, size: int, batch: int, name: str) -> dict[str, Any] | None:
    return _best(rows, phase, size, batch, [name])


def targets(rows: list[dict[str, Any]], mm: float, cases: list[tuple[str, int, int]]) -> list[dict[str, Any]]:
    """The issue's four targets, per measured case."""
    fast_infer = sorted(
        {r["candidate"] for r in rows if r["phase"] == "infer" and r["candidate"].startswith("unetkit")}
    )
    fast_train = sorted(
        {r["candidate"] for r in rows if r["phase"] == "train" and r["candidate"].startswith("unetkit")}
    )
    out = []
    for phase, size, batch in cases:
        ref = _get(rows, phase, size, batch, "reference")
        if phase == "infer":
            best = _best(rows, phase, size, batch, fast_infer)
            if best and ref:
                out.append(
                    {
                        "target": "inference >= 2x eager reference",
                        "case": (size, batch),
                        "value": best["images_per_s"] / ref["images_per_s"],
                        "goal": 2.0,
                        "by": best["candidate"],
                    }
                )
            peers = [p for p in (_get(rows, phase, size, batch, n) for n in ("monai", "smp")) if p]
            if best and peers:
                peer = max(peers, key=lambda r: r["gflops_per_s"])
                out.append(
                    {
                        "target": "FLOP-normalised inference >= 1.5x best peer",
                        "case": (size, batch),
                        "value": best["gflops_per_s"] / peer["gflops_per_s"],
                        "goal": 1.5,
                        "by": f"{best['candidate']} vs {peer['candidate']}",
                    }
                )
            if best:
                out.append(
                    {
                        "target": "forward GFLOP/s >= torch.mm GFLOP/s",
                        "case": (size, batch),
                        "value": best["gflops_per_s"] / mm,
                        "goal": 1.0,
                        "by": best["candidate"],
                    }
                )
        else:
            best = _best(rows, phase, size, batch, fast_train)
            if best and ref:
                out.append(
                    {
                        "target": "training >= 1.3x eager reference (fp32)",
                        "case": (size, batch),
                        "value": best["images_per_s"] / ref["images_per_s"],
                        "goal": 1.3,
                        "by": best["candidate"],
                    }
                )
    for t in out:
        t["reached"] = bool(t["value"] >= t["goal"])
    return out


def render_markdown(result: dict[str, Any]) -> str:
    """speed.md: the tables of images/s, ratios, targets, memory, data pipeline and profiles."""
    rows, meta = result["rows"], result["meta"]
    mm = meta["matmul_gflops"]
    lines = [
        "# Speed: unetkit against the lecture reference and its peers",
        "",
        f"Command: `{meta['command']}`",
        "",
        f"Machine: {meta['machine']}; torch {meta['torch']} ({meta['threads']} threads), "
        f"device {meta['device']}; fp32 torch.mm peak {mm:.1f} GFLOP/s (median of start and end: "
        f"{', '.join(f'{v:.1f}' for v in meta['matmul_gflops_samples'])}). Median of "
        f"{meta['repeats']} interleaved rounds at {min(meta['sizes'])} px, {meta['repeats_large']} at "
        f"larger sizes, one warm-up each.",
        "",
    ]
    info = meta.get("machine_info")
    if info:
        load = info["shared_machine"]
        lines += [
            f"torch CPU capability {info['cpu_capability']}; machine load: "
            f"{'not stated' if load is None else load or 'idle'}; the CPU flags are in speed.json "
            "(`meta.machine_info.cpu_flags`).",
            "",
        ]
    for note in meta["notes"]:
        lines.append(f"- {note}")
    for name, diff in result.get("logit_check", {}).items():
        lines.append(
            f"- {name}: max |logits - eager unetkit logits| = {diff:.1e} on one "
            f"{min(meta['sizes'])}x{min(meta['sizes'])} input (fp32)."
        )
    modes = {r["candidate"]: r["effective_mode"] for r in rows if "effective_mode" in r}
    for name, mode in modes.items():
        if not name.endswith(mode):
            lines.append(f"- {name} ran as {mode} (torch.compile failed; see the log).")
    lines.append("")
    for phase, title in (
        ("infer", "Inference"),
        ("train", "Training (forward + loss + backward + AdamW step)"),
    ):
        cases = sorted({(r["size"], r["batch"]) for r in rows if r["phase"] == phase})
        names = list(dict.fromkeys(r["candidate"] for r in rows if r["phase"] == phase))
        if not cases:
            continue
        lines += [
            f"## {title}: images/s (GFLOP/s, % of torch.mm peak)",
            "",
            "| candidate | params | GFLOP/image @"
            + str(cases[0][0])
            + " | "
            + " | ".join(f"{s}x{s} b{b}" for s, b in cases)
            + " |",
            "|---|---|---|" + "---|" * len(cases),
        ]
        for name in names:
            cells = []
            first = None
            for s, b in cases:
                r = _get(rows, phase, s, b, name)
                if r is None:
                    err = next(
                        (
                            x.get("error")
                            for x in rows
                            if x["phase"] == phase
                            and x["size"] == s
                            and x["batch"] == b
                            and x["candidate"] == name
                            and "error" in x
                        ),
                        None,
                    )
                    cells.append("failed" if err else "-")
                    continue
                first = first or r
                cells.append(
                    f"{r['images_per_s']:.3g} ({r['gflops_per_s']:.0f}, {100 * r['gflops_per_s'] / mm:.0f}%)"
                )
            gfl = first["flops_per_image"] / 1e9 if first else float("nan")
            params = first["params"] if first else 0
            lines.append(f"| {name} | {params / 1e6:.1f} M | {gfl:.1f} | " + " | ".join(cells) + " |")
        lines.append("")
        ref_cells = []
        for name in names:
            if name == "reference":
                continue
            ratios = []
            for s, b in cases:
                r, ref = _get(rows, phase, s, b, name), _get(rows, phase, s, b, "reference")
                ratios.append(f"{r['images_per_s'] / ref['images_per_s']:.2f}" if r and ref else "-")
            ref_cells.append(f"| {name} / reference | " + " | ".join(ratios) + " |")
        lines += [
            "Ratios of images/s (candidate / eager reference):",
            "",
            "| ratio | " + " | ".join(f"{s}x{s} b{b}" for s, b in cases) + " |",
            "|---|" + "---|" * len(cases),
            *ref_cells,
            "",
        ]
        peer_cells = []
        for peer in ("monai", "smp"):
            if peer not in names:
                continue
            for name in names:
                if not name.startswith("unetkit"):
                    continue
                ratios = []
                for s, b in cases:
                    r, p = _get(rows, phase, s, b, name), _get(rows, phase, s, b, peer)
                    ratios.append(
                        f"{r['images_per_s'] / p['images_per_s']:.2f} / "
                        f"{r['gflops_per_s'] / p['gflops_per_s']:.2f}"
                        if r and p
                        else "-"
                    )
                peer_cells.append(f"| {name} / {peer} | " + " | ".join(ratios) + " |")
        if peer_cells:
            lines += [
                "Ratios against peers (images/s / FLOP-normalised throughput):",
                "",
                "| ratio | " + " | ".join(f"{s}x{s} b{b}" for s, b in cases) + " |",
                "|---|" + "---|" * len(cases),
                *peer_cells,
                "",
            ]
    lines += [
        "## Targets of issue 5",
        "",
        "| target | case (size, batch) | measured | goal | by | reached |",
        "|---|---|---|---|---|---|",
    ]
    for t in result["targets"]:
        lines.append(
            f"| {t['target']} | {t['case'][0]}x{t['case'][0]} b{t['case'][1]} | {t['value']:.2f} | "
            f"{t['goal']} | {t['by']} | {'yes' if t['reached'] else 'no'} |"
        )
    lines.append("")
    mem = [r for r in rows if "extra_rss_mib" in r]
    if mem:
        lines += [
            "## Memory",
            "",
            f"Process peak RSS (ru_maxrss): {meta['ru_maxrss_mib']:.0f} MiB. Per call: "
            "RSS growth during the call (sampled every 2 ms) over the RSS before it.",
            "",
            "| candidate | phase | size | batch | extra RSS MiB | warm-up s |",
            "|---|---|---|---|---|---|",
        ]
        for r in mem:
            lines.append(
                f"| {r['candidate']} | {r['phase']} | {r['size']} | {r['batch']} | "
                f"{r['extra_rss_mib']:.0f} | {_fmt(r.get('warmup_s'), 1)} |"
            )
        lines.append("")
    dp = result.get("data_pipeline") or []
    if dp:
        lines += ["## Data pipeline against training", ""]
        train_rate = _best(rows, "train", min(meta["sizes"]), max(meta["batches"]), ["unetkit"])
        for d in dp:
            if "error" in d:
                lines.append(f"- data pipeline skipped: {d['error']}")
                continue
            ratio = (
                (
                    f"{d['images_per_s'] / train_rate['images_per_s']:.0f}x the unetkit training rate "
                    f"({train_rate['images_per_s']:.2f} images/s at {train_rate['size']} px, batch "
                    f"{train_rate['batch']})"
                )
                if train_rate
                else ""
            )
            kind = "with elastic deformation" if d.get("elastic") else "without elastic deformation"
            lines.append(
                f"- ISBI 256 crops {kind}, {d['num_workers']} workers: {d['images_per_s']} images/s; {ratio}"
            )
        lines.append("")
    for title, table in result.get("profiles", {}).items():
        lines += [f"## Profile: {title}", "", "```", table.rstrip(), "```", ""]
    return "\n".join(lines) + "\n"


def write_figure(result: dict[str, Any], path: Path) -> None:
    # matplotlib's object API: no global backend or pyplot state (FigureCanvasAgg renders the PNG).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from unetkit.files import atomic_path

    rows = result["rows"]
    phases = [p for p in ("infer", "train") if any(r["phase"] == p for r in rows)]
    fig = Figure(figsize=(7 * len(phases), 4.5))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(phases), squeeze=False)
    for ax, phase in zip(axes[0], phases):
        cases = sorted({(r["size"], r["batch"]) for r in rows if r["phase"] == phase})
        names = list(dict.fromkeys(r["candidate"] for r in rows if r["phase"] == phase))
        width = 0.8 / max(len(names), 1)
        for i, name in enumerate(names):
            ref = [_get(rows, phase, s, b, "reference") for s, b in cases]
            vals = []
            for (s, b), rr in zip(cases, ref):
                r = _get(rows, phase, s, b, name)
                vals.append(r["images_per_s"] / rr["images_per_s"] if r and rr else 0.0)
            ax.bar(np.arange(len(cases)) + i * width, vals, width, label=name)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xticks(np.arange(len(cases)) + 0.4 - width / 2)
        ax.set_xticklabels([f"{s}px b{b}" for s, b in cases])
        ax.set_ylabel("images/s relative to the eager reference")
        ax.set_title("inference" if phase == "infer" else "training step")
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)


# ------------------------------------------------------------------------------------------------ main
def machine_description() -> str:
    """One line: cores, CPU model, OS, Python and GPU (the full record is ``meta.machine_info``)."""
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    system = f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"
    return f"{harness.cpu_description()}, {system}{gpu}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/speed"))
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--sizes", default="256,512")
    p.add_argument("--batches", default="1,4")
    p.add_argument(
        "--train-large-batches",
        default="1",
        help="batch sizes for training at sizes above the smallest (512 px batch 4 takes ~1 min "
        "per step on 2 cores); 'same' = --batches",
    )
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds at the smallest size")
    p.add_argument("--repeats-large", type=int, default=1, help="rounds at the larger sizes")
    p.add_argument("--base", type=int, default=64)
    p.add_argument(
        "--upsample",
        default="transpose4",
        choices=["transpose4", "transpose"],
        help="unetkit/reference up-sampling (transpose4 = the AI VIET NAM lecture code)",
    )
    p.add_argument(
        "--fast-modes",
        default="fused,channels_last,compile",
        help="optimize_for_inference modes to time (comma list; '' for none)",
    )
    p.add_argument("--compile-sizes", default="256", help="sizes at which the compile mode is timed")
    p.add_argument(
        "--compile-batches",
        default="1,4",
        help="batch sizes at which the compile mode is timed (each shape compiles anew: ~1-2 min on 2 cores)",
    )
    p.add_argument("--no-ort", dest="ort", action="store_false")
    p.add_argument("--no-train-channels-last", dest="train_channels_last", action="store_false")
    p.add_argument("--peers", default="monai,smp")
    p.add_argument("--phases", default="infer,train")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = PyTorch's default)")
    p.add_argument("--data-batches", type=int, default=10, help="0 skips the data pipeline measurement")
    p.add_argument("--no-profile", dest="profile", action="store_false")
    p.add_argument(
        "--shared-machine",
        default=None,
        help="note on the machine's load, recorded with the results (e.g. 'shared with 4 jobs'; '' = idle)",
    )
    args = p.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.batches = [int(b) for b in args.batches.split(",")]
    args.train_large_batches = (
        args.batches
        if args.train_large_batches == "same"
        else [int(b) for b in args.train_large_batches.split(",")]
    )
    args.compile_sizes = [int(s) for s in args.compile_sizes.split(",") if s]
    args.compile_batches = [int(b) for b in args.compile_batches.split(",") if b]
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)  # script-level choice, recorded in the results
    device = torch.device(args.device)
    start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - start:7.1f}s] {msg}", flush=True)

    notes: list[str] = []
    mm = [matmul_gflops(device)]
    log(f"torch.mm fp32: {mm[0]:.1f} GFLOP/s")
    cands = build_candidates(args, device, notes)
    log("candidates: " + ", ".join(f"{c.name}/{c.phase}" for c in cands))
    smallest = min(args.sizes)
    logit_check = check_logits(cands, args.eager_model, smallest, device)
    for name, diff in logit_check.items():
        log(f"max |logits - eager logits| of {name} at {smallest}x{smallest}: {diff:.2e}")
    cases: list[tuple[str, int, int]] = []
    for size in args.sizes:
        for phase in ("infer", "train"):
            batches = args.batches if (phase == "infer" or size == smallest) else args.train_large_batches
            cases += [(phase, size, b) for b in batches if any(c.phase == phase for c in cands)]
    rows: list[dict[str, Any]] = []
    for phase, size, batch in cases:
        repeats = args.repeats if size == smallest else args.repeats_large
        skip_compile = size not in args.compile_sizes or batch not in args.compile_batches
        active = [c for c in cands if not (c.name.endswith("-compile") and skip_compile)]
        log(f"{phase} {size}x{size} batch {batch}: {repeats} rounds")
        rows += run_case(active, phase, size, batch, repeats, device, log)
    mm.append(matmul_gflops(device))
    log(f"torch.mm fp32 at the end: {mm[1]:.1f} GFLOP/s")
    peak = statistics.median(mm)
    result: dict[str, Any] = {"rows": rows, "logit_check": logit_check}
    result["targets"] = targets(rows, peak, sorted({(p, s, b) for p, s, b in cases}))
    if args.data_batches and device.type == "cpu":
        log("data pipeline")
        result["data_pipeline"] = data_pipeline_rate(args.data_batches)
    if args.profile:
        result["profiles"] = {}
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(1, IN_CHANNELS, smallest, smallest, generator=gen).to(device)
        y = torch.randint(0, NUM_CLASSES, (1, smallest, smallest), generator=gen).to(device)
        for c in cands:
            if c.name in ("reference", "unetkit-channels_last", "unetkit-compile"):
                log(f"profiling {c.name}/{c.phase}")
                title = f"{c.name} {c.phase} {smallest}x{smallest} batch 1"
                result["profiles"][title] = profile_top_ops(c.build(x, y), device)
    meta = {
        "command": harness.command_line(),
        "machine": machine_description(),
        "machine_info": harness.machine_info(args.shared_machine, device=device, mm_size=0),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "matmul_gflops": peak,
        "matmul_gflops_samples": mm,
        "sizes": args.sizes,
        "batches": args.batches,
        "repeats": args.repeats,
        "repeats_large": args.repeats_large,
        "notes": notes,
        "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "seconds": time.perf_counter() - start,
    }
    for mod in ("monai", "segmentation_models_pytorch", "onnxruntime"):
        with contextlib.suppress(ImportError):
            meta[f"{mod}_version"] = __import__(mod).__version__
    result["meta"] = meta
    harness.write_results(args.out, "speed", result, render_markdown(result))
    write_figure(result, args.out / "speed.png")
    log(f"wrote {args.out}/speed.json, speed.md, speed.png")
    return result


if __name__ == "__main__":
    main()
