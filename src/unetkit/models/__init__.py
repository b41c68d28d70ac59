"""Model zoo. Importing this package registers every architecture (one file each)."""

from unetkit.models.base import SegmentationModel
from unetkit.models.encoder_decoder import EncoderDecoder
from unetkit.models.encoders import Encoder, VGGEncoder
from unetkit.models.fcn import FCN
from unetkit.models.fcn_reshape import FCNReshape
from unetkit.models.pixel_classifier import PixelClassifier
from unetkit.models.registry import create_model, list_models, register_model, resolve_model_name
from unetkit.models.segnet import SegNet
from unetkit.models.unet import UNet
from unetkit.models.unet_original import (
    UNetOriginal,
    unet_original_input_size_for_output,
    unet_original_output_size,
    unet_original_valid_input_sizes,
)
from unetkit.models.wide_cnn import WideCNN

__all__ = [
    "FCN",
    "Encoder",
    "EncoderDecoder",
    "FCNReshape",
    "PixelClassifier",
    "SegNet",
    "SegmentationModel",
    "UNet",
    "UNetOriginal",
    "VGGEncoder",
    "WideCNN",
    "create_model",
    "list_models",
    "register_model",
    "resolve_model_name",
    "unet_original_input_size_for_output",
    "unet_original_output_size",
    "unet_original_valid_input_sizes",
]
