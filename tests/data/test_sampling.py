"""evenly_spaced: the one deterministic subsample (masks sampled for the encoding, fingerprint images, the
data probe, validation images during training)."""

from __future__ import annotations

from unetkit.data.sampling import evenly_spaced


def test_an_even_spread_keeps_the_first_and_the_last() -> None:
    assert evenly_spaced(list(range(10)), 3) == [0, 4, 9]
    assert evenly_spaced("abcdefgh", 2) == ["a", "h"]


def test_asking_for_as_many_or_more_returns_all_and_none_returns_none() -> None:
    assert evenly_spaced([3, 1, 2], 3) == [3, 1, 2] and evenly_spaced([3, 1, 2], 10) == [3, 1, 2]
    assert evenly_spaced(list(range(5)), 0) == []
