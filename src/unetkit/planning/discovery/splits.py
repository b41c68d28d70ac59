"""The names of each split without lists: ranges given (``--split``), contiguous blocks of the sorted names,
validation carved from training, and the name groups (sequences, patients) kept on one side.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unetkit.planning.discovery.names import SPLITS

# Without a val split, the last block of the training images becomes it (contiguous: neighbouring slices
# or frames stay on one side) when at least this many are given; the share is the default split's, 15/80.
MIN_TRAIN_TO_CARVE_VAL = 5
CARVED_VAL_FRACTION = 3 / 16  # = 15/80, exact in binary (0.15 / 0.80 is not)
# Fewest groups from which validation is carved as whole groups: with fewer, one group is on average more
# than the carved share, so validation would be one domain or site (LoveDA's Urban or Rural).
MIN_GROUPS_TO_HOLD_OUT = int(np.ceil(1 / CARVED_VAL_FRACTION))

# Fewer pairs than this cannot give train, val and test images; ask for a val/ folder instead.
MIN_PAIRS_TO_SPLIT = 10
# 65/15/20: on 30 ISBI slices this gives the README's contiguous 20/4/6 split.
DEFAULT_FRACTIONS = (("train", 0.65), ("val", 0.15), ("test", 0.2))

# A name's group: its stem without a trailing frame/slice number (0016E5_07959 -> 0016E5, Seq05VD_f00000 ->
# Seq05VD, patient3-12 -> patient3).
_GROUP_SUFFIX = re.compile(r"(?:[-_ .]+[A-Za-z]?)?\d+$")
# Groups count as sequences (or patients, slides) only when some group holds at least this many names.
MIN_GROUP_SIZE = 3


def name_group(name: str) -> str:
    """The group a sample name belongs to: its stem without the trailing number ("" when nothing is left)."""
    return _GROUP_SUFFIX.sub("", name.rsplit("/", 1)[-1])


def shared_group_notes(splits: Mapping[str, Sequence[str]]) -> list[str]:
    """Notes for validation/test images whose name group (sequence, patient, slide, by the name before its
    trailing number) also has training images: their scores overrate images from unseen groups (CamVid:
    every validation frame comes from 0016E5, a training sequence). Silent when names form no groups."""
    if not _has_groups([n for names in splits.values() for n in names]):
        return []  # one group (img00..img29) or unique names (hashes): nothing to tell apart
    train = {name_group(n) for n in splits.get("train", [])} - {""}
    notes = []
    for split in ("val", "test"):
        members = list(splits.get(split, []))
        shared = [n for n in members if name_group(n) in train]
        if shared:
            keys = sorted({name_group(n) for n in shared})
            notes.append(
                f"{len(shared)} of {len(members)} {split} images share a name group with training images "
                f"({', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}): if a group is one sequence, "
                f"patient or slide, {split} scores overrate images from unseen groups"
            )
    return notes


def _ranges_text(splits: Mapping[str, Any]) -> str:
    """``train=0:1, test=1:2``: given splits as the user wrote them (ranges, or a count of names)."""
    return ", ".join(
        f"{k}={v[0]}:{v[1]}"
        if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(x, int) for x in v)
        else f"{k}=[{len(v)} names]"
        for k, v in splits.items()
    )


def _example_split(n: int) -> str:
    """A ``--split`` that works for ``n`` >= 2 pairs: a train and a val block (and test from 10 pairs)."""
    if n >= MIN_PAIRS_TO_SPLIT:
        val, test = max(1, round(n * 0.15)), max(1, round(n * 0.2))
        return f"train=0:{n - val - test},val={n - val - test}:{n - test},test={n - test}:{n}"
    return f"train=0:{n - 1},val={n - 1}:{n}"


def _carve_val(
    split_map: dict[str, list[str]], where: str, ask: str, notes: list[str]
) -> dict[str, list[str]]:
    """``split_map`` with a val split of ~15/80 of the training names; an error asking for ``ask`` when
    training is too small.

    Validation stands in for the test split, so it is carved as the test split relates to training; without
    a labeled test split, so that every part of training is in it. Groups are told by the names (breeds,
    sequences, patients: :func:`name_group`) and by group folders (LoveDA's ``Urban/`` and ``Rural/``, a
    site's or patient's sub-folder: :func:`_carve_key`):

    * no groups (ISBI 2012's slices): the last contiguous block, so neighbouring slices stay on one side;
    * every test group also has training images: validation too holds every group; spread evenly over the
      sorted names when the names form the groups (Oxford-IIIT Pet's test.txt holds every breed:
      :func:`_interleaved_val`), else the end of each group in proportion to its size (:func:`_group_tails`:
      neighbouring frames of a group stay on one side);
    * test groups unseen in training: whole groups, as the test split's are; spread evenly over the sorted
      groups when there are at least ``MIN_GROUPS_TO_HOLD_OUT`` (:func:`_held_out_groups`), else the last
      contiguous block, cut at a group boundary where the sizes allow;
    * no labeled test split (LoveDA's Test/ has no masks): whole groups spread evenly when there are at least
      ``MIN_GROUPS_TO_HOLD_OUT`` (no group on both sides, every part of the list in validation); with fewer,
      whole groups would be one domain or site, so the end of each group in proportion to its size.
    """
    train = split_map.get("train", [])
    if len(train) < MIN_TRAIN_TO_CARVE_VAL:
        raise ValueError(
            f"{where} but no validation split, and {len(train)} training images are too few to split one "
            f"off; add {ask} so that choices are made on validation images, not on the test split"
        )
    n_val = max(1, int(np.floor(len(train) * CARVED_VAL_FRACTION + 0.5)))  # half up, not to even
    rest = {k: v for k, v in split_map.items() if k not in ("train", "val")}
    test = split_map.get("test", [])
    test_groups = {name_group(n) for n in test}
    if _has_groups(train) and test_groups and test_groups <= {name_group(n) for n in train}:
        val = _interleaved_val(train, n_val)
        chosen = set(val)
        notes.append(
            f"no validation split given: {n_val} of the {len(train)} training images, spread evenly over the "
            f"sorted names ({val[0]}, {val[1] if len(val) > 1 else val[0]}, ...), are the validation split, "
            "as every test image's name group also has training images; add "
            f"{ask} to choose them"
        )
        return {"train": [n for n in train if n not in chosen], "val": val} | rest
    groups = _carve_groups(train)
    seen = bool(test) and groups is not None and {_carve_key(n) for n in test} <= set(groups)
    held = _held_out_groups(groups, n_val) if groups is not None and not seen else None
    if groups is not None and held is not None:
        chosen = {n for key in held for n in groups[key]}
        val = [n for n in train if n in chosen]
        notes.append(
            f"no validation split given: {len(held)} of the {len(groups)} groups of the training images "
            f"({_keys_text(held)}), spread evenly over the sorted groups, are the validation split "
            f"({len(val)} of {len(train)} images): no group is on both sides, and every part of the list is "
            f"in it; add {ask} to choose them"
        )
        return {"train": [n for n in train if n not in chosen], "val": val} | rest
    if groups is not None and (seen or not test):
        tails = _group_tails(groups, n_val)
        chosen = {n for members in tails.values() for n in members}
        val = [n for n in train if n in chosen]
        shares = ", ".join(f"{len(v)} of {_keys_text([k])}" for k, v in tails.items() if v)
        why = "as the test split holds every group" if seen else "as no labeled test split is given"
        notes.append(
            f"no validation split given: the last images of each of the {len(groups)} groups of the training "
            f"images, in proportion to its size, are the validation split ({len(val)} of {len(train)}: "
            f"{shares}), {why}: every group (domain, site) is in it, and neighbouring images of a group stay "
            f"on one side; add {ask} to choose them"
        )
        return {"train": [n for n in train if n not in chosen], "val": val} | rest
    snapped = snap_to_groups(train, [len(train) - n_val])  # in the list's order; a group stays on one side
    if snapped is not None:
        n_val = len(train) - snapped[0]
    notes.append(
        f"no validation split given: the last {n_val} of the {len(train)} training images "
        f"({train[-n_val]} .. {train[-1]}) are the validation split; add {ask} to choose them"
    )
    return {"train": train[:-n_val], "val": train[-n_val:]} | rest


def _interleaved_val(names: Sequence[str], n_val: int) -> list[str]:
    """``n_val`` of ``names`` spread evenly over them (the middle of each of ``n_val`` equal stretches):
    every group of the sorted names gives validation about its share."""
    picks = np.floor((np.arange(n_val) + 0.5) * len(names) / n_val).astype(int)
    return [names[i] for i in picks]


def _carve_key(name: str) -> str:
    """The group a sample name is carved by: the group folders between its split folder and the file
    (``Train/Urban/1366`` -> ``Urban/``; the split folder, the same for all of a split, left out) and its
    :func:`name_group` (``train/site_a/p3-12`` -> ``site_a/p3``; a flat ``s4_07`` -> ``s4``)."""
    folders = "/".join(name.split("/")[1:-1])
    return f"{folders}/{name_group(name)}" if folders else name_group(name)


def _carve_groups(names: Sequence[str]) -> dict[str, list[str]] | None:
    """Carve key -> its names (in ``names``' order), sorted by key; None unless the keys form groups as
    :func:`_has_groups` counts them (>= 2 named groups, one of >= ``MIN_GROUP_SIZE``)."""
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(_carve_key(n), []).append(n)
    named = [len(v) for k, v in groups.items() if k]
    if len(named) < 2 or max(named) < MIN_GROUP_SIZE:
        return None
    return {k: groups[k] for k in sorted(groups)}


def _held_out_groups(groups: Mapping[str, Sequence[str]], n_val: int) -> list[str] | None:
    """Whole groups (keys of ``groups``, sorted) spread evenly over the sorted keys, as many as bring their
    images nearest to ``n_val``; None with fewer than ``MIN_GROUPS_TO_HOLD_OUT`` groups, or when no count of
    groups comes within a factor 2 of ``n_val`` (one group holding most images)."""
    keys = sorted(groups)
    if len(keys) < MIN_GROUPS_TO_HOLD_OUT:
        return None
    best: tuple[int, list[str]] | None = None
    for m in range(1, len(keys)):  # at least one group stays in training
        picks = _interleaved_val(keys, m)
        size = sum(len(groups[k]) for k in picks)
        if best is None or abs(size - n_val) < abs(best[0] - n_val):
            best = (size, picks)
    if best is None or not n_val / 2 <= best[0] <= 2 * n_val:
        return None
    return best[1]


def _group_tails(groups: Mapping[str, Sequence[str]], n_val: int) -> dict[str, list[str]]:
    """The last names of each group (in its names' order), ``n_val`` in all, each group's count in proportion
    to its size (largest remainders); a group of two or more gives at least one and keeps at least one for
    training, so the total may differ from ``n_val`` slightly on tiny sets."""
    total = sum(len(v) for v in groups.values())
    exact = {k: n_val * len(v) / total for k, v in groups.items()}
    take = {k: int(np.floor(e)) for k, e in exact.items()}
    by_remainder = sorted(groups, key=lambda k: -(exact[k] - take[k]))  # stable: ties in key order
    for k in by_remainder[: n_val - sum(take.values())]:
        take[k] += 1
    out: dict[str, list[str]] = {}
    for k, members in groups.items():
        count = min(max(take[k], 1 if len(members) >= 2 else 0), len(members) - 1)
        out[k] = list(members[len(members) - count :]) if count else []
    return out


def _keys_text(keys: Sequence[str], limit: int = 5) -> str:
    """The first ``limit`` group keys for a note (``Urban/``, ``s4``; ``(no group)``: names without one)."""
    shown = [k or "(no group)" for k in keys[:limit]]
    return ", ".join(shown) + (" ..." if len(keys) > limit else "")


def _has_groups(names: Sequence[str]) -> bool:
    """The names form groups (sequences, patients): >= 2 named groups, one of >= ``MIN_GROUP_SIZE``."""
    counts: dict[str, int] = {}
    for n in names:
        if key := name_group(n):
            counts[key] = counts.get(key, 0) + 1
    return len(counts) >= 2 and max(counts.values()) >= MIN_GROUP_SIZE


def snap_to_groups(names: Sequence[str], cuts: Sequence[int]) -> list[int] | None:
    """``cuts`` (increasing indices into the sorted ``names``, each in 1..n-1) moved to the nearest name-group
    boundaries, so that no group (sequence, patient, slide) straddles two splits; None when the names form
    no groups or the groups are too few to keep every split non-empty."""
    if not _has_groups(names):
        return None
    keys = [name_group(n) for n in names]
    edges = [i for i in range(1, len(names)) if keys[i] != keys[i - 1]]
    out: list[int] = []
    for k, cut in enumerate(cuts):
        low = out[-1] if out else 0
        left = len(cuts) - k - 1  # cuts still to place after this one, each needs a later edge
        options = [e for e in edges if e > low]
        options = options[: len(options) - left] if left else options
        if not options:
            return None
        out.append(min(options, key=lambda e: (abs(e - cut), e)))
    # Groups too coarse for the fractions (two patients for three splits) would distort them: keep the cuts.
    wanted = np.diff([0, *cuts, len(names)])
    got = np.diff([0, *out, len(names)])
    if np.any(got < wanted / 2) or np.any(got > 2 * wanted):
        return None
    return out


def _contiguous(names: list[str], root: Path, hint: str = "") -> tuple[dict[str, list[str]], bool]:
    """Contiguous 65/15/20 blocks of the sorted ``names``, and whether the cuts moved to group boundaries;
    ``hint`` ends the too-few-pairs error (images in sub-folders that are not searched)."""
    n = len(names)
    if n < MIN_PAIRS_TO_SPLIT:
        # What works with so few: a training and a validation split given (test is optional). val.txt and
        # test.txt without train.txt had been suggested here, and leave no training images.
        fix = (
            "training needs at least one training and one validation image: add images"
            if n < 2
            else "give the training and validation images yourself: train.txt and val.txt naming the "
            f"images of each (test.txt is optional), a val/ folder (with images/ and masks/) beside "
            f"images/ and masks/, or --split train=0:{n - 1},val={n - 1}:{n}"
        )
        raise ValueError(
            f"{root} has only {n} image/mask pair{'' if n == 1 else 's'}: too few to split off validation "
            f"and test images; {fix}{hint}"
        )
    exact = [f * n for _, f in DEFAULT_FRACTIONS]
    sizes = [int(np.floor(e)) for e in exact]
    for i in np.argsort([-(e - s) for e, s in zip(exact, sizes)], kind="stable")[: n - sum(sizes)]:
        sizes[i] += 1
    sizes = [max(size, 1) for size in sizes]
    cuts = list(np.cumsum(sizes[:-1]))
    # Names with groups (0016E5_07959: frames of a sequence): no group on both sides of a cut.
    snapped = snap_to_groups(names, cuts)
    bounds = [0, *(snapped or cuts), n]
    blocks = {name: names[bounds[i] : bounds[i + 1]] for i, (name, _) in enumerate(DEFAULT_FRACTIONS)}
    return blocks, snapped is not None


def check_split_name(split: str, where: str = "splits") -> None:
    """A ValueError naming ``split`` when it is not train, val or test, with the closest of them: fit needs
    these names (a "vall" split planned, then fit stopped after measuring, asking for a 'val' split)."""
    if split in SPLITS:
        return
    close = difflib.get_close_matches(str(split).lower(), SPLITS, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ValueError(f"{where} names split {split!r}; {hint}the splits are {', '.join(SPLITS)}")


def _parse_splits(given: Mapping[str, Any], names: list[str]) -> dict[str, list[str]]:
    """``{"train": (0, 20), "val": ["a", "b"]}``: ranges over the sorted names or lists of names."""
    out: dict[str, list[str]] = {}
    known = set(names)
    for split in given:
        check_split_name(split)
    for split, spec in given.items():
        if isinstance(spec, (tuple, list)) and len(spec) == 2 and all(isinstance(v, int) for v in spec):
            start, stop = int(spec[0]), int(spec[1])
            if not 0 <= start <= stop <= len(names):
                raise ValueError(
                    f"split {split}={start}:{stop} is outside 0..{len(names)} ({len(names)} pairs)"
                )
            out[split] = names[start:stop]
        else:
            listed = [str(s) for s in spec]
            missing = [s for s in listed if s not in known]
            if missing:
                raise ValueError(f"split {split!r} names {missing[0]!r}, which has no image/mask pair")
            out[split] = listed
    return out
