"""Train a Mask R-CNN (:mod:`unetkit.detection`) on an instance-segmentation folder within a time budget.

The folder (DSB2018's layout)::

    DIR/images/<id>.png     images (PNG/TIFF/JPEG; gray, RGB or RGBA)
    DIR/labels/<id>.png     instance label images of the same size (0 background, 1..N objects; 8/16-bit)
    DIR/train.txt, DIR/val.txt   one id per line (test.txt is never read here)

Training (:func:`fit_maskrcnn`):

* **Data**: every train and val pair is decoded and checked (sizes agree) before the run folder is created,
  and kept in memory (DSB2018: about 0.5 GB). An epoch is ``epoch_steps`` batches of random crops
  (``crop_size``, default 256; a smaller image is taken whole); the image of each crop is drawn with
  probability proportional to its area, so a 1024x1024 image gives 16 times as many crops as a 256x256
  one, as if every image were cut into tiles. Random flips and 90-degree rotations. Crops are drawn from
  ``(seed, epoch, index)``, so a resumed run draws the same crops.
* **Normalisation**: the model normalises with the mean/std of the training images (up to 64 of them, evenly
  spaced in ``train.txt``), stored in ``config.json``; DSB2018's images are mostly dark fluorescence, far
  from ImageNet's statistics.
* **Optimiser**: AdamW, linear warm-up from lr/10 over the first ``warmup_fraction`` of the time budget
  (5 %) or ``warmup_steps`` (100), whichever ends first (a short or slow run left warm-up, 100 fixed steps,
  only at its end), then a cosine decay driven by the
  clock (``schedule.by=time`` of :mod:`unetkit.training.optim`): the LR factor is ``cos`` of the share of
  the budget used, so the run ends at the budget at a low LR on a slow machine or a fast one. Gradient norm
  clipped at 10 (early from-scratch detection steps can spike).
* **Budget**: the whole loop, validation included, ends within ``time_minutes``
  (:class:`unetkit.training.budget.BudgetTimer`, also the semantic fit's). Model export and the final
  scoring of the whole val split come after the budget and are timed apart.
* **Validation** on ``val_images`` images of val (evenly spaced in ``val.txt``) after every epoch, scored
  with :class:`~unetkit.metrics.instance.InstanceScoreAccumulator` (``val/ap50``, ``val/ap75``, ``val/map``,
  ``val/seg``). The model kept is the **last** one (no selection; val is only watched).
* **Run folder**: ``checkpoints/last.ckpt`` (every epoch; ``resume=True`` continues it, the Timer's elapsed
  time included), ``logs/metrics.csv`` (losses per step, val scores per epoch), ``fit_options.json`` (the
  options, the data folder and the weights file), ``model/`` (``model.safetensors`` + ``config.json`` with
  ``"architecture": "maskrcnn"``; no pickle), ``metrics_val.json`` (the whole val split) and ``train.json``.
* **Replay**: the clock makes two runs with one seed differ, so a run records what its clock said, as the
  semantic fit does (:mod:`unetkit.training.budget`): the budget fraction the LR read at each step
  (``logs/clock.npy``, kept in ``last.ckpt`` across a resume) and the step its budget stopped it at
  (``budget_stop_step`` in ``train.json``). ``replay=RUN`` trains RUN's options on RUN's data again with
  that record instead of the clock, and stops at that step: on a CPU with the same thread count the weights
  and val scores are bitwise RUN's (the training is deterministic there; ``replay_of.txt`` in the replay's
  folder keeps a resumed replay replaying).
"""

from __future__ import annotations

# First: Lightning imported with the caller's process state kept (random streams, loggers, warnings).
from unetkit.training.lightning_import import L

# isort: split

import json
import logging
import math
import shlex
import signal
import statistics
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from unetkit.data.folder import read_list_file
from unetkit.data.instances import LABEL_EXTENSIONS, read_instance_sample
from unetkit.data.io import estimate_window
from unetkit.data.sampling import evenly_spaced
from unetkit.detection.maskrcnn import build_maskrcnn, load_maskrcnn_weights
from unetkit.detection.predictor import (
    MaskRCNNPredictor,
    maskrcnn_config,
    save_maskrcnn,
)
from unetkit.detection.targets import image_mean_std, labels_to_target, to_rgb
from unetkit.files import atomic_write_text
from unetkit.inference.instance_predictor import MaskRCNNInstancePredictor
from unetkit.inference.instance_selection import RECORD_KEY, select_postprocessing
from unetkit.metrics.instance import InstanceScoreAccumulator
from unetkit.options import check_positive_int
from unetkit.random_state import process_rng_kept, python_rng_state, set_python_rng_state
from unetkit.training.budget import (
    REPLAY_SOURCE_FILE,
    BudgetTimer,
    RecordedClock,
    RecordedStop,
    budget_record,
    budget_stop_line,
    read_step_clock,
    recorded_clock,
    replay_source,
    write_clock,
)
from unetkit.training.data_record import check_data_record, data_record, write_data_record
from unetkit.training.evaluate import INSTANCE_SELECTION, write_train_record
from unetkit.training.lightning_noise import ignore_lightning_noise
from unetkit.training.optim import lr_factor
from unetkit.training.task import NonFiniteError, non_finite_entries

__all__ = [
    "MaskRCNNFitOptions",
    "MaskRCNNRunResult",
    "MaskRCNNTask",
    "fit_maskrcnn",
    "instance_pairs",
    "score_maskrcnn",
]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
OPTIONS_NAME = "fit_options.json"
# The run's inputs besides its options, kept in fit_options.json too: what a replay (or a resume) trains on.
RUN_INPUTS = ("data_dir", "weights_path")
LOSS_KEYS = ("loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg")
MEAN_STD_IMAGES = 64


# ------------------------------------------------------------------------------------------------ data


def _find(folder: Path, stem: str, extensions: Sequence[str]) -> Path | None:
    for ext in extensions:
        path = folder / f"{stem}{ext}"
        if path.is_file():
            return path
    return None


def instance_pairs(root: str | Path, split: str) -> list[tuple[Path, Path]]:
    """(image, label image) paths of ``root/<split>.txt``, from ``root/images/`` and ``root/labels/``."""
    root = Path(root)
    for sub in ("images", "labels"):
        if not (root / sub).is_dir():
            raise ValueError(
                f"{root} has no {sub}/ folder; a Mask R-CNN dataset holds images/<id>.png, labels/<id>.png "
                "(instance labels) and train.txt/val.txt"
            )
    list_file = root / f"{split}.txt"
    if not list_file.is_file():
        raise ValueError(
            f"{list_file} not found; list the {split} ids one per line (e.g. DSB2018's {split}.txt)"
        )
    stems = read_list_file(list_file)
    if not stems:
        raise ValueError(f"{list_file} lists no ids; the {split} split must not be empty")
    pairs = []
    for stem in stems:
        image = _find(root / "images", stem, IMAGE_EXTENSIONS)
        label = _find(root / "labels", stem, LABEL_EXTENSIONS)
        if image is None or label is None:
            what = "image" if image is None else "label image"
            folder = "images" if image is None else "labels"
            raise ValueError(f"{list_file} lists {stem!r} but {root / folder} has no {what} {stem}.*")
        pairs.append((image, label))
    return pairs


@dataclass
class _Sample:
    image: np.ndarray  # uint8 (H, W, 3)
    labels: np.ndarray  # uint16 or int32 (H, W)
    name: str


def load_samples(
    pairs: Sequence[tuple[Path, Path]], window: Sequence[Sequence[float]] | None = None
) -> list[_Sample]:
    """Decode and check every pair (a label image of another size is a ValueError naming both files);
    ``window``: the intensity window of 16-bit images (:func:`unetkit.data.io.estimate_window`)."""
    samples = []
    for image_path, label_path in pairs:
        image, labels = read_instance_sample(image_path, label_path, window=window)
        if labels.size and int(labels.max()) <= np.iinfo(np.uint16).max:
            labels = labels.astype(np.uint16)  # half the memory of int32 (DSB2018: at most 375 objects)
        samples.append(_Sample(to_rgb(image), labels, image_path.stem))
    return samples


def _augment(
    image: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Random flips and a random multiple of 90 degrees (the 8 symmetries of the square)."""
    k = int(rng.integers(4))
    if k:
        image, labels = np.rot90(image, k), np.rot90(labels, k)
    if rng.random() < 0.5:
        image, labels = image[:, ::-1], labels[:, ::-1]
    return np.ascontiguousarray(image), np.ascontiguousarray(labels)


class CropDataset(Dataset):  # type: ignore[type-arg]
    """``length`` random crops per epoch: ``(image (3, h, w) float in [0, 1], target dict)``."""

    def __init__(
        self, samples: Sequence[_Sample], crop_size: int, length: int, seed: int, min_area: int
    ) -> None:
        self.samples = list(samples)
        self.crop_size = crop_size
        self.length = length
        self.seed = seed
        self.min_area = min_area
        self.epoch = 0
        areas = np.array([s.labels.size for s in self.samples], dtype=np.float64)
        self.weights = areas / areas.sum()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        sample = self.samples[int(rng.choice(len(self.samples), p=self.weights))]
        height, width = sample.labels.shape
        ch, cw = min(self.crop_size, height), min(self.crop_size, width)
        y = int(rng.integers(height - ch + 1))
        x = int(rng.integers(width - cw + 1))
        image, labels = _augment(
            sample.image[y : y + ch, x : x + cw], sample.labels[y : y + ch, x : x + cw], rng
        )
        tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255.0)
        return tensor, labels_to_target(labels, self.min_area)


class _WholeImages(Dataset):  # type: ignore[type-arg]
    def __init__(self, samples: Sequence[_Sample]) -> None:
        self.samples = list(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> _Sample:
        return self.samples[index]


def _collate_crops(batch: list[Any]) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    return [item[0] for item in batch], [item[1] for item in batch]


def _collate_one(batch: list[_Sample]) -> _Sample:
    return batch[0]


# ------------------------------------------------------------------------------------------------ task


class MaskRCNNTask(L.LightningModule):
    """Trains ``build_maskrcnn(**build_kwargs)`` on batches ``(images, targets)``; validates on whole images.

    The network is ``self.model`` (checkpoint keys ``model.*``); hyperparameters are plain values, so
    checkpoints load with ``torch.load(weights_only=True)``.
    """

    def __init__(
        self,
        build_kwargs: dict[str, Any],
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        warmup_steps: int = 100,
        time_budget_s: float | None = None,
        score_threshold: float = 0.5,
        warmup_fraction: float = 0.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = build_maskrcnn(**build_kwargs)
        self.val_scores = InstanceScoreAccumulator()
        # clock[step]: the budget fraction the LR read at global step `step`, kept in checkpoints (--resume)
        # and written to RUN/logs/clock.npy; `replay_clock` (replay=RUN) answers from RUN's instead.
        self.clock: list[float] = []
        self.replay_clock: RecordedClock | None = None

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        return self.model(images)  # type: ignore[no-any-return]

    def training_step(
        self, batch: tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]], batch_idx: int
    ) -> torch.Tensor:
        images, targets = batch
        losses = self.model(images, targets)
        loss = sum(losses.values())
        if not torch.isfinite(loss):
            raise NonFiniteError(
                f"the training loss became {loss.item()} at epoch {self.current_epoch}, "
                f"step {self.global_step}"
            )
        n = len(images)
        for key in LOSS_KEYS:
            if key in losses:
                self.log(f"train/{key}", losses[key], on_step=True, on_epoch=False, batch_size=n)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=n)
        lr = self.trainer.optimizers[0].param_groups[0]["lr"]
        self.log("train/lr", float(lr), on_step=True, on_epoch=False, batch_size=n)
        return loss  # type: ignore[return-value]

    def on_validation_epoch_start(self) -> None:
        self.val_scores = InstanceScoreAccumulator()

    def validation_step(self, batch: _Sample, batch_idx: int) -> None:
        predictor = MaskRCNNPredictor(
            self.model, maskrcnn_config(self.hparams["build_kwargs"]), device=self.device
        )
        pred = predictor.predict_instances(
            batch.image, score_threshold=float(self.hparams["score_threshold"])
        )
        self.val_scores.update(batch.labels, pred)

    def on_validation_epoch_end(self) -> None:
        if not self.val_scores.images:
            return
        scores = self.val_scores.compute()
        for key in ("ap50", "ap75", "map", "seg"):
            value = float(scores[key])
            self.log(f"val/{key}", 0.0 if math.isnan(value) else value, prog_bar=key in ("ap50", "map"))

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=float(hp["lr"]), weight_decay=float(hp["weight_decay"]))
        warmup = max(0, int(hp["warmup_steps"]))
        share = max(0.0, float(hp.get("warmup_fraction") or 0.0))

        def factor(step: int) -> float:
            fraction = self.budget_fraction()
            # Warm-up ends at warmup steps or at `share` of the budget, whichever comes first.
            done = 1.0 if warmup == 0 else step / warmup
            if share > 0:
                done = max(done, fraction / share)
            ramp = 1.0 if done >= 1.0 else 0.1 + 0.9 * done
            return ramp * lr_factor("cosine", fraction)

        sched = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def budget_fraction(self) -> float:
        """Share of the training time used so far, once per step and recorded in ``self.clock``; in a
        replay, the replayed run's (:func:`unetkit.training.budget.read_step_clock`)."""
        return read_step_clock(
            self.clock, self._trainer, self.hparams.get("time_budget_s"), self.replay_clock
        )

    def on_train_epoch_start(self) -> None:
        loader = self.trainer.train_dataloader
        dataset = getattr(loader, "dataset", None)
        if isinstance(dataset, CropDataset):
            dataset.epoch = self.current_epoch  # new crops every epoch, the same ones after a resume

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        bad = non_finite_entries(checkpoint.get("state_dict") or {})
        if bad:
            raise NonFiniteError(f"{', '.join(bad[:3])} became NaN/inf at step {self.global_step}")
        # The RPN and RoI samplers draw from torch's RNG; a resumed run continues its sequence.
        checkpoint["rng_state"] = {"torch": torch.get_rng_state(), "python": python_rng_state()}
        if self.clock:  # a tensor (loads with weights_only=True), under SegmentationTask's key
            checkpoint["budget_clock"] = torch.tensor(self.clock, dtype=torch.float64)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        clock = checkpoint.get("budget_clock")
        if clock is not None:
            self.clock = [float(v) for v in clock.tolist()]
        state = checkpoint.get("rng_state")
        if state:
            torch.set_rng_state(state["torch"])
            set_python_rng_state(state["python"])


# ------------------------------------------------------------------------------------------------ fit


@dataclass
class MaskRCNNFitOptions:
    """Options of :func:`fit_maskrcnn`, saved as ``RUN/fit_options.json`` (a resumed run reads them)."""

    time_minutes: float
    backbone: str = "mobilenet_v3_large"
    crop_size: int = 256
    batch_size: int = 2
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    # Warm-up also ends at this share of the time budget (0: by steps only, as runs recorded before it).
    warmup_fraction: float = 0.05
    epoch_steps: int = 100
    val_images: int = 12
    score_threshold: float = 0.5
    min_area: int = 4
    seed: int = 0
    build: dict[str, Any] = field(
        default_factory=dict
    )  # more build_maskrcnn kwargs (norm, anchor_sizes, ...)

    def check(self) -> None:
        if not self.time_minutes > 0:
            raise ValueError(f"time budget must be positive, got {self.time_minutes} minutes")
        for name in ("crop_size", "batch_size", "epoch_steps", "val_images", "min_area"):
            check_positive_int(getattr(self, name), name)
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if "weights_path" in self.build or "backbone" in self.build:
            raise ValueError("pass backbone and weights_path as their own arguments, not in build")


@dataclass
class MaskRCNNRunResult:
    run_dir: Path
    # The whole val split at the post-processing chosen on it (InstanceScoreAccumulator.compute()).
    scores: dict[str, Any]
    train_seconds: float
    steps: int
    step_seconds: float  # median training step
    params: int
    eval_seconds: float
    # The post-processing chosen on val and recorded in the model (``extra.instance_postprocess``).
    postprocess: dict[str, Any] = field(default_factory=dict)


def _build_kwargs(options: MaskRCNNFitOptions, mean: list[float], std: list[float]) -> dict[str, Any]:
    return {
        "num_classes": 2,
        "backbone": options.backbone,
        **options.build,
        "image_mean": mean,
        "image_std": std,
    }


def score_maskrcnn(
    predictor: MaskRCNNPredictor, samples: Sequence[Any], score_threshold: float = 0.5
) -> dict[str, Any]:
    """Instance scores (:class:`InstanceScoreAccumulator`) of ``predictor`` on samples with ``.image`` and
    ``.labels``."""
    acc = InstanceScoreAccumulator()
    for sample in samples:
        acc.update(sample.labels, predictor.predict_instances(sample.image, score_threshold=score_threshold))
    return acc.compute()


def _check_out_dir(out_dir: Path, resume: bool) -> Path | None:
    """The checkpoint to resume from (None for a new run); refuses to overwrite a run."""
    last = out_dir / "checkpoints" / "last.ckpt"
    if resume:
        if not last.is_file():
            raise FileNotFoundError(f"cannot resume: {last} not found; pass a run folder of fit-maskrcnn")
        return last
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ValueError(f"{out_dir} already exists and is not empty; choose another --out, or --resume it")
    return None


def _read_options(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``RUN/fit_options.json`` as (the :class:`MaskRCNNFitOptions` fields, the :data:`RUN_INPUTS` recorded;
    none for a run from before they were)."""
    saved = json.loads((run_dir / OPTIONS_NAME).read_text())
    inputs = {key: saved.pop(key) for key in RUN_INPUTS if key in saved}
    # A run recorded before the budget-paced warm-up warmed up by steps only: resumed and replayed so.
    saved.setdefault("warmup_fraction", 0.0)
    return saved, inputs


def read_replay_source(run_dir: str | Path) -> tuple[RecordedClock, dict[str, Any], dict[str, Any]]:
    """What a replay of the finished fit-maskrcnn run ``run_dir`` needs: its recorded clock
    (:func:`unetkit.training.budget.recorded_clock`), its options and its inputs (``data_dir``,
    ``weights_path``), from ``RUN/fit_options.json``, ``RUN/train.json`` and ``RUN/logs/clock.npy``.

    Raises:
        FileNotFoundError: ``RUN/fit_options.json`` is missing (not a run folder of fit-maskrcnn).
        ValueError: the options record no time budget, the run has not finished, or it was trained
            before replay existed.
    """
    run_dir = Path(run_dir)
    options_path = run_dir / OPTIONS_NAME
    if not options_path.is_file():
        raise FileNotFoundError(
            f"{options_path} not found; --replay needs a run folder written by `unetkit fit-maskrcnn`."
        )
    saved, inputs = _read_options(run_dir)
    if not saved.get("time_minutes"):
        raise ValueError(
            f"{options_path} records no time budget (time_minutes), so {run_dir} has no clock to replay; "
            "replay a run that unetkit fit-maskrcnn --time trained."
        )
    data = inputs.get("data_dir", "DIR")
    clock = recorded_clock(
        run_dir, f"unetkit fit-maskrcnn {shlex.quote(str(data))} --resume {shlex.quote(str(run_dir))}"
    )
    if "data_dir" not in inputs:  # a run from before replay, resumed after: its clock is the resumed part
        raise ValueError(
            f"{run_dir} was trained before replay existed: {options_path} does not name its data folder, "
            "so it cannot be replayed; train a new run and replay that one."
        )
    return clock, saved, inputs


def fit_maskrcnn(
    data_dir: str | Path | None,
    out_dir: str | Path,
    time_minutes: float | None = None,
    *,
    resume: bool = False,
    replay: str | Path | None = None,
    weights_path: str | Path | None = None,
    progress: bool = False,
    command: str | None = None,
    **options: Any,
) -> MaskRCNNRunResult:
    """Train a Mask R-CNN on ``data_dir`` (see the module docstring) for ``time_minutes``; returns the run.

    Args:
        data_dir: images/, labels/, train.txt, val.txt (None: the run's own, with ``resume`` or ``replay``).
        out_dir: the run folder (must not exist or be empty; with ``resume``: the run to continue).
        time_minutes: the budget (with ``resume``: None keeps the run's own budget; a value replaces it).
        resume: continue ``out_dir`` from ``checkpoints/last.ckpt``, with the options saved in the run; a
            replay (``replay_of.txt``) goes on replaying.
        replay: a finished run of fit_maskrcnn: train its options on its data (and weights file) again into
            ``out_dir``, step for step with the LR clock and the stop step it recorded
            (:func:`read_replay_source`) instead of the wall clock; on a CPU with the same thread count the
            weights and val scores are bitwise identical. Takes no ``data_dir``, budget, weights or options.
        weights_path: a local weights file for the new model (whole model or backbone; see
            :func:`~unetkit.detection.maskrcnn.load_maskrcnn_weights`).
        progress: show the progress (the CLI's choice; library default off): a bar in a terminal, one
            line per epoch when stdout is a file or a pipe (as ``unetkit fit``'s).
        command: the command line that started the run, recorded in ``RUN/train.json``.
        options: fields of :class:`MaskRCNNFitOptions` (backbone, crop_size, batch_size, lr, ...).

    The caller's global random streams and Lightning's seed variables come back unchanged on return
    (:func:`~unetkit.random_state.process_rng_kept`): the run seeds its own from ``seed``.
    """
    # The run reseeds every global stream (seed_everything); a notebook's own streams must go on untouched.
    with process_rng_kept():
        return _fit_maskrcnn(
            data_dir,
            out_dir,
            time_minutes,
            resume=resume,
            replay=replay,
            weights_path=weights_path,
            progress=progress,
            command=command,
            **options,
        )


def _fit_maskrcnn(
    data_dir: str | Path | None,
    out_dir: str | Path,
    time_minutes: float | None,
    *,
    resume: bool,
    replay: str | Path | None,
    weights_path: str | Path | None,
    progress: bool,
    command: str | None,
    **options: Any,
) -> MaskRCNNRunResult:
    """:func:`fit_maskrcnn`'s body, run inside :func:`~unetkit.random_state.process_rng_kept`."""
    out_dir = Path(out_dir)
    source = Path(replay) if replay is not None else None
    recorded: RecordedClock | None = None
    if source is not None:
        if resume:
            raise ValueError(
                "resume and replay exclude each other: resume continues a run in its folder, replay "
                "retrains a finished one into a new folder"
            )
        given = [
            name
            for name, value in (
                ("data_dir", data_dir),
                ("time_minutes", time_minutes),
                ("weights_path", weights_path),
            )
            if value is not None
        ] + sorted(options)
        if given:
            raise ValueError(
                f"a replay trains {source} with its own data and options ({source / OPTIONS_NAME}); "
                f"drop {', '.join(given)}"
            )
        recorded, saved, inputs = read_replay_source(source)
        data_dir, weights_path = inputs["data_dir"], inputs.get("weights_path")
        opts = MaskRCNNFitOptions(**saved)
    ckpt = _check_out_dir(out_dir, resume)
    if ckpt is not None:
        saved, inputs = _read_options(out_dir)
        if options:
            raise ValueError(
                f"a resumed run keeps its options ({out_dir / OPTIONS_NAME}); got {sorted(options)}"
            )
        if weights_path is not None:
            raise ValueError("--weights starts a new run; a resumed run continues its own weights")
        source = replay_source(out_dir)  # an interrupted replay goes on replaying its source's clock
        if source is not None:
            if time_minutes is not None:
                raise ValueError(
                    f"{out_dir} replays {source}, whose budget it keeps; resume it without a time budget"
                )
            recorded = read_replay_source(source)[0]
        if time_minutes is not None:
            saved["time_minutes"] = time_minutes
        opts = MaskRCNNFitOptions(**saved)
        if data_dir is None:
            data_dir = inputs.get("data_dir")
    elif source is None:
        if time_minutes is None:
            raise ValueError("fit_maskrcnn needs a time budget (time_minutes)")
        opts = MaskRCNNFitOptions(time_minutes=time_minutes, **options)
    if data_dir is None:
        unnamed = f"; {out_dir / OPTIONS_NAME} does not name it (a run from before it did)" if ckpt else ""
        raise ValueError(
            f"fit_maskrcnn needs the data folder data_dir (images/, labels/, train.txt, val.txt){unnamed}"
        )
    data_dir = Path(data_dir)
    opts.check()
    if weights_path is not None and not Path(weights_path).is_file():
        raise FileNotFoundError(f"weights file {weights_path} does not exist; check the path")

    started = time.perf_counter()
    train_pairs = instance_pairs(data_dir, "train")
    # 16-bit images: one window from the training images (deterministic, so a resumed run finds it again).
    window = estimate_window([image for image, _ in train_pairs])
    train = load_samples(train_pairs, window)
    val_pairs = instance_pairs(data_dir, "val")
    val_all = load_samples(val_pairs, window)
    log.info(
        "decoded %d train and %d val pairs in %.1f s", len(train), len(val_all), time.perf_counter() - started
    )
    if ckpt is not None:
        from unetkit.model_files.model_io import read_checkpoint

        state = read_checkpoint(ckpt)  # weights_only=True, one-line errors for corrupt files
        build_kwargs = dict(state["hyper_parameters"]["build_kwargs"])
        resume_from = (int(state.get("epoch", 0)), int(state.get("global_step", 0)))
        del state
    else:
        mean, std = image_mean_std(s.image for s in evenly_spaced(train, MEAN_STD_IMAGES))
        build_kwargs = _build_kwargs(opts, mean, std)
        resume_from = None

    L.seed_everything(opts.seed, verbose=False)
    budget_s = opts.time_minutes * 60.0
    task = MaskRCNNTask(
        build_kwargs,
        lr=opts.lr,
        weight_decay=opts.weight_decay,
        warmup_steps=opts.warmup_steps,
        time_budget_s=budget_s,
        score_threshold=opts.score_threshold,
        warmup_fraction=opts.warmup_fraction,
    )
    task.replay_clock = recorded
    if weights_path is not None:
        load_maskrcnn_weights(task.model, weights_path)  # before the run folder: a bad file writes nothing
    record = None
    if ckpt is None:  # a resumed run keeps the record of its start
        files = [path for pair in (*train_pairs, *val_pairs) for path in pair]
        record = data_record(data_dir, files, Path(weights_path) if weights_path is not None else None)
        if source is not None:
            check_data_record(source, record)
    params = sum(p.numel() for p in task.model.parameters())
    val = evenly_spaced(val_all, opts.val_images)
    crops = CropDataset(train, opts.crop_size, opts.epoch_steps * opts.batch_size, opts.seed, opts.min_area)
    train_loader = DataLoader(crops, batch_size=opts.batch_size, shuffle=False, collate_fn=_collate_crops)
    val_loader = DataLoader(_WholeImages(val), batch_size=1, collate_fn=_collate_one)

    from unetkit.training.run_folder import run_folder
    from unetkit.training.trainer import RunCheckpoint, build_loggers, interruption, progress_callback

    # A replay stops where its source's budget stopped it, through the same stop (and reads no wall clock).
    stop: BudgetTimer | RecordedStop = (
        BudgetTimer(budget_s, len(val)) if recorded is None else RecordedStop(recorded.stop_step)
    )
    resume_hint = (
        f"resume with: unetkit fit-maskrcnn {shlex.quote(str(data_dir))} --resume {shlex.quote(str(out_dir))}"
    )
    sigint = signal.getsignal(signal.SIGINT)
    trainer: L.Trainer | None = None
    try:
        with run_folder(out_dir):
            if ckpt is None:
                weights = str(Path(weights_path).resolve()) if weights_path is not None else None
                saved_options = {**asdict(opts), "data_dir": str(data_dir.resolve()), "weights_path": weights}
                atomic_write_text(out_dir / OPTIONS_NAME, json.dumps(saved_options, indent=2))
                if record is not None:
                    write_data_record(out_dir, record)
                if source is not None:  # before training: a resume of an interrupted replay replays on
                    atomic_write_text(out_dir / REPLAY_SOURCE_FILE, f"{source.resolve()}\n")
            trainer = L.Trainer(
                default_root_dir=out_dir,
                max_epochs=-1,
                accelerator="cpu" if not torch.cuda.is_available() else "auto",
                devices=1,
                callbacks=[
                    stop,
                    RunCheckpoint(  # a moved run folder resumes without Lightning's dirpath warning
                        dirpath=out_dir / "checkpoints",
                        filename="last",
                        monitor=None,
                        save_top_k=1,
                        every_n_epochs=1,
                        enable_version_counter=False,
                    ),
                    # fit's choice: a bar in a terminal, one plain line per epoch in a file or a pipe
                    *([progress_callback()] if progress else []),
                ],
                logger=build_loggers(out_dir, resume_from),
                log_every_n_steps=1,
                gradient_clip_val=10.0,
                num_sanity_val_steps=0,
                enable_progress_bar=progress,
                enable_model_summary=False,
                deterministic=False,
            )
            t0 = time.perf_counter()
            with warnings.catch_warnings():  # the caller's filters come back on return
                ignore_lightning_noise()
                trainer.fit(task, train_loader, val_loader, ckpt_path=ckpt, weights_only=True)
            train_seconds = time.perf_counter() - t0
    except NonFiniteError as exc:
        last = out_dir / "checkpoints" / "last.ckpt"
        kept = f"{last} is finite" if last.is_file() else "no checkpoint was kept"
        raise NonFiniteError(
            f"training stopped: {exc}; {kept}; lower the learning rate (--lr, now {opts.lr:g}) and start "
            "a new run"
        ) from None
    except SystemExit:
        # Lightning answers Ctrl-C with sys.exit(1); the CLI wants a KeyboardInterrupt (exit 130, or 143
        # after SIGTERM).
        if trainer is not None and trainer.interrupted:
            raise interruption(f"training interrupted; {resume_hint}", trainer) from None
        raise
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, sigint)  # Lightning ignores SIGINT after an interrupt
    if trainer is None or trainer.interrupted:
        raise interruption(f"training interrupted; {resume_hint}", trainer)
    stopped = budget_stop_line(trainer)
    if stopped:  # after the last epoch's line, as unetkit fit says it
        log.info("%s", stopped)

    config = maskrcnn_config(
        build_kwargs,
        input_size=[opts.crop_size, opts.crop_size],
        intensity_window=window,
        extra={
            "trained": {
                "data": str(data_dir),
                "steps": int(trainer.global_step),
                "budget_minutes": opts.time_minutes,
            }
        },
    )
    t1 = time.perf_counter()
    predictor = MaskRCNNPredictor(task.model.cpu(), config)
    # The score threshold and min_size that predict and serve default to, chosen on the validation images
    # only and recorded in the model (the rule of unetkit fit's U-Nets and of benchmarks/instances.py).
    wrapper = MaskRCNNInstancePredictor(predictor, config.to_dict())
    selection = select_postprocessing(wrapper, val_all, lambda s: (s.image, s.labels))
    config.extra[RECORD_KEY] = selection.record(wrapper.method, len(val_all))
    save_maskrcnn(task.model, config, out_dir / "model")
    # The val scores at the chosen post-processing, what predict and serve use: its grid row (painted from
    # the same detections, exactly as a pass at that threshold).
    rows = zip(selection.rows, selection.scores, strict=True)
    scores = next(s for r, s in rows if r["values"] == selection.values)
    # The grid and its val scores, as `unetkit fit` writes them for a U-Net.
    chosen = {
        **config.extra[RECORD_KEY],
        "seconds": round(selection.seconds, 1),
        "grid": selection.rows,
    }
    atomic_write_text(out_dir / INSTANCE_SELECTION, json.dumps(chosen, indent=1) + "\n")
    eval_seconds = time.perf_counter() - t1
    budget = budget_record(trainer)  # train.json's budget keys, as `unetkit fit` writes them
    summary: dict[str, Any] = {
        "split": "val",
        "images": len(val_all),
        # The scores are those of the chosen post-processing (predict's and serve's defaults).
        "score_threshold": selection.values["score_threshold"],
        "min_size": selection.values["min_size"],
        "scores": scores,
        "train_seconds": round(train_seconds, 1),
        "budget_seconds": budget_s,
        "steps": int(trainer.global_step),
        "params": params,
        "eval_seconds": round(eval_seconds, 1),
        "postprocess_chosen_on_val": chosen,
    }
    step_seconds = math.nan
    if isinstance(stop, BudgetTimer):  # a replay has no Timer: it reads no wall clock
        step_seconds = statistics.median(stop.step_times) if stop.step_times else math.nan
        summary |= {"timer_seconds": budget["timer_seconds"], "step_seconds_median": round(step_seconds, 3)}
    if source is not None:
        budget["replay_of"] = summary["replay_of"] = str(source.resolve())
    atomic_write_text(out_dir / "metrics_val.json", json.dumps(summary, indent=2))
    write_clock(out_dir, task.clock)
    # RUN/train.json, as `unetkit fit` writes it: what a benchmark reads as the run's time and command, and
    # the budget's stop step that a replay reads.
    write_train_record(out_dir, train_seconds, resumed=resume, command=command, **budget)
    return MaskRCNNRunResult(
        run_dir=out_dir,
        scores=scores,
        train_seconds=train_seconds,
        steps=int(trainer.global_step),
        step_seconds=step_seconds,
        params=params,
        eval_seconds=eval_seconds,
        postprocess=config.extra[RECORD_KEY],
    )
