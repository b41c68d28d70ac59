"""The self-configuring fit from Python: ``unetkit.plan_folder`` and ``unetkit.fit_folder`` do what
``unetkit plan DIR`` / ``unetkit fit DIR`` do, print nothing and leave torch's thread count as found."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

import unetkit

MakeDataset = Callable[..., Path]
FAST = {"threads": 1, "measure_limit": 2.0, "device": "cpu"}


@pytest.fixture(autouse=True)
def two_threads() -> Iterator[None]:
    """The caller's count, 2, differs from the plan's 1: a count left behind would show."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_plan_folder_returns_the_plan_and_keeps_the_thread_count(
    make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset(n=12)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    planned = unetkit.plan_folder(root, budget="2m", **FAST)
    assert torch.equal(torch.rand(3), expected)  # the timed steps built models: the stream is the caller's
    assert torch.get_num_threads() == 2  # it measured with 1 thread
    assert planned.plan.config["trainer"]["num_threads"] == 1
    assert planned.layout.mask.kind == "binary" and planned.plan.config["trainer"]["max_time_minutes"] == 2.0
    assert "base_channels:" in planned.plan_yaml
    assert capsys.readouterr() == ("", "")  # library code prints nothing
    with pytest.raises(ValueError, match="--threads must be an integer >= 1, got 0"):
        unetkit.plan_folder(root, threads=0)


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
        overrides=["trainer.max_epochs=1"],
        announce=seen.append,
        **FAST,
    )
    assert result.run_dir == out and seen == [out] and torch.get_num_threads() == 2
    for name in ("plan.yaml", "dataset.json", "plan.png", "model/config.json", "metrics_val.json"):
        assert (out / name).is_file(), name
    assert not (out / "metrics_test.json").exists()  # the test split stays unseen
    assert (out / "plan.yaml").read_text().startswith("# overridden: trainer.max_epochs=1")
    assert json.loads((out / "train.json").read_text())["command"].startswith(f"fit_folder({str(root)!r}")
    assert capsys.readouterr().out == ""
    with pytest.raises(ValueError, match=r"score must be one of \('test', 'val'\), got 'tset'"):
        unetkit.fit_folder(root, score="tset")
    with pytest.raises(ValueError, match=r"out / names no folder; give the new run folder"):
        unetkit.fit_folder(root, out="/")  # refused before planning, as --out is
    with pytest.raises(TypeError, match="a list of key=value strings"):
        unetkit.fit_folder(root, overrides="trainer.max_epochs=1")  # type: ignore[arg-type]


def test_unknown_top_level_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="fit_foldr"):
        unetkit.fit_foldr  # type: ignore[attr-defined]  # noqa: B018
