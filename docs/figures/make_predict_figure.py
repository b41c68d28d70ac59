"""Compose the README's predict figure from `unetkit predict` outputs: input | overlay | instances.

Usage: python docs/figures/make_predict_figure.py IMAGE PRED_DIR OUT_PNG
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from unetkit.viz.overlay import class_palette, colorize_mask

image, pred_dir, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
overlay = np.asarray(Image.open(pred_dir / "overlays" / f"{image.stem}.png"))
instances = np.asarray(Image.open(pred_dir / "instances" / f"{image.stem}.png")).astype(np.int64)
palette = class_palette(256)
colored = colorize_mask(np.where(instances > 0, 1 + instances % 255, 0), palette)
fig, axes = plt.subplots(1, 3, figsize=(12, 4.2))
for ax, panel, title in zip(
    axes,
    (np.asarray(Image.open(image)), overlay, colored),
    ("Input", "Prediction overlay (cell class)", f"Instances (connected components) ({instances.max()})"),
):
    ax.imshow(panel, cmap="gray" if panel.ndim == 2 else None)
    ax.set_title(title, fontsize=10)
    ax.axis("off")
fig.tight_layout()
fig.savefig(out, dpi=90)
