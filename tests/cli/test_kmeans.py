"""``unetkit kmeans``: cluster masks, mapping to classes and metrics against ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unetkit.cli.main import main


def test_kmeans_cli_with_masks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images, gt, out = tmp_path / "images", tmp_path / "gt", tmp_path / "out"
    images.mkdir()
    gt.mkdir()
    for i in range(2):
        truth = np.zeros((20, 30), dtype=np.uint8)
        truth[4 + i : 15, 6 : 20 + i] = 1
        rgb = np.where(truth[..., None] == 1, [250, 200, 0], [10, 20, 120]).astype(np.uint8)
        Image.fromarray(rgb).save(images / f"im{i}.png")
        Image.fromarray(truth).save(gt / f"im{i}.png")
    args = ["kmeans", str(images), "--k", "2", "--out", str(out), "--masks", str(gt), "--num-classes", "2"]
    code = main([*args, "--class-names", "bg", "fg", "-q"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| fg | 1.0000 | 1.0000 |" in printed
    # The mapping is read off the scored masks (trial 20): the score says it is optimistic where it is shown.
    optimistic = "optimistic: clusters are mapped to classes on the scored masks"
    assert optimistic in printed.split("| fg |")[1] and optimistic in (out / "metrics.md").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["note"].startswith(optimistic)
    assert metrics["miou"] == 1.0 and metrics["mapping"] == [0, 1]  # clusters by brightness: dark bg = 0
    np.testing.assert_array_equal(
        np.asarray(Image.open(out / "masks" / "im1.png")), np.asarray(Image.open(gt / "im1.png"))
    )
    assert (out / "overlays" / "im0.png").is_file()
    # The overlays carry no legend: the console names the colours (trial 20), those the overlay draws.
    from unetkit.constants import OVERLAY_ALPHA
    from unetkit.palette import class_palette

    fg_rgb = class_palette(2)[1]
    assert f"overlays: bg untinted; tinted: fg ({', '.join(str(int(v)) for v in fg_rgb)})" in printed
    drawn = np.asarray(Image.open(out / "overlays" / "im0.png")).astype(float)
    image = np.asarray(Image.open(images / "im0.png")).astype(float)
    np.testing.assert_allclose(
        drawn[10, 10], (1 - OVERLAY_ALPHA) * image[10, 10] + OVERLAY_ALPHA * fg_rgb, atol=1
    )
    np.testing.assert_array_equal(drawn[0, 0], image[0, 0])  # bg


def test_kmeans_clusters_a_16bit_image_on_its_own_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Object 1010, background 1000 (of 65535): >> 8 reads both as 3 and leaves nothing to cluster.
    images, gt, out = tmp_path / "images", tmp_path / "gt", tmp_path / "out"
    truth = np.zeros((20, 30), dtype=np.uint8)
    truth[4:15, 6:20] = 1
    for folder, array in ((images, 1000 + 10 * truth.astype(np.uint16)), (gt, truth)):
        folder.mkdir()
        Image.fromarray(array).save(folder / "deep.png")
    args = ["kmeans", str(images), "--k", "2", "--out", str(out), "--masks", str(gt), "--num-classes", "2"]
    assert main([*args, "-q"]) == 0
    assert json.loads((out / "metrics.json").read_text())["miou"] == 1.0


def test_kmeans_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "a.png")
    assert (
        main(
            ["kmeans", str(tmp_path / "a.png"), "--k", "2", "--out", str(tmp_path), "--masks", str(tmp_path)]
        )
        == 2
    )
    err = capsys.readouterr().err
    # Both places a classes file is looked for (a README trial: the folder above was left unsaid).
    assert "--num-classes" in err and "in the --masks folder or the folder above it" in err


def _two_class_scene(tmp_path: Path, colour: bool) -> tuple[Path, Path]:
    """``data/images`` and ``data/masks`` of two images: a yellow square (class "fg") on blue ("bg"), the
    top rows void; the masks are colour images (fg red, bg green, void black) or class values (void 9)."""
    images, masks = tmp_path / "data" / "images", tmp_path / "data" / "masks"
    images.mkdir(parents=True)
    masks.mkdir()
    for i in range(2):
        truth = np.zeros((20, 30), dtype=np.uint8)
        truth[4 + i : 15, 6 : 20 + i] = 1
        rgb = np.where(truth[..., None] == 1, [250, 200, 0], [10, 20, 120]).astype(np.uint8)
        Image.fromarray(rgb).save(images / f"im{i}.png")
        if colour:
            stored = np.where(truth[..., None] == 1, [255, 0, 0], [0, 255, 0]).astype(np.uint8)
            stored[:2] = 0  # void: black
        else:
            stored = truth.copy()
            stored[:2] = 9
        Image.fromarray(stored).save(masks / f"im{i}.png")
    return images, masks


def test_kmeans_scores_colour_masks_by_the_folders_classes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Trial #3: colour masks failed on every file with "use MaskEncoding(kind='palette', ...)", and kmeans had
    # no way to read the classes.json that fit reads (beside images/ and masks/, as here).
    images, masks = _two_class_scene(tmp_path, colour=True)
    classes = {"classes": [{"name": "bg", "color": [0, 255, 0]}, {"name": "fg", "color": [255, 0, 0]}]}
    (tmp_path / "data" / "classes.json").write_text(json.dumps(classes | {"void": [[0, 0, 0]]}))
    out = tmp_path / "out"
    assert main(["kmeans", str(images), "--k", "2", "--out", str(out), "--masks", str(masks), "-q"]) == 0
    captured = capsys.readouterr()
    assert "| fg | 1.0000 | 1.0000 |" in captured.out  # the void rows are not scored (they are bg-blue)
    assert "ground truth read with classes from" in captured.err and "void [[0, 0, 0]]" in captured.err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["miou"] == 1.0 and metrics["mapping"] == [0, 1]


def test_kmeans_reads_a_classes_file_given_with_classes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Index masks: the classes file names the classes and their void value (no --num-classes or
    # --ignore-values needed, as fit DIR --classes FILE reads them).
    images, masks = _two_class_scene(tmp_path, colour=False)
    classes = tmp_path / "names.csv"
    classes.write_text("name,value,void\nbg,0,false\nfg,1,false\nunlabelled,9,true\n")
    out = tmp_path / "out"
    args = ["kmeans", str(images), "--k", "2", "--out", str(out), "--masks", str(masks), "-q"]
    assert main([*args, "--classes", str(classes)]) == 0
    assert "| fg | 1.0000 | 1.0000 |" in capsys.readouterr().out
    # --num-classes that contradicts the file is refused, naming both.
    assert main([*args, "--classes", str(classes), "--num-classes", "3"]) == 2
    err = capsys.readouterr().err
    assert "--num-classes 3" in err and "2 classes (bg, fg)" in err and "drop --num-classes" in err


def test_kmeans_colour_mask_errors_name_the_command_line_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The hint named a Python class (MaskEncoding(kind='palette', colors=...)); a CLI user needs a flag.
    images, masks = _two_class_scene(tmp_path, colour=True)
    out = tmp_path / "out"
    args = ["kmeans", str(images), "--k", "2", "--out", str(out), "--masks", str(masks), "-q"]
    assert main([*args, "--mask-encoding", "index"]) == 2
    err = capsys.readouterr().err
    assert "is a colour image" in err and "--classes FILE" in err and "MaskEncoding" not in err
    # Without a classes file the colours found are the classes (as fit reads them); a count that differs
    # from --num-classes names --classes FILE.
    assert main([*args, "--num-classes", "2"]) == 2
    err = capsys.readouterr().err
    assert "the colours found in the masks give 3 classes" in err and "--classes FILE" in err
    assert not out.exists()


def test_kmeans_when_every_input_fails_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Trial #4: exit 3, "0 image(s) clustered, 2 failed; outputs in out" and an empty out/ left behind.
    images, masks = _two_class_scene(tmp_path, colour=False)  # void 9 not declared: every mask fails
    out = tmp_path / "out"
    args = ["kmeans", str(images), "--k", "2", "--out", str(out), "--masks", str(masks), "--num-classes", "2"]
    assert main([*args, "-q"]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("--ignore-values 9") == 2
    assert f"error: all 2 input(s) failed (see above); nothing was written to {out}" in captured.err
    assert "outputs in" not in captured.out + captured.err
    assert not out.exists()


def test_binary_masks_need_no_class_count_and_a_collapse_to_one_class_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trial: 0/255 masks with --mask-encoding binary still asked for --num-classes, and with k=2 on ISBI
    (77 % foreground) both clusters went to foreground: flat masks, not a word said."""
    images, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "out"
    images.mkdir()
    masks.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        truth = np.full((20, 30), 255, dtype=np.uint8)
        truth[:3] = 0  # 10 % background, the same brightness noise as the foreground
        Image.fromarray(rng.integers(0, 256, (20, 30), dtype=np.uint8)).save(images / f"im{i}.png")
        Image.fromarray(truth).save(masks / f"im{i}.png")
    code = main(["kmeans", str(images), "--k", "2", "--out", str(out), "--masks", str(masks), "-q"])
    assert code == 0
    captured = capsys.readouterr()
    assert "| foreground |" in captured.out and "| background |" in captured.out
    assert json.loads((out / "metrics.json").read_text())["mapping"] == [1, 1]
    assert "every cluster went to class 'foreground'" in captured.err and "a larger --k" in captured.err


def test_kmeans_zero_255_masks_read_as_classes_name_kmeans_own_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Trial 20: --num-classes 2 on 0/255 masks was told fit's config key (mask_kind: binary,
    data.options.mask_kind); kmeans' own fixes are --mask-encoding binary or dropping --num-classes."""
    images, gt, out = tmp_path / "images", tmp_path / "gt", tmp_path / "out"
    images.mkdir()
    gt.mkdir()
    truth = np.zeros((20, 30), dtype=np.uint8)
    truth[4:15, 6:20] = 255
    Image.fromarray(np.where(truth[..., None] > 0, [250, 200, 0], [10, 20, 120]).astype(np.uint8)).save(
        images / "im.png"
    )
    Image.fromarray(truth).save(gt / "im.png")
    args = ["kmeans", str(images), "--k", "2", "--out", str(out), "--masks", str(gt), "-q"]
    assert main([*args, "--num-classes", "2"]) == 2
    err = capsys.readouterr().err
    assert "values 0/255 look like a binary mask: add --mask-encoding binary, or drop --num-classes" in err
    assert "mask_kind" not in err and not out.exists()
    assert main([*args, "--num-classes", "2", "--mask-encoding", "index"]) == 2
    assert "look like a binary mask: pass --mask-encoding binary instead of index" in capsys.readouterr().err
    # Each fix it names works.
    assert main([*args, "--num-classes", "2", "--mask-encoding", "binary"]) == 0
    assert main(args) == 0


def test_kmeans_names_an_input_folder_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Trial 20: a mistyped folder was 'no input images found in isbi/imgs.', where fit says the path does
    not exist; a folder that exists but holds no images keeps that message."""
    args = ["--k", "3", "--out", str(tmp_path / "out")]
    assert main(["kmeans", str(tmp_path / "imgs"), *args]) == 2
    assert f"input {tmp_path / 'imgs'} does not exist; check the path." in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["kmeans", str(tmp_path / "empty"), *args]) == 2
    assert f"no input images found in {tmp_path / 'empty'}." in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_kmeans_never_scores_an_image_against_itself(tmp_path: Path) -> None:
    """Images beside their masks in one folder (``im0.png``, ``im0_mask.png``; trial 23 for predict): the
    input is never its own mask, so ``im0_mask.png`` scores it (was: the photo read as its own mask)."""
    folder, out = tmp_path / "data", tmp_path / "out"
    folder.mkdir()
    for i in range(2):
        truth = np.zeros((20, 30), dtype=np.uint8)
        truth[4 + i : 15, 6 : 20 + i] = 1
        gray = np.where(truth == 1, 220, 30).astype(np.uint8)  # a gray image: readable as values too
        Image.fromarray(gray).save(folder / f"im{i}.png")
        Image.fromarray(truth).save(folder / f"im{i}_mask.png")
    inputs = [str(folder / "im0.png"), str(folder / "im1.png")]
    args = ["kmeans", *inputs, "--k", "2", "--out", str(out), "--masks", str(folder), "--num-classes", "2"]
    assert main([*args, "-q"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["miou"] == 1.0
