"""A finished run's refusal names the one command that scores it again on the split it scored:
``unetkit test RUN`` for a run that scored test, ``unetkit validate RUN`` for val (it said
"unetkit validate RUN (or test)" for both)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from unetkit.cli.main import main
from unetkit.training.run_folder import refuse_existing_run, score_again_command


def _finished(run: Path, split: str | None) -> Path:
    (run / "model").mkdir(parents=True)
    (run / "model" / "config.json").write_text("{}")
    if split is not None:
        (run / "config.yaml").write_text(f"evaluate: {{split: {split}}}\n")
    (run / f"metrics_{split or 'test'}.json").write_text("{}")
    return run


@pytest.mark.parametrize(("split", "command"), [("test", "test"), ("val", "validate")])
def test_the_finished_run_messages_name_the_split_it_scored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], split: str, command: str
) -> None:
    run = _finished(tmp_path / "runs" / "my run", split)
    again = f"score it again with unetkit {command} {shlex.quote(str(run))}"
    other = "validate" if command == "test" else "test"
    with pytest.raises(ValueError, match="holds a finished run") as err:
        refuse_existing_run(run)
    assert again in str(err.value) and f"unetkit {other}" not in str(err.value)
    assert "(or test)" not in str(err.value)
    assert main(["fit", "--resume", str(run)]) == 2
    printed = capsys.readouterr().err
    assert f"{again}, or train a new run" in printed and f"unetkit {other}" not in printed


def test_without_a_readable_config_the_scores_files_say_the_split(tmp_path: Path) -> None:
    run = _finished(tmp_path / "run", None)  # metrics_test.json, no config.yaml
    assert score_again_command(run) == f"unetkit test {run}"
    (run / "metrics_test.json").unlink()
    (run / "metrics_val.json").write_text("{}")
    assert score_again_command(run) == f"unetkit validate {run}"
    assert score_again_command(run, "test") == f"unetkit test {run}"
