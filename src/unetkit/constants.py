"""Constants shared across unetkit."""

# Label value that losses and metrics skip. One value everywhere: dataset readers map "void"/"border"
# classes to it, augmentation pads masks with it, losses pass it to ``ignore_index``.
IGNORE_INDEX: int = 255

# Overlay colour weight when none is given: ``unetkit predict --alpha``, the server's form and the overlay
# functions all default to it.
OVERLAY_ALPHA: float = 0.5

# Exit statuses of the `unetkit` commands, in one home: every command returns these names, none keeps a
# copy of its own, so a code cannot mean two things in two commands.
EXIT_OK: int = 0
# A usage error or bad input (a ValueError/TypeError/OSError reaching the CLI), or every input of a
# multi-file command failed (nothing was written).
EXIT_USAGE: int = 2
EXIT_PARTIAL: int = 3  # some inputs failed, the others completed

# Exit status of a training run stopped at a NaN/inf loss or weight: not bad input (EXIT_USAGE), a run to
# retry (lower the LR).
EXIT_DIVERGED: int = 4

# Exit statuses of a command stopped by a signal, as shells report them (128 + the signal's number).
EXIT_INTERRUPTED: int = 130  # SIGINT, Ctrl-C
EXIT_BROKEN_PIPE: int = 141  # SIGPIPE: the reader of stdout stopped reading (`unetkit explain | head`)
EXIT_TERMINATED: int = 143  # SIGTERM: a scheduler or `kill` ending the job

# A progress bar written to a file or a pipe is plain lines, at most this often: about twice a minute keeps a
# log short and still shows a slow job moving (fit's epoch lines, training.trainer; the CLI's bars,
# cli.console).
FILE_REFRESH_SECONDS: float = 30.0
