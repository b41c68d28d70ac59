"""``unetkit export MODEL --format onnx|openvino|torchscript [--precision int8|bf16]``: verified files."""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # unetkit.export imports torch; the parser (and `unetkit predict`) must build without it
    from unetkit.export.common import ExportResult

FORMATS = ("onnx", "torchscript", "openvino")


def register(subparsers: Any) -> None:
    """Add the ``export`` sub-command to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    parser = subparsers.add_parser(
        "export",
        help="export a trained model to ONNX, OpenVINO or TorchScript, verified against PyTorch",
        description="Export MODEL (model folder, run folder or .ckpt) and check the file reproduces PyTorch.",
    )
    parser.add_argument("model", type=Path, help="model folder, run folder (uses RUN/model) or .ckpt file")
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="export format (default: onnx)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <model>/export)")
    parser.add_argument(
        "--opset", type=int, default=17, help="ONNX opset (default: 17; the dynamo exporter writes 18+)"
    )
    parser.add_argument(
        "--atol", type=float, default=1e-4, help="max abs diff allowed vs PyTorch (default 1e-4)"
    )
    parser.add_argument(
        "--exporter",
        choices=("auto", "legacy", "dynamo"),
        default="auto",
        help="ONNX exporter: auto tries the TorchScript-based one, then torch.export (dynamo)",
    )
    parser.add_argument("--no-verify", dest="verify", action="store_false", help="skip the check")
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bars and no INFO log lines (as predict -q)"
    )
    add_precision_arguments(parser)
    parser.set_defaults(func=run)


def add_gate_arguments(g: Any) -> None:
    """The accuracy gate's options (a parser or an argument group): the images it scores and the score,
    shared by ``export`` (which writes a reduced-precision model only if it passes) and ``benchmark --val``
    (which scores each backend with it)."""
    g.add_argument("--val-images", type=Path, default=None, metavar="DIR", help="gate images (default: the "
                   "run's validation split)")  # fmt: skip
    g.add_argument("--val-masks", type=Path, default=None, metavar="DIR", help="gate ground-truth masks")
    g.add_argument("--mask-encoding", choices=("index", "binary"), default="index", help="of --val-masks")
    g.add_argument("--isbi", action="store_true", help="ISBI-style binary masks (gate: pixel error)")
    g.add_argument("--gate-metric", choices=("miou", "mean_dice", "pixel_error"), default=None,
                   help="default: pixel_error for a two-class model, else miou")  # fmt: skip
    g.add_argument("--tolerance", type=float, default=None, help="largest allowed metric drop vs fp32 "
                   "(default 0.005 mIoU/Dice, 0.002 pixel error)")  # fmt: skip


def add_precision_arguments(parser: argparse.ArgumentParser) -> None:
    """Reduced precision (bf16, INT8) and its accuracy gate (see unetkit.export.quantize)."""
    g = parser.add_argument_group("reduced precision (written only if it passes the accuracy gate)")
    g.add_argument(
        "--precision", choices=("fp32", "bf16", "int8"), default="fp32",
        help="also make a reduced-precision variant: int8 (--format openvino: NNCF; onnx: onnxruntime QDQ) "
        "or bf16 (openvino, CPUs with native bf16)",
    )  # fmt: skip
    g.add_argument("--calibration", type=Path, default=None, metavar="DIR", help="INT8 calibration images "
                   "(default: the train split of the run in config.yaml)")  # fmt: skip
    g.add_argument("--calibration-images", type=int, default=32, metavar="N", help="at most N (default 32)")
    add_gate_arguments(g)
    g.add_argument("--overflow-fix", choices=("first_layer_only", "enable", "disable"),
                   default="first_layer_only", help="NNCF 7-bit weights against int8 saturation on CPUs "
                   "without VNNI (default first_layer_only)")  # fmt: skip
    g.add_argument("--reduce-range", action="store_true", help="onnxruntime INT8: 7-bit weights (non-VNNI)")


def reduced_precision_plan(
    args: argparse.Namespace, model_path: Path, num_classes: int, check_only: bool = False
) -> dict[str, Any]:
    """Check the reduced-precision options before exporting anything: validation set and calibration
    (``check_only``: only the options themselves, before the model is loaded)."""
    from unetkit.export.quantize import (
        calibration_images,
        find_run_dir,
        validation_from_dirs,
        validation_from_run,
    )

    precision, fmt = args.precision, getattr(args, "format", "onnx")
    backend = {"openvino": "openvino", "onnx": "onnxruntime"}.get(fmt)
    if backend is None or (precision == "bf16" and backend != "openvino"):
        use = "--format openvino or --format onnx" if precision == "int8" else "--format openvino"
        raise ValueError(f"--precision {precision} is not available for --format {fmt}; use {use}.")
    tolerance = getattr(args, "tolerance", None)
    if tolerance is not None and not tolerance > 0:  # NaN too: no drop would ever pass
        raise ValueError(
            f"--tolerance must be > 0 (the largest metric drop allowed vs fp32), got {tolerance:g}; leave it "
            "out for the default (0.005 mIoU/Dice, 0.002 pixel error)."
        )
    if check_only:
        return {}
    run_dir = find_run_dir(model_path)
    if (args.val_images is None) != (args.val_masks is None):
        raise ValueError("pass both --val-images and --val-masks (or neither: the run's validation split).")
    if args.val_images is not None:
        val = validation_from_dirs(args.val_images, args.val_masks, max(num_classes, 2), args.mask_encoding,
                                   args.isbi)  # fmt: skip
    elif run_dir is not None:
        val = validation_from_run(run_dir)
    else:
        raise ValueError(
            f"the accuracy gate of --precision {precision} needs a validation set: pass --val-images DIR "
            "--val-masks DIR, or export a run folder (its config.yaml names the validation split)."
        )
    calibration = calibration_images(args.calibration, run_dir) if precision == "int8" else []
    return {"backend": backend, "val": val, "calibration": calibration}


def default_out_dir(model_path: Path) -> Path:
    """``MODEL/export`` for a folder, ``<folder of the .ckpt>/export`` for a checkpoint file."""
    return (model_path if model_path.is_dir() else model_path.parent) / "export"


def check_not_maskrcnn(model_path: Path) -> None:
    """Refuse a Mask R-CNN model (run, model folder, or a checkpoint of its run) in one line: its detection
    heads have no ONNX/OpenVINO/TorchScript export here (the model registry only said "Unknown model")."""
    from unetkit.inference.instance_predictor import maskrcnn_model_dir

    folder = model_path if model_path.is_dir() else model_path.parent
    candidates = (model_path, folder) if model_path.suffix != ".ckpt" else (folder, folder.parent)
    if any(maskrcnn_model_dir(path) is not None for path in candidates):
        raise ValueError(
            f"{model_path} is a Mask R-CNN model: Mask R-CNN models cannot be exported; predict or serve "
            "them with the torch backend (`unetkit predict MODEL INPUT --out DIR --backend torch`)."
        )


@contextlib.contextmanager
def _no_progress_bars(quiet: bool) -> Iterator[None]:
    """``-q``: NNCF's "Statistics collection" bar (``--precision int8 --format openvino``) not drawn. NNCF
    draws it on rich's shared console, muted for the block and put back after it."""
    if not quiet:
        yield
        return
    try:
        from rich import get_console
    except ImportError:  # no rich, so no NNCF bar either
        yield
        return
    console = get_console()
    before = console.quiet
    console.quiet = True
    try:
        yield
    finally:
        console.quiet = before


def run(args: argparse.Namespace) -> int:
    """Load, export, verify; prints the file and the max abs diff. Errors propagate as ValueError."""
    # Imported here so ``unetkit --help`` stays fast (torch + onnx imports take seconds) and works without
    # torch (the onnxruntime-only install runs ``unetkit predict --backend onnxruntime``).
    from unetkit.export.common import remove_created_on_error
    from unetkit.export.onnx import check_opset
    from unetkit.model_files.model_io import load_model

    quiet = getattr(args, "quiet", False)
    if quiet and not getattr(args, "verbose", False):
        # -q as predict's: no INFO lines (the export's own "exported ..." line); warnings, errors and the
        # result lines still print. Set here: the CLI owns the process's logging.
        logging.getLogger("unetkit").setLevel(logging.WARNING)
    model_path = Path(args.model)
    out_dir = Path(args.out) if getattr(args, "out", None) else default_out_dir(model_path)
    # Checked before the (slow) export, by creating it and removing it again: main prints one line.
    from unetkit.cli.errors import check_out_folder

    check_out_folder(out_dir)
    atol = getattr(args, "atol", 1e-4)
    if not atol >= 0:  # NaN too
        raise ValueError(f"--atol must be >= 0 (the max abs diff allowed vs PyTorch), got {atol:g}.")
    fmt = getattr(args, "format", "onnx")
    if fmt in ("onnx", "openvino"):
        check_opset(getattr(args, "opset", 17))  # before the model loads: nothing is written
    check_not_maskrcnn(model_path)
    precision = getattr(args, "precision", "fp32")
    if precision != "fp32":  # the option checks that need no model (tolerance, format), before loading it
        reduced_precision_plan(args, model_path, 2, check_only=True)
    model, config = load_model(model_path)
    plan = reduced_precision_plan(args, model_path, config.num_classes) if precision != "fp32" else None
    # Ctrl-C at any stage, the reduced-precision one too, leaves nothing this command created (each export
    # removes its own files when refused or interrupted; a refused INT8/bf16 gate keeps the fp32 export).
    with remove_created_on_error(out_dir, on=(KeyboardInterrupt,)):
        _export_and_gate(args, model, config, out_dir, plan, quiet)
    return 0


def _export_and_gate(
    args: argparse.Namespace, model: Any, config: Any, out_dir: Path, plan: dict[str, Any] | None, quiet: bool
) -> None:
    """Write the fp32 export of ``args.format`` (and the reduced-precision variant of ``plan``), printing the
    result lines."""
    from unetkit.export import export_onnx, export_torchscript

    fmt, verify = getattr(args, "format", "onnx"), getattr(args, "verify", True)
    atol = getattr(args, "atol", 1e-4)
    result: ExportResult
    if fmt in ("onnx", "openvino"):
        # The OpenVINO IR is converted from the verified ONNX export: both take the same options.
        export_fn: Callable[..., ExportResult] = export_onnx
        if fmt == "openvino":
            from unetkit.export.openvino import export_openvino

            export_fn = export_openvino
        result = export_fn(
            model,
            config,
            out_dir,
            opset=getattr(args, "opset", 17),
            verify=verify,
            atol=atol,
            exporter=getattr(args, "exporter", "auto"),
        )
    else:
        result = export_torchscript(model, config, out_dir, verify=verify, atol=atol)
    opset = f", opset {result.extra['opset']}" if "opset" in result.extra else ""
    print(f"wrote {result.path} ({result.format}, {result.exporter} exporter{opset}, {result.seconds:.1f} s)")
    if result.max_abs_diff is None:
        print("not verified (--no-verify)")
    else:
        print(f"max abs diff vs PyTorch on {result.verify_shape}: {result.max_abs_diff:.3g} (atol {atol:g})")
    if plan is not None:
        from unetkit.export.quantize import export_reduced

        with _no_progress_bars(quiet):
            gate = export_reduced(
                out_dir,
                plan["backend"],
                getattr(args, "precision", "fp32"),
                plan["val"],
                plan["calibration"],
                tolerance=args.tolerance,
                metric=args.gate_metric,
                max_calibration_images=args.calibration_images,
                overflow_fix=args.overflow_fix,
                reduce_range=args.reduce_range,
            )
        print(gate.reason())
