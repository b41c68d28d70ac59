"""torchmetrics wrapper that accumulates a confusion matrix and scores it once."""

from __future__ import annotations

import torch
from torchmetrics import Metric

from unetkit.constants import IGNORE_INDEX
from unetkit.metrics import functional as MF

__all__ = ["SegmentationMetrics"]


class SegmentationMetrics(Metric):
    """Pixel accuracy, per-class and mean IoU/Dice from a confusion matrix summed over all updates.

    The (C, C) confusion matrix is a metric state with ``dist_reduce_fx="sum"``, so under DDP torchmetrics
    sums it over processes before :meth:`compute`. Scores are computed once from the totals (micro over
    pixels), never averaged per batch. Absent-class rule: see :mod:`unetkit.metrics.functional`.

    Args:
        num_classes: C.
        ignore_index: target value whose pixels are skipped.
        isbi: binary (C = 2) ISBI extras: ``pixel_error`` (mismatched / valid pixels over all images, from
            the confusion matrix) and ``rand_error`` (mean over images of
            :func:`~unetkit.metrics.functional.rand_error`, computed per image on CPU; images where it is
            undefined are skipped).
        foreground: the cell class for the Rand error (ISBI convention: cells = 1, membranes = 0).

    Shape:
        ``update(preds_or_logits, target)``: logits (N, C, H, W) float (argmax is taken) or preds (N, H, W)
        int; target (N, H, W) int.

    Example:
        >>> metric = SegmentationMetrics(num_classes=3)
        >>> metric.update(torch.randn(2, 3, 8, 8), torch.randint(0, 3, (2, 8, 8)))
        >>> sorted(metric.compute())
        ['dice', 'iou', 'mean_dice', 'miou', 'pixel_accuracy', 'support']
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    confmat: torch.Tensor
    rand_error_sum: torch.Tensor
    rand_error_count: torch.Tensor

    def __init__(
        self,
        num_classes: int,
        ignore_index: int = IGNORE_INDEX,
        isbi: bool = False,
        foreground: int = 1,
    ) -> None:
        super().__init__()
        MF.check_scoring_args(num_classes, isbi)
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.isbi = isbi
        self.foreground = foreground
        self.add_state(
            "confmat", default=torch.zeros(num_classes, num_classes, dtype=torch.int64), dist_reduce_fx="sum"
        )
        if isbi:
            self.add_state(
                "rand_error_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum"
            )
            self.add_state(
                "rand_error_count", default=torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum"
            )

    def update(self, preds_or_logits: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: logits (N, C, H, W) or int preds (N, H, W), and target (N, H, W)."""
        for name, value in (("preds_or_logits", preds_or_logits), ("target", target)):
            if not isinstance(value, torch.Tensor):
                raise TypeError(
                    f"SegmentationMetrics.update takes torch tensors; {name} is a {type(value).__name__} "
                    "(wrap NumPy arrays with torch.from_numpy, or score NumPy class maps with "
                    "unetkit.metrics.ScoreAccumulator, one (H, W) map at a time)."
                )
        preds = preds_or_logits
        if preds.dim() == 4:
            if preds.shape[1] != self.num_classes:
                raise ValueError(
                    f"logits have {preds.shape[1]} channels, expected num_classes={self.num_classes} "
                    f"(shape {tuple(preds.shape)})."
                )
            preds = preds.argmax(dim=1)
        elif preds.is_floating_point():
            raise TypeError(
                f"preds of shape {tuple(preds.shape)} must be integer classes (N, H, W) or logits "
                f"(N, C, H, W), got dtype {preds.dtype}."
            )
        self.confmat += MF.confusion_matrix(preds, target, self.num_classes, self.ignore_index).to(
            self.confmat.device
        )
        if self.isbi:
            preds_cpu, target_cpu = preds.detach().cpu().numpy(), target.detach().cpu().numpy()
            for pred_img, target_img in zip(preds_cpu, target_cpu):
                error = MF.rand_error(pred_img, target_img, self.foreground)
                if error == error:  # skip NaN (undefined for this image)
                    self.rand_error_sum += error
                    self.rand_error_count += 1

    def compute(self) -> dict[str, torch.Tensor]:
        """Scores of the accumulated confusion matrix (plus ``pixel_error``/``rand_error`` when ``isbi``)."""
        if not self.isbi:
            return MF.scores_with_isbi(self.confmat)
        return MF.scores_with_isbi(self.confmat, self.rand_error_sum, self.rand_error_count)
