"""``unetkit plan DIR``: prints the plan, writes plan.yaml and dataset.json; nothing written on failure."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from unetkit.cli.main import main
from unetkit.cli.plan import parse_split

MakeDataset = Callable[..., Path]
FAST = ["--threads", "1", "--measure-limit", "2"]


def assert_png(path: Path) -> None:
    """A whole PNG (Pillow decodes it to the end) of a readable size."""
    from PIL import Image

    with Image.open(path) as png:
        png.load()
        assert png.format == "PNG" and png.size[0] > 800 and png.size[1] > 300


def test_plan_writes_plan_yaml_and_dataset_json(
    tmp_path: Path,
    make_dataset: MakeDataset,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    import unetkit.planning.plan as plan_module
    from unetkit.training.config import load_config

    # plan_folder asks for bf16's decision at the width its plan trains (test_s26_bf16_width.py).
    confirmed: list[object] = []
    confirm = plan_module.confirm_at_trained_width
    monkeypatch.setattr(
        plan_module, "confirm_at_trained_width", lambda *a, **k: (confirmed.append(a[0]), confirm(*a, **k))[1]
    )
    root = make_dataset(n=12)
    out = tmp_path / "out" / "plan.yaml"
    args = ["plan", str(root), "--time", "2m", "--out", str(out), "--threads", "1", "--measure-limit", "3"]
    code = main(args)
    assert code == 0
    printed = capsys.readouterr().out
    assert "masks: binary, 2 classes" in printed and "candidates (measured steps)" in printed
    assert "model.kwargs.base_channels:" in printed
    config = load_config(out)
    assert config.trainer.max_time_minutes == 2.0 and config.data.dataset == "folder"
    # --device auto measured the GPU if torch sees one, else the CPU; the plan trains where it was measured.
    gpu = torch.cuda.is_available()
    assert config.trainer.accelerator == ("gpu" if gpu else "cpu")
    assert f"plan (2m on {'cuda' if gpu else 'cpu'}; planned in " in printed  # as --time writes it
    dataset = json.loads((out.parent / "dataset.json").read_text())
    assert dataset["mask"]["kind"] == "binary" and len(dataset["pairs"]) == 12
    assert dataset["fingerprint"]["num_images"] == {"train": 8, "val": 2, "test": 2}
    # The plan at a glance, beside plan.yaml, and said; no temp file of the atomic writes is left.
    assert_png(out.parent / "plan.png")
    assert f"the plan at a glance: {out.parent / 'plan.png'}" in printed
    assert len(confirmed) == 1
    assert f"train it as planned: unetkit fit {root} --plan {out} (fit {root} alone plans again" in printed
    assert sorted(p.name for p in out.parent.iterdir()) == ["dataset.json", "plan.png", "plan.yaml"]


def test_device_auto_measures_the_gpu_when_torch_sees_one(
    tmp_path: Path, make_dataset: MakeDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    import unetkit.planning as planning

    measured: list[str] = []

    def fake_measure(cands, channels, classes, device, **_):  # type: ignore[no-untyped-def]
        measured.append(device)
        raise RuntimeError("stop after the device is known")

    import unetkit.devices as devices

    control = tmp_path / "nvidiactl"  # the NVIDIA driver's control device, as on a GPU machine
    control.touch()
    monkeypatch.setattr(devices, "_NVIDIA_CONTROL", control)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(planning, "measure_candidates", fake_measure)
    root = make_dataset(n=12)
    with pytest.raises(RuntimeError, match="stop after"):
        main(["plan", str(root), "--time", "2m", "--out", str(tmp_path / "p.yaml"), "--threads", "1"])
    assert measured == ["cuda"]
    measured.clear()
    with pytest.raises(RuntimeError, match="stop after"):
        main(["plan", str(root), "--device", "cpu", "--out", str(tmp_path / "p.yaml"), "--threads", "1"])
    assert measured == ["cpu"]


@pytest.mark.slow  # 5 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_a_named_plan_keeps_its_own_dataset_json(
    tmp_path: Path, make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset(n=12)
    for name in ("a.yaml", "b.yaml"):
        args = ["plan", str(root), "--time", "2m", "--out", str(tmp_path / name), "--threads", "1"]
        assert main([*args, "--measure-limit", "2"]) == 0
    assert (tmp_path / "a.dataset.json").is_file() and (tmp_path / "b.dataset.json").is_file()
    assert not (tmp_path / "dataset.json").exists()
    assert_png(tmp_path / "a.png")
    assert_png(tmp_path / "b.png")
    assert not (tmp_path / "plan.png").exists()
    wrote = f"wrote {tmp_path / 'b.yaml'} and {tmp_path / 'b.dataset.json'}"
    assert wrote in capsys.readouterr().out


def test_plan_writes_nothing_on_bad_input(
    tmp_path: Path, make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset(n=12)
    (root / "masks" / "img03.png").unlink()
    out = tmp_path / "out" / "plan.yaml"
    assert main(["plan", str(root), "--time", "2m", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: image ") and "img03.png has no mask" in err and err.count("\n") == 1
    assert not out.exists() and not (out.parent / "dataset.json").exists()
    assert not (out.parent / "plan.png").exists()


def test_plan_bad_time(make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(make_dataset(n=12)), "--time", "soon"]) == 2
    assert "write e.g. 20m" in capsys.readouterr().err


def test_parse_split() -> None:
    expected = {"train": (0, 20), "val": (20, 24), "test": (24, 30)}
    assert parse_split("train=0:20,val=20:24,test=24:30") == expected
    with pytest.raises(ValueError, match="train=0:20"):
        parse_split("train=0-20")


@pytest.mark.parametrize(("faster", "expected"), [(1, 1), (2, 2)])
def test_pick_threads_keeps_the_faster_count(
    monkeypatch: pytest.MonkeyPatch, faster: int, expected: int
) -> None:
    """The faster count wins although a burst of load slowed its first timed step: the counts alternate and
    the fastest step of each counts (a busy machine once picked 1 thread from single steps)."""
    import torch

    import unetkit.planning.plan as plan_module
    from unetkit.planning.folder import THREAD_PROBE_ROUNDS, pick_threads
    from unetkit.planning.plan import Candidate

    probe = Candidate(4, 3, (32, 32), 2)
    calls: list[int] = []

    class FakeStep:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def __call__(self) -> float:
            n = torch.get_num_threads()
            calls.append(n)
            if n != faster:
                return 0.5
            timed = calls.count(n) - 1  # 0: the warm-up
            return 2.0 if timed == 1 else 0.1  # a burst of other work on its first timed step

    monkeypatch.setattr(plan_module, "TrainingStep", FakeStep)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        note = pick_threads(probe, 1, 2)
        assert torch.get_num_threads() == expected
        assert note.startswith(f"{expected}: ") and "2 thread(s) " in note and "1 thread(s) " in note
        assert calls == [2, 1] * (1 + THREAD_PROBE_ROUNDS)  # alternating, after one warm-up each
    finally:
        torch.set_num_threads(before)


def test_pick_threads_probes_a_large_crop_at_most_512_a_side(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1024x1024 crop's probe took 26 s of a 10 s --measure-limit: it is probed at 512 a side."""
    import torch

    import unetkit.planning.plan as plan_module
    from unetkit.planning.folder import pick_threads
    from unetkit.planning.plan import Candidate

    crops: list[tuple[int, int]] = []

    class FakeStep:
        def __init__(self, cand: Candidate, *args: object, **kwargs: object) -> None:
            crops.append(cand.crop)

        def __call__(self) -> float:
            return 0.1

    monkeypatch.setattr(plan_module, "TrainingStep", FakeStep)
    before = torch.get_num_threads()
    try:
        note = pick_threads(Candidate(8, 5, (1024, 300), 2), 1, 2)
        assert crops == [(512, 300)]
        assert "base 8 at 300x512)" in note  # W x H
        pick_threads(Candidate(8, 5, (96, 128), 2), 1, 2)
        assert crops[-1] == (96, 128)
    finally:
        torch.set_num_threads(before)


def test_the_machine_line_says_threads_of_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial read "machine: ..., 1 thread(s)" as a one-core machine: the plan's threads stand beside the
    CPUs."""
    import os

    from unetkit.planning.folder import threads_text

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert threads_text(1) == "training threads: 1 of 2 CPUs"
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert threads_text(1) == "training threads: 1 of 1 CPU"


def test_alternating_fastest_counts_each_contenders_fastest_step() -> None:
    from unetkit.planning.plan import alternating_fastest

    order: list[str] = []

    def steps(name: str, times: list[float]) -> Callable[[], float]:
        def run() -> float:
            order.append(name)
            return times.pop(0)

        return run

    best = alternating_fastest({"a": steps("a", [9.0, 3.0, 1.0]), "b": steps("b", [9.0, 2.0, 2.0])}, rounds=2)
    assert best == {"a": 1.0, "b": 2.0}  # the warm-up (9 s) never counts
    assert order == ["a", "b", "a", "b", "a", "b"]


def test_plan_folder_options_name_unusual_folders(
    tmp_path: Path, make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset(n=12, mask_dir="tracings")  # a folder name discovery does not guess
    out = tmp_path / "out" / "plan.yaml"
    base = ["plan", str(root), "--time", "1m", "--out", str(out), "--threads", "1", "--measure-limit", "2"]
    assert main(base) == 2
    assert "it holds images/, tracings/" in capsys.readouterr().err and not out.exists()
    # The masks double as an ROI here: enough to see that both options reach discovery.
    assert main([*base, "--masks", "tracings", "--roi", "tracings"]) == 0
    dataset = json.loads((out.parent / "dataset.json").read_text())
    assert dataset["mask_dirs"] == [str(root / "tracings")] and dataset["roi_dirs"] == [
        str(root / "tracings")
    ]


def test_fit_folder_options_need_a_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--masks", "gt", "trainer.max_epochs=1"]) == 2
    assert "--masks plans a dataset folder" in capsys.readouterr().err


def test_a_failure_while_drawing_writes_no_plan_file(
    tmp_path: Path, make_dataset: MakeDataset, failing_savefig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out" / "plan.yaml"
    assert main(["plan", str(make_dataset(n=12)), "--time", "2m", "--out", str(out), *FAST]) == 2
    assert failing_savefig in capsys.readouterr().err
    # Nothing at all: no half PNG, no temp file, and no plan.yaml/dataset.json without their figure.
    assert not out.parent.exists() or not list(out.parent.iterdir())


def test_fit_dir_writes_plan_png_into_the_run_folder(
    tmp_path: Path, make_dataset: MakeDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fit DIR`` (and ``fit DIR --plan FILE``) put plan.png beside plan.yaml in the run folder; training is
    faked: the files are written when fit announces the folder (before training: a run killed later keeps
    them), whatever training does."""
    import unetkit.training.fit as training_fit

    def fake_fit(config: Any, *, run_dir: Path, announce: Any = None, **kwargs: object) -> SimpleNamespace:
        run_dir.mkdir(parents=True)
        announce(run_dir)
        (run_dir / "checkpoints").mkdir(parents=True)
        (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"")
        return SimpleNamespace(is_global_zero=False)

    monkeypatch.setattr(training_fit, "fit", fake_fit)
    root, runs = make_dataset(n=12), tmp_path / "runs"
    assert main(["fit", str(root), "--time", "1m", *FAST, f"output.root={runs}", "output.name=planned"]) == 0
    run = runs / "planned"
    assert_png(run / "plan.png")
    assert (run / "plan.yaml").is_file() and (run / "dataset.json").is_file()
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]  # no temp file left behind
    # fit --plan FILE copies the figure written beside the plan file.
    plan = tmp_path / "mine.yaml"
    assert main(["plan", str(root), "--time", "1m", "--out", str(plan), *FAST]) == 0
    assert main(["fit", str(root), "--plan", str(plan), f"output.root={runs}", "output.name=reused"]) == 0
    assert (runs / "reused" / "plan.png").read_bytes() == (tmp_path / "mine.png").read_bytes()
    # Its plan.yaml says which plan file it trained and with which overrides (the file's own header may
    # name another run's): the plan file follows unchanged.
    reused = (runs / "reused" / "plan.yaml").read_text()
    assert reused == f"# this run trained {plan.resolve()} with output.root={runs} output.name=reused\n" + (
        plan.read_text()
    )
    # A run folder's plan.yaml trained again: its header (that run's overrides) gives way to this run's (a
    # trial read "with model.name=unet" above the earlier run's "model.name=pixel_classifier").
    again = runs / "reused" / "plan.yaml"
    assert main(["fit", str(root), "--plan", str(again), f"output.root={runs}", "output.name=again"]) == 0
    header = f"# this run trained {again.resolve()} with output.root={runs} output.name=again\n"
    assert (runs / "again" / "plan.yaml").read_text() == header + plan.read_text()


def test_plan_shows_the_void_share_and_warns_when_rare_classes_lack_steps(
    tmp_path: Path, make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    # Multi-class trial #8: with --void 11 the plan said "void [11]" but never how many pixels are void.
    # Trial #2: at 524 of the 2000 steps the plan said rare classes were handled; five ended at 0 IoU.
    import numpy as np

    def mask(i: int) -> np.ndarray:
        m = np.zeros((32, 32), np.uint8)
        m[8:24, 4:20] = 1
        m[30, 30 - i % 4] = 2  # class 2: one pixel of 1024, rare
        m[:4] = 9  # void: 4 rows of 32, 12.5%
        return m

    root = make_dataset(n=12, mask=mask)
    out = tmp_path / "plan.yaml"
    # --device cpu: 30 s on a CPU buys fewer than 2000 steps; on an H100 it buys more and no warning is due
    # (benchmarks/results/cuda_fit/recheck/cuda_fit.log).
    cmd = ["plan", str(root), "--void", "9", "--time", "30s", "--device", "cpu", "--out", str(out), *FAST]
    assert main(cmd) == 0
    printed = capsys.readouterr().out
    assert "  void [9]: 12.50% of the sampled pixels are void (not trained on or scored" in printed
    (warning,) = [line for line in printed.splitlines() if line.startswith("warning: ")]
    assert "class_2 holds < 2% of the pixels and may stay at 0 IoU at this budget" in warning
    assert "--time " in warning and " steps predicted, below the 2000 " in warning
    assert f"# {warning}" in out.read_text()
