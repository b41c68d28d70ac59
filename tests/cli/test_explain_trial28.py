"""``unetkit explain`` after a lecturer's trial (trial28): model keywords on the command line, the keywords in
force, the FCN/SegNet links and the padding in the figure, why 204 px, where an unpadded size breaks, ties,
ln, output_padding and a deprecated model name."""

from __future__ import annotations

import argparse
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from unetkit.cli.explain import (
    _textbook_receptive_field,
    explain_text,
    model_figure,
    model_summary,
    parse_model_keywords,
    register,
    run,
)
from unetkit.cli.main import main
from unetkit.models import UNet, UNetOriginal, create_model
from unetkit.models.base import forward_any_size
from unetkit.ops import lecture_examples as ex
from unetkit.planning.plan import receptive_field


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unetkit")
    register(parser.add_subparsers(dest="command"))
    return parser


def _count(name: str, **kwargs: object) -> int:
    with torch.device("meta"):
        model = create_model(name, in_channels=1, num_classes=2, **kwargs)
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------- 1. model keywords (finding 2)


def test_model_keywords_build_the_lectures_counts(capsys: pytest.CaptureFixture[str]) -> None:
    # The README's counts: the paper's U-Net (no norm, conv bias) and the AI VIET NAM lecture's (k4 s2 p1).
    assert run(_parser().parse_args(["explain", "model", "unet", "norm=none", "--size", "64"])) == 0
    text = capsys.readouterr().out
    assert "Model unet (norm=none, in_channels=1, num_classes=2) on a 64x64 input" in text
    assert "Parameters: 31,030,658" in text
    # After an option, as typed: main hands the KEY=VALUE items argparse left over to the command; fit's
    # model.kwargs. prefix is taken too.
    assert main(["explain", "model", "unet", "--size", "64", "model.kwargs.upsample=transpose4"]) == 0
    assert "Parameters: 39,392,386" in capsys.readouterr().out
    # Values are YAML scalars, as fit reads them: false is a bool, 3 an int.
    assert parse_model_keywords(["skip=false", "depth=3", "norm=none", "dropout=0.5"]) == {
        "skip": False,
        "depth": 3,
        "norm": "none",
        "dropout": 0.5,
    }
    summary = model_summary("unet", 64, model_kwargs={"depth": 3, "base_channels": 8, "skip": False})
    assert summary.parameters == _count("unet", depth=3, base_channels=8, skip=False)
    assert summary.depth == 3 and [st.kind for st in summary.stages].count("Up") == 3


def test_unknown_or_misplaced_keywords_are_refused() -> None:
    with pytest.raises(TypeError, match=r"'nrom'.*Did you mean 'norm'\?.*Available: base_channels, channels"):
        explain_text("model", name="unet", model_kwargs={"nrom": "none"})
    # encoder_decoder takes UNet's keywords through **kwargs, but not skip: checked against that list.
    with pytest.raises(TypeError, match=r"'skip'.*Available: base_channels, .*upsample\."):
        explain_text("model", name="encoder_decoder", model_kwargs={"skip": False})
    with pytest.raises(TypeError, match=r"'base_channel'.*Did you mean 'base_channels'"):
        explain_text("model", name="encoder_decoder", model_kwargs={"base_channel": 8})
    with pytest.raises(ValueError, match=r"in_channels=3: give it as --in-channels 3"):
        explain_text("model", name="unet", model_kwargs={"in_channels": 3})
    with pytest.raises(ValueError, match=r"norm=none: KEY=VALUE model keywords apply only to topic 'model'"):
        explain_text("conv", model_kwargs={"norm": "none"})
    with pytest.raises(ValueError, match=r"'norm' is given twice"):
        parse_model_keywords(["norm=none", "model.kwargs.norm=batch"])
    with pytest.raises(ValueError, match=r"must look like KEY=VALUE"):
        parse_model_keywords(["trainer.max_epochs=3"])


def test_keywords_are_refused_for_a_saved_model(tmp_path: Path) -> None:
    from unetkit.model_files.model_config import ModelConfig

    config = ModelConfig(
        architecture="unet",
        model_kwargs={"in_channels": 1, "num_classes": 2, "base_channels": 8, "depth": 2},
        class_names=["a", "b"],
        mean=[0.5],
        std=[0.25],
    )
    config.save(tmp_path / "config.json")
    with pytest.raises(
        ValueError, match=r"norm=none: model keywords build a registered model.*explain model unet"
    ):
        explain_text("model", name=str(tmp_path), model_kwargs={"norm": "none"})


# --------------------------------------------------------------------- 2. the keywords in force (finding 18)


def test_the_header_says_every_keyword_in_force() -> None:
    text = explain_text("model", name="unet", size=32)
    assert (
        "Keywords in force (defaults included; * = given): depth=4, base_channels=64, norm=batch, "
        "conv_bias=false, upsample=transpose, skip=true, dropout=0.0"
    ) in text
    text = explain_text("model", name="unet", size=32, model_kwargs={"norm": "none", "depth": 2})
    assert "depth=2*, base_channels=64, norm=none*, conv_bias=true, upsample=transpose," in text
    # encoder_decoder: its own upsampling default, and no skip keyword.
    text = explain_text("model", name="encoder_decoder", size=32)
    assert "norm=batch, conv_bias=false, upsample=bilinear, dropout=0.0" in text and "skip=" not in text
    text = explain_text("model", name="fcn8s", size=32)
    assert (
        "encoder_channels=[64, 128, 256, 512, 512], convs_per_stage=[2, 2, 3, 3, 3], head_channels=1024"
        in text
    )


def test_a_paper_note_is_printed_when_the_class_has_one(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "Note: " not in explain_text("model", name="unet", size=32) or getattr(UNet, "PAPER_NOTE", "")
    monkeypatch.setattr(UNet, "PAPER_NOTE", "Counts differ from the paper here.", raising=False)
    text = explain_text("model", name="unet", size=32)
    assert "Parameters: 31,036,546\nNote: Counts differ from the paper here." in text


# ---------------------------------------------------------------------------------- 3. the figure (5, 6, 22)


def test_fcn_fusions_and_segnet_indices_are_drawn_as_arcs() -> None:
    fcn = model_summary("fcn8s", 64)
    links = {st.name: (st.link, st.source) for st in fcn.stages if st.link}
    assert links == {"fusions.0": ("add", "encoder.stages.3"), "fusions.1": ("add", "encoder.stages.2")}
    ax = model_figure(fcn).axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert "pool4 scores, added" in texts and "pool3 scores, added" in texts
    assert len(ax.patches) == 2  # one arc per fusion
    assert "conv4 + pool4" in texts and "encoder.stages.3\n512x4x4" in texts  # lecture term + code name
    text = explain_text("model", name="fcn8s", size=64)
    assert (
        "fusions.0: pool4 512x4x4 (from encoder.stages.3) -> scores 2x4x4, + upsampled scores 2x4x4" in text
    )

    segnet = model_summary("segnet", 32)
    links = {st.name: st.source for st in segnet.stages if st.link == "indices"}
    assert links == {f"decoder.{i}": f"encoder.{4 - i}" for i in range(5)}
    ax = model_figure(segnet).axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert sorted(t for t in texts if t.endswith(" indices")) == [f"pool{i} indices" for i in range(1, 6)]
    assert len(ax.patches) == 5
    assert "decoder.0: indices 512x1x1 of encoder.4 -> unpooled 512x2x2" in explain_text(
        "model", name="segnet", size=32
    )


def test_encoder_decoder_stages_are_not_upcat() -> None:
    text = explain_text("model", name="encoder_decoder", size=32)
    assert re.search(r"ups\.0 +Up +512x4x4 +bilinear x2 \+ conv 1x1 \+ 2x conv 3x3 \(no skip\)", text)
    assert "UpCat" not in text and "Skip connections" not in text
    # The U-Net keeps its UpCat, with the paper's legend.
    text = explain_text("model", name="unet", size=32)
    assert re.search(r"ups\.0 +UpCat +512x4x4 +up-conv 2x2 \+ copy \+ 2x conv 3x3", text)


def test_the_padded_unet_figure_shows_the_pad_and_crop() -> None:
    summary = model_summary("unet", 573, model_kwargs={"base_channels": 8})
    ax = model_figure(summary).axes[0]
    assert "input reflect-padded 573x573 -> 576x576 (a multiple of 16), logits cropped back to 573x573" in (
        ax.get_title()
    )
    texts = [t.get_text() for t in ax.texts]
    assert "input\n1x573x573" in texts and "reflect-pad\nto 576x576" in texts
    assert "output\n2x573x573" in texts and "logits cropped\nto 573x573" in texts
    assert "unet (base_channels=8): 573x573 -> 573x573" in ax.get_title()
    # A size the net does not pad draws neither box.
    texts = [t.get_text() for t in model_figure(model_summary("unet", 64)).axes[0].texts]
    assert not any(t.startswith(("input\n", "output\n")) for t in texts)


def test_the_outermost_arc_stays_clear_of_the_title() -> None:
    fig = model_figure(model_summary("unet_original", 188))
    ax = fig.axes[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    title = ax.title.get_window_extent(renderer)
    frame = ax.get_window_extent(renderer)
    assert frame.y1 < title.y0
    # Every pixel in the arcs' colour (arcs, arrow heads, crop labels) lies inside the frame, below the title.
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)  # type: ignore[attr-defined]
    rows = np.nonzero((np.abs(pixels - (192, 80, 77)).sum(axis=-1) < 40).any(axis=1))[0]
    assert rows.size and pixels.shape[0] - rows.min() < frame.y1 - 2
    for label in (t for t in ax.texts if t.get_text().startswith("crop")):
        assert label.get_window_extent(renderer).y1 < frame.y1


# --------------------------------------------------------------------------------------- 4. sizes (7, 9, 20)


def test_the_receptive_field_line_says_why_204_not_200() -> None:
    text = explain_text("model", name="unet_original", size=188)
    assert (
        f"receptive_field): {receptive_field(4)} px, the widest input span of one output pixel over the "
        "16 positions it can take on the pooling grid; the textbook recurrence r += (k - 1) * jump (2x2 "
        "up-convs adding nothing) gives 200 px"
    ) in text
    assert [_textbook_receptive_field(d) for d in (3, 4, 5)] == [13 * 2**d - 8 for d in (3, 4, 5)]
    assert "upsample=bilinear reads 2 coarse pixels" in explain_text("model", name="encoder_decoder", size=32)


def test_an_unpadded_size_error_shows_where_the_chain_breaks() -> None:
    with pytest.raises(ValueError) as info:
        explain_text("model", name="unet_original", size=570)
    message = str(info.value)
    assert (
        "570 -> 566 (2 convs) -> 283 (pool) -> 279 (2 convs): 279 is odd before the 2nd 2x2 pooling (level 1)"
    ) in message
    assert "Nearest valid sizes: 556 or 572." in message
    assert "do not refuse a 570 px image: they mirror-pad it to 764" in message
    assert "crop the 580 px output back to 570" in message
    with pytest.raises(ValueError, match=r"-> 5 \(pool\) -> 1 \(2 convs, bottom\) -> 2 \(up-conv\) -> -2 "):
        explain_text("model", name="unet_original", size=140)
    # What the message says fit and predict do: the mirror-padded pass gives an output of the image's size.
    model = UNetOriginal(1, 2, depth=2, base_channels=2).eval()
    with torch.no_grad():
        assert forward_any_size(model, torch.rand(1, 1, 45, 45)).shape[-2:] == (45, 45)


def test_the_padded_unet_says_the_padding_is_a_reflection() -> None:
    text = explain_text("model", name="unet", size=573, model_kwargs={"base_channels": 8})
    assert (
        "The net reflect-pads its input to a multiple of 16 (573 -> 576) at the bottom and right (mirroring"
        in text
    )


# --------------------------------------------------------------------------- 5. small words (10, 11, 21, 24)


def test_max_pooling_ties_name_the_rule() -> None:
    text = explain_text("maxpool_unpool", example="6x6")
    x = np.asarray(ex.POOL_INPUT)
    tied = sum(
        int((w == w.max()).sum() > 1)
        for w in (x[r : r + 2, c : c + 2] for r in range(0, 6, 2) for c in range(0, 6, 2))
    )
    assert tied >= 1 and text.count("the first in row-major order wins, PyTorch's rule") == tied
    assert "Window (0, 0) [[3, 2], [0, 3]]: max 3 at input (0, 0) -> flat index 0*6 + 0 = 0 (a tie: 2" in text


def test_cross_entropy_says_ln_once() -> None:
    text = explain_text("cross_entropy")
    assert text.count("natural logarithm ln") == 1


def test_conv_matrix_names_output_padding() -> None:
    text = explain_text("conv_matrix", stride=2, padding=1)
    assert "output_padding=1: without output_padding it gives (M-1)S - 2P + K = 3x3" in text
    assert "to give 4x4" in text and "sized back" not in text
    # C^T y is what PyTorch's transposed convolution gives with that output_padding.
    k = torch.tensor(ex.MATRIX_KERNEL, dtype=torch.float64)[None, None]
    x = torch.tensor(ex.CONV_INPUT, dtype=torch.float64)[None, None]
    y = F.conv2d(x, k, stride=2, padding=1)
    back = F.conv_transpose2d(y, k, stride=2, padding=1, output_padding=1)
    assert back.shape[-2:] == (4, 4)
    assert "output_padding" not in explain_text("conv_matrix")  # stride 1: C^T is the plain transposed conv


def test_a_deprecated_model_name_is_said() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # said in the text, not warned
        text = explain_text("model", name="pixel_cnn", size=8)
    assert "Model pixel_classifier (" in text
    assert "(pixel_cnn is the deprecated name of pixel_classifier: the same model" in text
    assert "deprecated" not in explain_text("model", name="pixel_classifier", size=8)
