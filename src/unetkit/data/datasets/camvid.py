"""CamVid (SegNet's road scenes at 480x360 or resized): 11 classes, void (11) ignored, list-file splits."""

from __future__ import annotations

from pathlib import Path

from unetkit.data.datasets.registry import DatasetSpec, register_dataset, resolve_root
from unetkit.data.folder import find_pairs, split_by_lists
from unetkit.data.io import MaskEncoding

# Train-split statistics (pixel values in [0, 1]) from unetkit.data.folder.compute_mean_std; tests recompute.
CAMVID_MEAN, CAMVID_STD = (0.41135, 0.42459, 0.43221), (0.30275, 0.30721, 0.30327)
CAMVID_CLASSES = (
    "Sky",
    "Building",
    "Pole",
    "Road",
    "Pavement",
    "Tree",
    "SignSymbol",
    "Fence",
    "Car",
    "Pedestrian",
    "Bicyclist",
)


@register_dataset("camvid")
def build_camvid(root: Path | None) -> DatasetSpec:
    """``root`` holds images/, masks/ and train.txt, val.txt, test.txt (image stems)."""
    root = resolve_root("camvid", root)
    image_dir, mask_dir = root / "images", root / "masks"
    stems = [p[0].stem for p in find_pairs(image_dir, mask_dir)]
    splits = split_by_lists(stems, {s: root / f"{s}.txt" for s in ("train", "val", "test")})
    return DatasetSpec(
        name="camvid",
        root=root,
        image_dir=image_dir,
        mask_dir=mask_dir,
        encoding=MaskEncoding("index", num_classes=11, ignore_values=(11,)),  # 11 = Unlabelled/void
        class_names=CAMVID_CLASSES,
        in_channels=3,
        num_classes=11,
        mean=CAMVID_MEAN,
        std=CAMVID_STD,
        splits=splits,
    )
