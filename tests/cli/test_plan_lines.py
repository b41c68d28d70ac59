"""The console lines of `unetkit plan` / `fit DIR` that describe the data (cheap: no plan is measured)."""

from __future__ import annotations

from pathlib import Path

import pytest

from unetkit.planning.discovery import MaskInfo
from unetkit.planning.folder import mask_line


def test_mask_line_instance_labels_say_their_range() -> None:
    # MaskInfo.values is (lowest, highest) for instance labels: "values seen [0, 8]" read as two values.
    m = MaskInfo("instances", 2, ("background", "foreground"), values=(0, 8), sampled=16, dtype="uint16")
    line = mask_line(m)
    assert "label values 0..8 in 16 masks" in line and "values seen" not in line


def test_mask_line_palette_void_colours_and_long_lists() -> None:
    m = MaskInfo(
        "palette", 2, ("bg", "road"), ignore_colors=((255, 255, 255),),
        values=((0, 0, 0), (255, 0, 0), (255, 255, 255)), sampled=3,
    )  # fmt: skip
    assert mask_line(m) == (
        "masks: palette, 2 classes (bg, road), values seen [[0, 0, 0], [255, 0, 0], [255, 255, 255]] in 3 "
        "masks, void [[255, 255, 255]]"
    )
    # A remap (classes.json with a void value) keeps its void in the mapping: it is listed too.
    m = MaskInfo("remap", 2, ("pet", "bg"), mapping={1: 0, 2: 1, 3: 255}, values=(1, 2, 3), sampled=5)
    assert mask_line(m).endswith("values seen [1, 2, 3] in 5 masks, void [3]")
    names = tuple(f"class_{i}" for i in range(16))
    m = MaskInfo("index", 16, names, ignore_values=(255,), values=(0, 1, 15), sampled=20)
    assert "class_11, ... (16 in all)), values seen [0, 1, 15] in 20 masks, void [255]" in mask_line(m)


def test_fit_with_a_plan_made_from_another_working_folder_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `unetkit plan data` in tmp_path writes data.root: data; `fit /abs/data --plan ...` run elsewhere was
    # refused as "made for data, not /abs/data", two names a user reads as the same folder.
    from unetkit.cli.main import main

    (tmp_path / "data").mkdir()
    plan = tmp_path / "plan.yaml"
    plan.write_text("data:\n  dataset: folder\n  root: data\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["fit", str(tmp_path / "data"), "--plan", str(plan)]) == 2
    err = capsys.readouterr().err
    assert "a path relative to the folder unetkit plan ran in" in err and err.count("\n") == 1
    assert f"from here it is {elsewhere / 'data'}" in err and "run unetkit fit from that folder" in err
    assert not (elsewhere / "runs").exists()


def test_fit_dir_into_a_named_run_that_exists_is_refused_before_planning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `fit DIR output.name=NAME` twice: the second was refused only after fingerprinting and measuring.
    from unetkit.cli.main import main

    runs = tmp_path / "runs"
    (runs / "mine" / "model").mkdir(parents=True)
    (runs / "mine" / "model" / "config.json").write_text("{}")
    (tmp_path / "data").mkdir()  # never read: the refusal comes first
    args = ["fit", str(tmp_path / "data"), f"output.root={runs}", "output.name=mine"]
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert "already exists; choose another (--out, or output.name=...)" in err and err.count("\n") == 1
    assert "fingerprint" not in out and "plan (" not in out


def test_plan_of_a_relative_folder_names_it_absolutely(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `unetkit plan data` wrote data.root: data, so `fit --plan` worked only from the folder plan ran in.
    import numpy as np
    import yaml
    from PIL import Image

    from unetkit.cli.main import main

    for i in range(12):
        for sub, array in (("images", np.full((32, 32), 40 + 10 * i, np.uint8)), ("masks", np.eye(32) * 255)):
            (tmp_path / "data" / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array.astype(np.uint8)).save(tmp_path / "data" / sub / f"im{i:02d}.png")
    monkeypatch.chdir(tmp_path)
    fast = ["--threads", "1", "--measure-limit", "1", "--time", "1m"]
    assert main(["plan", "data", *fast, "--out", "plan.yaml"]) == 0
    capsys.readouterr()
    plan = yaml.safe_load((tmp_path / "plan.yaml").read_text())
    assert plan["data"]["root"] == str(tmp_path / "data")
    assert Path(plan["data"]["options"]["image_dir"]).is_absolute()


def test_image_sizes_are_said_width_x_height() -> None:
    """The fingerprint keeps (H, W) pairs; the line says W x H, as every size the commands show."""
    from types import SimpleNamespace

    from unetkit.planning.folder import size_text

    fp = SimpleNamespace(size_median=(192, 256), size_min=(180, 250), size_max=(200, 260), distinct_sizes=3)
    assert size_text(fp) == "median size 256x192 (WxH; min 250x180, max 260x200, 3 distinct)"


def test_void_line_names_the_void_share_only_when_void_is_declared() -> None:
    from types import SimpleNamespace

    from unetkit.planning.folder import void_line

    fp = SimpleNamespace(ignore_fraction=0.0417)
    palette = MaskInfo("palette", 2, ("bg", "road"), ignore_colors=((0, 0, 0),), sampled=3)
    assert void_line(palette, fp) == (
        "  void [[0, 0, 0]]: 4.17% of the sampled pixels are void (not trained on or scored; the class "
        "shares above are of the other pixels)"
    )
    remap = MaskInfo("remap", 2, ("pet", "bg"), mapping={1: 0, 2: 1, 3: 255}, sampled=5)
    assert str(void_line(remap, fp, roi=True)).startswith(
        "  void [3]: 4.17% of the sampled pixels are void or outside"
    )
    assert void_line(MaskInfo("index", 2, ("a", "b")), fp) is None


def test_mask_line_without_void_says_how_to_leave_a_value_out() -> None:
    # A trial's CamVid copy without a classes file trained its unlabelled value 11 as a 12th class, unsaid.
    names = tuple(f"class_{i}" for i in range(12))
    line = mask_line(MaskInfo("index", 12, names, values=tuple(range(12)), sampled=20))
    assert line.endswith(
        "in 20 masks, no void (every value is a class; --void VALUE leaves out one that marks "
        "unlabelled pixels)"
    )
    palette = MaskInfo("palette", 2, ("bg", "road"), values=((0, 0, 0), (255, 0, 0)), sampled=3)
    assert "no void (every colour is a class; a classes.json void colour" in mask_line(palette)
    binary = MaskInfo("binary", 2, ("background", "foreground"), values=(0, 255), sampled=3)
    assert "void" not in mask_line(binary)  # two classes: nothing to leave out
    # unetkit kmeans names its own option (--ignore-values), not fit's --void.
    assert "void" not in mask_line(MaskInfo("index", 12, names, values=tuple(range(12))), void_hint=False)
