"""What a run trained on, file by file: ``RUN/trained_on.json``, which a replay checks before it trains.

A replay (``unetkit fit --replay RUN``, ``unetkit fit-maskrcnn --replay RUN``) retrains a run step for step
from its recorded clock; it reproduces the run only on the same training and validation files (validation
picks the "best" checkpoint) and, for Mask R-CNN, the same starting weights. Without a record, a folder
edited since (a mask corrected, an image added) gives other weights and nothing says why. So every new run
records each file's size and SHA-256, relative to the data folder, and a replay whose files differ stops
with one line naming the first difference, before its run folder exists.

Full hashes rather than sizes or modification times: an edited mask PNG can keep its size, and copying a
folder changes every time stamp. Hashing reads the data once (about a second per GB here), small beside
the training it guards.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from unetkit.files import atomic_write_text
from unetkit.inference.variants import file_sha256

log = logging.getLogger(__name__)

RECORD_NAME = "trained_on.json"
RECORD_VERSION = 1


def file_table(files: Iterable[Path], root: Path) -> dict[str, list[Any]]:
    """``{path relative to root (POSIX; ../ where a pair lies outside it): [bytes, sha256]}`` of ``files``
    (duplicates counted once)."""
    started = time.perf_counter()
    base = Path(root).resolve()
    table: dict[str, list[Any]] = {}
    for path in files:
        key = Path(os.path.relpath(Path(path).resolve(), base)).as_posix()
        if key not in table:
            table[key] = [Path(path).stat().st_size, file_sha256(Path(path))]
    log.info("hashed %d input files in %.1f s", len(table), time.perf_counter() - started)
    return table


def data_record(root: Path, data: Iterable[Path], weights: Path | None = None) -> dict[str, Any]:
    """The record of one run: its data folder, each training/validation file and the starting weights."""
    record: dict[str, Any] = {
        "version": RECORD_VERSION,
        "root": str(Path(root).resolve()),
        "files": file_table(data, root),
    }
    if weights is not None:
        record["weights"] = {"path": str(Path(weights).resolve()), "bytes": Path(weights).stat().st_size,
                             "sha256": file_sha256(Path(weights))}  # fmt: skip
    return record


def write_data_record(run_dir: Path, record: dict[str, Any]) -> Path:
    """Write ``RUN/trained_on.json`` atomically."""
    return atomic_write_text(Path(run_dir) / RECORD_NAME, json.dumps(record, indent=1) + "\n")


def _first_difference(recorded: dict[str, list[Any]], now: dict[str, list[Any]]) -> tuple[str, int]:
    """(the first difference in sorted path order, how many files differ in all)."""
    changed = sorted(
        [f"{p} is missing" for p in recorded if p not in now]
        + [f"{p} is new" for p in now if p not in recorded]
        + [
            f"{p} has changed ({recorded[p][0]} bytes then, {now[p][0]} now)"
            if recorded[p][0] != now[p][0]
            else f"{p} has changed (same size, other content)"
            for p in recorded
            if p in now and recorded[p] != now[p]
        ]
    )
    return (changed[0], len(changed)) if changed else ("", 0)


# Why a run must see the files it recorded, by what is checked: a replay, or a resumed run.
_SAME_FILES = {
    "replay": "a replay reproduces a run only on the same files",
    "resume": "a resumed run goes on training only on the files it started with",
}


def check_data_record(source: Path, now: dict[str, Any], purpose: str = "replay") -> None:
    """Raise ValueError when the inputs ``now`` (:func:`data_record`) differ from what run ``source`` trained
    on (``purpose``: "replay", or "resume" for a run continued in its folder). A run from before the record
    existed has nothing to compare, and passes (logged)."""
    path = Path(source) / RECORD_NAME
    if not path.is_file():
        log.info("%s has no %s (trained before unetkit recorded its files): its data is not checked",
                 source, RECORD_NAME)  # fmt: skip
        return
    recorded = json.loads(path.read_text())
    first, count = _first_difference(recorded.get("files", {}), now["files"])
    if count:
        more = f" (and {count - 1} more)" if count > 1 else ""
        raise ValueError(
            f"the data {source} trained on has changed: {first}{more}, under {now['root']}; "
            f"{_SAME_FILES[purpose]} ({path}): restore them, or train a new run."
        )
    then, weights = recorded.get("weights"), now.get("weights")
    if (then or {}).get("sha256") != (weights or {}).get("sha256"):
        was = f"{then['path']} (sha256 {then['sha256'][:12]})" if then else "no weights file"
        got = f"{weights['path']} (sha256 {weights['sha256'][:12]})" if weights else "none"
        raise ValueError(
            f"{source} started from {was}, the {purpose} from {got}: a {purpose} needs the same weights "
            f"to start from ({path}); put that file back at its path, or train a new run."
        )


def segmentation_files(spec: Any) -> list[Path]:
    """The image, mask and ROI files of a :class:`~unetkit.data.datasets.registry.DatasetSpec`'s train and
    val splits: what training reads (the test split does not change the weights)."""
    rois = spec.encoding.rois or {}
    files: list[Path] = []
    for split in ("train", "val"):
        if split in spec.splits:
            for image, mask in spec.pairs(split):
                roi = rois.get(str(mask))
                files += [Path(image), Path(mask), *([Path(roi)] if roi else [])]
    return files
