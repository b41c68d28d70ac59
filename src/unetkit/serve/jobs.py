"""One segmentation request as a pure job: upload bytes in, result files + a JSON summary out.

:func:`run_job` is what the worker pool runs (in a thread or in a worker process). It decodes the upload
with :func:`unetkit.data.io.read_image` (the reader of ``unetkit predict``, so the served masks equal the
command line's), predicts through :func:`unetkit.inference.backends.load_predictor`, counts instances with
:func:`unetkit.inference.instance_predictor.instance_predictor_for` (the instance method of ``unetkit predict
--instances``, ``auto`` included, so a method means the same in both) and writes the PNGs with
:mod:`unetkit.inference.writers` into the result folder chosen by the server (never by the client), which
appears only once complete (:func:`unetkit.files.atomic_dir`). A Mask R-CNN model folder (``unetkit
fit-maskrcnn``) is loaded as ``unetkit predict`` loads it
(:func:`unetkit.inference.instance_predictor.load_instance_predictor`) and always gives its instances.

Files of a result: ``input.png`` (the image as the model saw it, 8-bit), ``mask.png`` (palette PNG, value =
class index), ``overlay.png`` (RGB, :func:`unetkit.viz.overlay.prediction_overlay`: the overlay of
``unetkit predict``), ``instances.png`` (16-bit labels, on request; always for a Mask R-CNN) with, beside it,
``instances_color.png`` (the same instances in colours any viewer shows: a 16-bit label file looks black) and
``outlines.png`` (RGBA: the overlay's instance outlines alone, drawn by the page over its own tint), and
``probs.npy`` ((K, H, W) float16, on request).

A job can be stopped from outside (its request timed out, the client went away, the server shuts down):
:func:`run_job` takes a ``cancelled()`` check and looks at it before decoding, before writing, and through
the predictor's ``progress`` callback after every batch of tiles of every TTA view, where it raises
:class:`JobCancelled`; the folder it was writing is removed as on any error. So a cancel lands between two
forward passes: between tiles of a tiled image, between TTA views of a whole-image pass, never inside one
pass (an engine's forward pass cannot be interrupted); a Mask R-CNN, which has no tiles to report, and the
instance post-processing stop only at the checks before and after the prediction.

A job also tells how far it is (``GET /api/progress``): :func:`run_job`'s ``progress(stage, done, total)``
is called with each stage of :data:`STAGES` as it begins and, while predicting, after every batch of tiles
with the tiles done and the total over all TTA views (the predictor's ``progress``; the total is known
before the first tile runs, 0 for a model that does not tile).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from unetkit.constants import OVERLAY_ALPHA
from unetkit.files import atomic_dir, atomic_write, atomic_write_bytes
from unetkit.inference.instance_predictor import AUTO, MASKRCNN, InstancePredictor
from unetkit.inference.writers import save_rgb_png

logger = logging.getLogger(__name__)

RESULT_FILES = {
    "input": "input.png",
    "mask": "mask.png",
    "overlay": "overlay.png",
    "instances": "instances.png",
    "instances_color": "instances_color.png",
    "outlines": "outlines.png",
    "probs": "probs.npy",
}
MEDIA_TYPES = {".png": "image/png", ".npy": "application/octet-stream"}
# "model": the TTA the run scored the model with (its extra.tta; none when it records none), as predict uses.
_TTA_VALUES: dict[str, bool | str] = {"model": False, "none": False, "flips": "flips", "d4": True}


# What a job is doing, as GET /api/progress names it: waiting for a worker, reading the upload, running the
# network (tiles_done / tiles_total), writing the result files.
STAGES = ("queued", "decoding", "predicting", "writing")
# progress(stage, tiles_done, tiles_total): a stage of STAGES as it begins, then each batch of tiles.
ProgressReport = Callable[[str, int, int], None]


class JobCancelled(Exception):
    """A job stopped before its end because its request was given up (504, client gone, server shutdown)."""


# The cancel check of the job running in this thread (set by run_job): the predictors are shared by the
# worker threads and built once, so their progress callback finds the job's check here.
_CURRENT = threading.local()


def check_cancelled() -> None:
    """Raise :class:`JobCancelled` when the job running in this thread was cancelled (else nothing)."""
    cancelled: Callable[[], bool] | None = getattr(_CURRENT, "cancelled", None)
    if cancelled is not None and cancelled():
        raise JobCancelled("the job was cancelled: its request was given up")


@contextlib.contextmanager
def reporting_to(progress: ProgressReport | None) -> Iterator[None]:
    """Jobs run in this thread within the block report to ``progress`` (None: to whatever they reported to
    already), as :func:`run_job`'s own ``progress`` does: how the worker pool hands each job its slot's."""
    if progress is None:
        yield
        return
    before = getattr(_CURRENT, "progress", None)
    _CURRENT.progress = progress
    try:
        yield
    finally:
        _CURRENT.progress = before


def report_progress(stage: str, done: int = 0, total: int = 0) -> None:
    """Tell the job running in this thread's ``progress`` (set by run_job; none: nothing) where it is."""
    progress: ProgressReport | None = getattr(_CURRENT, "progress", None)
    if progress is not None:
        progress(stage, done, total)


def _cancel_point(done: int, total: int) -> None:
    """The predictors' ``progress`` callback (after every batch of tiles, over all TTA views): the job's
    progress, and where a cancelled job stops."""
    report_progress("predicting", done, total)
    check_cancelled()


def _tiles_total(predictor: Any, image: np.ndarray) -> int:
    """Tiles (forward passes, all TTA views) ``predictor`` runs on ``image``: the total its ``progress``
    will report, known before the first tile; 0 for a predictor that does not tile (a Mask R-CNN)."""
    count = getattr(predictor, "tiles_per_image", None)
    if count is None:
        return 0
    try:
        return int(count(image.shape[0], image.shape[1]))
    except ValueError:  # a size the model refuses: predict() says why, as a 422
        return 0


class JobError(Exception):
    """A request the job refused: HTTP ``status`` and a one-line ``detail`` (picklable across processes)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class RequestOptions:
    """Per-request prediction options (validated by the API layer).

    Attributes:
        tta: "model" (the TTA the run scored the model with, as ``unetkit predict`` uses it; the default),
            "none", "flips" (4 transforms) or "d4" (8 flips/rotations).
        tile_size: input tile side; None = automatic (one pass up to 1 megapixel, else 512 px tiles).
        instances: "none", "auto" (the model's own method, as ``unetkit predict --instances auto``) or a
            registered instance method that fits the model (:func:`instance_choices`).
        min_size: instances with fewer pixels are dropped; None: the model's recorded value (chosen on
            validation images by ``unetkit fit``), else 0.
        alpha: overlay colour weight in [0, 1].
        probs: also keep the (K, H, W) probabilities as float16 ``.npy``.
        score_threshold: Mask R-CNN models only: keep detections scoring at least this; None = the
            default of ``unetkit predict --score-threshold`` (the model's recorded choice, else 0.5).
    """

    tta: str = "model"
    tile_size: int | None = None
    instances: str = "none"
    min_size: int | None = None
    alpha: float = OVERLAY_ALPHA
    probs: bool = False
    score_threshold: float | None = None


@dataclass(frozen=True)
class Job:
    """One upload to segment; ``folder`` is chosen by the server (the result store), never by the client."""

    folder: str
    data: bytes
    suffix: str
    filename: str
    options: RequestOptions = field(default_factory=RequestOptions)


def served_classes(predictor: Any) -> tuple[list[str], np.ndarray]:
    """(class names of the mask values, their colours uint8 (K, 3)) of a loaded predictor, as ``unetkit
    predict`` names and draws them (:func:`~unetkit.inference.batch.classes_and_colours`)."""
    from unetkit.inference.batch import classes_and_colours

    return classes_and_colours(predictor)


class PredictorCache:
    """Predictors of one model, one per (tta, tile_size), built lazily by ``load_predictor`` (LRU-bounded).

    A Mask R-CNN model folder (:func:`~unetkit.inference.instance_predictor.maskrcnn_model_dir`) gets its
    :class:`~unetkit.inference.instance_predictor.InstancePredictor` from ``load_instance_predictor``, as
    ``unetkit predict`` does: one per TTA setting (only "none" loads; the others are its error), the tile
    size ignored (a detector tiles by its own rule). Predictors are stateless during ``predict`` (the
    options are fixed at construction), so one instance serves concurrent threads. ``on_load(predictor)``
    is called with each predictor once it is loaded, before its first use (the worker pool scopes a Mask
    R-CNN's torch threads there). A semantic predictor's ``progress`` is :func:`check_cancelled`:
    a cancelled job stops after its current batch of tiles.
    """

    def __init__(
        self,
        model: str | Path,
        backend: str = "torch",
        backend_options: dict[str, Any] | None = None,
        max_size: int = 4,
        on_load: Callable[[Any], None] | None = None,
    ) -> None:
        from unetkit.inference.instance_predictor import maskrcnn_model_dir

        self.model = str(model)
        self.backend = backend
        self.backend_options = dict(backend_options or {})
        self.max_size = max_size
        self.on_load = on_load
        self.maskrcnn = maskrcnn_model_dir(self.model) is not None
        self._cache: OrderedDict[tuple[str, int | None], Any] = OrderedDict()
        self._lock = threading.Lock()

    def _load(self, augmentation: str, tile_size: int | None) -> Any:
        """A new predictor for ``get`` (a Mask R-CNN's or a semantic model's), handed to ``on_load``."""
        from unetkit.inference.backends import load_predictor
        from unetkit.inference.instance_predictor import load_instance_predictor

        tta = _TTA_VALUES[augmentation]
        predictor: Any
        if self.maskrcnn:
            predictor = load_instance_predictor(
                self.model, MASKRCNN, backend=self.backend, tta=tta, **self.backend_options
            )
        else:
            options = {"progress": _cancel_point, **self.backend_options}
            predictor = load_predictor(
                self.model, backend=self.backend, tile_size=tile_size, tta=tta, **options
            )
        if augmentation == "model":
            from unetkit.inference.tta import use_scored_tta

            use_scored_tta(predictor)
        if self.on_load is not None:
            self.on_load(predictor)
        return predictor

    def get(self, augmentation: str = "none", tile_size: int | None = None) -> Any:
        """The predictor for a TTA setting ("none", "flips", "d4") and tile size, built once and kept."""
        key = (augmentation, None if self.maskrcnn else tile_size)
        with self._lock:
            predictor = self._cache.get(key)
            if predictor is None:
                predictor = self._load(augmentation, tile_size)
                self._cache[key] = predictor
                while len(self._cache) > self.max_size:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(key)
            return predictor


def _public_message(exc: Exception, path: Path, filename: str) -> str:
    # read_image names the file it read: show the client its own file name, not the server's temp path.
    return str(exc).replace(str(path), filename).splitlines()[0]


# zlib level 1 instead of Pillow's 6: the server encodes these PNGs on every request, and level 1 is about 3x
# faster for files about 10 % larger (512 x 512 overlay: 43 ms instead of 138 ms on the 2-core CPU).
PNG_LEVEL = 1


def _save_input_png(path: Path, image: np.ndarray) -> None:
    from unetkit.viz.overlay import display_image

    if image.shape[2] != 1:  # RGB, or 2 / 4+ channels shown as display_image composes them
        save_rgb_png(path, display_image(image), compress_level=PNG_LEVEL)
        return
    # writers has no 8-bit gray writer; PIL encodes, unetkit.files makes the write atomic.
    pil = Image.fromarray(image[..., 0])
    atomic_write(path, lambda fh: pil.save(fh, format="PNG", compress_level=PNG_LEVEL))


def _save_instance_views(folder: Path, labels: np.ndarray) -> None:
    """``instances_color.png`` (each instance in its colour on black) and ``outlines.png`` (RGBA, the
    outlines alone), in the colours and outline pixels of the overlay
    (:func:`unetkit.viz.instances.draw_instance_outlines`), so page, overlay and downloads agree."""
    from skimage.segmentation import find_boundaries

    from unetkit.viz.instances import instance_colors

    top = int(labels.max()) if labels.size else 0
    colors = instance_colors(top)[labels]
    save_rgb_png(folder / RESULT_FILES["instances_color"], colors, compress_level=PNG_LEVEL)
    edge = find_boundaries(labels, mode="inner") & (labels > 0)
    rgba = np.zeros((*labels.shape, 4), dtype=np.uint8)
    rgba[edge, :3] = colors[edge]
    rgba[edge, 3] = 255
    pil = Image.fromarray(rgba, mode="RGBA")
    atomic_write(
        folder / RESULT_FILES["outlines"],
        lambda fh: pil.save(fh, format="PNG", compress_level=PNG_LEVEL),
    )


def _instancer(predictor: Any, opts: RequestOptions) -> InstancePredictor | None:
    """The instance predictor of a request: a Mask R-CNN's own (always: its instances are its prediction,
    as ``unetkit predict`` writes them for such a model) with the request's thresholds, a semantic model's
    ``instances`` method, or None; options that do not fit the model are a :class:`JobError` 422."""
    from unetkit.inference.instance_predictor import instance_predictor_for

    if isinstance(predictor, InstancePredictor):
        if opts.instances not in ("none", AUTO, MASKRCNN):
            raise JobError(
                422,
                f"instances={opts.instances} needs a semantic model; a Mask R-CNN takes maskrcnn (or auto)",
            )
        if opts.probs:
            raise JobError(422, f"a {predictor.method} model gives no class probabilities; drop probs=true")
        given = {} if opts.score_threshold is None else {"score_threshold": opts.score_threshold}
        given |= {} if opts.min_size is None else {"min_size": opts.min_size}
        try:
            # Same loaded model, other post-processing: no reload per request.
            return predictor.with_params(**given)
        except ValueError as exc:
            raise JobError(422, str(exc).splitlines()[0]) from exc
    if opts.score_threshold is not None:
        raise JobError(422, "score_threshold applies to Mask R-CNN models; this is a semantic model: drop it")
    if opts.instances == "none":
        return None
    try:
        # The API checked the name; this is where "auto" meets a model config whose recorded method is broken.
        return instance_predictor_for(predictor, opts.instances, min_size=opts.min_size)
    except ValueError as exc:
        raise JobError(422, f"instances={opts.instances}: {exc}".splitlines()[0]) from exc


def run_job(
    cache: PredictorCache,
    job: Job,
    cancelled: Callable[[], bool] | None = None,
    progress: ProgressReport | None = None,
) -> dict[str, Any]:
    """Segment ``job`` and write its files into ``job.folder``; returns the JSON summary (no links).

    ``cancelled()`` (None: never) is checked before decoding, after every batch of tiles and before writing;
    once it is true the job stops there. ``progress(stage, tiles_done, tiles_total)`` (None: the one of an
    enclosing :func:`reporting_to`, else nobody) is called as each stage of :data:`STAGES` after "queued"
    begins and after every batch of tiles.

    Raises:
        JobError: 422 for an upload that cannot be decoded (corrupt, truncated, wrong channel count,
            unsupported pixel type) or options that do not fit the model.
        JobCancelled: ``cancelled()`` became true; nothing is left in ``job.folder``.
    """
    _CURRENT.cancelled = cancelled
    try:
        with reporting_to(progress):
            check_cancelled()  # given up while it waited for a worker
            return _run_job(cache, job)
    finally:
        _CURRENT.cancelled = None


def _run_job(cache: PredictorCache, job: Job) -> dict[str, Any]:
    from unetkit.data.io import read_raw_image
    from unetkit.inference.batch import model_image
    from unetkit.inference.writers import (
        class_fractions,
        instances_suffix,
        save_instances_png,
        save_mask_png,
        save_probs,
    )
    from unetkit.viz.overlay import prediction_overlay, untinted_class

    start = time.perf_counter()
    report_progress("decoding")  # the predictor's first load, if any, counts as reading the upload
    opts = job.options
    try:
        predictor = cache.get(opts.tta, opts.tile_size)
    except ValueError as exc:
        raise JobError(422, f"invalid options for this model: {exc}") from exc
    # Resolved before decoding: options the model cannot use cost no prediction.
    instancer = _instancer(predictor, opts)
    # What the image is read for: a Mask R-CNN's own description, else the semantic model's config.
    model = predictor if isinstance(predictor, InstancePredictor) else predictor.config
    names, palette = served_classes(predictor)
    k = len(names)
    folder = Path(job.folder)
    with atomic_dir(folder) as tmp:
        # Named after the client's file: the reader's log lines (an alpha channel dropped) then name it.
        stem = re.sub(r"[^\w.-]", "_", Path(job.filename).stem)[:64]
        upload = tmp / f"upload-{stem}{job.suffix}"
        atomic_write_bytes(upload, job.data)
        try:
            # As `unetkit predict` reads it: gray <-> RGB converted to the model's channels (one home).
            stored = read_raw_image(upload)
            channels_in = int(stored.shape[2])
            image, converted, window_note = model_image(
                stored, upload, model.in_channels, model.intensity_window
            )
        except ValueError as exc:
            raise JobError(422, _public_message(exc, upload, job.filename)) from exc
        finally:
            upload.unlink(missing_ok=True)
        decoded = time.perf_counter()
        check_cancelled()
        # The total before the first tile runs: a client sees "0 of N" at once, not only after a batch.
        tiles = _tiles_total(predictor, image)
        report_progress("predicting", 0, tiles)
        labels: np.ndarray | None = None
        count: int | None = None
        try:
            # As `unetkit predict` (predict_files): an instance predictor gives mask, probs and instances.
            if instancer is not None:
                out = instancer.predict(image)
                mask, probs, labels, count = out.mask, out.probs, out.labels, out.count
            else:
                mask, probs = predictor.predict(image)
        except ValueError as exc:  # e.g. a fixed-input-size model and an image of another size
            raise JobError(422, f"{job.filename}: {exc}".splitlines()[0]) from exc
        check_cancelled()  # a Mask R-CNN and the instance post-processing have no tiles to check between
        predicted = time.perf_counter()
        report_progress("writing", tiles, tiles)
        notes = [f"{job.filename}: {window_note}"] if window_note else []
        if labels is not None:
            if instances_suffix(labels) == ".png":
                save_instances_png(tmp / RESULT_FILES["instances"], labels)
            else:  # the colour views and the count still come back
                notes.append(
                    f"{job.filename}: {int(count or 0)} objects, more than a 16-bit instances.png holds "
                    "(65535), so it is not written; unetkit predict writes them as a 32-bit TIFF"
                )
            _save_instance_views(tmp, labels)
        _save_input_png(tmp / RESULT_FILES["input"], image)
        save_mask_png(tmp / RESULT_FILES["mask"], mask, num_classes=k, palette=palette)
        rgb = prediction_overlay(image, mask, palette, opts.alpha, labels, background=untinted_class(names))
        save_rgb_png(tmp / RESULT_FILES["overlay"], rgb, compress_level=PNG_LEVEL)
        if opts.probs and probs is not None:  # None only for Mask R-CNN, refused with probs by _instancer
            save_probs(tmp / RESULT_FILES["probs"], probs, "npy", np.float16)
        fractions = class_fractions(mask, k)
        pixels = np.bincount(mask.ravel(), minlength=k)[:k]
    done = time.perf_counter()
    files = [kind for kind, name in RESULT_FILES.items() if (folder / name).is_file()]
    return {
        "filename": job.filename,
        "width": int(mask.shape[1]),
        "height": int(mask.shape[0]),
        "channels": int(image.shape[2]),
        # The upload's own channel count when it was converted gray <-> RGB for the model, else absent.
        **({"converted_from_channels": channels_in} if converted else {}),
        # Said, not fixed: an upload whose values are far outside the model's intensity window (an 8-bit
        # image for a model trained on 16-bit ones) is segmented as it is; absent when all is well.
        # So is an instance count past what instances.png holds.
        **({"warnings": notes} if notes else {}),
        "classes": [
            {
                "index": i,
                "name": names[i],
                "color": "#{:02x}{:02x}{:02x}".format(*(int(c) for c in palette[i])),
                "fraction": float(fractions[i]),
                "pixels": int(pixels[i]),
            }
            for i in range(k)
        ],
        # The method that ran ("auto" resolved); options.instances keeps what was asked for.
        "instances": None if instancer is None else {"method": instancer.method, "count": int(count or 0)},
        "options": asdict(opts),
        # The views averaged ("none" for one pass): options.tta "model" resolved to what the run scored with.
        "tta": ",".join(getattr(getattr(predictor, "predictor", predictor), "tta", ()) or ()) or "none",
        "files": files,
        "timing_ms": {
            "decode": round((decoded - start) * 1000, 2),
            "predict": round((predicted - decoded) * 1000, 2),
            "write": round((done - predicted) * 1000, 2),
            "job": round((done - start) * 1000, 2),
        },
    }


# ``instances`` of a Mask R-CNN model: its instances are its prediction, returned whatever ``instances`` says
# (none included, the API's default), as ``unetkit predict`` writes them for such a model.
MASKRCNN_INSTANCES: dict[str, Any] = {
    "choices": ["none", AUTO, MASKRCNN],
    "auto": MASKRCNN,
    "own": True,
    "default": AUTO,
}


def _auto_choice(predictor: Any, requested: str) -> Any:
    """What backend auto chose for a semantic predictor it loaded, else None."""
    if requested != "auto" or isinstance(predictor, InstancePredictor):
        return None
    # Imported only here: auto_backend is loaded already when it loaded this predictor.
    from unetkit.inference.auto_backend import chosen_backend

    return chosen_backend(predictor)


def served_backend(predictor: Any, requested: str) -> str:
    """The engine a loaded predictor runs on: torch for a Mask R-CNN (its only engine), what backend auto
    chose for it (:func:`unetkit.inference.auto_backend.chosen_backend`), else the backend it was loaded
    with (``requested``)."""
    if isinstance(predictor, InstancePredictor):
        return "torch"
    choice = _auto_choice(predictor, requested)
    return requested if choice is None else str(choice.backend)


def served_device(predictor: Any) -> str:
    """The device a loaded predictor runs on: a torch model's (semantic or Mask R-CNN), else "cpu" (the
    onnxruntime and OpenVINO backends run on the CPU only)."""
    engine = getattr(predictor, "detector", predictor)  # a Mask R-CNN instance predictor wraps its detector
    device = getattr(engine, "device", None)
    return "cpu" if device is None else str(device)


def _served_precision(predictor: Any, requested: str) -> str | None:
    """The engine's precision in ``GET /api/model``: auto's choice, an OpenVINO predictor's, else None."""
    choice = _auto_choice(predictor, requested)
    if choice is not None:
        return str(choice.precision)
    precision = getattr(predictor, "precision", None)  # the OpenVINO predictor's fp32 / bf16 / int8
    return precision if isinstance(precision, str) else None


def model_summary(cache: PredictorCache) -> dict[str, Any]:
    """What ``GET /api/model`` returns: architecture, backend and device, classes with colours, channels,
    normalisation, geometry (None for a Mask R-CNN: any size, it resizes and tiles by its own rule).

    ``backend`` is the engine that runs (:func:`served_backend`: with ``--backend auto``, the one auto
    chose), ``backend_requested`` the server's option, ``precision`` the engine's (fp32, bf16, int8, amp)
    where known, else None.

    Run in the worker (thread or process) like a job: the predictor knows the network's real geometry, the
    engine auto chose and the device it was put on.
    """
    predictor = cache.get()
    names, palette = served_classes(predictor)
    served = {
        "backend": served_backend(predictor, cache.backend),
        "backend_requested": cache.backend,
        "precision": _served_precision(predictor, cache.backend),
        "device": served_device(predictor),
        "classes": [
            {
                "index": i,
                "name": name,
                "color": "#{:02x}{:02x}{:02x}".format(*(int(c) for c in palette[i])),
            }
            for i, name in enumerate(names)
        ],
    }
    if isinstance(predictor, InstancePredictor):
        saved: dict[str, Any] = getattr(predictor, "config", None) or {}  # a Mask R-CNN's config.json
        return {
            "architecture": saved.get("architecture", MASKRCNN),
            "model_kwargs": saved.get("model_kwargs") or {},
            **served,
            "in_channels": predictor.in_channels,
            "num_classes": len(names),
            "mean": saved.get("mean"),
            "std": saved.get("std"),
            "intensity_window": predictor.intensity_window,
            "input_size": saved.get("input_size"),
            # params: the thresholds a request without its own gets (fit-maskrcnn's choice on val, else 0.5).
            "instances": {
                **MASKRCNN_INSTANCES,
                "choices": list(MASKRCNN_INSTANCES["choices"]),
                "params": dict(predictor.params),
            },
            "geometry": None,
        }
    config = predictor.config
    geometry = predictor.geometry
    return {
        "architecture": config.architecture,
        "model_kwargs": config.model_kwargs,
        **served,
        "in_channels": config.in_channels,
        "num_classes": config.num_classes,
        "mean": config.mean,
        "std": config.std,
        "intensity_window": config.intensity_window,
        "input_size": config.input_size,
        "instances": instance_choices(config, predictor),
        # As config.json's geometry, plus what a client needs to pad an image itself: sides of at least
        # min_pass_side; a padded net pads its input up to a multiple of pad_multiple on its own.
        "geometry": {
            "size_divisor": geometry.size_divisor,
            "border": geometry.border,
            "fixed_input_size": list(geometry.fixed_input_size) if geometry.fixed_input_size else None,
            "pad_multiple": geometry.pad_multiple,
            "min_pass_side": geometry.min_pass_side,
        },
    }


def instance_choices(config: Any, predictor: Any = None) -> dict[str, Any]:
    """What the served model offers for ``instances`` (``GET /api/model``'s ``instances``).

    ``choices``: "none", "auto" and the registered methods that fit the model
    (:func:`~unetkit.inference.instance_predictor.fitting_methods`) and, given the loaded ``predictor``, run
    on it (:func:`_runs_on`: ``boundary`` "fits" any model of 3 or more classes by its class count, yet
    needs exactly two foreground classes, so an 11-class street-scene model would fail every request);
    ``auto``: the method "auto" runs (:func:`~unetkit.inference.instance_predictor.resolve_method`, the rule
    of ``unetkit predict``), None when the model's recorded method is unusable (a request with auto then
    gets the reason); ``own``: the model records a method of its own (``extra.instance_method``, written by
    ``unetkit fit DIR --target ...``), so the page offers auto first; ``default``: what a request that names
    no method gets, and what the page preselects: "auto" for a model with its own method, else "none" (an
    instance count of a semantic model's foreground, all classes but the first merged, means nothing).
    """
    from unetkit.inference.instance_predictor import fitting_methods, resolve_method

    try:
        auto: str | None = resolve_method(AUTO, config)
    except ValueError:
        auto = None
    methods = fitting_methods(config)
    if predictor is not None:
        methods = [name for name in methods if _runs_on(predictor, name)]
        if auto is not None and auto not in methods:
            auto = None
    recorded = (getattr(config, "extra", None) or {}).get("instance_method")
    own = bool(recorded) and auto is not None
    return {
        "choices": ["none", AUTO, *methods],
        "auto": auto,
        "own": own,
        "default": AUTO if own else "none",
    }


def _runs_on(predictor: Any, method: str) -> bool:
    """Whether instance ``method`` runs on ``predictor``'s classes: tried on an empty 4 x 4 mask, since a
    method checks its classes only when it runs (a plugin's method as well)."""
    from unetkit.inference.instance_predictor import instance_predictor_for
    from unetkit.inference.instances import DEFAULT_MIN_DISTANCE

    try:
        # A probe, not a request: the seed distance given keeps an untuned watershed's "runs with its
        # defaults" line out of the server's start-up log (a trial read it as advice for its model).
        instancer = instance_predictor_for(predictor, method, min_distance=DEFAULT_MIN_DISTANCE)
        instancer.labels_from_prediction(np.zeros((4, 4), dtype=np.int64), None)
    except ValueError:
        return False
    return True


def check_choice(value: str, choices: Sequence[str], name: str) -> str:
    """``value`` if it is one of ``choices``, else :class:`JobError` 422 listing them."""
    if value not in choices:
        raise JobError(422, f"{name} must be one of {', '.join(choices)}; got {value[:40]!r}")
    return value
