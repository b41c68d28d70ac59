"""Lightning's warnings and log lines that say nothing about the user's run, in one place: the CLI ignores
the warnings for its process (it owns it); library training ignores them only while it runs
(``warnings.catch_warnings``), and drops Lightning's misleading log lines only while it runs
(:func:`lightning_lines_filtered`). Imports nothing heavy: the CLI reads it at start-up."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# (message regex, category)
LIGHTNING_NOISE: tuple[tuple[str, type[Warning]], ...] = (
    # ModelCheckpoint warns when RUN/checkpoints holds files: always so on --resume, and unetkit manages its
    # run folders itself (a new run never starts in a folder holding a checkpoint).
    (r"Checkpoint directory .* exists and is not empty\.", Warning),
    # Lightning's own pytree helper still builds torch's deprecated LeafSpec (torch >= 2.14): not ours to fix.
    (r".*isinstance\(treespec, LeafSpec\)", FutureWarning),
    # On a GPU host a CPU run (--device cpu, or a plan timed on the CPU) is chosen, not forgotten; seen on an
    # H100 through fit_folder(device="cpu"), which promises to print nothing.
    (r"GPU available but not used\.", Warning),
    # The plan sets data.num_workers from its own timing (0 on a CPU: loader processes compete with the
    # training threads); Lightning's advice to use one per core contradicts it on a many-core host.
    (r"The '(train|val|test|predict)_dataloader' does not have many workers", Warning),
    # A short epoch (a few images, fit with data.dataset=folder) under the default log_every_n_steps: the
    # step counter that times logging runs on across epochs, so the training loss is still logged (every
    # log_every_n_steps steps, and once per epoch); the advice changes nothing the user sees.
    (r"The number of training batches \(\d+\) is smaller than the logging interval", Warning),
)


def ignore_lightning_noise() -> None:
    """Add ``ignore`` filters for :data:`LIGHTNING_NOISE` (to the current filters: the caller scopes them)."""
    for message, category in LIGHTNING_NOISE:
        warnings.filterwarnings("ignore", message=message, category=category)


# The loggers Lightning's rank_zero_info lines go through (lightning_utilities' rank_zero module logs on the
# one the last Lightning package imported named: pytorch's, or fabric's).
LIGHTNING_LINE_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")
# Lightning's line at the end of the last epoch trainer.max_epochs allows.
MAX_EPOCHS_LINE = "`Trainer.fit` stopped: `max_epochs="


class LightningLines(logging.Filter):
    """Drops Lightning's INFO lines that say nothing about the run or contradict unetkit's own: the
    litlogger advert ("Tip: For seamless cloud logging ...", on every fit), and "`Trainer.fit` stopped:
    `max_epochs=2` reached." where ``budget_stopped()`` says the time budget ended training (a trial's
    budget stopped an epoch-capped run within its last epoch, and both lines were logged; unetkit's
    "stopped by the 2m time budget ..." is the true one)."""

    def __init__(self, budget_stopped: Callable[[], bool] = lambda: False) -> None:
        super().__init__()
        self.budget_stopped = budget_stopped

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "litlogger" in message:
            return False
        return not (message.startswith(MAX_EPOCHS_LINE) and self.budget_stopped())


@contextmanager
def lightning_lines_filtered(budget_stopped: Callable[[], bool] = lambda: False) -> Iterator[None]:
    """:class:`LightningLines` on Lightning's line loggers while the block runs (library training: the
    caller's loggers are as they were after it)."""
    line_filter = LightningLines(budget_stopped)
    loggers = [logging.getLogger(name) for name in LIGHTNING_LINE_LOGGERS]
    for logger in loggers:
        logger.addFilter(line_filter)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(line_filter)
