"""``unetkit fit DIR``: discovery + plan + training end to end on a tiny folder; overrides beat the plan."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from unetkit.cli.main import main
from unetkit.planning.folder import overridden_plan_text

# Fast planning and training: one thread (no thread probe), 2 s of step timing, one epoch of a base-4 U-Net.
FAST = ["--threads", "1", "--measure-limit", "2"]
TINY = ["trainer.max_epochs=1", "model.kwargs.base_channels=4", "data.repeat=1"]


def make_folder(root: Path, n: int = 12) -> Path:
    """``n`` 32 px gray images with 0/255 masks named ``<stem>_mask.png`` (a bright square on noise)."""
    for d in ("images", "masks"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image = np.random.default_rng(i).integers(40, 200, (32, 32), dtype=np.uint8)
        mask = np.zeros((32, 32), np.uint8)
        r = 4 + (i * 3) % 20
        mask[r : r + 8, 4:12] = 255
        image[mask > 0] = 230
        Image.fromarray(image).save(root / "images" / f"img{i:02d}.png")
        Image.fromarray(mask).save(root / "masks" / f"img{i:02d}_mask.png")
    return root


def only_run(runs: Path) -> Path:
    (run,) = list(runs.iterdir())
    return run


def test_fit_dir_plans_trains_and_writes_the_plan(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder
) -> None:
    root = make_folder(tmp_path / "data")
    runs = tmp_path / "runs"
    # Options before and after the folder, overrides after an option: all reach the plan and the config.
    code = main(["fit", str(root), "--time", "0.5m", *FAST, f"output.root={runs}", *TINY])
    assert code == 0
    printed, errors = capfd.readouterr()  # file-descriptor level: Lightning's handlers hold their own stream
    # Other libraries' lines that say nothing about this run stay off the console.
    assert "litlogger" not in printed + errors
    assert not [w for w in recwarn if "LeafSpec" in str(w.message)]
    assert "scoring test: " in errors  # the final evaluation has a progress bar too
    assert "masks: binary, 2 classes" in printed and "model.kwargs.base_channels: base " in printed
    assert "overridden on the command line: output.root=" in printed and "\ntest split" in printed
    run = only_run(runs)
    # The run folder is named after the data folder and said before training, not only at the end.
    assert run.name.startswith("data-unet-")
    assert f"\nrun folder: {run}\n" in printed  # the line before training (the last one adds its time)
    assert (run / "metrics_test.json").is_file() and (run / "model" / "config.json").is_file()
    dataset = json.loads((run / "dataset.json").read_text())
    assert dataset["mask"]["kind"] == "binary" and dataset["mask_suffix"] == "_mask"
    assert len(dataset["pairs"]) == 12 and dataset["splits"]["test"] == ["img10", "img11"]
    plan = yaml.safe_load((run / "plan.yaml").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    # The plan's values where nothing was overridden...
    assert config["trainer"]["max_time_minutes"] == plan["trainer"]["max_time_minutes"] == 0.5
    assert config["data"]["crop_size"] == plan["data"]["crop_size"] == [32, 32]
    assert config["data"]["options"]["mask_suffix"] == "_mask"
    assert config["data"]["root"] == str(root.resolve())
    # ... and the command line's where it was, in the run's plan.yaml too (the plan's choice in its reason).
    assert plan["trainer"]["max_epochs"] == config["trainer"]["max_epochs"] == 1
    assert plan["model"]["kwargs"]["base_channels"] == config["model"]["kwargs"]["base_channels"] == 4
    assert (
        "  # set on the command line (the plan chose 1000: far above the " in (run / "plan.yaml").read_text()
    )


@pytest.mark.slow  # 7 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_fit_dir_without_time_picks_a_budget_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_folder(tmp_path / "data")
    runs = tmp_path / "runs"
    assert main(["fit", str(root), *FAST, f"output.root={runs}", *TINY]) == 0
    printed = capsys.readouterr().out
    assert (
        "budget: no budget given: " in printed
        and "min, the fewest whole minutes in which the base-" in printed
    )
    minutes = yaml.safe_load((only_run(runs) / "config.yaml").read_text())["trainer"]["max_time_minutes"]
    assert minutes >= 1 and minutes == int(minutes)  # whole minutes from the measured step time


def test_fit_dir_without_a_test_split_scores_validation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_folder(tmp_path / "data")
    (root / "train.txt").write_text("\n".join(f"img{i:02d}" for i in range(9)) + "\n")
    (root / "val.txt").write_text("img09\nimg10\nimg11\n")
    out = tmp_path / "runs" / "mine"
    # A bare number is minutes, and the console says so. --out names the run folder (over output.*).
    argv = ["fit", str(root), "--time", "0.5", *FAST, "--out", str(out), "output.name=other", *TINY]
    assert main(argv) == 0
    printed, errors = capsys.readouterr()
    assert "running torch" not in printed + errors  # scoring the run's own model: no engine line
    assert "--time 0.5 is read as 0.5 minutes" in printed
    assert "evaluate.split: val: the folder has no test split" in printed
    # The planned dihedral TTA is named above the scores (the epoch lines score one view).
    assert (
        "val split, scored with 8-view TTA (identity,rot90," in printed
        and "epoch lines: one view):" in printed
    )
    assert only_run(out.parent) == out and (out / "metrics_val.json").is_file()


def test_fit_dir_16bit_images_train_and_predict_through_one_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 12-bit camera data in 16-bit PNGs (0..4095): >> 8 would leave 16 grey levels.
    root = make_folder(tmp_path / "data")
    for path in sorted((root / "images").iterdir()):
        deep = np.asarray(Image.open(path)).astype(np.uint16) * 16  # 40..230 -> 640..3680
        Image.fromarray(deep).save(path)
    runs = tmp_path / "runs"
    assert main(["fit", str(root), "--time", "0.5m", *FAST, f"output.root={runs}", *TINY]) == 0
    printed, errors = capsys.readouterr()
    assert "intensity window: 16-bit images with values" in printed
    assert "training images, " in printed and "s): images: 16-bit (uint16), 1 channel, median size" in printed
    # No step of planning, checking, training or scoring reads the images without the window.
    assert ">> 8" not in errors, [line for line in errors.splitlines() if ">> 8" in line]
    run = only_run(runs)
    plan = yaml.safe_load((run / "plan.yaml").read_text())
    ((lo, hi),) = plan["data"]["options"]["intensity_window"]
    assert 640 <= lo < 700 and 3600 < hi <= 3680
    # The model keeps the window: predict (here, and from an export) maps pixels as training did.
    model = json.loads((run / "model" / "config.json").read_text())
    assert model["intensity_window"] == [[lo, hi]]
    assert main(["predict", str(run), str(root / "images" / "img00.png"), "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "masks" / "img00.png").is_file()


def test_fit_dir_two_channel_microscopy_tiffs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two microscope channels in one 16-bit TIFF (the objects bright in the first only): discovery counts
    two channels, the plan windows each, the model takes two, predict reads them, the figures show a
    composite. Before, such a file was refused (Pillow read an 8-bit pair as gray, dropping one)."""
    import tifffile

    root = make_folder(tmp_path / "data")
    for path in sorted((root / "images").iterdir()):
        first = np.asarray(Image.open(path)).astype(np.uint16) * 16
        second = np.random.default_rng(len(path.name)).integers(900, 1400, first.shape).astype(np.uint16)
        pair = np.stack([first, second], axis=-1)
        tifffile.imwrite(path.with_suffix(".tif"), pair, photometric="minisblack", planarconfig="contig")
        path.unlink()
    runs = tmp_path / "runs"
    assert main(["fit", str(root), "--time", "0.5m", *FAST, f"output.root={runs}", *TINY]) == 0
    printed = capsys.readouterr().out
    assert "2 channel(s)" in printed and "2 channels, not RGB" in printed
    run = only_run(runs)
    plan = yaml.safe_load((run / "plan.yaml").read_text())
    assert (
        plan["data"]["options"]["in_channels"] == 2 and len(plan["data"]["options"]["intensity_window"]) == 2
    )
    assert json.loads((run / "model" / "config.json").read_text())["model_kwargs"]["in_channels"] == 2
    out = tmp_path / "p"
    assert main(["predict", str(run), str(root / "images" / "img00.tif"), "--out", str(out)]) == 0
    assert np.asarray(Image.open(out / "overlays" / "img00.png")).shape == (32, 32, 3)


def test_fit_dir_per_image_window_is_kept_and_read_by_predict(tmp_path: Path) -> None:
    """``data.options.intensity_window={percentiles: [lo, hi]}``: each image by its own percentiles, in
    training (mean/std measured after it) and, kept in config.json, in predict: an image and a dimmer copy
    of it get the same mask."""
    root = make_folder(tmp_path / "data")
    runs = tmp_path / "runs"
    window = "data.options.intensity_window={percentiles: [1, 99.8], min_span: 2}"
    assert main(["fit", str(root), "--time", "0.5m", *FAST, window, f"output.root={runs}", *TINY]) == 0
    run = only_run(runs)
    assert json.loads((run / "model" / "config.json").read_text())["intensity_window"] == {
        "percentiles": [1.0, 99.8],
        "min_span": 2.0,
    }
    image = np.asarray(Image.open(root / "images" / "img00.png"))
    Image.fromarray((image // 3).astype(np.uint8)).save(tmp_path / "dim.png")
    # What predict (and serve) feed the model: the dim copy reads as the image, up to rounding.
    from unetkit.data.io import read_raw_image
    from unetkit.inference.batch import model_image

    window = json.loads((run / "model" / "config.json").read_text())["intensity_window"]
    paths = (root / "images" / "img00.png", tmp_path / "dim.png")
    seen = [model_image(read_raw_image(p), p, 1, window)[0].astype(int) for p in paths]
    assert np.abs(seen[0] - seen[1]).max() <= 4
    out = tmp_path / "p"
    assert main(["predict", str(run), str(tmp_path / "dim.png"), "--out", str(out)]) == 0


def test_fit_dir_with_a_few_gray_photos_among_colour_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Oxford-IIIT Pet's few gray JPEGs: training reads them as RGB, and so does predict.
    root = make_folder(tmp_path / "data", n=24)
    paths = sorted((root / "images").iterdir())
    for i, path in enumerate(paths):
        gray = np.asarray(Image.open(path))
        colour = np.stack([gray, gray // 2, np.full_like(gray, 40 + i)], axis=-1)
        Image.fromarray(gray if path.stem == "img03" else colour).save(path)
    runs = tmp_path / "runs"
    assert main(["fit", str(root), "--time", "0.5m", *FAST, f"output.root={runs}", *TINY]) == 0
    assert "1 of 24 images are not RGB (img03.png)" in capsys.readouterr().out
    run = only_run(runs)
    assert json.loads((run / "model" / "config.json").read_text())["convert_channels"] is True
    assert main(["predict", str(run), str(root / "images" / "img03.png"), "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "masks" / "img03.png").is_file()


@pytest.mark.parametrize(
    ("override", "fix"),
    [
        ("data.options.mask_kind=remap", "--mask-kind KIND"),
        ("data.options.mapping={1: 1, 2: 0, 3: 255}", "classes.json"),
        ("data.options={mask_kind: remap}", "--mask-kind KIND"),
        ("data.options.ignore_values=[3]", "--void VALUE"),
    ],
)
def test_fit_dir_refuses_mask_options_after_planning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str, fix: str
) -> None:
    # The plan (class count, class statistics, weights) comes from how the masks are read.
    root = make_folder(tmp_path / "data")
    runs = tmp_path / "runs"
    assert main(["fit", str(root), "--time", "0.5m", *FAST, f"output.root={runs}", override]) == 2
    err = capsys.readouterr().err
    assert "changes how the masks are read" in err and fix in err and err.count("\n") == 1
    assert not runs.exists()


def test_fit_dir_reuses_a_plan_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_folder(tmp_path / "data")
    plan_file = tmp_path / "planned" / "plan.yaml"
    assert main(["plan", str(root.resolve()), "--time", "1m", *FAST, "--out", str(plan_file)]) == 0
    runs = tmp_path / "runs"
    assert main(["fit", str(root), "--plan", str(plan_file), f"output.root={runs}", *TINY]) == 0
    run = only_run(runs)
    # The plan file, under a line naming it and this run's overrides, with the values trained in place of the
    # plan's (trainer.max_epochs=1 over its 1000).
    head, _, kept = (run / "plan.yaml").read_text().partition("\n")
    assert kept == overridden_plan_text(plan_file.read_text(), TINY) != plan_file.read_text()
    assert yaml.safe_load(kept)["trainer"]["max_epochs"] == 1
    assert head.startswith(f"# this run trained {plan_file.resolve()} with ")
    assert (run / "dataset.json").read_text() == (plan_file.parent / "dataset.json").read_text()
    assert yaml.safe_load((run / "config.yaml").read_text())["trainer"]["max_time_minutes"] == 1.0
    capsys.readouterr()
    other = make_folder(tmp_path / "other")
    assert main(["fit", str(other), "--plan", str(plan_file), f"output.root={runs}", *TINY]) == 2
    assert "was made for" in capsys.readouterr().err


def test_fit_dir_public_layout_with_a_field_of_view(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """training/ + test/ split folders (no val: carved from training), a mask folder named gt/ and a field
    of view under a name given with --roi: trained and scored inside the field of view only."""
    root = tmp_path / "data"
    for split, n in (("training", 10), ("test", 2)):
        make_folder(root / split, n)
        (root / split / "masks").rename(root / split / "gt")
        (root / split / "field").mkdir()
        for i in range(n):
            fov = np.zeros((32, 32), np.uint8)
            fov[:, :16] = 255  # the left half is scored
            Image.fromarray(fov).save(root / split / "field" / f"img{i:02d}.png")
    runs = tmp_path / "runs"
    assert (
        main(["fit", str(root), "--roi", "field", "--time", "0.5m", *FAST, f"output.root={runs}", *TINY]) == 0
    )
    run = only_run(runs)
    dataset = json.loads((run / "dataset.json").read_text())
    assert [len(dataset["splits"][s]) for s in ("train", "val", "test")] == [8, 2, 2]
    metrics = json.loads((run / "metrics_test.json").read_text())
    scored = sum(v for k, v in metrics.items() if k.startswith("support/"))
    assert scored == 2 * 32 * 16  # the pixels outside the field of view are not scored
    # The model says it trained inside a region of interest, and predict says what that means.
    assert json.loads((run / "model" / "config.json").read_text())["extra"]["trained_with_roi"] is True
    capsys.readouterr()
    out = tmp_path / "predicted"
    assert main(["predict", str(run), str(root / "test" / "images"), "--out", str(out), "--quiet"]) == 0
    assert "was trained only on the pixels inside a region of interest" in capsys.readouterr().err
    # With its field of view, predict leaves the outside void and scores inside only, saying nothing more.
    test = root / "test"
    args = ["--roi", str(test / "field"), "--masks", str(test / "gt"), "--out", str(tmp_path / "in"), "-q"]
    assert main(["predict", str(run), str(test / "images"), *args]) == 0
    assert "region of interest" not in capsys.readouterr().err
    with Image.open(tmp_path / "in" / "masks" / "img00.png") as img:
        assert (np.asarray(img)[:, 16:] == 255).all() and np.asarray(img)[:, :16].max() < 255
    inside = json.loads((tmp_path / "in" / "metrics.json").read_text())
    assert sum(v for k, v in inside.items() if k.startswith("support/")) == 2 * 32 * 16


def test_fit_dir_writes_nothing_on_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_folder(tmp_path / "data")
    (root / "masks" / "img03_mask.png").unlink()
    runs = tmp_path / "runs"
    assert main(["fit", str(root), "--time", "1m", *FAST, f"output.root={runs}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: image ") and "img03.png has no mask" in err and err.count("\n") == 1
    assert not runs.exists()


@pytest.mark.parametrize(
    ("override", "said"),
    [
        ("trainer.max_epoch=1", "Did you mean 'trainer.max_epochs'"),
        ("loss=dcie", "Unknown loss 'dcie'. Did you mean 'dice'?"),
        ("model.name=unett", "Unknown model 'unett'. Did you mean 'unet'?"),
        # A value the key cannot take: the caller's override comes last, so no plan value settles it.
        ("trainer.max_epochs=0", "Config key trainer.max_epochs=0 is invalid"),
    ],
)
def test_fit_dir_bad_override_fails_before_planning(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    override: str,
    said: str,
) -> None:
    """A typo in a key or a name was said after the plan was made (15-17 s of silence in a user trial)."""
    import unetkit.cli.plan as cli_plan

    def planned(*args: object, **kwargs: object) -> None:
        raise AssertionError("planned before the typo was named")

    monkeypatch.setattr(cli_plan, "plan_dataset", planned)
    root = make_folder(tmp_path / "data")
    runs = tmp_path / "runs"
    assert main(["fit", str(root), "--time", "1m", *FAST, f"output.root={runs}", override]) == 2
    assert said in capsys.readouterr().err
    assert not runs.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--time", "2m", "trainer.max_epochs=1"], "--time plans a dataset folder: write unetkit fit DIR"),
        (["no_such_folder"], "dataset folder no_such_folder does not exist; check the path"),
        (["cfg.yaml"], "(a config file goes after --config)"),
        (["--resume", "runs/x", "--out", "runs/y"], "--out and --resume exclude each other"),
    ],
)
def test_fit_dir_usage_errors(
    tmp_path: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fit", *argv, f"output.root={tmp_path}"]) == 2
    assert message in capsys.readouterr().err


def test_fit_dir_refuses_an_override_that_cannot_fit_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user trial's model.kwargs.depth=12 was accepted and grew to the machine's 23 GB until the kernel
    killed it (exit 137, no message, a stale lock): now one line, exit 2, before the run folder exists."""
    import unetkit.devices as devices

    monkeypatch.setattr(devices, "available_memory", lambda: 16 * 10**9)
    root = make_folder(tmp_path / "data")
    runs = tmp_path / "runs"
    argv = ["fit", str(root), "--time", "1m", *FAST, f"output.root={runs}", "model.kwargs.depth=12"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: one training step of unet (")
    assert not runs.exists()
