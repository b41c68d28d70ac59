"""Discovery, fingerprint and the whole ``unetkit plan`` on the three real datasets of ../shared/data."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from unetkit.cli.main import main
from unetkit.planning import discover, fingerprint

EXPECTED = {
    # dataset: (discover options, mask kind, classes, channels, split sizes)
    "isbi2012": ({}, "binary", 2, 1, {"train": 20, "val": 4, "test": 6}),
    "camvid": ({"void": 11}, "index", 11, 3, {"train": 184, "val": 51, "test": 233}),
    "dsb2018": ({}, "instances", 2, 3, {"train": 532, "val": 66, "test": 66}),
}


@pytest.mark.realdata
@pytest.mark.parametrize("name", list(EXPECTED))
def test_discover_and_fingerprint_real_data(shared_data: Path, name: str) -> None:
    options, kind, classes, channels, sizes = EXPECTED[name]
    start = time.perf_counter()
    layout = discover(shared_data / name, **options)
    fp = fingerprint(layout)
    assert time.perf_counter() - start < 20
    assert (layout.mask.kind, layout.mask.num_classes, layout.channels) == (kind, classes, channels)
    assert {k: len(v) for k, v in layout.splits.items()} == sizes
    assert fp.normalization == ("unit" if name == "camvid" else "zscore")
    assert (fp.vertical_asymmetry > 0.5) == (name == "camvid")  # road scenes have an up, microscopy not


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize(("name", "args"), [("isbi2012", []), ("camvid", ["--void", "11"]), ("dsb2018", [])])
def test_plan_real_data_within_60s(shared_data: Path, tmp_path: Path, name: str, args: list[str]) -> None:
    start = time.perf_counter()
    out = tmp_path / "plan.yaml"
    assert main(["plan", str(shared_data / name), "--time", "20m", "--out", str(out), *args]) == 0
    assert time.perf_counter() - start < 60
    assert out.is_file() and (tmp_path / "dataset.json").is_file()
