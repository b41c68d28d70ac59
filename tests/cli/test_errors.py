"""Console errors: raw OSError texts become one line naming the path and the fix (exit code 2)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from unetkit.cli.errors import format_error
from unetkit.cli.main import main


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), "a/b"), "a/b: is not a folder"),
        (FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), "x.png"), "x.png: does not exist"),
        (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "out/m.png"), "out/m.png: no space left"),
        (OSError(errno.ELOOP, os.strerror(errno.ELOOP), "images/l"), "images/l: is a symlink loop"),
        (PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/root/x"), "/root/x: permission denied"),
    ],
)
def test_os_errors_name_path_and_fix(exc: OSError, expected: str) -> None:
    message = format_error(exc)
    assert message.startswith(expected)
    assert "Errno" not in message and ";" in message  # the fix follows the semicolon
    assert "\n" not in message


def test_other_errors_are_one_line() -> None:
    assert format_error(ValueError("bad\nvalue  here")) == "bad value here"
    assert format_error(KeyError("model")) == "missing key 'model'"


def test_cli_reports_errno_without_raw_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np
    from PIL import Image

    from unetkit.model_files.model_config import ModelConfig
    from unetkit.model_files.model_io import save_model
    from unetkit.models import create_model

    kwargs = {"in_channels": 1, "num_classes": 2, "depth": 2, "base_channels": 4}
    config = ModelConfig("unet", kwargs, class_names=["a", "b"], mean=[0.5], std=[0.25])
    model = save_model(create_model("unet", **kwargs), config, tmp_path / "model")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "img.png")
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    # --out below a file: mkdir raises NotADirectoryError "[Errno 20] Not a directory".
    capsys.readouterr()  # drop log lines of the model save above
    code = main(["predict", str(model), str(tmp_path / "img.png"), "--out", str(blocker / "out"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "Errno" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {blocker / 'out'}: is not a folder (a part of the path is a file); check the path."
    ]
