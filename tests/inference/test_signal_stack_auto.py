"""``unetkit predict --backend auto`` (and anything else that loads backend auto) times the engines in the
main thread: OpenVINO's, freed in the order they were made, left its alternate signal stack in freed
memory, and a Ctrl-C during the long prediction after the timing was a segmentation fault (serve's trial 25
had it at its shutdown). The timing itself (auto_backend.choose) now puts the stack back, also when it
fails or is interrupted; checked in a fresh interpreter with engines that do to the signal stack what
OpenVINO's do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sigaltstack via Linux libc")

# The stub engine, and the check after the work: the stack as it was, and a SIGINT handled on it.
ENGINE = """
import ctypes, os, signal, sys
from types import SimpleNamespace
import numpy as np
import unetkit.inference.auto_backend as auto
from unetkit.inference.backends import load_predictor
from unetkit.inference.bench import Candidate
from unetkit.inference.signal_stack import SignalStack, sigaltstack, stack_key

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
c = ctypes
libc.mmap.argtypes = [c.c_void_p, c.c_size_t, c.c_int, c.c_int, c.c_int, c.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
SIZE = 1 << 16
folder, scenario = sys.argv[1], sys.argv[2]

class Engine:
    # What an OpenVINO CPU engine does to its thread's signal stack: installs one of its own when made, puts
    # back the one it found when freed (and frees its own).
    config = SimpleNamespace(in_channels=1, num_classes=2)

    def __init__(self):
        self.addr = libc.mmap(None, SIZE, 3, 0x22, -1, 0)  # PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
        self.found = SignalStack()
        assert libc.sigaltstack(ctypes.byref(SignalStack(self.addr, 0, SIZE)), ctypes.byref(self.found)) == 0

    def pass_shape(self, h, w):
        return h, w

    def _predict_batch(self, x):
        if scenario == "interrupted":
            raise KeyboardInterrupt
        return np.zeros_like(x)

    def __del__(self):
        libc.sigaltstack(ctypes.byref(self.found), None)
        libc.munmap(self.addr, SIZE)

"""
HANDLED = """
after = stack_key(sigaltstack(None))
print("stack", "kept" if after == before else f"changed {before} -> {after}")
got = []
signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
os.kill(os.getpid(), signal.SIGINT)  # handled on the main thread's signal stack
print("handled", got)
"""

# argv: the model folder, then "times" (the timing runs through) or "interrupted" (Ctrl-C while timing).
PREDICT_AUTO = (
    ENGINE
    + """
def engines(model_path, export_dir, eager=True):
    return [Candidate(b, "fp32", lambda **options: Engine()) for b in ("torch", "openvino", "onnxruntime")]

auto.list_candidates = engines
auto.busy_load = lambda: None
auto._load_choice = lambda path, choice, **options: SimpleNamespace()  # the chosen engine: not loaded here
before = stack_key(sigaltstack(None))
try:
    predictor = load_predictor(folder, backend="auto")  # what predict --backend auto calls
    print("chose", predictor.auto_choice.backend)
except KeyboardInterrupt:
    print("interrupted")  # the interruption is dropped here, as the CLI drops it once reported
"""
    + HANDLED
)


# unetkit benchmark builds and times the engines itself (not through auto_backend.choose).
BENCHMARK = (
    ENGINE
    + """
from pathlib import Path
import unetkit.inference.bench as bench
from unetkit.cli.benchmark import run

def measure(built, x, **options):
    if scenario == "interrupted":
        raise KeyboardInterrupt
    return []

bench.list_candidates = lambda model, export_dir: []
bench.build_predictors = lambda candidates: ({b: (None, Engine()) for b in ("torch", "openvino")}, {})
bench.check_same_model = lambda *args: None
bench.bench_input = lambda first, size, batch: np.zeros((batch, 1, size, size), np.float32)
bench.measure = measure
bench.format_table = lambda rows: "table"
bench.recommend = lambda rows: None
auto.busy_load = lambda: None
args = SimpleNamespace(model=folder, export=Path(folder) / "export", size=8, batch=1, rounds=1,
                       atol=1e-4, val=False, val_images=None, val_masks=None, json=None, gate_metric=None,
                       tolerance=None)
before = stack_key(sigaltstack(None))
try:
    run(args)
    print("chose ")
except KeyboardInterrupt:
    print("interrupted")
"""
    + HANDLED
)


def model_folder(folder: Path) -> Path:
    """A model folder with an export (backend auto times its engines); the engines themselves are stubs."""
    export = folder / "export"
    export.mkdir(parents=True)
    (export / "config.json").write_text("{}")
    (export / "model.xml").write_text("<net/>")
    return folder


def predict_auto(folder: Path, scenario: str, script: str = PREDICT_AUTO) -> subprocess.CompletedProcess[str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return subprocess.run(
        [sys.executable, "-c", script, str(folder), scenario],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": src},
    )


@linux_only
@pytest.mark.parametrize("scenario", ["times", "interrupted"])
def test_backend_auto_timing_puts_back_the_signal_stack_it_found(tmp_path: Path, scenario: str) -> None:
    done = predict_auto(model_folder(tmp_path / "model"), scenario)
    said = (done.returncode, done.stdout, done.stderr)
    assert done.returncode == 0, said  # -11: the Ctrl-C's handler ran on freed memory
    assert ("chose " if scenario == "times" else "interrupted") in done.stdout, said
    assert "stack kept" in done.stdout and "handled [2]" in done.stdout, said


@linux_only
@pytest.mark.parametrize("scenario", ["times", "interrupted"])
def test_benchmarks_timing_puts_back_the_signal_stack_it_found(tmp_path: Path, scenario: str) -> None:
    done = predict_auto(model_folder(tmp_path / "model"), scenario, BENCHMARK)
    said = (done.returncode, done.stdout, done.stderr)
    assert done.returncode == 0, said
    assert ("chose " if scenario == "times" else "interrupted") in done.stdout, said
    assert "stack kept" in done.stdout and "handled [2]" in done.stdout, said
