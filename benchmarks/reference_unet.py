"""The speed reference: a plain eager U-Net written the way the AI VIET NAM lecture writes it.

``DoubleConv`` / ``Down`` / ``Up`` / ``OutConv`` modules, 3x3 convs without bias + BatchNorm + ReLU,
``ConvTranspose2d(k=4, s=2, p=1)`` up-sampling (``up_kernel=2`` gives the 2015 paper's k2 s2 up-conv),
``F.pad`` to the skip's size, ``torch.cat([skip, up])``. Nothing is fused or tuned: this is what a student's
notebook runs. ``UNet(1, 2)`` has 39,392,386 parameters, exactly unetkit's
``create_model("unet", in_channels=1, num_classes=2, upsample="transpose4")``, and the parameters are
registered in the same order, so :func:`copy_weights` can load one into the other to check that both
compute the same function.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DoubleConv(nn.Module):
    """(conv 3x3 => BN => ReLU) * 2."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.double_conv(x)


class Down(nn.Module):
    """Downscaling with maxpool then double conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool_conv(x)


class Up(nn.Module):
    """Upscaling (transposed conv) then double conv on [skip, upsampled]."""

    def __init__(self, in_channels: int, out_channels: int, up_kernel: int = 4) -> None:
        super().__init__()
        padding = (up_kernel - 2) // 2
        self.up = nn.ConvTranspose2d(
            in_channels, in_channels // 2, kernel_size=up_kernel, stride=2, padding=padding
        )
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x1 = self.up(x1)
        diff_y = x2.size()[2] - x1.size()[2]
        diff_x = x2.size()[3] - x1.size()[3]
        x1 = F.pad(x1, [diff_x // 2, diff_x - diff_x // 2, diff_y // 2, diff_y - diff_y // 2])
        x = torch.cat([x2, x1], dim=1)
        return self.conv(x)


class OutConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class UNet(nn.Module):
    """Lecture U-Net: ``(N, n_channels, H, W)`` -> ``(N, n_classes, H, W)`` for H, W multiples of 16."""

    def __init__(self, n_channels: int, n_classes: int, base: int = 64, up_kernel: int = 4) -> None:
        super().__init__()
        self.n_channels = n_channels
        self.n_classes = n_classes
        self.inc = DoubleConv(n_channels, base)
        self.down1 = Down(base, base * 2)
        self.down2 = Down(base * 2, base * 4)
        self.down3 = Down(base * 4, base * 8)
        self.down4 = Down(base * 8, base * 16)
        self.up1 = Up(base * 16, base * 8, up_kernel)
        self.up2 = Up(base * 8, base * 4, up_kernel)
        self.up3 = Up(base * 4, base * 2, up_kernel)
        self.up4 = Up(base * 2, base, up_kernel)
        self.outc = OutConv(base, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)


def copy_weights(source: nn.Module, target: nn.Module) -> None:
    """Copy parameters and buffers in registration order (both models must list the same shapes)."""
    src = list(source.state_dict().values())
    dst = list(target.state_dict().values())
    if len(src) != len(dst) or any(a.shape != b.shape for a, b in zip(src, dst)):
        raise ValueError("copy_weights: the two models do not have the same tensors in the same order.")
    with torch.no_grad():
        for a, b in zip(src, dst):
            b.copy_(a)
