"""``SegmentationTask``: the LightningModule that trains any registered model.

The network is a plain ``nn.Module`` held as ``self.model`` (so checkpoint keys start with ``model.``) and
is rebuilt from ``model_config`` (a plain dict): checkpoints load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

# First: Lightning imported with the caller's process state kept (random streams, loggers, warnings).
from unetkit.training.lightning_import import L

# isort: split

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from unetkit.losses import create_loss
from unetkit.metrics.segmentation import SegmentationMetrics
from unetkit.model_files.model_config import ModelConfig
from unetkit.models import create_model
from unetkit.models.base import forward_any_size
from unetkit.random_state import python_rng_state, set_python_rng_state
from unetkit.training.config import OptimConfig, ScheduleConfig
from unetkit.training.optim import build_optimizer, build_scheduler

if TYPE_CHECKING:
    from unetkit.training.budget import RecordedClock

log = logging.getLogger(__name__)


class NonFiniteError(ValueError):
    """The training loss, a parameter or a buffer (e.g. BatchNorm ``running_var``) became NaN or inf.

    Raised before a checkpoint with such values is written, so every checkpoint on disk is finite.
    """


NonFiniteLossError = NonFiniteError  # the earlier name


def non_finite_entries(state: dict[str, Any]) -> list[str]:
    """Names of the floating-point tensors of ``state`` that hold NaN or inf."""
    return [
        key
        for key, value in state.items()
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all()
    ]


class SegmentationTask(L.LightningModule):
    """Train/validate a segmentation network on batches ``{"image", "mask"[, "weight"]}``."""

    def __init__(
        self,
        model_config: dict[str, Any],
        loss: str | dict[str, float] = "ce+dice",
        class_weights: list[float] | None = None,
        optim: dict[str, Any] | None = None,
        schedule: dict[str, Any] | None = None,
        max_epochs: int = 10,
        isbi: bool = False,
        channels_last: bool = False,
        time_budget_s: float | None = None,
        monitor: str = "val/miou",
    ) -> None:
        """``optim``/``schedule``: the config sections as plain dicts (``OptimConfig``/``ScheduleConfig``
        fields; omitted keys take the section defaults). Plain dicts keep the hyperparameters stored in every
        checkpoint loadable with ``weights_only=True``. ``schedule=None``: constant learning rate.
        ``monitor``: the metric that ``schedule.name=plateau`` follows (``trainer.monitor``)."""
        super().__init__()
        self.save_hyperparameters()
        cfg = ModelConfig.from_dict(model_config)
        self.model_config = cfg
        self.model = create_model(cfg.architecture, **cfg.model_kwargs)
        # NHWC lets oneDNN skip layout reorders around every conv: +9% training images/s for the ISBI U-Net
        # (base 16) on a 2-core CPU; for base 64 it was slower (benchmarks/), so it is opt-in.
        self.channels_last = channels_last
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.num_classes = cfg.num_classes
        self.loss_fn = create_loss(
            loss, num_classes=cfg.num_classes, ignore_index=cfg.ignore_index, class_weights=class_weights
        )
        # The paper's weighted CE needs a weight map, but only training batches carry one (computing maps
        # for validation images would cost time for a number nobody monitors): validation uses w(x) = 1.
        # Training stays strict: a missing map there is a config error (caught by load_config).
        self.loss_needs_weight_map = any(
            getattr(m, "require_weight_map", False) for m in self.loss_fn.modules()
        )
        self.val_metrics = SegmentationMetrics(cfg.num_classes, ignore_index=cfg.ignore_index, isbi=isbi)
        self._first_non_finite: torch.Tensor | None = None  # the deferred loss check's record (_check_loss)
        # clock[step]: the budget fraction the LR schedule read at global step `step` (NaN: not read). Kept
        # in checkpoints (--resume) and written to RUN/logs/clock.npy; `replay_clock` (unetkit fit --replay)
        # answers from a recorded run's clock instead of the wall clock.
        self.clock: list[float] = []
        self.replay_clock: RecordedClock | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` image -> ``(N, K, H, W)`` logits, for any H, W."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return forward_any_size(self.model, x)

    def _loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch["image"])
        loss = self.loss_fn(logits, batch["mask"], batch.get("weight"))
        return loss, logits

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss, _ = self._loss(batch)
        self._check_loss(loss)
        self.log(
            "train/loss",
            loss,
            on_step=True,
            on_epoch=True,
            prog_bar=True,
            batch_size=batch["image"].shape[0],
            sync_dist=True,
        )
        return loss

    # Reading whether a GPU's loss is finite waits for the GPU (a sync): the host could not queue the next
    # step's kernels while the GPU computes this one. There the first non-finite step is recorded on the
    # device and read every FINITE_CHECK_STEPS steps and before any checkpoint is written; a CPU reads it at
    # once (no sync to lose). ``defer_finite_check``: None decides by the loss's device (tests force True).
    FINITE_CHECK_STEPS = 50
    defer_finite_check: bool | None = None

    def _check_loss(self, loss: torch.Tensor) -> None:
        """Stop on a NaN/inf training loss: at once on a CPU, within ``FINITE_CHECK_STEPS`` on a GPU."""
        defer = self.defer_finite_check
        if not (loss.device.type != "cpu" if defer is None else defer):
            if not torch.isfinite(loss):
                raise NonFiniteError(self._loss_message(loss.item(), self.current_epoch, self.global_step))
            return
        # [epoch, step, value] of the first non-finite loss; epoch -1 while there is none.
        step = self.global_step
        now = torch.tensor([self.current_epoch, step, 0.0], dtype=torch.float32)  # MPS has no float64
        now = now.to(loss.device, non_blocking=True)
        now[2] = loss.detach().float()
        first = self._first_non_finite
        if first is None:
            first = torch.tensor([-1.0, 0.0, 0.0], dtype=torch.float32, device=loss.device)
        self._first_non_finite = torch.where((first[0] < 0) & ~torch.isfinite(now[2]), now, first)
        if (step + 1) % self.FINITE_CHECK_STEPS == 0:
            self._raise_if_non_finite_loss()

    def _raise_if_non_finite_loss(self) -> None:
        """Raise :class:`NonFiniteError` for the first non-finite loss the deferred check recorded."""
        first = self._first_non_finite
        if first is not None:
            epoch, step, value = first.tolist()  # the one sync
            if epoch >= 0:
                raise NonFiniteError(self._loss_message(value, int(epoch), int(step)))

    def on_train_end(self) -> None:
        self._raise_if_non_finite_loss()  # steps after the last check (a run stopped mid-epoch by its budget)

    @staticmethod
    def _loss_message(value: float, epoch: int, step: int) -> str:
        return f"the training loss became {value} at epoch {epoch}, step {step}"

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        if self.loss_needs_weight_map and batch.get("weight") is None:
            mask = batch["mask"]
            batch = {**batch, "weight": torch.ones(mask.shape, dtype=torch.float32, device=mask.device)}
        loss, logits = self._loss(batch)
        self.log("val/loss", loss, on_epoch=True, batch_size=batch["image"].shape[0], sync_dist=True)
        self.val_metrics.update(logits.argmax(1), batch["mask"])

    def on_validation_epoch_end(self) -> None:
        self._log_scores(self.val_metrics.compute(), "val")
        self.val_metrics.reset()

    def _log_scores(self, scores: dict[str, torch.Tensor], prefix: str) -> None:
        for key, value in scores.items():
            if value.ndim == 0:
                # NaN (no class present at all) is logged as 0 so monitors still work; tables show n/a.
                self.log(
                    f"{prefix}/{key}",
                    torch.nan_to_num(value.float(), nan=0.0),
                    prog_bar=key == "miou",
                    sync_dist=False,
                )

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        optimizer = build_optimizer(self.parameters(), OptimConfig.model_validate(hp["optim"] or {}))
        schedule = ScheduleConfig.model_validate(hp["schedule"] or {"name": "none"})
        total_steps = None
        if schedule.by == "time":
            total_steps = int(self.trainer.estimated_stepping_batches)
        sched = build_scheduler(
            optimizer,
            schedule,
            int(hp["max_epochs"]),
            total_steps=total_steps,
            budget_fraction=self.budget_fraction,
            monitor=str(hp["monitor"]),
        )
        if sched is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": sched}

    def budget_fraction(self) -> float:
        """Share of the training time used so far (:func:`unetkit.training.budget.budget_fraction`), read
        once per global step and recorded in ``self.clock``; in a replay, the recorded run's value."""
        from unetkit.training.budget import read_step_clock

        return read_step_clock(
            self.clock, self._trainer, self.hparams.get("time_budget_s"), self.replay_clock
        )

    # RNG state travels with the checkpoint so that a resumed run draws the same augmentations.
    # Stored as tensors/lists so the checkpoint still loads with weights_only=True.
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._raise_if_non_finite_loss()  # a GPU's deferred loss check: no checkpoint after a non-finite loss
        # Parameters and buffers, not only the loss: a huge learning rate can leave the loss finite while
        # BatchNorm's running_var becomes inf. The check runs before the file is written, so a non-finite
        # checkpoint is never kept (EMA runs: the averaged state_dict and the raw current_model_state).
        for name in ("state_dict", "current_model_state"):
            bad = non_finite_entries(checkpoint.get(name) or {})
            if bad:
                more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
                raise NonFiniteError(
                    f"{', '.join(bad[:3])}{more} became NaN/inf at epoch {self.current_epoch}, "
                    f"step {self.global_step}"
                )
        # The global NumPy RNG is what augmentation libraries draw from, so its legacy state is saved.
        np_state: Any = np.random.get_state()  # noqa: NPY002
        checkpoint["rng_state"] = {
            "torch": torch.get_rng_state(),
            "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
            "python": python_rng_state(),
        }
        if self.clock:  # a tensor: the checkpoint still loads with weights_only=True
            checkpoint["budget_clock"] = torch.tensor(self.clock, dtype=torch.float64)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        clock = checkpoint.get("budget_clock")
        if clock is not None:
            self.clock = [float(v) for v in clock.tolist()]
        state = checkpoint.get("rng_state")
        if not state:
            return
        torch.set_rng_state(state["torch"])
        kind, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))  # noqa: NPY002
        set_python_rng_state(state["python"])
