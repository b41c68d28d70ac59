"""``unetkit fit``: what a new user's trial of resumed, replayed and planned runs found. A replay refuses
keys that change training, ``--plan`` honours or refuses every option, contradicting options are refused,
printed commands can be pasted, and a replay folder keeps the plan of the run it replays."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import torch
import yaml
from test_fit_dir import FAST, TINY, make_folder

from unetkit.cli.main import main


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1
    return err


def test_a_replay_refuses_keys_that_change_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    err = _error(capsys, "fit", "--replay", str(run), "data.batch_size=2")
    assert "data.batch_size=2 would train another model" in err
    # The keys that leave training as it was reach the replay's own checks (here: no such run).
    err = _error(capsys, "fit", "--replay", str(run), "trainer.num_threads=1", "evaluate.tta=flips",
                 "output.name=again")  # fmt: skip
    assert "would train another model" not in err and "not found" in err


def test_contradicting_options_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_folder(tmp_path / "data")
    err = _error(capsys, "fit", str(root), "--score", "val", "evaluate.split=test")
    assert "--score val and evaluate.split=test contradict each other" in err
    err = _error(capsys, "fit", str(root), "--threads", "1", "trainer.num_threads=2")
    assert "--threads 1 and trainer.num_threads=2 contradict each other" in err
    err = _error(capsys, "fit", str(root), "--precision", "32-true", "trainer.precision=bf16-mixed")
    assert "--precision 32-true and trainer.precision=bf16-mixed contradict each other" in err
    # The same value twice is no contradiction (refused later, here for the missing plan).
    err = _error(capsys, "fit", str(root), "--score", "val", "evaluate.split=val", "--plan", "nope.yaml")
    assert "contradict each other" not in err and "plan file nope.yaml does not exist" in err


def test_fit_with_a_plan_honours_or_refuses_every_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_folder(tmp_path / "data")
    plan = tmp_path / "p.yaml"
    assert main(["plan", str(root), "--time", "0.5m", *FAST, "--out", str(plan)]) == 0
    capsys.readouterr()
    with_plan = ["fit", str(root), "--plan", str(plan), "--score", "val"]
    assert "--unmatched is decided by the plan file" in _error(capsys, *with_plan, "--unmatched", "skip")
    assert "--measure-limit is decided by the plan file" in _error(capsys, *with_plan, "--measure-limit", "5")
    if not torch.cuda.is_available():
        err = _error(capsys, *with_plan, "--device", "cuda")
        assert "device cuda was asked for but torch sees no CUDA GPU; use --device cpu" in err
    run = tmp_path / "runs" / "p"
    # The precision the plan did not choose (its timing of so small a model can go either way).
    planned = yaml.safe_load(plan.read_text())["trainer"]["precision"]
    other = "32-true" if planned == "bf16-mixed" else "bf16-mixed"
    assert main([*with_plan, "--precision", other, "--device", "cpu", "--out", str(run), *TINY]) == 0
    assert f"with trainer.precision={other}" in capsys.readouterr().out
    assert yaml.safe_load((run / "config.yaml").read_text())["trainer"]["precision"] == other


def test_printed_commands_quote_their_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from unetkit.cli.fit import run_dir_fate
    from unetkit.training.fit import _resume_hint

    run = tmp_path / "sp ace" / "Zürich run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    quoted = shlex.quote(str(run))
    assert quoted != str(run)
    assert _resume_hint(run).endswith(f"resume with: unetkit fit --resume {quoted}")
    assert run_dir_fate(run).endswith(f"unetkit fit --resume {quoted}")
    # A finished run: the command that scores it again.
    (run / "config.yaml").write_text("evaluate: {split: val}\n")
    (run / "model").mkdir()
    (run / "model" / "config.json").write_text("{}")
    (run / "metrics_val.json").write_text("{}")
    assert f"score it again with unetkit validate {quoted}, or" in _error(capsys, "fit", "--resume", str(run))


def test_a_replay_folder_keeps_the_plan_of_the_run_it_replays(tmp_path: Path) -> None:
    from unetkit.cli.fit import _replayed_plan_files

    run = tmp_path / "run"
    run.mkdir()
    assert _replayed_plan_files(run) is None  # a run trained from a config file has no plan
    (run / "plan.yaml").write_text("# planned\ntrainer: {max_epochs: 3}\n")
    (run / "dataset.json").write_text('{"root": "data"}\n')
    (run / "plan.png").write_bytes(b"\x89PNG")
    planned = _replayed_plan_files(run)
    assert planned is not None
    planned.write(tmp_path / "replay")
    replay = tmp_path / "replay"
    text = (replay / "plan.yaml").read_text()
    assert text.startswith(f"# this run replays {run.resolve()}")
    assert text.endswith("trainer: {max_epochs: 3}\n")
    assert (replay / "dataset.json").read_text() == '{"root": "data"}\n'
    assert (replay / "plan.png").read_bytes() == b"\x89PNG"


def test_a_replay_takes_threads_as_trainer_num_threads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import unetkit.cli.fit as cli_fit
    import unetkit.training.budget as budget
    from unetkit.training.config import Config, load_config, save_config

    run = tmp_path / "run"
    run.mkdir()
    save_config(load_config("synthetic", ["trainer.max_time_minutes=1", "trainer.num_threads=1"]),
                run / "config.yaml")  # fmt: skip
    trained: list[Config] = []

    def train(args: object, config: Config, planned: object) -> int:
        trained.append(config)
        return 0

    monkeypatch.setattr(budget, "read_recorded_clock", lambda run_dir: None)
    monkeypatch.setattr(cli_fit, "_train", train)
    # --threads sets trainer.num_threads, as with --plan (it was refused: "drop --threads").
    assert main(["fit", "--replay", str(run), "--threads", "2"]) == 0
    assert [config.trainer.num_threads for config in trained] == [2]
    assert main(["fit", "--replay", str(run), "--threads", "2", "trainer.num_threads=2"]) == 0
    err = _error(capsys, "fit", "--replay", str(run), "--threads", "1", "trainer.num_threads=2")
    assert "--threads 1 and trainer.num_threads=2 contradict each other" in err
    # The other fit DIR options stay refused.
    assert "drop --time" in _error(capsys, "fit", "--replay", str(run), "--time", "1m")
