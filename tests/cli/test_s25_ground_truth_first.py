"""Trial 24 (a GIS analyst with colour masks and large scenes): a model folder or export folder shipped
without its run scores colour ground truth as the run read it (the mask encoding its config.json
records); ground truth that does not fit fails the image before any tile runs; the ground truth is held
compactly and scored in blocks of rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_models import three_images, tiny_unet
from PIL import Image
from tests.inference.test_s25_probability_memory import Counting

import unetkit.metrics.scoring as scoring
from unetkit.cli.main import main
from unetkit.data.io import MaskEncoding
from unetkit.data.mask_options import encoding_from_record, encoding_record
from unetkit.inference.batch import GroundTruth, OutputOptions, compact_classes, predict_files
from unetkit.metrics.scoring import ScoreAccumulator
from unetkit.model_files.model_config import MASK_ENCODING

PALETTE = MaskEncoding("palette", 2, colors={0: (0, 0, 0), 1: (250, 50, 10)}, ignore_colors=((9, 9, 9),))


@pytest.mark.parametrize(
    "encoding",
    [
        PALETTE,
        MaskEncoding("remap", 3, mapping={0: 0, 10: 1, 20: 2, 99: 255}),
        MaskEncoding("index", 12, ignore_values=(11,)),
        MaskEncoding("binary", 2),
        MaskEncoding("instances", 3, instance_target="boundary", instance_params={"radius": 2}),
    ],
)
def test_the_mask_encoding_record_reads_back_through_json(encoding: MaskEncoding) -> None:
    back = encoding_from_record(json.loads(json.dumps(encoding_record(encoding))))
    assert back == encoding


def test_no_or_a_broken_record_is_none() -> None:
    assert encoding_from_record(None) is None
    assert encoding_from_record({"kind": "palette"}) is None  # no class count
    assert encoding_from_record({"kind": "palette", "num_classes": 2, "colors": {"x": [1, 2, 3]}}) is None


def test_fit_records_how_it_read_the_masks(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from unetkit.training.config import Config
    from unetkit.training.fit import build_model_config

    spec = SimpleNamespace(
        name="t", in_channels=1, num_classes=2, encoding=PALETTE, class_names=["bg", "cell"], mean=[0.5],
        std=[0.25], intensity_window=None, class_colors=[(0, 0, 0), (250, 50, 10)], convert_channels=False,
    )  # fmt: skip
    config = build_model_config(Config(), spec)  # type: ignore[arg-type]
    assert encoding_from_record(config.extra[MASK_ENCODING]) == PALETTE


def _colour_truth(folder: Path, images: Path) -> Path:
    """Colour masks of ``images``: their bright square in the cell colour, the rest black."""
    folder.mkdir()
    for path in sorted(images.iterdir()):
        gray = np.asarray(Image.open(path))
        rgb = np.zeros((*gray.shape, 3), np.uint8)
        rgb[gray > 200] = (250, 50, 10)
        Image.fromarray(rgb).save(folder / path.name)
    return folder


def test_a_model_folder_alone_scores_colour_masks_as_its_run_read_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = three_images(tmp_path / "images")
    truth = _colour_truth(tmp_path / "truth", images)
    model = tiny_unet(tmp_path / "shipped", extra={MASK_ENCODING: encoding_record(PALETTE)})
    argv = ["predict", str(model), str(images), "--masks", str(truth), "--tta", "none"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "ground truth read as the model's run read its masks (its config.json): " in err
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["images"] == 3
    # A model from before the record: the colour masks are refused, naming the way out, as before.
    old = tiny_unet(tmp_path / "old")
    assert main(["predict", str(old), str(images), "--masks", str(truth), "--out", str(tmp_path / "o2")]) == 2
    assert "colour masks are read by their colours only as the run that trained" in capsys.readouterr().err


def test_ground_truth_that_does_not_fit_fails_before_any_tile(tmp_path: Path) -> None:
    image = np.random.default_rng(0).integers(0, 256, (40, 30), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "scene.png")
    (tmp_path / "truth").mkdir()
    Image.fromarray(np.zeros((39, 30), np.uint8)).save(tmp_path / "truth" / "scene.png")  # a row short
    Counting.batches = 0
    result = predict_files(
        Counting(2, channels=1, tile_size=16),
        [tmp_path / "scene.png"],
        tmp_path / "out",
        ground_truth=GroundTruth(tmp_path / "truth", MaskEncoding("index", 2)),
        outputs=OutputOptions(overlay=False),
    )
    assert len(result.failures) == 1 and "30x39" in str(result.failures[0][1])
    assert Counting.batches == 0  # no tile ran for an image whose truth was refused


def test_ground_truth_is_held_compact_and_scored_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    target = np.array([[0, 1, 255], [11, 2, 0]], dtype=np.int64)
    assert compact_classes(target).dtype == np.uint8 and compact_classes(target + 300).dtype == np.uint16
    rng = np.random.default_rng(1)
    pred = rng.integers(0, 4, (37, 23))
    truth = rng.integers(0, 4, (37, 23))
    truth[::5] = 255
    whole = ScoreAccumulator(4)
    whole.update(pred, truth)
    monkeypatch.setattr(scoring, "SCORE_BLOCK_PIXELS", 50)  # two rows a block
    blocks = ScoreAccumulator(4)
    blocks.update(pred.astype(np.uint8), compact_classes(truth))
    np.testing.assert_array_equal(blocks.confmat, whole.confmat)
    with pytest.raises(ValueError, match=r"Shape mismatch: preds \(37, 23\) and target \(36, 23\)"):
        blocks.update(pred, truth[:-1])
