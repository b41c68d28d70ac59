"""The usual folder names, file suffixes and split names discovery looks for (and nnU-Net's), and the
option that names each folder.
"""

from __future__ import annotations

import re

IMAGE_DIR_NAMES = ("images", "image", "imgs")
# "1st_manual": DRIVE's vessel tracings. Not "mask": DRIVE's mask/ holds the field of view (an ROI).
MASK_DIR_NAMES = (
    "masks",
    "labels",
    "annotations",
    "gt",
    "groundtruth",
    "ground_truth",
    "1st_manual",
    "manual",
)
ROI_DIR_NAMES = ("roi", "fov")
SPLITS = ("train", "val", "test")
# Split sub-folders under the names public datasets use (DRIVE: training/ and test/).
SPLIT_DIR_NAMES = {
    "train": ("train", "training"),
    "val": ("val", "valid", "validation"),
    "test": ("test", "testing"),
}

# The command-line option naming each folder (errors name the fix a user can type).
DIR_OPTIONS = {"image_dir": "--images", "mask_dir": "--masks", "roi_dir": "--roi"}
# Suffixes stripped (repeatedly, case-insensitive) from stems before pairing: masks, ROIs, images.
MASK_SUFFIXES = (
    "_mask",
    "_masks",
    "-mask",
    "_label",
    "_labels",
    "-label",
    "_gt",
    "-gt",
    "_manual1",
    "_manual",
    "_seg",
    "_segmentation",
    "_annotation",
    "_anno",
    "_roi",
    "_fov",
)
# Mask suffixes that never mark an ROI: what tells a mask from an image in a folder holding both.
MASK_ONLY_SUFFIXES = tuple(x for x in MASK_SUFFIXES if x not in ("_roi", "_fov"))
IMAGE_SUFFIXES = ("_image", "_img", "-image", "_training", "_test", "_train", "_raw", "_input")

# nnU-Net's raw layout (Isensee et al. 2021): imagesTr/case_000_0000.png (the _0000 is the channel: one file
# per channel) with labelsTr/case_000.png, imagesTs/ (no labels) and a dataset.json naming the classes by
# value ("labels": v2 {"background": 0, ...}, v1 {"0": "background", ...}; v2's "ignore" label is void).
NNUNET_IMAGE_DIR = "imagesTr"
NNUNET_MASK_DIR = "labelsTr"
NNUNET_TEST_DIR = "imagesTs"
NNUNET_CHANNEL = re.compile(r"_(\d{4})$")
