"""Constants shared across unetkit."""

# Label value that losses and metrics skip. One value everywhere: dataset readers map "void"/"border"
# classes to it, augmentation pads masks with it, losses pass it to ``ignore_index``.
IGNORE_INDEX: int = 255

# Exit statuses of a command stopped by a signal, as shells report them (128 + the signal's number).
EXIT_INTERRUPTED: int = 130  # SIGINT, Ctrl-C
EXIT_TERMINATED: int = 143  # SIGTERM: a scheduler or `kill` ending the job
