"""``unetkit predict MODEL INPUT... --out DIR``: segment images with a trained model.

MODEL is a run folder, a ``.ckpt``, or a folder with ``model.safetensors`` + ``config.json`` (PyTorch
backend), or a folder with ``model.onnx`` + ``config.json`` (``--backend onnxruntime``; that path never
imports torch). INPUT are files, folders (their images; with ``--recursive`` also those of their sub-folders,
written to mirrored sub-folders: ``masks/day1/x.png``) or glob patterns. Hidden files and folders are skipped.

Gray images for a model trained on RGB are given to it as RGB (gray replicated), RGB images for a gray model
as gray (ITU-R 601 luma); one line says how many. Other channel counts are an error naming the file. An
image whose stored values are far outside the model's intensity window (an 8-bit image for a model trained
on 16-bit ones) is segmented as it is, with a note naming it (and a ``window_note`` column in summary.csv).

Outputs under ``--out``: ``masks/<name>.png`` (palette PNG, pixel value = class index),
``overlays/<name>.png``, ``probs/<name>.npy|.tif`` (``--probs``), ``instances/<name>.png`` (16-bit; ``.tif``,
32-bit, past 65535 objects; ``--instances``), ``outlines/<name>.geojson`` (``--outlines``), ``summary.csv``
and, with ``--masks``, ``metrics.json`` + ``metrics.md``. Masks
(``--masks``) and regions of interest (``--roi``) pair with the images as ``fit`` pairs them (same stem, a
suffix such as ``_mask``, or DRIVE's ``21_manual1`` for ``21_training``). Outside an image's ROI its mask is
void (255).

A georeferenced input (a GeoTIFF) also gets ``masks/<name>.tif``: the same mask carrying the input's GeoTIFF
tags, which GIS tools overlay on the image (void outside ``--roi`` is its nodata).

``--instances auto`` uses the model's own instance method (recorded by ``unetkit fit DIR --target ...``;
connected components otherwise); it is the default for a model whose config records its method (trained
on instance labels); ``--instances none`` turns it off. A Mask R-CNN model (``unetkit fit-maskrcnn``) always
writes ``instances/``; its mask is ``labels > 0`` and its overlay outlines every instance.

Exit codes: 0 every input succeeded; 2 usage or model error, or every input failed (nothing segmented, no
output folder left); 3 some inputs failed (each named on stderr with its error), the others completed.

The work is done by :func:`unetkit.inference.batch.predict_files`; this module parses arguments and owns the
console (progress bar, error lines, the metrics table).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from unetkit.cli.console import LazyBar, report_failure, report_unmatched, unmatched_reason
from unetkit.constants import EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, IGNORE_INDEX, OVERLAY_ALPHA
from unetkit.inference.tiling import DEFAULT_BATCH_SIZE, DEFAULT_BLEND, DEFAULT_OVERLAP

# An image predicted in at least this many tiles (all TTA views together) gets a bar of its own, "tiles of
# NAME", under the images bar; fewer tiles are over too soon for a bar to tell anything.
TILE_BAR_MIN_TILES = 9
# --precision: auto leaves it to the backend (fp32, --amp's mixed one, or what backend auto picks).
PRECISIONS = ("auto", "fp32", "bf16")
PRECISION_BACKENDS = ("torch", "openvino")


class TtaSet(argparse.Action):
    """``--tta [SET]``: refuses, as it is read, a SET that is an input rather than a set name (``--tta
    image.png`` would take the image for the set, and argparse then said "required: INPUT" or the set name was
    wrong); other unknown names are left to :func:`check_options`, which lists the views."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        if isinstance(values, str) and _looks_like_input(values):
            raise argparse.ArgumentError(
                self,
                f"takes a set name (d4, flips, none, or views such as identity,hflip), not the input "
                f"{values}; put --tta after the inputs, or write --tta=d4",
            )
        setattr(namespace, self.dest, values)


def _looks_like_input(value: str) -> bool:
    """Whether ``--tta``'s value is an input (an existing path, a glob, a file name): not a set name."""
    from unetkit.inference.tta import resolve_tta

    try:
        resolve_tta(value)
        return False  # a set name, even where a file of that name exists
    except ValueError:
        pass
    return Path(value).exists() or any(c in value for c in "/\\*?[.")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``predict`` subcommand."""
    from unetkit.cli.console import help_description

    p = sub.add_parser(
        "predict",
        help="segment images with a trained model (tiling, TTA, overlays, instances, metrics)",
        description=help_description(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, metavar="MODEL", help="run folder, .ckpt, or model folder")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    p.add_argument("--out", "-o", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--recursive", action="store_true",
        help="also read the images of folder INPUTs' sub-folders (outputs mirror them: masks/day1/x.png)",
    )  # fmt: skip
    from unetkit.inference.backends import list_backends
    from unetkit.inference.instance_predictor import list_instance_predictor_methods
    from unetkit.inference.writers import PROB_FORMATS

    p.add_argument(
        "--backend", choices=list_backends(), default="auto",
        help="inference engine; default auto: on a CPU the fastest verified exported one (timed once, "
        "cached beside the model), else torch",
    )  # fmt: skip
    p.add_argument(
        "--device", default="auto",
        help="torch device: cpu, cuda, cuda:1 or auto (default auto: cuda when torch sees a GPU, else cpu)",
    )  # fmt: skip
    p.add_argument(
        "--tile-size", type=int, default=None, metavar="N",
        help="input tile side in pixels; default: one pass over the whole image, or 512 px tiles for "
        "images above 1 megapixel (so large images never run out of memory)",
    )  # fmt: skip
    p.add_argument(
        "--overlap",
        type=float,
        default=DEFAULT_OVERLAP,
        help="tile overlap fraction in [0, 1) (default 0.25)",
    )
    p.add_argument(
        "--blend",
        choices=("gaussian", "uniform"),
        default=DEFAULT_BLEND,
        help="tile blending (default gaussian)",
    )
    p.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="tiles per forward pass (default 4)"
    )
    p.add_argument(
        "--tta", nargs="?", const="d4", default=None, metavar="SET", action=TtaSet,
        help="test-time augmentation: bare --tta = d4, the 8 flips/rotations; 'flips'; names like "
        "identity,hflip; 'none' (default: what the run scored the model with, e.g. the mirror image for "
        "street scenes); a bare --tta goes after the inputs",
    )  # fmt: skip
    p.add_argument("--amp", action="store_true", help="mixed precision forward passes (torch backend)")
    p.add_argument(
        "--precision", choices=PRECISIONS, default="auto",
        help="precision of --backend torch or openvino: fp32, or bf16 (a CPU with native bf16, AVX512_BF16 "
        "or AMX, or a GPU with bf16); default auto: fp32 (--amp: mixed), or what --backend auto picks",
    )  # fmt: skip
    p.add_argument(
        "--probs",
        choices=PROB_FORMATS,
        default="none",
        help="write probability maps (default none)",
    )
    p.add_argument(
        "--mask-values", choices=("class", "stored"), default="class",
        help="values in masks/: the class index (default) or the value each class had in the training masks "
        "(a model trained on masks storing e.g. 0, 10, 20 ..., or binary 0/255)",
    )  # fmt: skip
    p.add_argument(
        "--probs-dtype",
        choices=("float16", "float32"),
        default="float16",
        help="for --probs npy and tiff (default float16)",
    )
    p.add_argument(
        "--overlay",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="colour overlay PNG (default on)",
    )
    p.add_argument(
        "--alpha", type=float, default=OVERLAY_ALPHA, help=f"overlay colour weight (default {OVERLAY_ALPHA})"
    )
    p.add_argument(
        "--instances", choices=("none", *list_instance_predictor_methods()), default=None,
        help="write instance labels (16-bit PNG) and count them; auto: the model's own method (Mask R-CNN, "
        "the method it was trained for, else components); default: auto for a model trained on instance "
        "labels (its config records its method) or a Mask R-CNN, else none; none: no instances",
    )  # fmt: skip
    p.add_argument(
        "--outlines", action="store_true",
        help="with instances, also each instance's outline as GeoJSON in outlines/ (pixel coordinates; "
        "QuPath imports it as detections)",
    )  # fmt: skip
    p.add_argument(
        "--foreground", type=int, nargs="+", default=None, metavar="CLASS",
        help="classes forming instances (default: every class but 0)",
    )  # fmt: skip
    p.add_argument(
        "--min-size", type=int, default=None,
        help="drop instances smaller than this (pixels; default: the value fit chose on validation images "
        "for the model's own method, else 0)",
    )  # fmt: skip
    p.add_argument(
        "--min-distance", type=int, default=None,
        help="watershed: min distance between seeds (default: as chosen by fit, else 5)",
    )  # fmt: skip
    p.add_argument(
        "--score-threshold", type=float, default=None, metavar="P",
        help="Mask R-CNN: keep detections scoring at least P (default: the value fit-maskrcnn chose on "
        "validation images, else 0.5)",
    )  # fmt: skip
    p.add_argument(
        "--masks", type=Path, default=None, metavar="DIR", help="ground truth: score the predictions"
    )
    p.add_argument(
        "--roi", type=Path, default=None, metavar="DIR",
        help="region-of-interest (field-of-view) masks, paired with the images as fit pairs them: outside "
        "them the predicted mask is void (255), instances are dropped and nothing is scored",
    )  # fmt: skip
    p.add_argument(
        "--mask-encoding", choices=("index", "binary"), default=None,
        help="ground-truth values: class indices or binary 0/255 (default: as the run read its masks, "
        "else class indices)",
    )  # fmt: skip
    p.add_argument(
        "--ignore-values", type=int, nargs="*", default=None,
        help="ground-truth values to ignore (default: the run's void values)",
    )  # fmt: skip
    p.add_argument(
        "--ignore-colors", type=rgb_colour, nargs="+", default=None, metavar="R,G,B",
        help="colours of colour (RGB) ground truth to leave out of the scores as void, besides the run's "
        "(e.g. 255,0,255)",
    )  # fmt: skip
    p.add_argument("--isbi", action="store_true", help="also report ISBI pixel and Rand error (binary)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars and no INFO log lines")


def _predictor_options(args: argparse.Namespace, progress: Any = None) -> dict[str, Any]:
    from unetkit.devices import resolve_device

    options: dict[str, Any] = dict(
        device=resolve_device(args.device),
        amp=args.amp,
        tile_size=args.tile_size,
        overlap=args.overlap,
        blend=args.blend,
        batch_size=args.batch_size,
        tta=args.tta or False,
    )
    if args.precision != "auto":  # only then: auto loads as before the option existed
        options["precision"] = args.precision
    if getattr(args, "maskrcnn", False):
        # A detector takes no TTA (--tta none, what it does, was checked up front) and no foreground classes.
        options["tta"] = False
    if progress is not None:  # only then: callers that pass no callback load exactly as before
        options["progress"] = progress
    return options


def build_predictor(args: argparse.Namespace, progress: Any = None) -> Any:
    """The predictor of ``--backend`` (torch imported only by the torch backend): a semantic predictor, or
    an :class:`~unetkit.inference.instance_predictor.InstancePredictor` with ``--instances`` (and always for
    a Mask R-CNN model). ``progress(tiles_done, tiles_total)``: over the tiles of each image (semantic
    models; a Mask R-CNN does not tile)."""
    from unetkit.inference.backends import load_predictor
    from unetkit.inference.instance_predictor import (
        instance_predictor_for,
        load_instance_predictor,
        maskrcnn_model_dir,
    )

    maskrcnn = maskrcnn_model_dir(args.model) is not None
    args.maskrcnn = maskrcnn
    if args.score_threshold is not None and not maskrcnn:
        raise ValueError(f"--score-threshold applies to Mask R-CNN models; {args.model} is a semantic model.")
    if args.instances in (None, "none") and not maskrcnn:
        semantic = load_predictor(args.model, backend=args.backend, **_predictor_options(args, progress))
        if args.instances is None and records_instance_method(semantic):
            # A model trained on instance labels: its own method, as --instances auto (none turns it off).
            args.instances = "auto"
            return instance_predictor_for(
                semantic,
                "auto",
                foreground=args.foreground,
                min_size=args.min_size,
                min_distance=args.min_distance,
            )
        args.instances = "none"
        return semantic
    extra = {} if args.score_threshold is None else {"score_threshold": args.score_threshold}
    if args.instances is None:  # a Mask R-CNN: its own instances, as before
        args.instances = "none"
    return load_instance_predictor(
        args.model,
        "auto" if args.instances in (None, "none") else args.instances,
        backend=args.backend,
        foreground=None if maskrcnn else args.foreground,  # ignored for a Mask R-CNN, with a note
        min_size=args.min_size,
        min_distance=args.min_distance,
        **_predictor_options(args, progress),
        **extra,
    )


# The library's INFO lines on the engine a load runs: backend auto's choice and the engine loaded. Where
# backend auto chose, predict says both in one plain line of its own (engine_note).
_ENGINE_LOGGERS = ("unetkit.inference.auto_backend", "unetkit.inference.backends")
_ENGINE_MESSAGES = ("backend auto ->", "running ")


class _HeldEngineLines(logging.Filter):
    """Holds back (in ``records``) the INFO lines of :data:`_ENGINE_LOGGERS` that name the engine."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO and str(record.msg).startswith(_ENGINE_MESSAGES):
            self.records.append(record)
            return False
        return True


@contextlib.contextmanager
def held_engine_lines() -> Iterator[_HeldEngineLines]:
    """While the predictor loads, the library's lines on its engine are held back, for :func:`engine_note`
    (the filters come off after: ``main`` may run many times in one process)."""
    held = _HeldEngineLines()
    loggers = [logging.getLogger(name) for name in _ENGINE_LOGGERS]
    for log in loggers:
        log.addFilter(held)
    try:
        yield held
    finally:
        for log in loggers:
            log.removeFilter(held)


def _pytorch_hint(choice: Any, model: Path | None) -> str:
    """How to run eager PyTorch instead of the exported engine backend auto chose: ``--backend torch``, or
    for an export folder shipped alone (no ``model.safetensors``: ``--backend torch`` cannot load it) the
    run's ``model/`` folder beside it."""
    from unetkit.inference.auto_backend import model_location
    from unetkit.inference.bench import export_only
    from unetkit.model_files.model_config import weights_beside

    if (
        model is None
        or choice.export_dir is None
        or not export_only(model_location(model), choice.export_dir)
    ):
        return "--backend torch to run PyTorch instead"
    beside = weights_beside(choice.export_dir)
    if beside is not None:
        return (
            f"to run PyTorch instead, predict {beside} --backend torch (this export folder holds no PyTorch "
            "weights)"
        )
    return (
        "PyTorch is not in this export folder: to run it, ship the run's model/ folder beside it and predict "
        "that folder with --backend torch"
    )


def engine_note(predictor: Any, records: Sequence[logging.LogRecord], model: Path | None = None) -> str:
    """One plain console line naming the engine predict runs and why, where backend auto chose it (a trial:
    after ``unetkit export RUN``, plain ``predict RUN`` moved from torch to onnxruntime, said only in INFO log
    lines); '' otherwise, the held ``records`` then logged as they were. Nothing is held under ``-q``.
    ``model``: the MODEL given, whose export folder shipped alone is offered no ``--backend torch``
    (nothing there for it to load). An INT8 engine is said to give results that can differ slightly from
    PyTorch's (a trial: the same ``predict RUN`` counted 43 nuclei instead of 42 after ``export --precision
    int8``)."""
    semantic = getattr(predictor, "predictor", predictor)  # an instance predictor wraps the semantic one
    auto = sys.modules.get("unetkit.inference.auto_backend")  # loaded only where backend auto ran
    choice = auto.chosen_backend(semantic) if auto is not None else None
    from unetkit.inference.batch import engine_of

    engine = engine_of(semantic)
    chose = any(str(r.msg).startswith("backend auto ->") for r in records)
    if choice is None or engine is None or not chose:
        for record in records:
            logging.getLogger(record.name).handle(record)
        return ""
    backend, precision, path = engine
    if choice.backend != "torch":
        int8 = "INT8 results (masks, counts, scores) can differ slightly from PyTorch's; "
        other = "; " + (int8 if "int8" in precision else "") + _pytorch_hint(choice, model)
    elif choice.export_dir is not None:
        other = "; --backend onnxruntime or openvino to run the exported model instead"
    else:
        other = ""
    # The engine as loaded (backend, precision), and why auto chose it: its reason, with the timings.
    return (
        f"engine: backend auto -> {backend} {precision} (the default --backend), running {path}: "
        f"{choice.reason}{other}"
    )


def records_instance_method(predictor: Any) -> bool:
    """Whether a semantic model's config records an instance method (``extra.instance_method``: it was
    trained on instance labels), which ``predict`` then uses by default."""
    extra = getattr(getattr(predictor, "config", None), "extra", None) or {}
    return bool(extra.get("instance_method"))


# What to do about a run config.yaml that cannot be read, for each reason predict reads it.
SCORING_FIX = (
    "repair the file, or pass --mask-encoding KIND (and --ignore-values V if the masks hold void values) to "
    "say how to read the ground truth without it"
)
STORED_VALUES_FIX = "repair the file, or pass --mask-values class to write class indices without it"


def _yaml_reason(exc: Exception) -> str:
    """One line on why a YAML file did not load: the parser's problem and its line, else the first line."""
    import yaml

    mark = getattr(exc, "problem_mark", None)
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem and mark is not None:
        return f"{exc.problem} at line {mark.line + 1}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


def recorded_mask_encoding(config: Any) -> Any:
    """How the model's run read its masks, as its ``config.json`` records it (``extra["mask_encoding"]``,
    written by fit since this record exists); None without a record."""
    from unetkit.data.mask_options import encoding_from_record
    from unetkit.model_files.model_config import MASK_ENCODING

    extra = getattr(config, "extra", None)
    return encoding_from_record(extra.get(MASK_ENCODING)) if isinstance(extra, dict) else None


def run_mask_encoding(model: Path, fix: str = SCORING_FIX) -> Any:
    """How the run that made ``model`` (a run folder, its ``model/`` or a checkpoint in it) read its masks,
    from ``RUN/config.yaml``; None where there is no such run config or it names no folder dataset.

    Raises:
        ValueError: ``RUN/config.yaml`` exists but cannot be read (no YAML, not a mapping, options this
            version rejects), one line naming the file and ``fix``: read as if it were absent, the masks
            would be scored (or written) another way than the run read them, without a word.
    """
    import yaml

    from unetkit.data.mask_options import folder_encoding

    model = Path(model)
    if model.suffix == ".ckpt" and model.parent.name == "checkpoints":
        run = model.parent.parent  # RUN/checkpoints/best.ckpt
    elif model.is_dir() and model.name == "model" and not (model / "config.yaml").is_file():
        run = model.parent  # RUN/model
    else:
        run = model  # RUN
    config = run / "config.yaml"
    if not config.is_file():
        return None

    def unreadable(reason: str) -> ValueError:
        return ValueError(
            f"{config}: the run's config cannot be read to tell how it read its masks ({reason}); {fix}"
        )

    try:
        loaded = yaml.safe_load(config.read_text()) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise unreadable(_yaml_reason(exc)) from None
    data = loaded.get("data") if isinstance(loaded, dict) else None
    if not isinstance(loaded, dict) or not isinstance(data, (dict, type(None))):
        where = "its top level" if not isinstance(loaded, dict) else "its data section"
        raise unreadable(f"{where} is not a mapping")
    data = data or {}
    if data.get("dataset") != "folder":
        return None
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise unreadable("data.options is not a mapping")
    try:
        return folder_encoding(options)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise unreadable(f"data.options: {_yaml_reason(exc)}") from None


def _trained_on_binary(model: Path) -> bool:
    """Whether the run that made ``model`` read its masks as binary 0/255 (``--mask-values stored`` then
    writes 0/255)."""
    encoding = run_mask_encoding(model, STORED_VALUES_FIX)
    return encoding is not None and encoding.kind == "binary"


def _describe(encoding: Any) -> str:
    text = encoding.kind
    if encoding.mapping:
        text += " " + ", ".join(f"{k}->{v}" for k, v in sorted(encoding.mapping.items()))
    if encoding.ignore_values:
        text += f", void {list(encoding.ignore_values)}"
    if encoding.ignore_colors:  # a palette's void: its colours, as the plan's masks line names them
        text += f", void {[list(c) for c in encoding.ignore_colors]}"
    return text + " (--mask-encoding/--ignore-values to read it otherwise)"


def rgb_colour(text: str) -> tuple[int, int, int]:
    """``"255,0,255"`` -> (255, 0, 255): an ``--ignore-colors`` value."""
    parts = text.replace(" ", "").split(",")
    if len(parts) != 3 or not all(p.isdigit() and int(p) <= 255 for p in parts):
        raise argparse.ArgumentTypeError(
            f"{text!r} is no colour: give R,G,B with three values 0-255, e.g. 255,0,255"
        )
    r, g, b = (int(p) for p in parts)
    return r, g, b


def _unknown_colour_fix(colours: tuple[tuple[int, int, int], ...]) -> str:
    """Predict's fix for ground truth holding colours the model's class table lacks: the classes file's fix
    (fit's) does not apply once the model is trained (trial 24: predict reads no classes file)."""
    shown = " ".join(",".join(str(v) for v in c) for c in colours[:5])
    return (
        "the model's classes are fixed by its training: fix the mask, or leave those pixels out of the "
        f"scores with --ignore-colors {shown}"
    )


def _with_ignored_colours(encoding: Any, colours: Sequence[tuple[int, int, int]] | None, model: Path) -> Any:
    """``encoding`` with ``--ignore-colors`` added to its void colours (colour ground truth only)."""
    if not colours:
        return encoding
    if encoding.kind != "palette":
        raise ValueError(
            f"--ignore-colors applies to colour ground truth, and the ground truth for {model} is read as "
            f"{encoding.kind}: leave it out, or give void values with --ignore-values"
        )
    added = tuple(c for c in colours if c not in encoding.ignore_colors)
    return dataclasses.replace(encoding, ignore_colors=(*encoding.ignore_colors, *added))


def _other_kind_fix(encoding: Any, model: Path, from_run: bool) -> str:
    """What to do about a ground-truth mask stored another way than ``encoding`` reads (a colour image for
    class values, a gray one for colours), in the command's words (``GroundTruth.other_kind_fix``)."""
    if from_run and encoding.kind == "palette":
        return (
            f"{model} was trained on colour masks (one RGB colour per class): pass --masks a folder of "
            "colour masks in its classes' colours, or add --mask-encoding index if these masks hold its "
            "class indices"
        )
    if from_run:
        return (
            f"{model} was trained on masks that hold class values ({encoding.kind}), not colours: pass "
            "--masks a folder of masks stored as its training masks were, one class value per pixel"
        )
    return (
        "predict reads these masks as class values (--mask-encoding/--ignore-values given, or no run "
        "folder says how the model's masks were read); colour masks are read by their colours only as the "
        "run that trained the model read them: pass that run's folder as MODEL without "
        "--mask-encoding/--ignore-values, or masks that hold class indices"
    )


def _dataset_folder_hint(folders: Sequence[str]) -> str:
    """For a folder INPUT laid out as a dataset (``images/`` beside ``masks/``, as ``fit`` reads it), the
    command that predicts its images and scores them; '' otherwise. ``--recursive`` would segment the masks
    as if they were photos."""
    import shlex

    from unetkit.data.instances import is_kaggle_layout
    from unetkit.planning.discovery import (
        IMAGE_DIR_NAMES,
        MASK_DIR_NAMES,
        NNUNET_IMAGE_DIR,
        NNUNET_MASK_DIR,
        NNUNET_TEST_DIR,
    )

    for folder in folders:
        if is_kaggle_layout(folder):
            # One folder per image, its nuclei's masks beside it: --recursive would segment every mask.
            pattern = shlex.quote(str(Path(folder) / "*" / "images" / "*.png"))
            return (
                f"{folder} is in Kaggle DSB 2018's layout (<id>/images/, <id>/masks/): predict {pattern} (to "
                f"score them, first: unetkit convert kaggle {shlex.quote(str(folder))} --out OUT)"
            )
        subs = {p.name.lower(): p for p in Path(folder).iterdir() if p.is_dir()}
        train, labels = subs.get(NNUNET_IMAGE_DIR.lower()), subs.get(NNUNET_MASK_DIR.lower())
        if train is not None and labels is not None:  # nnU-Net's raw layout (fit reads it so)
            test = subs.get(NNUNET_TEST_DIR.lower())
            return (
                f"{folder} is in nnU-Net's layout: predict {test or train}"
                + (f" (or {train} --masks {labels} to score the training cases)" if test else
                   f" --masks {labels} to score them")
            )  # fmt: skip
        images = next((subs[n] for n in IMAGE_DIR_NAMES if n in subs), None)
        masks = next((subs[n] for n in MASK_DIR_NAMES if n in subs), None)
        if images is not None and masks is not None:
            return (
                f"{folder} holds a dataset's {images.name}/ and {masks.name}/: predict {images} (add "
                f"--masks {masks} to score them)"
            )
    return ""


def _earlier_outputs(out: Path, names: Sequence[str]) -> int:
    """How many masks in ``out/masks`` belong to no input of this run (an earlier run into the same folder):
    they stay, and summary.csv lists this run's only."""
    masks = out / "masks"
    if not masks.is_dir():
        return 0
    ours = {f"{n}.png" for n in names}
    return sum(1 for p in masks.rglob("*.png") if p.relative_to(masks).as_posix() not in ours)


def _tile_note(args: argparse.Namespace, predictor: Any) -> str:
    """A note when ``--tile-size`` is below the U-Net's receptive field: each tile then sees too little
    context, and predictions change near tile borders (a trial's 33 px tiles changed 3.4 % of the pixels)."""
    config = getattr(getattr(predictor, "predictor", predictor), "config", None)
    kwargs = getattr(config, "model_kwargs", None) or {}
    if (
        args.tile_size is None
        or "depth" not in kwargs
        or not str(getattr(config, "architecture", "")).startswith("unet")
    ):
        return ""
    from unetkit.planning.plan import receptive_field

    field = receptive_field(int(kwargs["depth"]))
    if args.tile_size >= field:
        return ""
    return (
        f"--tile-size {args.tile_size} is below the model's receptive field ({field} px): each tile sees too "
        f"little context and predictions change at tile borders; use at least {field}"
    )


def _unread_note(unread: dict[str, tuple[int, int]]) -> str:
    """One line on the images in sub-folders of folder INPUTs that were not read ('' when there are none)."""
    if not unread:
        return ""
    folders = sum(n for n, _ in unread.values())
    images = sum(n for _, n in unread.values())
    return (
        f"{images} image(s) in {folders} sub-folder(s) of {', '.join(unread)} were not read; add --recursive "
        "to read them"
    )


def _model_notes(args: argparse.Namespace, predictor: Any) -> list[str]:
    """One line per thing the model records that changes what predict writes: the run's TTA, used; the
    stored mask values of its training masks, not written (``--mask-values stored`` writes them)."""
    from unetkit.model_files.model_config import stored_values_of

    notes = []
    if args.scored_tta:
        from unetkit.inference.tta import resolve_tta

        # The trial's surprise: 81 s for one large image with the 8 views, 13 s with --tta none.
        views = len(resolve_tta(args.scored_tta)) or 1
        notes.append(
            f"test-time augmentation {args.scored_tta}, as the run scored this model: {views} forward "
            f"pass(es) per image, about {views}x the time of one (--tta none for one pass)"
        )
    config = getattr(getattr(predictor, "predictor", predictor), "config", None)
    turned = _unseen_views(args, config)
    if turned:
        notes.append(turned)
    values = None if isinstance(config, dict) else stored_values_of(config)
    if values is not None and args.mask_values == "class":
        shown = ", ".join(f"{c}->{v}" for c, v in list(enumerate(values))[:6]) + (
            " ..." if len(values) > 6 else ""
        )
        notes.append(
            f"masks/ hold class indices 0..{len(values) - 1}; the training masks stored other values "
            f"(class->stored: {shown}): add --mask-values stored to write those"
        )
    return notes


def _unseen_views(args: argparse.Namespace, config: Any) -> str:
    """A note when ``--tta`` asks for views upside down or turned of a model whose run found its scenes have
    an up (it scored with the mirror image alone, and trained without such flips): a trial's d4 took 4x the
    time of the run's mirror TTA and scored 1.7 points lower. '' otherwise."""
    from unetkit.inference.tta import keeps_rows, resolve_tta
    from unetkit.model_files.model_config import SCORED_TTA

    extra = getattr(config, "extra", None)
    scored = extra.get(SCORED_TTA) if isinstance(extra, dict) else None
    if args.tta is None or not scored or not keeps_rows(str(scored)):
        return ""
    try:
        asked = resolve_tta(args.tta)
    except ValueError:
        return ""  # check_options names a bad set
    unseen = [name for name in asked if not keeps_rows([name])]
    if not unseen:
        return ""
    return (
        f"--tta views {', '.join(unseen)} turn the image or turn it upside down, but this model's run found "
        f"its scenes have an up: it trained without such views and scored with {scored}; --tta {scored} (or "
        "none) runs what it was scored with"
    )


def _trained_with_roi(predictor: Any) -> bool:
    """Whether the model recorded that it trained inside a region of interest (a semantic model's config, also
    behind an instance predictor)."""
    from unetkit.model_files.model_config import TRAINED_WITH_ROI

    config = getattr(getattr(predictor, "predictor", predictor), "config", None)
    extra = getattr(config, "extra", None) or {}
    return bool(extra.get(TRAINED_WITH_ROI))


def _conversion_note(result: Any) -> str:
    """One line per run on the images converted to the model's channel count, and whether training did so."""
    trained = (
        "as its training converted such images"
        if result.model_converts
        else "its training saw no such images: check these masks"
    )
    names = ", ".join(p.name for p in result.converted[:3]) + (" ..." if len(result.converted) > 3 else "")
    return (
        f"{len(result.converted)} image(s) converted {result.conversion} for the model ({names}); {trained}"
    )


# Window notes printed one per file up to this many; the rest are counted (summary.csv has every one).
WINDOW_NOTES_SHOWN = 5


def _window_notes(notes: Sequence[tuple[Path, str]], out: Path) -> list[str]:
    """One line per image whose values are far outside the model's intensity window (up to
    ``WINDOW_NOTES_SHOWN``), then one line counting the rest."""
    lines = [f"{path}: {why}" for path, why in notes[:WINDOW_NOTES_SHOWN]]
    if len(notes) > WINDOW_NOTES_SHOWN:
        lines.append(
            f"{len(notes) - WINDOW_NOTES_SHOWN} more image(s) are far outside the model's intensity window; "
            f"see the window_note column of {out / 'summary.csv'}"
        )
    return lines


def _option_error(flag: str, exc: Exception) -> ValueError:
    """A library check's refusal of an option value, naming the option as typed."""
    return ValueError(f"{flag}: {exc}")


def check_options(args: argparse.Namespace, maskrcnn: bool) -> Any:
    """Refuse bad option values before any model is loaded, timed or run (one ``ValueError`` line, exit 2),
    through the library's own checks where it has them; returns the :class:`OutputOptions` they give
    (``instances`` set once the model is known). ``maskrcnn``: the model is a Mask R-CNN (cheap to tell:
    its config.json), which takes no TTA and no probabilities."""
    from unetkit.inference.batch import OutputOptions
    from unetkit.inference.tiling import check_overlap
    from unetkit.inference.tta import resolve_tta
    from unetkit.options import check_int, check_positive_int

    if args.tile_size is not None and args.tile_size < 1:
        raise ValueError(f"--tile-size must be >= 1, got {args.tile_size}.")
    try:
        check_overlap(args.overlap)
    except ValueError as exc:
        raise _option_error("--overlap", exc) from None
    check_positive_int(args.batch_size, "--batch-size")
    try:
        tta = resolve_tta(args.tta)
    except ValueError as exc:
        raise _option_error("--tta", exc) from None
    if maskrcnn and tta:
        raise ValueError(
            f"--tta {args.tta}: test-time augmentation is not available for a Mask R-CNN model; drop --tta "
            "(or pass --tta none)."
        )
    _check_precision(args, maskrcnn)
    if args.min_size is not None:
        check_int(args.min_size, "--min-size", minimum=0)
    if args.min_distance is not None:
        check_int(args.min_distance, "--min-distance", minimum=1)
    if args.score_threshold is not None and not 0.0 <= args.score_threshold <= 1.0:
        raise ValueError(f"--score-threshold must be in [0, 1], got {args.score_threshold}.")
    if args.foreground is not None and not maskrcnn:
        _check_foreground(args.foreground, args.model)
    if maskrcnn and args.probs != "none":
        raise ValueError(f"a maskrcnn model gives no class probabilities; drop --probs {args.probs}.")
    if args.outlines and args.instances == "none" and not maskrcnn:
        raise ValueError("--outlines draws instances and --instances none asks for none; drop one of them.")
    if args.masks is None:
        # Options of the scoring without ground truth to score: a forgotten --masks, not options to drop
        # silently (the user expects scores).
        given = [
            option
            for option, value in (
                ("--mask-encoding", args.mask_encoding),
                ("--ignore-values", args.ignore_values),
                ("--ignore-colors", getattr(args, "ignore_colors", None)),
                ("--isbi", args.isbi or None),
            )
            if value is not None
        ]
        if given:
            raise ValueError(
                f"{', '.join(given)} {'says' if len(given) == 1 else 'say'} how to score ground truth, and "
                "no --masks DIR gives it: add --masks DIR (the ground-truth folder), or drop "
                f"{'it' if len(given) == 1 else 'them'}."
            )
    try:
        return OutputOptions(
            probs=args.probs,
            probs_dtype=args.probs_dtype,
            overlay=args.overlay,
            alpha=args.alpha,
            foreground=tuple(args.foreground) if args.foreground is not None else None,
            min_size=args.min_size,
            min_distance=args.min_distance,
            mask_values=args.mask_values,
        )
    except ValueError as exc:
        raise _option_error("--alpha" if "alpha" in str(exc) else "option", exc) from None


def _check_precision(args: argparse.Namespace, maskrcnn: bool) -> None:
    """Refuse a ``--precision`` the backend would not run as asked: only torch and openvino take one (auto
    picks its own by timing, onnxruntime runs the model as exported), and not with ``--amp``. Whether the
    machine has bf16 is the backend's check, when it loads (before any image)."""
    if args.precision == "auto" or maskrcnn:  # a Mask R-CNN ignores it, with a note (_MASKRCNN_IGNORES)
        return
    if args.amp:
        raise ValueError(
            f"--amp and --precision {args.precision} both set the precision; drop one (--amp: float16 on a "
            "GPU, bfloat16 on a CPU)."
        )
    if args.backend not in PRECISION_BACKENDS:
        why = (
            "--backend auto (the default) picks the backend and its precision by timing them"
            if args.backend == "auto"
            else f"--backend {args.backend} runs the model as exported (INT8: name its folder)"
        )
        raise ValueError(
            f"--precision {args.precision} applies to --backend torch or openvino; {why}: add --backend "
            "torch or --backend openvino."
        )


def _model_classes(model: Path) -> list[str] | None:
    """The class names of ``model``'s predicted masks, read from its ``config.json`` without loading it (a
    run, model or export folder, or a file in one); None where there is none (a ``.ckpt``)."""
    from unetkit.inference.batch import class_names_for
    from unetkit.model_files.model_config import ModelConfig

    model = Path(model)
    folders = [model.parent] if model.is_file() else [model, model / "model", model / "export"]
    for folder in folders:
        if (folder / "config.json").is_file():
            try:
                return class_names_for(ModelConfig.load(folder / "config.json"))
            except (OSError, ValueError, TypeError, KeyError):
                return None  # the loader names what is wrong with it
    return None


def _check_foreground(foreground: Sequence[int], model: Path) -> None:
    """Refuse ``--foreground`` classes below 1: class 0 is the background (it would make the whole image's
    background one instance). The upper end is the instance predictor's check, once the model is loaded."""
    bad = [c for c in foreground if c < 1]
    if not bad:
        return
    names = _model_classes(model)
    given = " ".join(str(c) for c in foreground)
    if names is None:
        range_ = "1..K-1 for a model of K classes"
    else:
        k = len(names)
        range_ = f"1..{k - 1} ({', '.join(names[1:])}; class 0 is {names[0]})"
    raise ValueError(
        f"--foreground {given}: class {bad[0]} is not an object class (class 0 is the background); name "
        f"class indices in {range_}."
    )


# Options that tune a semantic model's run or its instances: (attribute, option, default). A Mask R-CNN
# ignores them (it does not tile, and its instances are its own).
_MASKRCNN_IGNORES = (
    ("tile_size", "--tile-size", None),
    ("overlap", "--overlap", DEFAULT_OVERLAP),
    ("blend", "--blend", DEFAULT_BLEND),
    ("batch_size", "--batch-size", DEFAULT_BATCH_SIZE),
    ("amp", "--amp", False),
    ("precision", "--precision", "auto"),
    ("min_distance", "--min-distance", None),
    ("foreground", "--foreground", None),
)


def _maskrcnn_ignored(args: argparse.Namespace) -> str:
    """One note naming the options given for a Mask R-CNN model that do not apply to it ('' when none).
    Ignored rather than refused: a script that passes the same options for every model keeps working, and
    the output is what was asked for; options asking for an output it cannot give (--probs) or another
    instance method are refused."""
    given = [flag for attr, flag, default in _MASKRCNN_IGNORES if getattr(args, attr) != default]
    if args.instances == "none":
        given.append("--instances none")
    if not given:
        return ""
    return (
        f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to a Mask R-CNN model and "
        f"{'is' if len(given) == 1 else 'are'} ignored (it does not tile, and its instances are its own "
        "output: instances/ is always written)"
    )


def _interrupted_line(stop: Any, out: Path) -> str:
    """The one line for a predict interrupted after some images (:class:`PredictInterrupted`)."""
    done, total = len(stop.result.rows), stop.total
    if not stop.written:
        return f"interrupted after {done} of {total} images; nothing was written to {out}"
    line = f"interrupted after {done} of {total} images; {out} holds their outputs (summary.csv lists them)"
    ours = {f"{row.get('output') or Path(row['file']).stem}.png" for row in stop.result.rows}
    masks = out / "masks"
    others = (
        sum(1 for p in masks.rglob("*.png") if p.relative_to(masks).as_posix() not in ours)
        if masks.is_dir()
        else 0
    )
    if others:
        line += f"; its {others} other mask(s) are from an earlier run and not in summary.csv"
    return line


def run(args: argparse.Namespace) -> int:
    """Segment every input; returns 0 (all ok) or 3 (some inputs failed). Model/usage errors raise."""
    from tqdm import tqdm

    from unetkit.data.io import MaskEncoding
    from unetkit.inference.batch import (
        GroundTruth,
        PredictInterrupted,
        find_inputs,
        predict_files,
        skipped_note,
    )
    from unetkit.inference.instance_predictor import maskrcnn_model_dir

    if args.quiet and not getattr(args, "verbose", False):
        # -q: no INFO lines either (backend auto's choice and timing); warnings, errors, notes and the summary
        # still print. Set here: the CLI owns the process's logging.
        logging.getLogger("unetkit").setLevel(logging.WARNING)
    # Every option value is checked before the model is loaded (backend auto times the engines on a first
    # load) and before any image runs.
    maskrcnn = maskrcnn_model_dir(args.model) is not None
    outputs = check_options(args, maskrcnn)
    from unetkit.cli.errors import check_out_folder

    check_out_folder(args.out)
    if args.masks is not None and not args.masks.is_dir():
        raise FileNotFoundError(
            f"--masks {args.masks} is not a folder; pass the folder of ground-truth masks."
        )
    if args.roi is not None and not args.roi.is_dir():
        raise FileNotFoundError(
            f"--roi {args.roi} is not a folder; pass the folder of region-of-interest masks."
        )
    found = find_inputs(args.inputs, recursive=args.recursive)
    files, unmatched = found.files, found.missing
    unread = _unread_note(found.unread)
    dataset_hint = _dataset_folder_hint([p for p in args.inputs if Path(p).is_dir()])
    if not files:
        # A mistyped path or a glob that matches nothing is named as such (as fit and kmeans do), not as a
        # folder without images; an existing folder without images keeps the message below.
        wrong = [unmatched_reason(p) for p in found.missing if not Path(p).exists()]
        if wrong:
            raise ValueError("; ".join(wrong) + ".")
        reason = f"; {dataset_hint or unread}" if unread else " (extensions .png .jpg .tif ...)"
        # A dataset folder's dataset.json or classes.csv is no image to convert: the hint says what to run.
        if found.skipped and not (dataset_hint and unread):
            reason += f"; {skipped_note(found.skipped)}"
        raise ValueError(f"no input images found in {', '.join(args.inputs)}{reason}.")
    # nnU-Net case names are no collision's suffix: they have a note of their own.
    renamed = [] if found.cases else [(f, n) for f, n in zip(files, found.names) if Path(n).name != f.stem]
    if found.cases:
        print(f"note: nnU-Net inputs ({files[0].name}: _0000 is the channel): outputs named after the case "
              f"({found.names[0]}.png), as nnU-Net names its predictions", file=sys.stderr)  # fmt: skip
    if renamed:
        shown = ", ".join(f"{f} -> {n}.png" for f, n in renamed[:3]) + (" ..." if len(renamed) > 3 else "")
        print(f"note: {len(renamed)} input(s) share a name with another and are written with a suffix "
              f"({shown}; summary.csv's output column)", file=sys.stderr)  # fmt: skip
    if dataset_hint and args.recursive:
        print(f"note: {dataset_hint}; --recursive segments its masks too", file=sys.stderr)
    if unread:
        print(f"note: {unread}", file=sys.stderr)
    if found.skipped:
        print(f"note: {skipped_note(found.skipped)}", file=sys.stderr)
    if maskrcnn and _maskrcnn_ignored(args):
        print(f"note: {_maskrcnn_ignored(args)}", file=sys.stderr)
    # The tiles of one large image (minutes for 8192 x 8192 on a CPU), on a bar of their own; the images bar
    # advances only when an image is done.
    # Where no bar is drawn (a pipe, a log file) plain lines, as every bar's: at most every 30 s and at the
    # end (a line at each quarter went quiet for 90 s on a large scene with 8 views).
    tiles = LazyBar(
        "tiles", enabled=not args.quiet, unit="tile", min_total=TILE_BAR_MIN_TILES, lines_unit="tiles"
    )
    with held_engine_lines() as held:
        predictor = build_predictor(args, progress=tiles)
    engine = engine_note(predictor, held.records, args.model)
    if engine:
        print(engine, file=sys.stderr)
    from unetkit.inference.tta import use_scored_tta

    args.scored_tta = use_scored_tta(predictor) if args.tta is None else ""
    ground_truth = None
    if args.masks is not None:
        semantic = getattr(predictor, "predictor", predictor)  # an InstancePredictor wraps the semantic one
        config = getattr(semantic, "config", None)
        if isinstance(config, dict):  # a Mask R-CNN's config.json, as a dict: object or not
            num_classes = len(predictor.class_names)
            ignore_index = int(config.get("ignore_index", IGNORE_INDEX))
        else:
            num_classes = len(predictor.class_names) if config is None else max(config.num_classes, 2)
            ignore_index = IGNORE_INDEX if config is None else config.ignore_index
        encoding = None
        if isinstance(config, dict) and args.mask_encoding is None:
            # A Mask R-CNN learns from instance label images: its ground truth is read as such (0
            # background, every other value one object), so AP50/AP75/mAP are scored as for the U-Nets.
            encoding = MaskEncoding(
                "instances", num_classes=num_classes, ignore_values=tuple(args.ignore_values or ())
            )
            print("ground truth read as instance labels (0 background, each other value one object), "
                  "as a Mask R-CNN is trained (--mask-encoding to read it otherwise)",
                  file=sys.stderr)  # fmt: skip
        elif args.mask_encoding is None and args.ignore_values is None:
            encoding = run_mask_encoding(args.model)
            source = "the run read its masks"
            if encoding is None:
                # No run folder (a model/ or export/ folder shipped alone): the record its config.json keeps.
                encoding = recorded_mask_encoding(config)
                source = "the model's run read its masks (its config.json)"
            if encoding is not None and encoding.num_classes != num_classes:
                encoding = None  # not this model's classes (a config edited by hand): read as given
            if encoding is not None:
                encoding = _with_ignored_colours(encoding, args.ignore_colors, args.model)
                print(f"ground truth read as {source}: {_describe(encoding)}", file=sys.stderr)
        from_run = encoding is not None
        if encoding is None:
            encoding = MaskEncoding(
                args.mask_encoding or "index",
                num_classes=num_classes,
                ignore_values=tuple(args.ignore_values or ()),
            )
        encoding = _with_ignored_colours(encoding, args.ignore_colors, args.model)
        ground_truth = GroundTruth(
            args.masks, encoding, ignore_index=ignore_index, isbi=args.isbi,
            other_kind_fix=_other_kind_fix(encoding, args.model, from_run),
            unknown_colour_fix=_unknown_colour_fix,
        )  # fmt: skip
    if args.outlines and args.instances == "none" and not maskrcnn:
        raise ValueError(
            f"--outlines draws instances and {args.model} predicts none by default: add --instances auto "
            "(or components, watershed)"
        )
    outputs = dataclasses.replace(
        outputs,
        instances=args.instances,
        outlines=args.outlines,
        foreground=None if maskrcnn else outputs.foreground,
        binary_masks=args.mask_values == "stored" and _trained_on_binary(args.model),
    )
    for line in [*_model_notes(args, predictor), _tile_note(args, predictor)]:
        if line:
            print(f"note: {line}", file=sys.stderr)
    earlier = _earlier_outputs(args.out, found.names)
    failures = report_unmatched(unmatched)
    with tqdm(total=len(files), desc="predict", unit="img", disable=True if args.quiet else None) as bar:

        def advance(done: int, total: int) -> None:
            tiles.close()  # an image that failed halfway leaves no bar of its tiles behind
            bar.update(1)
            if done < total:
                tiles.desc = f"tiles of {files[done].name}"

        tiles.desc = f"tiles of {files[0].name}"
        interrupted = None
        try:
            result = predict_files(
                predictor,
                files,
                args.out,
                outputs=outputs,
                ground_truth=ground_truth,
                on_error=report_failure,
                progress=advance,
                names=found.names,
                roi=args.roi,
            )
        except PredictInterrupted as exc:
            interrupted = exc
        finally:
            tiles.close()
    if interrupted is not None:
        # The completed images have their summary.csv (and metrics): say what the folder holds.
        print(_interrupted_line(interrupted, args.out), file=sys.stderr)
        return int(getattr(interrupted, "exit_code", EXIT_INTERRUPTED))
    if result.converted:
        print(f"note: {_conversion_note(result)}", file=sys.stderr)
    if _trained_with_roi(predictor) and args.roi is None:
        print(f"note: {args.model} was trained only on the pixels inside a region of interest (its roi/ "
              "or fov/ folder): the predictions cover whole images, and outside such a region they were "
              "never trained for; pass --roi DIR (your field-of-view masks) to leave them out",
              file=sys.stderr)  # fmt: skip
    for line in _window_notes(result.window_notes, args.out):
        print(f"note: {line}", file=sys.stderr)
    if result.unscored:
        names = ", ".join(p.name for p in result.unscored[:3]) + (" ..." if len(result.unscored) > 3 else "")
        print(f"note: {len(result.unscored)} image(s) have no mask in {args.masks} ({names}): segmented, not "
              "scored", file=sys.stderr)  # fmt: skip
    for image, why in result.unread_truth:
        print(f"note: {why}; {image} segmented, not scored", file=sys.stderr)
    if result.table is not None:
        print(f"metrics over {result.scored} image(s):\n{result.table}")
    failures += len(result.failures)
    if not result.rows:
        # Nothing segmented: a usage/input error (exit 2), and predict_files left no output folder.
        print(f"error: all {failures} input(s) failed (see above); nothing was written to {args.out}",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    method = getattr(predictor, "method", None)  # an InstancePredictor: say which method "auto" chose
    if method is not None:
        params = ", ".join(f"{k} {v}" for k, v in predictor.params.items())
        print(f"instances: {method} ({params})")
    if args.masks is None and (args.out / "metrics.json").is_file():
        print(f"note: {args.out / 'metrics.json'} (and metrics.md) are an earlier run's scores: this run "
              "scored nothing (no --masks)", file=sys.stderr)  # fmt: skip
    if result.removed:
        shown = ", ".join(p.relative_to(args.out).as_posix() for p in result.removed[:3]) + (
            " ..." if len(result.removed) > 3 else ""
        )
        stale = (f"removed {len(result.removed)} earlier output(s) of this run's images that this run did "
                 f"not write ({shown})")  # fmt: skip
    else:
        stale = ""
    if earlier or stale:
        other = (f"{args.out} also holds the outputs of {earlier} other image(s) from an earlier run; "
                 "summary.csv lists this run's only") if earlier else ""  # fmt: skip
        said = "; ".join(part for part in (other, stale) if part)
        print(f"note: {said} (use a new --out to keep runs apart)", file=sys.stderr)
    scored = f" ({result.scored} scored)" if args.masks is not None else ""
    print(f"{len(result.rows)} image(s) segmented{scored}, {failures} failed; outputs in {args.out}")
    if args.masks is not None and not result.scored:
        # Scores were asked for and none came: a script reading metrics.json would find none (exit 3, as
        # for images that failed), said in a line of its own.
        print(f"error: --masks {args.masks}: none of the {len(result.rows)} image(s) had a readable mask "
              "(see the notes above): nothing scored, no metrics.json written", file=sys.stderr)  # fmt: skip
        return EXIT_PARTIAL
    return EXIT_PARTIAL if failures else EXIT_OK
