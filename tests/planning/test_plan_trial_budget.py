"""Findings of the time-budget trial (bench/trials/report_budget.md, 4-11): what a new user of
``unetkit plan`` and ``unetkit fit DIR`` reads in errors, reasons and warnings."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from unetkit.cli.main import main
from unetkit.data.folder import split_by_lists
from unetkit.data.list_files import list_line_name, read_list_file
from unetkit.planning import Candidate, Machine, discover, make_plan
from unetkit.planning.checks import check_writable
from unetkit.planning.fingerprint import ClassStats, Fingerprint
from unetkit.planning.plan import MIN_STEPS, MIN_USEFUL_STEPS, choose_geometry, default_budget

MakeDataset = Callable[..., Path]
FAST = ["--threads", "1", "--measure-limit", "2"]


def make_fp(train: int = 20, val: int = 4) -> Fingerprint:
    classes = (
        ClassStats(0, "bg", 0.7, 1.0, 1, 512, 512, 512, 1e5, 1e5, 512.0, True),
        ClassStats(1, "c1", 0.3, 1.0, 100, 40.0, 20.0, 80.0, 1600.0, 10, 40.0),
    )
    return Fingerprint(
        root="/x", num_images={"train": train, "val": val, "test": 6}, train_pixels=train * 512 * 512,
        channels=1, size_median=(512, 512), size_min=(512, 512), size_max=(512, 512), distinct_sizes=1,
        intensity={}, gray_as_rgb=0.0, normalization="zscore", mean=(0.5,), std=(0.2,),
        normalization_reason="test", classes=classes, ignore_fraction=0.0, vertical_asymmetry=0.0,
        sampled_images=train, seconds=0.0,
    )  # fmt: skip


def make_machine(fp: Fingerprint, step_by_width: dict[int, float], data_s: float = 0.01) -> Machine:
    geo = choose_geometry(fp, "cpu")
    times = {Candidate(w, geo.depth, geo.crop, geo.batch).label: t for w, t in step_by_width.items()}
    return Machine("cpu", "test cpu", (), False, 2, times, data_seconds_per_sample=data_s,
                   checkpoint_seconds=dict.fromkeys(step_by_width, 0.05))  # fmt: skip


# ------------------------------------------------------------------ 4: the mask that holds the stray value


def test_masks_that_fit_no_encoding_name_a_mask_holding_the_stray_value(
    make_dataset: MakeDataset, px: SimpleNamespace
) -> None:
    root = make_dataset(n=12)
    odd = px.binary_mask(5)
    odd[:4, :4] = 100  # one mask of twelve: 0/255 masks but for a patch of 100
    px.write(root / "masks" / "img05.png", odd)
    with pytest.raises(ValueError, match="fit no encoding") as info:
        discover(root)
    message = str(info.value)
    # img00 (the first mask holding 255, named before) holds nothing wrong; img05 holds the 100.
    assert f"e.g. 100, in {root / 'masks' / 'img05.png'}; in 1 of the" in message, message
    assert "img00" not in message


# ------------------------------------------------------------------ 5: val/ + test/ without train/


def test_val_and_test_split_folders_without_train_are_said_not_taken_for_kaggle(
    tmp_path: Path, px: SimpleNamespace
) -> None:
    root = tmp_path / "data"
    for split, start in (("val", 0), ("test", 4)):
        for i in range(start, start + 4):
            px.write(root / split / "images" / f"img{i:02d}.png", px.gray_image(i))
            px.write(root / split / "masks" / f"img{i:02d}.png", px.binary_mask(i))
    with pytest.raises(ValueError, match=r"has no train/ split folder \(found val/, test/\); add ") as info:
        discover(root)
    assert "Kaggle" not in str(info.value) and "convert" not in str(info.value)
    assert f"add {root / 'train'} with images/ and masks/" in str(info.value)


# ------------------------------------------------------------------ 6: list lines with spaces


SPACED = ["slice 01 é_ß中", "slice 03 é_ß中"]


def spaced_folder(root: Path, px: SimpleNamespace) -> list[str]:
    """12 pairs, two of them named with spaces (and non-ASCII letters); train.txt/val.txt/test.txt."""
    names = [f"img{i:02d}" for i in range(12)]
    names[1], names[3] = SPACED
    for i, name in enumerate(names):
        px.write(root / "images" / f"{name}.png", px.gray_image(i))
        px.write(root / "masks" / f"{name}.png", px.binary_mask(i))
    for split, part in (("train", names[:8]), ("val", names[8:10]), ("test", names[10:])):
        (root / f"{split}.txt").write_text("\n".join(part) + "\n")
    return names


def test_list_files_name_files_whose_names_hold_spaces(tmp_path: Path, px: SimpleNamespace) -> None:
    root = tmp_path / "data"
    names = spaced_folder(root, px)
    layout = discover(root)
    assert layout.split_source == "lists" and layout.splits["train"] == names[:8]
    # Training reads the list files as discovery does (a plan names them in data.options.split_lists).
    assert split_by_lists(names, {"train": root / "train.txt"})["train"] == names[:8]


def test_a_missing_list_name_with_spaces_is_shown_as_written(tmp_path: Path, px: SimpleNamespace) -> None:
    root = tmp_path / "data"
    names = spaced_folder(root, px)
    (root / "train.txt").write_text("\n".join([*names[:8], "slice 99 é"]) + "\n")
    with pytest.raises(ValueError, match=r"train\.txt names 'slice 99 é' without an image/mask pair"):
        discover(root)


def test_list_line_rules() -> None:
    known = {"slice 05", "a", "Abyssinian_1"}
    assert list_line_name("slice 05", known) == "slice 05"  # the whole line names a file
    # ... also where its first word names another file, or three numbers follow (not an Oxford-Pet line).
    assert list_line_name("slice 05", known | {"slice"}) == "slice 05"
    assert list_line_name("scan 1 2 3", {"scan 1 2 3"}) == "scan 1 2 3"
    assert list_line_name("  slice 05.png ", known) == "slice 05"
    assert list_line_name("Abyssinian_1 1 1 1", known) == "Abyssinian_1"  # Oxford-IIIT Pet's line
    assert list_line_name("Abyssinian_9 1 1 1", known) == "Abyssinian_9"  # its name, missing: as written
    assert list_line_name("images/a.png masks/a.png", known) == "a"  # a known first entry
    assert list_line_name("slice 06", known) == "slice 06"  # missing: the line, not its first word
    assert list_line_name("# a comment", known) is None and list_line_name("   ", known) is None


def test_read_list_file_without_known_stems_keeps_oxford_pet_lines(tmp_path: Path) -> None:
    lists = tmp_path / "trainval.txt"
    lists.write_text("#Image CLASS-ID SPECIES BREED ID\nAbyssinian_100 1 1 1\nslice 05\n")
    assert read_list_file(lists) == ["Abyssinian_100", "slice 05"]


# ------------------------------------------------------------------ 7: an unwritable output, before planning


def test_plan_and_fit_into_an_unwritable_place_fail_before_planning(
    tmp_path: Path, make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    # Tests run as root here, where a 0o555 folder is writable: a path under a regular file cannot be written
    # by anyone.
    root = make_dataset(n=12)
    blocker = tmp_path / "file"
    blocker.write_text("")
    for argv, option in (
        (["plan", str(root), "--out", str(blocker / "plan.yaml")], f"--out {blocker / 'plan.yaml'}"),
        (["plan", str(root), "--dataset-out", str(blocker / "d.json"), "--out", str(tmp_path / "p.yaml")],
         f"--dataset-out {blocker / 'd.json'}"),
        (["fit", str(root), "--time", "1m", "--out", str(blocker / "run")], f"--out {blocker / 'run'}"),
        (["fit", str(root), "--time", "1m", f"output.root={blocker}"], "run folder"),
    ):  # fmt: skip
        assert main([*argv, *FAST]) == 2
        out, err = capsys.readouterr()
        assert f"error: {option}" in err and f"{blocker} is a file, not a folder" in err, err
        assert err.count("\n") == 1 and ".tmp" not in err
        assert "fingerprint" not in out and "plan (" not in out  # refused before measuring
    assert not (tmp_path / "p.yaml").exists()


def test_a_read_only_place_is_named_with_the_users_path(
    tmp_path: Path,
    make_dataset: MakeDataset,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A read-only mount, as the trial's tmpfs: os.access says no (root included) and statvfs says read-only.
    ro = tmp_path / "ro"
    ro.mkdir()
    real_access, real_statvfs = os.access, os.statvfs

    def access(path: object, mode: int, **kwargs: object) -> bool:
        return False if Path(str(path)) == ro and mode & os.W_OK else real_access(path, mode, **kwargs)  # type: ignore[arg-type]

    def statvfs(path: object) -> object:
        real = real_statvfs(path)  # type: ignore[arg-type]
        if Path(str(path)) != ro:
            return real
        return SimpleNamespace(f_flag=real.f_flag | os.ST_RDONLY)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(os, "statvfs", statvfs)
    with pytest.raises(
        ValueError, match=re.escape(f"--out {ro / 'run'}: {ro} is on a read-only file system")
    ):
        check_writable(ro / "run", "--out")
    monkeypatch.setattr(os, "statvfs", real_statvfs)
    with pytest.raises(ValueError, match=re.escape(f"{ro} is not writable for this user; write the output")):
        check_writable(ro / "a" / "plan.yaml", "--out")
    check_writable(tmp_path / "new" / "deeper" / "plan.yaml", "--out")  # missing folders are made: fine
    root = make_dataset(n=12)
    assert main(["plan", str(root), "--out", str(ro / "plan.yaml"), *FAST]) == 2
    out, err = capsys.readouterr()
    assert f"error: --out {ro / 'plan.yaml'}: {ro} is not writable" in err and "fingerprint" not in out


@pytest.mark.slow  # 6 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_planning_again_replaces_the_plan_files(
    tmp_path: Path, make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    """Re-check: the write check refused an existing plan.yaml ("is a file, not a folder"): a second plan in
    the same folder, which the plan itself advises on a busy machine, failed."""
    root, out = make_dataset(n=12), tmp_path / "plan.yaml"
    for _ in range(2):
        assert main(["plan", str(root), "--out", str(out), "--time", "1m", *FAST]) == 0
    assert out.is_file() and (tmp_path / "dataset.json").is_file()
    # The plan says what comes after the budget (the final scoring), in its TTA line.
    tta_lines = [x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("evaluate.tta:")]
    assert len(tta_lines) == 2 and all("; after the budget, scoring " in x for x in tta_lines), tta_lines
    assert main(["plan", str(root), "--out", str(tmp_path), *FAST]) == 2
    assert f"--out {tmp_path} is a folder; name the file to write, e.g. {out}" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into 0o555 folders")
def test_a_folder_without_write_permission_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(ValueError, match=re.escape(f"{locked} is not writable for this user")):
            check_writable(locked / "run", "--out")
    finally:
        locked.chmod(0o755)


# ------------------------------------------------------------------ 8: the default budget adds up


def test_default_budget_names_the_width_the_plan_picks_and_adds_up() -> None:
    fp = make_fp()
    machine = make_machine(fp, {8: 0.1, 16: 0.2, 32: 0.4})
    seconds, why = default_budget(fp, "cpu", machine)
    minutes = int(seconds // 60)
    assert seconds == minutes * 60
    plan = make_plan(fp, seconds, "cpu", machine)
    # The width the reason names reaches its steps, and the plan made at that budget picks it.
    assert "base-16 U-Net (the middle measured width" in why
    assert plan.config["model"]["kwargs"]["base_channels"] == 16
    (row,) = [r for r in plan.table if r["base_channels"] == 16]
    assert row["steps_in_budget"] >= MIN_STEPS
    # A minute less would not reach them: the fewest whole minutes.
    (fewer,) = [r for r in make_plan(fp, seconds - 60, "cpu", machine).table if r["base_channels"] == 16]
    assert fewer["steps_in_budget"] < MIN_STEPS
    # The arithmetic: 2000 x 0.200 s = 6.7 min of steps, and the parts shown add up to the budget.
    assert f"{MIN_STEPS} x 0.200s/step measured = 6.7 min of steps" in why
    parts = [float(x) for x in re.findall(r"(\d+\.\d) min", why.split(" = ", 1)[1])]
    assert abs(sum(parts) - minutes) < 1e-6, why
    for what in ("reading data", "validation", "start-up reserve", "rounding up"):
        assert what in why


def test_default_budget_follows_a_wider_width_timed_faster() -> None:
    # A noisy probe timed b32 faster than b16: the plan at b16's budget would pick b32; the reason names it.
    fp = make_fp()
    machine = make_machine(fp, {8: 0.3, 16: 0.4, 32: 0.35})
    seconds, why = default_budget(fp, "cpu", machine)
    picked = make_plan(fp, seconds, "cpu", machine).config["model"]["kwargs"]["base_channels"]
    assert f"base-{picked} U-Net" in why and picked == 32


# ------------------------------------------------------------------ 9, 10, 11b: reasons and warnings


def test_the_validation_count_is_promised_for_the_measured_speed_only() -> None:
    fp = make_fp(train=3000, val=40)
    plan = make_plan(fp, 1200, "cpu", make_machine(fp, {8: 0.8, 16: 1.6}))
    assert (
        "at least 5 times if the machine stays as fast as measured"
        in plan.reasons["trainer.limit_train_batches"]
    )


def test_every_choice_of_the_plan_has_its_reason_in_the_yaml() -> None:
    fp = make_fp()
    plan = make_plan(fp, 1200, "cpu", make_machine(fp, {8: 0.1, 16: 0.2}))
    assert "weight decay 0.0001" in plan.reasons["optim"]
    assert plan.config["optim"]["weight_decay"] == 1e-4
    assert "(1 - t)^0.9" in plan.reasons["schedule"] and plan.config["schedule"]["power"] == 0.9
    assert (
        plan.config["data"]["augment"]["color"]
        and "color: brightness/contrast" in plan.reasons["data.augment"]
    )
    lines = plan.to_yaml().splitlines()
    for key in ("loss", "class_weights", "optim", "schedule"):
        (at,) = [i for i, line in enumerate(lines) if line.startswith(f"{key}:")]
        assert lines[at - 1] == f"# {plan.reasons[key]}", key
    assert yaml.safe_load(plan.to_yaml())["optim"]["weight_decay"] == 1e-4


def test_a_budget_too_short_to_train_warns_with_a_time_that_is_enough() -> None:
    fp = make_fp()
    machine = make_machine(fp, {8: 0.1, 16: 0.2})
    plan = make_plan(fp, 5, "cpu", machine)
    (warning,) = [w for w in plan.warnings if "too few to train" in w]
    steps = plan.summary["predicted_steps"]
    assert steps < MIN_USEFUL_STEPS and f"a 5s budget buys {steps} optimizer steps" in warning
    minutes = int(re.search(r"--time (\d+)m buys the base-8 U-Net", warning).group(1))  # type: ignore[union-attr]
    (row,) = [r for r in make_plan(fp, minutes * 60, "cpu", machine).table if r["base_channels"] == 8]
    assert row["steps_in_budget"] >= MIN_STEPS
    # A budget with enough steps has no such warning.
    assert not [w for w in make_plan(fp, 1200, "cpu", machine).warnings if "too few to train" in w]


def test_fit_of_a_folder_that_does_not_exist_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "bad" / "doesnotexist"
    assert main(["fit", str(missing), "--time", "1m"]) == 2
    err = capsys.readouterr().err
    assert f"dataset folder {missing} does not exist; check the path" in err and "KEY=VALUE" not in err


def test_the_plan_says_what_the_final_evaluation_adds_after_the_budget() -> None:
    """Budget trial 2: a 1-minute DSB 2018 fit took 3 more minutes after its budget, and nothing said so."""
    from unetkit.planning.plan import INFERENCE_OVER_VAL_PASS, after_budget_text

    fp = SimpleNamespace(num_images={"train": 40, "val": 10, "test": 20})
    per_view = 2.0 / 10 * INFERENCE_OVER_VAL_PASS  # a 2 s validation pass of 10 images
    text = after_budget_text(fp, 2.0, 8, instances=False)  # type: ignore[arg-type]
    expected = round(20 * 8 * per_view)
    assert (
        text == f"; after the budget, scoring 20 test images with 8 views take about {expected} s (estimated)"
    )
    # Instance labels: the post-processing is chosen on val first (its predictions serve a val scoring only).
    text = after_budget_text(fp, 20.0, 8, instances=True)  # type: ignore[arg-type]
    assert text.startswith("; after the budget, choosing the instance post-processing on 10 val images and ")
    assert f"about {(20 + 10) * 8 * per_view * 10 / 60:.1f} min" in text
    no_test = SimpleNamespace(num_images={"train": 40, "val": 10})
    assert "scoring 10 val images with 2 views take about 6 s" in after_budget_text(
        no_test, 2.0, 2, instances=True
    )  # type: ignore[arg-type]
    assert after_budget_text(SimpleNamespace(num_images={"train": 4}), 0.0, 8, instances=False) == ""  # type: ignore[arg-type]
