"""``unetkit benchmark MODEL [--size 512] [--batch 4]``: which backend is fastest for this model on this CPU.

Times every available backend and precision (eager PyTorch, onnxruntime, OpenVINO fp32/bf16, the INT8
variants of ``unetkit export --precision int8``) in one process, interleaved, median of rounds; checks each
against eager (max logit difference; with a validation set also the metric drop) and recommends the fastest
one that passes. Without an export folder, fp32 ONNX + OpenVINO exports are made in a temporary folder.
The library part is :mod:`unetkit.inference.bench`.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import traceback
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``benchmark`` subcommand."""
    from unetkit.cli.console import help_description
    from unetkit.cli.export import add_gate_arguments

    p = sub.add_parser(
        "benchmark",
        help="time every inference backend/precision of a model on this machine and recommend one",
        description=help_description(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", type=Path, metavar="MODEL", help="run folder, model folder or .ckpt")
    p.add_argument("--size", type=int, default=512, help="input side in pixels (default 512)")
    p.add_argument("--batch", type=int, default=4, help="images per forward pass (default 4)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved timed rounds (default 5)")
    p.add_argument(
        "--export", type=Path, default=None, metavar="DIR", help="export folder (default MODEL/export)"
    )
    p.add_argument("--atol", type=float, default=1e-4, help="max logit diff of fp32 backends (default 1e-4)")
    p.add_argument("--val", action="store_true", help="also score each backend on the run's validation split")
    add_gate_arguments(p)  # export's gate: the --val score a reduced-precision backend is gated on
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the rows as JSON")
    p.set_defaults(func=run)


def _validation(args: argparse.Namespace, num_classes: int) -> Any:
    from unetkit.export.quantize import find_run_dir, validation_from_dirs, validation_from_run

    if (args.val_images is None) != (args.val_masks is None):
        raise ValueError("pass both --val-images and --val-masks.")
    if args.val_images is not None:
        return validation_from_dirs(
            args.val_images, args.val_masks, max(num_classes, 2), args.mask_encoding, args.isbi
        )
    if args.val:
        run_dir = find_run_dir(args.model)
        if run_dir is None:
            raise ValueError(f"--val needs a run folder with config.yaml; {args.model} is not in one.")
        return validation_from_run(run_dir)
    return None


def _time_backends(args: argparse.Namespace, export_dir: Path) -> tuple[Any, list[Any], dict[str, str], Any]:
    """Build every backend of ``export_dir``, score them on the validation images (when asked) and time
    them: ``(input, rows, skipped, busy load)``. The engines are made and freed in here, so
    :func:`~unetkit.inference.signal_stack.keeping_signal_stack` around the call sees them gone."""
    from unetkit.export.quantize import DEFAULT_TOLERANCE
    from unetkit.inference import auto_backend, bench

    built: dict[str, Any] = {}
    try:
        built, skipped = bench.build_predictors(bench.list_candidates(args.model, export_dir))
        if not built:
            raise ValueError(f"no backend could load {args.model}: {skipped}")
        bench.check_same_model(built, export_dir, args.model)
        first = next(iter(built.values()))[1]
        val = _validation(args, first.config.num_classes)
        metrics, tolerance = None, None
        if val is not None:
            metric = args.gate_metric or val.default_metric
            tolerance = DEFAULT_TOLERANCE[metric] if args.tolerance is None else args.tolerance
            metrics = bench.validation_deltas(built, val, metric)
        x = bench.bench_input(first, args.size, args.batch)
        # Read as backend auto reads it (unetkit.devices.busy_load), before timing: the timing's own load
        # would count against it after.
        busy = auto_backend.busy_load()
        rows = bench.measure(
            built, x, rounds=args.rounds, atol=args.atol, metrics=metrics, tolerance=tolerance
        )
    except BaseException as exc:
        # A failed or interrupted (Ctrl-C) timing's traceback holds its engines in its frames: freed now,
        # inside the caller's keeping_signal_stack, as auto_backend's timing does.
        built, first = {}, None
        traceback.clear_frames(exc.__traceback__)
        raise
    return x, rows, skipped, busy


def run(args: argparse.Namespace) -> int:
    """Benchmark, print the table and the recommendation; 0 on success."""
    from unetkit.inference import bench
    from unetkit.inference.variants import cpu_info, find_export_dir
    from unetkit.options import check_positive_int

    check_positive_int(args.size, "--size")
    check_positive_int(args.batch, "--batch")
    check_positive_int(args.rounds, "--rounds")
    with tempfile.TemporaryDirectory(prefix="unetkit-benchmark-") as scratch:
        export_dir = args.export if args.export is not None else find_export_dir(args.model)
        temporary = export_dir is None
        if export_dir is None:
            from unetkit.export.openvino import export_openvino
            from unetkit.model_files.model_io import load_model

            logger.info(
                "no export of %s found: exporting fp32 ONNX + OpenVINO to a temporary folder", args.model
            )
            model, config = load_model(args.model)
            export_dir = Path(scratch)
            export_openvino(model, config, export_dir)
        from unetkit.inference.signal_stack import keeping_signal_stack

        with keeping_signal_stack():  # OpenVINO's engines, made and freed here, leave it dangling
            x, rows, skipped, busy = _time_backends(args, Path(export_dir))
    cpu = cpu_info()
    shape = tuple(x.shape)
    print(f"{args.model}: input {shape}: median of {args.rounds} interleaved rounds, {cpu['cpu_model']}")
    if tuple(shape[2:]) != (args.size, args.size):
        # The network is timed on what predict gives it for such an image (a valid, padded size).
        print(
            f"note: a {args.size}x{args.size} image reaches the network as {shape[2]}x{shape[3]} (the size "
            "predict pads it to), so that is the size timed"
        )
    print(bench.format_table(rows))
    if busy is not None:
        # Other work slows the engines unevenly (a trial on a busy machine read onnxruntime at 14x eager,
        # idle timings 3-4x).
        print(f"note: {bench.busy_note(busy)}; benchmark again when the machine is idle")
    for name, why in skipped.items():
        print(f"not available: {name} ({why})")
    best = bench.recommend(rows)
    if best is None:
        print("recommendation: none passes the checks")
    else:
        ratio = f", {best.ratio_to_eager:.2f}x eager" if best.ratio_to_eager is not None else ""
        where = ", measured on a temporary export" if temporary else ""
        print(f"recommendation: {best.backend} {best.precision}{ratio}{where}; to run it:")
        kept = None if temporary else Path(export_dir)  # None: measured on a temporary export
        for line in bench.predict_commands(best, args.model, kept):
            print(f"  {line}")
    if args.json is not None:
        from unetkit.files import atomic_write_text

        payload = {
            "model": str(args.model),
            "input_shape": list(x.shape),
            "rounds": args.rounds,
            "busy_load": busy and busy[0],  # 1-minute load when busy while timing, else None
            "cpu": cpu,
            "rows": [row.to_dict() for row in rows],
            "skipped": skipped,
            "recommended": best.name if best else None,
        }
        atomic_write_text(args.json, json.dumps(payload, indent=2) + "\n")
    return 0
