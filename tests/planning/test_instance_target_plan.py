"""``--target`` for instance labels: the layout, fingerprint and plan of a boundary / energy target, the
``unetkit plan DIR --target`` files, and its one-line error on masks that are not instance labels."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from unetkit.cli.main import main
from unetkit.data.datasets import get_dataset_spec
from unetkit.planning import discover, fingerprint
from unetkit.planning.discovery import with_instance_target
from unetkit.planning.plan import dataset_config

MakeDataset = Callable[..., Path]


def touching_labels(i: int, size: int = 32) -> np.ndarray:
    """16-bit labels: two touching 8x6 rectangles (ids 400 + 2i, 401 + 2i) and a separate small square."""
    m = np.zeros((size, size), np.uint16)
    r = 4 + (i * 3) % (size - 14)
    m[r : r + 8, 4:10] = 400 + 2 * i
    m[r : r + 8, 10:16] = 401 + 2 * i
    m[20:26, 22:28] = 1000 + i
    return m


def test_boundary_target_layout_fingerprint_and_options(make_dataset: MakeDataset) -> None:
    layout = discover(make_dataset(n=12, mask=touching_labels))
    assert layout.mask.kind == "instances" and layout.mask.num_classes == 2
    boundary = with_instance_target(layout, "boundary")
    assert boundary.mask.num_classes == 3 and boundary.mask.class_names == (
        "background",
        "interior",
        "boundary",
    )
    fp = fingerprint(boundary)
    assert [c.name for c in fp.classes] == ["background", "interior", "boundary"]
    # The seam pixels are measured as their own class; the objects' sizes still come from the labels.
    assert 0 < fp.classes[2].pixel_fraction < fp.classes[1].pixel_fraction
    assert fp.classes[1].objects == 3 * len(layout.samples_of("train"))
    data, reasons, _ = dataset_config(boundary, fp)
    opts = data["options"]
    assert opts["instance_target"] == "boundary" and opts["boundary_radius"] == 2 and opts["num_classes"] == 3
    assert "U-Net paper" in reasons["data.options.instance_target"]
    spec = get_dataset_spec("folder", root=layout.root, **opts)  # the plan's options build the dataset
    assert spec.num_classes == 3 and spec.encoding.instance_target == "boundary"
    energy = with_instance_target(layout, "energy")
    assert energy.mask.class_names[-1] == "level_4"
    assert dataset_config(energy, fingerprint(energy))[0]["options"]["energy_levels"] == [1, 3, 5, 8]
    # --target semantic keeps the discovered classes and writes no target option.
    semantic = with_instance_target(layout, "semantic")
    assert semantic.mask.num_classes == 2 and "instance_target" not in semantic.folder_options()[0]


def test_target_needs_instance_labels_and_a_known_name(make_dataset: MakeDataset) -> None:
    binary = discover(make_dataset(n=12))  # 0/255 masks
    with pytest.raises(ValueError, match=r"needs instance label masks .* are binary; drop --target"):
        with_instance_target(binary, "boundary")
    layout = discover(make_dataset(n=12, mask=touching_labels, root=binary.root.parent / "labels_data"))
    with pytest.raises(ValueError, match=r"Unknown instance_target 'boundaries'.*boundary, energy, semantic"):
        with_instance_target(layout, "boundaries")


def test_plan_cli_target_boundary_writes_the_target(
    tmp_path: Path, make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset(n=12, mask=touching_labels)
    out = tmp_path / "out" / "plan.yaml"
    args = ["plan", str(root), "--time", "2m", "--out", str(out), "--threads", "1", "--measure-limit", "2"]
    assert main([*args, "--target", "boundary"]) == 0
    printed = capsys.readouterr().out
    assert "masks: instances, 3 classes (background, interior, boundary)" in printed
    assert "target boundary (--target)" in printed
    plan = yaml.safe_load(out.read_text())
    opts = plan["data"]["options"]
    assert opts["instance_target"] == "boundary" and opts["num_classes"] == 3
    assert opts["class_names"] == ["background", "interior", "boundary"]
    assert "# boundary (--target): background, interior, boundary" in out.read_text()


def test_plan_cli_target_on_binary_masks_is_one_line(
    tmp_path: Path, make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out" / "plan.yaml"
    assert main(["plan", str(make_dataset(n=12)), "--target", "energy", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --target energy needs instance label masks") and err.count("\n") == 1
    assert not out.exists()
