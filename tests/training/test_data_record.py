"""``RUN/trained_on.json``: every new run records its training and validation files (size and SHA-256), and
a replay whose files or starting weights differ stops with one line naming the first difference, before its
run folder exists."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from training_helpers import TIME_PACED

from unetkit.cli.main import main as cli_main
from unetkit.inference.variants import file_sha256
from unetkit.training.config import load_config
from unetkit.training.data_record import (
    RECORD_NAME,
    check_data_record,
    data_record,
    write_data_record,
)
from unetkit.training.evaluate import resolve_dataset


def _files(root: Path, **content: bytes) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in content.items():
        (root / name).write_bytes(data)
    return [root / name for name in content]


def test_a_replay_names_the_first_difference(tmp_path: Path) -> None:
    data = tmp_path / "data"
    source = tmp_path / "run"
    record = data_record(data, _files(data, a=b"aaaa", b=b"bbbb", c=b"cc"))
    assert record["files"]["a"] == [4, file_sha256(data / "a")]
    write_data_record(source, record)
    check_data_record(source, data_record(data, _files(data, a=b"aaaa", b=b"bbbb", c=b"cc")))

    def refusal(**content: bytes) -> str:
        for path in data.iterdir():
            path.unlink()
        with pytest.raises(ValueError) as info:
            check_data_record(source, data_record(data, _files(data, **content)))
        message = str(info.value)
        assert "\n" not in message and f"the data {source} trained on has changed" in message
        return message

    assert "a has changed (same size, other content)" in refusal(a=b"aaab", b=b"bbbb", c=b"cc")
    assert "c has changed (2 bytes then, 3 now)" in refusal(a=b"aaaa", b=b"bbbb", c=b"ccc")
    assert "b is missing" in refusal(a=b"aaaa", c=b"cc")
    message = refusal(a=b"aaaa", b=b"bbbb", c=b"cc", d=b"d", e=b"e")
    assert "d is new (and 1 more)" in message


def test_a_replay_needs_the_same_starting_weights(tmp_path: Path) -> None:
    data, source = tmp_path / "data", tmp_path / "run"
    files = _files(data, a=b"aaaa")
    weights = _files(tmp_path, **{"w.pth": b"weights"})[0]
    write_data_record(source, data_record(data, files, weights))
    check_data_record(source, data_record(data, files, weights))
    weights.write_bytes(b"other weights")
    with pytest.raises(ValueError, match=rf"{source} started from {weights} \(sha256 .*same weights"):
        check_data_record(source, data_record(data, files, weights))
    with pytest.raises(ValueError, match="the replay from none"):
        check_data_record(source, data_record(data, files))


def test_a_run_from_before_the_record_is_not_checked(tmp_path: Path) -> None:
    data = tmp_path / "data"
    check_data_record(tmp_path / "old-run", data_record(data, _files(data, a=b"a")))


def test_fit_records_its_files_and_a_replay_refuses_edited_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    args = ["fit", "--config", "synthetic", *TIME_PACED, "trainer.check_val_every_n_epoch=1000",
            f"data.root={data}", f"output.root={tmp_path}", "output.name=r",
            "trainer.max_time_minutes=0.03"]  # fmt: skip
    assert cli_main(args) == 0
    run = tmp_path / "r"
    recorded = json.loads((run / RECORD_NAME).read_text())
    spec = resolve_dataset(load_config(run / "config.yaml"))
    pairs = [pair for split in ("train", "val") for pair in spec.pairs(split)]
    trained = {p.relative_to(data).as_posix() for pair in pairs for p in pair}
    tested = {p.relative_to(data).as_posix() for pair in spec.pairs("test") for p in pair}
    assert set(recorded["files"]) == trained and tested and not tested & trained
    assert recorded["root"] == str(data.resolve()) and "weights" not in recorded

    # One mask of the training split corrected by hand, as a user would.
    name = sorted(p for p in trained if p.startswith("masks/"))[0]
    mask = np.array(Image.open(data / name))
    mask[0, 0] = 1 - mask[0, 0] if mask[0, 0] <= 1 else 0
    Image.fromarray(mask).save(data / name)
    capsys.readouterr()
    assert cli_main(["fit", "--replay", str(run)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("INFO ")]
    assert len(errors) == 1 and f"the data {run} trained on has changed: {name} has changed" in errors[0]
    assert not (tmp_path / "r-replay").exists()
