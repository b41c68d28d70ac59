"""``unetkit export MODEL --format onnx|torchscript``: verified deployment files next to a config.json."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # unetkit.export imports torch; the parser (and `unetkit predict`) must build without it
    from unetkit.export.common import ExportResult

FORMATS = ("onnx", "torchscript")


def register(subparsers: Any) -> None:
    """Add the ``export`` sub-command to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    parser = subparsers.add_parser(
        "export",
        help="export a trained model to ONNX or TorchScript, verified against PyTorch",
        description="Export MODEL (model folder, run folder or .ckpt) and check the file reproduces PyTorch.",
    )
    parser.add_argument("model", type=Path, help="model folder, run folder (uses RUN/model) or .ckpt file")
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="export format (default: onnx)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <model>/export)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17)")
    parser.add_argument("--atol", type=float, default=1e-4, help="max abs diff allowed vs PyTorch")
    parser.add_argument(
        "--exporter",
        choices=("auto", "legacy", "dynamo"),
        default="auto",
        help="ONNX exporter: auto tries the TorchScript-based one, then torch.export (dynamo)",
    )
    parser.add_argument("--no-verify", dest="verify", action="store_false", help="skip the check")
    parser.set_defaults(func=run)


def default_out_dir(model_path: Path) -> Path:
    """``MODEL/export`` for a folder, ``<folder of the .ckpt>/export`` for a checkpoint file."""
    return (model_path if model_path.is_dir() else model_path.parent) / "export"


def run(args: argparse.Namespace) -> int:
    """Load, export, verify; prints the file and the max abs diff. Errors propagate as ValueError."""
    # Imported here so ``unetkit --help`` stays fast (torch + onnx imports take seconds) and works without
    # torch (the onnxruntime-only install runs ``unetkit predict --backend onnxruntime``).
    from unetkit.export import export_onnx, export_torchscript
    from unetkit.io.model_io import load_model

    model_path = Path(args.model)
    out_dir = Path(args.out) if getattr(args, "out", None) else default_out_dir(model_path)
    verify = getattr(args, "verify", True)
    atol = getattr(args, "atol", 1e-4)
    model, config = load_model(model_path)
    result: ExportResult
    if getattr(args, "format", "onnx") == "onnx":
        result = export_onnx(
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
    print(f"wrote {result.path} ({result.format}, {result.exporter} exporter, {result.seconds:.1f} s)")
    if result.max_abs_diff is None:
        print("not verified (--no-verify)")
    else:
        print(f"max abs diff vs PyTorch on {result.verify_shape}: {result.max_abs_diff:.3g} (atol {atol:g})")
    return 0
