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
)


def ignore_lightning_noise() -> None:
    """Add ``ignore`` filters for :data:`LIGHTNING_NOISE` (to the current filters: the caller scopes them)."""
    for message, category in LIGHTNING_NOISE:
        warnings.filterwarnings("ignore", message=message, category=category)
