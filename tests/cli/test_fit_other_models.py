"""``unetkit fit DIR model.name=M`` trains the lecture's ladder (pixel_classifier, FCNs, SegNet, ...) on the
plan's data pipeline: the plan's U-Net width and depth go only to a model that takes them, one line says
which were not used, and a keyword the user gives that the model does not take is refused before measuring
(trial 20: ~40 s of planning, then "unexpected keyword argument 'base_channels'")."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_fit_dir import FAST, make_folder

from unetkit.cli.main import main
from unetkit.planning.checks import check_unknown_names
from unetkit.training.config import Config, load_config, unused_model_kwargs

PLANNED = "model={name: unet, kwargs: {base_channels: 16, depth: 4}}"  # as to_config_overrides writes it
QUICK = ["trainer.max_epochs=1", "data.repeat=1", "evaluate.tta=false"]


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("pixel_classifier", {}),
        ("fcn8s", {}),
        ("segnet", {}),
        ("wide_cnn", {}),
        ("encoder_decoder", {"base_channels": 16, "depth": 4}),
        ("unet_original", {"base_channels": 16, "depth": 4}),
    ],
)
def test_a_model_override_keeps_only_the_plan_keywords_it_takes(name: str, kept: dict[str, int]) -> None:
    config = load_config(None, [PLANNED, f"model.name={name}"])
    assert config.model.name == name and config.model.kwargs == kept
    dropped = {k: v for k, v in {"base_channels": 16, "depth": 4}.items() if k not in kept}
    assert unused_model_kwargs(None, [PLANNED, f"model.name={name}"]) == (name, dropped)


def test_the_users_own_keywords_and_a_config_files_are_told_apart() -> None:
    # Given on its own, a keyword is the user's: kept, so that the model refuses it with its fix.
    assert load_config(None, ["model.kwargs.depth=3", "model.name=segnet"]).model.kwargs == {"depth": 3}
    assert load_config(None, [PLANNED, "model.name=fcn8s", "model.kwargs.head_channels=8"]).model.kwargs == {
        "head_channels": 8
    }
    assert load_config(None, [PLANNED, "model.kwargs.depth=3", "model.name=segnet"]).model.kwargs == {
        "depth": 3
    }
    # A config file's model section is given with its model, as a plan's is.
    assert unused_model_kwargs("synthetic", ["model.name=wide_cnn"])[1] == {"base_channels": 16, "depth": 3}
    assert load_config(None, [PLANNED]).model.kwargs == {"base_channels": 16, "depth": 4}


def test_a_users_model_keyword_is_checked_before_measuring() -> None:
    with pytest.raises(TypeError, match=r"'depth'.*model 'segnet'.*Available: channels"):
        check_unknown_names(["model.name=segnet", "model.kwargs.depth=3"], model="unet")
    with pytest.raises(TypeError, match=r"'depht'.*Did you mean 'depth'"):
        check_unknown_names(["model.kwargs.depht=3"], model="unet")
    with pytest.raises(ValueError, match=r"Unknown model 'segnett'\. Did you mean 'segnet'"):
        check_unknown_names(["model.name=segnett"], model="unet")
    check_unknown_names(["model.name=fcn8s", "model.kwargs.head_channels=8"], model="unet")
    check_unknown_names(["model.kwargs.head_channels=8"])  # the model is not known (a plan file's): unchecked


def test_fit_dir_trains_another_model_on_the_plan_and_says_what_it_left(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    root = make_folder(tmp_path / "data")
    out = tmp_path / "runs" / "pix"
    argv = ["fit", str(root), "--time", "0.2m", *FAST, "--score", "val", "--out", str(out), "-q", *QUICK]
    assert main([*argv, "model.name=pixel_classifier"]) == 0
    printed = capfd.readouterr().out
    assert (
        "model.name=pixel_classifier: the plan's model.kwargs base_channels=8, depth=3 not used: "
        "pixel_classifier does not take them (the plan measured unet candidates for them); the plan's data "
        "pipeline, loss, augmentation and schedule are kept\n"
    ) in printed
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["model"] == {"name": "pixel_classifier", "kwargs": {}}
    assert config["data"]["options"]["mean"] and config["loss"] == "ce+dice"  # the plan's pipeline
    plan = (out / "plan.yaml").read_text()
    assert yaml.safe_load(plan)["model"] == config["model"]  # what trained, so --plan trains it again
    assert "# not used: pixel_classifier does not take the plan's base_channels=8 (base 8" in plan

    # Refused before the data is measured: the user's own keyword the model does not take.
    bad = ["fit", str(root), "--time", "0.2m", *FAST, "--out", str(tmp_path / "runs" / "bad")]
    assert main([*bad, "model.name=segnet", "model.kwargs.depth=3"]) == 2
    printed, errors = capfd.readouterr()
    assert "error: unexpected keyword argument 'depth': Unknown keyword of model 'segnet'" in errors
    assert "candidates" not in printed and not (tmp_path / "runs" / "bad").exists()


@pytest.mark.slow  # 8 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_fit_with_a_plan_file_trains_another_model(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    root = make_folder(tmp_path / "data")
    plan = tmp_path / "plan" / "plan.yaml"
    assert main(["plan", str(root), "--time", "0.2m", *FAST, "--out", str(plan)]) == 0
    depth = yaml.safe_load(plan.read_text())["model"]["kwargs"]["depth"]
    capfd.readouterr()
    out = tmp_path / "runs" / "fcn"
    argv = ["fit", str(root), "--plan", str(plan), "--score", "val", "--out", str(out), "-q", *QUICK]
    small = ["model.kwargs.head_channels=8", "model.kwargs.encoder_channels=[4,4,4,4,4]"]
    assert main([*argv, "model.name=fcn32s", *small]) == 0
    printed = capfd.readouterr().out
    assert f"model.name=fcn32s: the plan's model.kwargs base_channels=8, depth={depth} not used" in printed
    trained = (out / "plan.yaml").read_text()
    assert f"# model.name=fcn32s: the plan's model.kwargs base_channels=8, depth={depth} not used" in trained
    assert yaml.safe_load(trained)["model"]["kwargs"] == {"head_channels": 8, "encoder_channels": [4] * 5}
    # The run's plan.yaml trains again as it is.
    again = ["fit", str(root), "--plan", str(out / "plan.yaml"), "--score", "val", "-q", *QUICK]
    assert main([*again, "--out", str(tmp_path / "runs" / "again")]) == 0
    # A keyword of the user's that the plan file's model does not take: refused before any run folder.
    assert main([*argv[: -len(QUICK) - 1], "-q", "model.kwargs.head_channels=8"]) == 2
    assert "Unknown keyword of model 'unet' 'head_channels'" in capfd.readouterr().err
    # fit_folder(plan=...) from Python: the same run, printing nothing.
    import unetkit

    api = tmp_path / "runs" / "api"
    unetkit.fit_folder(
        root, plan=plan, score="val", out=api, overrides=["model.name=pixel_classifier", *QUICK]
    )
    assert yaml.safe_load((api / "config.yaml").read_text())["model"] == {
        "name": "pixel_classifier",
        "kwargs": {},
    }
    assert (
        "# model.name=pixel_classifier: the plan's model.kwargs base_channels=8"
        in (api / "plan.yaml").read_text()
    )
    assert capfd.readouterr().out == ""


def test_fit_with_a_config_file_says_which_of_its_model_keywords_another_model_leaves(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import unetkit.cli.fit as cli_fit

    trained: list[Config] = []

    def train(args: object, config: Config, planned: object) -> int:
        trained.append(config)
        return 0

    monkeypatch.setattr(cli_fit, "_train", train)
    assert main(["fit", "--config", "synthetic", "-q", "model.name=wide_cnn"]) == 0
    assert (
        "model.name=wide_cnn: the config's model.kwargs base_channels=16, depth=3 not used: wide_cnn "
        "does not take them\n" in capfd.readouterr().out
    )
    assert trained[0].model.kwargs == {}
    assert main(["fit", "--config", "synthetic", "-q"]) == 0
    assert "not used" not in capfd.readouterr().out
