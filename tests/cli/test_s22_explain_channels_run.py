"""``unetkit explain model``: the channels and classes of the user's model (``--in-channels``/``--classes``),
a height x width input (``--size HxW``) and a trained run folder's own model (its ``model/config.json``).
It had built every model with in_channels=1 and num_classes=2 on a square input only."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from unetkit.cli.explain import explain_text, model_summary, register, run
from unetkit.model_files.model_config import ModelConfig
from unetkit.models import create_model


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unetkit")
    register(parser.add_subparsers(dest="command"))
    return parser


def _count(name: str, **kwargs: object) -> int:
    return sum(p.numel() for p in create_model(name, **kwargs).parameters())


def _run_folder(root: Path, **kwargs: object) -> Path:
    """A run folder as fit leaves it, as far as explain reads it: RUN/model/config.json."""
    config = ModelConfig(
        architecture="unet",
        model_kwargs={"in_channels": 3, "num_classes": 4, "base_channels": 8, "depth": 3, **kwargs},
        class_names=["a", "b", "c", "d"],
        mean=[0.5, 0.5, 0.5],
        std=[0.25, 0.25, 0.25],
        input_size=[64, 64],
    )
    (root / "model").mkdir(parents=True)
    config.save(root / "model" / "config.json")
    return root


def test_in_channels_and_classes_build_the_users_model(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["explain", "model", "unet", "--in-channels", "3", "--classes", "5"])
    assert run(args) == 0
    text = capsys.readouterr().out
    assert "Model unet (default arguments, in_channels=3, num_classes=5) on a 572x572 input" in text
    assert re.search(r"input +3x572x572", text) and re.search(r"output +5x572x572", text)
    assert f"Parameters: {_count('unet', in_channels=3, num_classes=5):,}" in text
    summary = model_summary("segnet", 64, in_channels=3, num_classes=5)
    assert summary.output_shape == (5, 64, 64)
    assert summary.parameters == _count("segnet", in_channels=3, num_classes=5)


def test_size_height_by_width(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = explain_text("model", name="unet", size=(96, 120))
    assert re.search(r"input +1x96x120", text) and re.search(r"output +2x96x120", text)
    assert "pads its input to a multiple of 16 (96x120 -> 96x128)" in text
    text = explain_text("model", name="unet_original", size=(188, 204))
    assert "border: 92 px lost per side (output = input - 2 x 92: 188x204 -> 4x20)" in text
    assert re.search(r"output +2x4x20", text)
    out = tmp_path / "u.png"
    assert run(_parser().parse_args(["explain", "model", "unet", "--size", "96x128", "--out", str(out)])) == 0
    assert out.stat().st_size > 0 and "on a 96x128 input" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        _parser().parse_args(["explain", "model", "unet", "--size", "96x"])
    assert "takes S or HxW in pixels, e.g. 256 or 192x256; got '96x'" in capsys.readouterr().err


def test_a_run_folder_shows_its_own_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _run_folder(tmp_path / "runs" / "r1")
    assert run(_parser().parse_args(["explain", "model", str(root), "--out", str(tmp_path / "r.png")])) == 0
    text = capsys.readouterr().out
    source = root / "model" / "config.json"
    assert (
        f"Model unet (from {source}: in_channels=3, num_classes=4, base_channels=8, depth=3) on a 64x64 "
        "input (the training crop)"
    ) in text
    assert re.search(r"input +3x64x64", text) and re.search(r"output +4x64x64", text)
    params = _count("unet", in_channels=3, num_classes=4, base_channels=8, depth=3)
    assert f"Parameters: {params:,}" in text
    assert (tmp_path / "r.png").is_file()
    # The model folder and its config.json name the same model; --size and equal channels are taken.
    for where in (root / "model", source):
        assert model_summary(str(where)).parameters == params
    assert model_summary(str(root), 32, in_channels=3, num_classes=4).output_shape == (4, 32, 32)


def test_option_errors_name_the_fix(tmp_path: Path) -> None:
    root = _run_folder(tmp_path / "run")
    with pytest.raises(ValueError, match=r"--classes 5: .*config\.json says num_classes=4; drop --classes"):
        explain_text("model", name=str(root), num_classes=5)
    with pytest.raises(ValueError, match=r"--in-channels must be >= 1, got 0"):
        explain_text("model", name="unet", in_channels=0)
    with pytest.raises(ValueError, match=r"--size width must be >= 1, got 0"):
        explain_text("model", name="unet", size=(8, 0))
    with pytest.raises(FileNotFoundError, match=r"no config\.json found; pass a run folder"):
        explain_text("model", name=str(tmp_path))
    with pytest.raises(ValueError, match=r"Unknown model 'unett'.*Or pass a run folder"):
        explain_text("model", name="unett")
    with pytest.raises(ValueError, match=r"--in-channels and --classes apply only to topic 'model'"):
        explain_text("conv", in_channels=3)
