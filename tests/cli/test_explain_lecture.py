"""``unetkit explain``: the lecture examples added after trial 20 (cross-entropy, average pool, bicubic, the
multichannel / 5x5 / bias / two-channel / 6x6 examples, C applied to an example)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from unetkit.cli.explain import EXAMPLES, explain_text, register, run
from unetkit.losses import create_loss
from unetkit.ops import conv2d, conv_matrix, conv_transpose2d_matmul
from unetkit.ops.lecture_examples import (
    CONV_INPUT,
    CROSS_ENTROPY_LABELS,
    CROSS_ENTROPY_LOGITS,
    MATRIX_KERNEL,
)


def _grid_after(text: str, header: str) -> np.ndarray:
    """Parse the number grid printed under the line starting with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header)) + 1
    rows = []
    for line in lines[start:]:
        if not line.startswith("  ") or not line.strip():
            break
        rows.append([float(v) for v in line.split()])
    return np.array(rows)


def test_cross_entropy_walkthrough_equals_torch_and_unetkit_loss() -> None:
    text = explain_text("cross_entropy")
    logits = torch.tensor(np.asarray(CROSS_ENTROPY_LOGITS))[None]
    labels = torch.tensor(np.asarray(CROSS_ENTROPY_LABELS))[None]
    expected = F.cross_entropy(logits, labels, ignore_index=255).item()
    assert expected == pytest.approx(
        create_loss("ce", num_classes=3)(logits.float(), labels).item(), rel=1e-6
    )
    assert f"Loss: {expected:.6f}" in text
    assert "Loss: 0.581097" in text
    np.testing.assert_array_equal(_grid_after(text, "One-hot class 0"), [[1, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(_grid_after(text, "One-hot class 1"), [[0, 1, 0], [1, 0, 0]])
    probs = F.softmax(logits[0], dim=0).numpy()
    np.testing.assert_allclose(_grid_after(text, "Probability of class 2"), probs[2], atol=5e-5)
    assert "pixel (1, 1): label 255 = ignore_index -> left out" in text
    assert "pixel (0, 0): label 0, logits (2, 1, 0) -> p_0 = 0.6652, -log p = 0.4076" in text
    assert "Mean over the 5 labelled pixels" in text
    assert "(0.4076 + 0.4076 + 0.1698 + 0.369 + 1.5514) / 5 = 0.5811" in text
    assert text.count("-log p = ") == 5 and "nan" not in text


def test_avgpool_walkthrough_gives_the_exact_sixths() -> None:
    text = explain_text("avgpool")
    np.testing.assert_array_equal(_grid_after(text, "Window sums"), [[12, 10, 5], [11, 10, 8]])
    np.testing.assert_allclose(
        _grid_after(text, "Result"), np.array([[12, 10, 5], [11, 10, 8]]) / 6, atol=5e-5
    )
    assert "kernel 3x2 (rows x columns), stride 2" in text
    assert "sum = 3 + 2 + 0 + 3 + 3 + 1 = 12; / 6 = 12/6 = 2" in text
    assert text.count("Output (") == 6


def test_upsample_adds_bicubic_with_its_overshoot() -> None:
    text = explain_text("upsample")
    bicubic = _grid_after(text, "Bicubic (4x4)")
    ref = F.interpolate(
        torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=torch.float64), scale_factor=2, mode="bicubic"
    )
    np.testing.assert_allclose(bicubic, ref[0, 0].numpy(), atol=5e-5)
    assert bicubic[0, 0] == 0.6836 and bicubic[-1, -1] == 4.3164
    assert "Bicubic overshoots: 0.6836 < 1 at the top-left corner and 4.3164 > 4" in text
    np.testing.assert_allclose(
        _grid_after(text, "A (1-D bicubic weights)"),
        [[1.1055, -0.1055], [0.7734, 0.2266], [0.2266, 0.7734], [-0.1055, 1.1055]],
    )


def test_conv_multichannel_example_sums_the_channels_to_minus_25() -> None:
    text = explain_text("conv", example="multichannel")
    assert "channel 0 sum = 0 + 0 + 0 + 0 + 156 - 155 + 0 + 153 + 154 = 308" in text
    assert "output = 308 - 498 + 164 + bias 1 = -25" in text
    result = _grid_after(text, "Result")
    assert result[0, 0] == -25
    np.testing.assert_array_equal(result.shape, (2, 2))


def test_conv_5x5_example() -> None:
    text = explain_text("conv", example="5x5")
    np.testing.assert_array_equal(_grid_after(text, "Result"), [[4, 3, 4], [2, 4, 3], [2, 3, 4]])
    assert text.count("window * kernel") == 9
    assert "stride (1, 1), padding (0, 0), bias 0" in text


def test_conv_transpose_bias_and_two_channel_examples() -> None:
    text = explain_text("conv_transpose", example="bias")
    np.testing.assert_array_equal(_grid_after(text, "Cropped sum"), [[2, 4, 2], [3, 9, 6], [1, 5, 4]])
    np.testing.assert_array_equal(_grid_after(text, "Result"), [[3, 5, 3], [4, 10, 7], [2, 6, 5]])
    assert "Add the bias 1 to every output pixel." in text

    text = explain_text("conv_transpose", example="two_channel")
    np.testing.assert_array_equal(
        _grid_after(text, "Result"), [[1, 1, 2, 2], [1, 1, 2, 2], [5, 5, 4, 4], [5, 5, 4, 4]]
    )
    assert text.count("running sum") == 8  # 2 channels x 4 input values
    assert "Step 8: input (1, 1, 1) = 4" in text
    # After channel 0 alone (step 4) the running sum is channel 0's scatter.
    step4 = "Step 4" + text.split("Step 4")[1]
    np.testing.assert_array_equal(
        _grid_after(step4, "  running sum"), [[0, 0, 1, 1], [0, 0, 1, 1], [3, 3, 0, 0], [3, 3, 0, 0]]
    )


def test_maxpool_6x6_example() -> None:
    text = explain_text("maxpool_unpool", example="6x6")
    np.testing.assert_array_equal(_grid_after(text, "Pooled values"), [[3, 3, 3], [4, 4, 4], [4, 4, 4]])
    np.testing.assert_array_equal(_grid_after(text, "Indices"), [[0, 8, 5], [19, 14, 23], [31, 32, 35]])
    unpooled = _grid_after(text, "Max-unpooled")
    assert unpooled.shape == (6, 6) and unpooled.sum() == 33


@pytest.mark.parametrize(("stride", "padding"), [(None, None), (2, 1)])
def test_conv_matrix_applies_c_and_its_transpose(stride: int | None, padding: int | None) -> None:
    text = explain_text("conv_matrix", stride=stride, padding=padding)
    s, p = (1, 0) if stride is None else (stride, padding)
    y = _grid_after(text, "y = C @ vec(x), reshaped")
    np.testing.assert_array_equal(y, conv2d(CONV_INPUT, MATRIX_KERNEL, stride=s, padding=p))
    back = _grid_after(text, "x' = C^T @ vec(y), reshaped")
    np.testing.assert_array_equal(back, conv_transpose2d_matmul(y, MATRIX_KERNEL, (4, 4), s, p))
    C = conv_matrix(MATRIX_KERNEL, (4, 4), s, p)
    np.testing.assert_array_equal(_grid_after(text, "C @ vec(x)")[0], C @ np.asarray(CONV_INPUT).ravel())
    if stride is None:
        np.testing.assert_array_equal(y, [[49, 38], [43, 32]])


def test_example_option_via_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="unetkit")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["explain", "conv", "--example", "5x5"])
    assert run(args) == 0
    np.testing.assert_array_equal(
        _grid_after(capsys.readouterr().out, "Result"), [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    )
    assert EXAMPLES["conv"][0] == "lecture"


def test_default_examples_are_the_lecture_ones() -> None:
    for topic, names in EXAMPLES.items():
        assert explain_text(topic) == explain_text(topic, example=names[0])


def test_example_and_model_option_errors() -> None:
    with pytest.raises(ValueError, match=r"Unknown conv example 'multichanel'. Did you mean 'multichannel'"):
        explain_text("conv", example="multichanel")
    with pytest.raises(ValueError, match="--example applies only to conv, conv_transpose, maxpool_unpool"):
        explain_text("avgpool", example="lecture")
    with pytest.raises(ValueError, match="apply only to topic 'model'"):
        explain_text("conv", name="unet")
    with pytest.raises(ValueError, match="apply only to topic 'model'"):
        explain_text("cross_entropy", size=572)
    with pytest.raises(ValueError, match="apply only to conv, conv_matrix, conv_transpose"):
        explain_text("avgpool", stride=2)
