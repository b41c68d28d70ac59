"""`unetkit demo` (the README's main job) end to end on tiny settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from unetkit.cli import kmeans as kmeans_cli
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
    # The run is named as --out: its figures' titles and config.yaml (a trial's slide read "run
    # .demo.partial-o9mkxc5p"), and no text file names the staging folder, gone by then.
    saved = yaml.safe_load((out / "config.yaml").read_text())["output"]
    assert (saved["root"], saved["name"]) == (str(tmp_path), "demo")
    assert json.loads((out / "predictions" / "metrics.json").read_text())["engine_model"] == str(out)
    texts = {f: f.read_text() for kind in ("*.yaml", "*.json", "*.csv", "*.md") for f in out.rglob(kind)}
    assert len(texts) > 5 and [f for f, text in texts.items() if ".demo.partial" in text] == []
    printed, logged = capsys.readouterr()
    assert printed.count("| round |") == 3  # class names in the test, predict and K-means tables
    # The baseline's score maps clusters on the masks it scores (trial 20): said on its step line and table.
    step = next(line for line in printed.splitlines() if line.startswith("[3/4]"))
    assert "optimistic: clusters are mapped to classes on the scored masks" in step
    assert printed.count("optimistic: clusters are mapped") == 2
    # Every line names the paths the demo has once done, never its staging folder (gone by then).
    assert ".demo.partial" not in printed + logged and f"outputs in {out / 'predictions'}" in printed
    first_metrics = (out / "metrics_test.json").stat().st_mtime_ns
    marker = out / "from_the_first_demo.txt"
    marker.write_text("first")

    # A demo that fails before completing (here: its K-means step) leaves the previous demo untouched.
    with monkeypatch.context() as patched:
        patched.setattr(kmeans_cli, "run", lambda args: 2)
        assert cli_main(args) == 2
    assert marker.read_text() == "first"
    assert (out / "metrics_test.json").stat().st_mtime_ns == first_metrics
    assert not list(tmp_path.glob(".demo.*")), "a failed demo must remove its staging folder"

    # Stopped by a signal during training, it names no resume of its removed staging folder.
    def stopped(*args: object, **kwargs: object) -> None:
        exc = KeyboardInterrupt("training interrupted; resume with: unetkit fit --resume STAGING")
        exc.exit_code = 143  # type: ignore[attr-defined]
        raise exc

    import unetkit.training.fit as training_fit

    with monkeypatch.context() as patched:
        patched.setattr(training_fit, "fit", stopped)
        assert cli_main(args) == 143
    err = capsys.readouterr().err
    assert "--resume" not in err and f"nothing was kept ({out} is as it was); run it again" in err
    assert marker.read_text() == "first" and not list(tmp_path.glob(".demo.*"))

    # A complete second demo replaces the first one as a whole (started within the same second as the failed
    # one: staging names must not collide).
    assert cli_main(args) == 0
    assert not marker.exists(), "the first demo's folder must be replaced, not merged into"
    assert (out / "metrics_test.json").stat().st_mtime_ns != first_metrics
    assert (out / "kmeans" / "metrics.json").is_file() and (out / "model" / "config.json").is_file()
    assert not list(tmp_path.glob(".demo.*")), "the new staging folder was renamed to --out"
