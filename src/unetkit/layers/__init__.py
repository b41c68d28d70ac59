"""Building blocks shared by the architectures in ``unetkit.models``."""

from unetkit.layers.conv import ConvNormAct, ConvStack, DoubleConv, resolve_conv_bias
from unetkit.layers.down import Down, get_dropout
from unetkit.layers.factories import NORM_LAYERS, check_positive_int, get_norm_layer
from unetkit.layers.heads import SegmentationHead
from unetkit.layers.padding import crop_center, pad_to_multiple
from unetkit.layers.up import UPSAMPLE_MODES, UpCat, get_upsample_layer

__all__ = [
    "NORM_LAYERS",
    "UPSAMPLE_MODES",
    "ConvNormAct",
    "ConvStack",
    "DoubleConv",
    "Down",
    "SegmentationHead",
    "UpCat",
    "check_positive_int",
    "crop_center",
    "get_dropout",
    "get_norm_layer",
    "get_upsample_layer",
    "pad_to_multiple",
    "resolve_conv_bias",
]
