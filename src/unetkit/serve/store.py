"""A bounded, expiring store of prediction results on disk (one folder per result).

Results live in a private temporary folder owned by the server, one sub-folder per result named by a random
128-bit hex id. The store is bounded three ways so a long-running server never fills the disk: at most
``max_items`` results, at most ``max_bytes`` in total (oldest evicted first), and each result expires
``ttl_s`` seconds after it was stored. Clients only ever name a result by its id and a file by one of a fixed
set of names: no client string becomes part of a path without passing :func:`check_result_id`.

Files are written by the worker (thread or process) into ``store.folder_for(id)`` through
:func:`unetkit.files.atomic_dir`, so a result folder appears complete or not at all; :meth:`ResultStore.add`
then registers it. Thread-safe (FastAPI runs sync endpoints in a thread pool).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_ID_PATTERN = re.compile(r"[0-9a-f]{32}")


def new_result_id() -> str:
    """A random 128-bit hex id (unguessable: ids are also the only handle on other users' results)."""
    return secrets.token_hex(16)


def check_result_id(result_id: str) -> str:
    """``result_id`` if it is 32 lowercase hex digits, else ValueError (keeps client strings out of paths)."""
    if not isinstance(result_id, str) or not _ID_PATTERN.fullmatch(result_id):
        raise ValueError(f"result id must be 32 hex digits, got {str(result_id)[:40]!r}.")
    return result_id


@dataclass
class StoredResult:
    """One registered result: its folder, summary JSON, size on disk and expiry (``time.monotonic``)."""

    result_id: str
    folder: Path
    summary: dict[str, Any]
    nbytes: int
    expires_at: float


def folder_size(folder: Path) -> int:
    """Bytes of the regular files directly inside ``folder``."""
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


# The file in a store's own temp folder naming the process that made it (pid and start time): a server killed
# without its shutdown handler (a trial once saw a SIGTERM'd server leave its folder, uploads included) leaves
# the folder, and the next store removes it (:func:`sweep_stale_roots`).
OWNER_FILE = ".owner"
ROOT_PREFIX = "unetkit-serve-"


def _start_time(pid: int) -> str:
    """The start time of process ``pid`` (field 22 of ``/proc/PID/stat``, clock ticks since boot): with the
    pid it names one process, as pids are reused; '' where /proc cannot tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]  # after "pid (comm)": state is field 3, starttime 22


def _owner_alive(owner: str) -> bool:
    """Whether the process an ``OWNER_FILE``'s text names (``pid start``) still runs."""
    try:
        pid_text, _, start = owner.strip().partition(" ")
        pid = int(pid_text)
        os.kill(pid, 0)
    except PermissionError:
        return True  # it runs, as another user
    except (ValueError, OSError):
        return False
    now = _start_time(pid)
    return not start or not now or now == start


def sweep_stale_roots(parent: Path) -> list[Path]:
    """Remove the stores' temp folders under ``parent`` whose owning process no longer runs; returns them.
    A folder without an owner file (another program's, or an older unetkit's) is left alone."""
    removed = []
    for folder in parent.glob(f"{ROOT_PREFIX}*"):
        try:
            owner = (folder / OWNER_FILE).read_text()
        except OSError:
            continue
        if not _owner_alive(owner):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


class ResultStore:
    """Bounded, expiring results under ``root`` (a new private temp folder when None).

    Args:
        root: folder to keep results in; None creates one with :func:`tempfile.mkdtemp` (removed by
            :meth:`close`, or by the next store made after this process died without closing it). A given
            folder is used as is and only the result folders are removed.
        max_items: results kept at most (oldest evicted first).
        max_bytes: total bytes kept at most (oldest evicted first; a single larger result is still kept).
        ttl_s: seconds a result stays available.
        clock: time source (tests pass a fake one).
    """

    def __init__(
        self,
        root: str | Path | None = None,
        max_items: int = 256,
        max_bytes: int = 1 << 30,
        ttl_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}.")
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}.")
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be > 0, got {ttl_s}.")
        self._owns_root = root is None
        if root is None:
            stale = sweep_stale_roots(Path(tempfile.gettempdir()))
            if stale:
                logger.info("removed %d results folder(s) of stopped servers: %s", len(stale), stale[0])
        self.root = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX)) if root is None else Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        if self._owns_root:
            (self.root / OWNER_FILE).write_text(f"{os.getpid()} {_start_time(os.getpid())}")
        self.max_items = int(max_items)
        self.max_bytes = int(max_bytes)
        self.ttl_s = float(ttl_s)
        self._clock = clock
        self._items: OrderedDict[str, StoredResult] = OrderedDict()  # oldest first
        self._bytes = 0
        self._lock = threading.Lock()

    def folder_for(self, result_id: str) -> Path:
        """Where the worker writes result ``result_id`` (not yet registered)."""
        return self.root / check_result_id(result_id)

    def add(self, result_id: str, summary: dict[str, Any]) -> StoredResult:
        """Register the complete folder of ``result_id``; evicts expired and over-limit results."""
        folder = self.folder_for(result_id)
        if not folder.is_dir():
            raise FileNotFoundError(f"result folder {folder} was not written")
        entry = StoredResult(result_id, folder, summary, folder_size(folder), self._clock() + self.ttl_s)
        with self._lock:
            self._items[result_id] = entry
            self._bytes += entry.nbytes
            doomed = self._expired_locked()
            while len(self._items) > self.max_items or (
                self._bytes > self.max_bytes and len(self._items) > 1
            ):
                doomed.append(self._pop_locked(next(iter(self._items))))
        self._remove(doomed)
        return entry

    def get(self, result_id: str) -> StoredResult | None:
        """The live result ``result_id``, or None (unknown, malformed, evicted or expired)."""
        try:
            check_result_id(result_id)
        except ValueError:
            return None
        with self._lock:
            doomed = self._expired_locked()
            entry = self._items.get(result_id)
        self._remove(doomed)
        return entry

    def discard(self, result_id: str) -> None:
        """Remove a result (registered or only written) and its folder."""
        folder = self.folder_for(result_id)
        with self._lock:
            if result_id in self._items:
                self._pop_locked(result_id)
        shutil.rmtree(folder, ignore_errors=True)

    def purge_expired(self) -> int:
        """Remove expired results now; returns how many."""
        with self._lock:
            doomed = self._expired_locked()
        self._remove(doomed)
        return len(doomed)

    def stats(self) -> dict[str, Any]:
        """Counts and limits (for ``/api/health``)."""
        with self._lock:
            return {
                "items": len(self._items),
                "bytes": self._bytes,
                "max_items": self.max_items,
                "max_bytes": self.max_bytes,
                "ttl_s": self.ttl_s,
            }

    def close(self) -> None:
        """Remove every result (and the root folder when the store created it)."""
        with self._lock:
            doomed = [self._pop_locked(key) for key in list(self._items)]
        self._remove(doomed)
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    # -- internals (callers hold the lock) ---------------------------------------------------------------

    def _pop_locked(self, result_id: str) -> StoredResult:
        entry = self._items.pop(result_id)
        self._bytes -= entry.nbytes
        return entry

    def _expired_locked(self) -> list[StoredResult]:
        now = self._clock()
        # Insertion order is expiry order (one TTL for all), so stop at the first live entry.
        doomed = []
        while self._items:
            first = next(iter(self._items.values()))
            if first.expires_at > now:
                break
            doomed.append(self._pop_locked(first.result_id))
        return doomed

    @staticmethod
    def _remove(entries: list[StoredResult]) -> None:
        # Outside the lock: deleting folders is slow and needs no shared state.
        for entry in entries:
            shutil.rmtree(entry.folder, ignore_errors=True)
            logger.debug("result %s removed", entry.result_id)
