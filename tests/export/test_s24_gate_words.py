"""The accuracy gate's line says that it scores one view per image: a trial read its fp32 pixel error 0.0209
beside the run's 0.0190 (8-view TTA) on the same validation images as two scores of one model."""

from __future__ import annotations

from unetkit.export.quantize import GateResult


def test_the_gate_line_says_it_scores_without_tta() -> None:
    gate = GateResult("openvino-int8", "pixel_error", 0.02092, 0.02052, -0.0004, 0.005, 10, True)
    line = gate.reason()
    assert line.startswith(
        "openvino-int8 passes: pixel_error 0.02052 vs fp32 0.02092 on 10 validation image(s)"
    )
    assert "one view each (no TTA, so a run's TTA scores differ)" in line
    assert line.endswith("drop -0.00040 (<= tolerance 0.005)")
