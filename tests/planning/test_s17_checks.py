"""The checks ``unetkit fit DIR`` and fit_folder share (unetkit.planning.checks, .plan_file) name the option
as their caller gives it: ``--out`` on the command line, ``out=`` in a Python call."""

from __future__ import annotations

from pathlib import Path

import pytest

from unetkit.planning.checks import check_run_output, check_writable
from unetkit.planning.plan_file import check_plan_device
from unetkit.training.run_folder import refuse_existing_run


def test_the_option_is_named_as_a_flag_or_as_a_keyword(tmp_path: Path) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(ValueError, match=rf"^--out {a_file / 'run'}: {a_file} is a file"):
        check_writable(a_file / "run", "--out")
    with pytest.raises(ValueError, match=rf"^out={a_file / 'run'}: {a_file} is a file"):
        check_writable(a_file / "run", "out=")
    with pytest.raises(ValueError, match=rf"^run folder {a_file / 'run'}: "):
        check_run_output([f"output.root={a_file}", "output.name=run"], out_given=False)
    with pytest.raises(ValueError, match=r"choose a new run folder \(--out, or output\.name=\.\.\.\)$"):
        refuse_existing_run(a_file)
    with pytest.raises(ValueError, match=r"choose a new run folder \(out=\.\.\.\)$"):
        refuse_existing_run(a_file, "out=")


def test_a_started_run_names_the_resume_the_caller_can_type(tmp_path: Path) -> None:
    started = tmp_path / "started"
    (started / "checkpoints").mkdir(parents=True)
    (started / "config.yaml").write_text("{}\n")
    (started / "checkpoints" / "last.ckpt").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"\(--out, or output\.name=\.\.\.\), or continue it with --resume "):
        check_run_output([f"output.root={tmp_path}", "output.name=started"], out_given=True)
    with pytest.raises(ValueError, match=r"\(out=\.\.\.\), or continue it with unetkit fit --resume "):
        check_run_output([f"output.root={tmp_path}", "output.name=started"], out_given=True, option="out=")


def test_the_plan_device_is_named_as_given(tmp_path: Path) -> None:
    plan = {"trainer": {"accelerator": "gpu"}}
    with pytest.raises(ValueError, match=r"^--device cpu: .*; drop --device, or plan again on cpu"):
        check_plan_device("cpu", plan, tmp_path / "plan.yaml", tmp_path)
    with pytest.raises(ValueError, match=r"^device='cpu': .*; drop device=, or plan again on cpu"):
        check_plan_device("cpu", plan, tmp_path / "plan.yaml", tmp_path, option="device=")
    check_plan_device("cpu", {"trainer": {"accelerator": "cpu"}}, tmp_path / "plan.yaml", tmp_path)
