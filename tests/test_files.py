"""unetkit.files: what atomic writes leave behind has the permissions of a plain open()/mkdir() under the
process's umask (mkstemp's 0600 and mkdtemp's 0700 would hide a model from another user or a service
account), and reading the umask leaves it as it was."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from unetkit import files
from unetkit.files import atomic_dir, atomic_write_text

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under a known umask, restored afterwards."""
    before = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _check_atomic_outputs(tmp_path: Path, umask: int) -> None:
    with atomic_dir(tmp_path / "model") as tmp:
        atomic_write_text(tmp / "config.json", "{}")
        (tmp / "sub").mkdir()
    assert _mode(tmp_path / "model") == 0o777 & ~umask  # a folder as mkdir makes it, not mkdtemp's 0700
    assert _mode(tmp_path / "model" / "config.json") == 0o666 & ~umask  # a file as open() makes it
    # Replacing an existing folder gives the new one the same permissions.
    with atomic_dir(tmp_path / "model") as tmp:
        atomic_write_text(tmp / "config.json", "{}")
    assert _mode(tmp_path / "model") == 0o777 & ~umask
    assert os.umask(umask) == umask  # reading it left the process's umask as it was


def test_atomic_dir_and_files_get_the_permissions_of_mkdir_and_open(tmp_path: Path, umask: int) -> None:
    if Path(files._PROC_STATUS).is_file():
        assert files._umask() == umask  # read from /proc, without setting it
    _check_atomic_outputs(tmp_path, umask)


def test_without_proc_the_umask_is_read_and_put_back(
    tmp_path: Path, umask: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where /proc does not report it (macOS, old kernels) the umask is read by setting it and putting it back.
    monkeypatch.setattr(files, "_PROC_STATUS", str(tmp_path / "no-proc"))
    assert files._umask() == umask
    _check_atomic_outputs(tmp_path, umask)
