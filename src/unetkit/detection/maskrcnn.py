"""Mask R-CNN (He et al. 2017) from torchvision, sized for nuclei and for training from scratch on a CPU.

:func:`build_maskrcnn` returns a ``torchvision.models.detection.MaskRCNN`` with these choices:

* **Backbone: MobileNetV3-Large + FPN** over its stride 4, 8, 16 and 32 stages (P2-P5, plus P6 by max
  pooling), all stages trainable. Two candidates were measured with the same FPN, GroupNorm and heads
  (1 thread of a 2-core AMD EPYC shared with other jobs, so absolute times are inflated):

  ==================  ==========  ===================================  ==========================
  backbone            parameters  training step (2 crops of 256x256,   DSB2018 val after 5 minutes
                                  40 nuclei each; median of 11)        of fit_maskrcnn (66 images)
  ==================  ==========  ===================================  ==========================
  ResNet-18           12.5 M      1.86 s                               117 steps: AP50 0.338, mAP 0.144
  MobileNetV3-Large   4.3 M       1.31 s                               194 steps: AP50 0.371, mAP 0.169
  ==================  ==========  ===================================  ==========================

  MobileNetV3-Large is the default: 1.4x the steps in a time budget, higher AP at equal time, a third of
  the parameters, and less time to score val (41 s against 58 s for the 66 images). The FPN, the RPN and
  the RoI heads cost about as much as either body at this size, which is why the gap is not larger.
  ResNet-18 (``backbone="resnet18"``; its stride-4 stage is wider: 64 channels against 24) and ResNet-34
  stay available, e.g. for longer budgets (the 5-minute comparison does not tell which wins at 30).
* **Normalisation: GroupNorm** (32 groups, or fewer where the width needs) in the backbone, the FPN and the
  mask head (``norm="group"``). From scratch, BatchNorm with a few crops per step has noisy statistics and a
  train/test gap, and torchvision's default FrozenBatchNorm is an identity at random init, i.e. no
  normalisation at all; He et al., "Rethinking ImageNet Pre-training" (2019), trained Mask R-CNN from
  scratch with GroupNorm. ``norm="frozen_bn"`` is the choice for a local ImageNet backbone file (its
  BatchNorm statistics load into FrozenBatchNorm), ``norm="batch"`` for large batches.
* **Anchors for nuclei**: one size per FPN level, 8/16/32/64/128 px (COCO: 32-512), aspect ratios
  0.5/1/2. DSB2018 nuclei span about 5-80 px with a median extent of about 23 px, so most of them fall on
  P2-P3 (strides 4 and 8), where small objects keep enough resolution.
* **Fixed image scale instead of ``min_size``/``max_size``**: torchvision resizes every image so that its
  short side is ``min_size``; nuclei have a physical size in pixels, and the images range from 256x256 to
  1388x1040, so that would shrink the nuclei of a large image below the anchors. Here every image is
  resized by the same factor ``image_scale`` (default 1.0: native pixels) in training and prediction.
* **Crowded images**: up to 500 detections per image (DSB2018 has up to 375 nuclei), 2000 RPN proposals
  kept at test time.
* **Lighter heads** than torchvision's defaults, sized for a CPU: 64 FPN channels (not 256), a 2-layer
  MLP box head of width 256 (not 1024: that alone is 12.8 M parameters at 256 channels), a mask head of 4
  GroupNorm convolutions of 64 channels (not 256) that still predicts 28x28 masks, RoIAlign with one
  sample per bin (nuclei boxes span a few feature cells, so a bin is smaller than a cell) and 128 RoIs per
  image for the box head. Each halved a training step on DSB2018-like crops: with torchvision's heads
  the mask head and RoIAlign's backward took half of the step; on a crowded 1388x1040 image the 4x256
  mask head alone would cost several seconds.

Images go in as float RGB in [0, 1], (3, H, W); the model normalises with ``image_mean``/``image_std``
(torchvision's ImageNet values by default; :func:`unetkit.training.detection.fit_maskrcnn` passes the
training images' own statistics).

``weights_path`` loads a local file (``.safetensors``, or ``.pth``/``.pt``/``.ckpt`` read with
``torch.load(weights_only=True)``): either a whole Mask R-CNN of this configuration, or the ImageNet weights
of the backbone alone (a torchvision classification state dict such as ``mobilenet_v3_large-8738ca79.pth`` or
``resnet18-f37072fd.pth``; its
classifier is ignored). Missing, unexpected or mis-shaped keys are a ValueError that names them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models import mobilenet, resnet
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.transform import GeneralizedRCNNTransform, resize_boxes
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.misc import FrozenBatchNorm2d

from unetkit.model_files.model_io import describe_mismatch, state_dict_mismatch
from unetkit.options import look_up_option

__all__ = [
    "ARCHITECTURE",
    "BACKBONES",
    "DEFAULT_ANCHOR_SIZES",
    "NORMS",
    "FixedScaleTransform",
    "build_maskrcnn",
    "load_maskrcnn_weights",
]

logger = logging.getLogger(__name__)

ARCHITECTURE = "maskrcnn"  # config.json "architecture" of a Mask R-CNN model folder
BACKBONES = ("resnet18", "resnet34", "mobilenet_v3_large")
NORMS = ("group", "frozen_bn", "batch")
DEFAULT_ANCHOR_SIZES = (8, 16, 32, 64, 128)  # one per FPN level P2..P6
ASPECT_RATIOS = (0.5, 1.0, 2.0)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ROI_SAMPLING_RATIO = 1
BOX_BATCH_SIZE_PER_IMAGE = 128


def _group_norm(channels: int) -> nn.Module:
    # 32 groups (Wu & He) where the width allows; MobileNetV3's widths (16, 24, 40, 72, 184, ...) get the
    # largest divisor of 32 that divides them.
    return nn.GroupNorm(math.gcd(32, channels), channels)


def norm_factory(norm: str) -> Callable[[int], nn.Module]:
    """The normalisation ``norm`` ("group", "frozen_bn", "batch") as a ``channels -> module`` factory."""
    norm = look_up_option(norm, NORMS, "norm")
    if norm == "group":
        return _group_norm
    if norm == "frozen_bn":
        return FrozenBatchNorm2d
    return nn.BatchNorm2d


def _freeze(body: nn.Module, stages: Sequence[str], trainable_layers: int) -> None:
    """Freeze all but the last ``trainable_layers`` of ``stages`` (``body``'s children, input first)."""
    if not 0 <= trainable_layers <= len(stages):
        raise ValueError(f"trainable_layers must be in 0..{len(stages)}, got {trainable_layers}")
    trainable = tuple(stages[len(stages) - trainable_layers :])
    for name, parameter in body.named_parameters():
        if not name.startswith(trainable):
            parameter.requires_grad_(False)


def build_backbone(
    backbone: str = "mobilenet_v3_large",
    norm: str = "group",
    trainable_layers: int = 5,
    fpn_channels: int = 64,
) -> BackboneWithFPN:
    """Backbone + FPN over its stride 4, 8, 16 and 32 stages (+ P6 by max pooling); random weights."""
    backbone = look_up_option(backbone, BACKBONES, "backbone")
    norm_layer = norm_factory(norm)
    fpn_norm = _group_norm if norm == "group" else None
    if backbone.startswith("resnet"):
        net = resnet.__dict__[backbone](weights=None, norm_layer=norm_layer)
        # Stage names from the input on: conv1 (+ its norm bn1), layer1 (stride 4) ... layer4 (stride 32).
        _freeze(net, ("conv1", "layer1", "layer2", "layer3", "layer4"), trainable_layers)
        if trainable_layers == 5:
            for parameter in net.bn1.parameters():
                parameter.requires_grad_(True)
        return_layers = {f"layer{k}": str(k - 1) for k in (1, 2, 3, 4)}
        width = net.inplanes // 8  # 64 for ResNet-18/34
        in_channels = [width, width * 2, width * 4, width * 8]
        return BackboneWithFPN(net, return_layers, in_channels, fpn_channels, norm_layer=fpn_norm)
    features = mobilenet.mobilenet_v3_large(weights=None, norm_layer=norm_layer).features
    # Blocks that start a new stride (torchvision marks them _is_cn); the last block of each stride is the
    # one whose output is taken: strides 4, 8, 16, 32.
    starts = [i for i, block in enumerate(features) if getattr(block, "_is_cn", False)]
    ends = [s - 1 for s in starts[1:]] + [len(features) - 1]
    stage_names = ["0"] + [str(s) for s in starts]
    _freeze_mobilenet(features, [int(s) for s in stage_names], trainable_layers)
    return_layers = {str(end): str(k) for k, end in enumerate(ends)}
    in_channels = [_out_channels(features[end]) for end in ends]
    return BackboneWithFPN(features, return_layers, in_channels, fpn_channels, norm_layer=fpn_norm)


def _freeze_mobilenet(features: nn.Sequential, stage_starts: Sequence[int], trainable_layers: int) -> None:
    if not 0 <= trainable_layers <= len(stage_starts):
        raise ValueError(f"trainable_layers must be in 0..{len(stage_starts)}, got {trainable_layers}")
    first = len(features) if trainable_layers == 0 else stage_starts[len(stage_starts) - trainable_layers]
    for block in list(features)[:first]:
        for parameter in block.parameters():
            parameter.requires_grad_(False)


def _out_channels(block: nn.Module) -> int:
    out = getattr(block, "out_channels", None)
    if out is None:  # the last block (Conv2dNormActivation) has no attribute: its conv says
        out = next(m for m in reversed(list(block.modules())) if isinstance(m, nn.Conv2d)).out_channels
    return int(out)


class FixedScaleTransform(GeneralizedRCNNTransform):
    """torchvision's detection transform (normalise, batch with padding to a multiple of 32), but every image
    is resized by the same ``scale`` (1.0: not at all) instead of to a short side of ``min_size``.

    Why: nuclei have a size in pixels; torchvision's rule would rescale each image by a different factor.
    ``postprocess`` (inherited) maps boxes and masks back to the input size.
    """

    def __init__(self, scale: float, image_mean: Sequence[float], image_std: Sequence[float]) -> None:
        super().__init__(min_size=1, max_size=1, image_mean=list(image_mean), image_std=list(image_std))
        self.scale = float(scale)

    def resize(
        self, image: torch.Tensor, target: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        if self.scale == 1.0:
            return image, target
        size = image.shape[-2:]
        image = F.interpolate(
            image[None],
            scale_factor=self.scale,
            mode="bilinear",
            align_corners=False,
            recompute_scale_factor=True,
        )[0]
        if target is None:
            return image, target
        target = dict(target)
        new_size = image.shape[-2:]
        target["boxes"] = resize_boxes(target["boxes"], (int(size[0]), int(size[1])), new_size)  # type: ignore[arg-type]
        if "masks" in target:
            masks = target["masks"][:, None].float()
            target["masks"] = F.interpolate(masks, size=new_size, mode="nearest")[:, 0].byte()
        return image, target

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scale={self.scale}, mean={self.image_mean}, std={self.image_std})"


def build_maskrcnn(
    num_classes: int = 2,
    backbone: str = "mobilenet_v3_large",
    trainable_layers: int = 5,
    norm: str = "group",
    image_scale: float = 1.0,
    anchor_sizes: Sequence[int] = DEFAULT_ANCHOR_SIZES,
    fpn_channels: int = 64,
    box_head_size: int = 256,
    mask_head_channels: int = 64,
    detections_per_img: int = 500,
    image_mean: Sequence[float] | None = None,
    image_std: Sequence[float] | None = None,
    weights_path: str | Path | None = None,
) -> MaskRCNN:
    """A Mask R-CNN for small, crowded objects (see the module docstring for each choice).

    Args:
        num_classes: classes including the background (2: background + nucleus).
        backbone: "mobilenet_v3_large" (default), "resnet18" or "resnet34"; random initial weights.
        trainable_layers: backbone stages trained, counted from the top (5 = all; from scratch use 5).
        norm: "group" (GroupNorm, for training from scratch), "frozen_bn" (a pretrained backbone), "batch".
        image_scale: every image is resized by this factor (1.0 = native pixels), training and prediction.
        anchor_sizes: anchor side in pixels, one per FPN level P2..P6 (5 values).
        fpn_channels, box_head_size, mask_head_channels: widths of the FPN, the box MLP, the mask convs.
        detections_per_img: the most objects kept per image.
        image_mean, image_std: per-channel RGB statistics of images in [0, 1] (default: ImageNet's).
        weights_path: a local weights file: a whole model or a backbone (see :func:`load_maskrcnn_weights`).

    Returns:
        ``MaskRCNN`` (train mode): ``model(images, targets)`` -> losses; ``model.eval()(images)`` ->
        detections with boxes (N, 4) xyxy, labels, scores and masks (N, 1, H, W) in [0, 1].
    """
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes counts the background too and must be >= 2, got {num_classes!r}")
    sizes = tuple(int(s) for s in anchor_sizes)
    if len(sizes) != 5 or min(sizes) < 1:
        raise ValueError(f"anchor_sizes needs 5 positive sizes (FPN levels P2..P6), got {list(anchor_sizes)}")
    if not image_scale > 0:
        raise ValueError(f"image_scale must be > 0, got {image_scale}")
    mean = tuple(float(v) for v in (IMAGENET_MEAN if image_mean is None else image_mean))
    std = tuple(float(v) for v in (IMAGENET_STD if image_std is None else image_std))
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ValueError(f"image_mean/image_std need 3 values (RGB) and std > 0, got {mean} and {std}")
    body = build_backbone(backbone, norm, trainable_layers, fpn_channels)
    anchors = AnchorGenerator(sizes=tuple((s,) for s in sizes), aspect_ratios=(ASPECT_RATIOS,) * len(sizes))
    mask_norm = _group_norm if norm == "group" else None
    levels = ["0", "1", "2", "3"]  # P2-P5; P6 ("pool") feeds the RPN only, as in torchvision
    model = MaskRCNN(
        body,
        num_classes=None,  # given by the predictors below (torchvision's would assume 1024/256 widths)
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=1000,
        rpn_post_nms_top_n_train=1000,
        rpn_pre_nms_top_n_test=1000,
        rpn_post_nms_top_n_test=2000,
        box_roi_pool=MultiScaleRoIAlign(levels, output_size=7, sampling_ratio=ROI_SAMPLING_RATIO),
        mask_roi_pool=MultiScaleRoIAlign(levels, output_size=14, sampling_ratio=ROI_SAMPLING_RATIO),
        box_head=TwoMLPHead(fpn_channels * 7 * 7, box_head_size),
        box_predictor=FastRCNNPredictor(box_head_size, num_classes),
        box_batch_size_per_image=BOX_BATCH_SIZE_PER_IMAGE,
        box_detections_per_img=int(detections_per_img),
        mask_head=MaskRCNNHeads(fpn_channels, [mask_head_channels] * 4, 1, norm_layer=mask_norm),
        mask_predictor=MaskRCNNPredictor(mask_head_channels, mask_head_channels, num_classes),
    )
    model.transform = FixedScaleTransform(image_scale, mean, std)
    if weights_path is not None:
        load_maskrcnn_weights(model, weights_path)
    return model


# ------------------------------------------------------------------------------------------ local weights


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist; check the path")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except SafetensorError as exc:
            raise ValueError(f"weights file {path} is not a readable safetensors file ({exc})") from exc
    from unetkit.model_files.model_io import read_checkpoint

    raw: Any = read_checkpoint(path)  # weights_only=True, with one-line errors for code and corrupt files
    # A Lightning checkpoint ("state_dict", keys "model.*") or torchvision's reference scripts ("model").
    for key in ("state_dict", "model"):
        if isinstance(raw.get(key), Mapping):
            raw = raw[key]
            break
    state = {k: v for k, v in raw.items() if isinstance(v, torch.Tensor)}
    if state and all(k.startswith("model.") for k in state):
        state = {k[len("model.") :]: v for k, v in state.items()}
    if not state:
        raise ValueError(f"weights file {path} holds no tensors; expected a state dict")
    return state


def load_maskrcnn_weights(model: MaskRCNN, path: str | Path) -> str:
    """Load a local weights file into ``model``; returns what it was: "model" or "backbone".

    A file with keys of the whole detector (``backbone.*``, ``rpn.*``, ``roi_heads.*``) must match it exactly.
    Otherwise it is read as the backbone's classification weights (torchvision's ResNet or MobileNetV3 state
    dict; ``fc.*``/``classifier.*`` are dropped) and must match the backbone exactly. Any missing, unexpected
    or mis-shaped key is a ValueError naming the file and the keys.
    """
    path = Path(path)
    state = _read_state_dict(path)
    whole = any(k.startswith(("backbone.", "rpn.", "roi_heads.")) for k in state)
    if whole:
        target: nn.Module = model
        kind = "model"
    else:
        target = model.backbone.body
        kind = "backbone"
        state = {
            k.removeprefix("features."): v
            for k, v in state.items()
            if not k.startswith(("fc.", "classifier."))
        }
    missing, unexpected, shapes = state_dict_mismatch(target.state_dict(), state)
    # FrozenBatchNorm2d drops BatchNorm's num_batches_tracked itself; it is no mismatch.
    unexpected = [k for k in unexpected if not k.endswith("num_batches_tracked")]
    if missing or unexpected or shapes:
        hint = (
            "pass a Mask R-CNN state dict saved from build_maskrcnn with the same options (backbone, norm, "
            "fpn_channels, head sizes)"
            if whole
            else "pass the ImageNet state dict of the same backbone; BatchNorm weights (running_mean/var) "
            "need norm='frozen_bn' or 'batch'"
        )
        found = describe_mismatch(missing, unexpected, shapes)
        raise ValueError(f"weights file {path} does not fit this {kind}: {found}; {hint}")
    target.load_state_dict(state, strict=False)  # strict=False: only num_batches_tracked may be left out
    logger.info("loaded %s weights from %s (%d tensors)", kind, path, len(state))
    return kind
