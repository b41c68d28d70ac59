"""Trial 27 (unetkit as a Python library): fit_folder's plan= (a PlannedDataset, a run folder), its log of
the plan and of what follows the budget, its docstring's examples and interrupt wording; predict_files on
str paths; export_onnx's refusals; prediction_overlay on float and channels-first images; Lightning's
contradicting and advertising log lines; io's float line."""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

import unetkit
from unetkit.planning import folder
from unetkit.planning.folder import PlannedDataset
from unetkit.training import fit as fit_module

sys.path.insert(0, str(Path(__file__).parent / "training"))
from training_helpers import index_mask_folder


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> PlannedDataset:
    """A small folder's real plan (about 6 s on a 2-vCPU Xeon), as a notebook makes it."""
    root = index_mask_folder(tmp_path_factory.mktemp("t27") / "data", 12, binary=True).resolve()
    return unetkit.plan_folder(root, budget="1m", threads=1, measure_limit=0.5, device="cpu")


ESTIMATE = "scoring 2 val images with 2 views take about 1 s (estimated)"


class FakePlanned(PlannedDataset):
    """A PlannedDataset with no measuring behind it (the default suite's): its plan's config overrides are
    ``plan.overrides`` (see :func:`fake_planned`), its run files no figure."""

    def run_files(self, note: str = "", overrides: Any = ()) -> dict[str, str | bytes]:
        return {"plan.yaml": note + self.plan_yaml, "dataset.json": json.dumps(self.dataset)}


def fake_planned(root: Path, accelerator: str = "cpu") -> FakePlanned:
    plan = SimpleNamespace(
        config={"trainer": {"accelerator": accelerator, "max_time_minutes": 1}},
        reasons={"evaluate.tta": f"mirror TTA (identity, hflip); after the budget, {ESTIMATE}"},
        summary={},
        overrides=["trainer.max_time_minutes=1", "data.batch_size=3", "evaluate.tta=identity,hflip"],
    )
    lines = ["dataset: 12 pairs", "plan (1m on cpu):"]
    return FakePlanned(plan, SimpleNamespace(root=root), lines, "# the plan\nmodel: {}\n", {"d": 1}, None)


@pytest.fixture
def fake_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    """to_config_overrides reads a :class:`FakePlanned`'s overrides."""
    import unetkit.planning

    monkeypatch.setattr(unetkit.planning, "to_config_overrides", lambda plan, layout: list(plan.overrides))


class Trained(Exception):
    """Raised by the stubbed training with what it was given."""


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """fit_folder up to training: _train_planned raises :class:`Trained` holding its config and files."""

    def train(config: Any, files: Any, *args: Any) -> None:
        raise Trained(config, files)

    monkeypatch.setattr(fit_module, "_train_planned", train)


def _no_planning(monkeypatch: pytest.MonkeyPatch, returns: PlannedDataset | None = None) -> None:
    """plan_folder fails the test (plan= trains the plan given), or returns ``returns``."""

    @functools.wraps(folder.plan_folder)  # its signature: fit_folder checks keywords against it
    def measured(*args: object, **kwargs: object) -> PlannedDataset:
        if returns is None:
            raise AssertionError("plan= planned the folder again")
        return returns

    monkeypatch.setattr("unetkit.planning.folder.plan_folder", measured)


def _trained(**kwargs: Any) -> tuple[Any, dict[str, Any]]:
    with pytest.raises(Trained) as got:
        unetkit.fit_folder(**kwargs)
    config, files = got.value.args
    return config, files


def _info(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelno == logging.INFO and r.name.startswith("unetkit")
    ]


# ---- F1: plan= takes plan_folder's result


def test_fit_folder_takes_a_planned_dataset_as_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_training: None, fake_plans: None,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    root = (tmp_path / "data").resolve()
    root.mkdir()
    given = fake_planned(root)
    _no_planning(monkeypatch)
    with caplog.at_level(logging.INFO, logger="unetkit"):
        config, files = _trained(root=root, plan=given, score="val", out=tmp_path / "a", threads=1)
    assert config.data.batch_size == 3 and config.trainer.num_threads == 1 and config.evaluate.split == "val"
    assert files["plan.yaml"].endswith(given.plan_yaml)
    assert files["plan.yaml"].startswith("# fit_folder(") and "plan=PlannedDataset(" in files["plan.yaml"]
    # F3: the budget covers training only, and the plan's estimate of what follows is logged at INFO.
    assert (
        "training for the 1m time budget; after it (not part of the budget), by the plan's estimate, "
        f"{ESTIMATE}"
    ) in _info(caplog)
    assert not any(line.startswith("plan: ") for line in _info(caplog))  # the caller has planned.lines


@pytest.mark.slow  # 13 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_fit_folder_trains_a_planned_dataset_as_its_plan_file(
    planned: PlannedDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_training: None,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    root = Path(planned.layout.root)
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(planned.plan_yaml)  # the Python way to write a plan file
    _no_planning(monkeypatch)
    with caplog.at_level(logging.INFO, logger="unetkit"):
        config, files = _trained(root=root, plan=planned, score="val", out=tmp_path / "a")
    from_file, _ = _trained(root=root, plan=plan_file, score="val", out=tmp_path / "b")
    got, want = config.model_dump(mode="json"), from_file.model_dump(mode="json")
    for section in ("model", "data", "trainer", "optim", "schedule", "loss", "evaluate"):
        if section == "trainer":  # progress_bar etc. are the call's; the plan's keys must agree
            want[section].pop("progress_bar", None), got[section].pop("progress_bar", None)
        if section == "data":
            want[section].pop("options", None), got[section].pop("options", None)
        assert got[section] == want[section], section
    # The run keeps the plan given and its dataset record.
    assert planned.plan_yaml in files["plan.yaml"]
    assert json.loads(files["dataset.json"]) == json.loads(json.dumps(planned.dataset))
    # F3: the budget covers training only, and the plan's estimate of what follows it is logged at INFO.
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    after = [line for line in lines if "after it (not part of the budget)" in line]
    assert after and after[0].startswith("training for the 1m time budget"), lines


def test_plan_of_a_wrong_type_is_a_type_error_naming_what_to_pass(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    for bad in (3, ["plan.yaml"], {"model": {}}):
        with pytest.raises(
            TypeError, match=r"plan must be a plan file \(str or Path.*PlannedDataset\), got"
        ) as err:
            unetkit.fit_folder(tmp_path / "data", plan=bad)
        assert type(bad).__name__ in str(err.value) and "plan_folder(" in str(err.value)


def test_what_a_planned_dataset_decides_is_refused(tmp_path: Path) -> None:
    root = (tmp_path / "data").resolve()
    root.mkdir()
    given = fake_planned(root)
    with pytest.raises(ValueError, match=r"budget= is decided by the PlannedDataset passed as plan="):
        unetkit.fit_folder(root, "2m", plan=given)
    with pytest.raises(ValueError, match=r"void= is decided by the PlannedDataset"):
        unetkit.fit_folder(root, plan=given, void=[3])
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(ValueError, match=rf"plan= was planned for {root}, not {other.resolve()}"):
        unetkit.fit_folder(other, plan=given)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"device='cpu': the PlannedDataset .* planned on cuda"):
            unetkit.fit_folder(root, plan=fake_planned(root, "gpu"), device="cpu")


# ---- F2: plan= naming a folder


def test_a_run_folder_as_plan_names_its_plan_file(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    run = tmp_path / "runs" / "a"
    run.mkdir(parents=True)
    with pytest.raises(ValueError, match=r"is a folder, not a plan file, and holds no plan\.yaml") as err:
        unetkit.fit_folder(root, plan=str(run))
    assert "Path(FILE).write_text(unetkit.plan_folder(" in str(err.value)
    (run / "plan.yaml").write_text("model: {}\n")
    with pytest.raises(ValueError, match=r"is a folder; pass its plan file, plan='.*runs/a/plan\.yaml'"):
        unetkit.fit_folder(root, plan=str(run))
    with pytest.raises(
        ValueError, match=r"no such file; pass unetkit\.plan_folder\(.*\.plan_yaml\), or run unetkit plan"
    ):
        unetkit.fit_folder(root, plan=tmp_path / "nothere.yaml")


# ---- F3: the plan's lines and the estimate after the budget, logged


def test_a_fresh_plan_is_logged_at_info(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_training: None, fake_plans: None,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    root = (tmp_path / "data").resolve()
    root.mkdir()
    made = fake_planned(root)
    _no_planning(monkeypatch, returns=made)
    with caplog.at_level(logging.INFO, logger="unetkit"):
        _trained(root=root, budget="1m", score="val", out=tmp_path / "a", overrides=["evaluate.tta=false"])
    lines = _info(caplog)
    assert [line for line in lines if line.startswith("plan: ")] == [f"plan: {line}" for line in made.lines]
    after = next(line for line in lines if "not part of the budget" in line)
    assert after.endswith(
        f"{ESTIMATE}; evaluate.tta is off in this run, so it scores one view, faster than that"
    )


def test_after_budget_line_reads_a_plan_file_and_says_when_there_is_no_estimate() -> None:
    from unetkit.training.config import load_config

    config = load_config(None, ["trainer.max_time_minutes=2", "evaluate.tta=hflip", "evaluate.split=val"])
    text = (
        "evaluate:\n  # dihedral TTA; after the budget, scoring 66 val images with 8 views take about "
        "12.6 min (est)\n"
    )
    line = fit_module.after_budget_line(config, text)
    assert line == (
        "training for the 2m time budget; after it (not part of the budget), by the plan's estimate, "
        "scoring 66 val images with 8 views take about "
        "12.6 min (est)"
    )
    assert "not part of the budget" in fit_module.after_budget_line(config, "")
    # A plan estimated for the test split, a run that scores val: said.
    config = load_config(None, ["trainer.max_time_minutes=2", "evaluate.split=val", "evaluate.tta=hflip"])
    text = "# after the budget, scoring 2 test images with 2 views take about 1 s (est)\n"
    assert fit_module.after_budget_line(config, text).endswith(
        "take about 1 s (est); that is for the test split, this run scores val"
    )


def test_fit_folder_docstring_says_the_budget_is_training_only() -> None:
    doc = " ".join((unetkit.fit_folder.__doc__ or "").split())
    assert "``budget``: the training time only" in doc
    assert "PlannedDataset" in doc and ".plan_yaml)" in doc


# ---- F6: the docstring's override examples are valid keys


def test_fit_folder_docstring_override_examples_are_valid() -> None:
    from unetkit.training.config import load_config

    examples = re.findall(r'"(\w+(?:\.\w+)+=[^"]+)"', unetkit.fit_folder.__doc__ or "")
    examples = [e for e in examples if not e.endswith("=N")]  # a placeholder (trainer.seed=N)
    assert len(examples) >= 2, examples
    for item in examples:
        load_config(None, [item])  # an unknown key raises


# ---- F10 (d): the interrupt message from Python


def test_interrupt_before_a_checkpoint_names_no_command_from_python(tmp_path: Path) -> None:
    python = fit_module._resume_hint(tmp_path, None, "fit_folder('/data', '2m')")
    assert "command" not in python and python == python.strip()
    assert python.endswith("call fit_folder again with the same arguments")
    assert fit_module._resume_hint(tmp_path, None, "unetkit fit data --time 2m").endswith(
        "run the same command again"
    )
    assert "command" not in fit_module._resume_hint(tmp_path, None, None)


# ---- F7, F10 (c): Lightning's lines


def _lightning_lines(budget_stopped: bool) -> list[str]:
    from lightning.pytorch.utilities.rank_zero import rank_zero_info

    from unetkit.training.lightning_noise import lightning_lines_filtered

    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Keep(logging.INFO)
    lightning = logging.getLogger("lightning.pytorch")
    level, lightning.level = lightning.level, logging.INFO
    lightning.addHandler(handler)
    try:
        with lightning_lines_filtered(lambda: budget_stopped):
            rank_zero_info(
                "💡 Tip: For seamless cloud logging and experiment tracking, try installing "
                "[litlogger](https://pypi.org/project/litlogger/) to enable LitLogger"
            )
            rank_zero_info("`Trainer.fit` stopped: `max_epochs=2` reached.")
            rank_zero_info("GPU available: False, used: False")
        rank_zero_info("`Trainer.fit` stopped: `max_epochs=3` reached.")  # after the block: as before
    finally:
        lightning.removeHandler(handler)
        lightning.setLevel(level)
    return seen


def test_lightning_max_epochs_line_is_dropped_where_the_budget_stopped_the_run() -> None:
    assert _lightning_lines(budget_stopped=True) == [
        "GPU available: False, used: False",
        "`Trainer.fit` stopped: `max_epochs=3` reached.",
    ]
    assert _lightning_lines(budget_stopped=False) == [
        "`Trainer.fit` stopped: `max_epochs=2` reached.",
        "GPU available: False, used: False",
        "`Trainer.fit` stopped: `max_epochs=3` reached.",
    ]


def test_fit_filters_lightning_lines_with_the_budget_stop() -> None:
    import inspect

    source = inspect.getsource(fit_module._fit)
    assert (
        "lightning_lines_filtered(lambda: trainer is not None and stop_point(trainer) is not None)" in source
    )


# ---- F10 (a): io's float line


def test_float_image_line_reads_as_a_sentence(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from unetkit.data import io

    monkeypatch.setattr(io, "_logged_conversions", set())
    with caplog.at_level(logging.INFO, logger="unetkit.data.io"):
        io.float_to_uint8(np.full((2, 2, 1), 0.5), "the float64 image array")
        io.float_to_uint8(np.full((2, 2, 1), 0.5), Path("a.tif"))
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith(
        "the float64 image array: values in [0, 1] read as the 8-bit image round(x * 255)"
    )
    assert "float image the" not in " ".join(lines) and "then as it is" not in " ".join(lines)


# ---- F4: predict_files takes str paths


def _tiny_predictor() -> Any:
    from unetkit.inference.predictor import Predictor
    from unetkit.model_files.model_config import ModelConfig
    from unetkit.models import create_model

    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "num_classes": 2, "depth": 2, "base_channels": 4}
    config = ModelConfig(
        architecture="unet", model_kwargs=kwargs, class_names=["bg", "fg"], mean=[0.5], std=[0.25]
    )
    return Predictor(create_model("unet", **kwargs), config)  # type: ignore[arg-type]


def test_predict_files_takes_str_paths(tmp_path: Path) -> None:
    from PIL import Image

    from unetkit.inference.batch import predict_files

    paths = []
    for i in range(2):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(np.full((16, 16), 60 * i, np.uint8)).save(path)
        paths.append(path)
    result = predict_files(_tiny_predictor(), [str(p) for p in paths], str(tmp_path / "out"))
    assert not result.failures
    assert sorted(p.name for p in (tmp_path / "out" / "masks").iterdir()) == ["img0.png", "img1.png"]
    with pytest.raises(TypeError, match=r"a list of image paths, got the single path .*img0\.png'; pass \["):
        predict_files(_tiny_predictor(), str(paths[0]), tmp_path / "out2")


# ---- F5: export_onnx's refusals


def test_export_onnx_names_a_model_and_how_to_load_one(tmp_path: Path) -> None:
    from unetkit.export import export_onnx

    predictor = _tiny_predictor()
    with pytest.raises(
        TypeError, match=r"model must be a model \(torch\.nn\.Module\), got the path '/path/to/run'"
    ) as err:
        export_onnx("/path/to/run", predictor.config, tmp_path / "out")  # type: ignore[arg-type]
    assert (
        "from unetkit.model_files.model_io import load_model; model, config = load_model('/path/to/run')"
        in str(err.value)
    )
    afile = tmp_path / "train.txt"
    afile.write_text("x\n")
    with pytest.raises(ValueError, match=r"out_dir .*train\.txt is a file; out_dir names a folder"):
        export_onnx(predictor.model, predictor.config, afile)
    with pytest.raises(
        ValueError, match=r"out_dir .*train\.txt/export is inside .*train\.txt, which is a file"
    ):
        export_onnx(predictor.model, predictor.config, afile / "export")
    assert afile.read_text() == "x\n"


# ---- F11: prediction_overlay takes what predict takes


def test_prediction_overlay_takes_a_float_image_and_names_channels_first() -> None:
    from unetkit.viz.overlay import prediction_overlay

    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3)).astype(np.uint8)
    mask = np.zeros((20, 30), np.uint8)
    mask[5:10] = 1
    np.testing.assert_array_equal(prediction_overlay(image / 255.0, mask), prediction_overlay(image, mask))
    np.testing.assert_array_equal(
        prediction_overlay((image / 255.0).astype(np.float32), mask), prediction_overlay(image, mask)
    )
    with pytest.raises(ValueError, match=r"channels first; .*pass np\.moveaxis\(image, 0, -1\)"):
        prediction_overlay(image.transpose(2, 0, 1), mask)
    with pytest.raises(ValueError, match=r"channels first"):
        prediction_overlay(image[..., :1].transpose(2, 0, 1), mask)
