"""Re-select the ISBI 2012 recipe from the sweep on **validation only** (issue 12, item 4).

The packaged ISBI recipe (base 8, up to 100 epochs, last checkpoint) was first chosen by looking at the
test-slice scores of the sweep (``benchmarks/results/isbi_sweep/round*.json``, written by
``benchmarks/isbi_sweep_eval.py``). Every checkpoint scored there also has its pixel error on the four
validation slices (20-23, 8-fold TTA, argmax = threshold 0.5). This script redoes the choice from those
validation numbers alone, by a rule fixed before it runs:

1. group the runs into recipes (the same overrides, different seeds: :data:`RECIPES`);
2. for each recipe and each checkpoint kind (best-by-val-mIoU, last), average the validation pixel error
   over its seeds;
3. the recipe and checkpoint with the lowest average validation pixel error win.

Only then are the test-slice numbers of the winner read (and, for the record, of every recipe: the table
shows both, but the choice never looks at the test column). It also answers, on validation, the question
the plan's width rule relies on (more epochs of a narrower U-Net vs a wider one at equal CPU time).

    .venv/bin/python benchmarks/isbi_sweep_select.py [--out benchmarks/results/isbi_sweep]

Writes ``selection_on_val.json`` + ``.md``. No training: the sweep's runs were scored on one H100 (see
``sweep.md``); nothing here depends on this machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: writing results

HERE = Path(__file__).resolve().parent
THRESHOLD_INDEX = 4  # thresholds 0.30..0.70 in steps of 0.05: index 4 is 0.5 = argmax of two classes

# recipe -> (description, [(round, run name), ...]); seeds of one recipe share every other override.
RECIPES: dict[str, tuple[str, list[tuple[int, str]]]] = {
    "b16_e18": ("base 16, 18 epochs (the 2026-11 recipe)", [(1, "base_s0"), (1, "base_s1"), (1, "base_s2")]),
    "b16_e18_ce": ("base 16, 18 epochs, loss CE", [(1, "ce")]),
    "b16_e18_crop512": ("base 16, crop 512, batch 1", [(1, "crop512")]),
    "b16_e18_d5": ("base 16, depth 5", [(1, "depth5"), (2, "depth5_s1"), (2, "depth5_s2")]),
    "b16_e18_ema99": ("base 16, EMA 0.99", [(1, "ema99"), (1, "ema99_s1")]),
    "b16_e18_ema995": ("base 16, EMA 0.995", [(1, "ema995")]),
    "b16_e18_lr1e3": ("base 16, lr 1e-3", [(1, "lr1e3")]),
    "b16_e18_lr4e3": ("base 16, lr 4e-3", [(1, "lr4e3")]),
    "b16_e18_wmap": ("base 16, the paper's weighted CE + Dice", [(1, "wmap")]),
    "b24_e8": ("base 24, 8 epochs (equal CPU time)", [(2, "base24_e8")]),
    "b16_e18_bs8": ("base 16, batch 8, lr 4e-3", [(2, "bs8")]),
    "b16_e18_cosine": ("base 16, cosine schedule", [(2, "cosine")]),
    "b16_e18_crop128": ("base 16, crop 128, repeat 32", [(2, "crop128")]),
    "b16_e18_dice05": ("base 16, CE + 0.5 Dice", [(2, "dice05")]),
    "b16_e27": ("base 16, 27 epochs", [(2, "e27")]),
    "b16_e36": ("base 16, 36 epochs", [(2, "e36"), (3, "e36_s0"), (3, "e36_s1"), (3, "e36_s2")]),
    "b16_e54": ("base 16, 54 epochs", [(2, "e54")]),
    "b16_e18_focaldice": ("base 16, focal + Dice", [(2, "focaldice")]),
    "b16_e18_nocolor": ("base 16, no colour augmentation", [(2, "nocolor")]),
    "b16_e18_noelastic": ("base 16, no elastic deformation", [(2, "noelastic")]),
    "b16_e18_scale": ("base 16, scale 0.8-1.2", [(2, "scale")]),
    "b12_e50": ("base 12, 50 epochs", [(3, "b12_e50"), (3, "b12_e50_s1")]),
    "b8_e100": ("base 8, 100 epochs", [(3, "b8_e100"), (4, "b8_s1"), (4, "b8_s2"), (4, "b8_s3")]),
    "b16_d3_e44": ("base 16, depth 3, 44 epochs", [(3, "d3_e44")]),
    "b16_d5_e30": ("base 16, depth 5, 30 epochs", [(3, "e36_d5")]),
    "b16_e36_ema": ("base 16, 36 epochs, EMA 0.99", [(3, "e36_ema")]),
    "b16_e34_t4": ("base 16, transpose k4, 34 epochs", [(3, "e36_t4")]),
    "b8_e100_ce": ("base 8, 100 epochs, loss CE", [(4, "b8_ce")]),
    "b8_e100_cos": ("base 8, 100 epochs, cosine", [(4, "b8_cos")]),
    "b8_d5_e90": ("base 8, depth 5, 90 epochs", [(4, "b8_d5")]),
    "b8_e100_ema": ("base 8, 100 epochs, EMA 0.99", [(4, "b8_ema")]),
    "b8_e40": ("base 8, 40 epochs", [(5, "b8_e40_s0"), (5, "b8_e40_s1")]),
    "b8_e50": ("base 8, 50 epochs", [(5, "b8_e50_s0"), (5, "b8_e50_s1"), (5, "b8_e50_s2")]),
}
# The width question at about equal CPU time (the sweep's rounds 2-3: a 2-core CPU runs these in ~19 min).
EQUAL_TIME = ("b24_e8", "b16_e18", "b12_e50", "b8_e100")


def checkpoint_scores(
    rounds: dict[int, dict[str, Any]], rnd: int, run: str
) -> dict[str, tuple[float, float]]:
    """``{"best"|"last": (val pixel error, test pixel error)}`` of one run, as the sweep stored them."""
    data = rounds[rnd]
    out: dict[str, tuple[float, float]] = {}
    entry = data[run]
    if "val" in entry:  # rounds 2-4: "NAME" is the best checkpoint, "NAME@last" the last one
        out["best"] = (entry["val"][THRESHOLD_INDEX], entry["test"][THRESHOLD_INDEX])
        last = data.get(f"{run}@last")
        if last is not None and "val" in last:
            out["last"] = (last["val"][THRESHOLD_INDEX], last["test"][THRESHOLD_INDEX])
    for kind in ("best", "last"):  # rounds 1 and 5: nested
        if isinstance(entry.get(kind), dict) and "val" in entry[kind]:
            out[kind] = (entry[kind]["val"][THRESHOLD_INDEX], entry[kind]["test"][THRESHOLD_INDEX])
    return out


def select(rounds: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The rule of the module docstring; returns every candidate's averages and the winner."""
    candidates = []
    for recipe, (description, runs) in RECIPES.items():
        per_kind: dict[str, list[tuple[float, float]]] = {}
        for rnd, run in runs:
            for kind, scores in checkpoint_scores(rounds, rnd, run).items():
                per_kind.setdefault(kind, []).append(scores)
        for kind, scores in per_kind.items():
            candidates.append(
                {
                    "recipe": recipe,
                    "description": description,
                    "checkpoint": kind,
                    "seeds": len(scores),
                    "val_pixel_error": round(statistics.fmean(s[0] for s in scores), 5),
                    "val_runs": [s[0] for s in scores],
                    # read for the record only: the choice below never uses it
                    "test_pixel_error": round(statistics.fmean(s[1] for s in scores), 5),
                    "test_runs": [s[1] for s in scores],
                }
            )
    candidates.sort(key=lambda c: c["val_pixel_error"])
    return {"winner": candidates[0], "candidates": candidates}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sweep", type=Path, default=HERE / "results" / "isbi_sweep")
    p.add_argument("--out", type=Path, default=HERE / "results" / "isbi_sweep")
    args = p.parse_args(argv)
    rounds = {r: json.loads((args.sweep / f"round{r}.json").read_text()) for r in range(1, 6)}
    result = select(rounds)
    win = result["winner"]
    equal = [c for c in result["candidates"] if c["recipe"] in EQUAL_TIME and c["checkpoint"] == "last"]
    equal += [c for c in result["candidates"] if c["recipe"] == "b16_e18" and c["checkpoint"] == "best"]
    result["equal_cpu_time_widths"] = sorted(equal, key=lambda c: EQUAL_TIME.index(c["recipe"]))
    result["rule"] = (
        "lowest mean validation pixel error (slices 20-23, 8-fold TTA, argmax) over the seeds of a recipe, "
        "per checkpoint kind; test numbers are read only after the choice"
    )
    result["meta"] = {"command": harness.command_line()}
    lines = [
        "# The ISBI recipe re-selected on validation (issue 12, item 4)", "",
        f"Written by `{result['meta']['command']}` from the sweep's round1..5.json (one H100, fp32, "
        "epoch-capped runs; val = slices 20-23, test = 24-29, 8-fold TTA, argmax).", "",
        f"Rule: {result['rule']}.", "",
        f"**Chosen on validation: {win['description']}, {win['checkpoint']} checkpoint** "
        f"(val pixel error {win['val_pixel_error']:.4f} over {win['seeds']} seed(s)); its test pixel error, "
        f"read once after the choice: **{win['test_pixel_error']:.4f}**.", "",
        "Width at about equal CPU time (validation decides; test for the record):", "",
        "| recipe | checkpoint | seeds | val pixel error | test pixel error |", "|---|---|---:|---:|---:|",
        *[f"| {c['description']} | {c['checkpoint']} | {c['seeds']} | {c['val_pixel_error']:.4f} | "
          f"{c['test_pixel_error']:.4f} |" for c in result["equal_cpu_time_widths"]],
        "", "All candidates, best validation first:", "",
        "| recipe | checkpoint | seeds | val pixel error | test pixel error |", "|---|---|---:|---:|---:|",
        *[f"| {c['description']} | {c['checkpoint']} | {c['seeds']} | {c['val_pixel_error']:.4f} | "
          f"{c['test_pixel_error']:.4f} |" for c in result["candidates"]],
        "",
    ]  # fmt: skip
    harness.write_results(args.out, "selection_on_val", result, "\n".join(lines))
    return result


if __name__ == "__main__":
    main()
