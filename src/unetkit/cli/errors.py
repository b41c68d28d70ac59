"""One-line ``error:`` messages for the console: what went wrong, with which path, and the fix.

Raw ``OSError`` texts ("[Errno 20] Not a directory: 'x'") name neither the fix nor, sometimes, the path the
user typed; every command's errors pass through :func:`format_error` before they are printed.
"""

from __future__ import annotations

import errno
from pathlib import Path

# errno -> (what happened, the fix); the path is put in front.
_OS_ERRORS: dict[int, tuple[str, str]] = {
    errno.ENOENT: ("does not exist", "check the path"),
    errno.ENOTDIR: ("is not a folder (a part of the path is a file)", "check the path"),
    errno.EISDIR: ("is a folder, a file was expected", "name a file"),
    errno.EACCES: ("permission denied", "choose a path you can read/write, or fix its permissions"),
    errno.EPERM: ("operation not permitted", "choose a path you can read/write, or fix its permissions"),
    errno.ENOSPC: ("no space left on the device", "free some space or write the output elsewhere"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or write the output elsewhere"),
    errno.EROFS: ("is on a read-only file system", "write the output elsewhere"),
    errno.ELOOP: ("is a symlink loop", "fix or remove the link"),
    errno.ENAMETOOLONG: ("name is too long", "use a shorter path"),
    errno.EEXIST: ("already exists", "choose another path"),
}


def format_error(exc: BaseException) -> str:
    """The one-line message printed after ``error:`` for ``exc``."""
    if isinstance(exc, OSError) and exc.errno in _OS_ERRORS and (exc.filename or exc.filename2):
        what, fix = _OS_ERRORS[exc.errno]
        path = exc.filename if exc.filename is not None else exc.filename2
        return f"{path}: {what}; {fix}."
    text = str(exc)
    if isinstance(exc, KeyError):  # str(KeyError('x')) is "'x'": say what it is
        text = f"missing key {text}"
    return " ".join(text.split()) or type(exc).__name__


def creation_error(path: str | Path, exc: OSError) -> str:
    """The one-line message for a folder ``path`` that could not be created (``exc``: what ``mkdir`` raised)
    although a folder it would go in exists: "cannot be created (why); the fix", never "does not exist"
    (``mkdir /proc/x`` fails with ENOENT: /proc exists, but its file system takes no new folders)."""
    path = Path(path)
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    why = {
        errno.ENOENT: f"{parent} exists but its file system does not allow new folders in it",
        errno.EACCES: f"permission denied in {parent}",
        errno.EPERM: f"operation not permitted in {parent}",
        errno.EROFS: f"{parent} is on a read-only file system",
    }.get(exc.errno or 0)
    if why is None:
        why = _OS_ERRORS[exc.errno][0] if exc.errno in _OS_ERRORS else exc.strerror or type(exc).__name__
    fix = "write the output elsewhere" if exc.errno in (errno.ENOENT, errno.EROFS) else None
    if fix is None:
        fix = _OS_ERRORS[exc.errno][1] if exc.errno in _OS_ERRORS else "write the output elsewhere"
    return f"{path}: cannot be created ({why}); {fix}."


def check_out_folder(out: Path, flag: str = "--out") -> None:
    """Refuse an ``--out`` folder that cannot be created, before the model loads: tried by creating it (and
    whatever folders above it are missing) and removing them again (a permission check alone passes /proc
    for root, where mkdir fails). An existing folder is left as it is."""
    if out.exists():
        if not out.is_dir():
            # Not "remove it": a user trial's --out named one of the input images.
            raise ValueError(f"{flag} {out} is a file; {flag} names a folder for the outputs: give a folder")
        return
    missing = [out]
    while not missing[-1].parent.exists() and missing[-1].parent != missing[-1]:
        missing.append(missing[-1].parent)
    try:
        out.mkdir(parents=True)
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise  # a part of the path is a file: errors.format_error's "is not a folder ..."
        raise ValueError(f"{flag} {creation_error(out, exc)}") from None
    for folder in missing:  # deepest first: each is empty
        folder.rmdir()
