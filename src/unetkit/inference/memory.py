"""Whether an image's class probabilities fit in memory, said before its tiles are predicted.

Without test-time augmentation and without probabilities asked for, a mask is made band by band and an image
needs about its own size again (``BasePredictor.predict_mask``). The probabilities of a whole image, which TTA
averages and ``--probs`` writes, are one float32 (K, H, W) array: a 20000 x 20000 orthomosaic of a 12-class
model needs 19 GB for it alone. Linux hands out such an array at once and kills the process only when its
pages are touched, after minutes or hours of tiles and with every later image of the batch unwritten. Here
the array's size is compared with the memory free now, before any tile runs. Torch-free (the ONNX Runtime and
OpenVINO paths use it too).
"""

from __future__ import annotations

from unetkit.devices import available_memory

__all__ = ["check_probability_memory", "probability_bytes"]

GIB = 1024**3


def probability_bytes(classes: int, height: int, width: int) -> int:
    """Bytes of a float32 (K, H, W) probability map."""
    return 4 * max(1, classes) * height * width


def check_probability_memory(classes: int, height: int, width: int, views: int, probs_asked: bool) -> None:
    """A one-line ValueError when the (K, H, W) probability map of a ``height x width`` image, with the mask
    made from it, needs more memory than is free now (a lower bound: tiles and output files come on top);
    nothing where it fits or the free memory is unknown.

    ``views``: the TTA views averaged (0 or 1: none); ``probs_asked``: the probabilities were asked for
    (``predict()``, ``--probs``), so the map is needed without TTA too. The message names what to drop.
    """
    free = available_memory()
    if free is None:
        return
    needed = probability_bytes(classes, height, width) + height * width  # + the uint8 mask made from it
    if needed <= free:
        return
    size = f"{width}x{height} px"
    what = f"{max(1, classes)} x {height} x {width} float32"
    small = height * width * 2  # the band-by-band mask and the image's own copy: about this
    if views > 1 and not probs_asked:
        fix = (
            f"predict it without TTA (unetkit predict --tta none; in Python tta=False and predict_mask), "
            f"which makes the mask band by band in about {small / GIB:.1f} GiB more"
        )
        why = f"its {views}-view TTA averages class probabilities"
    else:
        fix = (
            "ask for the mask alone: without --probs, --instances and TTA (unetkit predict --tta none; in "
            f"Python predict_mask with tta=False) it is made band by band in about {small / GIB:.1f} GiB more"
        )
        averaged = f" and averaged over {views} TTA views" if views > 1 else ""
        why = f"its class probabilities are kept (--probs, --instances or predict()){averaged}"
    raise ValueError(
        f"image of {size}: {why}, {what} = {needed / GIB:.1f} GiB with its mask, and {free / GIB:.1f} GiB "
        f"of memory is free; {fix}"
    )
