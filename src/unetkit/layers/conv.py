"""Convolution blocks: ``ConvNormAct`` (conv -> norm -> ReLU) and its stacks ``ConvStack``, ``DoubleConv``."""

from __future__ import annotations

from torch import nn

from unetkit.layers.factories import NORM_LAYERS, check_positive_int, get_norm_layer
from unetkit.options import look_up_option


def resolve_conv_bias(norm: str, bias: bool | None) -> bool:
    """Default conv bias: on only without normalisation (a norm's shift makes the bias redundant)."""
    if bias is None:
        return look_up_option(norm, NORM_LAYERS, name="norm") == "none"
    if not isinstance(bias, bool):
        raise TypeError(f"conv_bias must be True, False or None, got {bias!r}.")
    return bias


class ConvNormAct(nn.Sequential):
    """``Conv2d(kernel_size)`` -> norm -> ``ReLU``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel size.
        padding: ``"same"`` (``kernel_size // 2``, keeps H and W for odd kernels) or an int (0 = "valid",
            as in the 2015 U-Net paper).
        norm: ``"batch"``, ``"instance"``, ``"group"`` or ``"none"``.
        bias: conv bias; ``None`` means "only when ``norm == 'none'``".
        act: append a ReLU.

    Shape:
        ``(N, in_channels, H, W)`` -> ``(N, out_channels, H', W')``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        padding: int | str = "same",
        norm: str = "batch",
        bias: bool | None = None,
        act: bool = True,
    ) -> None:
        check_positive_int(kernel_size, "kernel_size")
        if padding == "same":
            padding = kernel_size // 2
        elif isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"padding must be 'same' or an int >= 0, got {padding!r}.")
        layers: list[nn.Module] = [
            nn.Conv2d(
                check_positive_int(in_channels, "in_channels"),
                check_positive_int(out_channels, "out_channels"),
                kernel_size,
                padding=padding,
                bias=resolve_conv_bias(norm, bias),
            ),
            get_norm_layer(norm, out_channels),
        ]
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ConvStack(nn.Sequential):
    """``num_convs`` ``ConvNormAct`` blocks; the first maps ``in_channels`` to ``out_channels`` (a VGG stage).

    Shape:
        ``(N, in_channels, H, W)`` -> ``(N, out_channels, H', W')`` (``H' = H`` with ``padding="same"``,
        ``H' = H - num_convs * (kernel_size - 1)`` with ``padding=0``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_convs: int = 2,
        kernel_size: int = 3,
        padding: int | str = "same",
        norm: str = "batch",
        bias: bool | None = None,
    ) -> None:
        check_positive_int(num_convs, "num_convs")
        super().__init__(
            *(
                ConvNormAct(
                    in_channels if i == 0 else out_channels, out_channels, kernel_size, padding, norm, bias
                )
                for i in range(num_convs)
            )
        )


class DoubleConv(ConvStack):
    """The U-Net "(conv 3x3 -> norm -> ReLU) x 2" block (MONAI ``TwoConv``).

    ``padding="same"`` keeps H and W; ``padding=0`` is the paper's valid convolution (H - 4, W - 4).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        padding: int | str = "same",
        norm: str = "batch",
        bias: bool | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels, 2, 3, padding, norm, bias)
