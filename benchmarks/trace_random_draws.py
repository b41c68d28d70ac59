"""Which import draws from Python's global random stream: imports the modules named on the command line one
by one (default: the chain ``unetkit.fit_folder`` loads), says after each whether the stream is where it was,
and prints the stack of every call on the stream's generator. A diagnostic, not a test or a benchmark.

    python benchmarks/trace_random_draws.py [MODULE ...] 2> trace.log

Hand-written because the stdlib has no tracer for one object's methods: ``sys.setprofile`` sees the C-level
calls too, so a function bound before the trace starts (``from random import getrandbits``) is still seen.
"""

from __future__ import annotations

import importlib
import random
import sys
import traceback
from types import FrameType
from typing import Any

DEFAULT_CHAIN = (
    "numpy",
    "torch",
    "albumentations",
    "unetkit.training.lightning_import",
    "unetkit.training.fit",
)


def main(modules: list[str]) -> int:
    random.seed(1)
    start = random.getstate()
    generator = random._inst  # the hidden instance behind random.random(), random.getrandbits(), ...
    calls: list[tuple[str, str]] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call" and getattr(arg, "__self__", None) is generator and arg.__name__ != "getstate":
            calls.append((arg.__name__, "".join(traceback.format_stack(frame, limit=30))))

    sys.setprofile(profile)
    try:
        for name in modules or DEFAULT_CHAIN:
            importlib.import_module(name)
            print(f"after import {name}: stream unmoved {random.getstate() == start}", file=sys.stderr)
    finally:
        sys.setprofile(None)
    for name, stack in calls[:20]:
        print(f"=== random.{name} called from\n{stack}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
