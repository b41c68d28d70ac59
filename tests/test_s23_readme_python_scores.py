"""README's "Scores and figures from Python" block runs as written (trial 22: the Python section stopped at
predict, so a notebook user computed Dice by hand and had to find the overlay's palette in the source)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from unetkit.metrics import score_predictions

README = Path(__file__).resolve().parents[1] / "README.md"
HEADING = "#### Scores and figures from Python"


def readme_block() -> str:
    text = README.read_text(encoding="utf-8")
    assert HEADING in text
    section = text.split(HEADING, 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_the_readme_block_names_this_test() -> None:
    section = README.read_text(encoding="utf-8").split(HEADING, 1)[1].split("\n## ", 1)[0]
    assert f"tests/{Path(__file__).name}" in section


def test_the_readme_scores_and_overlay_block_runs_on_synthetic_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two square objects; the prediction finds the first whole, the second shifted by a pixel.
    true_labels = np.zeros((24, 32), np.uint16)
    true_labels[2:10, 2:10] = 1
    true_labels[12:20, 14:24] = 2
    predicted = np.zeros((24, 32), np.int32)
    predicted[2:10, 2:10] = 1
    predicted[13:21, 14:24] = 2
    truth = (true_labels > 0).astype(np.uint8)
    truth[0, :] = 255  # a void row, skipped
    monkeypatch.chdir(tmp_path)
    Image.fromarray(truth).save("new_mask.png")
    Image.fromarray(true_labels).save("new_labels.png")
    image = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    mask = (predicted > 0).astype(np.uint8)
    namespace = {
        "predictor": SimpleNamespace(config=SimpleNamespace(class_names=["background", "nuclei"])),
        "image": image,
        "mask": mask,
        "instances": SimpleNamespace(labels=predicted, count=2),
    }
    exec(compile(readme_block(), "README.md", "exec"), namespace)

    expected = score_predictions([(mask[1:], truth[1:])], 2)  # the void row left out
    np.testing.assert_array_equal(namespace["scores"]["iou"], expected["iou"])
    assert "| nuclei |" in capsys.readouterr().out
    objects = namespace["objects"]
    assert (objects.n_true, objects.n_pred, objects.ap50) == (2, 2, 1.0)
    assert namespace["fg_scores"]["support"].sum() == truth.size
    rgb = np.asarray(Image.open("overlay.png"))
    assert rgb.shape == (24, 32, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, namespace["rgb"])
