"""Where a budgeted ``unetkit fit`` spends its wall clock: runs the fit command given on the command line
with a timing callback added to the trainer and writes, per category, the seconds and counts to a JSON file. A
diagnostic, not a test or a benchmark: it explains a gap between the steps the plan predicted and the steps
made (the GPU 1-minute fit of the 2026-11-27 session made 1271 of 1807).

    python benchmarks/trace_fit_time.py OUT.json fit DIR --time 1m [...]

Categories (seconds between Lightning hooks; on CUDA each hook synchronises first, so a step's kernels are
counted in the step that queued them):
- ``step``: on_train_batch_start -> on_train_batch_end (forward, loss, backward, optimizer, logging);
- ``data_wait``: one batch's end -> the next batch's start in the same epoch (the loader's ``next``, hooks);
- ``epoch_end``: the epoch's last batch end -> on_train_epoch_end's end (checkpoint of last.ckpt included,
  and the validation pass where Lightning runs it inside);
- ``validation``: on_validation_start -> on_validation_end (inside whichever gap it falls in);
- ``epoch_start``: on_train_epoch_end's end -> the next epoch's first batch start (loader restart);
- ``before_first_step``: on_fit_start -> the first batch start.

Hand-written: Lightning's profilers report per-hook totals but not the gaps between hooks, and the gaps
(loader waits, epoch turnover) are what the plan's step estimate leaves out.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timing_callback() -> Any:
    from lightning.pytorch.callbacks import Callback

    class Timing(Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.events: list[tuple[str, float]] = []

        def _mark(self, name: str) -> None:
            _sync()
            self.events.append((name, time.perf_counter()))

        def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
            self._mark("fit_start")

        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            self._mark("epoch_start")

        def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
            self._mark("batch_start")

        def on_train_batch_end(
            self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
        ) -> None:
            self._mark("batch_end")

        def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
            self._mark("val_start")

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            self._mark("val_end")

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            self._mark("epoch_end")

        def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
            self._mark("fit_end")

    return Timing()


def summarise(events: list[tuple[str, float]]) -> dict[str, Any]:
    """Seconds and counts per category from the ordered (hook, time) events."""
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}

    def add(key: str, seconds: float) -> None:
        totals[key] = totals.get(key, 0.0) + seconds
        counts[key] = counts.get(key, 0) + 1

    last_batch_end: float | None = None
    last_epoch_end: float | None = None
    batch_start: float | None = None
    val_start: float | None = None
    fit_start: float | None = None
    first_step_seen = False
    step_times: list[float] = []
    for name, t in events:
        if name == "fit_start":
            fit_start = t
        elif name == "batch_start":
            if not first_step_seen and fit_start is not None:
                add("before_first_step", t - fit_start)
                first_step_seen = True
            elif last_epoch_end is not None:
                add("epoch_start", t - last_epoch_end)
            elif last_batch_end is not None:
                add("data_wait", t - last_batch_end)
            batch_start, last_epoch_end = t, None
        elif name == "batch_end" and batch_start is not None:
            add("step", t - batch_start)
            step_times.append(t - batch_start)
            last_batch_end = t
        elif name == "val_start":
            val_start = t
        elif name == "val_end" and val_start is not None:
            add("validation", t - val_start)
        elif name == "epoch_end" and last_batch_end is not None:
            add("epoch_end", t - last_batch_end)
            last_epoch_end = t
    wall = events[-1][1] - events[0][1] if events else 0.0
    step_times.sort()
    median = step_times[len(step_times) // 2] if step_times else 0.0
    return {
        "wall_seconds": round(wall, 3),
        "seconds": {k: round(v, 3) for k, v in totals.items()},
        "counts": counts,
        "step_median_seconds": round(median, 5),
        "note": "validation falls inside epoch_end or epoch_start, so the categories other than validation "
        "add up to the wall seconds",
    }


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] != "fit":
        print("usage: python benchmarks/trace_fit_time.py OUT.json fit DIR --time 1m [...]", file=sys.stderr)
        return 2
    out = Path(argv[0])
    import unetkit.training.trainer as trainer_module
    from unetkit.cli.main import main as cli_main

    timing = _timing_callback()
    build = trainer_module.build_callbacks

    def with_timing(*args: Any, **kwargs: Any) -> list[Any]:
        return [*build(*args, **kwargs), timing]

    trainer_module.build_callbacks = with_timing  # type: ignore[assignment]
    code = cli_main(argv[1:])
    summary = summarise(timing.events)
    summary["command"] = "python benchmarks/trace_fit_time.py " + " ".join(argv)
    summary["exit_code"] = code
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2), file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
