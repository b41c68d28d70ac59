"""``unetkit explain model NAME``: per-level shapes, crops, parameters and sizes, read from the real model."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import pytest
import torch

from unetkit.cli.explain import explain_text, model_figure, model_summary, register, run
from unetkit.models import create_model, list_models
from unetkit.planning.plan import receptive_field


def test_unet_original_572_matches_the_paper() -> None:
    summary = model_summary("unet_original")
    assert summary.size == 572
    # Running order (the forward pass), not the alphabet.
    names = ["stem", *(f"downs.{i}" for i in range(4)), *(f"ups.{i}" for i in range(4)), "head"]
    assert [stage.name for stage in summary.stages] == names
    shapes = {stage.name: stage.shape for stage in summary.stages}
    assert [shapes["stem"][-1]] + [shapes[f"downs.{i}"][-1] for i in range(4)] == [568, 280, 136, 64, 28]
    assert [shapes[f"ups.{i}"][-1] for i in range(4)] == [52, 100, 196, 388]
    assert [shapes["stem"][0]] + [shapes[f"downs.{i}"][0] for i in range(4)] == [64, 128, 256, 512, 1024]
    assert summary.output_shape == (2, 388, 388)
    crops = [(st.skip[-1], st.upsampled[-1]) for st in summary.stages if st.skip and st.upsampled]
    assert crops == [(64, 56), (136, 104), (280, 200), (568, 392)]
    assert summary.parameters == 31_030_658
    assert summary.geometry.border == 92
    assert summary.receptive_field == receptive_field(4)


def test_unet_original_text() -> None:
    text = explain_text("model", name="unet_original")
    assert "Parameters: 31,030,658" in text
    assert re.search(r"downs\.3 +Down +1024x28x28", text)
    assert re.search(r"ups\.3 +UpCat +64x388x388", text)
    assert "ups.0: skip 512x64x64 cropped 64x64 -> 56x56, + upsampled 512x56x56 = 1024 channels" in text
    assert "ups.3: skip 64x568x568 cropped 568x568 -> 392x392, + upsampled 64x392x392 = 128 channels" in text
    assert "border: 92 px lost per side (output = input - 2 x 92: 572 -> 388)" in text
    assert (
        "valid input sides: 188 and up in steps of 16 (near 572: 524, 540, 556, 572, 588, 604, 620)" in text
    )
    assert f"receptive_field): {receptive_field(4)} px" in text
    assert re.search(r"output +2x388x388", text)


def test_other_size_and_invalid_size() -> None:
    summary = model_summary("unet_original", 188)
    assert summary.output_shape[-1] == 4
    assert summary.stages[4].shape[-1] == 4  # downs.3: 188 -> 184, 92 -> 88, 44 -> 40, 20 -> 16, 8 -> 4
    with pytest.raises(ValueError, match="Nearest valid sizes: 508 or 524"):
        explain_text("model", name="unet_original", size=512)


def test_padded_unet_pads_to_a_multiple_and_needs_no_crop() -> None:
    text = explain_text("model", name="unet", size=100)
    assert "pads its input to a multiple of 16 (100 -> 112)" in text
    assert re.search(r"stem +DoubleConv +64x112x112", text)
    assert re.search(r"output +2x100x100", text)
    assert "ups.3: skip 64x112x112 no crop needed" in text
    assert "border 0: any input side works" in text


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model(name: str) -> None:
    """Shapes and counts come from the real model: the same output shape and parameter count as a real
    forward on the CPU (a small input where the model allows one)."""
    summary = model_summary(name)
    model = create_model(name, in_channels=1, num_classes=2).eval()
    assert summary.parameters == sum(p.numel() for p in model.parameters())
    size = summary.size if summary.geometry.fixed_input_size else (188 if name == "unet_original" else 64)
    small = model_summary(name, size)
    with torch.no_grad():
        out = model(torch.zeros(1, 1, size, size))
    assert small.output_shape == tuple(out.shape[1:])
    assert small.stages, name
    text = explain_text("model", name=name)
    assert f"Parameters: {summary.parameters:,}" in text


def test_fcn8s_stages_include_the_encoder_and_fusions() -> None:
    summary = model_summary("fcn8s", 64)
    shapes = {stage.name: stage.shape for stage in summary.stages}
    assert [shapes[f"encoder.stages.{i}"][-1] for i in range(5)] == [32, 16, 8, 4, 2]
    assert shapes["fusions.0"] == (2, 4, 4) and shapes["fusions.1"] == (2, 8, 8)
    assert shapes["final_up"] == (2, 64, 64)


def test_model_errors() -> None:
    with pytest.raises(ValueError, match=r"explain model needs a model name.*unet_original"):
        explain_text("model")
    with pytest.raises(ValueError, match=r"Unknown model 'unet_orignal'. Did you mean 'unet_original'"):
        explain_text("model", name="unet_orignal")
    with pytest.raises(
        ValueError, match="fcn_reshape accepts only 64x64 inputs, got --size 100; use --size 64"
    ):
        explain_text("model", name="fcn_reshape", size=100)
    with pytest.raises(ValueError, match="--size must be >= 1"):
        explain_text("model", name="unet", size=0)


def test_model_via_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="unetkit")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["explain", "model", "unet_original", "--size", "188"])
    assert run(args) == 0
    out = capsys.readouterr().out
    assert "on a 188x188 input" in out
    assert "188 -> 4" in out


def test_model_figure_draws_every_stage_and_crop() -> None:
    summary = model_summary("unet_original")
    fig = model_figure(summary)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "stem\n64x568x568" in texts and "downs.3\n1024x28x28" in texts and "ups.3\n64x388x388" in texts
    assert sorted(t for t in texts if t.startswith("crop")) == sorted(
        ["crop 64->56", "crop 136->104", "crop 280->200", "crop 568->392"]
    )
    assert "572x572 -> 388x388, 31,030,658 parameters" in fig.axes[0].get_title()
    # One box per stage, drawn lower per halving: the bottom of the U is the 28x28 map, 4 levels down.
    assert min(line.get_ydata().min() for line in fig.axes[0].lines) == pytest.approx(-math.log2(572 / 28))


def test_out_writes_the_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="unetkit")
    register(parser.add_subparsers(dest="command"))
    png = tmp_path / "unet.png"
    assert (
        run(parser.parse_args(["explain", "model", "unet_original", "--size", "188", "--out", str(png)])) == 0
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {png}" in capsys.readouterr().out
    with pytest.raises(ValueError, match="--out draws a model's figure: it applies only to topic 'model'"):
        run(parser.parse_args(["explain", "conv", "--out", str(png)]))
    with pytest.raises(ValueError, match=r"must name a \.png file, e.g. --out .*unet\.png"):
        run(parser.parse_args(["explain", "model", "unet", "--out", str(tmp_path / "unet.jpg")]))
    assert capsys.readouterr().out == ""  # refused before anything was printed
