"""Discovery, fingerprint and the whole ``unetkit plan`` on the three real datasets of ../shared/data."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from unetkit.cli.main import main
from unetkit.planning import discover, fingerprint
from unetkit.planning.plan import has_up

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
    assert has_up(fp) == (name == "camvid")  # and not by chance (fp.upright_p)
    # DSB2018's fluorescence exposures differ (a per-image window); one EM stack and photos keep one scale.
    window = fp.intensity_window
    per_image = isinstance(window, dict) and window["percentiles"] == [1.0, 99.8]
    assert per_image == (name == "dsb2018"), fp.exposure_spread
    if per_image:  # at least the narrowest sampled training span wide (a background tile stays dark)
        assert isinstance(window, dict) and window["min_span"] > 1


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize(("name", "args"), [("isbi2012", []), ("camvid", ["--void", "11"]), ("dsb2018", [])])
def test_plan_real_data_within_60s(shared_data: Path, tmp_path: Path, name: str, args: list[str]) -> None:
    start = time.perf_counter()
    out = tmp_path / "plan.yaml"
    assert main(["plan", str(shared_data / name), "--time", "20m", "--out", str(out), *args]) == 0
    assert time.perf_counter() - start < 60
    assert out.is_file() and (tmp_path / "dataset.json").is_file()


CAMVID_NAMES = ["Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car",
                "Pedestrian", "Bicyclist"]  # fmt: skip  # CamVid's README, class index order


@pytest.mark.realdata
@pytest.mark.parametrize("where", ["in_folder", "option"])
def test_camvid_class_names_from_a_classes_file(shared_data: Path, tmp_path: Path, where: str) -> None:
    # The shared data is read-only: a classes.json beside symlinks to it, or one passed as classes_file.
    import json

    from unetkit.data.datasets import get_dataset_spec

    table = {"classes": [*CAMVID_NAMES, {"name": "Unlabelled", "value": 11, "void": True}]}
    if where == "in_folder":
        root = tmp_path / "camvid"
        root.mkdir()
        for item in ("images", "masks", "train.txt", "val.txt", "test.txt"):
            (root / item).symlink_to(shared_data / "camvid" / item)
        (root / "classes.json").write_text(json.dumps(table))
        layout = discover(root)
    else:
        (tmp_path / "camvid.json").write_text(json.dumps(table))
        layout = discover(shared_data / "camvid", classes_file=tmp_path / "camvid.json")
    assert list(layout.mask.class_names) == CAMVID_NAMES and layout.mask.ignore_values == (11,)
    opts, _ = layout.folder_options()
    spec = get_dataset_spec("folder", root=layout.root, **opts, mean=[0.5] * 3, std=[0.25] * 3)
    assert list(spec.class_names) == CAMVID_NAMES and spec.encoding.ignore_values == (11,)


@pytest.mark.realdata
def test_dsb2018_instance_labels_train_as_nucleus_vs_background(shared_data: Path) -> None:
    import numpy as np

    from unetkit.data.datasets import get_dataset_spec
    from unetkit.data.folder import FolderDataset
    from unetkit.planning.discovery import read_mask_values

    layout = discover(shared_data / "dsb2018")
    opts, missing = layout.folder_options()
    assert missing == [] and opts["mask_kind"] == "instances"
    spec = get_dataset_spec("folder", root=layout.root, **opts, mean=[0.5] * 3, std=[0.25] * 3)
    dataset = FolderDataset(spec.pairs("val")[:2], spec.encoding, 3, spec.mean, spec.std)
    for i in range(2):
        target = dataset[i]["mask"].numpy()
        labels = read_mask_values(dataset.pairs[i][1])
        assert labels.max() > 1 and np.array_equal(target, (labels > 0).astype(np.int64))
