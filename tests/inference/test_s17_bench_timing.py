"""The timing rule of backend auto and ``unetkit benchmark`` (:func:`bench.time_interleaved`): each round
starts one candidate further on, so what an engine leaves running after its call meets a different engine
each round; and the one wording of a machine that was busy while timing."""

from __future__ import annotations

from collections.abc import Callable

from unetkit.inference import bench


def test_each_round_starts_one_candidate_further_on() -> None:
    calls: list[str] = []

    def fn(name: str) -> Callable[[], None]:
        return lambda: calls.append(name)

    times = bench.time_interleaved({n: fn(n) for n in "abc"}, rounds=4, warmup=0)
    assert calls == [*"abc", *"bca", *"cab", *"abc"]  # round r starts at the r-th (mod 3)
    # Times stay keyed by candidate, one per round, whatever the order.
    assert list(times) == list("abc") and all(len(v) == 4 for v in times.values())
    # Before: "a" always ran right after "c" (a trial's eager candidate always after onnxruntime's spin).
    followers = {calls[i] for i in range(1, len(calls)) if calls[i - 1] == "c"}
    assert followers == {"a", "b"}


def test_busy_note_names_the_load_and_the_cpus() -> None:
    assert bench.busy_note((3.24, 2)) == (
        "the machine was busy while timing (1-minute load 3.2 on 2 CPUs), so the ranking may not hold"
    )
