"""The result store: ids never become arbitrary paths; count, size and age bounds evict and delete folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from unetkit.serve.store import ResultStore, check_result_id, new_result_id


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def put(store: ResultStore, nbytes: int = 10) -> str:
    result_id = new_result_id()
    folder = store.folder_for(result_id)
    folder.mkdir()
    (folder / "mask.png").write_bytes(b"x" * nbytes)
    store.add(result_id, {"n": nbytes})
    return result_id


@pytest.mark.parametrize("bad", ["../etc", "A" * 32, "0" * 31, "0" * 33, "/tmp/x", "", "0" * 31 + "/"])
def test_ids_outside_the_pattern_are_refused(bad: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="32 hex digits"):
        check_result_id(bad)
    store = ResultStore(tmp_path)
    assert store.get(bad) is None
    with pytest.raises(ValueError):
        store.folder_for(bad)


def test_new_ids_are_valid_and_distinct() -> None:
    ids = {new_result_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(check_result_id(i) == i for i in ids)


def test_results_expire_and_their_folders_go(tmp_path: Path) -> None:
    clock = FakeClock()
    store = ResultStore(tmp_path, ttl_s=60, clock=clock)
    first = put(store)
    clock.now += 30
    second = put(store)
    assert store.get(first) is not None
    clock.now += 31  # first is 61 s old, second 31 s
    assert store.get(first) is None
    assert not (tmp_path / first).exists()
    assert store.get(second) is not None
    clock.now += 30
    assert store.purge_expired() == 1
    assert len(store) == 0 and not (tmp_path / second).exists()


def test_count_bound_evicts_the_oldest(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, max_items=2)
    ids = [put(store) for _ in range(3)]
    assert store.get(ids[0]) is None and not (tmp_path / ids[0]).exists()
    assert store.get(ids[1]) is not None and store.get(ids[2]) is not None
    assert store.stats()["items"] == 2


def test_byte_bound_evicts_the_oldest_but_keeps_the_newest(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, max_bytes=250)
    a = put(store, 100)
    b = put(store, 100)
    c = put(store, 100)  # 300 > 250: a goes
    assert [store.get(i) is not None for i in (a, b, c)] == [False, True, True]
    assert store.stats()["bytes"] == 200
    big = put(store, 1000)  # larger than the bound alone: kept, everything older goes
    assert len(store) == 1 and store.get(big) is not None


def test_discard_and_close(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    a = put(store)
    store.discard(a)
    assert store.get(a) is None and not (tmp_path / a).exists()
    own = ResultStore()  # private temp folder: removed by close
    b = put(own)
    root = own.root
    assert (root / b).is_dir()
    own.close()
    assert not root.exists()


def test_add_needs_the_written_folder(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    with pytest.raises(FileNotFoundError):
        store.add(new_result_id(), {})


@pytest.mark.parametrize("kwargs", [{"max_items": 0}, {"max_bytes": 0}, {"ttl_s": 0}])
def test_bounds_are_validated(kwargs: dict[str, float], tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ResultStore(tmp_path, **kwargs)  # type: ignore[arg-type]
