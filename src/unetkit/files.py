"""Atomic file writes: the one home for "write to a temp name next to the target, then rename".

A crash, Ctrl-C or a failing input never leaves a half-written file (or folder) behind: the target name
appears only once its content is complete (``os.replace`` is atomic on one file system). Torch-free, so the
onnxruntime/OpenVINO prediction paths and the web server use it too.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

# Linux reports a process's umask here (since 4.7): read without setting it, so no other thread ever runs
# under a changed umask.
_PROC_STATUS = "/proc/self/status"


def _umask() -> int:
    """The process's umask. Where /proc does not say, os.umask is the only reader and it sets the mask: set it
    to 0o077 for the instant until it is put back, so that a file another thread creates meanwhile is its
    owner's only (never more open than the umask allows)."""
    try:
        with open(_PROC_STATUS, encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o077)
    os.umask(umask)
    return umask


def _default_permissions(path: str, mode: int = 0o666) -> None:
    # mkstemp creates 0600 files and mkdtemp 0700 folders; give the result the permissions a plain open()
    # (mode 0o666) or mkdir() (mode 0o777) would have, so another user or a service account can read it.
    os.chmod(path, mode & ~_umask())


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(file)`` on a temp file next to ``path`` and rename it to ``path`` once complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)  # reopened by name: some writers (tifffile) need a file object with a path name
    try:
        with open(tmp_name, "wb") as fh:
            write(fh)
        _default_permissions(tmp_name)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode(encoding))


@contextlib.contextmanager
def atomic_path(final: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temp file path next to ``final`` (ending in ``suffix``, for writers that pick the format from
    it); it is renamed onto ``final`` only if the block finishes, and removed on any error."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=f".tmp{suffix}", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _default_permissions(tmp_name)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(final: str | Path) -> Iterator[Path]:
    """Yield an empty temp folder next to ``final``; it replaces ``final`` (if any) only if the block
    finishes, and is removed on any error. The folder gets the permissions of a plain ``mkdir`` (0o777 less
    the umask), not mkdtemp's 0o700."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        _default_permissions(str(tmp), 0o777)
        if final.exists():
            old = final.with_name(f".{final.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def broken_link(path: Path) -> str | None:
    """Why the symbolic link ``path`` leads to no file ("a broken symlink (-> target)", "a symlink loop"), or
    None (not a link, or a link to an existing file or folder)."""
    if not path.is_symlink():
        return None
    try:
        path.stat()
    except FileNotFoundError:
        return f"a broken symlink (-> {os.readlink(path)})"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symlink loop"
        raise
    return None
