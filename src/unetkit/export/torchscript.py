"""TorchScript export (``torch.jit.trace``), verified at another input size than the trace.

Tracing records one execution: Python control flow on shapes (padding computed from ``x.shape`` as ints,
``if`` on sizes) is frozen to the trace size. Verifying on a different size catches exactly that, and such a
model is refused with a message pointing to the ONNX export instead.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from unetkit.export.common import (
    ExportResult,
    atomic_output,
    check_agreement,
    check_export_folder,
    check_small_input,
    eager_output,
    eval_mode,
    exported_config,
    make_sample,
    max_abs_diff,
    model_device,
    pick_sizes,
    random_input,
    remove_created_on_error,
)
from unetkit.inference.variants import record_export_check
from unetkit.model_files.model_config import CONFIG_NAME, ModelConfig
from unetkit.model_files.model_io import weights_digest

logger = logging.getLogger(__name__)

TORCHSCRIPT_NAME = "model.ts.pt"
# torch's wording: "`torch.jit.trace` is deprecated. Please switch to `torch.compile` or `torch.export`."
_JIT_DEPRECATED = r"`torch\.jit\.\w+` is deprecated"


def export_torchscript(
    model: nn.Module,
    config: ModelConfig,
    out_dir: str | Path,
    verify: bool = True,
    atol: float = 1e-4,
    sample_size: tuple[int, int, int, int] | None = None,
) -> ExportResult:
    """Write ``out_dir/model.ts.pt`` (load with ``torch.jit.load``) and ``config.json``.

    With ``verify`` the loaded file is compared with eager PyTorch on a random input of another batch and
    H/W; a difference above ``atol`` (or a failure to run at that size) raises ``ValueError`` and leaves no
    file.
    """
    if atol < 0:
        raise ValueError(f"atol must be >= 0, got {atol}.")
    out_dir = Path(out_dir)
    check_export_folder(out_dir, model)  # before anything is written
    final = out_dir / TORCHSCRIPT_NAME
    start = time.perf_counter()
    with eval_mode(model), warnings.catch_warnings(), remove_created_on_error(out_dir):
        # torch (2.14 here) warns from torch.jit that trace/save/load are deprecated in favour of
        # torch.export: a note to code authors that the user who asked for this format can do nothing about
        # (four lines on every export). Only those FutureWarnings are ignored, only during this export.
        warnings.filterwarnings(
            "ignore", message=_JIT_DEPRECATED, category=FutureWarning, module=r"torch\.jit\."
        )
        device = model_device(model)
        sample = make_sample(model, config, sample_size, device)
        sizes = pick_sizes(model, (sample.shape[2], sample.shape[3]))
        try:
            with torch.no_grad(), warnings.catch_warnings():
                # TracerWarnings flag Python-side shape logic; verification below decides if it matters.
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                traced = torch.jit.trace(model, (sample,), check_trace=False)
        except Exception as exc:
            raise ValueError(
                f"torch.jit.trace cannot trace {config.architecture!r} ({exc}); use the ONNX export instead."
            ) from exc
        diff: float | None = None
        verify_shape: tuple[int, ...] | None = None
        with atomic_output(final) as tmp:
            torch.jit.save(traced, str(tmp))
            if verify:
                verify_shape = (2, config.in_channels, *sizes.verify)
                x = random_input(verify_shape, seed=1)
                reference = eager_output(model, x)
                loaded = torch.jit.load(str(tmp), map_location=device)
                try:
                    candidate = eager_output(loaded, x)
                except Exception as exc:
                    raise ValueError(
                        f"the traced {config.architecture!r} does not run on shape {verify_shape} (traced on "
                        f"{tuple(sample.shape)}): it has size-dependent Python code; use the ONNX export."
                    ) from exc
                diff = max_abs_diff(reference, candidate, "TorchScript")
                what = f"TorchScript export of {config.architecture!r}"
                check_agreement(diff, atol, what, verify_shape)
                if sizes.dynamic_hw:
                    check_small_input(
                        model, config, lambda a: eager_output(loaded, torch.from_numpy(a)), what, atol
                    )
    config_path = exported_config(model, config).save(out_dir / CONFIG_NAME)
    # The weights it came from, as the other exports record theirs: a later export into this folder knows it.
    record_export_check(out_dir, "torchscript", diff, atol, verify_shape, weights_digest(model))
    seconds = time.perf_counter() - start
    logger.info("exported %s to %s in %.1f s (max abs diff %s)", config.architecture, final, seconds, diff)
    return ExportResult(
        path=final,
        config_path=config_path,
        format="torchscript",
        exporter="jit.trace",
        sample_shape=tuple(sample.shape),
        verify_shape=verify_shape,
        max_abs_diff=diff,
        dynamic_axes=["batch", "height", "width"] if sizes.dynamic_hw else ["batch"],
        seconds=seconds,
    )
