"""unetkit.losses: segmentation losses (pure functions in ``functional``, thin nn.Modules on top).

``create_loss`` builds any registered loss (``@register_loss``) from a spec such as ``"ce+dice"``. The U-Net
paper's weight map is a target transform and lives in :mod:`unetkit.data.weight_map`.
"""

from unetkit.losses.compound import CombinedLoss
from unetkit.losses.cross_entropy import CrossEntropyLoss
from unetkit.losses.dice import DiceLoss
from unetkit.losses.factory import create_loss, list_losses, parse_loss_spec, register_loss
from unetkit.losses.focal import FocalLoss

__all__ = [
    "CombinedLoss",
    "CrossEntropyLoss",
    "DiceLoss",
    "FocalLoss",
    "create_loss",
    "list_losses",
    "parse_loss_spec",
    "register_loss",
]
