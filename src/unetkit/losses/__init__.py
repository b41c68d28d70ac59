"""unetkit.losses: segmentation losses (pure functions in ``functional``, thin nn.Modules on top)."""

from unetkit.losses.compound import CombinedLoss
from unetkit.losses.cross_entropy import CrossEntropyLoss
from unetkit.losses.dice import DiceLoss
from unetkit.losses.factory import LOSS_NAMES, create_loss
from unetkit.losses.focal import FocalLoss
from unetkit.losses.weight_map import WeightMapCache, unet_weight_map

__all__ = [
    "LOSS_NAMES",
    "CombinedLoss",
    "CrossEntropyLoss",
    "DiceLoss",
    "FocalLoss",
    "WeightMapCache",
    "create_loss",
    "unet_weight_map",
]
