"""unetkit.evaluation.evaluate_split: predicts a split with any predictor, scores once, writes the files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from unetkit.constants import IGNORE_INDEX
from unetkit.data.io import MaskEncoding
from unetkit.evaluation import evaluate_split, figure_indices, scored_views
from unetkit.metrics import score_predictions
from unetkit.model_files.model_config import ModelConfig

SRC = Path(__file__).resolve().parents[1] / "src"


class ThresholdPredictor:
    """A torch-free stand-in for any backend: class 1 where the gray value is above 127."""

    def __init__(self, num_classes: int = 2) -> None:
        kwargs = {"in_channels": 1, "num_classes": num_classes}
        self.config = ModelConfig("unet", kwargs, ["bg", "fg"][:num_classes], [0.5], [0.25])
        self.calls = 0

    def predict(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        mask = (image[..., 0] > 127).astype(np.uint8)
        return mask, np.stack([1.0 - mask, mask]).astype(np.float32)


def _write_pairs(root: Path, count: int = 3) -> list[tuple[Path, Path]]:
    """Gray images (a bright square) with masks that disagree on one column and ignore one row (value 9)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir(parents=True)
    pairs = []
    for i in range(count):
        image = np.zeros((12, 10 + i), dtype=np.uint8)
        image[3:9, 2:7] = 200
        mask = (image > 127).astype(np.uint8)
        mask[:, -1] = 1  # the predictor misses this column
        mask[0] = 9  # ignored row
        Image.fromarray(image).save(root / "images" / f"s{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"s{i}.png")
        pairs.append((root / "images" / f"s{i}.png", root / "masks" / f"s{i}.png"))
    return pairs


ENCODING = MaskEncoding("index", num_classes=2, ignore_values=(9,))


def test_scores_and_files_equal_scoring_the_predictions_directly(tmp_path: Path) -> None:
    pairs = _write_pairs(tmp_path / "data")
    predictor = ThresholdPredictor()
    scores, table = evaluate_split(
        predictor, pairs, ENCODING, ["bg", "fg"], out_dir=tmp_path / "run", split="val", figure_samples=2
    )
    assert predictor.calls == len(pairs)
    # The same numbers as score_predictions on hand-read predictions and targets.
    expected_pairs = []
    for image_path, mask_path in pairs:
        image = np.asarray(Image.open(image_path))[..., None]
        target = np.asarray(Image.open(mask_path)).astype(np.int64)
        target[target == 9] = IGNORE_INDEX
        expected_pairs.append((predictor.predict(image)[0], target))
    expected = score_predictions(expected_pairs, 2)
    for key in ("miou", "mean_dice", "pixel_accuracy"):
        assert float(scores[key]) == pytest.approx(float(expected[key]), abs=0, rel=0)
    np.testing.assert_array_equal(scores["support"], expected["support"])
    assert 0.5 < float(scores["miou"]) < 1.0  # the missed column costs something
    saved = json.loads((tmp_path / "run" / "metrics_val.json").read_text())
    assert saved["split"] == "val" and saved["miou"] == pytest.approx(float(scores["miou"]))
    assert (
        saved["tta"] == "none"
    )  # how the numbers were made (a re-scoring with other settings replaces them)
    predictor.tta = ("identity", "hflip")
    evaluate_split(predictor, pairs, ENCODING, ["bg", "fg"], out_dir=tmp_path / "tta", split="val")
    assert json.loads((tmp_path / "tta" / "metrics_val.json").read_text())["tta"] == ["identity", "hflip"]
    said = (tmp_path / "tta" / "metrics_val.md").read_text().splitlines()[-1]
    assert said == "Scored with test-time augmentation: 2 views (identity, hflip)."
    # predict --masks records them the same way (test_fit's identical-metrics test compares the two files).
    from unetkit.inference.batch import write_batch_metrics

    write_batch_metrics(tmp_path / "predicted", scores, ["bg", "fg"], 2, tta=scored_views(predictor))
    assert json.loads((tmp_path / "predicted" / "metrics.json").read_text())["tta"] == ["identity", "hflip"]
    assert set(saved) >= {"iou/bg", "iou/fg", "dice/fg", "support/fg", "pixel_accuracy", "mean_dice"}
    assert (tmp_path / "run" / "metrics_val.md").read_text() == table + "\n"
    assert (tmp_path / "run" / "figures" / "predictions_val.png").is_file()
    assert not list((tmp_path / "run").rglob("*.tmp"))


def test_ignored_pixels_reach_the_figure_as_ignore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import unetkit.viz.figures as figures

    seen: dict[str, Any] = {}

    def fake_grid(images: Any, targets: Any, preds: Any, names: Any, out_png: Path, **kwargs: Any) -> Path:
        seen.update(targets=targets, ignore_index=kwargs["ignore_index"])
        seen.update(titles=kwargs["titles"], title=kwargs["title"])
        return out_png

    monkeypatch.setattr(figures, "plot_prediction_grid", fake_grid)
    pairs = _write_pairs(tmp_path / "data", count=5)
    evaluate_split(ThresholdPredictor(), pairs, ENCODING, ["bg", "fg"], out_dir=tmp_path, figure_samples=3)
    # Spread over the split, first and last included; each titled with its own score (trial 25).
    assert [t.split("\n")[0] for t in seen["titles"]] == ["s0", "s2", "s4"]
    assert all("\npixel error 0." in t for t in seen["titles"])
    # The run and the model, so that a pasted figure can be traced (trial 25).
    assert seen["title"] == f"test images (test split): run {tmp_path.name}, unet"
    assert seen["ignore_index"] == IGNORE_INDEX
    assert all((target[0] == IGNORE_INDEX).all() for target in seen["targets"])


def test_the_figure_draws_the_models_class_colours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import unetkit.viz.figures as figures
    from unetkit.palette import class_palette

    seen: dict[str, Any] = {}

    def fake_grid(images: Any, targets: Any, preds: Any, names: Any, out_png: Path, **kwargs: Any) -> Path:
        seen["palette"] = kwargs.get("palette")
        seen["ignore_color"] = kwargs.get("ignore_color")
        return out_png

    monkeypatch.setattr(figures, "plot_prediction_grid", fake_grid)
    predictor = ThresholdPredictor()
    pairs = _write_pairs(tmp_path / "data")
    evaluate_split(predictor, pairs, ENCODING, ["bg", "fg"], out_dir=tmp_path, figure_samples=1)
    np.testing.assert_array_equal(seen["palette"], class_palette(2))  # no colours given: the default
    predictor.config.class_colors = [[0, 0, 0], [128, 64, 128]]
    evaluate_split(predictor, pairs, ENCODING, ["bg", "fg"], out_dir=tmp_path, figure_samples=1)
    np.testing.assert_array_equal(seen["palette"], [[0, 0, 0], [128, 64, 128]])
    # Void in the colour the user's masks marked it with, when the model recorded one.
    assert seen["ignore_color"] is None
    predictor.config.extra = {"void_color": [9, 9, 9]}
    evaluate_split(predictor, pairs, ENCODING, ["bg", "fg"], out_dir=tmp_path, figure_samples=1)
    assert seen["ignore_color"] == (9, 9, 9)


def test_isbi_scores_and_no_files_without_out_dir(tmp_path: Path) -> None:
    pairs = _write_pairs(tmp_path / "data")
    scores, _ = evaluate_split(ThresholdPredictor(), pairs, ENCODING, ["bg", "fg"], isbi=True)
    assert float(scores["pixel_error"]) == pytest.approx(1.0 - float(scores["pixel_accuracy"]))
    assert 0.0 <= float(scores["rand_error"]) <= 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_class_count_mismatch_and_empty_split_are_errors(tmp_path: Path) -> None:
    pairs = _write_pairs(tmp_path / "data")
    with pytest.raises(ValueError, match="the model predicts 2 classes but 3 class names"):
        evaluate_split(ThresholdPredictor(), pairs, ENCODING, ["a", "b", "c"])
    with pytest.raises(ValueError, match="split 'test': the split is empty"):
        evaluate_split(ThresholdPredictor(), [], ENCODING, ["a", "b"])


def test_figure_indices() -> None:
    assert figure_indices(10, 4) == [0, 3, 6, 9]
    assert figure_indices(2, 4) == [0, 1]
    assert figure_indices(5, 0) == [] and figure_indices(0, 3) == []


def test_evaluation_and_scoring_import_without_torch(tmp_path: Path) -> None:
    """The onnxruntime path evaluates and scores on machines without torch."""
    pairs = _write_pairs(tmp_path / "data")
    script = f"""
import sys
sys.modules["torch"] = None  # any "import torch" now raises ImportError
import numpy as np
from unetkit.data.io import MaskEncoding
from unetkit.evaluation import evaluate_split
from unetkit.inference import batch
from unetkit.metrics import score_predictions
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_evaluation import ThresholdPredictor
pairs = [(p, p.replace("images", "masks")) for p in {[str(p[0]) for p in pairs]!r}]
scores, _ = evaluate_split(ThresholdPredictor(), pairs, MaskEncoding("index", 2, (9,)), ["bg", "fg"])
assert 0 < float(scores["miou"]) < 1
assert not any(m == "torch" or m.startswith("torch.") for m, v in sys.modules.items() if v is not None)
print("OK")
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "OK"


class NeverRarePredictor(ThresholdPredictor):
    """3 classes (bg, fg, rare); the truth holds "rare" but the model never outputs it."""

    def __init__(self) -> None:
        super().__init__()
        self.config = ModelConfig(
            "unet", {"in_channels": 1, "num_classes": 3}, ["bg", "fg", "rare"], [0.5], [0.25]
        )


def test_never_predicted_classes_and_the_confusion_matrix_reach_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import unetkit.viz.figures as figures

    pairs = _write_pairs(tmp_path / "data")
    for _, mask_path in pairs:  # a "rare" pixel in each truth, inside the bright square (predicted fg)
        mask = np.asarray(Image.open(mask_path)).copy()
        mask[4, 3] = 2
        Image.fromarray(mask).save(mask_path)
    drawn: dict[str, Any] = {}
    grid = figures.plot_prediction_grid
    monkeypatch.setattr(
        figures,
        "plot_prediction_grid",
        lambda *a, **k: (drawn.update(grid_title=k.get("title")), grid(*a, **k))[1],
    )
    encoding = MaskEncoding("index", num_classes=3, ignore_values=(9,))
    names = ["bg", "fg", "rare"]
    scores, table = evaluate_split(
        NeverRarePredictor(),
        pairs,
        encoding,
        names,
        out_dir=tmp_path / "run",
        split="val",
        hint="train longer",
    )
    assert table.splitlines()[-1] == "1 of 3 classes never predicted on val: rare; train longer"
    assert "| rare | 0.0000 | 0.0000 | 3 | 0, never predicted |" in table.splitlines()
    saved = json.loads((tmp_path / "run" / "metrics_val.json").read_text())
    assert saved["never_predicted"] == ["rare"] and saved["predicted/rare"] == 0.0
    assert saved["predicted/fg"] == float(np.asarray(scores["confusion"])[:, 1].sum())
    confusion = saved["confusion"]
    assert confusion["classes"] == names and confusion["rows"] == "true class"
    assert confusion["counts"] == np.asarray(scores["confusion"]).tolist()
    assert [row[2] for row in confusion["counts"]] == [0, 0, 0] and confusion["counts"][2][1] == 3
    assert sum(map(sum, confusion["counts"])) == sum(saved[f"support/{n}"] for n in names)  # void is out
    assert saved["miou"] == pytest.approx(float(scores["miou"]))  # the scores themselves are unchanged
    assert (tmp_path / "run" / "metrics_val.md").read_text() == table + "\n"
    with Image.open(tmp_path / "run" / "figures" / "confusion_val.png") as png:
        assert png.size[0] > 300 and png.size[1] > 300
    assert drawn["grid_title"] == "validation images (val split): run run, unet"


def test_every_class_predicted_writes_an_empty_list_and_no_line(tmp_path: Path) -> None:
    pairs = _write_pairs(tmp_path / "data")
    _, table = evaluate_split(
        ThresholdPredictor(), pairs, ENCODING, ["bg", "fg"], out_dir=tmp_path / "run", split="test", hint="x"
    )
    assert "never predicted" not in table
    saved = json.loads((tmp_path / "run" / "metrics_test.json").read_text())
    assert saved["never_predicted"] == [] and len(saved["confusion"]["counts"]) == 2
    assert (tmp_path / "run" / "figures" / "confusion_test.png").is_file()
