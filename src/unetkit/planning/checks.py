"""Checks that ``unetkit plan``/``unetkit fit DIR`` and :func:`unetkit.fit_folder` make before a folder is
fingerprinted and its candidates measured (up to ``--measure-limit`` seconds), so that an error comes first.

Each raises a one-line ValueError naming the value and the fix, and prints nothing. ``option`` names the
value as the caller's user gave it: a command-line flag (``--out``) or a Python keyword (``out=``, ending
with ``=``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _said(option: str, value: object) -> str:
    """``--out runs/a`` for a flag, ``out=runs/a`` for a keyword (``option`` ending with ``=``)."""
    return f"{option}{value}" if option.endswith("=") else f"{option} {value}"


def check_writable(path: Path, option: str, *, file: bool = False, given: Path | None = None) -> None:
    """A ValueError naming ``path`` (given as ``option``) when it cannot be written: the nearest part of it
    that exists (the folder a write creates the rest in, or ``path`` itself) is a file, read-only or not
    writable. ``file``: ``path`` is a file to (over)write atomically, so its folder is what must be writable
    (an existing plan.yaml is replaced: planning twice in one folder had been refused). Run before planning,
    so that the error comes before the ~30-50 s of measuring, and names the user's path rather than the
    hidden temp file of an atomic write. ``given``: the path the user gave as ``option`` when ``path`` is a
    file derived from it (``--out pp/plan.yaml`` writes ``pp/plan.png``): the error names both."""
    path = Path(path)
    said = (
        _said(option, path)
        if given is None or Path(given) == path
        else f"{_said(option, given)} (it writes {path})"
    )
    if file and path.is_dir():
        if given is not None and Path(given) != path:
            raise ValueError(f"{said}: {path} is a folder; remove or rename it, or pass another {option}")
        raise ValueError(f"{said} is a folder; name the file to write, e.g. {path / 'plan.yaml'}")
    folder = path.parent if file else path
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"{said}: {folder} is a file, not a folder; write the output elsewhere")
    if not os.access(folder, os.W_OK | os.X_OK):
        try:
            read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        except (AttributeError, OSError):  # no statvfs (Windows): say what is certain
            read_only = False
        why = "is on a read-only file system" if read_only else "is not writable for this user"
        raise ValueError(f"{said}: {folder} {why}; write the output elsewhere")


def check_unknown_names(overrides: Sequence[str], model: str | None = None) -> None:
    """A typo in an override (``trainer.max_epoch=5``, ``loss=dcie``, ``model.name=unett``) or a value its
    key cannot take (``trainer.max_epochs=0``), named before the data is fingerprinted and the plan
    measured: user trials waited 15-28 s of silence for each (``unetkit fit DIR`` and ``fit_folder`` alike).
    Any other complaint about the default config and the overrides waits for the plan's values, which may
    settle it; a bad value of the caller's own key cannot be settled by them (the caller's comes last).
    The model keywords the caller gives are checked too (:func:`check_model_overrides`; ``model``: the
    model the plan will name)."""
    from unetkit.training.config import load_config

    try:
        load_config(None, list(overrides))
    except ValueError as exc:
        text = str(exc)
        if text.startswith("Unknown") or ": Unknown " in text:
            raise
        if any(text.startswith(f"Config key {o.split('=', 1)[0].strip()}=") for o in overrides):
            raise
        return
    check_model_overrides(overrides, model)


def check_model_overrides(
    overrides: Sequence[str], model: str | None = None, path: str | Path | None = None
) -> None:
    """The keywords the caller gives the model (``model.kwargs.K=V``), checked against the model the run
    will build: the one the caller names (``model.name=segnet``), else the plan file's (``path``), else
    ``model`` (the one a new plan names; None: not known, nothing checked). A TypeError naming a keyword it
    does not take, with a did-you-mean and the keywords it takes
    (:func:`unetkit.models.registry.check_model_kwargs`), before the ~40 s of measuring, not when the model
    is built after them. The plan's own width and depth are no concern here: a model that does not take
    them trains without them (:func:`unetkit.training.config.load_config`)."""
    from unetkit.training.config import load_config, parse_override

    given = [o for o in overrides if o.split("=", 1)[0].strip().split(".")[0] == "model"]
    if not given:
        return
    try:
        config = load_config(path, list(overrides))
    except ValueError:
        return  # a complaint the plan's values may settle: the config's own check names what remains
    models = [parse_override(o).get("model") for o in given]
    named = path is not None or any(isinstance(m, dict) and "name" in m for m in models)
    name = config.model.name if named else model
    if name is None:
        return
    if config.model.kwargs:
        from unetkit.models.registry import check_model_kwargs

        check_model_kwargs(name, config.model.kwargs)
    crop_known = path is not None or any(o.split("=", 1)[0].strip() == "data.crop_size" for o in overrides)
    check_fixed_size_model(name, config.model.kwargs, config.data.crop_size if crop_known else ())


def check_fixed_size_model(name: str, kwargs: Mapping[str, Any], crop: Sequence[int] | None) -> None:
    """A model with a dense head (``fcn_reshape``) takes one input size only, which nothing takes from the
    plan's crop: a trial's ``fit DIR model.name=fcn_reshape`` measured, then failed on its first crop with
    "built for input size (64, 64), got (32, 32)". A ValueError naming ``model.kwargs.input_size`` and
    ``data.crop_size`` unless both are given and agree (fit validates and scores whole images too, so both
    are the images' size). ``crop``: the run's ``data.crop_size`` (None: whole images), or ``()`` where the
    plan is still to pick it. Models of any input size, and models that do not build here (their own error
    comes when the run builds them), pass."""
    import torch

    from unetkit.models import create_model
    from unetkit.models.base import model_geometry
    from unetkit.models.registry import registered_name

    key = registered_name(name)  # a deprecated name without a second warning
    if key is None:
        return
    try:
        with torch.device("meta"):  # shapes only: no memory, no time
            built = create_model(key, in_channels=1, num_classes=2, **kwargs)
    except Exception:  # any build error is the run's to report, with its own message
        return
    fixed = model_geometry(built).fixed_input_size
    if fixed is None:
        return
    why = f"model.name={name}: a dense head fixes its input size, and fit feeds it crops and whole images"
    if "input_size" not in kwargs:
        raise ValueError(
            f"{why}; give model.kwargs.input_size=[H,W] data.crop_size=[H,W], both the H x W of every image "
            f"(else it is built for {fixed[0]}x{fixed[1]})"
        )
    size = f"[{fixed[0]},{fixed[1]}]"
    if crop == ():
        raise ValueError(
            f"{why}; give data.crop_size={size} with model.kwargs.input_size={size} (else the plan picks a "
            "crop for a U-Net)"
        )
    if crop is not None and tuple(crop) != fixed:
        raise ValueError(
            f"{why}; data.crop_size=[{crop[0]},{crop[1]}] differs from model.kwargs.input_size={size}: give "
            "both the H x W of every image"
        )


def check_run_output(overrides: Sequence[str], *, out_given: bool, option: str = "--out") -> None:
    """The run folder, checked before the data is fingerprinted and the plan measured, not after:
    ``output.name=NAME`` of a folder that already holds a run is refused (fit's own check, the same error),
    and so is a place that cannot be written (read-only). ``out_given``: the user named the folder with
    ``option`` (``--out``, or ``out=`` in a Python call), which the messages then name; it came here as
    ``output.root`` + ``output.name`` in ``overrides``."""
    from unetkit.training.config import load_config
    from unetkit.training.run_folder import new_run_dir

    config = load_config(None, [o for o in overrides if o.startswith("output.")])
    if config.output.name:
        new_run_dir(config, option)
    folder = Path(config.output.root) / (config.output.name or "")
    check_writable(folder, option if out_given else "run folder")
