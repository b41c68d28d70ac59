"""``unetkit explain``: the printed walkthroughs end in the lecture's results."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from unetkit.cli.explain import TOPICS, explain_text, register, run


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


def test_conv_walkthrough_shows_each_window_sum_and_result() -> None:
    text = explain_text("conv")
    np.testing.assert_array_equal(_grid_after(text, "Result"), [[7, 8], [15, 13]])
    assert "sum = 0 + 0 + 0 + 0 + 0 + 3 + 0 + 3 + 0 = 6; + bias 1 = 7" in text
    assert text.count("window * kernel") == 4
    np.testing.assert_array_equal(_grid_after(text, "Zero-padded input")[0], np.zeros(6))


@pytest.mark.parametrize(
    ("stride", "padding", "expected"),
    [
        (None, None, [[2, 4, 2], [3, 9, 6], [1, 5, 4]]),
        (1, 1, [[9]]),
        (1, (1, 0), [[3, 9, 6]]),
        (2, 0, [[2, 2, 2, 2], [2, 2, 2, 2], [1, 1, 4, 4], [1, 1, 4, 4]]),
        (2, 1, [[2, 2], [1, 4]]),
    ],
)
def test_conv_transpose_walkthrough(
    stride: int | None, padding: int | tuple[int, int] | None, expected: list[list[int]]
) -> None:
    text = explain_text("conv_transpose", stride=stride, padding=padding)
    np.testing.assert_array_equal(_grid_after(text, "Result"), expected)
    assert text.count("running sum") == 4  # one step per input value


def test_conv_transpose_running_sums_for_stride_1() -> None:
    text = explain_text("conv_transpose")
    sums = text.split("Step ")[1:]
    np.testing.assert_array_equal(
        _grid_after("Step " + sums[0], "  running sum"), [[2, 2, 0], [2, 2, 0], [0, 0, 0]]
    )
    np.testing.assert_array_equal(
        _grid_after("Step " + sums[3], "  running sum"), [[2, 4, 2], [3, 9, 6], [1, 5, 4]]
    )


def test_conv_matrix_prints_c_and_its_transpose() -> None:
    text = explain_text("conv_matrix")
    C = _grid_after(text, "C (4x16)")
    np.testing.assert_array_equal(C[0], [1, 4, 1, 0, 1, 4, 3, 0, 3, 3, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(_grid_after(text, "C^T (16x4)"), C.T)


def test_maxpool_unpool_walkthrough() -> None:
    text = explain_text("maxpool_unpool")
    np.testing.assert_array_equal(_grid_after(text, "Pooled values"), [[5, 6], [7, 8]])
    np.testing.assert_array_equal(_grid_after(text, "Indices"), [[5, 2], [12, 15]])
    np.testing.assert_array_equal(
        _grid_after(text, "Max-unpooled"), [[0, 0, 2, 0], [0, 1, 0, 0], [0, 0, 0, 0], [3, 0, 0, 4]]
    )
    np.testing.assert_array_equal(
        _grid_after(text, "Bed of nails (4x4)"), [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]
    )


def test_upsample_walkthrough() -> None:
    text = explain_text("upsample")
    np.testing.assert_array_equal(
        _grid_after(text, "Nearest ("), [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    )
    np.testing.assert_array_equal(
        _grid_after(text, "Bilinear (4x4)"),
        [[1, 1.25, 1.75, 2], [1.5, 1.75, 2.25, 2.5], [2.5, 2.75, 3.25, 3.5], [3, 3.25, 3.75, 4]],
    )
    aligned = _grid_after(text, "Bilinear, align_corners")
    np.testing.assert_allclose(aligned[1], [5 / 3, 2, 7 / 3, 8 / 3], atol=1e-4)


def test_run_via_registered_parser_prints_result(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="unetkit")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["explain", "conv_transpose", "--stride", "2", "--padding", "1"])
    assert args.func is run
    assert run(args) == 0
    out = capsys.readouterr().out
    np.testing.assert_array_equal(_grid_after(out, "Result"), [[2, 2], [1, 4]])


def test_run_with_namespace_and_pair_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(argparse.Namespace(topic="CONV_TRANSPOSE", stride=[1], padding=[1, 0])) == 0
    np.testing.assert_array_equal(_grid_after(capsys.readouterr().out, "Result"), [[3, 9, 6]])


def test_topics_are_the_documented_ones() -> None:
    assert set(TOPICS) == {
        "conv",
        "conv_transpose",
        "conv_matrix",
        "maxpool_unpool",
        "upsample",
        "avgpool",
        "cross_entropy",
        "model",
    }


def test_errors() -> None:
    with pytest.raises(
        ValueError, match=r"Did you mean 'conv'.*Available: avgpool, conv, conv_matrix, conv_transpose"
    ):
        explain_text("convv")
    with pytest.raises(ValueError, match="apply only to conv, conv_matrix, conv_transpose"):
        explain_text("upsample", stride=2)
    with pytest.raises(ValueError, match=r"output size would be -1 .*reduce padding"):
        explain_text("conv_transpose", padding=2)
    with pytest.raises(ValueError, match="--stride takes one value or two"):
        run(argparse.Namespace(topic="conv", stride=[1, 2, 3], padding=None))


def test_output_to_a_reader_that_stopped_ends_quietly() -> None:
    """`unetkit explain ... | head` printed "error: [Errno 32] Broken pipe" and exited 2: a reader that stops
    early is no error of the user's. A pipe whose read end is closed makes every write fail, as after head."""
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "unetkit.cli.main", "explain", "conv_transpose", "--stride", "2"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert done.stderr == b""
