"""The self-configuring fit from Python: ``unetkit.plan_folder`` and ``unetkit.fit_folder`` do what
``unetkit plan DIR`` / ``unetkit fit DIR`` do, print nothing and leave torch's thread count as found."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import unetkit

MakeDataset = Callable[..., Path]
FAST = {"threads": 1, "measure_limit": 2.0, "device": "cpu"}
# The caller's count, 2, differs from the plan's 1: a count left behind would show.
pytestmark = pytest.mark.usefixtures("two_threads")


def test_plan_folder_returns_the_plan_and_keeps_the_thread_count(
    make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    root = make_dataset(n=12)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    # Its INFO lines are logging's, which an earlier CLI test's console handler would show on stderr.
    with caplog.at_level(logging.WARNING, logger="unetkit"):
        planned = unetkit.plan_folder(root, budget="2m", **FAST)
    assert torch.equal(torch.rand(3), expected)  # the timed steps built models: the stream is the caller's
    assert torch.get_num_threads() == 2  # it measured with 1 thread
    assert planned.plan.config["trainer"]["num_threads"] == 1
    assert planned.layout.mask.kind == "binary" and planned.plan.config["trainer"]["max_time_minutes"] == 2.0
    assert "base_channels:" in planned.plan_yaml
    assert capsys.readouterr() == ("", "")  # library code prints nothing
    with pytest.raises(ValueError, match="--threads must be an integer >= 1, got 0; pass 1 or more") as err:
        unetkit.plan_folder(root, threads=0)
    assert "\n" not in str(err.value)
    # A wrong type is a TypeError (it was a ValueError), with the fix.
    for wrong, fix in (("2", "threads=2"), (2.0, "threads=2"), (True, "threads=1"), ("two", "threads=1")):
        with pytest.raises(TypeError, match=f"threads must be an int .* got {type(wrong).__name__} ") as err:
            unetkit.plan_folder(root, threads=wrong)  # type: ignore[arg-type]
        assert f"; pass e.g. {fix}, or None" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow  # 7 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_fit_folder_trains_the_plan_and_scores_val(
    make_dataset: MakeDataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset(n=12)
    out = tmp_path / "runs" / "mine"
    seen: list[Path] = []
    result = unetkit.fit_folder(
        root,
        "1m",
        score="val",
        out=out,
        overrides=["trainer.max_epochs=1", "model.kwargs.base_channels=6", "evaluate.split=val"],
        announce=seen.append,
        **FAST,
    )
    assert result.run_dir == out and seen == [out] and torch.get_num_threads() == 2
    for name in ("plan.yaml", "dataset.json", "plan.png", "model/config.json", "metrics_val.json"):
        assert (out / name).is_file(), name
    assert not (out / "metrics_test.json").exists()  # the test split stays unseen
    # The run's plan.yaml shows what the run trained with, and names only the overrides that changed the
    # plan (score="val" set the split already); it had kept the plan's width under a header naming all.
    plan_text = (out / "plan.yaml").read_text()
    assert plan_text.startswith(
        "# overridden by fit_folder's overrides: trainer.max_epochs=1 model.kwargs.base_channels=6\n"
    )
    chose = r"\n    # set on the command line \(the plan chose \d+: .*\n    base_channels: 6\n"
    assert re.search(chose, plan_text)
    assert json.loads((out / "train.json").read_text())["command"].startswith(f"fit_folder({str(root)!r}")
    assert capsys.readouterr().out == ""
    with pytest.raises(
        ValueError, match=r"score must be one of \('test', 'val'\) or None \(the plan's choice\), got 'tset'"
    ):
        unetkit.fit_folder(root, score="tset")
    with pytest.raises(
        ValueError, match=r"out='/' names no folder; give the new run folder, e\.g\. out='runs/mine'"
    ):
        unetkit.fit_folder(root, out="/")  # refused before planning, as --out is
    with pytest.raises(TypeError, match="a list of key=value strings"):
        unetkit.fit_folder(root, overrides="trainer.max_epochs=1")  # type: ignore[arg-type]


@pytest.mark.slow  # 7 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_fit_folder_scores_the_plans_split_by_default(make_dataset: MakeDataset, tmp_path: Path) -> None:
    """A review found fit_folder(DIR, budget) forcing evaluate.split=test: on a folder with train.txt and
    val.txt only it failed after planning ("has no 'test' split"), where `unetkit fit DIR` scores val."""
    root = make_dataset(n=12)
    (root / "train.txt").write_text("".join(f"img{i:02d}\n" for i in range(10)))
    (root / "val.txt").write_text("img10\nimg11\n")
    out = tmp_path / "run"
    unetkit.fit_folder(root, "1m", out=out, overrides=["trainer.max_epochs=1"], **FAST)
    assert (out / "metrics_val.json").is_file() and not (out / "metrics_test.json").exists()
    assert "split: val" in (out / "plan.yaml").read_text()


def test_unknown_top_level_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="fit_foldr"):
        unetkit.fit_foldr  # type: ignore[attr-defined]  # noqa: B018


def test_every_public_name_loads_and_tab_completion_lists_it() -> None:
    """dir(unetkit) had missed the lazily loaded names, so a notebook's completion never offered them."""
    for name in unetkit.__all__:
        assert name in dir(unetkit) and getattr(unetkit, name) is not None, name
    assert {"load_instance_predictor", "use_scored_tta", "fit_folder"} <= set(unetkit.__all__)


FRESH_PROCESS_FIT = r"""
import json, logging, random, sys, warnings
import numpy as np
import unetkit

def loggers():
    names = ("lightning", "lightning.pytorch", "lightning.fabric")
    return [(logging.getLogger(n).level, len(logging.getLogger(n).handlers), logging.getLogger(n).propagate)
            for n in names]

random.seed(1)
np.random.seed(2)
before = (random.getstate(), np.random.get_state()[1].tolist(), loggers())
filters = list(warnings.filters)
unetkit.fit_folder(sys.argv[1], "1m", score="val", out=sys.argv[2], overrides=["trainer.max_epochs=1"],
                   threads=1, measure_limit=2.0, device="cpu")
after = (random.getstate(), np.random.get_state()[1].tolist(), loggers())
# SciPy's and torch.jit's import-time filters are theirs; Lightning's and unetkit's own must not stay.
added = [repr(f) for f in warnings.filters if f not in filters]
ours = [r for r in added if any(k in r for k in ("lightning", "FSDP", "LeafSpec", "Checkpoint"))]
print(json.dumps([a == b for a, b in zip(before, after)] + [ours]), file=sys.__stdout__)
"""


@pytest.mark.slow  # 16 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_a_first_fit_folder_in_a_fresh_process_prints_nothing_and_keeps_the_process_state(
    make_dataset: MakeDataset, tmp_path: Path
) -> None:
    """Lightning's first import (inside the first fit of a notebook) printed its device lines through a
    handler of its own, drew from Python's random stream and added warnings filters; its FutureWarning about
    torch's LeafSpec reached stderr."""
    import subprocess
    import sys

    root = make_dataset(n=12)
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_FIT, str(root), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    # random stream, NumPy stream, Lightning's loggers: as before; no warnings filter of Lightning's or ours.
    assert json.loads(done.stdout) == [True, True, True, []]
    assert done.stderr == ""


def test_void_is_stored_values_a_digit_string_is_one_value(make_dataset: MakeDataset) -> None:
    """void="255" had become the void values [2, 5, 5]; void=[300] on 8-bit masks ignored nothing, unsaid."""
    import numpy as np

    def mask(i: int) -> np.ndarray:
        m = np.zeros((32, 32), np.uint8)
        m[8:24, 4:20] = 1
        m[:4] = 12
        return m

    root = make_dataset(n=12, mask=mask)
    planned = unetkit.plan_folder(root, budget="30s", void="12", **FAST)
    assert "  void [12]: 12.50% of the sampled pixels are void" in "\n".join(planned.lines)
    planned = unetkit.plan_folder(root, budget="30s", void=[12, 300], mask_kind="index", **FAST)
    assert "void [12, 300]: 12.50%" in "\n".join(planned.lines)
    with pytest.raises(ValueError, match=r"void must be stored mask values \(ints\), got 'a' in \['a'\]"):
        unetkit.plan_folder(root, void=["a"])
    with pytest.raises(TypeError, match=r"void must be stored mask values \(ints\), got True"):
        unetkit.plan_folder(root, void=True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"dataset folder must be a path \(str or Path\), got None"):
        unetkit.plan_folder(None)  # type: ignore[arg-type]


def test_a_void_value_no_mask_holds_is_said(make_dataset: MakeDataset) -> None:
    planned = unetkit.plan_folder(make_dataset(n=12), budget="30s", void=[300], **FAST)
    assert "  void [300]: no sampled pixel is void; check the value(s) against the mask values above" in (
        planned.lines
    )


def test_a_bare_budget_of_one_is_one_minute(make_dataset: MakeDataset) -> None:
    planned = unetkit.plan_folder(make_dataset(n=12), budget="1", **FAST)
    assert "budget: --time 1 is read as 1 minute (write 20m, 90s or 1h)" in planned.lines
