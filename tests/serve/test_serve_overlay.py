"""One drawing of a prediction's overlay (:func:`unetkit.viz.overlay.prediction_overlay`): ``unetkit predict``
(``predict_files``' ``overlays/``) and ``unetkit serve`` (``run_job``'s ``overlay.png`` and its re-blend)
draw the same pixels for the same result, because both call it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from serve_helpers import synthetic_slice

import unetkit.viz.overlay as viz_overlay
from unetkit.inference.backends import load_predictor
from unetkit.inference.batch import OutputOptions, predict_files
from unetkit.serve.jobs import RESULT_FILES, Job, PredictorCache, RequestOptions, run_job


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


def both_overlays(model: Path, tmp_path: Path, instances: str, alpha: float) -> tuple[Path, Path, Path]:
    """(predict's overlay, serve's overlay, serve's result folder) of one slice."""
    image = tmp_path / "slice.png"
    Image.fromarray(synthetic_slice(96)).save(image)
    outputs = OutputOptions(alpha=alpha, instances=instances)
    result = predict_files(
        load_predictor(model, backend="torch"), [image], tmp_path / "predict", outputs=outputs
    )
    assert not result.failures, result.failures
    served = tmp_path / "serve"
    options = RequestOptions(alpha=alpha, instances=instances)
    run_job(PredictorCache(model), Job(str(served), image.read_bytes(), ".png", "slice.png", options))
    return tmp_path / "predict" / "overlays" / "slice.png", served / RESULT_FILES["overlay"], served


@pytest.mark.parametrize("instances", ["none", "components"])
def test_predict_and_serve_draw_the_same_overlay(
    trained_model_dir: Path, tmp_path: Path, instances: str
) -> None:
    predicted, served, folder = both_overlays(trained_model_dir, tmp_path, instances, alpha=0.3)
    np.testing.assert_array_equal(read_png(served), read_png(predicted))
    # Not trivially equal: the class colour is drawn, and with instances their outlines too.
    image, mask = read_png(folder / RESULT_FILES["input"]), read_png(folder / RESULT_FILES["mask"])
    assert (mask == 0).any() and (mask == 1).any()  # the trained model finds cells: class 1 is tinted
    plain = viz_overlay.overlay(image, mask, viz_overlay.class_palette(2), 0.3)
    if instances == "none":
        np.testing.assert_array_equal(read_png(served), plain)
    else:
        labels = read_png(folder / RESULT_FILES["instances"])
        assert labels.max() > 1
        assert not np.array_equal(read_png(served), plain)


def test_both_paths_and_the_reblend_draw_through_the_one_home(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change to prediction_overlay reaches predict, serve and serve's re-blend alike (no second copy)."""
    calls: list[tuple[float, bool]] = []
    backgrounds: list[int | None] = []

    def marked(
        image: np.ndarray,
        mask: np.ndarray,
        palette: np.ndarray,
        alpha: float = 0.5,
        labels: Any = None,
        background: int | None = 0,
    ) -> np.ndarray:
        calls.append((alpha, labels is not None))
        backgrounds.append(background)
        return np.full((*mask.shape, 3), 7, np.uint8)

    monkeypatch.setattr(viz_overlay, "prediction_overlay", marked)
    predicted, served, folder = both_overlays(model_dir, tmp_path, "components", alpha=0.4)
    assert (read_png(predicted) == 7).all() and (read_png(served) == 7).all()
    assert calls == [(0.4, True), (0.4, True)]
    pytest.importorskip("fastapi", reason="the re-blend is part of the served app")
    from unetkit.serve.app import _reblend

    classes = [{"color": "#000000"}, {"color": "#ff0000"}]
    with Image.open(io.BytesIO(_reblend(folder, 0.8, classes))) as img:
        assert (np.asarray(img) == 7).all()
    assert calls[-1] == (0.8, True)
    # Every path leaves the same class untinted (untinted_class, from the class names).
    assert len(set(backgrounds)) == 1


def test_class_0_is_tinted_unless_it_is_a_background() -> None:
    """A trial's street scenes: predicted sky (class 0, grey in its classes.csv) was left untinted, so it
    could not be told from 'no colour'. A background-like name (anywhere) is untinted, else class 0 only
    of a two-class model (ISBI's membrane/cell)."""
    from unetkit.viz.overlay import prediction_overlay, untinted_class

    assert untinted_class(["sky", "building", "road"]) is None
    assert untinted_class(["membrane", "cell"]) == 0
    assert untinted_class(["background", "aeroplane", "bicycle"]) == 0
    assert untinted_class(["no-data", "Background", "building"]) == 1
    assert untinted_class(["class_0", "class_1", "class_2"]) == 0
    image = np.full((2, 2), 100, np.uint8)
    mask = np.zeros((2, 2), np.int64)
    palette = np.array([[128, 128, 128], [255, 0, 0], [0, 255, 0]], np.uint8)
    sky = prediction_overlay(image, mask, palette, 0.5, background=untinted_class(["sky", "b", "c"]))
    assert (sky == 114).all()  # (100 + 128) / 2: tinted
    bg = prediction_overlay(image, mask, palette, 0.5, background=untinted_class(["background", "b", "c"]))
    assert (bg == 100).all()


def test_serve_tints_class_0_when_it_is_no_background(tmp_path: Path) -> None:
    import torch

    from unetkit.model_files.model_config import ModelConfig
    from unetkit.model_files.model_io import save_model
    from unetkit.models import create_model

    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "num_classes": 3, "depth": 2, "base_channels": 4}
    colours = [[128, 128, 128], [255, 0, 0], [0, 255, 0]]
    config = ModelConfig("unet", kwargs, ["sky", "road", "car"], [0.5], [0.25], class_colors=colours)
    model = save_model(create_model("unet", **kwargs), config, tmp_path / "model")
    image = tmp_path / "street.png"
    Image.fromarray(np.full((32, 32), 100, np.uint8)).save(image)
    served = tmp_path / "serve"
    run_job(
        PredictorCache(model), Job(str(served), image.read_bytes(), ".png", "street.png", RequestOptions())
    )
    mask, overlay = read_png(served / RESULT_FILES["mask"]), read_png(served / RESULT_FILES["overlay"])
    assert (mask == 0).any()
    assert (overlay[mask == 0] != 100).any(axis=-1).all()  # sky is tinted too
