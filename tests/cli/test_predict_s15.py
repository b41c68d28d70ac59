"""``unetkit predict``: ``--tta`` never swallows an input, a corrupt ground-truth mask leaves its image
segmented and unscored, and ``--precision`` reaches the backend (auto: as before the option existed)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_models import three_images, tiny_unet
from PIL import Image

from unetkit.cli.main import build_parser, main


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return tiny_unet(tmp_path / "model")


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return three_images(tmp_path / "images")


def _parse(*argv: str) -> Any:
    return build_parser().parse_args(["predict", *argv])


@pytest.mark.parametrize(
    "argv",
    [
        ["RUN", "--tta", "{img}", "--out", "o"],  # the trial's command: the image taken for the set
        ["RUN", "--tta", "{img}", "b.png", "--out", "o"],  # an input left: the set name was wrong
        ["RUN", "--tta", "in/*.png", "--out", "o"],  # a glob
        ["RUN", "--tta", "new.png", "--out", "o"],  # a file name, even one not there
    ],
)
def test_tta_does_not_take_an_input_for_its_set(
    argv: list[str], images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.replace("{img}", str(images / "a.png")) for a in argv]
    with pytest.raises(SystemExit) as stop:
        _parse(*argv)
    assert stop.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    given = argv[2]
    assert last == (
        "unetkit predict: error: argument --tta: takes a set name (d4, flips, none, or views such as "
        f"identity,hflip), not the input {given}; put --tta after the inputs, or write --tta=d4"
    )


def test_tta_keeps_its_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flips").mkdir()  # a folder named like a set: the set wins, as before
    forms = {
        ("--tta",): "d4",
        ("--tta", "d4"): "d4",
        ("--tta", "none"): "none",
        ("--tta=flips",): "flips",
        ("--tta", "flips"): "flips",
        ("--tta", "identity,hflip"): "identity,hflip",
        (): None,
    }
    for form, tta in forms.items():
        args = _parse("RUN", "x.png", "--out", "o", *form)
        assert (args.tta, args.inputs) == (tta, ["x.png"]), form
    # README's example: a bare --tta before other options.
    args = _parse(
        "RUN", "27.png", "--out", "preds/", "--tta", "--instances", "components", "--masks", "m",
        "--mask-encoding", "binary", "--isbi",
    )  # fmt: skip
    assert (args.tta, args.inputs, args.instances) == ("d4", ["27.png"], "components")
    # Another unknown name is still refused by the option check, which lists the views (exit 2, no model).
    assert main(["predict", "RUN", "x.png", "--out", "o", "--tta", "bogus"]) == 2


def _truncated_png(path: Path, like: Path) -> None:
    data = like.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_corrupt_ground_truth_mask_leaves_its_image_segmented_and_unscored(
    model: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    masks = tmp_path / "masks"
    masks.mkdir()
    for name in ("a", "b"):
        with Image.open(images / f"{name}.png") as img:
            Image.fromarray((np.asarray(img) > 128).astype(np.uint8)).save(masks / f"{name}.png")
    _truncated_png(masks / "tmp.png", masks / "b.png")
    (masks / "tmp.png").replace(masks / "b.png")  # b's mask truncated; c has none
    out = tmp_path / "out"
    rc = main(
        ["predict", str(model), str(images), "--out", str(out), "--masks", str(masks), "--tta", "none", "-q"]
    )
    captured = capsys.readouterr()
    assert rc == 0
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["a.png", "b.png", "c.png"]
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [Path(r["file"]).name for r in rows] == ["a.png", "b.png", "c.png"]
    notes = [line for line in captured.err.splitlines() if str(masks / "b.png") in line]
    assert len(notes) == 1
    assert notes[0].startswith(f"note: cannot read mask {masks / 'b.png'}: ")
    assert notes[0].endswith(f"; {images / 'b.png'} segmented, not scored")
    assert "1 image(s) have no mask in" in captured.err  # c, said as before
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["images"], metrics["not_scored"]) == (1, 2)
    assert "metrics over 1 image(s):" in captured.out
    assert captured.out.strip().splitlines()[-1].startswith("3 image(s) segmented (1 scored), 0 failed")
    # Every mask unreadable (a's truncated too): scores were asked for and none came: exit 3, said, no
    # metrics.json (a trial: exit 0 and no metrics.json, which a script reads as success).
    _truncated_png(masks / "tmp.png", masks / "a.png")
    (masks / "tmp.png").replace(masks / "a.png")
    none = tmp_path / "none"
    argv = ["predict", str(model), str(images), "--out", str(none), "--masks", str(masks), "--tta", "none"]
    argv.append("-q")
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert f"error: --masks {masks}: none of the 3 image(s) had a readable mask" in err
    assert not (none / "metrics.json").exists() and len(list((none / "masks").iterdir())) == 3


def test_a_ground_truth_mask_of_another_size_still_fails_its_image(
    model: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Readable ground truth that does not fit says the pairing is wrong: that stays an error."""
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(masks / "a.png")
    out = tmp_path / "out"
    rc = main(
        ["predict", str(model), str(images), "--out", str(out), "--masks", str(masks), "--tta", "none", "-q"]
    )
    assert rc == 3 and "ground truth" in capsys.readouterr().err
    assert not (out / "masks" / "a.png").exists()


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The options predict passes ``load_predictor`` (recorded; the real loader still loads)."""
    from unetkit.inference import backends

    calls: list[dict[str, Any]] = []
    real = backends.load_predictor

    def record(model: Any, backend: str = "torch", **kwargs: Any) -> Any:
        calls.append({"backend": backend, **kwargs})
        if kwargs.get("precision") == "bf16":
            kwargs["precision"] = "fp32"  # recorded as asked; run in fp32 (this CPU may have no bf16)
        return real(model, backend=backend, **kwargs)

    monkeypatch.setattr(backends, "load_predictor", record)
    return calls


def test_precision_reaches_the_backend(
    model: Path, images: Path, tmp_path: Path, loaded: list[dict[str, Any]]
) -> None:
    base = ["predict", str(model), str(images / "a.png"), "--tta", "none", "-q", "--device", "cpu"]
    assert main([*base, "--out", str(tmp_path / "o1"), "--backend", "torch", "--precision", "bf16"]) == 0
    assert main([*base, "--out", str(tmp_path / "o2"), "--backend", "torch", "--precision", "fp32"]) == 0
    assert main([*base, "--out", str(tmp_path / "o3"), "--backend", "torch"]) == 0
    assert main([*base, "--out", str(tmp_path / "o4")]) == 0  # backend auto, precision auto
    assert [c.get("precision", "not given") for c in loaded] == ["bf16", "fp32", "not given", "not given"]
    assert [c["backend"] for c in loaded] == ["torch", "torch", "torch", "auto"]
    assert all(c["amp"] is False for c in loaded)


def test_precision_reaches_openvino(model: Path, images: Path, tmp_path: Path, loaded: list[Any]) -> None:
    # No export here: the openvino backend's own error follows; what matters is what it was asked for.
    argv = ["predict", str(model), str(images / "a.png"), "--out", str(tmp_path / "o"), "--tta", "none"]
    assert main([*argv, "--backend", "openvino", "--precision", "fp32"]) == 2
    assert loaded[0]["backend"] == "openvino" and loaded[0]["precision"] == "fp32"


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--precision", "bf16"], "--precision bf16 applies to --backend torch or openvino; --backend auto"),
        (
            ["--precision", "fp32", "--backend", "onnxruntime"],
            "--precision fp32 applies to --backend torch or openvino; --backend onnxruntime runs the model "
            "as exported",
        ),
        (["--precision", "fp32", "--backend", "torch", "--amp"], "--amp and --precision fp32 both set"),
    ],
)
def test_precision_is_refused_before_loading_where_it_cannot_apply(
    model: Path,
    images: Path,
    tmp_path: Path,
    loaded: list[Any],
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    said: str,
) -> None:
    out = tmp_path / "o"
    assert main(["predict", str(model), str(images), "--out", str(out), *options]) == 2
    assert capsys.readouterr().err.startswith(f"error: {said}")
    assert loaded == [] and not out.exists()


def test_a_mask_rcnn_ignores_precision_with_a_note() -> None:
    """As ``--amp``: a script passing the same options for every model keeps working."""
    from unetkit.cli.predict import _check_precision, _maskrcnn_ignored

    args = _parse("RUN", "x.png", "--out", "o", "--precision", "bf16")
    _check_precision(args, maskrcnn=True)  # not refused (backend auto)
    assert _maskrcnn_ignored(args).startswith("--precision does not apply to a Mask R-CNN model")


def test_eager_torch_says_what_runs_before_any_export(
    model: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trial: predict on a run without an export named no engine, while an exported one was named."""
    assert main(["predict", str(model), str(images), "--out", str(tmp_path / "o"), "--tta", "none"]) == 0
    err = capsys.readouterr().err
    assert f"running torch fp32 on cpu ({model})" in err
    assert err.count("running ") == 1
    quiet = ["predict", str(model), str(images), "--out", str(tmp_path / "q"), "--tta", "none", "-q"]
    assert main(quiet) == 0
    assert "running" not in capsys.readouterr().err
