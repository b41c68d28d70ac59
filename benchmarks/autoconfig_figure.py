"""Issue 12's results as one figure: validation curves of each ``unetkit fit DIR`` run and the test scores.

Reads only committed files (no training, no scoring): ``OUT/<dataset>.json`` and ``.metrics.csv`` of the
bar runs (``benchmarks/autoconfig.py``) and, in grey, the first one-core fp32 runs kept in ``OUT/one_core/``.
For each dataset the validation metric over the optimizer steps, the test score of the same metric at the
end (a star: scored once per run), and the bar where the issue sets one; then CamVid's test IoU per class
with the issue's 0.10 line for the rare classes. Writes ``OUT/autoconfig.png``.

    .venv/bin/python benchmarks/autoconfig_figure.py [--out benchmarks/results/autoconfig]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from autoconfig import RARE_CAMVID  # the classes of the bar

HERE = Path(__file__).resolve().parent
# Per dataset: the validation column plotted, how it becomes the metric, the test key of the same metric,
# the bar's threshold (None: no bar) and the axis label.
PANELS: dict[str, dict[str, Any]] = {
    "isbi2012": {
        "column": "val/pixel_accuracy", "error": True, "test": "pixel_error", "bar": 0.072,
        "label": "pixel error (lower is better)", "ylim": (0.065, 0.12),
    },
    "camvid": {
        "column": "val/miou", "error": False, "test": "miou", "bar": 0.45, "label": "mean IoU (11 classes)",
    },
    "dsb2018": {
        "column": "val/mean_dice", "error": False, "test": "mean_dice", "bar": None,
        "label": "mean Dice (background, nuclei)",
    },
}  # fmt: skip


def val_curve(path: Path, column: str, error: bool) -> tuple[list[int], list[float]]:
    """(steps, values) of one validation column of a Lightning ``metrics.csv`` (1 - value for an error)."""
    steps: list[int] = []
    values: list[float] = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row.get(column):
                steps.append(int(row["step"]))
                values.append(1.0 - float(row[column]) if error else float(row[column]))
    return steps, values


def best_step(metrics_csv: Path, plan: dict[str, Any]) -> int:
    """The step of the best validation of the plan's monitor (``best.ckpt``: the first best one)."""
    from unetkit.training.config import monitor_mode

    monitor = plan.get("trainer", {}).get("monitor", "val/miou")
    steps, values = val_curve(metrics_csv, monitor, False)
    pick = min if monitor_mode(monitor) == "min" else max
    return steps[pick(range(len(values)), key=values.__getitem__)]


def load(out: Path, dataset: str) -> dict[str, Any] | None:
    """The committed result of ``dataset`` with its validation curve; None when absent."""
    path = out / f"{dataset}.json"
    if not path.is_file():
        return None
    result = json.loads(path.read_text())
    spec = PANELS[dataset]
    result["curve"] = val_curve(out / f"{dataset}.metrics.csv", spec["column"], spec["error"])
    return result


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=HERE / "results" / "autoconfig")
    args = p.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(19, 4.2), gridspec_kw={"width_ratios": [1, 1, 1, 1.25]})
    for ax, (dataset, spec) in zip(axes, PANELS.items()):
        for folder, colour, name in ((args.out / "one_core", "0.65", "first run"), (args.out, "C0", "rerun")):
            result = load(folder, dataset)
            if result is None:
                continue
            steps, values = result["curve"]
            plan = result["plan"]
            how = (
                f"base {plan['model']['kwargs']['base_channels']}, {plan['trainer']['precision']}, "
                f"{result['budget_minutes']:g} min"
            )
            ax.plot(steps, values, color=colour, lw=1.2, label=f"{name}: validation ({how})")
            test = result["test"][spec["test"]]
            # The star stands at the checkpoint the plan scored: the last, or the best on validation.
            at, which = steps[-1], "last"
            if plan.get("evaluate", {}).get("checkpoint") == "best":
                at, which = best_step(folder / f"{dataset}.metrics.csv", plan), "best"
            ax.plot([at], [test], marker="*", ms=13, color=colour, ls="none",
                    label=f"{name}: test {test:.4g} ({which} checkpoint)")  # fmt: skip
        if "ylim" in spec:
            ax.set_ylim(*spec["ylim"])
        if spec["bar"] is not None:
            ax.axhline(spec["bar"], color="C3", ls="--", lw=1, label=f"bar {spec['bar']}")
        ax.set_title(f"unetkit fit {dataset}")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(spec["label"])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7.5, loc="best")
    ax = axes[3]
    width = 0.4
    for shift, (folder, colour, name) in zip(
        (-width / 2, width / 2), ((args.out / "one_core", "0.65", "first run"), (args.out, "C0", "rerun"))
    ):
        result = load(folder, "camvid")
        if result is None:
            continue
        per_class = result["test"]["per_class_iou"]
        names = list(per_class)
        xs = [i + shift for i in range(len(names))]
        ax.bar(xs, [per_class[n] for n in names], width, color=colour, label=f"{name} (test)")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
        for i, n in enumerate(names):
            if n in RARE_CAMVID:
                ax.get_xticklabels()[i].set_fontweight("bold")
    ax.axhline(0.10, color="C3", ls="--", lw=1, label="rare classes (bold): bar 0.10")
    ax.set_title("CamVid test IoU per class")
    ax.set_ylabel("IoU")
    ax.legend(fontsize=7.5)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    target = args.out / "autoconfig.png"
    tmp = target.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(target)  # a figure is replaced whole, never left half-written
    return target


if __name__ == "__main__":
    print(main())
