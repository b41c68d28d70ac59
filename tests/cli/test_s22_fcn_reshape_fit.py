"""``unetkit fit DIR model.name=fcn_reshape``: the dense head fixes one input size, which fit does not take
from the plan's crop. It measured, then failed on the first crop with "built for input size (64, 64), got
(32, 32)"; now it is refused before measuring with the keys to give (model.kwargs.input_size and
data.crop_size, the images' size), and trains once they are given."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_fit_dir import FAST, make_folder

from unetkit.cli.explain import model_summary
from unetkit.cli.main import main
from unetkit.planning.checks import check_model_overrides, check_unknown_names

QUICK = ["trainer.max_epochs=1", "data.repeat=1", "evaluate.tta=false"]
WHY = r"model\.name=fcn_reshape: a dense head fixes its input size, and fit feeds it crops and whole images; "


def test_fcn_reshape_needs_input_size_and_crop_before_measuring() -> None:
    with pytest.raises(ValueError, match=WHY + r"give model\.kwargs\.input_size=\[H,W\] data\.crop_size="):
        check_unknown_names(["model.name=fcn_reshape"], model="unet")
    with pytest.raises(ValueError, match=r"give data\.crop_size=\[32,32\] with model\.kwargs\.input_size"):
        check_unknown_names(["model.name=fcn_reshape", "model.kwargs.input_size=32"], model="unet")
    with pytest.raises(ValueError, match=r"data\.crop_size=\[48,48\] differs from model\.kwargs\.input_size"):
        check_unknown_names(["model.name=fcn_reshape", "model.kwargs.input_size=32", "data.crop_size=48"])
    pair = ["model.kwargs.input_size=[32,48]", "data.crop_size=[32,48]"]
    check_unknown_names(["model.name=fcn_reshape", *pair])
    check_unknown_names(["model.name=fcn_reshape", "model.kwargs.input_size=32", "data.crop_size=null"])
    for name in ("unet", "segnet", "pixel_classifier", "unet_original", "fcn8s"):  # any size: unchanged
        check_unknown_names([f"model.name={name}"], model="unet")


def test_a_plan_files_crop_counts(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    config = {"model": {"name": "unet", "kwargs": {"depth": 3}}, "data": {"crop_size": 32}}
    plan.write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match=r"give model\.kwargs\.input_size"):
        check_model_overrides(["model.name=fcn_reshape"], path=plan)
    check_model_overrides(["model.name=fcn_reshape", "model.kwargs.input_size=32"], path=plan)
    with pytest.raises(ValueError, match=r"data\.crop_size=\[32,32\] differs"):
        check_model_overrides(["model.name=fcn_reshape", "model.kwargs.input_size=48"], path=plan)


def test_fit_dir_refuses_then_trains_fcn_reshape(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    root = make_folder(tmp_path / "data")  # 32x32 images
    argv = ["fit", str(root), "--time", "0.2m", *FAST, "--score", "val", "-q", *QUICK]
    bad = tmp_path / "runs" / "bad"
    assert main([*argv, "--out", str(bad), "model.name=fcn_reshape"]) == 2
    printed, errors = capfd.readouterr()
    assert "error: model.name=fcn_reshape: a dense head fixes its input size" in errors
    assert "candidates" not in printed and not bad.exists()  # before the machine was measured
    out = tmp_path / "runs" / "fr"
    sized = ["model.name=fcn_reshape", "model.kwargs.input_size=32", "data.crop_size=32"]
    assert main([*argv, "--out", str(out), *sized, "model.kwargs.channels=[4,8]"]) == 0
    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["kwargs"]["input_size"] == 32
    assert (out / "metrics_val.json").is_file()
    # explain model RUN shows the trained model at its one size.
    summary = model_summary(str(out))
    assert summary.name == "fcn_reshape" and summary.output_shape == (2, 32, 32)
    assert summary.kwargs["input_size"] == 32
