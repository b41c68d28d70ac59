"""Test-time augmentation over the dihedral group D4 (flips and 90-degree rotations), in NumPy.

TTA is applied to the *whole image* around the complete prediction pipeline (padding, tiling, cropping):
``probs = mean_g g^-1(softmax(f(g(image))))``. Because the group is closed under composition, the TTA output
of a rotated/flipped image is then exactly the rotated/flipped TTA output (for the full group), whatever the
tiling does inside. Averaging happens in probability space (softmax/sigmoid first): averaging logits would
let one confident view outvote the others by an unbounded margin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from os import PathLike
from typing import Any

import numpy as np

# name -> (forward, inverse) on arrays whose last two axes are (H, W).
_AXES = (-2, -1)


def _rot(k: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: np.rot90(x, k, axes=_AXES)


def _hflip(x: np.ndarray) -> np.ndarray:
    return x[..., ::-1]


def _vflip(x: np.ndarray) -> np.ndarray:
    return x[..., ::-1, :]


def _transpose(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, -2, -1)


def _antitranspose(x: np.ndarray) -> np.ndarray:
    # Reflection across the anti-diagonal = transpose followed by a 180-degree rotation; an involution.
    return np.rot90(np.swapaxes(x, -2, -1), 2, axes=_AXES)


TRANSFORMS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "identity": (lambda x: x, lambda x: x),
    "rot90": (_rot(1), _rot(-1)),
    "rot180": (_rot(2), _rot(2)),
    "rot270": (_rot(3), _rot(1)),
    "hflip": (_hflip, _hflip),
    "vflip": (_vflip, _vflip),
    "transpose": (_transpose, _transpose),
    "antitranspose": (_antitranspose, _antitranspose),
}
DIHEDRAL = tuple(TRANSFORMS)
FLIPS = ("identity", "hflip", "vflip", "rot180")  # the flip subgroup: keeps H and W, no transposition
# The transforms that exchange H and W: on a non-square image their views have the other shape.
_SWAPS_AXES = frozenset({"rot90", "rot270", "transpose", "antitranspose"})
# The views that keep every row where it is (the image and its left-right mirror, the TTA of scenes with an
# up): their bands come in the image's row order, so their mean can be made band by band
# (:func:`tta_mean_bands`).
ROW_KEEPING = frozenset({"identity", "hflip"})


def view_shape(name: str, height: int, width: int) -> tuple[int, int]:
    """(H, W) of transform ``name``'s view of a ``height x width`` image (swapped by rotations by 90 degrees
    and the transpositions)."""
    if name not in TRANSFORMS:
        raise ValueError(f"Unknown TTA transform {name!r}. Available: {', '.join(DIHEDRAL)}.")
    return (width, height) if name in _SWAPS_AXES else (height, width)


def resolve_tta(tta: bool | str | Sequence[str] | None) -> tuple[str, ...]:
    """Normalise a TTA setting to a tuple of transform names (empty = no TTA).

    ``True``/"d4"/"all" -> the 8 dihedral transforms; "flips" -> identity, hflip, vflip, rot180; a sequence
    of names -> that subset (unknown names raise ValueError listing :data:`DIHEDRAL`).
    """
    if tta is None or tta is False:
        return ()
    given = tta  # named in the empty-subset error (a string is split into names below)
    if tta is True:
        return DIHEDRAL
    if isinstance(tta, str):
        key = tta.lower()
        if key in ("d4", "all", "dihedral"):
            return DIHEDRAL
        if key == "flips":
            return FLIPS
        if key in ("none", "off"):
            return ()
        tta = [t.strip() for t in key.split(",") if t.strip()]
    names: list[str] = []
    for name in tta:
        key = str(name).lower()
        if key not in TRANSFORMS:
            # Said for the command line, a config and Python alike: set names, then the transforms.
            raise ValueError(
                f"unknown TTA transform {name!r}: give a set (d4, flips or none) or transforms from "
                f"{', '.join(DIHEDRAL)}, comma-separated."
            )
        if key not in names:
            names.append(key)
    if not names:
        raise ValueError(
            f"tta subset is empty (got {given!r}); pass True, 'flips' or transform names like "
            "['identity', 'hflip'], or tta=False (or 'none') to switch TTA off."
        )
    return tuple(names)


def use_scored_tta(predictor: Any) -> str:
    """Give ``predictor`` (any backend's; an instance predictor's semantic one) the test-time augmentation its
    run scored the model with (``extra.tta`` of its config, recorded by ``unetkit fit``), so that predict and
    serve report what the run reported; returns that setting ('' when the model records none, or the
    predictor takes no TTA: a Mask R-CNN). A run folder, a path or None is a TypeError naming
    ``load_predictor``."""
    from unetkit.model_files.model_config import SCORED_TTA

    if not any(callable(getattr(predictor, name, None)) for name in ("predict", "predict_instances")):
        # Duck-typed as the rest (any backend's predictor), but a run folder, a path or None is a slip that
        # would otherwise return '' as if the model recorded no TTA: the user would believe TTA is on.
        got, run = type(predictor).__name__, "run_dir"
        if isinstance(predictor, (str, PathLike)):
            run = repr(str(predictor))
            got += f" {run}"
        raise TypeError(
            f"use_scored_tta takes a loaded predictor, got {got}; pass predictor = "
            f"unetkit.load_predictor({run}) (or load_instance_predictor), then use_scored_tta(predictor)."
        )
    semantic = getattr(predictor, "predictor", predictor)
    extra = getattr(getattr(semantic, "config", None), "extra", None)
    scored = extra.get(SCORED_TTA) if isinstance(extra, dict) else None
    if not scored or not hasattr(semantic, "tta"):
        return ""
    semantic.tta = resolve_tta(str(scored))
    params = getattr(predictor, "params", None)
    if semantic is not predictor and isinstance(params, dict) and "tta" in params:
        params["tta"] = str(scored)  # an instance predictor names its TTA in its params (predict's line)
    return str(scored)


def softmax_(logits: np.ndarray, axis: int = 0, rows_per_chunk: int = 256) -> np.ndarray:
    """In-place softmax over ``axis`` (K > 1) or sigmoid (K == 1) of a float32 array; returns it.

    In place because a (K, H, W) map of a large image is hundreds of MB; (K, H, W) input with ``axis=0`` is
    processed in blocks of rows so temporaries stay at ``rows_per_chunk * W`` values.
    """
    if logits.ndim == 3 and axis == 0 and logits.shape[1] > rows_per_chunk:
        for r in range(0, logits.shape[1], rows_per_chunk):
            softmax_(logits[:, r : r + rows_per_chunk], axis=0, rows_per_chunk=rows_per_chunk)
        return logits
    if logits.shape[axis] == 1:
        np.negative(logits, out=logits)
        np.exp(logits, out=logits)
        logits += 1.0
        np.reciprocal(logits, out=logits)
        return logits
    logits -= logits.max(axis=axis, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=axis, keepdims=True)
    return logits


def probs_to_logits(probs: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """Inverse of :func:`softmax_` up to a per-pixel constant: log-probabilities (K > 1) or logit (K == 1)."""
    p = np.clip(probs, eps, 1.0 - eps if probs.shape[0] == 1 else 1.0)
    if probs.shape[0] == 1:
        return np.log(p / (1.0 - p)).astype(np.float32)
    return np.log(p).astype(np.float32)


def tta_probs(
    image: np.ndarray,
    logits_fn: Callable[[np.ndarray], np.ndarray],
    transforms: str | Sequence[str] = DIHEDRAL,
) -> np.ndarray:
    """Average the probabilities of ``logits_fn`` over transformed copies of ``image``.

    Args:
        image: (C, H, W) input.
        logits_fn: (C, h, w) -> float32 logits (K, h, w); h, w may be swapped by rotations.
        transforms: names from :data:`DIHEDRAL`, or a setting :func:`resolve_tta` reads as a string ("d4",
            "flips", "none", "hflip,vflip"); "none"/"off" mean no TTA: the plain prediction's probabilities.

    Returns:
        float32 (K, H, W) mean probabilities.
    """

    def whole(view: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        yield 0, np.asarray(logits_fn(np.ascontiguousarray(view)), dtype=np.float32)

    return tta_probs_bands(image, whole, transforms)


def tta_probs_bands(
    image: np.ndarray,
    bands_fn: Callable[[np.ndarray], Iterable[tuple[int, np.ndarray]]],
    transforms: str | Sequence[str] = DIHEDRAL,
) -> np.ndarray:
    """:func:`tta_probs` for a network run band by band (:func:`unetkit.inference.tiling.tile_rows`):
    ``bands_fn(view)`` yields ``(row, logits (K, n, w))`` of the view's rows ``row .. row + n``, and each
    band's probabilities are added where they belong in the (K, H, W) mean as it comes, so that no view's
    whole (K, H, W) logits are ever held beside the mean. Passed as given: the bands may be overwritten
    (softmax in place) and the view may be a strided, non-contiguous array.
    """
    # Passed as given: list() of a string would split a set name like "flips" into letters.
    # resolve_tta's "none"/"off" is no TTA, i.e. the identity view alone.
    names = resolve_tta(transforms) or ("identity",)
    acc: np.ndarray | None = None
    for name in names:
        forward, _ = TRANSFORMS[name]
        for row, logits in bands_fn(forward(image)):
            probs = softmax_(logits)
            if acc is None:
                acc = np.zeros((probs.shape[0], *image.shape[-2:]), dtype=np.float32)
            # forward() of the mean is a view of it in this view's orientation (flips, rotations and
            # transpositions are all strided views): adding there is adding inverse(probs) to the mean.
            forward(acc)[:, row : row + probs.shape[1]] += probs
    assert acc is not None  # names is never empty: "none" is the identity view, an empty list raises
    acc /= np.float32(len(names))
    return acc


def keeps_rows(transforms: str | Sequence[str]) -> bool:
    """Whether every view of a TTA setting keeps the rows in place (:data:`ROW_KEEPING`)."""
    return set(resolve_tta(transforms) or ("identity",)) <= ROW_KEEPING


def tta_mean_bands(
    image: np.ndarray,
    bands_fn: Callable[[np.ndarray, int], Iterable[tuple[int, np.ndarray]]],
    transforms: str | Sequence[str],
) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`tta_probs_bands`'s mean, band by band, for views that keep rows (:func:`keeps_rows`): every
    view's network runs in step (``bands_fn(view, index)`` as there, ``index`` the view's place in the
    setting), and each band of the mean is yielded as ``(row, probs (K, n, W))`` once all views have given it,
    so no (K, H, W) array is held. The same float operations in the same order as :func:`tta_probs_bands`:
    the same values, bit for bit."""
    names = resolve_tta(transforms) or ("identity",)
    if not keeps_rows(names):
        raise ValueError(
            f"tta_mean_bands takes views that keep rows ({', '.join(sorted(ROW_KEEPING))}), got {names}"
        )
    streams = [bands_fn(TRANSFORMS[name][0](image), i) for i, name in enumerate(names)]
    for parts in zip(*streams, strict=True):
        row, first = parts[0]
        acc = np.zeros((first.shape[0], first.shape[1], image.shape[-1]), dtype=np.float32)
        for name, (view_row, logits) in zip(names, parts, strict=True):
            if view_row != row or logits.shape[1] != first.shape[1]:  # one tile plan for one shape: never
                raise RuntimeError(f"TTA view {name} gave rows {view_row}.. where {row}.. were expected")
            forward, _ = TRANSFORMS[name]
            forward(acc)[...] += softmax_(logits)
        acc /= np.float32(len(names))
        yield row, acc
