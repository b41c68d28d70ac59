"""unetkit: U-Net semantic segmentation, from the lecture math to deployment."""

__version__ = "0.1.0"
