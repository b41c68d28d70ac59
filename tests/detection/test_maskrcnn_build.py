"""build_maskrcnn: architecture choices, one training step, local weights files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from maskrcnn_data import disk_image, disk_labels
from safetensors.torch import save_file
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from unetkit.detection.maskrcnn import build_backbone, build_maskrcnn, load_maskrcnn_weights
from unetkit.detection.targets import image_to_tensor, labels_to_target


def _batch(n: int = 2, size: int = 64) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    rng = np.random.default_rng(1)
    labels = [disk_labels((size, size), 5, rng) for _ in range(n)]
    return [image_to_tensor(disk_image(lab, rng)) for lab in labels], [
        labels_to_target(lab) for lab in labels
    ]


def test_from_scratch_defaults() -> None:
    model = build_maskrcnn()
    norms = [
        m
        for m in model.backbone.modules()
        if isinstance(m, (nn.GroupNorm, nn.BatchNorm2d, FrozenBatchNorm2d))
    ]
    assert norms and all(isinstance(m, nn.GroupNorm) for m in norms)
    assert all(p.requires_grad for p in model.parameters())  # from scratch: every stage trains
    sizes = model.rpn.anchor_generator.sizes
    assert [s[0] for s in sizes] == [8, 16, 32, 64, 128]
    assert model.roi_heads.detections_per_img >= 375  # DSB2018's most crowded image
    assert model.roi_heads.box_predictor.cls_score.out_features == 2


def test_options_reach_the_model() -> None:
    model = build_maskrcnn(
        backbone="resnet18", norm="frozen_bn", trainable_layers=2, anchor_sizes=(4, 8, 16, 32, 64)
    )
    assert any(isinstance(m, FrozenBatchNorm2d) for m in model.backbone.body.modules())
    assert not model.backbone.body.layer2[0].conv1.weight.requires_grad
    assert model.backbone.body.layer4[0].conv1.weight.requires_grad
    assert model.rpn.anchor_generator.sizes[0] == (4,)
    with pytest.raises(ValueError, match="backbone"):
        build_maskrcnn(backbone="resnet19")
    with pytest.raises(ValueError, match="anchor_sizes"):
        build_maskrcnn(anchor_sizes=(8, 16))


@pytest.mark.parametrize("backbone", ["resnet18", "mobilenet_v3_large"])
def test_backbone_strides(backbone: str) -> None:
    out = build_backbone(backbone)(torch.zeros(1, 3, 64, 64))
    assert [tuple(v.shape[-2:]) for v in out.values()] == [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]


def test_one_training_step_lowers_the_loss_on_two_tiny_images() -> None:
    model = build_maskrcnn()
    images, targets = _batch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    losses = []
    for _ in range(3):
        loss_dict = model(images, targets)
        assert set(loss_dict) == {
            "loss_classifier",
            "loss_box_reg",
            "loss_mask",
            "loss_objectness",
            "loss_rpn_box_reg",
        }
        loss = sum(loss_dict.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_an_image_without_objects_trains() -> None:
    model = build_maskrcnn()
    images, targets = _batch(1)
    empty = labels_to_target(np.zeros((64, 64), dtype=np.int32))
    loss = sum(model([images[0], torch.rand(3, 64, 64)], [targets[0], empty]).values())
    loss.backward()
    assert torch.isfinite(loss)


def test_image_scale_resizes_every_image_by_one_factor_and_maps_back() -> None:
    model = build_maskrcnn(image_scale=2.0).eval()
    target = {
        "boxes": torch.tensor([[4.0, 6.0, 10.0, 16.0]]),
        "masks": torch.ones(1, 40, 50, dtype=torch.uint8),
    }
    images, targets = model.transform([torch.rand(3, 40, 50), torch.rand(3, 300, 100)], [target, target])
    assert images.image_sizes == [(80, 100), (600, 200)]  # not torchvision's per-image short-side rule
    assert targets is not None and targets[0]["boxes"].tolist() == [[8.0, 12.0, 20.0, 32.0]]
    assert targets[0]["masks"].shape == (1, 80, 100)
    with torch.no_grad():
        out = model([torch.rand(3, 40, 50)])[0]
    assert out["masks"].shape[-2:] == (40, 50)
    assert len(out["boxes"]) > 0
    assert float(out["boxes"][:, 2].max()) <= 50 and float(out["boxes"][:, 3].max()) <= 40
    native = build_maskrcnn().transform([torch.rand(3, 40, 50)])[0]
    assert native.image_sizes == [(40, 50)]


def test_whole_model_weights_file_loads(tmp_path: Path) -> None:
    source = build_maskrcnn()
    path = tmp_path / "mrcnn.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    target = build_maskrcnn(weights_path=path)
    for key, value in source.state_dict().items():
        assert torch.equal(value, target.state_dict()[key])
    # .pth, as torchvision's reference scripts save it ({"model": state_dict, ...})
    torch.save({"model": source.state_dict(), "epoch": 3}, tmp_path / "mrcnn.pth")
    assert load_maskrcnn_weights(build_maskrcnn(), tmp_path / "mrcnn.pth") == "model"


@pytest.mark.parametrize("backbone", ["resnet18", "mobilenet_v3_large"])
def test_imagenet_backbone_file_loads_with_frozen_bn(tmp_path: Path, backbone: str) -> None:
    from torchvision import models

    # The layout of torchvision's ImageNet files (resnet18-f37072fd.pth, mobilenet_v3_large-8738ca79.pth)
    imagenet = models.get_model(backbone, weights=None).state_dict()
    torch.save(imagenet, tmp_path / "imagenet.pth")
    model = build_maskrcnn(backbone=backbone, norm="frozen_bn", weights_path=tmp_path / "imagenet.pth")
    body = model.backbone.body.state_dict()
    first_conv, first_var = (
        ("conv1.weight", "bn1.running_var") if backbone == "resnet18" else ("0.0.weight", "0.1.running_var")
    )
    prefix = "" if backbone == "resnet18" else "features."
    assert torch.equal(body[first_conv], imagenet[prefix + first_conv])
    assert torch.equal(body[first_var], imagenet[prefix + first_var])
    # GroupNorm has no running statistics: a clear error that names the fix
    with pytest.raises(ValueError, match=r"unexpected keys \[.*running_mean.*norm='frozen_bn'"):
        build_maskrcnn(backbone=backbone, weights_path=tmp_path / "imagenet.pth")


def test_weights_file_with_a_wrong_key_is_a_clear_error(tmp_path: Path) -> None:
    state = {k: v.contiguous() for k, v in build_maskrcnn().state_dict().items()}
    state["roi_heads.box_head.fc9.weight"] = state.pop("roi_heads.box_head.fc7.weight")
    path = tmp_path / "renamed.safetensors"
    save_file(state, str(path))
    with pytest.raises(ValueError) as info:
        build_maskrcnn(weights_path=path)
    message = str(info.value)
    assert str(path) in message
    assert "1 missing keys [roi_heads.box_head.fc7.weight]" in message
    assert "1 unexpected keys [roi_heads.box_head.fc9.weight]" in message
    assert "\n" not in message


def test_weights_file_of_another_width_names_the_shapes(tmp_path: Path) -> None:
    path = tmp_path / "wide.safetensors"
    save_file({k: v.contiguous() for k, v in build_maskrcnn(fpn_channels=32).state_dict().items()}, str(path))
    with pytest.raises(ValueError, match="shape mismatches"):
        build_maskrcnn(weights_path=path)


def test_missing_or_corrupt_weights_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_maskrcnn(weights_path=tmp_path / "nope.pth")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        build_maskrcnn(weights_path=bad)
