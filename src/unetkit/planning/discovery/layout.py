"""What discovery returns: :class:`Sample`, :class:`MaskInfo` and :class:`DatasetLayout` (``dataset.json``),
and :func:`with_instance_target` (a layout of instance labels training another target).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Sample:
    """One image with its mask (and ROI); ``name`` is the key the split lists use."""

    name: str
    image: Path
    mask: Path
    roi: Path | None = None


@dataclass(frozen=True)
class MaskInfo:
    """The mask encoding found (or given): how stored values become classes.

    ``kind``: binary (0/255 or 0/1), index (value = class), palette (RGB colour per class), instances
    (16-bit instance labels: 0 background, every other value foreground), remap (``mapping``).
    ``values`` are the stored values seen in the sampled masks (palette: colours as [R, G, B]).
    ``colors`` (class -> RGB): the colours that encode a palette mask's classes; for other kinds the class
    colours of classes.json or of a palette PNG's own palette (Pascal VOC), to draw the classes in.
    ``target`` (instances only): the class map trained from the labels, semantic, boundary or energy
    (:func:`with_instance_target`), ``target_params`` its parameters; ``num_classes``/``class_names`` are
    the target's.
    """

    kind: str
    num_classes: int
    class_names: tuple[str, ...]
    ignore_values: tuple[int, ...] = ()
    colors: dict[int, tuple[int, int, int]] | None = None
    ignore_colors: tuple[tuple[int, int, int], ...] = ()
    mapping: dict[int, int] | None = None
    values: tuple[Any, ...] = ()
    gaps: tuple[int, ...] = ()
    sampled: int = 0
    dtype: str = "uint8"
    target: str = "semantic"
    target_params: dict[str, Any] | None = None


@dataclass(frozen=True)
class DatasetLayout:
    """Everything :func:`discover` inferred about a dataset folder (``to_dict()`` is ``dataset.json``)."""

    root: Path
    samples: tuple[Sample, ...]
    splits: dict[str, list[str]]
    # "folders", "lists" (DIR/train.txt ...), "lists in SUBDIR" (a public layout's lists: Pascal VOC's
    # ImageSets/Segmentation), "given" or "contiguous"
    split_source: str
    mask: MaskInfo
    channels: int
    image_dirs: tuple[Path, ...]
    mask_dirs: tuple[Path, ...]
    roi_dirs: tuple[Path, ...] = ()
    mask_suffix: str | None = ""
    sizes: tuple[tuple[int, int], ...] = ()  # (H, W) of each sample's image, from the file headers
    skipped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    # Images that are no sample by the layout's design: Pascal VOC's JPEGImages without a segmentation mask.
    images_without_masks: int = 0
    # A few images have another channel count than ``channels`` and are converted when read (gray <-> RGB).
    convert_channels: bool = False
    # Splits left out because their images have no masks (LoveDA's Test/, a test.txt naming only images
    # without masks): split -> number of images.
    unlabeled_images: dict[str, int] = field(default_factory=dict)
    # nnU-Net's dataset.json "channel_names" (v1: "modality") in channel order ("CT", "rgb_to_0_1", ...): the
    # normalisation nnU-Net would apply, which the fingerprint's reason names.
    channel_names: tuple[str, ...] = ()

    @property
    def has_roi(self) -> bool:
        return any(s.roi is not None for s in self.samples)

    def samples_of(self, split: str) -> list[Sample]:
        """The samples of ``split`` in the split's order."""
        by_name = {s.name: s for s in self.samples}
        return [by_name[n] for n in self.splits.get(split, [])]

    def folder_options(self) -> tuple[dict[str, Any], list[str]]:
        """Options of the ``folder`` dataset builder for this layout, and what that builder cannot express.

        Plain folders give ``image_dir``/``mask_dir`` (+ ``mask_suffix``, ``roi_dir``/``roi_suffix``); split
        sub-folders give ``split_dirs``; names that no suffix rule pairs give explicit ``pairs`` (paths
        relative to the root). The second item lists features the builder lacks, in words (empty now: kept
        for callers that report it); see ``unetkit.data.datasets.folder.build_folder``.
        """
        missing: list[str] = []
        m = self.mask
        opts: dict[str, Any] = {
            "num_classes": m.num_classes,
            "mask_kind": m.kind,
            "in_channels": self.channels,
            "class_names": list(m.class_names),
        }
        if m.ignore_values:
            opts["ignore_values"] = list(m.ignore_values)
        if m.colors:  # a palette's code, or the class colours to draw (classes.json, a palette PNG)
            opts["colors"] = {int(k): list(v) for k, v in m.colors.items()}
        if self.convert_channels:
            opts["convert_channels"] = True
        if m.kind == "palette":
            if m.ignore_colors:
                opts["ignore_colors"] = [list(c) for c in m.ignore_colors]
        if m.kind == "remap":
            opts["mapping"] = {int(k): int(v) for k, v in (m.mapping or {}).items()}
        if m.target != "semantic":
            opts["instance_target"] = m.target
            params = m.target_params or {}
            if "radius" in params:
                opts["boundary_radius"] = params["radius"]
            if "levels" in params:
                opts["energy_levels"] = list(params["levels"])
        files = self._file_options()
        if files is None:  # no folder/suffix rule pairs these names: list every pair
            opts["pairs"] = {
                s.name: [self._rel(s.image), self._rel(s.mask)] + ([self._rel(s.roi)] if s.roi else [])
                for s in self.samples
            }
        else:
            opts |= files
        if "split_dirs" not in opts:
            opts["split_lists"] = {k: list(v) for k, v in self.splits.items()}
        return opts, missing

    def _rel(self, path: Path) -> str:
        """``path`` relative to the root where it lies below it (portable option files), else absolute."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def _file_options(self) -> dict[str, Any] | None:
        """Folder and suffix options when one rule names every file (else None: list the pairs)."""
        s0 = self.samples[0]
        # The builder's folder rule would ask for the masks of skipped images, of VOC's unannotated ones, or
        # of an unlabeled list's (test.txt's images without masks share the image folder with training's).
        if self.skipped or self.images_without_masks:
            return None
        if self.unlabeled_images and self.split_source.startswith("lists"):
            return None
        if self.mask_suffix is None or any(
            s.mask.stem != s.image.stem + self.mask_suffix for s in self.samples
        ):
            return None
        roi_suffixes = {s.roi.stem[len(s.image.stem) :] if s.roi.stem.startswith(s.image.stem) else None
                        for s in self.samples if s.roi is not None}  # fmt: skip
        if (
            None in roi_suffixes
            or len(roi_suffixes) > 1
            or (self.has_roi and any(s.roi is None for s in self.samples))
        ):
            return None
        out: dict[str, Any] = {}
        if self.mask_suffix:
            out["mask_suffix"] = self.mask_suffix
        if roi_suffixes and (suffix := next(iter(roi_suffixes))):
            out["roi_suffix"] = suffix
        if self.split_source == "folders":
            # root/<split>/<images>: one set of sub-folder names, and names <split>/<image stem>.
            rel = {
                (s.image.parent.name, s.mask.parent.name, s.roi.parent.name if s.roi else None)
                for s in self.samples
            }
            ok = len(rel) == 1 and all(
                s.name == f"{s.image.parent.parent.name}/{s.image.stem}"
                and s.image.parent.parent.parent == self.root
                and s.mask.parent.parent == s.image.parent.parent
                and (s.roi is None or s.roi.parent.parent == s.image.parent.parent)
                for s in self.samples
            )
            folders = self._split_folder_names()
            if not ok or folders is None:
                return None
            img, msk, roi = rel.pop()
            # A list when every folder is named as its split (train/ val/ test/), else split -> folder.
            split_dirs: list[str] | dict[str, str] = (
                list(folders) if all(k == v for k, v in folders.items()) else folders
            )
            out |= {"split_dirs": split_dirs, "image_dir": img, "mask_dir": msk}
            return out | ({"roi_dir": roi} if roi else {})
        if len(self.image_dirs) != 1 or any(s.name != s.image.stem for s in self.samples):
            return None
        if self.image_dirs[0] == self.mask_dirs[0]:  # side by side: the builder's folder rule lists both
            return None
        out |= {"image_dir": str(s0.image.parent), "mask_dir": str(s0.mask.parent)}
        return out | ({"roi_dir": str(s0.roi.parent)} if s0.roi else {})

    def _split_folder_names(self) -> dict[str, str] | None:
        """split -> folder when each split is exactly the samples of one split folder (in order), else None
        (e.g. a validation split carved from training/)."""
        by_folder: dict[str, list[str]] = {}
        for s in self.samples:
            by_folder.setdefault(s.name.split("/", 1)[0], []).append(s.name)
        out: dict[str, str] = {}
        for split, members in self.splits.items():
            folder = members[0].split("/", 1)[0] if members else ""
            if by_folder.get(folder) != list(members):
                return None
            out[split] = folder
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: the content of ``dataset.json``."""
        opts, missing = self.folder_options()
        mask = asdict(self.mask)
        if mask["colors"] is not None:
            mask["colors"] = {str(k): list(v) for k, v in mask["colors"].items()}
        if mask["mapping"] is not None:
            mask["mapping"] = {str(k): v for k, v in mask["mapping"].items()}
        mask["values"] = [list(v) if isinstance(v, tuple) else v for v in mask["values"]]
        mask["ignore_colors"] = [list(c) for c in mask["ignore_colors"]]
        return {
            "root": str(self.root),
            "num_samples": len(self.samples),
            "splits": {k: list(v) for k, v in self.splits.items()},
            "split_source": self.split_source,
            "channels": self.channels,
            "convert_channels": self.convert_channels,
            "mask": mask,
            "image_dirs": [str(p) for p in self.image_dirs],
            "mask_dirs": [str(p) for p in self.mask_dirs],
            "roi_dirs": [str(p) for p in self.roi_dirs],
            "mask_suffix": self.mask_suffix,
            "pairs": [
                {"name": s.name, "image": str(s.image), "mask": str(s.mask)}
                | ({"roi": str(s.roi)} if s.roi else {})
                for s in self.samples
            ],
            "skipped": list(self.skipped),
            "images_without_masks": self.images_without_masks,
            "unlabeled_images": dict(self.unlabeled_images),
            **({"channel_names": list(self.channel_names)} if self.channel_names else {}),
            "notes": list(self.notes),
            "folder_options": opts,
            "folder_builder_missing": missing,
        }


def with_instance_target(
    layout: DatasetLayout, target: str, params: Mapping[str, Any] | None = None
) -> DatasetLayout:
    """``layout`` training ``target`` (semantic, boundary or energy) from its instance labels: the mask's
    classes become the target's (``unetkit fit DIR --target``). One-line ValueError for other masks."""
    from unetkit.data.instance_targets import check_instance_target, instance_target_classes

    target, checked = check_instance_target(target, params)
    if layout.mask.kind != "instances":
        raise ValueError(
            f"--target {target} needs instance label masks (one value per object, e.g. 16-bit), but the "
            f"masks of {layout.root} are {layout.mask.kind}; drop --target (or pass --mask-kind instances)"
        )
    names = instance_target_classes(target, checked) if target != "semantic" else layout.mask.class_names
    mask = replace(
        layout.mask, num_classes=len(names), class_names=tuple(names), target=target, target_params=checked
    )
    return replace(layout, mask=mask)
