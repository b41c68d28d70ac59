"""benchmarks/instances.py end to end on a tiny DSB2018-like folder: selection on val only, test scored once,
the JSON/Markdown/figure, run records (train seconds, command, parameters)."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from unetkit.inference import instance_predictor as ip
from unetkit.model_files.model_config import ModelConfig

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "instances.py"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> Any:
    import torch

    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # the script's process-wide setting
    spec = importlib.util.spec_from_file_location("_bench_instances", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def disc(shape: tuple[int, int], center: tuple[int, int], radius: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2


def write_dataset(root: Path, splits: tuple[str, ...] = ("val", "test")) -> None:
    """4 images per split (40x48 RGB): round nuclei (value 240), a touching pair, and in val only dim
    12-px specks (value 150) that are no nuclei. Test image t2 has the most nuclei."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    shape = (40, 48)
    for split in splits:
        ids = [f"{ {'train': 'r', 'val': 'v', 'test': 't'}[split] }{i}" for i in range(4)]
        (root / f"{split}.txt").write_text("\n".join(ids) + "\n")
        for i, sample_id in enumerate(ids):
            centers = [(8, 8 + (i if split == "train" else 0)), (30, 10)]
            centers += [(30, 30)] if sample_id in ("t2", "r1", "r3") else []
            labels = np.zeros(shape, dtype=np.uint16)
            for k, c in enumerate(centers, start=1):
                labels[disc(shape, c, 4.5)] = k
            # A touching pair: two discs whose centres are 7 px apart, split down the middle (mirror
            # images of each other, so the merged object has IoU exactly 0.5 with each: no match).
            pair = disc(shape, (12, 28), 4.5) | disc(shape, (12, 35), 4.5)
            xx = np.broadcast_to(np.arange(shape[1]), shape)
            labels[pair & (xx < 32)] = len(centers) + 1
            labels[pair & (xx >= 32)] = len(centers) + 2
            image = np.full((*shape, 3), 20, dtype=np.uint8)
            image[labels > 0] = 240
            if split == "val":
                image[34:37, 40 - i : 44 - i] = 150  # a dim speck, not a nucleus
            Image.fromarray(image).save(root / "images" / f"{sample_id}.png")
            Image.fromarray(labels).save(root / "labels" / f"{sample_id}.png")
    if "train" not in splits:
        (root / "train.txt").write_text("")


class ThresholdPredictor:
    """A semantic 'model': class 1 where the red channel is above 127 (nuclei and specks alike)."""

    def __init__(self) -> None:
        self.config = ModelConfig("unet", {"in_channels": 3, "num_classes": 2}, ["bg", "nucleus"], [0.5] * 3,
                                  [0.25] * 3)  # fmt: skip
        self.calls = 0

    def predict(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        mask = (image[..., 0] > 127).astype(np.uint8)
        return mask, np.stack([1.0 - mask, mask]).astype(np.float32)


class FakeDetector:
    """Mask R-CNN stand-in: one instance per bright blob, scored by its mean brightness / 255."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def predict_instances(
        self, image: np.ndarray, score_threshold: float = 0.5, mask_threshold: float = 0.5
    ) -> np.ndarray:
        from scipy import ndimage as ndi

        self.calls.append(score_threshold)
        blobs, n = ndi.label(image[..., 0] > 127)
        out = np.zeros(image.shape[:2], dtype=np.int32)
        for k in range(1, n + 1):
            if image[..., 0][blobs == k].mean() / 255.0 >= score_threshold:
                out[blobs == k] = k
        return out


def make_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bench: Any) -> tuple[dict[str, Path], dict]:
    import torch

    from unetkit.model_files.model_io import save_model
    from unetkit.models import create_model

    made: dict[str, Any] = {"stubs": [], "detectors": []}
    semantic = tmp_path / "stub_semantic"  # stands for a trained semantic U-Net run
    semantic.mkdir()
    (semantic / "plan.yaml").write_text(
        "# overridden on the command line: trainer.seed=1\n# unetkit fit /data/dsb --time 30m --device cpu: "
        "planned in 3.1s\ntrainer:\n  max_epochs: 3\n"
    )
    # A real (untrained) 3-class boundary U-Net run: the real loading path, params and train.json.
    boundary = tmp_path / "boundary_run"
    torch.manual_seed(0)
    kwargs = {"in_channels": 3, "num_classes": 3, "depth": 2, "base_channels": 4}
    extra = {"instance_method": "boundary", "instance_classes": [1, 2], "instance_target": "boundary"}
    model = create_model("unet", **kwargs)
    config = ModelConfig("unet", kwargs, ["background", "interior", "boundary"], [0.5] * 3, [0.25] * 3,
                         extra=extra)  # fmt: skip
    save_model(model, config, boundary / "model")
    (boundary / "train.json").write_text(json.dumps({"train_seconds": 12.5, "resumed": False}))
    made["boundary_params"] = sum(p.numel() for p in model.parameters())
    # A Mask R-CNN run folder whose loader is the stand-in.
    mrcnn = tmp_path / "mrcnn_run"
    (mrcnn / "model").mkdir(parents=True)
    (mrcnn / "model" / "config.json").write_text(json.dumps({"architecture": "maskrcnn"}))
    (mrcnn / "maskrcnn_train.json").write_text(
        json.dumps({"train_seconds": 99.0, "command": "unetkit fit-maskrcnn X"})
    )

    def load_detector(model_dir: Path) -> FakeDetector:
        made["detectors"].append(FakeDetector())
        return made["detectors"][-1]

    module = types.ModuleType("fake_maskrcnn_bench")
    module.load_maskrcnn_predictor = load_detector  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(ip, "MASKRCNN_LOADER", (module.__name__, "load_maskrcnn_predictor"))
    real_load = bench.load_instance_predictor

    def load(path: Path, method: str, **kw: Any) -> Any:
        if Path(path).name.startswith("stub"):
            made["stubs"].append(ThresholdPredictor())
            return ip.instance_predictor_for(made["stubs"][-1], method)
        return real_load(path, method, **kw)

    monkeypatch.setattr(bench, "load_instance_predictor", load)
    runs = {"components": semantic, "watershed": semantic, "boundary": boundary, "maskrcnn": mrcnn}
    return runs, made


def test_benchmark_selects_on_val_scores_test_once_and_writes_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bench: Any
) -> None:
    data = tmp_path / "dsb"
    write_dataset(data)
    runs, made = make_runs(tmp_path, monkeypatch, bench)
    out = tmp_path / "results"
    argv = [f"--run={m}={p}" for m, p in runs.items()] + ["--data", str(data), "--out", str(out)]
    result = bench.main([*argv, "--budget", "tiny test"], log=lambda line: None)

    saved = json.loads((out / "dsb2018.json").read_text())
    assert saved["methods"].keys() == runs.keys() and saved["budget"] == "tiny test"
    assert saved["images"] == {"val": 4, "test": 4} and "cpu_flags" in saved["machine"]
    assert "--run=components=" in saved["command"]
    for name, row in saved["methods"].items():
        expected_keys = {"ap50", "ap75", "map", "seg", "splits", "merges", "params", "train_seconds"}
        assert expected_keys | {"selected", "val", "train_command"} <= set(row), name
    comp, ws, bnd, mr = (saved["methods"][k] for k in ("components", "watershed", "boundary", "maskrcnn"))
    # Selection on val only: the val specks (12 px) are dropped by min_size 20 (the smallest that does);
    # the test images have no specks, so a selection on test would have kept min_size 0.
    assert comp["selected"] == {"min_size": 20} and comp["val"]["map"] > comp["val_grid"][0]["map"]
    assert mr["selected"] == {"score_threshold": 0.3, "min_size": 20}  # first of the tied best values
    assert set(ws["selected"]) == {"min_distance", "min_size"}
    # Test scored once: each stub predicted the 4 val images once (post-processing re-run per grid value)
    # and the 4 test images once; Mask R-CNN predicted val once per score threshold, then test once.
    assert [s.calls for s in made["stubs"]] == [8, 8]
    assert sorted(made["detectors"][0].calls) == sorted([0.3] * 8 + [0.5] * 4 + [0.7] * 4)
    # On test, components merge the touching pair (TP = the lone nuclei, FP 1, FN 2); the watershed splits it.
    assert comp["merges"] == 4 and ws["merges"] == 0 and ws["ap50"] == 1.0 and comp["ap50"] < 1.0
    assert comp["ap50"] == pytest.approx(np.mean([2 / 5, 2 / 5, 3 / 6, 2 / 5]))
    # Run records.
    assert comp["train_command"] == "unetkit fit /data/dsb --time 30m --device cpu trainer.seed=1"
    assert comp["train_seconds"] is None and comp["params"] is None  # the stub has no torch model
    assert bnd["train_seconds"] == 12.5 and bnd["params"] == made["boundary_params"]
    assert bnd["selected"].keys() == {"min_size"} and bnd["method_params"]["foreground"] == [1, 2]
    assert mr["train_seconds"] == 99.0 and mr["train_command"] == "unetkit fit-maskrcnn X"
    # Figure: the test image with the most nuclei, one panel per method plus truth.
    assert saved["figure_image"] == "t2" and (out / "dsb2018.png").is_file()
    md = (out / "dsb2018.md").read_text()
    assert "| method | AP50 | AP75 | mAP | SEG | params | train s |" in md
    assert f"| boundary | {bnd['ap50']:.3f} |" in md and "| 12 |" in md and "![comparison](dsb2018.png)" in md
    assert result["methods"]["components"]["ap50"] == comp["ap50"]


def test_run_arguments_are_checked(bench: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="write METHOD=RUN_DIR"):
        bench.parse_runs(["components"])
    with pytest.raises(ValueError, match="watershd"):
        bench.parse_runs([f"watershd={tmp_path}"])
    with pytest.raises(ValueError, match="does not exist"):
        bench.parse_runs([f"components={tmp_path / 'nope'}"])
    with pytest.raises(ValueError, match="given twice"):
        bench.parse_runs([f"components={tmp_path}", f"components={tmp_path}"])


@pytest.mark.slow
def test_end_to_end_with_tiny_trained_runs(
    tmp_path: Path, bench: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """``unetkit fit DIR --target boundary`` (tiny), ``unetkit test`` scores its instances, ``predict
    --instances auto`` picks boundary, and the benchmark reads the run (train seconds, parameters)."""
    from unetkit.cli.main import main

    data = tmp_path / "dsb"
    write_dataset(data, ("train", "val", "test"))
    runs = tmp_path / "runs"
    tiny = ["trainer.max_epochs=1", "model.kwargs.base_channels=4", "data.repeat=1", "evaluate.tta=false"]
    fast = ["--threads", "1", "--measure-limit", "2", f"output.root={runs}", "output.name=b"]
    argv = ["fit", str(data), "--time", "0.2m", "--target", "boundary", "--mask-kind", "instances", *fast]
    assert main([*argv, *tiny]) == 0
    run = runs / "b"
    record = json.loads((run / "train.json").read_text())
    assert record["train_seconds"] > 0 and record["resumed"] is False
    assert record["command"].startswith("unetkit fit ") and "--target boundary" in record["command"]
    metrics = json.loads((run / "metrics_test.json").read_text())
    assert metrics["instances/method"] == "boundary" and 0.0 <= metrics["instances/map"] <= 1.0
    assert main(["test", str(run)]) == 0
    assert "instances (boundary" in capsys.readouterr().out
    out = tmp_path / "pred"
    assert (
        main(["predict", str(run), str(data / "images" / "t0.png"), "--out", str(out), "--instances", "auto"])
        == 0
    )
    assert "instances: boundary" in capsys.readouterr().out and (out / "instances" / "t0.png").is_file()
    result = bench.main(
        [
            f"--run=boundary={run}",
            f"--run=watershed={run}",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "r"),
        ],
        log=lambda line: None,
    )
    row = result["methods"]["boundary"]
    assert row["train_seconds"] == record["train_seconds"] and row["params"] > 0
    assert row["train_command"].startswith("unetkit fit ") and (tmp_path / "r" / "dsb2018.png").is_file()
