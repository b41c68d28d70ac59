"""The fault corpus: every bad input or failure a careful user may meet, as one table.

Each row: a name, the setup of the input (files under ``tmp``, monkeypatches), the command line, the exit
code, a fragment of the one-line ``error:`` message, and the paths that must (not) exist afterwards (no run
folder, no output folder, no payload file). Commands run in-process through ``unetkit.cli.main.main``; the
Ctrl-C rows run in a process of their own that signals itself at a chosen training step.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightning  # noqa: F401  (imported at collection: its log handler binds sys.stderr on first import)
import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from unetkit.cli.main import main
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model

KWARGS = {"in_channels": 1, "num_classes": 2, "depth": 2, "base_channels": 4}
STEMS = ("a", "b", "c", "d")
SPLITS = "{train: [a, b], val: [c], test: [d]}"


# ------------------------------------------------------------------------------------------ inputs


def _dataset(tmp: Path) -> None:
    """tmp/data/{images,masks}/{a,b,c,d}.png: 16x16 gray, 2 classes; split a,b | c | d."""
    rng = np.random.default_rng(0)
    for folder in ("images", "masks"):
        (tmp / "data" / folder).mkdir(parents=True, exist_ok=True)
    for stem in STEMS:
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(tmp / f"data/images/{stem}.png")
        mask = np.zeros((16, 16), np.uint8)
        mask[4:12, 4:12] = 1
        Image.fromarray(mask).save(tmp / f"data/masks/{stem}.png")


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _model(tmp: Path) -> None:
    """tmp/model (model folder) and tmp/images/{one,two}.png for predict/export."""
    torch.manual_seed(0)
    config = ModelConfig("unet", KWARGS, class_names=["bg", "fg"], mean=[0.5], std=[0.25])
    save_model(create_model("unet", **KWARGS), config, tmp / "model")
    (tmp / "images").mkdir()
    rng = np.random.default_rng(0)
    for name in ("one", "two"):
        Image.fromarray(rng.integers(0, 256, (20, 24), dtype=np.uint8)).save(tmp / f"images/{name}.png")


class _Payload:
    """Unpickling it creates ``marker``: a checkpoint that runs code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def _evil_ckpt(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    config = ModelConfig("unet", KWARGS, class_names=["bg", "fg"], mean=[0.5], std=[0.25])
    model = create_model("unet", **KWARGS)
    torch.save(
        {
            "epoch": 0,
            "global_step": 1,
            "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
            "hyper_parameters": {"model_config": config.to_dict()},
            "callbacks": {"x": _Payload(marker)},
        },
        path,
    )


def _run_folder(tmp: Path, name: str = "r") -> Path:
    """A run folder as `unetkit fit` leaves it after a kill: config.yaml (for the tiny dataset), logs/."""
    _dataset(tmp)
    run = tmp / "runs" / name
    (run / "logs").mkdir(parents=True)
    config = {
        "data": {
            "dataset": "folder",
            "root": str(tmp / "data"),
            "options": {"num_classes": 2, "in_channels": 1, "split_lists": yaml.safe_load(SPLITS)},
            "crop_size": None,
            "batch_size": 2,
        },
        "model": {"name": "unet", "kwargs": {"base_channels": 4, "depth": 2}},
        "trainer": {"max_epochs": 1, "progress_bar": False},
        "output": {"root": str(tmp / "runs"), "name": name},
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    return run


def _fit_args(tmp: Path, *extra: str) -> list[str]:
    options = f"{{num_classes: 2, in_channels: 1, split_lists: {SPLITS}}}"
    return [
        "fit",
        "data.dataset=folder",
        f"data.root={tmp / 'data'}",
        f"data.options={options}",
        "data.crop_size=null",
        "data.batch_size=2",
        "model.kwargs={base_channels: 4, depth: 2}",
        f"output.root={tmp / 'runs'}",
        "output.name=r",
        "trainer.progress_bar=false",
        "trainer.max_epochs=1",
        *extra,
    ]


# Setups: (tmp, monkeypatch) -> None. Data faults put the bad file in the test split (stem d) unless named.
def _split_files(data: Path) -> None:
    """train.txt/val.txt/test.txt, so that `fit DIR` plans the folder with the split of SPLITS."""
    for name, stems in (("train", "ab"), ("val", "c"), ("test", "d")):
        (data / f"{name}.txt").write_text("".join(f"{stem}\n" for stem in stems))


def data_fault(fault: Callable[[Path], None]) -> Callable[[Path, pytest.MonkeyPatch], None]:
    def setup(tmp: Path, mp: pytest.MonkeyPatch) -> None:
        _dataset(tmp)
        fault(tmp / "data")

    return setup


def _gray_alpha(data: Path) -> None:
    la = np.zeros((16, 16, 2), np.uint8)
    la[..., 1] = 128  # half transparent
    (data / "images/d.png").unlink()
    Image.fromarray(la, "LA").save(data / "images/d.png")


def _rgba(data: Path) -> None:
    rgba = np.zeros((16, 16, 4), np.uint8)
    (data / "images/d.png").unlink()
    Image.fromarray(rgba, "RGBA").save(data / "images/d.png")  # alpha 0 everywhere


def _jpeg_image(data: Path) -> None:
    # Large enough that the header survives the cut: only a full decode finds the missing pixels.
    (data / "images/d.png").unlink()
    noise = np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(data / "images/d.jpg", quality=95)
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(data / "masks/d.png")
    path = data / "images/d.jpg"
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.8)])


def _jpeg_mask(data: Path) -> None:
    (data / "masks/d.png").unlink()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(data / "masks/d.jpg")


def _symlink_loop(data: Path) -> None:
    os.symlink("e.png", data / "images/e.png")  # e.png -> e.png


def _predict_model(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    _model(tmp)


def _disk_full(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    _model(tmp)
    from unetkit.inference import writers

    real = writers.save_rgb_png

    def save_rgb_png(path: Path, rgb: np.ndarray, compress_level: int = 6) -> Path:
        if Path(path).stem == "two":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, rgb, compress_level)

    mp.setattr(writers, "save_rgb_png", save_rgb_png)


def _all_fail(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    _model(tmp)
    for name in ("one", "two"):
        _truncate(tmp / f"images/{name}.png")


def _predict_symlink_loop(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    _model(tmp)
    os.symlink("loop.png", tmp / "images/loop.png")


def _predict_broken_link(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    _model(tmp)
    os.symlink("/nonexistent/gone.png", tmp / "images/gone.png")


def _out_is_file(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    _model(tmp)
    (tmp / "out").write_text("not a folder")


def _evil_model(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    _model(tmp)
    _evil_ckpt(tmp / "evil.ckpt", tmp / "payload_ran")


def _evil_resume(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    run = _run_folder(tmp)
    _evil_ckpt(run / "checkpoints/last.ckpt", tmp / "payload_ran")


def _truncated_last(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    run = _run_folder(tmp)
    (run / "checkpoints").mkdir()
    (run / "checkpoints/best.ckpt").write_bytes(b"a real best.ckpt")
    (run / "checkpoints/last.ckpt").write_bytes(b"PK\x03\x04 cut short")


def _killed_before_checkpoint(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    _run_folder(tmp)


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Path, pytest.MonkeyPatch], None]
    argv: Callable[[Path], list[str]]
    code: int
    message: str  # a regex searched in stderr
    absent: tuple[str, ...] = ("runs/r",)  # paths under tmp that must not exist afterwards
    present: tuple[str, ...] = ()
    # (signal, training step or "plan"): run in a subprocess that sends it then
    signal_at: tuple[str, int | str] | None = None


def _predict(*extra: str) -> Callable[[Path], list[str]]:
    return lambda t: ["predict", str(t / "model"), str(t / "images"), "--out", str(t / "out"), "-q", *extra]


CASES = [
    # ---- fit: every image of every split is decoded before the run folder exists
    Case(
        "truncated png (train)", data_fault(lambda d: _truncate(d / "images/a.png")), _fit_args, 2, r"a\.png"
    ),
    Case("truncated jpeg (test split)", data_fault(_jpeg_image), _fit_args, 2, r"d\.jpg.*corrupt"),
    Case(
        "gray+alpha, transparent (test split)", data_fault(_gray_alpha), _fit_args, 2, r"d\.png.*transparent"
    ),
    Case("transparent rgba (test split)", data_fault(_rgba), _fit_args, 2, r"d\.png.*transparent"),
    Case(
        "size mismatch",
        data_fault(lambda d: Image.fromarray(np.zeros((8, 16), np.uint8)).save(d / "masks/c.png")),
        _fit_args,
        2,
        r"c\.png.*same size",
    ),
    Case(
        "mask value out of range",
        data_fault(lambda d: Image.fromarray(np.full((16, 16), 7, np.uint8)).save(d / "masks/d.png")),
        _fit_args,
        2,
        r"d\.png has values 7",
    ),
    Case(
        "missing mask",
        data_fault(lambda d: (d / "masks/b.png").unlink()),
        _fit_args,
        2,
        r"b\.png has no mask",
    ),
    Case(
        "missing folder",
        data_fault(lambda d: [p.unlink() for p in (d / "masks").iterdir()] and (d / "masks").rmdir()),
        _fit_args,
        2,
        r"masks does not exist",
    ),
    Case(
        "rgb image for a 1-channel model (test split)",
        data_fault(lambda d: Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(d / "images/d.png")),
        _fit_args,
        2,
        r"d\.png has 3 channels but the model expects 1",
    ),
    Case("jpeg mask", data_fault(_jpeg_mask), _fit_args, 2, r"d\.jpg.*masks must be lossless \(PNG/TIFF\)"),
    Case(
        "symlink loop in images/",
        data_fault(_symlink_loop),
        _fit_args,
        2,
        r"images/e\.png: is a symlink loop",
    ),
    Case(
        "empty test split",
        data_fault(lambda d: None),
        lambda t: [*_fit_args(t), "data.options.split_lists={train: [a, b], val: [c], test: []}"],
        2,
        r"'test' split .* is empty",
    ),
    Case(
        "nan learning rate",
        data_fault(lambda d: None),
        lambda t: _fit_args(t, "optim.lr=.nan"),
        2,
        r"optim\.lr",
    ),
    Case(
        "huge learning rate",
        data_fault(lambda d: None),
        lambda t: _fit_args(t, "optim.lr=1e6", "trainer.max_epochs=3", "data.repeat=4"),
        4,  # constants.EXIT_DIVERGED: a run to retry, not bad input
        r"training stopped: .*(NaN|nan|inf).*lower optim\.lr \(now 1e\+06\) and start",  # clipping is on
    ),
    # ---- fit --resume: a checkpoint is data, never code
    Case(
        "resume from a checkpoint that runs code",
        _evil_resume,
        lambda t: ["fit", "--resume", str(t / "runs/r")],
        2,
        r"checkpoints/last\.ckpt: refusing to load: the checkpoint names the global \w*\.?open",
        absent=("payload_ran",),
        present=("runs/r/config.yaml",),
    ),
    Case(
        "resume from a truncated last.ckpt",
        _truncated_last,
        lambda t: ["fit", "--resume", str(t / "runs/r")],
        2,
        r"last\.ckpt: not a readable PyTorch checkpoint.*best\.ckpt exists: to resume from it, copy it",
        absent=(),
    ),
    Case(
        "resume a run killed before its first checkpoint",
        _killed_before_checkpoint,
        lambda t: ["fit", "--resume", str(t / "runs/r")],
        2,
        r"stopped before its first checkpoint; start it again with the same command",
        absent=("runs/r/checkpoints",),
    ),
    # ---- Ctrl-C (2 training steps per epoch): exit 130 with the resume command, or nothing kept
    Case(
        "ctrl-c after the first checkpoint",
        data_fault(lambda d: None),
        lambda t: _fit_args(t, "trainer.max_epochs=3", "data.repeat=2"),
        130,
        r"resume with: unetkit fit --resume \S*runs/r",
        absent=(),
        present=("runs/r/checkpoints/last.ckpt",),
        signal_at=("SIGINT", 3),
    ),
    Case(
        "ctrl-c before the first checkpoint",
        data_fault(lambda d: None),
        lambda t: _fit_args(t, "trainer.max_epochs=3", "data.repeat=2"),
        130,
        r"before its first checkpoint, so nothing was kept; run the same command again",
        signal_at=("SIGINT", 1),
    ),
    Case(
        "sigterm after the first checkpoint",
        data_fault(lambda d: None),
        lambda t: _fit_args(t, "trainer.max_epochs=3", "data.repeat=2"),
        143,  # 128 + SIGTERM, as a scheduler's kill is reported; the resume is named as for Ctrl-C
        r"resume with: unetkit fit --resume \S*runs/r",
        absent=(),
        present=("runs/r/checkpoints/last.ckpt",),
        signal_at=("SIGTERM", 3),
    ),
    Case(
        "sigterm while fit DIR plans",
        data_fault(_split_files),
        lambda t: ["fit", str(t / "data"), "--time", "1m", "--out", str(t / "runs/r")],
        143,  # Python's default had ended the process silently (-15)
        r"stopped by SIGTERM",
        absent=("runs/r",),
        signal_at=("SIGTERM", "plan"),
    ),
    # ---- predict / export
    Case(
        "predict --out is a file",
        _out_is_file,
        _predict(),
        2,
        r"out is a file; --out names a folder",
        absent=(),
    ),
    Case(
        "export --out is a file",
        _out_is_file,
        lambda t: ["export", str(t / "model"), "--out", str(t / "out")],
        2,
        r"out is a file; --out names a folder",
        absent=(),
    ),
    Case("predict: every input fails", _all_fail, _predict(), 2, r"all 2 input\(s\) failed", absent=("out",)),
    Case(
        "predict: disk full while writing",
        _disk_full,
        _predict(),
        3,
        r"out/overlays/two\.png",
        absent=("out/masks/two.png", "out/overlays/two.png"),
        present=("out/masks/one.png", "out/overlays/one.png", "out/summary.csv"),
    ),
    Case(
        # One bad entry fails alone (a trial: it had stopped the whole folder, nothing segmented).
        "predict: symlink loop in the input folder",
        _predict_symlink_loop,
        _predict(),
        3,
        r"images/loop\.png is a symlink loop; fix or remove the link",
        absent=("out/masks/loop.png",),
        present=("out/masks/one.png",),
    ),
    Case(
        "predict: broken symlink in the input folder",
        _predict_broken_link,
        _predict(),
        3,
        r"images/gone\.png is a broken symlink \(-> /nonexistent/gone\.png\); fix or remove the link",
        absent=("out/masks/gone.png",),
        present=("out/masks/one.png",),
    ),
    Case(
        # A glob, as a folder: the link is an input that fails alone (a re-check: silently dropped, rc 0).
        "predict: broken symlink matched by a glob",
        _predict_broken_link,
        lambda t: ["predict", str(t / "model"), str(t / "images" / "*.png"), "--out", str(t / "out"), "-q"],
        3,
        r"images/gone\.png is a broken symlink",
        present=("out/masks/one.png",),
    ),
    Case(
        "predict: mixed good and bad inputs",
        lambda t, mp: (_model(t), _truncate(t / "images/two.png")),
        _predict(),
        3,
        r"two\.png.*corrupt",
        absent=("out/masks/two.png",),
        present=("out/masks/one.png",),
    ),
    Case(
        "predict: checkpoint that runs code",
        _evil_model,
        lambda t: [
            "predict",
            str(t / "evil.ckpt"),
            str(t / "images"),
            "--out",
            str(t / "out"),
            "--backend",
            "torch",
        ],
        2,
        r"evil\.ckpt: refusing to load: the checkpoint names the global",
        absent=("payload_ran", "out"),
    ),
    Case(
        "export: checkpoint that runs code",
        _evil_model,
        lambda t: ["export", str(t / "evil.ckpt")],
        2,
        r"evil\.ckpt: refusing to load: the checkpoint names the global",
        absent=("payload_ran", "export"),
    ),
]


RUNNER = Path(__file__).resolve().parents[1] / "training" / "self_signal.py"


def _run(case: Case, tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    if case.signal_at is None:
        code = main(case.argv(tmp))
        return code, capsys.readouterr().err
    name, step = case.signal_at
    done = subprocess.run(
        [sys.executable, str(RUNNER), name, str(step), *case.argv(tmp), "trainer.num_threads=1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # "interrupted: ..." is the console line of exit 130 (main.py); count it with the error lines.
    return done.returncode, ("\n" + done.stderr).replace("\ninterrupted: ", "\nerror: ")


# The longest cases (s on a 2-vCPU Xeon): the default suite must stay under 10 minutes. A SIGTERM after
# the first checkpoint stays in it and covers the same kept run folder; a Ctrl-C before it, an interrupted
# command that keeps nothing.
SLOW_CASES = {"ctrl-c after the first checkpoint", "sigterm while fit DIR plans"}  # 9.6 s, 8.5 s


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=pytest.mark.slow) if c.name in SLOW_CASES else c for c in CASES],
    ids=[c.name for c in CASES],
)
def test_fault(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    case.setup(tmp_path, monkeypatch)
    code, err = _run(case, tmp_path, capsys)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == case.code, err[-3000:]
    assert errors and re.search(case.message, "\n".join(errors)), err[-3000:]
    assert "Traceback" not in err and "weights_only=False" not in err
    for rel in case.absent:
        assert not (tmp_path / rel).exists() and not (tmp_path / rel).is_symlink(), rel
    for rel in case.present:
        assert (tmp_path / rel).exists(), rel
    argv = case.argv(tmp_path)
    if argv[0] == "fit" and "--resume" not in argv and "runs/r" in case.absent:
        # Nothing was written, so the same command can run again once the input is fixed.
        assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_predict_onnxruntime_finds_the_model_that_export_just_wrote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`unetkit export RUN` writes RUN/export/ by default; `predict RUN --backend onnxruntime` looks there."""
    pytest.importorskip("onnxruntime")
    _model(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "model").rename(run / "model")  # a run folder: RUN/model holds the trained weights
    assert main(["export", str(run)]) == 0
    out = tmp_path / "out"
    assert (
        main(["predict", str(run), str(tmp_path / "images"), "--out", str(out), "--backend", "onnxruntime"])
        == 0
    )
    assert (out / "masks" / "one.png").is_file()
    assert str(run / "export") in capsys.readouterr().out
