"""The torch-free prediction pipeline every inference backend shares (:class:`BasePredictor`).

uint8 image (H, W, C) (other types mapped to 8 bits as files are) -> [TTA: transformed views] -> pad/tile,
normalising each batch of tiles (:func:`tile_rows`) -> logits in bands of rows -> probabilities (K, H, W) ->
class mask (or the mask band by band, :meth:`BasePredictor.predict_mask`). Backends
(:class:`~unetkit.inference.predictor.Predictor` for PyTorch,
:class:`~unetkit.inference.ort_backend.OrtPredictor` for onnxruntime, ...) only supply
``_predict_batch`` (a float32 batch of tiles to logits) and the network's
:class:`~unetkit.geometry.ModelGeometry` (``geometry_from_config(config)`` when only the saved config is
known). This module must never import torch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
from PIL import Image

from unetkit.data.io import (
    apply_window,
    convert_channels,
    drop_array_alpha,
    float_per_image,
    float_to_uint8,
    is_model_input,
    normalize,
    pil_image_array,
    to_uint8,
    window_mismatch,
    window_percentiles,
)
from unetkit.geometry import ModelGeometry, geometry_from_config, unet_original_geometry
from unetkit.inference.memory import (
    check_probability_memory,
    fit_tile_batch,
    level_widths,
    probability_bytes,
)
from unetkit.inference.tiling import (
    BLEND_MODES,
    DEFAULT_BATCH_SIZE,
    DEFAULT_BLEND,
    DEFAULT_OVERLAP,
    PAD_MODES,
    ProgressFn,
    check_overlap,
    count_tiles,
    tile_rows,
)
from unetkit.inference.tta import (
    keeps_rows,
    probs_to_logits,
    resolve_tta,
    softmax_,
    tta_mean_bands,
    tta_probs_bands,
    view_shape,
)
from unetkit.model_files.model_config import ModelConfig
from unetkit.options import look_up_option

logger = logging.getLogger(__name__)
# Channel counts predict converts between (gray <-> RGB), as for files (inference.batch.CONVERSIONS).
_CONVERTIBLE = (1, 3)
# A per-image window maps each channel's lo percentile (1 %) to 0 and pixels above its hi one (99.8 %) to 255,
# so its output holds ~lo % zeros and ~(100 - hi) % 255s per channel; an array with under half of either
# cannot be its output, unless the window was stretched to its min_span (a dark image): its output then uses
# only some of the levels 0..max, while stored pixels use nearly all. On DSB 2018's 598 train+val images the
# two rules together told every stored image from every window output (the zero rule alone missed 16 dark
# stored images: benchmarks/window_arrays.py); see BasePredictor._window_unmapped.
UNMAPPED_SHARE = 0.5
STRETCHED_LEVELS = 0.6  # levels of 0..max used: DSB window outputs <= 0.36, stored images >= 0.86

# Backends import the geometry helpers from here, next to the class they subclass.
__all__ = [
    "AUTO_TILE_PIXELS",
    "AUTO_TILE_SIZE",
    "BasePredictor",
    "ModelGeometry",
    "PredictOptions",
    "geometry_from_config",
    "mask_from_probs",
    "unet_original_geometry",
]


def window_output_like(image: np.ndarray, window: Mapping[str, Any]) -> bool:
    """Whether the uint8 (H, W, C) ``image`` can be the output of the per-image ``window``: in every channel
    at least half the zeros (lo %) and half the 255s (100 - hi %) the window makes, or, where 255s are
    fewer (a window stretched to its min_span: a dark image), under :data:`STRETCHED_LEVELS` of the levels
    0..max in use (stretching skips levels; stored pixels fill them)."""
    low, high = window_percentiles(window)
    flat = image.reshape(-1, image.shape[2])
    for channel in flat.T:
        counts = np.bincount(channel, minlength=256)
        if counts[0] < UNMAPPED_SHARE * low / 100 * channel.size:
            return False
        if counts[255] < UNMAPPED_SHARE * (100 - high) / 100 * channel.size:
            top = int(np.flatnonzero(counts).max())
            if np.count_nonzero(counts[: top + 1]) >= STRETCHED_LEVELS * (top + 1):
                return False
    return True


def mask_from_probs(probs: np.ndarray, rows_per_chunk: int = 512) -> np.ndarray:
    """Class index per pixel from (K, H, W) probabilities: argmax (K > 1) or ``p > 0.5`` (K == 1).

    Returns uint8 (H, W) for K <= 256 (int32 otherwise), computed in row chunks: ``np.argmax`` would return
    int64, 8 bytes per pixel, 512 MB for an 8192 x 8192 image.
    """
    k, h, w = probs.shape
    dtype = np.uint8 if k <= 256 else np.int32
    mask = np.empty((h, w), dtype=dtype)
    for r in range(0, h, rows_per_chunk):
        block = probs[:, r : r + rows_per_chunk]
        mask[r : r + rows_per_chunk] = (block[0] > 0.5) if k == 1 else block.argmax(axis=0)
    return mask


class _ImageProgress:
    """``progress(done, total)`` over every pass of one image (one per TTA view): each pass reports its own
    tiles (:func:`tile_rows`), this adds the tiles of the passes before it."""

    def __init__(self, progress: ProgressFn, total: int) -> None:
        self.progress, self.total, self.before = progress, total, 0

    def __call__(self, done: int, total: int) -> None:
        self.progress(min(self.before + done, self.total), self.total)
        if done >= total:  # this pass is complete
            self.before += total


# Automatic tiling (tile_size=None): images above this many (padded) pixels go through tiles of this side.
AUTO_TILE_PIXELS = 1024 * 1024
AUTO_TILE_SIZE = 512


class PredictOptions(TypedDict, total=False):
    """The tiling/TTA keyword options of :class:`BasePredictor` (documented there).

    Backends take them as ``**options: Unpack[PredictOptions]`` and pass them through unchanged, so each
    option, its type and its default are written once, in ``BasePredictor.__init__``.
    """

    tile_size: int | Sequence[int] | None
    overlap: float
    blend: str
    batch_size: int
    tta: bool | str | Sequence[str]
    pad_mode: str
    progress: ProgressFn | None


class BasePredictor:
    """Image -> logits / probabilities / mask; subclasses implement :meth:`_predict_batch`.

    Args:
        config: the model's :class:`ModelConfig` (mean/std, channels, classes).
        geometry: the network's :class:`ModelGeometry`.
        tile_size: input tile side (int or (H, W)); None = automatic: one pass over the whole image
            (padded to the model's size divisor; unpadded nets: to a valid size with mirrored context)
            when it has at most ``AUTO_TILE_PIXELS`` pixels, else tiles of ``AUTO_TILE_SIZE`` so that large
            images never run out of memory.
        overlap: tile overlap fraction in [0, 1).
        blend: "gaussian" or "uniform" tile blending.
        batch_size: tiles per forward pass; fewer for an image whose passes would not fit in the memory free
            then (said in an INFO line), and the image is refused where not even one tile fits
            (:func:`~unetkit.inference.memory.fit_tile_batch`).
        tta: False, True (8 dihedral transforms), "flips" or a list of transform names.
        pad_mode: how pixels outside the image are read ("reflect" = mirror).
        progress: optional ``progress(tiles_done, tiles_total)`` callback over the tiles of one image, all
            TTA views together (``tiles_total`` is known at the first call; ``tiles_done == tiles_total`` ends
            the image), called after every batch of tiles. A caller that shows it (``unetkit predict``'s bar
            "tiles of NAME") decides from ``tiles_total`` whether an image is worth a bar.
    """

    def __init__(
        self,
        config: ModelConfig,
        geometry: ModelGeometry,
        tile_size: int | Sequence[int] | None = None,
        overlap: float = DEFAULT_OVERLAP,
        blend: str = DEFAULT_BLEND,
        batch_size: int = DEFAULT_BATCH_SIZE,
        tta: bool | str | Sequence[str] = False,
        pad_mode: str = "reflect",
        progress: ProgressFn | None = None,
    ) -> None:
        self.config = config
        self.geometry = geometry
        if tile_size is not None:
            pair = (tile_size, tile_size) if isinstance(tile_size, int) else tuple(tile_size)
            if len(pair) != 2 or any(int(s) < 1 for s in pair):
                raise ValueError(f"tile_size must be a positive int or (H, W), got {tile_size!r}.")
            tile_size = (int(pair[0]), int(pair[1]))
        self.tile_size: tuple[int, int] | None = tile_size
        self.overlap = check_overlap(overlap)
        self.blend = look_up_option(blend, BLEND_MODES, "blend mode")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}.")
        self.batch_size = batch_size
        self.tta = resolve_tta(tta)
        self.pad_mode = look_up_option(pad_mode, PAD_MODES, "pad mode")
        self.progress = progress
        self._said_tiling = False  # "image is large: tiles" is logged once per predictor
        self._said_batch = ""  # the last "N tiles per forward pass" line: logged again only when it changes
        # The array conversions said (channels, window): each at INFO once per predictor, then at DEBUG (a
        # loop over 1000 arrays logged 2000 INFO lines, trial 27).
        self._said_inputs: set[str] = set()

    #: The engine's peak memory of a forward pass relative to the rule that estimates torch's
    #: (:data:`~unetkit.inference.memory.ENGINE_FACTOR` for the exported engines).
    forward_memory_factor: float = 1.0

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    def _predict_batch(self, batch: np.ndarray) -> np.ndarray:
        """float32 (B, C, h, w) -> float32 logits (B, K, h', w')."""
        raise NotImplementedError

    def read_image(self, path: str | Path) -> np.ndarray:
        """The file at ``path`` as this model's uint8 input (H, W, C), read as ``unetkit predict`` reads it:
        the model's intensity window applied to the stored values, gray <-> RGB converted to the model's
        channels. Other channel counts are a ValueError naming the file and the fix."""
        from unetkit.data.io import read_raw_image
        from unetkit.inference.batch import model_image

        image, _, mismatch = model_image(
            read_raw_image(path), path, self.config.in_channels, self.config.intensity_window
        )
        if mismatch:
            logger.warning("%s: %s", path, mismatch)
        return image

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """Image (H, W, C) or (H, W) -> normalised float32 (C, H, W): :meth:`model_input`, normalised."""
        return normalize(self.model_input(image), self.config.mean, self.config.std)

    def model_input(self, image: np.ndarray) -> np.ndarray:
        """Image (H, W, C) or (H, W) -> the model's uint8 input (H, W, C), not yet normalised (the tiles are
        normalised one batch at a time); checks the channel count.

        uint8 is the model's input as :meth:`read_image` gives it (for a model with a per-image window, a
        uint8 array that cannot be that window's output is mapped by it: :meth:`_window_unmapped`); gray and
        RGB are converted to the model's channels, as for files. A float array in [0, 1] is the uint8 array
        ``round(x * 255)`` (:func:`unetkit.data.io.float_to_uint8`), or for a model with a per-image window
        is mapped by it from its own values (``x * 255`` unrounded: a dim image keeps its gradations, as a
        float file does, :func:`unetkit.data.io.float_per_image`); either way ``raw / 255.0`` predicts as
        ``raw``. Floats outside [0, 1], NaN, or a float array for a model whose fixed window maps deeper than
        8-bit values (its scale is unknown) are a ValueError. Other types are stored values, mapped to 8 bits
        as a file's are (:func:`unetkit.data.io.to_uint8`): integers through the model's intensity window
        (16-bit without one: ``value >> 8``), bool as 0/255 (dividing every type by 255 made a float image
        in [0, 1] all background and a 16-bit one all foreground, silently)."""
        from_pil = isinstance(image, Image.Image)
        # A file's pixels as read for the model (read_image, predict's reading): taken as they are, never
        # judged by their histogram (a dim channel's stretched window looked unmapped and was mapped twice).
        mapped = is_model_input(image)
        if mapped:
            image = np.asarray(image).view(np.ndarray)
        if isinstance(image, Image.Image):
            # As its file is read (read_image): palette as shown, an opaque alpha dropped, the intensity
            # window applied, gray <-> RGB converted to the model's channels.
            from unetkit.inference.batch import model_image

            image, _, mismatch = model_image(
                pil_image_array(image), "the PIL image", self.config.in_channels, self.config.intensity_window
            )
            if mismatch:
                logger.warning("the PIL image: %s", mismatch)
        if not isinstance(image, np.ndarray):
            # A list of images (not a nested list of pixel rows, which np.asarray makes one image).
            many = isinstance(image, (list, tuple)) and any(
                isinstance(x, np.ndarray) and x.ndim >= 2 for x in image
            )
            one = " (predict takes one image: call it once per image)" if many else ""
            raise TypeError(
                f"image must be a NumPy array (H, W) or (H, W, C) or a PIL image, got "
                f"{type(image).__name__}{one}; convert it with np.asarray(image) (a torch tensor (C, H, W): "
                "tensor.permute(1, 2, 0).numpy()), or read a file with predictor.read_image(path)."
            )
        if image.ndim == 2:
            image = image[..., None]
        if image.ndim != 3:
            # (1, H, W, C): a batch of one, the usual slip from a data loader.
            batch = "; predict takes one image: pass image[0]" if image.ndim == 4 else ""
            raise ValueError(f"image must be (H, W) or (H, W, C), got shape {image.shape}{batch}.")
        if not image.shape[0] or not image.shape[1]:
            raise ValueError(
                f"image is {image.shape[0]}x{image.shape[1]} pixels (shape {image.shape}); it is empty."
            )
        channels = self.config.in_channels
        if image.shape[2] != channels and image.shape[0] <= 4 and image.shape[2] > 4:
            raise ValueError(
                f"image has shape {image.shape}, channels first; predict takes (H, W, C): pass "
                "np.moveaxis(image, 0, -1)."
            )
        if not from_pil:
            # Its alpha as a file's (read_raw_image), on the stored values: an opaque one dropped (a PIL image
            # or PNG of the same pixels was taken, the array refused), a transparent one refused.
            image = drop_array_alpha(image, channels, f"the {image.dtype} image array")
        if image.shape[2] != channels and not (image.shape[2] in _CONVERTIBLE and channels in _CONVERTIBLE):
            # Before the values are mapped: the model's intensity window has one [lo, hi] per model channel,
            # and its refusal would blame its pair count for the image's channel count.
            raise ValueError(
                f"image has {image.shape[2]} channels but the model expects {channels}; give it "
                f"{channels} channel(s)."
            )
        what = f"the {image.dtype} image array"
        if image.dtype.kind == "f":  # (a PIL image is uint8 by now)
            # As a float file is read: through a per-image window from its own values (the window's output,
            # then); else its 8-bit reading, then a uint8 array's rule below. raw / 255.0 predicts as raw
            # either way, per-image window included (trial 22: it was skipped).
            windowed = float_per_image(image, what, self.config.intensity_window)
            if windowed is not None:
                image, mapped = windowed, True
            else:
                image = float_to_uint8(image, what, self.config.intensity_window)
        if image.dtype != np.uint8:
            image = self._to_uint8(image)
        elif not from_pil and not mapped:
            image = self._window_unmapped(image, what)
        if image.shape[2] != channels:  # gray <-> RGB (other counts refused above)
            # As predict converts a file (and training may opt in to): the user cannot retrain.
            said = "image array: %d channel(s) -> the model's %d"
            self._say_once(f"convert{image.shape[2]}", said, image.shape[2], channels)
            image = convert_channels(image, channels)
        return image

    def _say_once(self, kind: str, message: str, *args: object) -> None:
        """``message`` at INFO the first time this predictor converts an array so (``kind``), then at DEBUG,
        noting it once: "(logged once per predictor)"."""
        if kind in self._said_inputs:
            logger.debug(message, *args)
            return
        self._said_inputs.add(kind)
        logger.info(message + " (logged once per predictor)", *args)

    def _window_unmapped(self, image: np.ndarray, what: str = "the uint8 image array") -> np.ndarray:
        """A uint8 (H, W, C) array (or a float one's 8-bit reading, ``what`` names it) for a model with a
        per-image window, mapped by that window when it cannot be the window's output
        (:func:`window_output_like`): a file read with PIL or skimage, which :meth:`read_image` would have
        mapped. The window's output (read_image's) is taken as it is."""
        window = self.config.intensity_window
        if not isinstance(window, Mapping) or not image.size or window_output_like(image, window):
            return image  # no per-image window (is_per_image), or its output
        self._say_once(
            f"window {what}",
            "%s was mapped by the model's per-image intensity window, as a file is (it holds too few 0s or "
            "255s, or too many levels, to be read_image's output)",
            what,
        )
        return apply_window(image, window)

    def _to_uint8(self, image: np.ndarray) -> np.ndarray:
        """A non-uint8 (H, W, C) array -> the model's uint8 input, as a file of its values is read; a wide
        integer array (int32/int64, what NumPy arithmetic gives) holding only 0..255 is 8-bit data (``>> 8``
        made it black). Values far outside the model's window are named (a warning), as predict names them
        for files."""
        window = self.config.intensity_window
        what = f"the {image.dtype} image array"
        if image.dtype.kind in "iu" and image.dtype.itemsize > 2 and image.size and window is None:
            if int(image.min()) >= 0 and int(image.max()) <= 255:
                return image.astype(np.uint8)
        if image.dtype.kind in "iu":
            mismatch = window_mismatch(image, window)
            if mismatch:
                logger.warning("%s: %s", what, mismatch)
        return to_uint8(image, what, window)

    def tile_plan(self, height: int, width: int, log: bool = True) -> tuple[tuple[int, int], int]:
        """(input tile (th, tw), grid) used for an image of ``height x width``; ``log=False`` says nothing
        (the tile count for a progress total)."""
        g = self.geometry
        if g.fixed_input_size is not None:
            return g.fixed_input_size, 1
        # Never use a larger tile than one pass over the whole (padded) image needs.
        whole = (g.input_side(height), g.input_side(width))
        requested = self.tile_size
        if requested is None and whole[0] * whole[1] > AUTO_TILE_PIXELS:
            # Activations of a whole large image would not fit in memory: tile automatically.
            requested = (AUTO_TILE_SIZE, AUTO_TILE_SIZE)
            if log:
                # Said once per predictor: a split of large images (times the TTA views) would repeat it.
                say = logger.debug if self._said_tiling else logger.info
                say("image %dx%d (WxH) is large: predicting in %d px tiles", width, height, AUTO_TILE_SIZE)
                self._said_tiling = True
        if requested is None:
            tile = whole
        else:
            tile = (
                min(g.input_side(max(requested[0] - 2 * g.border, 1)), whole[0]),
                min(g.input_side(max(requested[1] - 2 * g.border, 1)), whole[1]),
            )
            if log and tile != requested and tile[0] < whole[0] and tile[1] < whole[1]:
                logger.info("tile size %s rounded to %s (valid sizes of the network)", requested, tile)
        # A too-small image (or tile) is mirror-padded up to the smallest pass side by tile_rows (a tile
        # larger than the image reads mirrored pixels, and its output is cropped back): one rule for every
        # backend, so that an exported graph runs on every size eager PyTorch runs on.
        least = self.min_pass_side
        tile = (max(tile[0], least), max(tile[1], least))
        return tile, (g.grid if g.border > 0 else 1)

    @property
    def min_pass_side(self) -> int:
        """Smallest side of a forward pass: the geometry's rule
        (:attr:`~unetkit.geometry.ModelGeometry.min_pass_side`), the one the exporters check a graph on."""
        return self.geometry.min_pass_side

    def pass_shape(self, height: int, width: int) -> tuple[int, int]:
        """The (H, W) a whole-image pass over a ``height x width`` image gives the network: its smallest valid
        size, at least :attr:`min_pass_side` (a fixed-size net: its one size)."""
        g = self.geometry
        if g.fixed_input_size is not None:
            return g.fixed_input_size
        least = self.min_pass_side
        return max(g.input_side(height), least), max(g.input_side(width), least)

    def tiles_per_image(self, height: int, width: int) -> int:
        """Tiles (forward-pass inputs) one ``height x width`` image takes, over all TTA views: the total of
        :attr:`progress`."""
        total = 0
        for name in self.tta or ("identity",):
            h, w = view_shape(name, height, width)
            tile, grid = self.tile_plan(h, w, log=False)
            total += count_tiles(h, w, tile, self.overlap, border=self.geometry.border, grid=grid)
        return total

    def _image_progress(self, image: np.ndarray) -> _ImageProgress | None:
        """:attr:`progress` for one (H, W[, C]) image over all its passes, or None (no callback, or an
        image :meth:`preprocess` refuses). A new one per call: threads sharing this predictor (``unetkit
        serve``) never mix their counts."""
        if self.progress is None or not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
            return None
        return _ImageProgress(self.progress, self.tiles_per_image(image.shape[0], image.shape[1]))

    def _views_progress(self, image: np.ndarray) -> Callable[[int], ProgressFn | None]:
        """``progress(i)``: the callback of TTA view ``i`` when the views run in step (:meth:`predict_mask`),
        each reporting its own tiles, :attr:`progress` told their sum; None for each without a callback."""
        whole = self._image_progress(image)
        if whole is None:
            return lambda i: None
        done = [0] * len(self.tta)

        def view(i: int) -> ProgressFn:
            def report(tiles: int, total: int) -> None:
                done[i] = tiles
                whole.progress(min(sum(done), whole.total), whole.total)

            return report

        return view

    def _normalize_tiles(self, tiles: np.ndarray) -> np.ndarray:
        """uint8 tiles (B, C, h, w) -> normalised float32 (B, C, h, w), each as :meth:`preprocess` would
        normalise the whole image (the same arithmetic per value, so the same floats)."""
        mean, std = self.config.mean, self.config.std
        return np.stack([normalize(tile.transpose(1, 2, 0), mean, std) for tile in tiles])

    def _tile_batch(self, height: int, width: int, reserved: int) -> int:
        """Tiles per forward pass for a ``height x width`` image, all its TTA views: :attr:`batch_size`,
        lowered until a pass fits in the memory free now beside the ``reserved`` bytes of the image's own
        arrays (:func:`~unetkit.inference.memory.fit_tile_batch`, which says so in an INFO line); a
        ValueError naming the tile size and the fix where not even one tile fits. Said before any tile runs.
        A model run on a GPU (a torch ``device`` other than the CPU) is not checked: its passes take the GPU's
        memory."""
        device = getattr(self, "device", None)
        if device is not None and getattr(device, "type", "cpu") != "cpu":
            return self.batch_size
        # The largest pass of the image's views: a view with fewer tiles than the batch runs them all at once.
        passes = []
        for name in self.tta or ("identity",):
            h, w = view_shape(name, height, width)
            tile, grid = self.tile_plan(h, w, log=False)
            tiles = count_tiles(h, w, tile, self.overlap, border=self.geometry.border, grid=grid)
            passes.append(
                (min(self.batch_size, tiles) * tile[0] * tile[1], min(self.batch_size, tiles), tile)
            )
        _, batch, tile = max(passes)
        widths = level_widths(self.config.architecture, self.config.model_kwargs)
        fitting, why = fit_tile_batch(widths, tile, batch, reserved, self.forward_memory_factor)
        if why:
            # Once per change: a folder of same-sized scenes would repeat it per image.
            (logger.debug if why == self._said_batch else logger.info)("%s", why)
            self._said_batch = why
        return fitting if fitting < batch else self.batch_size

    def _bands(
        self, x: np.ndarray, progress: ProgressFn | None = None, batch_size: int | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """The logits of the uint8 (C, H, W) image ``x`` (any strides: a TTA view) in bands of rows
        (:func:`tile_rows`): only one tile row of sums is held, and the tiles are normalised per batch of
        ``batch_size`` (None: :attr:`batch_size`; :meth:`_tile_batch` gives the one that fits)."""
        tile, grid = self.tile_plan(x.shape[1], x.shape[2])
        return tile_rows(
            x,
            self._predict_batch,
            tile,
            overlap=self.overlap,
            blend=self.blend,
            batch_size=self.batch_size if batch_size is None else batch_size,
            border=self.geometry.border,
            pad_mode=self.pad_mode,
            grid=grid,
            progress=progress,
            prepare=self._normalize_tiles,
        )

    def _input_chw(self, image: np.ndarray) -> np.ndarray:
        """:meth:`model_input` as a (C, H, W) view (no copy: the tiles are cut from it)."""
        return np.moveaxis(self.model_input(image), -1, 0)

    def predict_logits(self, image: np.ndarray) -> np.ndarray:
        """float32 (K, H, W) logits. With TTA: log of the averaged probabilities (logit for K == 1)."""
        if self.tta:
            return probs_to_logits(self._mean_probs(image, probs_asked=True))
        x = self._input_chw(image)
        batch = self._tile_batch(x.shape[1], x.shape[2], probability_bytes(self.num_classes, *x.shape[1:]))
        out: np.ndarray | None = None
        for row, logits in self._bands(x, self._image_progress(image), batch):
            if out is None:
                out = np.empty((logits.shape[0], *x.shape[1:]), dtype=np.float32)
            out[:, row : row + logits.shape[1]] = logits
        assert out is not None  # tile_rows yields at least one band
        return out

    def predict_probs(self, image: np.ndarray) -> np.ndarray:
        """float32 (K, H, W) probabilities: softmax over classes (sigmoid when K == 1), TTA-averaged.
        A map larger than the memory free now is a ValueError before any tile runs
        (:func:`~unetkit.inference.memory.check_probability_memory`)."""
        return self._mean_probs(image, probs_asked=True)

    def _mean_probs(self, image: np.ndarray, probs_asked: bool) -> np.ndarray:
        """:meth:`predict_probs`; ``probs_asked``: the caller keeps the map (the memory error says so)."""
        progress = self._image_progress(image)
        x = self._input_chw(image)
        check_probability_memory(self.num_classes, x.shape[1], x.shape[2], len(self.tta), probs_asked)
        # Beside the map and the mask made from it (what check_probability_memory counts).
        held = probability_bytes(self.num_classes, x.shape[1], x.shape[2]) + x.shape[1] * x.shape[2]
        batch = self._tile_batch(x.shape[1], x.shape[2], held)
        views = self.tta or ("identity",)
        return tta_probs_bands(x, partial(self._bands, progress=progress, batch_size=batch), views)

    def predict_mask(self, image: np.ndarray) -> np.ndarray:
        """The class mask of :meth:`predict` (uint8 (H, W); int32 if K > 256) without its probabilities.

        Without TTA the mask is made band by band as the tiles run (:func:`tile_rows`), so no (K, H, W)
        array is held: what ``unetkit predict`` uses when no ``--probs`` are asked for (a large scene then
        needs about its own size in memory, not K float32 copies of it). So is the mean of views that keep
        the rows in place (the image and its left-right mirror, a street scene's TTA: :func:`tta_mean_bands`),
        with the same values. Other TTA views need the views' mean probabilities first
        (:meth:`predict_probs`).
        """
        if self.tta and not keeps_rows(self.tta):
            return mask_from_probs(self._mean_probs(image, probs_asked=False))
        x = self._input_chw(image)
        batch = self._tile_batch(x.shape[1], x.shape[2], x.shape[1] * x.shape[2])  # beside the mask
        if self.tta:  # the image and its mirror: the views run in step, their mean made band by band
            progress = self._views_progress(image)
            bands = tta_mean_bands(x, lambda view, i: self._bands(view, progress(i), batch), self.tta)
        else:
            progress_ = self._image_progress(image)
            bands = ((row, softmax_(logits)) for row, logits in self._bands(x, progress_, batch))
        mask: np.ndarray | None = None
        for row, probs in bands:
            band = mask_from_probs(probs)  # as predict: the same probabilities, the same rule
            if mask is None:
                mask = np.empty(x.shape[1:], dtype=band.dtype)
            mask[row : row + band.shape[0]] = band
        assert mask is not None  # tile_rows yields at least one band
        return mask

    def predict(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(class mask (H, W) uint8 (int32 if K > 256), probabilities float32 (K, H, W)) of ``image``: a NumPy
        (H, W) or (H, W, C) array (uint8, uint16, bool, or float in [0, 1], read as its 8-bit image) or a PIL
        image, prepared as :meth:`model_input` says."""
        probs = self.predict_probs(image)
        return mask_from_probs(probs), probs

    def describe(self) -> dict[str, Any]:
        """Settings as a plain dict (for logs and result files)."""
        return {
            "architecture": self.config.architecture,
            "tile_size": self.tile_size,
            "overlap": self.overlap,
            "blend": self.blend,
            "batch_size": self.batch_size,
            "tta": list(self.tta),
            "border": self.geometry.border,
        }
