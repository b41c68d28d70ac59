"""Deployment speed on this CPU: eager PyTorch vs onnxruntime vs OpenVINO (fp32, bf16, INT8), accuracy-gated.

Command (from the repository root; ``--isbi-run`` is a run of
``unetkit fit --config benchmarks/configs/isbi2012.yaml``)::

    .venv/bin/python benchmarks/deploy_speed.py --isbi-run RUN --out benchmarks/results/deploy \\
        --shared-machine "shared with 4 other helpers"

Models: the lecture U-Net (``create_model("unet", in_channels=1, num_classes=2, base_channels=64, depth=4)``,
random weights: speed only, no accuracy gate is meaningful for it) and the packaged ISBI U-Net (base 8, depth
4) with the trained weights of ``--isbi-run``. For each model the script exports fp32 ONNX + OpenVINO
(verified against eager), makes the INT8 variants (NNCF for OpenVINO, onnxruntime static QDQ) calibrated on
the ISBI training slices, gates the ISBI model's variants on the ISBI validation slices (pixel error,
tolerance 0.002) exactly as ``unetkit export --precision`` does, and times every backend/precision with
:mod:`unetkit.inference.bench` (the code of ``unetkit benchmark`` and ``--backend auto``): one process, one
untimed warm-up, then interleaved rounds, median. The ISBI test pixel error of every reduced-precision variant
is reported against its fp32 model (reported only: nothing is chosen by it), plus the int8 saturation
remedies (NNCF ``overflow_fix``, onnxruntime ``reduce_range``) on this CPU.

Writes ``OUT/speed.json`` and ``OUT/speed.md`` (``harness.write_results``).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import harness
import torch

from unetkit.data.datasets import get_dataset_spec
from unetkit.evaluation import evaluate_split
from unetkit.export.openvino import export_openvino
from unetkit.export.quantize import (
    ValidationSet,
    calibration_batches,
    export_reduced,
    quantize_onnxruntime,
    quantize_openvino,
)
from unetkit.inference import bench
from unetkit.inference.backends import load_predictor
from unetkit.inference.variants import OPENVINO_NAME, variant_folder
from unetkit.model_files.model_config import CONFIG_NAME, ONNX_NAME, ModelConfig
from unetkit.model_files.model_io import load_model, save_model
from unetkit.models import create_model

log = logging.getLogger("deploy_speed")


def ov_runtime_precisions(xml: Path) -> dict[str, int]:
    """How many executed nodes of the compiled IR run in each precision (shows int8 kernels are used)."""
    from unetkit.inference.ov_backend import compile_openvino

    compiled = compile_openvino(xml, "fp32")
    counts: Counter[str] = Counter()
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        if "layerType" in info and str(info["layerType"].astype(str)) in ("Convolution", "Deconvolution"):
            counts[f"{info['layerType'].astype(str)}:{info['runtimePrecision'].astype(str)}"] += 1
    return dict(counts)


def make_int8(export_dir: Path, backend: str, batches: list[Any], folder: Path, **kwargs: Any) -> Path:
    """An INT8 variant written without a gate (the random-weight lecture model, the saturation study)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if backend == "openvino":
        quantize_openvino(export_dir / OPENVINO_NAME, batches, folder / OPENVINO_NAME, **kwargs)
    else:
        quantize_onnxruntime(export_dir / ONNX_NAME, batches, folder / ONNX_NAME, **kwargs)
    shutil.copy2(export_dir / CONFIG_NAME, folder / CONFIG_NAME)
    return folder


def test_pixel_error(predictor: Any, spec: Any) -> float:
    scores, _ = evaluate_split(
        predictor, spec.pairs("test"), spec.encoding, list(spec.class_names), isbi=True, split="test"
    )
    return float(scores["pixel_error"])


def prepare(
    name: str,
    model_dir: Path,
    spec: Any,
    val: ValidationSet,
    calibration: list[Path],
    max_cal: int,
    gated: bool,
) -> tuple[Path, dict[str, Any]]:
    """Export fp32 + reduced variants of ``model_dir``; returns the export folder and the gate results."""
    export_dir = model_dir.parent / "export"
    model, config = load_model(model_dir)
    fp32 = export_openvino(model, config, export_dir)
    info: dict[str, Any] = {
        "openvino_max_abs_diff_at_export": fp32.max_abs_diff,
        "onnx_max_abs_diff_at_export": fp32.extra["onnx_max_abs_diff"],
        "verify_shape": fp32.verify_shape,
        "gates": {},
    }
    if gated:
        for backend, precision in (("openvino", "bf16"), ("openvino", "int8"), ("onnxruntime", "int8")):
            start = time.perf_counter()
            try:
                gate = export_reduced(
                    export_dir, backend, precision, val, calibration, max_calibration_images=max_cal
                )
                info["gates"][f"{backend}-{precision}"] = {**gate.__dict__, "passed": gate.passed}
            except ValueError as exc:
                info["gates"][f"{backend}-{precision}"] = {"passed": False, "reason": str(exc)}
            log.info("%s %s-%s gate in %.0f s", name, backend, precision, time.perf_counter() - start)
    else:
        # Random weights: there is no accuracy to keep, so the INT8 files are made for timing only and are
        # never marked as passing (deploy.json gets no entry).
        reference = load_predictor(export_dir, backend="openvino")
        batches = calibration_batches(reference, calibration, max_cal)
        for backend in ("openvino", "onnxruntime"):
            make_int8(export_dir, backend, batches, variant_folder(export_dir, backend, "int8"))
        info["gates"] = "none: random weights (speed only)"
    return export_dir, info


def time_model(
    name: str,
    model_dir: Path,
    export_dir: Path,
    sizes: list[int],
    batches: list[int],
    rounds: int,
    gated: bool,
) -> list[dict[str, Any]]:
    built, skipped = bench.build_predictors(bench.list_candidates(model_dir, export_dir))
    if skipped:
        log.warning("%s: not available: %s", name, skipped)
    first = built[bench.EAGER][1]
    rows = []
    for size in sizes:
        x1 = bench.bench_input(first, size, 1)
        flops = harness.count_flops(first.model, x1.shape)  # per image, 2 per multiply-add
        for batch in batches:
            x = bench.bench_input(first, size, batch)
            start = time.perf_counter()
            for m in bench.measure(built, x, rounds=rounds):
                row = {"model": name, "size": size, "batch": batch, **m.to_dict()}
                row["gflop_per_image"] = flops / 1e9
                row["gflops_per_s"] = flops * m.images_per_s / 1e9
                if not gated and m.precision != "fp32":
                    row["why"] = "random weights: no accuracy gate possible (speed only)"
                rows.append(row)
            log.info("%s %d px batch %d timed in %.0f s", name, size, batch, time.perf_counter() - start)
    return rows


def eager_profile(model_dir: Path, size: int) -> dict[str, Any]:
    """Where eager PyTorch spends one 1-image forward pass: the top operators by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    predictor = load_predictor(model_dir, backend="torch")
    x = bench.bench_input(predictor, size, 1)
    predictor._predict_batch(x)  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        predictor._predict_batch(x)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1
    return {
        "input": [1, 1, size, size],
        "top_ops": [
            {"op": e.key, "share": round(e.self_cpu_time_total / total, 3), "calls": e.count}
            for e in events[:6]
        ],
    }


def isbi_test_errors(export_dir: Path, spec: Any) -> list[dict[str, Any]]:
    """ISBI test pixel error of each reduced variant against its fp32 model (same runtime), reported only."""
    out = []
    reference = {
        "openvino": test_pixel_error(load_predictor(export_dir, backend="openvino"), spec),
        "onnxruntime": test_pixel_error(load_predictor(export_dir, backend="onnxruntime"), spec),
    }
    for backend, precision in (("openvino", "bf16"), ("openvino", "int8"), ("onnxruntime", "int8")):
        folder = variant_folder(export_dir, backend, precision)
        if not folder.is_dir():
            continue
        opts = {"precision": precision} if backend == "openvino" else {}
        predictor = load_predictor(export_dir if backend == "openvino" else folder, backend=backend, **opts)
        error = test_pixel_error(predictor, spec)
        out.append(
            {
                "backend": backend,
                "precision": precision,
                "test_pixel_error": error,
                "fp32_test_pixel_error": reference[backend],
                "delta": error - reference[backend],
                "within_0.002": abs(error - reference[backend]) <= 0.002,
            }
        )
    return out


def saturation_study(
    export_dir: Path, spec: Any, calibration: list[Path], max_cal: int, rounds: int
) -> list[dict[str, Any]]:
    """INT8 with and without the saturation remedies: test pixel error and speed (512 px, batch 4)."""
    reference = load_predictor(export_dir, backend="openvino")
    batches = calibration_batches(reference, calibration, max_cal)
    work = export_dir.parent / "saturation"
    variants = {
        "openvino overflow_fix=disable (full 8-bit weights)": ("openvino", {"overflow_fix": "disable"}),
        "openvino overflow_fix=first_layer_only (NNCF default)": (
            "openvino",
            {"overflow_fix": "first_layer_only"},
        ),
        "openvino overflow_fix=enable (7-bit weights)": ("openvino", {"overflow_fix": "enable"}),
        "onnxruntime reduce_range=False": ("onnxruntime", {"reduce_range": False}),
        "onnxruntime reduce_range=True (7-bit weights)": ("onnxruntime", {"reduce_range": True}),
    }
    predictors = {}
    results = []
    for i, (label, (backend, kwargs)) in enumerate(variants.items()):
        folder = make_int8(export_dir, backend, batches, work / f"v{i}", **kwargs)
        predictor = load_predictor(folder, backend=backend)
        predictors[label] = predictor
        entry = {
            "variant": label,
            "backend": backend,
            **kwargs,
            "test_pixel_error": test_pixel_error(predictor, spec),
        }
        if backend == "openvino":
            entry["runtime_precisions"] = ov_runtime_precisions(folder / OPENVINO_NAME)
        results.append(entry)
    x = bench.bench_input(reference, 512, 4)
    times = bench.time_interleaved(
        {k: (lambda p=p: p._predict_batch(x)) for k, p in predictors.items()}, rounds
    )
    for entry in results:
        entry["images_per_s_512_b4"] = 4 / statistics.median(times[entry["variant"]])
    return results


def markdown(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    lines = [
        "# Deployment speed: eager PyTorch vs onnxruntime vs OpenVINO (fp32, bf16, INT8)",
        "",
        f"Command: `{payload['command']}`",
        "",
        f"CPU: {m['cpu_model']}, {m['cpu_count']} CPUs, torch capability {m['cpu_capability']}, "
        f"AVX512_BF16: {'yes' if 'avx512_bf16' in m['cpu_flags'] else 'no'}, "
        f"AVX512_VNNI: {'yes' if 'avx512_vnni' in m['cpu_flags'] else 'no'}; torch {m['torch']} with "
        f"{m['torch_threads']} threads, openvino {payload['versions']['openvino']}, onnxruntime "
        f"{payload['versions']['onnxruntime']}, nncf {payload['versions']['nncf']}.",
        f"Machine load: {m['shared_machine']} (ratios from one interleaved run are meaningful; absolute "
        "images/s are not).",
        "",
        f"Images/s, median of {payload['rounds']} interleaved rounds (lecture U-Net: "
        f"{payload['models'].get('lecture_unet', {}).get('rounds', '-')}) after one warm-up; `x eager` = "
        "images/s divided by eager PyTorch's in the same rounds; `passes` = fp32 backends within 1e-4 of "
        "eager, reduced precision only if it passed the accuracy gate.",
        "",
        "| model | size | batch | backend | precision | images/s | x eager | GFLOP/s | max logit diff "
        "| passes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in payload["rows"]:
        lines.append(
            f"| {r['model']} | {r['size']} | {r['batch']} | {r['backend']} | {r['precision']} | "
            f"{r['images_per_s']:.2f} | {r['ratio_to_eager']:.2f} | {r['gflops_per_s']:.0f} | "
            f"{r['max_logit_diff']:.2g} | "
            f"{'yes' if r['passes_gate'] else 'no'} |"
        )
    lines += ["", "Fastest passing mode per model and batch:", ""]
    for item in payload["fastest_passing"]:
        lines.append(
            f"- {item['model']} {item['size']} px batch {item['batch']}: {item['backend']} "
            f"{item['precision']}, {item['ratio_to_eager']:.2f}x eager"
        )
    lines += [
        "",
        f"Profile: fp32 `torch.mm` peak of this machine {m['matmul_gflops']} GFLOP/s (1024², harness). "
        "GFLOP/s above = FLOPs per image (2 per multiply-add) x images/s. Eager PyTorch's top operators "
        "(self CPU time, one 1-image pass):",
        "",
    ]
    for name, info in payload["models"].items():
        ops = ", ".join(f"{o['op']} {o['share']:.0%}" for o in info["eager_profile"]["top_ops"][:4])
        lines.append(f"- {name}: {ops}")
    lines += ["", "ISBI test pixel error of the reduced-precision variants against fp32 (reported only):", ""]
    lines += [
        "| model | backend | precision | test pixel error | fp32 | delta |",
        "|---|---|---|---|---|---|",
    ]
    for e in payload["isbi_reduced_precision_test"]:
        lines.append(
            f"| {e['model']} | {e['backend']} | {e['precision']} | {e['test_pixel_error']:.5f} | "
            f"{e['fp32_test_pixel_error']:.5f} | {e['delta']:+.5f} |"
        )
    lines += ["", "INT8 saturation remedies on this CPU (ISBI model, 512 px, batch 4):", ""]
    lines += ["| variant | test pixel error | images/s |", "|---|---|---|"]
    for e in payload["saturation"]:
        lines.append(f"| {e['variant']} | {e['test_pixel_error']:.5f} | {e['images_per_s_512_b4']:.2f} |")
    lines += ["", "Gates (ISBI validation slices 20-23):", ""]
    for key, gate in payload["models"]["isbi"]["gates"].items():
        lines.append(f"- {key}: {gate.get('reason') if 'reason' in gate else _gate_line(gate)}")
    lines += ["", *[f"- {note}" for note in payload["notes"]]]
    return "\n".join(lines) + "\n"


def _gate_line(gate: dict[str, Any]) -> str:
    return (
        f"{gate['metric']} {gate['reduced']:.5f} vs fp32 {gate['fp32']:.5f}, drop {gate['drop']:+.5f} "
        f"(tolerance {gate['tolerance']}): {'passed' if gate['passed'] else 'refused'}"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--isbi-run",
        type=Path,
        required=True,
        help="run folder of `unetkit fit --config benchmarks/configs/isbi2012.yaml`",
    )
    p.add_argument(
        "--lecture-run",
        type=Path,
        default=None,
        help="run folder of a trained lecture U-Net (base 64, depth 4) on isbi2012: its bf16/INT8 variants "
        "are then gated on the validation slices like the ISBI model's (without: random weights, speed only)",
    )
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/deploy"))
    p.add_argument("--work", type=Path, default=Path("/tmp/unetkit-deploy-speed"), help="scratch folder")
    p.add_argument("--sizes", type=int, nargs="+", default=[512])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument(
        "--lecture-rounds", type=int, default=3, help="rounds for the (slow) base-64 lecture U-Net"
    )
    p.add_argument("--threads", type=int, default=2, help="torch threads (OpenVINO/onnxruntime: all cores)")
    p.add_argument("--calibration-images", type=int, default=20)
    p.add_argument("--shared-machine", default=None, help='e.g. "shared with 4 other jobs"; "" = idle')
    p.add_argument("--models", nargs="+", default=["isbi", "lecture_unet"], choices=["isbi", "lecture_unet"])
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", force=True)
    for noisy in ("nncf", "root"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    import nncf
    import onnxruntime
    import openvino

    spec = get_dataset_spec("isbi2012")
    val = ValidationSet(list(spec.pairs("val")), spec.encoding, spec.num_classes, isbi=True)
    calibration = [image for image, _ in spec.pairs("train")]
    args.work.mkdir(parents=True, exist_ok=True)
    models: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    isbi_test: list[dict[str, Any]] = []
    saturation: list[dict[str, Any]] = []
    for name in args.models:
        model_dir = args.work / name / "model"
        if model_dir.parent.exists():
            shutil.rmtree(model_dir.parent)
        if name == "isbi":
            model, config = load_model(args.isbi_run)
            max_cal = args.calibration_images
        elif args.lecture_run is not None:
            model, config = load_model(args.lecture_run)
            kw = config.model_kwargs
            if (kw.get("base_channels"), kw.get("depth")) != (64, 4):
                raise SystemExit(f"--lecture-run {args.lecture_run} is not a base-64 depth-4 U-Net: {kw}")
            max_cal = min(args.calibration_images, 8)  # base 64 at 512 px: calibration passes are slow
        else:
            kwargs = {"in_channels": 1, "num_classes": 2, "base_channels": 64, "depth": 4}
            model = create_model("unet", **kwargs)
            config = ModelConfig("unet", kwargs, list(spec.class_names), list(spec.mean), list(spec.std))
            max_cal = min(args.calibration_images, 8)  # base 64 at 512 px: calibration passes are slow
        save_model(model, config, model_dir)
        start = time.perf_counter()
        trained = name == "isbi" or args.lecture_run is not None
        export_dir, info = prepare(name, model_dir, spec, val, calibration, max_cal, gated=trained)
        info["prepare_seconds"] = round(time.perf_counter() - start, 1)
        info["model_kwargs"] = config.model_kwargs
        run = args.isbi_run if name == "isbi" else args.lecture_run
        info["weights"] = f"trained: {run}" if trained else "random (seed 0)"
        models[name] = info
        rounds = args.rounds if name == "isbi" else args.lecture_rounds
        info["rounds"] = rounds
        rows += time_model(name, model_dir, export_dir, args.sizes, args.batches, rounds, gated=trained)
        info["eager_profile"] = eager_profile(model_dir, max(args.sizes))
        if trained:
            isbi_test += [{"model": name, **row} for row in isbi_test_errors(export_dir, spec)]
        if name == "isbi":
            saturation = saturation_study(export_dir, spec, calibration, max_cal, args.rounds)
    fastest = []
    for key in sorted({(r["model"], r["size"], r["batch"]) for r in rows}):
        passing = [r for r in rows if (r["model"], r["size"], r["batch"]) == key and r["passes_gate"]]
        best = max(passing, key=lambda r: r["images_per_s"])
        fastest.append(
            {k: best[k] for k in ("model", "size", "batch", "backend", "precision", "ratio_to_eager")}
        )
    machine = harness.machine_info(shared_machine=args.shared_machine)
    payload = {
        "command": harness.command_line(),
        "machine": machine,
        "cpu_flags": machine["cpu_flags"],
        "shared_machine": args.shared_machine,
        "versions": {
            "openvino": openvino.__version__,
            "onnxruntime": onnxruntime.__version__,
            "nncf": nncf.__version__,
        },
        "rounds": args.rounds,
        "models": models,
        "rows": rows,
        "fastest_passing": fastest,
        "isbi_reduced_precision_test": isbi_test,
        "saturation": saturation,
        "notes": [
            "The ISBI model is a short-budget one (`unetkit fit --config benchmarks/configs/isbi2012.yaml "
            "trainer.max_time_minutes=6`), not the packaged 19-minute recipe: its accuracy is lower, the "
            "speed is the same architecture's.",
            (
                f"The lecture U-Net was trained briefly on ISBI ({args.lecture_run}; `unetkit fit --config "
                "isbi2012 model.kwargs={base_channels: 64, depth: 4} trainer.max_time_minutes=7`): its "
                "bf16/INT8 variants face the same validation gate as the ISBI model's."
                if args.lecture_run is not None
                else "The lecture U-Net has random weights: its bf16/INT8 rows are speed only and never pass "
                "the gate."
            ),
            "OpenVINO fp32 rows set INFERENCE_PRECISION_HINT=f32: OpenVINO's default on a CPU with native "
            "bf16 is bf16.",
            "onnxruntime and OpenVINO use their default thread counts (all cores); torch uses --threads.",
        ],
    }
    harness.write_results(args.out, "speed", payload, markdown(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
