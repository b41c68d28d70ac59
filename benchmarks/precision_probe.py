"""Is the plan's precision decision stable when the machine is busy?

``unetkit plan`` times a few steps of each width in fp32 and in bf16 autocast and uses bf16 where the median
speed-up is at least ``BF16_MIN_SPEEDUP``. A probe near that threshold on a busy machine flipped between plans
of one folder. The plan now re-times one width (the one nearest the median), alternating the precisions step
by step, and that ratio decides (:func:`unetkit.planning.plan.confirm_bf16_speedup`).

This repeats the probe of one dataset's plan geometry ``--repeats`` times, optionally beside ``--load N``
busy-looping processes (a competing job, the same for every repeat), and records for each repeat the widths'
median speed-up (the old rule's decision) and the re-timed one (the new rule's). Peers in
the same run: the old rule against the new one, as decision counts.

    .venv/bin/python benchmarks/precision_probe.py isbi2012 [--repeats 8] [--load 1] [--data ../shared/data]
        [--out benchmarks/results/precision_probe]

Writes ``OUT/<dataset>_load<N>.json`` + ``.md`` with the CPU flags. Reads the training images only (for the
geometry: crop, depth, batch); no training, no scoring.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info, writing results
from autoconfig import DATASETS

from unetkit.planning import discover, fingerprint
from unetkit.planning.plan import (
    BF16_CONFIRM_ROUNDS,
    BF16_MIN_SPEEDUP,
    _retime_width,
    _speedups_of,
    candidates,
    choose_geometry,
    choose_precision,
    measure_candidates,
)

HERE = Path(__file__).resolve().parent
# What discovery needs to be told of each dataset (autoconfig.py passes the same as command-line options).
DISCOVER: dict[str, dict[str, Any]] = {
    "camvid": {"void": 11, "classes_file": HERE.parent / "configs" / "camvid_classes.json"},
}


def _spin(stop: Any) -> None:
    """A competing job: a busy loop until told to stop."""
    x = 0
    while not stop.is_set():
        x = (x * 31 + 7) % 1_000_003


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", choices=sorted(DATASETS))
    p.add_argument("--repeats", type=int, default=8)
    p.add_argument("--load", type=int, default=0, help="busy-looping processes beside the probe")
    p.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    p.add_argument("--out", type=Path, default=HERE / "results" / "precision_probe")
    p.add_argument("--note", default=None, help="what else ran on the machine (recorded)")
    args = p.parse_args()

    layout = discover(args.data / args.dataset, **DISCOVER.get(args.dataset, {}))
    fp = fingerprint(layout)
    geo = choose_geometry(fp, "cpu")
    cands = candidates(geo, "cpu")
    stop = mp.Event()
    spinners = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(args.load)]
    for s in spinners:
        s.start()
    rows: list[dict[str, Any]] = []
    try:
        for i in range(args.repeats):
            t0 = time.perf_counter()
            machine = measure_candidates(cands, layout.channels, layout.mask.num_classes, "cpu")
            speedups = {
                c.base_channels: round(x, 4) for c, x in _speedups_of(machine.step_seconds, cands).items()
            }
            median = statistics.median(speedups.values()) if speedups else float("nan")
            old = "bf16-mixed" if median >= BF16_MIN_SPEEDUP else "32-true"
            new = choose_precision(machine)[0]
            close = _retime_width(machine.step_seconds, cands)
            rows.append(
                {
                    "repeat": i,
                    "speedups": speedups,
                    "median": round(median, 4),
                    "retimed_width": None if close is None else close.base_channels,
                    "retimed": machine.bf16_confirmed,
                    "old_rule": old,
                    "new_rule": new,
                    "seconds": round(time.perf_counter() - t0, 1),
                }
            )
            print(rows[-1], flush=True)
    finally:
        stop.set()
        for s in spinners:
            s.join(timeout=5)
    old_counts, new_counts = Counter(r["old_rule"] for r in rows), Counter(r["new_rule"] for r in rows)
    medians = [r["median"] for r in rows]
    retimed = [r["retimed"] for r in rows if r["retimed"] is not None]
    payload = {
        "command": harness.command_line(),
        "dataset": args.dataset,
        "geometry": {"depth": geo.depth, "crop_wxh": [geo.crop[1], geo.crop[0]], "batch": geo.batch},
        "threshold": BF16_MIN_SPEEDUP,
        "confirm_rounds": BF16_CONFIRM_ROUNDS,
        "load_processes": args.load,
        "machine": harness.machine_info(shared_machine=args.note, mm_size=0),
        "rows": rows,
        "old_rule_counts": dict(old_counts),
        "new_rule_counts": dict(new_counts),
        "median_range": [min(medians), max(medians)],
        "retimed_range": [min(retimed), max(retimed)] if retimed else None,
        "old_rule_flips": len(old_counts) > 1,
        "new_rule_flips": len(new_counts) > 1,
    }
    lines = [
        f"# bf16 decision stability: {args.dataset}, {args.load} busy process(es) beside the probe",
        "",
        f"Command: `{payload['command']}`. CPU: {payload['machine']['cpu_model']} "
        f"(bf16 flags: {', '.join(f for f in payload['machine']['cpu_flags'] if 'bf16' in f) or 'none'}); "
        f"other load: {args.note or 'not stated'}.",
        "",
        "| repeat | widths' speed-ups | median | re-timed | old rule | new rule |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ups = ", ".join(f"b{b} {x:.2f}" for b, x in r["speedups"].items())
        lines.append(
            f"| {r['repeat']} | {ups} | {r['median']:.2f} | "
            f"{'' if r['retimed'] is None else format(r['retimed'], '.2f')} | {r['old_rule']} | "
            f"{r['new_rule']} |"
        )
    lines += [
        "",
        f"Old rule (median of the widths >= {BF16_MIN_SPEEDUP}x): {dict(old_counts)}; new rule (one width "
        f"re-timed, {BF16_CONFIRM_ROUNDS} alternating rounds): {dict(new_counts)}.",
    ]
    harness.write_results(args.out, f"{args.dataset}_load{args.load}", payload, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
