"""Upper bounds of the instance baselines on DSB2018 *validation* nuclei: the true labels reduced to what
a perfect model of each kind would predict, then split into instances again.

* ``components`` / ``watershed (min_distance d)``: the true **semantic** mask (label > 0), i.e. a perfect
  semantic U-Net, split by connected components (8-connected, the ``predict --instances`` default) or by
  the distance-transform watershed. What they lose is what merging touching nuclei alone costs
  "semantic + components".
* ``boundary (true 3-class target)``: the true background / interior / touching-boundary target
  (:func:`unetkit.data.instance_targets.boundary_target`, radius 2), i.e. a perfect boundary-aware U-Net,
  split by the seeded watershed (``--instances boundary``). Its shortfall from 1 is what the target itself
  loses (nuclei too small to keep an interior).

Scored with :mod:`unetkit.metrics.instance` (AP per image averaged over images as DSB2018 did; SEG pooled
over reference nuclei as the Cell Tracking Challenge does). Only ``val`` or ``train`` ids: the test split is
scored once, by the final comparison of issue 13.

    .venv/bin/python benchmarks/instances_baseline.py [--data ../shared/data/dsb2018] [--split val]

Writes benchmarks/results/instances/upper_bound_<split>.json + .md and a comparison figure
(upper_bound_<split>.png: of the images up to 400 px, the one where components merge most nuclei; the
watershed panel shows the min_distance with the best mAP on this split).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info, writing results

from unetkit.data.folder import read_list_file
from unetkit.data.instance_targets import boundary_target, semantic_from_labels
from unetkit.data.instances import read_instance_sample
from unetkit.inference.instances import instances_from_mask
from unetkit.metrics.instance import InstanceScoreAccumulator, score_instances
from unetkit.viz.instances import plot_instance_comparison

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "dsb2018"
BOUNDARY_RADIUS = 2
FIGURE_MAX_SIDE = 400


def methods(min_distances: list[int]) -> dict[str, Any]:
    """name -> (labels (H, W)) -> predicted labels (H, W)."""
    out: dict[str, Any] = {
        "components": lambda lab: instances_from_mask(semantic_from_labels(lab), 1, "components")[0],
    }
    for d in min_distances:
        out[f"watershed (min_distance {d})"] = lambda lab, d=d: instances_from_mask(
            semantic_from_labels(lab), 1, "watershed", min_distance=d
        )[0]
    out["boundary (true 3-class target)"] = lambda lab: instances_from_mask(
        boundary_target(lab, radius=BOUNDARY_RADIUS), [1, 2], "boundary"
    )[0]
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--split", choices=("val", "train"), default="val", help="never the test split")
    p.add_argument(
        "--min-distance", type=int, nargs="+", default=[3, 5, 7, 9, 11, 13, 15], help="watershed seeds"
    )
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "instances")
    p.add_argument("--shared", default="shared with 4 other helpers", help="load note for machine_info")
    args = p.parse_args(argv)

    ids = read_list_file(args.data / f"{args.split}.txt")
    runs = methods(args.min_distance)
    accs = {name: InstanceScoreAccumulator() for name in runs}
    seconds = dict.fromkeys(runs, 0.0)
    score_seconds, worst_merge = 0.0, (-1, "")
    slowest: dict[str, Any] = {"seconds": 0.0}
    for sample_id in ids:
        image, true = read_instance_sample(
            args.data / "images" / f"{sample_id}.png", args.data / "labels" / f"{sample_id}.png"
        )
        for name, run in runs.items():
            t0 = time.perf_counter()
            pred = run(true)
            seconds[name] += time.perf_counter() - t0
            t0 = time.perf_counter()
            s = accs[name].update(true, pred)
            elapsed = time.perf_counter() - t0
            score_seconds += elapsed
            if elapsed > slowest["seconds"]:
                slowest = {"seconds": round(elapsed, 4), "id": sample_id, "size_hw": list(true.shape)}
                slowest.update(n_true=s.n_true, n_pred=s.n_pred, method=name)
            # The figure's image: most merges by components among images small enough to read at print size.
            if name == "components" and max(true.shape) <= FIGURE_MAX_SIDE and s.merges > worst_merge[0]:
                worst_merge = (s.merges, sample_id)
        assert score_instances(true, true).map == 1.0  # the metric's own sanity check on real labels

    rows = {}
    for name, acc in accs.items():
        r = acc.compute()
        r["method_seconds"] = round(seconds[name], 3)
        rows[name] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}

    figure = None
    if worst_merge[1]:
        sample_id = worst_merge[1]
        image, true = read_instance_sample(
            args.data / "images" / f"{sample_id}.png", args.data / "labels" / f"{sample_id}.png"
        )
        best_ws = max(
            (n for n in rows if n.startswith("watershed")), key=lambda n: rows[n]["map"], default=None
        )
        shown = [n for n in runs if not n.startswith("watershed") or n == best_ws]
        panels = [("truth", true)] + [(name, runs[name](true)) for name in shown]
        figure = plot_instance_comparison(image, panels, args.out / f"upper_bound_{args.split}.png", ncols=3)

    result: dict[str, Any] = {
        "command": harness.command_line(),
        "data": "dsb2018 (BBBC038 stage-1 train, community-fixed; shared/data/dsb2018)",
        "split": args.split,
        "images": len(ids),
        "what": "true labels reduced to a perfect model's output (semantic mask or 3-class target), then "
        "split into instances; an upper bound of each post-processing, not a trained model",
        "averaging": "ap50/ap75/map: per-image AP averaged over images (DSB2018); *_pooled: TP/FP/FN summed "
        "over images first (StarDist matching_dataset); seg: pooled over reference nuclei (CTC)",
        "matching": "one-to-one, IoU > t; splits/merges by the more-than-half rule "
        "(unetkit.metrics.instance)",
        "boundary_radius": BOUNDARY_RADIUS,
        "score_seconds_total": round(score_seconds, 3),
        "score_seconds_slowest_image": slowest,
        "figure": None if figure is None else figure.name,
        "figure_image": worst_merge[1] or None,
        "methods": rows,
        "machine": harness.machine_info(shared_machine=args.shared, mm_size=0),
    }
    md = [
        f"# Instance baselines, upper bounds on DSB2018 {args.split} ({len(ids)} images)",
        "",
        "The true labels reduced to what a perfect model of each kind predicts (the semantic mask, or the "
        f"background/interior/boundary target with radius {BOUNDARY_RADIUS}), then split into instances "
        "again. AP: TP / (TP + FP + FN), one-to-one matching with IoU > t, per image, mean over images "
        "(DSB2018); mAP over t = 0.5:0.05:0.95; SEG pooled over reference nuclei (CTC). Splits: true nuclei "
        "cut into two or more predicted objects; merges: predicted objects holding more than half of two or "
        "more nuclei.",
        "",
        f"Command: `{result['command']}`",
        "",
        "| method | AP50 | AP75 | mAP | SEG | AP50 pooled | mAP pooled | splits | merges "
        "| objects (true / pred) | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        md.append(
            f"| {name} | {r['ap50']:.3f} | {r['ap75']:.3f} | {r['map']:.3f} | {r['seg']:.3f} | "
            f"{r['ap50_pooled']:.3f} | {r['map_pooled']:.3f} | {r['splits']} | {r['merges']} | "
            f"{r['n_true']} / {r['n_pred']} | {r['method_seconds']:.1f} |"
        )
    machine = result["machine"]
    md += [
        "",
        f"Scoring all {len(runs)} x {len(ids)} predictions took {score_seconds:.1f} s in all; the slowest "
        f"image took {slowest['seconds']:.2f} s ({slowest['size_hw'][1]}x{slowest['size_hw'][0]} px, "
        f"{slowest['n_true']} true / {slowest['n_pred']} predicted objects). "
        f"Machine: {machine['cpu_model']}, {machine['cpu_count']} CPUs ({machine['shared_machine']}); "
        f"CPU flags in the JSON. numpy {machine['numpy']}, python {machine['python']}, "
        f"{machine['date_utc']}.",
    ]
    if figure is not None:
        md += [
            "",
            f"![comparison]({figure.name}) (image `{worst_merge[1]}`: the most merges by components among "
            f"images up to {FIGURE_MAX_SIDE} px; watershed: its best min_distance)",
        ]
    harness.write_results(args.out, f"upper_bound_{args.split}", result, "\n".join(md) + "\n")
    return result


if __name__ == "__main__":
    main()
