"""The run's scoring (the end of ``unetkit fit``, ``unetkit test``/``validate``) names the classes its model
never predicts, with what to do about it, in the table fit prints and in metrics_<split>.md."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from unetkit.data.io import MaskEncoding
from unetkit.model_files.model_config import ModelConfig
from unetkit.training.config import Config
from unetkit.training.evaluate import NEVER_PREDICTED_HINT, evaluate

NAMES = ["road", "car", "pole"]


class NoPolePredictor:
    """Class 1 where the gray value is above 127, else 0: "pole" (2) is never output."""

    def __init__(self) -> None:
        self.config = ModelConfig("unet", {"in_channels": 1, "num_classes": 3}, NAMES, [0.5], [0.25])

    def predict(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mask = (image[..., 0] > 127).astype(np.uint8)
        return mask, np.stack([1.0 - mask, mask, 0 * mask]).astype(np.float32)


def _spec(root: Path) -> Any:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    image = np.zeros((8, 8), np.uint8)
    image[2:6, 2:6] = 200
    mask = (image > 127).astype(np.uint8)
    mask[0, :3] = 2  # a pole the model misses
    Image.fromarray(image).save(root / "images" / "a.png")
    Image.fromarray(mask).save(root / "masks" / "a.png")
    pairs = [(root / "images" / "a.png", root / "masks" / "a.png")]
    return SimpleNamespace(
        pairs=lambda split: pairs,
        encoding=MaskEncoding("index", num_classes=3),
        in_channels=1,
        intensity_window=None,
        class_names=NAMES,
        isbi=False,
        convert_channels=False,
    )


def test_the_run_table_names_never_predicted_classes_and_says_train_longer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import unetkit.data.folder
    import unetkit.inference.backends

    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "config.json").write_text("{}")
    monkeypatch.setattr(unetkit.data.folder, "validate", lambda *a, **k: None)
    monkeypatch.setattr(unetkit.inference.backends, "load_predictor", lambda *a, **k: NoPolePredictor())
    scores, table = evaluate(run, split="val", config=Config(), spec=_spec(tmp_path / "data"))
    last = table.splitlines()[-1]
    assert last == f"1 of 3 classes never predicted on val: pole; {NEVER_PREDICTED_HINT}"
    assert "--time" in NEVER_PREDICTED_HINT
    assert (run / "metrics_val.md").read_text().splitlines()[-1] == last
    assert (run / "figures" / "confusion_val.png").is_file()
    assert list(np.asarray(scores["predicted"])) == [
        int(np.asarray(scores["confusion"])[:, i].sum()) for i in range(3)
    ]
