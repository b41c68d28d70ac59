"""Instance segmentation on DSB2018 nuclei, measured: each method's trained run, its post-processing chosen on
the validation split only, then the 66 test images scored once.

One command, from runs already trained (``unetkit fit DIR --target ... --time 30m``, ``unetkit fit-maskrcnn
DIR --time 30m``)::

    .venv/bin/python benchmarks/instances.py \\
        --run components=runs/dsb-semantic --run watershed=runs/dsb-semantic \\
        --run boundary=runs/dsb-boundary --run energy=runs/dsb-energy --run maskrcnn=runs/dsb-maskrcnn \\
        [--data ../shared/data/dsb2018] [--budget "30 min of training per run"]

Each ``--run METHOD=RUN_DIR`` names an instance method (``unetkit predict --instances METHOD``: components,
watershed, boundary, energy, maskrcnn, any registered one) and the run folder (or model folder) whose model
it splits; one run may serve several methods (components and watershed of one semantic U-Net). All go
through :func:`unetkit.inference.instance_predictor.load_instance_predictor`, the interface of ``unetkit
predict --instances``.

* **Selection, on val only**: ``min_size`` over a small grid for every method, ``min_distance`` for
  watershed, ``score_threshold`` for Mask R-CNN; the values with the best val mAP win (ties: the first in
  grid order, i.e. the smallest values). A semantic model predicts each val image once; the grid re-runs
  only the post-processing on its (mask, probabilities). Mask R-CNN predicts val once per score threshold.
* **Test, once**: the 66 test images predicted with the chosen values and scored with
  :class:`unetkit.metrics.instance.InstanceScoreAccumulator`: AP at IoU 0.5 and 0.75 and their mean over
  0.5:0.05:0.95 (TP / (TP + FP + FN) per image, averaged over images as DSB2018 did), SEG (Cell Tracking
  Challenge, pooled over true nuclei), splits and merges.
* ``params``: the model's parameter count; ``train_seconds``: the run's ``train.json`` (written by
  ``unetkit fit``; other JSON files of the run holding ``train_seconds`` are read too); ``train_command``:
  the run's recorded command (``train.json`` ``command``, else the ``unetkit fit`` line of ``plan.yaml``).
* The figure: one test image segmented by every method, instance outlines in distinct colours. The image
  is chosen by a rule that looks at no prediction: of the test images up to 400 px a side, the one with the
  most true nuclei (first in ``test.txt`` on a tie).

Writes ``benchmarks/results/instances/dsb2018.json`` + ``.md`` + ``dsb2018.png`` (``--out``, ``--name``).
Images are read with the model's channel count (gray <-> RGB converted; DSB2018's RGBA has opaque alpha).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info, writing results

from unetkit.data.folder import read_list_file
from unetkit.data.instances import read_label_image
from unetkit.data.io import read_image
from unetkit.inference.instance_predictor import (
    InstancePredictor,
    list_instance_predictor_methods,
    load_instance_predictor,
)
from unetkit.inference.instance_selection import (
    MIN_DISTANCES,
    MIN_SIZES,
    SCORE_THRESHOLDS,
    select_postprocessing,
)
from unetkit.inference.instance_selection import summary as _summary
from unetkit.metrics.instance import InstanceScoreAccumulator
from unetkit.options import look_up_option
from unetkit.viz.instances import plot_instance_comparison

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "dsb2018"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "instances"
FIGURE_MAX_SIDE = 400


# ------------------------------------------------------------------------------------------ run folders
def parse_runs(items: Sequence[str]) -> dict[str, Path]:
    """``["components=RUN", ...]`` -> {method: path}; methods as ``predict --instances`` names them."""
    runs: dict[str, Path] = {}
    methods = [m for m in list_instance_predictor_methods() if m != "auto"]
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--run {item!r}: write METHOD=RUN_DIR, e.g. --run components=runs/dsb-semantic")
        method = look_up_option(name.strip(), methods, "instance method")
        if method in runs:
            raise ValueError(f"--run {item!r}: method {method!r} is given twice")
        if not Path(path).exists():
            raise ValueError(f"--run {item!r}: {path} does not exist; pass a run folder or a model folder")
        runs[method] = Path(path)
    if not runs:
        raise ValueError("no --run METHOD=RUN_DIR given; name at least one trained run")
    return runs


def _run_jsons(run: Path) -> Iterator[dict[str, Any]]:
    for path in [run / "train.json", *sorted(run.glob("*.json")), *sorted((run / "model").glob("*.json"))]:
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(data, dict):
                yield data


def train_seconds(run: Path) -> float | None:
    """Training wall-clock seconds the run recorded (``train.json``, or any JSON of the run with a top-level
    ``train_seconds``), or None when it recorded none."""
    for data in _run_jsons(run):
        if isinstance(data.get("train_seconds"), (int, float)):
            return float(data["train_seconds"])
    return None


def train_command(run: Path) -> str | None:
    """The command that trained the run: ``command`` of its JSON records, else the ``unetkit fit DIR ...``
    line of its ``plan.yaml`` (plus the overrides noted there), else None."""
    for data in _run_jsons(run):
        for key in ("command", "train_command"):
            if isinstance(data.get(key), str):
                return str(data[key])
    plan = run / "plan.yaml"
    if plan.is_file():
        text = plan.read_text()
        found = re.search(r"(unetkit fit \S+.*?): planned in", text)
        if found:
            extra = re.search(r"^# overridden on the command line: (.+)$", text, flags=re.M)
            return found.group(1) + (f" {extra.group(1)}" if extra else "")
    return None


# ------------------------------------------------------------------------------------------------- data
def read_split(data: Path, split: str, limit: int | None = None) -> list[str]:
    ids = read_list_file(data / f"{split}.txt")
    return ids[:limit] if limit else ids


def load_sample(data: Path, sample_id: str, channels: int) -> tuple[Any, Any]:
    """(image uint8 (H, W, C) with the model's C, true labels int32 (H, W)); sizes checked."""
    image = read_image(data / "images" / f"{sample_id}.png", channels, convert=True)
    labels = read_label_image(data / "labels" / f"{sample_id}.png", image.shape[:2])
    return image, labels


def figure_image(data: Path, test_ids: Sequence[str]) -> str | None:
    """The test image of the figure, chosen without any prediction: of the images up to FIGURE_MAX_SIDE px a
    side, the one with the most true nuclei (the first in ``test.txt`` on a tie)."""
    import numpy as np

    best: tuple[int, str | None] = (-1, None)
    for sample_id in test_ids:
        labels = read_label_image(data / "labels" / f"{sample_id}.png")
        if max(labels.shape) > FIGURE_MAX_SIDE:
            continue
        count = int(np.count_nonzero(np.bincount(labels.ravel())[1:]))
        if count > best[0]:
            best = (count, sample_id)
    return best[1]


# ------------------------------------------------------------------------------------------- selection
def select_on_val(
    predictor: InstancePredictor, data: Path, val_ids: Sequence[str]
) -> tuple[dict[str, Any], list[dict[str, Any]], float]:
    """Score every candidate on val (:func:`unetkit.inference.instance_selection.select_postprocessing`, the
    rule ``unetkit fit`` records in a model); returns (best values, the grid with each val score, seconds)."""
    chosen = select_postprocessing(predictor, val_ids, lambda i: load_sample(data, i, predictor.in_channels))
    return chosen.values, chosen.rows, chosen.seconds


def score_test(
    predictor: InstancePredictor, data: Path, test_ids: Sequence[str], keep: str | None
) -> tuple[dict[str, Any], Any, float]:
    """Predict and score every test image once; returns (scores, labels of image ``keep``, seconds)."""
    start = time.perf_counter()
    acc = InstanceScoreAccumulator()
    kept = None
    for sample_id in test_ids:
        image, true = load_sample(data, sample_id, predictor.in_channels)
        labels, _ = predictor.predict_instances(image)
        acc.update(true, labels)
        if sample_id == keep:
            kept = labels
    return acc.compute(), kept, time.perf_counter() - start


# ------------------------------------------------------------------------------------------------ report
def _cell(value: Any, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def markdown(result: dict[str, Any]) -> str:
    rows = result["methods"]
    machine = result["machine"]
    lines = [
        f"# Instance segmentation on DSB2018 nuclei: {result['images']['test']} test images",
        "",
        "Post-processing of each method chosen on the validation split only (best val mAP), then the test "
        "split predicted and scored once. AP: TP / (TP + FP + FN), one-to-one matching with IoU > t, per "
        "image, mean over images (DSB2018); mAP over t = 0.5:0.05:0.95; SEG pooled over reference nuclei "
        f"(Cell Tracking Challenge). Budget: {result['budget']}.",
        "",
        f"Command: `{result['command']}`",
        "",
        "| method | AP50 | AP75 | mAP | SEG | params | train s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['ap50']:.3f} | {r['ap75']:.3f} | {r['map']:.3f} | {r['seg']:.3f} | "
            f"{_cell(r['params'], ',')} | {_cell(r['train_seconds'], '.0f')} |"
        )
    lines += [
        "",
        "| method | selected on val | val mAP | splits | merges | objects (true / pred) | run |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for name, r in rows.items():
        chosen = ", ".join(f"{k} {v}" for k, v in r["selected"].items())
        lines.append(
            f"| {name} | {chosen} | {r['val']['map']:.3f} | {r['splits']} | {r['merges']} | "
            f"{r['n_true']} / {r['n_pred']} | `{r['run']}` |"
        )
    lines += ["", "Training commands:", ""]
    lines += [f"- {name}: `{r['train_command'] or 'not recorded'}`" for name, r in rows.items()]
    lines += [
        "",
        f"Machine: {machine['cpu_model']}, {machine['cpu_count']} CPUs ({machine['shared_machine']}), torch "
        f"threads {machine['torch_threads']}; CPU flags in the JSON. torch {machine['torch']}, numpy "
        f"{machine['numpy']}, python {machine['python']}, {machine['date_utc']}.",
    ]
    if result.get("figure"):
        lines += [
            "",
            f"![comparison]({result['figure']}) (test image `{result['figure_image']}`: "
            f"{result['figure_rule']})",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", action="append", default=[], metavar="METHOD=RUN_DIR", help="repeat per method")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="DSB2018 folder (images/, labels/, *.txt)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--name", default="dsb2018", help="result file names (NAME.json, .md, .png)")
    p.add_argument(
        "--budget", default="30 min of training per run on the machine below (unetkit fit DIR --time 30m)",
        help="the training budget, recorded as given",
    )  # fmt: skip
    p.add_argument("--shared", default="shared with 2 other helpers", help="load note for machine_info")
    p.add_argument("--device", default="cpu", help="torch device of the models")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: a shared machine)")
    p.add_argument("--limit", type=int, default=None, help="first N ids of each split (smoke tests only)")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)  # this script owns its process
    runs = parse_runs(args.run)
    val_ids = read_split(args.data, "val", args.limit)
    test_ids = read_split(args.data, "test", args.limit)
    shown = figure_image(args.data, test_ids)
    rows: dict[str, dict[str, Any]] = {}
    panels: list[tuple[str, Any]] = []
    for method, run in runs.items():
        log(f"{method}: loading {run}")
        predictor = load_instance_predictor(run, method, device=args.device)
        selected, grid, val_seconds = select_on_val(predictor, args.data, val_ids)
        chosen = predictor.with_params(**selected)
        val = next(r for r in grid if r["values"] == selected)
        log(f"{method}: selected {selected} on val (mAP {val['map']:.3f}, {val_seconds:.0f} s); scoring test")
        scores, labels, test_seconds = score_test(chosen, args.data, test_ids, shown)
        rows[method] = {
            **_summary(scores),
            "params": predictor.num_parameters(),
            "train_seconds": train_seconds(run),
            "selected": selected,
            "val": {k: v for k, v in val.items() if k != "values"},
            "val_grid": grid,
            "train_command": train_command(run),
            "run": str(run),
            "method_params": chosen.params,
            "ap_per_threshold": {k: round(v, 4) for k, v in scores["ap_per_threshold"].items()},
            "select_seconds": round(val_seconds, 1),
            "test_seconds": round(test_seconds, 1),
        }
        if labels is not None:
            panels.append((f"{method} (test mAP {scores['map']:.2f})", labels))
        log(f"{method}: test AP50 {scores['ap50']:.3f}, mAP {scores['map']:.3f}")

    figure = None
    if shown is not None and panels:
        image, true = load_sample(args.data, shown, 3)
        figure = plot_instance_comparison(
            image, [("truth", true), *panels], args.out / f"{args.name}.png", ncols=4
        )
    result: dict[str, Any] = {
        # The command as typed; a caller passing argv (a test) gets that argv, not its own process's.
        "command": harness.command_line()
        if argv is None
        else shlex.join([harness.python_name(), "benchmarks/instances.py", *argv]),
        "data": f"dsb2018 (BBBC038 stage-1 train, community-fixed): {args.data}",
        "selection": "post-processing chosen by val mAP only; test predicted and scored once",
        "images": {"val": len(val_ids), "test": len(test_ids)},
        "budget": args.budget,
        "grids": {
            "min_size": list(MIN_SIZES),
            "min_distance (watershed)": list(MIN_DISTANCES),
            "score_threshold (maskrcnn)": list(SCORE_THRESHOLDS),
        },
        "averaging": "ap50/ap75/map: per-image AP averaged over images (DSB2018); *_pooled: TP/FP/FN summed "
        "over images first; seg: pooled over reference nuclei (CTC)",
        "figure": None if figure is None else figure.name,
        "figure_image": shown,
        "figure_rule": f"of the test images up to {FIGURE_MAX_SIDE} px a side, the one with the most true "
        "nuclei (no prediction looked at)",
        "methods": rows,
        "machine": harness.machine_info(shared_machine=args.shared, device=args.device, mm_size=0),
    }
    harness.write_results(args.out, args.name, result, markdown(result))
    log(f"wrote {args.out / args.name}.json, .md" + (f", {figure.name}" if figure else ""))
    return result


if __name__ == "__main__":
    main()
