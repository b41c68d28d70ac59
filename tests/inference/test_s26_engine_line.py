"""Trial 24 S11: backend auto's engine line names the check a candidate failed, not "(fails checks)"."""

from __future__ import annotations

from unetkit.inference import auto_backend as auto
from unetkit.inference.bench import Measurement


def _row(name: str, ratio: float, passes: bool, why: str) -> Measurement:
    backend, precision = name.split("-")
    return Measurement(name, backend, precision, [0.1], 10.0, 1.0, ratio, 0.0, passes, why)


def test_the_engine_line_names_the_failed_check() -> None:
    chosen = _row("openvino-int8", 3.5, True, "accuracy gate passed at export (deploy.json)")
    failed = _row("openvino-bf16", 3.2, False, "miou drop +0.0120 > 0.005 here")
    line = auto._describe(chosen, [chosen, failed, _row("torch-fp32", 1.0, True, "reference")])
    assert "openvino-bf16 3.20x (fails: miou drop +0.0120 > 0.005 here)" in line
    assert "torch-fp32 1.00x," not in line and line.endswith("torch-fp32 1.00x")
