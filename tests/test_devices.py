"""``--device auto``: one rule (unetkit.devices.resolve_device) for plan, fit, predict and the Predictor."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import unetkit.devices as devices


def test_named_devices_pass_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "_cuda_visible", lambda: True)
    assert [devices.resolve_device(d) for d in ("cpu", "cuda", "cuda:1", "mps")] == [
        "cpu",
        "cuda",
        "cuda:1",
        "mps",
    ]


def test_an_unknown_device_or_cuda_without_a_gpu_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """device="gpu" reached torch's list of device types; "cuda" without a GPU failed deep in torch."""
    with pytest.raises(ValueError, match=r"device must be auto, cpu, cuda \(or cuda:N\) or mps, got 'gpu'"):
        devices.resolve_device("gpu")
    monkeypatch.setattr(devices, "_cuda_visible", lambda: False)
    with pytest.raises(
        ValueError, match=r"device cuda:0 was asked for but torch sees no CUDA GPU; use --device cpu"
    ):
        devices.resolve_device("cuda:0")


def test_auto_without_the_nvidia_driver_is_cpu_without_importing_torch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The onnxruntime / OpenVINO prediction paths stay torch-free on a machine with no NVIDIA GPU."""
    monkeypatch.setattr(devices.platform, "system", lambda: "Linux")
    monkeypatch.setattr(devices, "_NVIDIA_CONTROL", tmp_path / "nvidiactl")  # absent

    def no_torch(name: str, *args: object) -> None:
        raise AssertionError(f"looked for {name}")

    monkeypatch.setattr(importlib.util, "find_spec", no_torch)
    assert devices.resolve_device("auto") == "cpu"


@pytest.mark.parametrize(("available", "expected"), [(True, "cuda"), (False, "cpu")])
def test_auto_with_the_driver_asks_torch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, available: bool, expected: str
) -> None:
    import torch

    control = tmp_path / "nvidiactl"
    control.touch()
    monkeypatch.setattr(devices.platform, "system", lambda: "Linux")
    monkeypatch.setattr(devices, "_NVIDIA_CONTROL", control)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    assert devices.resolve_device("auto") == expected


def test_predict_defaults_to_auto() -> None:
    from unetkit.cli.main import build_parser

    args = build_parser().parse_args(["predict", "m", "x.png", "--out", "o"])
    assert args.device == "auto"
