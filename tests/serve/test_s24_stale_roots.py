"""A server killed without its shutdown handler leaves its results folder (uploads included; trial 23 saw it
once after SIGTERM): the next ResultStore removes the folders whose owning process no longer runs, and only
those."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from unetkit.serve.store import OWNER_FILE, ResultStore, _start_time, sweep_stale_roots


def _root(parent: Path, name: str, owner: str | None) -> Path:
    folder = parent / f"unetkit-serve-{name}"
    (folder / "abc123").mkdir(parents=True)
    (folder / "abc123" / "mask.png").write_bytes(b"png")
    if owner is not None:
        (folder / OWNER_FILE).write_text(owner)
    return folder


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_the_folders_of_stopped_owners_are_removed(tmp_path: Path) -> None:
    me = os.getpid()
    dead = _root(tmp_path, "dead", f"{_dead_pid()} 1")
    live = _root(tmp_path, "live", f"{me} {_start_time(me)}")
    unknown = _root(tmp_path, "unknown", None)  # another program's, or an older unetkit's
    assert sweep_stale_roots(tmp_path) == [dead]
    assert not dead.exists() and live.is_dir() and unknown.is_dir()


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs /proc to tell a reused pid")
def test_a_reused_pid_with_another_start_time_is_stale(tmp_path: Path) -> None:
    reused = _root(tmp_path, "reused", f"{os.getpid()} 1")  # this pid, but not this process's start
    assert sweep_stale_roots(tmp_path) == [reused]


def test_a_new_store_sweeps_and_names_its_owner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = _root(tmp_path, "dead", f"{_dead_pid()} 1")
    store = ResultStore()
    assert not dead.exists()
    assert store.root.parent == tmp_path
    assert (store.root / OWNER_FILE).read_text().split()[0] == str(os.getpid())
    assert sweep_stale_roots(tmp_path) == []  # its own folder is live
    store.close()
    assert not store.root.exists()
