"""Discovery: what a dataset folder holds, inferred from its names and values (torch-free).

:func:`discover` looks at a folder with ``images/`` and ``masks/`` (or another of ``MASK_DIR_NAMES``), an
optional ``roi/`` (or ``fov/``; other folder names are given), optional ``classes.json`` / ``classes.csv``
and optional split lists (``train.txt`` ...) or split sub-folders (``train/images``, ``training/masks`` ...;
without a validation split, one is carved from training: :func:`_carve_val`). Public layouts are found
as they are downloaded: Pascal VOC (``JPEGImages/``, ``SegmentationClass/``, ``ImageSets/Segmentation/``), an
image folder with a mask folder beside it (Carvana: ``train/`` and ``train_masks/``) and masks one level
down (Oxford-IIIT Pet: ``annotations/trimaps/``, with ``annotations/trainval.txt``); split folders whose
sub-folders are groups with their own image and mask folders are merged per split (LoveDA:
``Train/Urban/images_png/`` + ``masks_png/``, ``Train/Rural/`` likewise). In any of these split layouts a
split other than train whose images have no masks at all (LoveDA's Test/, ISIC's ``..._Test_Input/``
without its ground truth, ``test/images/`` without ``test/masks/``, a ``test.txt`` naming only images
without masks) is left out, with a note giving the ``unetkit predict`` command for it; a split with only some
masks missing is an error, and so is a training split with any. It pairs files by stem,
tolerating the usual suffixes, detects the mask encoding from the stored values and returns a
:class:`DatasetLayout` (written as ``dataset.json`` by the CLI). Every problem is one ValueError line that
names the file and the fix; nothing is written here.

The package's modules, from the bottom: ``names`` (folder names and suffixes), ``layout`` (what is returned),
``files`` (listing and pairing one folder), ``classes`` (the classes file), ``class_maps`` and ``encoding``
(the mask encoding), ``folders`` (one base folder's image and mask folders), ``split_folders`` and ``nnunet``
(the split sub-folders of a layout), ``lists`` and ``splits`` (the names of each split), ``checks`` and
``public_classes`` (the checks of the pairs, the classes of public layouts); :func:`discover` is here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from unetkit.data.io import is_jpeg
from unetkit.data.list_files import check_disjoint
from unetkit.data.sampling import evenly_spaced
from unetkit.options import look_up_option
from unetkit.palette import _voc_color
from unetkit.planning.discovery.checks import (
    MAX_CONVERTED_SHARE,
    MIN_IMAGE_SIDE,
    _check_images,
    _check_something_to_learn,
    _one_class_note,
)
from unetkit.planning.discovery.class_maps import TYPO_DISTANCE
from unetkit.planning.discovery.classes import (
    ADE_CLASSES,
    CLASS_KEYS,
    CSV_DELIMITERS,
    TOP_KEYS,
    ClassTable,
    read_classes,
    void_values,
)
from unetkit.planning.discovery.encoding import (
    DEFAULT_MASK_SAMPLE,
    MASK_KIND_OPTIONS,
    MAX_AUTO_CLASS_VALUE,
    _palette_colors,
    detect_encoding,
    read_mask_values,
)
from unetkit.planning.discovery.files import (
    Companions,
    _and_more,
    _case_hint,
    _image_files,
    _nested_images,
    _pair_folder,
    _strip,
)
from unetkit.planning.discovery.folders import (
    IMAGE_WORDS,
    MASK_WORDS,
    NESTED_MASK_DIR_NAMES,
    PET_TRIMAP_DIR,
    SIBLING_MASK_SUFFIXES,
    VOC_IMAGE_DIR,
    VOC_LIST_DIR,
    VOC_MASK_DIR,
    VOC_VOID,
    _find_folders,
    _image_count,
    _npy_note,
    _plain_fails,
    _unlabeled_note,
    _unused_folders,
    _voc_note,
)
from unetkit.planning.discovery.layout import DatasetLayout, MaskInfo, Sample, with_instance_target
from unetkit.planning.discovery.lists import _list_files, _lists_without_masks, _splits_from_lists

# planning/plan.py imports the split-list reader from here
from unetkit.planning.discovery.lists import _read_list as _read_list
from unetkit.planning.discovery.names import (
    DIR_OPTIONS,
    IMAGE_DIR_NAMES,
    IMAGE_SUFFIXES,
    MASK_DIR_NAMES,
    MASK_ONLY_SUFFIXES,
    MASK_SUFFIXES,
    NNUNET_CHANNEL,
    NNUNET_IMAGE_DIR,
    NNUNET_MASK_DIR,
    NNUNET_TEST_DIR,
    ROI_DIR_NAMES,
    SPLIT_DIR_NAMES,
    SPLITS,
)
from unetkit.planning.discovery.nnunet import (
    _nnunet_classes,
    _nnunet_folders,
    _nnunet_json_notes,
    nnunet_channel_names,
)
from unetkit.planning.discovery.public_classes import (
    LOVEDA_CLASS_NAMES,
    LOVEDA_COLORS,
    LOVEDA_DIRS,
    LOVEDA_GROUPS,
    VOC_CLASS_NAMES,
    _is_loveda,
    _loveda_classes,
    _pet_trimaps,
    _voc_classes,
    _voc_rgb_masks,
)
from unetkit.planning.discovery.split_folders import (
    _Base,
    _group_folders,
    _inner_split_folders,
    _named_folders,
    _sibling_split_folders,
    _split_folders,
)
from unetkit.planning.discovery.splits import (
    CARVED_VAL_FRACTION,
    DEFAULT_FRACTIONS,
    MIN_GROUP_SIZE,
    MIN_GROUPS_TO_HOLD_OUT,
    MIN_PAIRS_TO_SPLIT,
    MIN_TRAIN_TO_CARVE_VAL,
    _carve_val,
    _contiguous,
    _example_split,
    _parse_splits,
    _ranges_text,
    check_split_name,
    name_group,
    shared_group_notes,
    snap_to_groups,
)

# Every public name of the one module discovery was: code imports them from unetkit.planning.discovery.
__all__ = [
    "ADE_CLASSES",
    "CARVED_VAL_FRACTION",
    "CLASS_KEYS",
    "CSV_DELIMITERS",
    "DEFAULT_FRACTIONS",
    "DEFAULT_MASK_SAMPLE",
    "DIR_OPTIONS",
    "IMAGE_DIR_NAMES",
    "IMAGE_SUFFIXES",
    "IMAGE_WORDS",
    "LOVEDA_CLASS_NAMES",
    "LOVEDA_COLORS",
    "LOVEDA_DIRS",
    "LOVEDA_GROUPS",
    "MASK_DIR_NAMES",
    "MASK_KIND_OPTIONS",
    "MASK_ONLY_SUFFIXES",
    "MASK_SUFFIXES",
    "MASK_WORDS",
    "MAX_AUTO_CLASS_VALUE",
    "MAX_CONVERTED_SHARE",
    "MIN_GROUPS_TO_HOLD_OUT",
    "MIN_GROUP_SIZE",
    "MIN_IMAGE_SIDE",
    "MIN_PAIRS_TO_SPLIT",
    "MIN_TRAIN_TO_CARVE_VAL",
    "NESTED_MASK_DIR_NAMES",
    "NNUNET_CHANNEL",
    "NNUNET_IMAGE_DIR",
    "NNUNET_MASK_DIR",
    "NNUNET_TEST_DIR",
    "PET_TRIMAP_DIR",
    "ROI_DIR_NAMES",
    "SIBLING_MASK_SUFFIXES",
    "SPLITS",
    "SPLIT_DIR_NAMES",
    "TOP_KEYS",
    "TYPO_DISTANCE",
    "UNMATCHED_OPTIONS",
    "VOC_CLASS_NAMES",
    "VOC_IMAGE_DIR",
    "VOC_LIST_DIR",
    "VOC_MASK_DIR",
    "VOC_VOID",
    "ClassTable",
    "Companions",
    "DatasetLayout",
    "MaskInfo",
    "Sample",
    "check_split_name",
    "detect_encoding",
    "discover",
    "name_group",
    "nnunet_channel_names",
    "read_classes",
    "read_mask_values",
    "shared_group_notes",
    "snap_to_groups",
    "void_values",
    "with_instance_target",
]

logger = logging.getLogger(__name__)

UNMATCHED_OPTIONS = ("error", "skip")


def discover(
    root: str | Path,
    *,
    image_dir: str | Path | None = None,
    mask_dir: str | Path | None = None,
    roi_dir: str | Path | None = None,
    mask_kind: str | None = None,
    void: Sequence[int] | int | None = None,
    class_names: Sequence[str] | None = None,
    splits: Mapping[str, Any] | None = None,
    unmatched: str = "error",
    check_sizes: bool = True,
    mask_sample: int = DEFAULT_MASK_SAMPLE,
    classes_file: str | Path | None = None,
) -> DatasetLayout:
    """Infer the layout of the dataset folder ``root`` (see the module docstring).

    Args:
        image_dir, mask_dir, roi_dir: folders (relative to ``root``) instead of the usual names.
        mask_kind: binary, index, palette, instances or remap, when the values do not settle it.
        void: stored value(s) whose pixels are ignored (e.g. CamVid's 11).
        class_names: one name per class (else classes.json/csv or generic names).
        splits: split -> (start, stop) over the sorted names, or a list of names; overrides split files.
        unmatched: "error" (default) or "skip" files without a partner (listed in ``skipped``).
        check_sizes: compare every image's size with its mask's (and ROI's) from the file headers.
        mask_sample: masks read to detect the encoding.
        classes_file: a classes.json/.csv outside the folder (e.g. beside read-only data).

    Raises:
        ValueError: one line naming the file and the fix (see :mod:`unetkit.planning.discovery`).
    """
    # Absolute (symlinks kept): the finders hand on absolute folders, told apart from the user's relative
    # --images/--masks names by that; a relative root made them join it twice (isic/isic/...).
    root = Path(root).absolute()
    if root.is_file():
        # unetkit plan data/images/00.png: the folder two levels up is the likely dataset folder.
        up = root.parent.parent if root.parent.name.lower() in IMAGE_DIR_NAMES + MASK_DIR_NAMES else None
        hint = f" (here perhaps {up})" if up is not None else ""
        raise ValueError(
            f"dataset folder {root} is a file, not a folder; pass the folder holding images/ and masks/{hint}"
        )
    if not root.is_dir():
        raise ValueError(f"dataset folder {root} does not exist; pass the folder holding images/ and masks/")
    unmatched = look_up_option(unmatched, UNMATCHED_OPTIONS, "unmatched")
    void_list = void_values(void)
    notes: list[str] = []
    # Split sub-folders (train/images ...) or one set of folders at the root.
    bases = _split_folders(root, image_dir, mask_dir, roi_dir) or _inner_split_folders(
        root, image_dir, mask_dir
    )
    if bases and bases[0].base == root and not bases[0].prefix:  # images/ + masks/ beside val/ (test/)
        notes.append(
            f"splits: train from the image/mask pairs at the top of {root.name}/, "
            + ", ".join(f"{b.split} from {b.prefix}/" for b in bases[1:] if b.labeled)
            + " (the split folders beside them)"
        )
    elif bases and bases[0].base == root:
        notes.append(
            f"splits from the sub-folders of {Path(bases[0].image_dir or '').parent.name}/ and "
            f"{Path(bases[0].mask_dir or '').parent.name}/: "
            + ", ".join(b.prefix + "/" for b in bases if b.labeled)
        )
    if not bases and (nnunet := _nnunet_folders(root, image_dir, mask_dir)):
        bases = nnunet
        notes.append(
            f"nnU-Net layout: images from {NNUNET_IMAGE_DIR}/ (case_000_0000: _0000 is the channel), their "
            f"masks from {NNUNET_MASK_DIR}/ (case_000)"
        )
    if not bases and (beside := _sibling_split_folders(root, image_dir, mask_dir)):
        bases = beside
        notes.append(
            "split folders with their masks beside them: "
            + ", ".join(
                f"{b.split} from {b.prefix}/ with {Path(b.mask_dir or '').name}/" for b in bases if b.labeled
            )
        )
    in_groups = False
    if not bases and (groups := _group_folders(root, image_dir, mask_dir)) is not None:
        bases, in_groups = groups, True
        labeled = [b for b in bases if b.labeled]
        notes.append(
            "the split folders hold groups (domains, sites or patients), each with its own image and mask "
            "folders, merged per split; a sample's name keeps its group "
            f"({labeled[0].prefix}/NAME): {', '.join(b.prefix + '/' for b in labeled)}"
        )
    if not bases and image_dir is None and mask_dir is None and _plain_fails(root):
        bases = _named_folders(root)
        if bases:
            pairs_text = "; ".join(
                f"{b.split or 'images'}: {Path(b.image_dir or '').name}/ with {Path(b.mask_dir or '').name}/"
                for b in bases
                if b.labeled
            )
            notes.append(f"image and mask folders told by their names ({pairs_text})")
        stems = [p.stem for b in bases if b.labeled for p in _image_files(Path(b.image_dir or root))]
        if len(set(stems)) == len(stems):
            # ISIC 2018: ISIC_0000000, not ISIC2018_Task1-2_Training_Input/ISIC_0000000; the folder prefix
            # only keeps apart names that recur in two splits.
            bases = [replace(b, prefix="") for b in bases]
    if bases and all(b.base.parent == root and b.prefix == b.base.name for b in bases):
        # train/ + val/ beside images/ at the top: the split folders win; say so (the top pairs are unused).
        notes += [
            f"{d} holds {len(_image_files(d))} images that are not used: the split folders "
            f"{', '.join(b.prefix + '/' for b in bases)} give the splits; move them into one to use them"
            for n in ((str(image_dir),) if image_dir is not None else IMAGE_DIR_NAMES)
            if (d := root / n).is_dir() and _image_files(d)
        ]
    # A split whose images have no masks (each finder marks it): left out of the splits, one note per split.
    unlabeled: dict[str, list[Path]] = {}
    for b in bases:
        if not b.labeled:
            unlabeled.setdefault(b.split, []).append(Path(b.image_dir or b.base))
    unlabeled_counts = {split: _image_count(folders) for split, folders in unlabeled.items()}
    notes += [
        _unlabeled_note(root, split, dirs, unlabeled_counts[split]) for split, dirs in unlabeled.items()
    ]
    bases = [b for b in bases if b.labeled] or [_Base("", root, image_dir, mask_dir)]
    # Folders another base uses are not unused ones (ISIC's Validation folders, seen from Training's; its
    # Test_Input/ without masks, already said).
    known = [
        Path(p) for b in bases for p in (b.image_dir, b.mask_dir) if p is not None and Path(p).is_absolute()
    ] + [d for folders in unlabeled.values() for d in folders]
    samples: list[Sample] = []
    skipped: list[str] = []
    without_mask: list[str] = []
    suffixes: set[str | None] = set()
    image_dirs: list[Path] = []
    mask_dirs: list[Path] = []
    roi_dirs: list[Path] = []
    folder_splits: dict[str, list[str]] = {}
    list_dir: Path | None = None
    voc = trimaps = False
    maskless: dict[str, Path] = {}  # stem -> image without a mask beside split lists (not Pascal VOC)
    maskless_dirs: tuple[Path, Path] = (root, root)  # their image and mask folders
    maskless_lists: dict[str, Path] = {}  # those split lists
    unlabeled_lists: dict[str, list[str]] = {}
    maskless_skipped: set[str] = set()  # their stems skipped (--unmatched skip), to leave the lists too
    nested: list[str] = []  # notes on image sub-folders that are not searched
    for b in bases:
        split, base = b.split, b.base
        folders = _find_folders(base, b.image_dir, b.mask_dir, roi_dir, split)
        trimaps = trimaps or (folders.layout == "nested" and folders.masks.name == PET_TRIMAP_DIR)
        notes += folders.notes
        notes += _unused_folders(base, (folders.images, folders.masks, folders.roi, *known), folders.layout)
        notes += _npy_note(folders.images)
        for sub in _nested_images(folders.images) if folders.images != folders.masks else ():
            if sub in known or sub == folders.masks:
                continue
            nested.append(
                f"{sub} holds {len(_image_files(sub))} images that are not read (sub-folders of "
                f"{folders.images.name}/ are not searched): move them, with their masks, into "
                f"{folders.images.name}/ and {folders.masks.name}/"
            )
        # One image folder beside split lists: an image without a mask may belong to a list whose images all
        # lack masks (test.txt of images whose labels are not public), told once the lists are read below.
        lists_here = None
        if not split and splits is None and folders.layout != "voc":
            lists_here = _list_files(root, folders.list_dir)
        found, skip, suffix, left_out = _pair_folder(
            folders.images,
            folders.masks,
            folders.roi,
            unmatched,
            masks_optional=folders.layout == "voc" or lists_here is not None,
        )
        if folders.layout == "voc":
            voc = True
            notes.append(_voc_note(found, left_out))
        elif left_out and lists_here is not None:
            by_stem = {p.stem: p for p in _image_files(folders.images)}
            maskless = {stem: by_stem[stem] for stem in left_out}
            maskless_dirs, maskless_lists = (folders.images, folders.masks), lists_here[0]
        if split:
            if b.prefix:
                found = [Sample(f"{b.prefix}/{s.name}", s.image, s.mask, s.roi) for s in found]
            folder_splits.setdefault(split, []).extend(s.name for s in found)  # groups: several per split
        else:
            list_dir = folders.list_dir
        samples += found
        skipped += skip
        if folders.layout == "voc":
            without_mask += left_out
        suffixes.add(suffix)
        image_dirs.append(folders.images)
        mask_dirs.append(folders.masks)
        if folders.roi:
            roi_dirs.append(folders.roi)
    if maskless:
        names_paired = [s.name for s in samples]
        unlabeled_lists = _lists_without_masks(
            maskless_lists, names_paired, maskless, maskless_dirs, unmatched
        )
        for split_name, stems in unlabeled_lists.items():
            unlabeled_counts[split_name] = len(stems)
            listed = maskless_lists[split_name]
            notes.append(_unlabeled_note(root, split_name, [maskless_dirs[0]], len(stems), listed=listed))
        listed_stems = {stem for stems in unlabeled_lists.values() for stem in stems}
        rest = [path for stem, path in maskless.items() if stem not in listed_stems]
        if rest and unmatched == "error":
            hint = _case_hint(rest[0], _image_files(maskless_dirs[1]))
            raise ValueError(
                f"image {rest[0]}{_and_more(len(rest) - 1)} has no mask in {maskless_dirs[1]}{hint}; add its "
                "mask (same stem, optionally with a suffix such as _mask), remove the image, or pass "
                "--unmatched skip"
            )
        skipped += [str(path) for path in rest]
        # A list may name them (--unmatched skip): they leave it as a pair skipped for its size does, by
        # stem or by the stem without its suffix (21 for 21_training), a name the lists may use.
        maskless_skipped = {stem for stem in maskless if stem not in listed_stems}
        maskless_skipped |= {_strip(n, IMAGE_SUFFIXES) for n in maskless_skipped} - set(names_paired)
    notes += nested
    if skipped:
        notes.append(
            f"skipped {len(skipped)} files without a partner (--unmatched skip): "
            + ", ".join(Path(s).name for s in skipped[:5])
        )
    if not samples:
        raise ValueError(
            f"no image in {image_dirs[0]} has a mask in {mask_dirs[0]}; name each mask as its image "
            "(optionally with a suffix such as _mask) or name the folders with --images and --masks"
        )
    # Sizes before the splits: a pair skipped for its size (--unmatched skip) must leave every split.
    samples, channels, sizes, odd_sizes, converted, turned = _check_images(samples, check_sizes, unmatched)
    if turned:
        notes.append(
            f"{len(turned)} images carry an EXIF orientation (e.g. {turned[0].name}); read upright, as "
            "viewers show them (masks must be drawn on the upright image)"
        )
    if converted:
        notes.append(
            f"{len(converted)} of {len(samples)} images are not {'RGB' if channels == 3 else 'gray'} "
            f"({', '.join(p.name for p in converted[:3])}{', ...' if len(converted) > 3 else ''}): they are "
            f"read as {'RGB (gray replicated)' if channels == 3 else 'gray (luma)'} (convert_channels)"
        )
    dropped = {s.name for s, _ in odd_sizes}
    if odd_sizes:
        skipped += [why for _, why in odd_sizes]
        notes.append(
            f"skipped {len(odd_sizes)} images whose mask or ROI has another size (--unmatched skip): "
            + ", ".join(s.image.name for s, _ in odd_sizes[:5])
        )
        folder_splits = {k: [n for n in v if n not in dropped] for k, v in folder_splits.items()}
    mask_suffix = suffixes.pop() if len(suffixes) == 1 else None
    names = [s.name for s in samples]
    # Splits: given > sub-folders > list files > contiguous blocks of the sorted names.
    if splits is not None:
        split_map, source = _parse_splits(splits, sorted(names)), "given"
        if len(names) < 2:
            raise ValueError(
                f"{root} has only 1 image/mask pair: training needs at least one training and one validation "
                "image; add images"
            )
        if not split_map.get("train"):
            raise ValueError(
                f"the splits given ({_ranges_text(splits)}) have no training images; add train=START:STOP "
                f"over the {len(names)} sorted pair names, e.g. --split {_example_split(len(names))}"
            )
        if folder_splits:
            # The folders' own splits give way: say so, with the names the ranges run over (a trial read
            # "val from val/" beside ranges whose val held top-level pairs, and val/'s own pairs unused).
            notes[:] = [n for n in notes if not n.startswith("splits: train from the image/mask pairs")]
            notes.append(
                f"--split ranges run over all {len(names)} sorted pair names across the split folders "
                f"({', '.join(sorted(folder_splits))}), not over the folders' own splits: "
                + "; ".join(f"{k} {v[0]}..{v[-1]}" for k, v in split_map.items() if v)
                + "; drop --split to use the folders"
            )
        if "val" not in split_map:
            # fit validates on a val split: carved from train as for split lists, or asked for when too small
            # (train=0:1 had planned, then fit stopped after planning, asking for a 'val' split).
            split_map = _carve_val(
                split_map,
                f"the splits given ({_ranges_text(splits)}) have a training",
                f"val=START:STOP (e.g. --split {_example_split(len(names))})",
                notes,
            )
    elif folder_splits:
        split_map, source = folder_splits, "folders"
        if "val" not in split_map:
            found_dirs = ", ".join(f"{b.prefix or Path(b.image_dir or b.base).name}/" for b in bases)
            split_map = _carve_val(
                split_map, f"{root} has split folders {found_dirs}", "a val/ folder", notes
            )
    elif (lists := _list_files(root, list_dir)) is not None:
        files, source = lists
        split_map = _splits_from_lists(
            files, names, set(without_mask), dropped | maskless_skipped, notes, set(unlabeled_lists)
        )
        if "val" not in split_map:
            where = files[next(iter(files))].parent
            found_lists = ", ".join(f.name for f in files.values())
            ask = "val.txt" if where == root else str(where / "val.txt")
            split_map = _carve_val(split_map, f"{where} has split lists {found_lists}", ask, notes)
    else:
        nested_hint = f" ({'; '.join(nested)})" if nested else ""
        (split_map, snapped), source = _contiguous(sorted(names), root, nested_hint), "contiguous"
        grouped = (
            " at name-group boundaries (each sequence, patient or slide in one split)" if snapped else ""
        )
        notes.append(
            "no split given: contiguous blocks (neighbouring slices or frames "
            f"cannot leak between splits), about 65/15/20 of the sorted names{grouped}; pass splits to choose"
        )
    check_disjoint(split_map, root)
    if "train" not in split_map:
        raise ValueError(
            f"{root} gives no training split (its splits: {', '.join(split_map) or 'none'}; from "
            f"{source}); give the training images: a train/ folder, train.txt, or --split train=START:STOP"
        )
    notes += shared_group_notes(split_map)
    for s, members in split_map.items():
        if not members:
            raise ValueError(f"split {s!r} of {root} is empty; give it at least one image")
    notes += _nnunet_json_notes(root, samples)
    table = read_classes(root, classes_file)
    if table is None:
        table = _nnunet_classes(root)
    if table is not None:
        notes.append(f"classes from {table.source}")
    if voc and void is None and mask_kind is None and (table is None or VOC_VOID not in table.values):
        void_list = [VOC_VOID]
        notes.append(
            f"Pascal VOC layout: mask value {VOC_VOID} (the outline drawn around each object) is void, its "
            "pixels neither trained nor scored; pass --void VALUE to choose the void values yourself"
        )
    train_masks = [s.mask for s in samples if s.name in set(split_map.get("train", names))]
    read_masks = train_masks or [s.mask for s in samples]
    # Public layouts that name their classes by value: sparse values in a sample are their classes.
    named_layout = voc or (in_groups and _is_loveda(bases))
    encoding_notes: list[str] = []
    mask = detect_encoding(
        read_masks,
        mask_kind=mask_kind,
        ignore_values=void_list,
        classes=table,
        class_names=class_names,
        sample=mask_sample,
        named_layout=named_layout,
        notes=encoding_notes,
    )
    which = "training masks" if train_masks else "masks"
    if (other := _check_something_to_learn(mask, read_masks, mask_sample, which)) is not None:
        # The sample held one class and an unsampled mask another: read the encoding with that mask too, or a
        # class index or colour only it holds would be no class of the plan (and fit would refuse the mask).
        encoding_notes = []
        mask = detect_encoding(
            [*evenly_spaced(list(read_masks), mask_sample), other],
            mask_kind=mask_kind,
            ignore_values=void_list,
            classes=table,
            class_names=class_names,
            sample=mask_sample + 1,
            named_layout=named_layout,
            notes=encoding_notes,
        )
    notes += encoding_notes
    if mask.sampled < len(read_masks):
        # A value or colour that only unread masks hold passes the plan; say where it is caught instead.
        which = "training masks" if train_masks else "masks"
        notes.append(
            f"mask encoding read from {mask.sampled} of the {len(read_masks)} {which} (evenly spaced); fit "
            "decodes every mask of every split before training, and stops naming any mask that holds a value "
            "or colour outside the encoding"
        )
    if mask.kind == "palette" and void is not None:
        raise ValueError(
            f"--void takes stored values of single-channel masks, but the masks of {root} are RGB colours "
            f"(e.g. {(train_masks or [s.mask for s in samples])[0]}); mark a colour as void in "
            f'{root / "classes.json"} (or --classes FILE): {{"classes": [...], "void": [[255, 255, 255]]}}'
        )
    voc_rgb = _voc_rgb_masks(mask) if voc and mask.kind == "palette" and table is None else None
    if voc and mask.kind == "palette":
        # Colour masks hold no value 255: the note on it would be false.
        notes[:] = [n for n in notes if not n.startswith(f"Pascal VOC layout: mask value {VOC_VOID}")]
    if voc_rgb is not None:
        # A VOC copy whose masks were saved as RGB: VOC's colour map gives each colour its class index.
        mask = voc_rgb
        notes.append(
            "Pascal VOC layout with RGB masks: each colour is its class in the VOC colour map (class 1 is "
            f"[128, 0, 0]); the outline colour {list(_voc_color(VOC_VOID))} is void, its pixels neither "
            "trained nor scored; to choose the classes and the void yourself, write a classes.json"
        )
    elif mask.kind == "palette" and table is None:
        notes.append(
            f"the {mask.num_classes} colours of the masks are the classes, named by their RGB; to name them, "
            f"or mark a colour (an outline) as void, write {root / 'classes.json'} (or --classes FILE): "
            '{"classes": [{"name": "background", "color": [0, 0, 0]}, ...], "void": [[255, 255, 255]]}'
        )
    if voc and mask.kind == "index" and table is None and not class_names:
        named = _voc_classes(mask, set(mask.values) - {VOC_VOID, *mask.ignore_values})
        if named is not None:
            mask = named
            notes.append(
                f"Pascal VOC layout: the {len(VOC_CLASS_NAMES)} VOC classes by mask value (0 background, "
                "1 aeroplane ... 20 tvmonitor), also those absent from the sampled masks; to choose the "
                "classes yourself, write a classes.json"
            )
    if in_groups and _is_loveda(bases) and mask_kind is None and table is None and void is None:
        if not class_names and (loveda := _loveda_classes(mask)) is not None:
            mask = loveda
            notes.append(
                "LoveDA layout (Urban/ and Rural/ with images_png/ and masks_png/ in the split folders): "
                "mask value 0 (no data) is void, neither trained nor scored; 1..7 are background, building, "
                "road, water, barren, forest, agriculture, in LoveDA's colours; to choose the classes "
                "yourself, write a classes.json"
            )
    if mask.kind == "index" and mask.colors is None:
        first = (train_masks or [s.mask for s in samples])[0]
        if (colors := _palette_colors(first, mask.num_classes)) is not None:
            mask = replace(mask, colors=colors)
            notes.append(f"class colours from the palette of the masks (e.g. {first.name}), to draw them in")
    if trimaps and mask_kind is None and table is None and void is None and not class_names:
        pet = _pet_trimaps(mask)
        if pet is not None:
            mask = pet
            notes.append(
                f"Oxford-IIIT Pet trimaps: 1 = pet, 2 = background, 3 = the unsure border, void (neither "
                "trained nor scored), as the oxford_pet dataset reads them; to train the border as a class, "
                f"write {root / 'classes.json'} (or pass --mask-kind index)"
            )
    if mask.kind == "index" and mask.dtype != "uint8" and mask_kind is None and table is None:
        # Class masks are nearly always 8-bit; 16-bit ones with small values are as often instance labels of
        # images with few objects (DSB-style nuclei, 8 per image). Read as classes, such labels train an
        # N-class model without a word, so ask instead of guessing.
        example = (train_masks or [s.mask for s in samples])[0]
        raise ValueError(
            f"the masks are {mask.dtype} with small values 0..{mask.num_classes - 1} (e.g. {example}): pass "
            "--mask-kind instances if each value is one object (instance labels), or --mask-kind index if "
            "the values are classes"
        )
    val = set(split_map.get("val", ()))
    if (one_class := _one_class_note([s.mask for s in samples if s.name in val], mask, "val")) is not None:
        notes.append(one_class)
    # Kvasir-SEG ships its polyp masks as JPEGs: values near 0 and near 255, not {0, 255}. Told by the content
    # (a header read each), as the reader tells them: JPEG data saved under a .png name is as lossy.
    jpeg_masks = [s.mask for s in samples if mask.kind == "binary" and is_jpeg(s.mask)]
    if jpeg_masks:
        misnamed = next((p for p in jpeg_masks if p.suffix.lower() not in (".jpg", ".jpeg")), None)
        under = f"; {misnamed.name} is JPEG data under a {misnamed.suffix} name" if misnamed else ""
        notes.append(
            f"{len(jpeg_masks)} masks are JPEGs (e.g. {jpeg_masks[0].name}{under}): lossy, so each is read "
            "as a binary mask thresholded at 128; a JPEG mask that is not binary (near 0 and near 255) is "
            "refused"
        )
    if mask.gaps:
        notes.append(
            f"class values {list(mask.gaps)} never occur in the sampled masks "
            f"(gaps in 0..{mask.num_classes - 1}); to train only the values present, with names (and a value "
            'as void, such as a trimap border), write DIR/classes.json: {"classes": [{"value": 1, "name": '
            '"pet"}, {"value": 3, "name": "border", "void": true}, ...]}, or pass --mask-kind remap'
        )
    return DatasetLayout(
        root=root,
        samples=tuple(samples),
        splits=split_map,
        split_source=source,
        mask=mask,
        channels=channels,
        image_dirs=tuple(image_dirs),
        mask_dirs=tuple(mask_dirs),
        roi_dirs=tuple(roi_dirs),
        mask_suffix=mask_suffix,
        sizes=tuple(sizes),
        skipped=tuple(skipped),
        notes=tuple(notes),
        images_without_masks=len(without_mask),
        convert_channels=bool(converted),
        unlabeled_images=unlabeled_counts,
        channel_names=nnunet_channel_names(root),
    )
