"""Constants shared across unetkit."""

# Label value that losses and metrics skip. One value everywhere: dataset readers map "void"/"border"
# classes to it, augmentation pads masks with it, losses pass it to ``ignore_index``.
IGNORE_INDEX: int = 255
