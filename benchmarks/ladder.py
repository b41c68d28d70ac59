"""The lectures' accuracy ladder, measured: every model on the same data, augmentation, seed and time budget.

One command trains and scores, on ISBI 2012 and CamVid (../shared/data), K-means (clusters mapped to classes
by majority vote on the train split) and each registered model of the lectures' story, from the per-pixel
CNN to the 2015 U-Net with overlap-tile inference. Every model is trained with
:func:`unetkit.training.fit.fit` on the dataset's fixed recipe (``benchmarks/configs/isbi2012.yaml`` /
``camvid.yaml``: crops, augmentation, loss, optimiser) with the same overrides:
``trainer.max_time_minutes`` (the budget), ``trainer.max_epochs`` large (the budget is what stops
training), a constant learning rate (a schedule tied
to ``max_epochs`` would not decay within a time budget), the same seed. Widths are small so that a few
minutes of CPU training are meaningful.

All models are then scored the same way on the test split with :class:`unetkit.inference.Predictor` (one
pass over the whole image; ``unet_original`` with overlap-tile: mirrored context, tiles of the training
input size) and :func:`unetkit.metrics.score_predictions` (the scoring of ``unetkit test``/``predict``).

Usage (see benchmarks/README.md)::

    .venv/bin/python benchmarks/ladder.py                       # everything, about 1 h 50 min on 2 cores
    .venv/bin/python benchmarks/ladder.py --subset pixel_cnn,unet --datasets isbi2012 --minutes-per-model 0.2

Writes ``--out`` (default benchmarks/results/ladder): ladder.json (rows, configs, machine), ladder.md
(table), ladder_<dataset>.png (the same test image segmented by every model), runs/ (the fit run folders)
and preds/ (the figure image's predicted masks). Re-running with the same ``--out`` skips finished entries
(``--force`` redoes them).
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import logging
import math
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info, FLOPs, writing results

from unetkit.baselines.kmeans import kmeans_segment, map_clusters_to_classes
from unetkit.data.datasets import get_dataset_spec
from unetkit.data.io import read_image, read_mask
from unetkit.metrics import score_predictions
from unetkit.models.base import forward_any_size
from unetkit.training.config import Config, ModelSection, load_config

log = logging.getLogger("ladder")

DATASETS = ("isbi2012", "camvid")
DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
SMALL_VGG = [16, 32, 64, 128, 128]  # VGG16's stage widths / 4


@dataclass(frozen=True)
class Entry:
    """One rung of the ladder: a registered model (or ``kmeans``) with its small-width kwargs."""

    key: str
    model: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    label: str = ""


LADDER: tuple[Entry, ...] = (
    Entry("kmeans", "kmeans", {}, "K-means (colour)"),
    Entry("pixel_cnn", "pixel_classifier", {"hidden_channels": 32, "num_layers": 2}, "per-pixel CNN (1x1)"),
    Entry(
        "wide_cnn", "wide_cnn", {"channels": [16, 32, 32], "kernel_sizes": [7, 5, 5]}, "wide CNN (no pooling)"
    ),
    Entry(
        "fcn_reshape",
        "fcn_reshape",
        {"channels": [8, 16, 32], "hidden_features": 32},
        "encoder + dense head (reshape)",
    ),
    Entry(
        "encoder_decoder", "encoder_decoder", {"base_channels": 16, "depth": 4}, "encoder-decoder (no skips)"
    ),
    Entry("fcn32s", "fcn32s", {"encoder_channels": SMALL_VGG, "head_channels": 256}, "FCN-32s"),
    Entry("fcn16s", "fcn16s", {"encoder_channels": SMALL_VGG, "head_channels": 256}, "FCN-16s"),
    Entry("fcn8s", "fcn8s", {"encoder_channels": SMALL_VGG, "head_channels": 256}, "FCN-8s"),
    Entry("segnet", "segnet", {"channels": SMALL_VGG}, "SegNet"),
    Entry("unet", "unet", {"base_channels": 16, "depth": 4, "upsample": "transpose"}, "U-Net, transpose k2"),
    Entry(
        "unet_transpose4",
        "unet",
        {"base_channels": 16, "depth": 4, "upsample": "transpose4"},
        "U-Net, transpose k4",
    ),
    Entry(
        "unet_bilinear",
        "unet",
        {"base_channels": 16, "depth": 4, "upsample": "bilinear"},
        "U-Net, bilinear + conv",
    ),
    Entry(
        "unet_nearest",
        "unet",
        {"base_channels": 16, "depth": 4, "upsample": "nearest"},
        "U-Net, nearest + conv",
    ),
    Entry(
        "unet_noskip",
        "unet",
        {"base_channels": 16, "depth": 4, "upsample": "transpose", "skip": False},
        "U-Net without skips",
    ),
    Entry(
        "unet_original",
        "unet_original",
        {"base_channels": 16, "depth": 4},
        "U-Net 2015 (valid convs, overlap-tile)",
    ),
)
ENTRIES = {e.key: e for e in LADDER}


# ------------------------------------------------------------------------------------------------ data
@dataclass
class TestSet:
    spec: Any
    images: list[np.ndarray]  # uint8 (H, W, C)
    masks: list[np.ndarray]  # int64 (H, W), IGNORE_INDEX where ignored
    names: list[str]


def load_split(spec: Any, split: str) -> TestSet:
    images, masks, names = [], [], []
    for image_path, mask_path in spec.pairs(split):
        images.append(read_image(image_path, spec.in_channels, convert=spec.convert_channels))
        masks.append(read_mask(mask_path, spec.encoding))
        names.append(Path(image_path).stem)
    return TestSet(spec, images, masks, names)


def score(spec: Any, preds: list[np.ndarray], masks: list[np.ndarray]) -> dict[str, float]:
    """Pixel accuracy, mIoU, mean Dice (+ ISBI pixel and Rand error) over the whole split.

    :func:`unetkit.metrics.score_predictions`: the scoring of ``unetkit test`` and ``unetkit predict``.
    """
    scores = score_predictions(zip(preds, masks), spec.num_classes, isbi=bool(spec.isbi))
    return {key: float(value) for key, value in scores.items() if np.ndim(value) == 0}


# --------------------------------------------------------------------------------------------- configs
def entry_config(entry: Entry, dataset: str, args: argparse.Namespace, run_root: Path) -> tuple[Config, str]:
    """The fit config of one entry (the dataset's fixed recipe, benchmarks/configs/<dataset>.yaml, + the
    ladder's shared overrides)."""
    overrides = [
        f"data.root={(args.data_root / dataset).resolve()}",
        f"trainer.max_time_minutes={args.minutes_per_model}",
        "trainer.max_epochs=100000",
        "schedule.name=none",
        # Every rung exports its best-validation checkpoint, whatever the dataset config says.
        "evaluate.checkpoint=best",
        # One memory layout for every rung (some heads reshape NCHW features; the ISBI config may opt in).
        "trainer.channels_last=false",
        f"trainer.seed={args.seed}",
        "trainer.progress_bar=false",
        "trainer.early_stopping_patience=null",
        "trainer.accelerator=cpu" if args.cpu else "trainer.accelerator=auto",
        f"output.root={run_root}",
        f"output.name={dataset}-{entry.key}",
        "evaluate.num_figure_samples=2",
        # fit's own evaluation on the small val split only: the test split is scored below with Predictor.
        "evaluate.split=val",
    ]
    config = load_config(Path(__file__).resolve().parent / "configs" / f"{dataset}.yaml", overrides)
    note = ""
    kwargs = copy.deepcopy(entry.kwargs)
    if entry.model == "fcn_reshape":
        # The dense head fixes ONE input size, and validation/test feed whole images: train on whole images.
        spec = get_dataset_spec(dataset, root=args.data_root / dataset)
        h, w = read_image(spec.pairs("train")[0][0], spec.in_channels, convert=spec.convert_channels).shape[
            :2
        ]
        kwargs["input_size"] = [h, w]
        if list(config.data.crop_size or []) != [h, w]:
            crop = config.data.crop_size
            note = f"fixed input size: trained on whole {h}x{w} images instead of {crop} crops"
        config.data.crop_size = (h, w)
    # Replace (not merge) model.kwargs: the packaged config's U-Net kwargs do not apply to other models.
    config.model = ModelSection(name=entry.model, kwargs=kwargs)
    return config, note


# ------------------------------------------------------------------------------------------- running
def count_flops(model: torch.nn.Module, in_channels: int, height: int, width: int) -> float:
    """FLOPs (2 per multiply-add) of one forward pass on one image of the test size (with any padding)."""
    return harness.count_flops(
        model, (1, in_channels, height, width), forward=lambda x: forward_any_size(model, x)
    )


def last_step_and_epoch(run_dir: Path) -> tuple[int | None, int | None]:
    path = run_dir / "logs" / "metrics.csv"
    if not path.is_file():
        return None, None
    steps, epochs = [], []
    with path.open() as fh:
        for row in csv.DictReader(fh):
            if row.get("step"):
                steps.append(int(float(row["step"])))
            if row.get("epoch"):
                epochs.append(int(float(row["epoch"])))
    return (max(steps) + 1 if steps else None), (max(epochs) + 1 if epochs else None)


def run_kmeans(
    dataset: str, test: TestSet, args: argparse.Namespace
) -> tuple[dict[str, Any], list[np.ndarray]]:
    spec = test.spec
    # k = 2 x classes: with k = classes the majority vote maps every cluster to the dominant class (ISBI:
    # cells are 80% of the pixels, so both clusters became "cell"); darker sub-clusters then map to membrane.
    k = args.kmeans_k or 2 * spec.num_classes
    start = time.perf_counter()
    train = load_split(spec, "train")
    clusters = [kmeans_segment(img, k, seed=args.seed) for img in train.images]
    mapping = map_clusters_to_classes(clusters, train.masks, spec.num_classes, k=k)
    train_seconds = time.perf_counter() - start
    preds = [mapping[kmeans_segment(img, k, seed=args.seed)] for img in test.images]
    row = {
        "params": 0,
        "flops_per_image": None,
        "train_seconds": train_seconds,
        "steps": None,
        "epochs": None,
        "note": f"k={k} colour clusters, cluster->class by majority vote on {len(train.images)} train images",
    }
    return row, preds


def run_model(
    entry: Entry, dataset: str, test: TestSet, args: argparse.Namespace, run_root: Path
) -> tuple[dict[str, Any], list[np.ndarray]]:
    from unetkit.cli.fit import set_num_threads
    from unetkit.inference import Predictor
    from unetkit.model_files.model_io import load_model
    from unetkit.training.fit import fit

    config, note = entry_config(entry, dataset, args, run_root)
    run_dir = run_root / f"{dataset}-{entry.key}"
    if run_dir.exists():
        shutil.rmtree(run_dir)  # an unfinished earlier attempt (finished entries were skipped before)
    set_num_threads(config)  # trainer.num_threads of the packaged config (library fit leaves threads alone)
    result = fit(config)
    model, model_config = load_model(result.run_dir / "model")
    tile = None
    if int(getattr(model, "border", 0) or 0) > 0:
        # Overlap-tile: input tiles of the training input size (crop + mirrored context on each side).
        crop = config.data.crop_size
        tile = (crop[0] + 2 * model.border, crop[1] + 2 * model.border)
        note = f"overlap-tile, input tiles {tile[0]}x{tile[1]} (output {crop[0]}x{crop[1]})"
    predictor = Predictor(model, model_config, tile_size=tile, batch_size=4)
    t0 = time.perf_counter()
    preds = [predictor.predict(img)[0].astype(np.int64) for img in test.images]
    infer_seconds = time.perf_counter() - t0
    h, w = test.images[0].shape[:2]
    steps, epochs = last_step_and_epoch(result.run_dir)
    fit_scores = {k: float(v) for k, v in result.scores.items() if getattr(v, "ndim", 1) == 0}  # val split
    row = {
        "params": sum(p.numel() for p in model.parameters()),
        "flops_per_image": count_flops(model, spec_in_channels(test), h, w),
        "train_seconds": result.train_seconds,
        "steps": steps,
        "epochs": epochs,
        "test_seconds": infer_seconds,
        "fit_val_scores": fit_scores,
        "run_dir": str(result.run_dir),
        "model_kwargs": config.model.kwargs,
        "note": note,
    }
    return row, preds


def spec_in_channels(test: TestSet) -> int:
    return int(test.spec.in_channels)


# ------------------------------------------------------------------------------------------- reporting
def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _params(n: int) -> str:
    if not n:
        return "0"
    return f"{n / 1e6:.2f} M" if n >= 100_000 else f"{n / 1e3:.1f} k"


def render_markdown(result: dict[str, Any]) -> str:
    meta = result["meta"]
    lines = [
        "# Accuracy ladder",
        "",
        f"Command: `{meta['command']}`",
        "",
        f"Machine: {meta['machine']}; torch {meta['torch']}. Budget {meta['minutes_per_model']} min of "
        f"training per model (Lightning `max_time`, validation included), seed {meta['seed']}, constant "
        "learning rate, each dataset's packaged config for data, crops, augmentation, loss and optimiser. "
        "Scores on the test split, whole images through `Predictor`. FLOPs: one forward pass on one test "
        "image (2 per multiply-add, `FlopCounterMode`).",
        "",
    ]
    for dataset in meta["datasets"]:
        rows = [r for r in result["rows"] if r["dataset"] == dataset]
        if not rows:
            continue
        isbi = dataset == "isbi2012"
        head = "| model | params | GFLOP/image | train s | steps | pixel acc | mIoU | mean Dice |"
        sep = "|---|---|---|---|---|---|---|---|"
        if isbi:
            head += " pixel error | Rand error |"
            sep += "---|---|"
        head += " note |"
        sep += "---|"
        lines += [f"## {dataset}", "", head, sep]
        for r in rows:
            if r["status"] != "ok":
                lines.append(
                    f"| {r['label']} | | | | | | | | "
                    + ("| | " if isbi else "")
                    + f"{r['status']}: {r.get('reason', '')} |"
                )
                continue
            s = r["scores"]
            flops = r.get("flops_per_image")
            cells = [
                r["label"],
                _params(r["params"]),
                _f(flops / 1e9 if flops else None, 2),
                _f(r["train_seconds"], 0),
                str(r["steps"]) if r.get("steps") else "-",
                _f(s.get("pixel_accuracy")),
                _f(s.get("miou")),
                _f(s.get("mean_dice")),
            ]
            if isbi:
                cells += [_f(s.get("pixel_error")), _f(s.get("rand_error"))]
            cells.append(r.get("note", ""))
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", f"![{dataset}](ladder_{dataset}.png)", ""]
    return "\n".join(lines) + "\n"


def write_figure(result: dict[str, Any], dataset: str, out: Path, test: TestSet, index: int) -> Path | None:
    # matplotlib's object API: no global backend or pyplot state (FigureCanvasAgg renders the PNG).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from unetkit.files import atomic_path
    from unetkit.viz.overlay import class_palette, colorize_mask

    rows = [r for r in result["rows"] if r["dataset"] == dataset and r["status"] == "ok"]
    panels: list[tuple[np.ndarray, str]] = []
    image = test.images[index]
    panels.append((image[..., 0] if image.shape[-1] == 1 else image, f"Input\n{test.names[index]}"))
    palette = class_palette(test.spec.num_classes)
    panels.append((colorize_mask(test.masks[index], palette), "True mask"))
    for r in rows:
        pred_path = out / "preds" / f"{dataset}-{r['key']}.npy"
        if not pred_path.is_file():
            continue
        pred = np.load(pred_path)
        panels.append(
            (colorize_mask(pred, palette), f"{r['label']}\nmIoU {r['scores'].get('miou', float('nan')):.3f}")
        )
    if len(panels) <= 2:
        return None
    cols = min(6, len(panels))
    nrows = math.ceil(len(panels) / cols)
    h, w = image.shape[:2]
    fig = Figure(figsize=(3 * cols, 3 * nrows * h / w + 0.6 * nrows))
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (panel, title) in zip(axes.ravel(), panels):
        ax.imshow(panel, cmap="gray" if panel.ndim == 2 else None)
        ax.set_title(title, fontsize=8)
    names = list(test.spec.class_names)
    handles = [Rectangle((0, 0), 1, 1, color=np.asarray(palette[k]) / 255.0) for k in range(len(names))]
    fig.legend(handles, names, loc="lower center", ncol=min(6, len(names)), fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    path = out / f"ladder_{dataset}.png"
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90)
    return path


# ------------------------------------------------------------------------------------------------ main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--subset", default="", help=f"comma list of: {', '.join(ENTRIES)} (default: all)")
    p.add_argument("--minutes-per-model", type=float, default=3.25)
    p.add_argument("--kmeans-k", type=int, default=0, help="K-means clusters (0: 2 x number of classes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/ladder"))
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--figure-index", type=int, default=-1, help="test image shown in the figure (-1: middle)")
    p.add_argument("--force", action="store_true", help="redo entries already finished in --out")
    p.add_argument("--cpu", action="store_true", help="train on CPU even if CUDA is available")
    p.add_argument(
        "--shared-machine",
        default=None,
        help="note on the machine's load, recorded with the results (e.g. 'shared with 4 jobs'; '' = idle)",
    )
    args = p.parse_args(argv)
    args.datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    for d in args.datasets:
        if d not in DATASETS:
            p.error(f"unknown dataset {d!r}; choose from {', '.join(DATASETS)}")
    keys = [k.strip() for k in args.subset.split(",") if k.strip()] or list(ENTRIES)
    unknown = [k for k in keys if k not in ENTRIES]
    if unknown:
        p.error(f"unknown ladder entries {unknown}; choose from {', '.join(ENTRIES)}")
    args.keys = keys
    if args.minutes_per_model <= 0:
        p.error(f"--minutes-per-model must be > 0, got {args.minutes_per_model}")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "preds").mkdir(exist_ok=True)
    run_root = (out / "runs").resolve()
    json_path = out / "ladder.json"
    previous = json.loads(json_path.read_text()) if json_path.is_file() else {"rows": []}
    done = {(r["dataset"], r["key"]): r for r in previous.get("rows", []) if r.get("status") == "ok"}
    trained = sum(1 for d in args.datasets for k in args.keys if k != "kmeans" and (d, k) not in done)
    log.info(
        "ladder: %d models to train x %.2f min = about %.0f min of training (+ evaluation)",
        trained,
        args.minutes_per_model,
        trained * args.minutes_per_model,
    )
    selected = {(d, k) for d in args.datasets for k in args.keys}
    # Rows of entries not selected this time (another dataset or subset) are kept in the results.
    rows: list[dict[str, Any]] = [
        r for r in previous.get("rows", []) if (r["dataset"], r["key"]) not in selected
    ]
    result: dict[str, Any] = {"rows": rows}
    meta = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "machine": f"{harness.cpu_description()}, Python {platform.python_version()}",
        "machine_info": harness.machine_info(args.shared_machine),
        "torch": torch.__version__,
        "datasets": [d for d in DATASETS if d in args.datasets or any(r["dataset"] == d for r in rows)],
        "minutes_per_model": args.minutes_per_model,
        "seed": args.seed,
    }
    result["meta"] = meta
    for dataset in args.datasets:
        try:
            spec = get_dataset_spec(dataset, root=args.data_root / dataset)
        except ValueError as exc:
            log.warning("skipping %s: %s", dataset, exc)
            continue
        test = load_split(spec, "test")
        index = args.figure_index if args.figure_index >= 0 else len(test.images) // 2
        for key in args.keys:
            entry = ENTRIES[key]
            base = {"dataset": dataset, "key": key, "label": entry.label or key, "model": entry.model}
            if (dataset, key) in done and not args.force:
                log.info("%s / %s: done earlier, kept", dataset, key)
                rows.append(done[dataset, key])
                continue
            log.info("%s / %s: start", dataset, key)
            t0 = time.perf_counter()
            try:
                if entry.model == "kmeans":
                    row, preds = run_kmeans(dataset, test, args)
                else:
                    row, preds = run_model(entry, dataset, test, args, run_root)
            except Exception as exc:  # one failing rung must not stop a two-hour run
                log.exception("%s / %s failed", dataset, key)
                rows.append(
                    {**base, "status": "failed", "reason": f"{type(exc).__name__}: {exc}".splitlines()[0]}
                )
                continue
            row.update(base)
            row["status"] = "ok"
            row["scores"] = score(spec, preds, test.masks)
            row["wall_seconds"] = time.perf_counter() - t0
            np.save(out / "preds" / f"{dataset}-{key}.npy", preds[index].astype(np.uint8))
            rows.append(row)
            log.info("%s / %s: %s", dataset, key, {k: round(v, 4) for k, v in row["scores"].items()})
            _save(result, out, json_path)
        _save(result, out, json_path)
        write_figure(result, dataset, out, test, index)
    _save(result, out, json_path)
    log.info("wrote %s, %s", json_path, out / "ladder.md")
    return result


def _save(result: dict[str, Any], out: Path, json_path: Path) -> None:
    harness.write_results(out, json_path.stem, result, render_markdown(result))


if __name__ == "__main__":
    main()
