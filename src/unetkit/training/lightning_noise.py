"""Lightning's warnings that say nothing about the user's run, in one place: the CLI ignores them for its
process (it owns it); library training ignores them only while it runs (``warnings.catch_warnings``).
Imports nothing heavy: the CLI reads it at start-up."""

from __future__ import annotations

import warnings

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
