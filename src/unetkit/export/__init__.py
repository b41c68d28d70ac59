"""Deployment exports: ONNX (onnxruntime-verified, dynamic axes) and TorchScript."""

from unetkit.export.common import ExportResult, pick_sizes
from unetkit.export.onnx import export_onnx
from unetkit.export.torchscript import TORCHSCRIPT_NAME, export_torchscript

__all__ = ["TORCHSCRIPT_NAME", "ExportResult", "export_onnx", "export_torchscript", "pick_sizes"]
