"""Constants shared across unetkit."""

# Label value that losses and metrics skip. One value everywhere: dataset readers map "void"/"border"
# classes to it, augmentation pads masks with it, losses pass it to ``ignore_index``.
IGNORE_INDEX: int = 255

# Exit status of a training run stopped at a NaN/inf loss or weight: not bad input (2), a run to retry
# (lower the LR).
EXIT_DIVERGED: int = 4

# Exit statuses of a command stopped by a signal, as shells report them (128 + the signal's number).
EXIT_INTERRUPTED: int = 130  # SIGINT, Ctrl-C
EXIT_TERMINATED: int = 143  # SIGTERM: a scheduler or `kill` ending the job
