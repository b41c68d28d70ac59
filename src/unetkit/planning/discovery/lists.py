"""Split lists (``train.txt`` ...): found, read, matched with the pairs, and those naming only images
without masks (an unlabeled split, left out).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from unetkit.planning.discovery.files import _and_more, _strip
from unetkit.planning.discovery.names import IMAGE_SUFFIXES, SPLITS


def _read_list(path: Path, known: Collection[str] | None = None) -> list[str]:
    """The names a split list gives, one per line, read as training reads them
    (:func:`unetkit.data.list_files.list_line_name`: the whole line when it names a ``known`` stem, so names
    with spaces work; else its first word, as in Oxford-IIIT Pet's lines)."""
    from unetkit.data.list_files import read_list_file

    names = read_list_file(path, known)
    if not names and path.stem != "train":  # an empty train.txt has its own error: "no training split"
        # An empty list read as absent made the plan say "add test.txt" about a file that is there.
        raise ValueError(
            f"split list {path} is empty (no image ids, only blank or # lines); list the image ids one per "
            "line, or delete the file"
        )
    return names


def _list_files(root: Path, list_dir: Path | None) -> tuple[dict[str, Path], str] | None:
    """split -> list file, and the split source: ``root``'s train.txt, val.txt, test.txt ("lists"), else
    those of the layout's list folder (Pascal VOC's ImageSets/Segmentation/, Oxford-IIIT Pet's
    annotations/), where trainval.txt may stand in for train.txt ("lists in SUBDIR"); None without lists."""
    at_root = {s: root / f"{s}.txt" for s in SPLITS if (root / f"{s}.txt").is_file()}
    if at_root:
        return at_root, "lists"
    if list_dir is None:
        return None
    found = {s: list_dir / f"{s}.txt" for s in (*SPLITS, "trainval") if (list_dir / f"{s}.txt").is_file()}
    if not found:
        return None
    return found, f"lists in {list_dir.relative_to(root).as_posix()}"


def _splits_from_lists(
    files: Mapping[str, Path],
    names: Sequence[str],
    without_mask: set[str],
    dropped: set[str],
    notes: list[str],
    unlabeled: set[str],
) -> dict[str, list[str]]:
    """The splits the list ``files`` name, but the ``unlabeled`` ones (their images all lack masks:
    :func:`_lists_without_masks`). Images ``without_mask`` (Pascal VOC) or ``dropped`` (skipped for their
    size) leave the lists, said in a note; a split left empty by that is omitted. Any other name without an
    image/mask pair is a ValueError naming the list."""
    known = set(names)
    by_key = {_strip(n, IMAGE_SUFFIXES): n for n in names}
    # A list may name the image stem or the stem without its suffix (21 for 21_training).
    keys = known | set(by_key)
    lists = {
        s: [n if n in known else by_key.get(n, n) for n in _read_list(f, keys)] for s, f in files.items()
    }
    files = dict(files)
    trainval = lists.pop("trainval", None)
    if trainval is not None and "train" in lists:
        notes.append(f"{files['trainval']} is not used: train.txt gives the training split")
    elif trainval is not None:
        val = set(lists.get("val", []))
        lists["train"], files["train"] = [n for n in trainval if n not in val], files["trainval"]
        less = " less the images of val.txt" if val else ""
        notes.append(f"training split: the images of {files['trainval']}{less}")
    split_map: dict[str, list[str]] = {}
    for s in SPLITS:
        if s not in lists or s in unlabeled:
            continue
        unique = list(dict.fromkeys(lists[s]))
        if len(unique) < len(lists[s]):
            # A name listed twice would be sampled (or scored) twice as often, and counted twice in the plan.
            twice = [n for n in unique if lists[s].count(n) > 1]
            notes.append(
                f"{files[s]} names {twice[0]!r}{_and_more(len(twice) - 1)} more than once: counted once"
            )
            lists[s] = unique
        listed = [n for n in lists[s] if n not in without_mask and n not in dropped]
        missing = [n for n in listed if n not in known]
        if missing:
            raise ValueError(
                f"{files[s]} names {missing[0]!r}{_and_more(len(missing) - 1)} without an image/mask pair; "
                "fix the list or add the files"
            )
        if len(listed) < len(lists[s]):
            notes.append(_left_out_note(files[s], s, lists[s], without_mask, listed))
        if listed:
            split_map[s] = listed
    if "train" not in split_map:
        # val.txt (and test.txt) alone: every other image would have trained nowhere, and fit stopped after
        # planning, asking for a 'train' split (the plan's statistics had been taken over val and test).
        given = ", ".join(f.name for s, f in files.items() if s != "trainval")
        where = next(iter(files.values())).parent
        why = (
            f"{files['train']} {'is empty' if not lists['train'] else 'names no image with a mask'}"
            if "train" in files
            else f"{where} has {given} but no train.txt"
        )
        raise ValueError(
            f"{why}: no training split; write {where / 'train.txt'} naming the training images, one per line "
            "(images named in no list are not used)"
        )
    return split_map


def _lists_without_masks(
    files: Mapping[str, Path],
    names: Sequence[str],
    maskless: Mapping[str, Path],
    dirs: tuple[Path, Path],
    unmatched: str = "error",
) -> dict[str, list[str]]:
    """The list splits other than train whose listed images all have no mask (``maskless``: stem -> image;
    a test.txt of images whose labels are not public), split -> their stems in the list's order: left out
    as a split folder without masks is (LoveDA's Test/). A list naming some of them, or train.txt
    (trainval.txt) naming any, is a ValueError naming the list, the image and the mask folder (``dirs``:
    the image and mask folders), unless ``unmatched`` is "skip": then those images are left out of their
    lists (the caller skips them as it skips any image without a mask)."""
    known = set(names)
    # A list may name the image stem or the stem without its suffix (21 for 21_training).
    by_key = {_strip(n, IMAGE_SUFFIXES): n for n in (*names, *maskless)}
    out: dict[str, list[str]] = {}
    keys = known | set(maskless) | set(by_key)
    for split, file in files.items():
        listed = list(dict.fromkeys(n if n in known or n in maskless else by_key.get(n, n)
                                    for n in _read_list(file, keys)))  # fmt: skip
        no_mask = [n for n in listed if n in maskless]
        if not no_mask:
            continue
        if split not in ("train", "trainval") and len(no_mask) == len(listed):
            out[split] = listed
            continue
        if unmatched == "skip":
            # Images not annotated yet: skipped as an unpaired image is without lists (a trial's train.txt
            # naming 2 of them stopped discovery with --unmatched skip given).
            continue
        # Only a split other than train may be unlabeled: say how it would be, so the fix is either way.
        unlabeled = f", take them out of {file.name}" if split in ("train", "trainval") else (
            f", take them out of {file.name} (a list whose images all lack masks is left out as unlabeled)"
        )  # fmt: skip
        raise ValueError(
            f"{file} names {no_mask[0]!r}{_and_more(len(no_mask) - 1)}, whose image "
            f"{maskless[no_mask[0]]} has no mask in {dirs[1]}; add the masks{unlabeled}, or pass "
            "--unmatched skip to leave them out"
        )
    return out


def _left_out_note(
    file: Path, split: str, listed: Sequence[str], without_mask: set[str], kept: Sequence[str]
) -> str:
    no_mask = sum(n in without_mask for n in listed)
    skipped = len(listed) - len(kept) - no_mask
    why = [f"{no_mask} have no mask" if no_mask else "", f"{skipped} were skipped" if skipped else ""]
    empty = f"; there is no {split} split" if not kept else ""
    return (
        f"{file} names {len(listed)} images, of which {' and '.join(w for w in why if w)}: left out of the "
        f"{split} split{empty}"
    )
