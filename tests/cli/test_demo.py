"""`unetkit demo` (the README's main job) end to end on tiny settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from unetkit.cli.main import main as cli_main


def test_demo_writes_model_metrics_predictions_and_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UNETKIT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "demo"
    args = [
        "demo", "--out", str(out),
        "data.options={num_images: 10, size: [40, 40]}", "data.crop_size=32", "data.batch_size=4",
        "model.kwargs={base_channels: 4, depth: 2}", "trainer.max_epochs=1", "trainer.progress_bar=false",
        "trainer.num_threads=1", "evaluate.num_figure_samples=1",
    ]  # fmt: skip
    assert cli_main(args) == 0
    for rel in ("model/model.safetensors", "metrics_test.json", "figures/curves.png",
                "figures/predictions_test.png", "predictions/summary.csv", "predictions/metrics.json",
                "kmeans/metrics.json"):  # fmt: skip
        assert (out / rel).is_file(), rel
    assert not list(tmp_path.glob(".demo.partial-*")), "the staging folder must be renamed to --out"
    printed = capsys.readouterr().out
    assert printed.count("| round |") == 3  # class names in the test, predict and K-means tables
    # A second demo replaces the first one.
    assert cli_main(args) == 0 and (out / "model" / "config.json").is_file()
