"""Lines the console shows around ``fit`` and ``export`` (a new-user trial): other libraries' noise filtered
by the CLI, and the truth about the run folder after a failed start."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_fit_dir import FAST, TINY, make_folder

from unetkit.cli.main import main

NO_CUDA_RUNTIME = "No CUDA runtime is found"


def _export_importing_cpp_extension(through_main: bool) -> str:
    """stderr of a fresh process where ``unetkit export --precision int8`` imports torch's C++-extension
    module (as NNCF does) on a machine with a CUDA toolkit (CUDA_HOME) and no CUDA runtime; torch logs its
    line at that import, once per process."""
    script = textwrap.dedent(
        f"""
        import logging, sys
        import torch
        torch.cuda.is_available = lambda: False  # the same on a GPU machine: no CUDA runtime
        import unetkit.cli.export as export

        def run(args):
            import torch.utils.cpp_extension  # what `import nncf` does
            logging.getLogger("torch.utils.cpp_extension").warning("another line of that logger")
            return 0

        export.run = run
        if {through_main}:
            from unetkit.cli.main import main
            sys.exit(main(["export", "run", "--format", "onnx", "--precision", "int8"]))
        run(None)
        """
    )
    env = {**os.environ, "CUDA_HOME": "/usr/local"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


@pytest.mark.slow  # 7 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_export_drops_torchs_no_cuda_runtime_line_and_only_that() -> None:
    # Without the CLI the line is there (the check below can fail) ...
    assert NO_CUDA_RUNTIME in _export_importing_cpp_extension(through_main=False)
    # ... the CLI drops it, and nothing else of that logger.
    errors = _export_importing_cpp_extension(through_main=True)
    assert NO_CUDA_RUNTIME not in errors
    assert "another line of that logger" in errors


def test_failed_start_says_the_run_folder_was_not_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fit` names the run folder before training; when the start fails, the folder is removed (no checkpoint
    was written) and the console must not leave the user looking for it."""
    import unetkit.training.trainer as trainer

    def bad_trainer(*args: object, **kwargs: object) -> None:
        raise ValueError("trainer.precision=17 is not a precision")  # a bad option found at the start

    monkeypatch.setattr(trainer, "build_trainer", bad_trainer)
    root = make_folder(tmp_path / "data")
    run = tmp_path / "runs" / "r"
    assert main(["fit", str(root), "--time", "0.5m", *FAST, "--out", str(run), *TINY]) == 2
    printed, errors = capsys.readouterr()
    assert f"run folder: {run}\n" in printed
    assert not run.exists()  # run_folder removed what it created
    assert errors.endswith(
        f"error: trainer.precision=17 is not a precision\nrun folder {run} not kept: nothing was trained\n"
    )


def test_a_failure_after_a_checkpoint_names_the_kept_folder_and_resume_is_quiet(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    recwarn: pytest.WarningsRecorder,
) -> None:
    import unetkit.training.fit as fit

    # The final scoring fails after training wrote its checkpoints: the folder stays, and can be resumed.
    evaluate = fit.evaluate

    def failing_evaluate(*args: object, **kwargs: object) -> None:
        raise ValueError("cannot read mask x.png")

    monkeypatch.setattr(fit, "evaluate", failing_evaluate)
    root = make_folder(tmp_path / "data")
    run = tmp_path / "runs" / "r"
    assert main(["fit", str(root), "--time", "0.5m", *FAST, "--out", str(run), *TINY]) == 2
    errors = capfd.readouterr().err
    assert (run / "checkpoints" / "last.ckpt").is_file()
    last = run / "checkpoints" / "last.ckpt"
    assert errors.endswith(
        f"error: cannot read mask x.png\nrun folder {run} kept (it holds {last}); "
        f"continue it with: unetkit fit --resume {run}\n"
    )

    # Resuming: Lightning's "Checkpoint directory ... exists and is not empty." is always so on a resume.
    monkeypatch.setattr(fit, "evaluate", evaluate)
    assert main(["fit", "--resume", str(run), "trainer.max_epochs=2"]) == 0
    printed, errors = capfd.readouterr()  # file-descriptor level: Lightning's handlers hold their own stream
    assert "exists and is not empty" not in printed + errors
    assert not [w for w in recwarn if "exists and is not empty" in str(w.message)]
    assert "\nval split" in printed or "\ntest split" in printed
