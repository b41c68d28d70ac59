"""unetkit: U-Net semantic segmentation, from the lecture math to deployment.

The self-configuring fit from Python (what ``unetkit plan DIR`` / ``unetkit fit DIR`` run)::

    import unetkit

    result = unetkit.fit_folder("data/", "20m", score="val")  # plan, train, score the validation split
    predictor = unetkit.load_predictor(result.run_dir)          # then predictor.predict(image)
    unetkit.use_scored_tta(predictor)                           # the TTA the run scored with
    instances = unetkit.load_instance_predictor(result.run_dir)  # .predict(image).labels

Scores and figures of those predictions: :func:`unetkit.metrics.score_predictions` (IoU, Dice against your
masks), :func:`unetkit.metrics.score_instances` (AP, SEG against your instance labels) and
:func:`unetkit.viz.overlay.prediction_overlay` (the class colours and instance outlines over the image).

Names load on first use, so ``import unetkit`` stays fast (torch is imported only when needed).
"""

from __future__ import annotations

import importlib
import random
from typing import Any

__version__ = "0.1.0"

# Public name -> the module it lives in (imported on first access).
_LAZY = {
    "fit_folder": "unetkit.training.fit",
    "plan_folder": "unetkit.planning.folder",
    "load_predictor": "unetkit.inference.backends",
    "load_instance_predictor": "unetkit.inference.instance_predictor",
    "use_scored_tta": "unetkit.inference.tta",
    "create_model": "unetkit.models",
    "list_models": "unetkit.models",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        # A module's first import can draw from Python's random stream (on a CUDA host, a package imported on
        # the way did, outside Lightning's guarded import): the caller's stream is put back. Only Python's:
        # NumPy and torch may not be imported yet, and importing them here would undo the lazy loading.
        state = random.getstate()
        try:
            module = importlib.import_module(_LAZY[name])
        finally:
            random.setstate(state)
        return getattr(module, name)
    raise AttributeError(f"module 'unetkit' has no attribute {name!r}; public names: {', '.join(__all__)}")


def __dir__() -> list[str]:
    # The public names only, the lazy ones included (a notebook's tab completion offers them before their
    # first use), and the module's dunders: not globals() whole, whose imports (importlib, random, Any) and
    # the subpackages loaded along the way (data, devices, ...) crowded the completion list.
    dunders = (name for name in globals() if name.startswith("__") and name.endswith("__"))
    return sorted({*dunders, *__all__})
