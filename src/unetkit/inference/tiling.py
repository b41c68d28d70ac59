"""Overlap-tile inference in NumPy: the torch-free core shared by the PyTorch and onnxruntime predictors.

The image is cut into tiles, tiles are sent to ``predict_fn`` in batches, and each tile's output is added
into one preallocated ``(K, H, W)`` float32 sum plus one ``(H, W)`` float32 weight map
(``(K + 1) * H * W * 4`` bytes in all; no list of tiles is kept), then divided once at the end.

Tiles that reach past the image edge read mirrored pixels (``pad_mode="reflect"``, the U-Net paper's
overlap-tile strategy) through index arithmetic, so the padded image is never materialised.

Two kinds of networks:

* padded ("same" convolutions, ``border=0``): output tile == input tile. Tiles overlap by ``overlap`` and
  are blended with a Gaussian importance map (``sigma = tile / 8``, as nnU-Net) or uniformly; predictions
  near a tile's edge see zero padding, so the result differs slightly from one whole-image pass.
* unpadded (valid convolutions, the 2015 U-Net, ``border > 0``): the output tile is the input tile minus
  ``border`` on every side. Tile origins are placed on multiples of ``grid`` (``2 ** depth``, the pooling
  period) so every tile sees the pooling grid the whole-image pass sees: the tiled result then *equals* one
  pass over the mirror-padded image (outputs of overlapping tiles are identical, so blending is exact).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from unetkit.options import look_up_option, to_pair

BLEND_MODES = ("gaussian", "uniform")
PAD_MODES = ("reflect", "symmetric", "edge", "constant")
DEFAULT_OVERLAP = 0.25
DEFAULT_BLEND = "gaussian"
DEFAULT_BATCH_SIZE = 4  # tiles per forward pass
DEFAULT_SIGMA_SCALE = 1.0 / 8.0

PredictFn = Callable[[np.ndarray], np.ndarray]
ProgressFn = Callable[[int, int], None]


def check_overlap(overlap: float) -> float:
    """``overlap`` as a float, refused unless it is a tile overlap fraction in [0, 1) (the one rule of the
    predictors, the tiling and predict's up-front check)."""
    if not 0.0 <= float(overlap) < 1.0:
        raise ValueError(f"overlap must be >= 0 and < 1, got {overlap}.")
    return float(overlap)


@functools.lru_cache(maxsize=16)
def _gaussian_cached(height: int, width: int, sigma_scale: float) -> np.ndarray:
    def profile(n: int) -> np.ndarray:
        # Centre at (n - 1) / 2, not n // 2 (nnU-Net): the map must be symmetric so that a flipped tile
        # gets the flipped weights (flip TTA and tiling then commute).
        x = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
        sigma = max(n * sigma_scale, 1e-6)
        return np.exp(-0.5 * (x / sigma) ** 2)

    weights = np.outer(profile(height), profile(width))
    weights /= weights.max()
    # Never let a weight be 0 (division by zero where only edge pixels of tiles cover an area).
    weights = np.maximum(weights, max(float(weights[weights > 0].min()), 1e-6)).astype(np.float32)
    weights.flags.writeable = False
    return weights


def gaussian_importance_map(
    size: int | Sequence[int], sigma_scale: float = DEFAULT_SIGMA_SCALE
) -> np.ndarray:
    """Gaussian blending weights for one tile: float32 (h, w), maximum 1 at the centre, strictly positive.

    ``sigma = sigma_scale * side`` per axis. The array is cached per size and read-only.
    """
    h, w = to_pair(size, "size")
    if h < 1 or w < 1:
        raise ValueError(f"importance map size must be positive, got {(h, w)}.")
    if not sigma_scale > 0:
        raise ValueError(f"sigma_scale must be > 0, got {sigma_scale}.")
    return _gaussian_cached(h, w, float(sigma_scale))


def pad_indices(index: np.ndarray, length: int, mode: str = "reflect") -> np.ndarray:
    """Map (possibly out-of-range) indices into ``[0, length)`` as ``np.pad(..., mode)`` would read them.

    ``constant`` maps outside indices to -1 (the caller fills zeros). Works for pads of any width, also
    wider than the image (reflect repeats with period ``2 * (length - 1)``, like ``np.pad``).
    """
    index = np.asarray(index, dtype=np.int64)
    if mode == "reflect":
        if length == 1:
            return np.zeros_like(index)
        period = 2 * (length - 1)
        i = np.mod(index, period)
        return np.where(i >= length, period - i, i)
    if mode == "symmetric":
        period = 2 * length
        i = np.mod(index, period)
        return np.where(i >= length, period - 1 - i, i)
    if mode == "edge":
        return np.clip(index, 0, length - 1)
    if mode == "constant":
        return np.where((index >= 0) & (index < length), index, -1)
    raise ValueError(f"Unknown pad mode {mode!r}. Available: {', '.join(PAD_MODES)}.")


def tile_starts(length: int, out_tile: int, step: int, grid: int = 1) -> list[int]:
    """Output-tile origins along one axis (image coordinates; may be negative or reach past ``length``).

    * ``grid == 1``: ``n = ceil((length - out_tile) / step) + 1`` origins spread evenly over
      ``[0, length - out_tile]`` (the last tile ends at the image edge); an image shorter than the tile gets
      one tile centred on it.
    * ``grid > 1`` (unpadded nets): origins ``0, s, 2s, ...`` with ``s`` a multiple of ``grid``; the last tile
      may reach past the image (its outside part reads mirrored pixels and is cropped).
    """
    if grid > 1:
        if step % grid:
            raise ValueError(f"step {step} must be a multiple of grid {grid} for exact unpadded tiling.")
        n = max(1, math.ceil(max(length - out_tile, 0) / step) + 1)
        return [i * step for i in range(n)]
    if length <= out_tile:
        return [-((out_tile - length) // 2)]
    n = math.ceil((length - out_tile) / step) + 1
    if n == 1:
        return [0]
    span = length - out_tile
    return [round(i * span / (n - 1)) for i in range(n)]


def _extract(image: np.ndarray, rows: np.ndarray, cols: np.ndarray, pad_mode: str, out: np.ndarray) -> None:
    """Write ``image[:, rows][:, :, cols]`` (rows/cols mapped by pad_indices) into ``out`` (C, h, w)."""
    h, w = image.shape[1:]
    inside_r = (rows.min() >= 0) and (rows.max() < h) and np.all(np.diff(rows) == 1)
    inside_c = (cols.min() >= 0) and (cols.max() < w) and np.all(np.diff(cols) == 1)
    if inside_r and inside_c:  # common case: a plain slice, no fancy-index copy
        out[...] = image[:, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        return
    if pad_mode == "constant":
        out[...] = 0
        vr, vc = rows >= 0, cols >= 0
        out[:, vr[:, None] & vc[None, :]] = image[:, rows[vr][:, None], cols[vc][None, :]].reshape(
            image.shape[0], -1
        )
        return
    out[...] = image[:, rows[:, None], cols[None, :]]


def _tile_steps(
    tile_size: int | Sequence[int],
    overlap: float,
    step: int | Sequence[int] | None,
    border: int,
    grid: int,
) -> tuple[int, int, int, int, int, int]:
    """Validated ``(th, tw, oh, ow, sh, sw)``: input tile, output tile and step (:func:`tile_inference`)."""
    th, tw = to_pair(tile_size, "tile_size")
    if isinstance(border, bool) or not isinstance(border, (int, np.integer)) or border < 0:
        raise ValueError(f"border must be an int >= 0, got {border!r}.")
    oh, ow = th - 2 * border, tw - 2 * border
    if oh < 1 or ow < 1:
        raise ValueError(f"tile_size {(th, tw)} leaves no output with border {border}; use a larger tile.")
    if not isinstance(grid, (int, np.integer)) or grid < 1:
        raise ValueError(f"grid must be an int >= 1, got {grid!r}.")
    if step is None:
        check_overlap(overlap)
        sh, sw = max(1, int(oh * (1.0 - overlap))), max(1, int(ow * (1.0 - overlap)))
    else:
        sh, sw = to_pair(step, "step")
        if sh < 1 or sw < 1:
            raise ValueError(f"step must be >= 1, got {(sh, sw)}.")
    if grid > 1:
        if oh < grid or ow < grid:
            raise ValueError(f"output tile {(oh, ow)} is smaller than grid {grid}; use a larger tile_size.")
        # Round down to the pooling period; never above the output tile, or gaps would appear.
        sh, sw = max(grid, (min(sh, oh) // grid) * grid), max(grid, (min(sw, ow) // grid) * grid)
    elif sh > oh or sw > ow:
        raise ValueError(
            f"step {(sh, sw)} is larger than the output tile {(oh, ow)}; pixels would be skipped."
        )
    return th, tw, oh, ow, sh, sw


def count_tiles(
    height: int,
    width: int,
    tile_size: int | Sequence[int],
    overlap: float = DEFAULT_OVERLAP,
    step: int | Sequence[int] | None = None,
    border: int = 0,
    grid: int = 1,
) -> int:
    """How many tiles :func:`tile_inference` cuts a ``height x width`` image into (same arguments), e.g. the
    total of its ``progress`` calls, known before any tile runs."""
    _, _, oh, ow, sh, sw = _tile_steps(tile_size, overlap, step, border, grid)
    return len(tile_starts(height, oh, sh, grid)) * len(tile_starts(width, ow, sw, grid))


def tile_rows(
    image: np.ndarray,
    predict_fn: PredictFn,
    tile_size: int | Sequence[int],
    overlap: float = DEFAULT_OVERLAP,
    step: int | Sequence[int] | None = None,
    blend: str = DEFAULT_BLEND,
    batch_size: int = DEFAULT_BATCH_SIZE,
    border: int = 0,
    pad_mode: str = "reflect",
    grid: int = 1,
    sigma_scale: float = DEFAULT_SIGMA_SCALE,
    progress: ProgressFn | None = None,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`tile_inference` one band of rows at a time: yields ``(row, logits)``, the blended float32
    logits ``(K, n, W)`` of image rows ``row .. row + n``, top to bottom, each row once.

    Tiles run in row-major order, so once the first tile of a new tile row is reached no later tile touches
    the rows above its origin: those are final and yielded. Only one tile row's sums are held
    (``(K, tile, W)``), never the ``(K, H, W)`` of the whole image: a caller that needs only the class mask
    (``unetkit predict`` without ``--probs``) computes it band by band. The values equal
    :func:`tile_inference`'s exactly (the same sums in the same order). A yielded array is a view of a
    buffer that the next step overwrites: use or copy it before asking for the next band.

    ``prepare``: maps each extracted batch of raw tiles (``image``'s dtype, (B, C, th, tw)) to the float32
    network input, e.g. normalisation, so that a uint8 image is never normalised whole (a float32 copy is 4x
    its size, and the arithmetic of normalising it held about three such copies at once). Without it the
    image must already be float (normalised). Other arguments as :func:`tile_inference`.
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3:
        got = image.shape if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be a (C, H, W) array, got {got}.")
    if prepare is None and image.dtype.kind != "f":
        raise TypeError(f"image must be float (normalised), got dtype {image.dtype}; normalise it first.")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}.")
    blend = look_up_option(blend, BLEND_MODES, "blend mode")
    pad_mode = look_up_option(pad_mode, PAD_MODES, "pad mode")
    th, tw, oh, ow, sh, sw = _tile_steps(tile_size, overlap, step, border, grid)

    _, height, width = image.shape
    ys = tile_starts(height, oh, sh, grid)
    xs = tile_starts(width, ow, sw, grid)
    origins = [(y, x) for y in ys for x in xs]
    weights = gaussian_importance_map((oh, ow), sigma_scale) if blend == "gaussian" else None

    # The sums of image rows top .. top + rows: one tile row's output (oh rows), clipped to the image.
    rows = min(oh, height)
    top = 0
    sums: np.ndarray | None = None
    norm = np.zeros((rows, width), dtype=np.float32)
    raw = np.empty((min(batch_size, len(origins)), image.shape[0], th, tw), dtype=image.dtype)
    for first in range(0, len(origins), batch_size):
        chunk = origins[first : first + batch_size]
        for i, (y, x) in enumerate(chunk):
            tile_rows_ = pad_indices(np.arange(y - border, y - border + th), height, pad_mode)
            cols = pad_indices(np.arange(x - border, x - border + tw), width, pad_mode)
            _extract(image, tile_rows_, cols, pad_mode, raw[i])
        batch = raw[: len(chunk)] if prepare is None else prepare(raw[: len(chunk)])
        pred = np.asarray(predict_fn(batch))
        if pred.ndim != 4 or pred.shape[0] != len(chunk) or pred.shape[2:] != (oh, ow):
            raise ValueError(
                f"predict_fn returned shape {pred.shape} for a batch of {len(chunk)} tiles {(th, tw)}; "
                f"expected ({len(chunk)}, K, {oh}, {ow}) (tile minus 2 * border={border})."
            )
        if sums is None:
            sums = np.zeros((pred.shape[1], rows, width), dtype=np.float32)
        for i, (y, x) in enumerate(chunk):
            # Clip the output tile to the image (tiles may start before 0 or end past the edge).
            y0, y1 = max(y, 0), min(y + oh, height)
            x0, x1 = max(x, 0), min(x + ow, width)
            if y0 > top:
                # The first tile of a new tile row: rows above y0 are final (origins only grow).
                yield top, _finished(sums, norm, y0 - top)
                _shift(sums, norm, y0 - top)
                top = y0
            ty, tx = slice(y0 - y, y1 - y), slice(x0 - x, x1 - x)
            by = slice(y0 - top, y1 - top)
            if weights is None:
                sums[:, by, x0:x1] += pred[i][:, ty, tx]
                norm[by, x0:x1] += 1.0
            else:
                w = weights[ty, tx]
                sums[:, by, x0:x1] += pred[i][:, ty, tx] * w
                norm[by, x0:x1] += w
        if progress is not None:
            progress(min(first + batch_size, len(origins)), len(origins))
    if sums is None:  # unreachable: tile_starts always yields at least one tile per axis
        raise RuntimeError("no tiles were processed")
    yield top, _finished(sums, norm, height - top)


def _finished(sums: np.ndarray, norm: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` rows of the band, divided by their weights in place: the blended logits."""
    np.divide(sums[:, :n], norm[:n], out=sums[:, :n])
    return sums[:, :n]


def _shift(sums: np.ndarray, norm: np.ndarray, n: int) -> None:
    """Drop the band's first ``n`` (yielded) rows: move the rest up and zero the rows freed at the bottom."""
    for arr in (sums, norm):
        rest = arr.shape[-2] - n
        arr[..., :rest, :] = arr[..., n:, :]
        arr[..., rest:, :] = 0.0


def tile_inference(
    image: np.ndarray,
    predict_fn: PredictFn,
    tile_size: int | Sequence[int],
    overlap: float = DEFAULT_OVERLAP,
    step: int | Sequence[int] | None = None,
    blend: str = DEFAULT_BLEND,
    batch_size: int = DEFAULT_BATCH_SIZE,
    border: int = 0,
    pad_mode: str = "reflect",
    grid: int = 1,
    sigma_scale: float = DEFAULT_SIGMA_SCALE,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """Run ``predict_fn`` over overlapping tiles of ``image`` and blend the outputs.

    Args:
        image: float (C, H, W), already normalised.
        predict_fn: maps a float32 batch (B, C, th, tw) to logits (B, K, th - 2*border, tw - 2*border).
        tile_size: input tile (th, tw) or one int.
        overlap: fraction of the *output* tile shared by neighbours, in [0, 1); ignored if ``step`` is given.
        step: distance between tile origins (output pixels); overrides ``overlap``.
        blend: "gaussian" (importance map, sigma = tile * sigma_scale) or "uniform" (plain average).
        batch_size: tiles per ``predict_fn`` call.
        border: context pixels an unpadded network consumes per side (92 for the depth-4 2015 U-Net).
        pad_mode: how pixels outside the image are read: "reflect" (mirror, no edge repeat), "symmetric",
            "edge" or "constant" (zeros).
        grid: tile origins are multiples of ``grid`` when > 1 (use ``2 ** depth`` for unpadded nets so the
            tiled result equals the whole-image result); the step is rounded down to a multiple of it.
        sigma_scale: Gaussian sigma as a fraction of the tile side.
        progress: called as ``progress(tiles_done, tiles_total)`` after every batch.

    Returns:
        float32 (K, H, W) blended logits (the bands of :func:`tile_rows`, put together).

    Raises:
        ValueError: bad shapes or options, or ``predict_fn`` output not of the announced size.
    """
    out: np.ndarray | None = None
    bands = tile_rows(
        image, predict_fn, tile_size, overlap, step, blend, batch_size, border, pad_mode, grid, sigma_scale,
        progress,
    )  # fmt: skip
    for row, logits in bands:
        if out is None:
            out = np.empty((logits.shape[0], image.shape[1], image.shape[2]), dtype=np.float32)
        out[:, row : row + logits.shape[1]] = logits
    assert out is not None  # tile_rows yields at least one band
    return out
