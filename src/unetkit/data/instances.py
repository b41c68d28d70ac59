"""Reading and writing instance label images, and the Kaggle (DSB2018) one-file-per-object layout.

Torch-free. An instance label image is (H, W): 0 = background, 1..N the objects. Two on-disk forms:

* a **label image**: one 8- or 16-bit single-channel PNG or TIFF (32-bit integer TIFFs are read too), the
  value of a pixel is its object's id (:func:`read_label_image`, :func:`save_label_image`);
* the **Kaggle layout** (Data Science Bowl 2018): ``<id>/images/<id>.png`` and ``<id>/masks/*.png``, one
  binary (0/255 or 0/1) mask per object (:func:`read_kaggle_labels`, :func:`read_kaggle_sample`).

Kaggle masks are read in sorted file-name order and the k-th file gets label k (so a label names its file).
**Overlapping masks: the later mask wins** (the pixel takes the label of the later file in that order). This
is the rule the ``labels/`` images of ``shared/data/dsb2018`` were made with, so both forms of a sample give
pixel-exact equal label images; overlaps are rare (9 pixels in all of DSB2018 stage 1) and are logged.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from unetkit.data.io import _present, _read_mask_array, image_info, is_hidden, read_image
from unetkit.files import atomic_dir, atomic_path

__all__ = [
    "LABEL_EXTENSIONS",
    "MAX_LABELS_16BIT",
    "convert_kaggle",
    "is_kaggle_layout",
    "read_instance_sample",
    "read_kaggle_labels",
    "read_kaggle_sample",
    "read_label_image",
    "save_label_image",
]

logger = logging.getLogger(__name__)

LABEL_EXTENSIONS = (".png", ".tif", ".tiff")
MAX_LABELS_16BIT = 65535


def _single_channel(raw: np.ndarray, path: Path, what: str) -> np.ndarray:
    if raw.ndim == 3:
        if (
            raw.shape[2] == 3
            and np.array_equal(raw[..., 0], raw[..., 1])
            and np.array_equal(raw[..., 0], raw[..., 2])
        ):
            return raw[..., 0]  # gray stored as RGB: lossless to take one channel
        raise ValueError(
            f"{what} {path} is a colour image; it must be a single-channel 8/16-bit image (value = object id)"
        )
    if raw.ndim != 2:
        raise ValueError(f"{what} {path} has shape {raw.shape}; expected a 2-D (H, W) image")
    return raw


def read_label_image(path: str | Path, image_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read an instance label image (PNG/TIFF, 8/16-bit, or 32-bit integer TIFF) as int32 (H, W).

    Args:
        path: the label image (0 = background, every other value one object).
        image_shape: (H, W) of its image; a label image of another size is a ValueError naming the file.
    """
    path = Path(path)
    raw = _single_channel(_read_mask_array(path), path, "label image")
    if raw.size and raw.dtype.kind == "i" and int(raw.min()) < 0:
        raise ValueError(
            f"label image {path} has negative values (min {int(raw.min())}); labels must be >= 0"
        )
    if raw.size and int(raw.max()) > np.iinfo(np.int32).max:
        raise ValueError(f"label image {path} has labels above {np.iinfo(np.int32).max}; relabel it 1..N")
    labels = raw.astype(np.int32, copy=False)
    if image_shape is not None and tuple(labels.shape) != tuple(image_shape):
        raise ValueError(
            f"label image {path} is {labels.shape[0]}x{labels.shape[1]} (H x W) but its image is "
            f"{image_shape[0]}x{image_shape[1]}; a label image must have its image's size"
        )
    return labels


def read_instance_sample(
    image_path: str | Path,
    label_path: str | Path,
    channels: int | None = None,
    window: Sequence[Sequence[float]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(image uint8 (H, W, C), labels int32 (H, W)); the sizes must agree (ValueError naming both files).
    ``window``: the intensity window of 16-bit images (:func:`unetkit.data.io.read_image`)."""
    image = read_image(image_path, channels, window=window)
    labels = read_label_image(label_path)
    if labels.shape != image.shape[:2]:
        raise ValueError(
            f"label image {label_path} is {labels.shape[0]}x{labels.shape[1]} (H x W) but its image "
            f"{image_path} is {image.shape[0]}x{image.shape[1]}; a label image must have its image's size"
        )
    return image, labels


def _read_binary_mask(path: Path, shape: tuple[int, int] | None) -> np.ndarray:
    raw = _single_channel(_read_mask_array(path), path, "mask")
    present = _present(raw)  # bincount for 8/16-bit: a sort per mask file would dominate the read
    values = set(present.tolist())
    if not (values <= {0, 255} or values <= {0, 1}):
        shown = ", ".join(str(v) for v in present[:6].tolist()) + (", ..." if present.size > 6 else "")
        raise ValueError(
            f"mask {path} is not binary (values {shown}); each file of masks/ must hold one object as 0/255 "
            "(or 0/1)"
        )
    if shape is not None and raw.shape != shape:
        raise ValueError(
            f"mask {path} is {raw.shape[0]}x{raw.shape[1]} (H x W) but its image is {shape[0]}x{shape[1]}; "
            "every mask must have the image's size"
        )
    return raw > 0


def _kaggle_image_path(folder: Path) -> Path | None:
    images = folder / "images"
    if not images.is_dir():
        return None
    for ext in (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"):
        candidate = images / f"{folder.name}{ext}"
        if candidate.is_file():
            return candidate
    files = sorted(p for p in images.iterdir() if p.is_file())
    return files[0] if len(files) == 1 else None


def read_kaggle_labels(folder: str | Path, image_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Instance labels int32 (H, W) of a Kaggle-layout sample ``<id>/masks/*.png`` (one binary mask per
    object): the k-th mask in sorted file-name order gets label k; where masks overlap the later one wins.

    Args:
        folder: the sample folder ``<id>`` (holding ``masks/``).
        image_shape: (H, W) every mask must have (default: the first mask's size).
    """
    folder = Path(folder)
    masks_dir = folder / "masks"
    if not masks_dir.is_dir():
        raise ValueError(f"Kaggle sample {folder} has no masks/ folder; expected <id>/masks/*.png")
    files = sorted(p for p in masks_dir.iterdir() if p.is_file() and p.suffix.lower() in LABEL_EXTENSIONS)
    if not files:
        raise ValueError(
            f"Kaggle sample {folder} has an empty masks/ folder (no PNG/TIFF); add one mask per object "
            "or remove the sample"
        )
    shape = tuple(image_shape) if image_shape is not None else None
    labels: np.ndarray | None = None
    overlap = 0
    for k, path in enumerate(files, start=1):
        mask = _read_binary_mask(path, shape)  # type: ignore[arg-type]
        if labels is None:
            shape = mask.shape
            labels = np.zeros(mask.shape, dtype=np.int32)
        # Per-file assignment is the input's own granularity (one file per object), not a per-object scan.
        idx = np.flatnonzero(mask)
        flat = labels.reshape(-1)  # a view: labels is contiguous
        overlap += int(np.count_nonzero(flat[idx]))
        flat[idx] = k
    assert labels is not None  # files is not empty
    if overlap:
        logger.info(
            "Kaggle sample %s: %d pixels lie in two or more masks; the later mask won", folder, overlap
        )
    return labels


def read_kaggle_sample(folder: str | Path, channels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(image uint8 (H, W, C), labels int32 (H, W)) of a Kaggle-layout sample ``<id>/images/<id>.png`` +
    ``<id>/masks/*.png`` (see :func:`read_kaggle_labels`)."""
    folder = Path(folder)
    image_path = _kaggle_image_path(folder)
    if image_path is None:
        raise ValueError(
            f"Kaggle sample {folder} has no image; expected {folder / 'images' / folder.name}.png"
        )
    image = read_image(image_path, channels)
    return image, read_kaggle_labels(folder, image_shape=image.shape[:2])


def save_label_image(path: str | Path, labels: np.ndarray) -> Path:
    """Write instance labels (H, W) as a 16-bit PNG (or TIFF for a .tif/.tiff path), atomically.

    Labels above 65,535 are renumbered 1..N in their order (N objects fit 16 bits); more than 65,535 objects
    do not fit a 16-bit label image and are a ValueError naming the file.
    """
    path = Path(path)
    if not isinstance(labels, np.ndarray) or labels.ndim != 2 or labels.dtype.kind not in "ui":
        got = f"{labels.dtype} {labels.shape}" if isinstance(labels, np.ndarray) else type(labels).__name__
        raise ValueError(f"labels for {path} must be an integer (H, W) array, got {got}")
    if labels.size and int(labels.min()) < 0:
        raise ValueError(
            f"labels for {path} have negative values (min {int(labels.min())}); labels must be >= 0"
        )
    if labels.size and int(labels.max()) > MAX_LABELS_16BIT:
        ids, inverse = np.unique(labels.ravel(), return_inverse=True)
        n_objects = int(ids.size - (ids[0] == 0))
        if n_objects > MAX_LABELS_16BIT:
            raise ValueError(
                f"label image {path}: {n_objects} objects do not fit a 16-bit label image (at most "
                f"{MAX_LABELS_16BIT}); split the image into tiles or save a 32-bit TIFF with tifffile"
            )
        offset = 0 if ids[0] == 0 else 1
        labels = (inverse + offset).reshape(labels.shape)
    out = labels.astype(np.uint16)
    suffix = path.suffix.lower()
    if suffix not in LABEL_EXTENSIONS:
        raise ValueError(f"label image {path} must end in .png, .tif or .tiff, got {path.suffix!r}")
    with atomic_path(path, suffix=suffix) as tmp:
        if suffix == ".png":
            from PIL import Image

            Image.fromarray(out).save(tmp, format="PNG")
        else:
            import tifffile

            tifffile.imwrite(tmp, out, compression="zlib")
    return path


def is_kaggle_layout(folder: str | Path) -> bool:
    """Sub-folders ``<id>/images`` + ``<id>/masks`` (the DSB 2018 download), looked at in the first few."""
    dirs = sorted(d for d in Path(folder).iterdir() if d.is_dir() and not is_hidden(d))[:5]
    return bool(dirs) and all((d / "images").is_dir() and (d / "masks").is_dir() for d in dirs)


def kaggle_samples(src: str | Path) -> list[Path]:
    """The sample folders (``<id>/images/``) of a Kaggle-layout dataset, sorted by name."""
    src = Path(src)
    if not src.is_dir():
        raise ValueError(f"{src} is not a folder; pass the folder holding one sub-folder per image")
    samples = sorted(d for d in src.iterdir() if d.is_dir() and (d / "images").is_dir())
    if not samples:
        raise ValueError(
            f"{src} holds no <id>/images/ folders; the kaggle layout is <id>/images/<id>.png with "
            "<id>/masks/*.png"
        )
    return samples


def convert_kaggle(
    src: str | Path,
    out: str | Path,
    *,
    skip_unlabelled: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, list[str]]:
    """Write a Kaggle-layout dataset as ``out/images/<id>.<ext>`` (the image file, copied) and
    ``out/labels/<id>.png`` (16-bit labels, :func:`read_kaggle_labels`). Returns (samples written, ids left
    out for having no masks: only with ``skip_unlabelled``, else that is a ValueError naming the folder).

    ``out`` appears whole or not at all (:func:`unetkit.files.atomic_dir`); an existing ``out`` must be an
    empty folder.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} already exists and is not empty; pass a new folder")
    samples = kaggle_samples(src)
    skipped: list[str] = []
    with atomic_dir(out) as tmp:
        (tmp / "images").mkdir()
        (tmp / "labels").mkdir()
        for done, folder in enumerate(samples, start=1):
            image = _kaggle_image_path(folder)
            if image is None:
                raise ValueError(
                    f"{folder}/images holds no image named {folder.name}.png (nor a single image file); "
                    "fix the folder"
                )
            masks = folder / "masks"
            if not masks.is_dir() or not any(masks.iterdir()):
                if not skip_unlabelled:
                    raise ValueError(
                        f"{folder} has no masks; remove the folder or pass --skip-unlabelled to leave it out"
                    )
                skipped.append(folder.name)
            else:
                height, width, _ = image_info(image)  # the header: every mask must have this size
                labels = read_kaggle_labels(folder, image_shape=(height, width))
                shutil.copy2(image, tmp / "images" / f"{folder.name}{image.suffix.lower()}")
                save_label_image(tmp / "labels" / f"{folder.name}.png", labels)
            if progress is not None:
                progress(done, len(samples))
    return len(samples) - len(skipped), skipped
