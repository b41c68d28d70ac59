"""``unetkit kmeans``: cluster masks, mapping to classes and metrics against ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unetkit.cli.main import main


def test_kmeans_cli_with_masks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images, gt, out = tmp_path / "images", tmp_path / "gt", tmp_path / "out"
    images.mkdir()
    gt.mkdir()
    for i in range(2):
        truth = np.zeros((20, 30), dtype=np.uint8)
        truth[4 + i : 15, 6 : 20 + i] = 1
        rgb = np.where(truth[..., None] == 1, [250, 200, 0], [10, 20, 120]).astype(np.uint8)
        Image.fromarray(rgb).save(images / f"im{i}.png")
        Image.fromarray(truth).save(gt / f"im{i}.png")
    args = ["kmeans", str(images), "--k", "2", "--out", str(out), "--masks", str(gt), "--num-classes", "2"]
    code = main([*args, "--class-names", "bg", "fg", "-q"])
    assert code == 0
    assert "| fg | 1.0000 | 1.0000 |" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["miou"] == 1.0 and metrics["mapping"] == [0, 1]  # clusters by brightness: dark bg = 0
    np.testing.assert_array_equal(
        np.asarray(Image.open(out / "masks" / "im1.png")), np.asarray(Image.open(gt / "im1.png"))
    )
    assert (out / "overlays" / "im0.png").is_file()


def test_kmeans_clusters_a_16bit_image_on_its_own_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Object 1010, background 1000 (of 65535): >> 8 reads both as 3 and leaves nothing to cluster.
    images, gt, out = tmp_path / "images", tmp_path / "gt", tmp_path / "out"
    truth = np.zeros((20, 30), dtype=np.uint8)
    truth[4:15, 6:20] = 1
    for folder, array in ((images, 1000 + 10 * truth.astype(np.uint16)), (gt, truth)):
        folder.mkdir()
        Image.fromarray(array).save(folder / "deep.png")
    args = ["kmeans", str(images), "--k", "2", "--out", str(out), "--masks", str(gt), "--num-classes", "2"]
    assert main([*args, "-q"]) == 0
    assert json.loads((out / "metrics.json").read_text())["miou"] == 1.0


def test_kmeans_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "a.png")
    assert (
        main(
            ["kmeans", str(tmp_path / "a.png"), "--k", "2", "--out", str(tmp_path), "--masks", str(tmp_path)]
        )
        == 2
    )
    assert "--num-classes" in capsys.readouterr().err
