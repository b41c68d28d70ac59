"""FCN and SegNet: the keywords that give the papers' networks, their exact parameter counts (hand-counted
here layer by layer, independently of the model code), the unchanged defaults and the PAPER_NOTE each
class states (trial 28, findings 3 and 4).

Counts are for 3 input channels and 21 classes (PASCAL VOC). Models are built on the meta device, so the
134M-parameter FCN costs no memory; one forward at 64x64 per paper configuration checks the shapes.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
import torch

from unetkit.models import SegNet, create_model
from unetkit.models.fcn import FCN

IN, K = 3, 21
FCN_PAPER: dict[str, Any] = {"head_channels": 4096, "head_kernel": 7, "norm": "none"}
SEGNET_PAPER: dict[str, Any] = {"decoder": "mirror"}


def conv(c_in: int, c_out: int, k: int = 3, bias: bool = True) -> int:
    """Parameters of a k x k convolution."""
    return c_in * c_out * k * k + (c_out if bias else 0)


def vgg16_convs(norm: bool) -> int:
    """VGG16's 13 convs (conv1_1 .. conv5_3); with norm: no conv bias, BatchNorm weight + bias."""
    widths = [IN, 64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    return sum(conv(a, b, bias=not norm) + (2 * b if norm else 0) for a, b in itertools.pairwise(widths))


def conv_layers(module: torch.nn.Module) -> list[torch.nn.Conv2d]:
    """The ``Conv2d`` layers of ``module`` in order."""
    return [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)]


def count(name: str, **kwargs: Any) -> int:
    with torch.device("meta"):
        model = create_model(name, in_channels=IN, num_classes=K, **kwargs)
    return sum(p.numel() for p in model.parameters())


# --- hand counts of the papers' networks -------------------------------------------------------------

# FCN (Long et al. 2015; the released voc-fcn*s nets): VGG16 convs, fc6 7x7 512->4096, fc7 1x1 4096, score_fr
# 1x1 -> 21, all with bias, no norm; score_pool4 / score_pool3 1x1 with bias; transposed convs without bias:
# x2 ones 4x4, final x32 64x64 / x16 32x32 / x8 16x16.
FCN_BODY = vgg16_convs(norm=False) + conv(512, 4096, 7) + conv(4096, 4096, 1) + conv(4096, K, 1)
UP = {factor: K * K * (2 * factor) ** 2 for factor in (2, 8, 16, 32)}
FCN_PAPER_COUNTS = {
    "fcn32s": FCN_BODY + UP[32],
    "fcn16s": FCN_BODY + conv(512, K, 1) + UP[2] + UP[16],
    "fcn8s": FCN_BODY + conv(512, K, 1) + UP[2] + conv(256, K, 1) + UP[2] + UP[8],
}


def segnet_mirror(norm: bool) -> int:
    """SegNet (Badrinarayanan et al. 2017): VGG16 encoder; each decoder stage is its encoder stage backwards
    (width changes in its LAST conv), the first decoder ends with 64 channels; a 1x1 classifier."""
    decoder = [(512, 512)] * 3 + [(512, 512), (512, 512), (512, 256)] + [(256, 256), (256, 256), (256, 128)]
    decoder += [(128, 128), (128, 64), (64, 64), (64, 64)]
    convs = sum(conv(a, b, bias=not norm) + (2 * b if norm else 0) for a, b in decoder)
    return vgg16_convs(norm) + convs + conv(64, K, 1)


def test_hand_counts_are_the_known_vgg16_numbers() -> None:
    assert vgg16_convs(norm=False) == 14_714_688  # VGG16 without its fully connected layers
    assert FCN_PAPER_COUNTS == {"fcn32s": 136_152_917, "fcn16s": 134_815_994, "fcn8s": 134_489_759}
    assert FCN_BODY == 134_346_581  # the FCN paper's "134M": FCN-VGG16 without its upsampling
    assert segnet_mirror(norm=True) == 29_473_429
    assert segnet_mirror(norm=False) == 29_465_429


# --- the paper keywords give those counts --------------------------------------------------------------


@pytest.mark.parametrize("name", ["fcn32s", "fcn16s", "fcn8s"])
def test_fcn_paper_keywords_give_the_papers_count(name: str) -> None:
    assert count(name, **FCN_PAPER) == FCN_PAPER_COUNTS[name]


def test_fcn_with_fixed_bilinear_upsampling_counts_only_the_learned_layers() -> None:
    assert count("fcn32s", **FCN_PAPER, upsample="bilinear") == FCN_BODY == 134_346_581


def test_fcn_paper_head_is_a_4096_wide_7x7_fc6_and_1x1_fc7_without_norm() -> None:
    with torch.device("meta"):
        model = create_model("fcn8s", in_channels=IN, num_classes=K, **FCN_PAPER)
    fc6, fc7 = conv_layers(model.get_submodule("head"))
    assert (fc6.in_channels, fc6.out_channels, fc6.kernel_size, fc6.bias is not None) == (
        512,
        4096,
        (7, 7),
        True,
    )
    assert (fc7.in_channels, fc7.out_channels, fc7.kernel_size) == (4096, 4096, (1, 1))
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def test_fcn8s_has_fewer_parameters_than_fcn32s_because_of_the_64x64_transposed_conv() -> None:
    fcn8s_extra = conv(512, K, 1) + conv(256, K, 1) + 2 * UP[2] + UP[8]
    assert (UP[32], fcn8s_extra) == (1_806_336, 143_178)
    for kwargs in ({}, FCN_PAPER):  # the same difference for the default and the paper's head
        assert count("fcn32s", **kwargs) - count("fcn8s", **kwargs) == UP[32] - fcn8s_extra == 1_663_158


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_segnet_mirror_decoder_gives_the_papers_count(norm: str) -> None:
    assert count("segnet", **SEGNET_PAPER, norm=norm) == segnet_mirror(norm=norm == "batch")


def test_segnet_mirror_decoder_reduces_in_the_last_conv_of_each_stage() -> None:
    with torch.device("meta"):
        model = SegNet(IN, K, decoder="mirror")
    widths = [[(c.in_channels, c.out_channels) for c in conv_layers(stage)] for stage in model.decoder]
    assert widths == [
        [(512, 512), (512, 512), (512, 512)],
        [(512, 512), (512, 512), (512, 256)],
        [(256, 256), (256, 256), (256, 128)],
        [(128, 128), (128, 64)],
        [(64, 64), (64, 64)],
    ]


def test_segnet_layouts_share_state_dict_keys() -> None:
    """The two layouts differ in widths only: the same module names, so tools reading keys see no change."""
    small = {"channels": (4, 8, 8), "convs_per_stage": (1, 2, 3)}
    first = SegNet(IN, K, **small).state_dict()  # type: ignore[arg-type]
    mirror = SegNet(IN, K, **small, decoder="mirror").state_dict()  # type: ignore[arg-type]
    assert list(first) == list(mirror)
    assert [first[k].shape for k in first] != [mirror[k].shape for k in mirror]


# --- defaults unchanged ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("fcn32s", {}, 22_318_037),
        ("fcn16s", {}, 20_981_114),
        ("fcn8s", {}, 20_654_879),
        ("fcn8s", {"head_channels": 4096, "norm": "none"}, 50_603_679),
        ("fcn8s", {"head_kernel": 3}, 20_654_879),
        ("segnet", {}, 24_937_493),
        ("segnet", {"norm": "none"}, 24_930_325),
        ("segnet", {"decoder": "reduce_first"}, 24_937_493),
    ],
)
def test_default_counts_are_unchanged(name: str, kwargs: dict[str, Any], expected: int) -> None:
    assert count(name, **kwargs) == expected


# --- shapes: one forward of each paper configuration at 64x64 ----------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs"), [("fcn8s", FCN_PAPER), ("fcn32s", FCN_PAPER), ("segnet", SEGNET_PAPER)]
)
def test_paper_configurations_keep_the_input_size(name: str, kwargs: dict[str, Any]) -> None:
    torch.manual_seed(0)
    model = create_model(name, in_channels=IN, num_classes=K, **kwargs).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, IN, 64, 64))
    assert logits.shape == (1, K, 64, 64)
    assert torch.isfinite(logits).all()


# --- PAPER_NOTE ----------------------------------------------------------------------------------------


def _numbers(text: str) -> set[int]:
    return {int(n.replace(",", "")) for n in re.findall(r"\d{1,3}(?:,\d{3})+", text)}


def test_fcn_paper_note_names_the_keywords_and_true_counts() -> None:
    note = FCN.PAPER_NOTE
    for keyword in ("head_channels=4096", "head_kernel=7", 'norm="none"', "64x64", "fewer parameters"):
        assert keyword in note
    true = {
        count("fcn8s"),
        *FCN_PAPER_COUNTS.values(),
        count("fcn32s", **FCN_PAPER, upsample="bilinear"),
        UP[32],
        conv(512, K, 1) + conv(256, K, 1) + 2 * UP[2] + UP[8],
    }
    assert _numbers(note) == true


def test_segnet_paper_note_names_the_keyword_and_true_counts() -> None:
    note = SegNet.PAPER_NOTE
    assert 'decoder="mirror"' in note and "last conv" in note and "first conv" in note
    assert _numbers(note) == {count("segnet"), count("segnet", decoder="mirror"), segnet_mirror(norm=False)}


# --- bad values ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", [2, 4])
def test_an_even_head_kernel_is_refused_naming_the_fix(kernel: int) -> None:
    with pytest.raises(
        ValueError, match=rf"head_kernel must be odd .*got {kernel}; use 7 for the paper's fc6"
    ):
        FCN(IN, K, head_kernel=kernel)


def test_an_unknown_segnet_decoder_is_refused_with_a_did_you_mean() -> None:
    with pytest.raises(ValueError, match=r"Unknown SegNet decoder 'mirrored'. Did you mean 'mirror'\?"):
        SegNet(IN, K, decoder="mirrored")
