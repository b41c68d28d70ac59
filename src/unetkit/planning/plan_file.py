"""A plan file and the files beside it, for ``unetkit plan DIR --out FILE`` (which writes them) and for a run
that trains the file again (``unetkit fit DIR --plan FILE``, :func:`unetkit.fit_folder` with ``plan=``).

Prints nothing: errors are one-line ValueErrors naming the value and the fix. ``option`` names a value as
the caller's user gave it: a command-line flag (``--device``) or a Python keyword (``device=``, ending with
``=``).
"""

from __future__ import annotations

import contextlib
import json
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def dataset_file(plan_path: Path) -> Path:
    """The discovery JSON beside a plan: ``dataset.json`` beside ``plan.yaml``, else ``<stem>.dataset.json``
    (two plans in one folder keep their own)."""
    name = "dataset.json" if plan_path.name == "plan.yaml" else f"{plan_path.stem}.dataset.json"
    return plan_path.with_name(name)


def figure_file(plan_path: Path) -> Path:
    """The figure beside a plan: ``plan.png`` beside ``plan.yaml``, else ``<stem>.png``."""
    return plan_path.with_name(f"{plan_path.stem}.png")


def plan_dataset_path(plan_path: Path) -> Path | None:
    """The discovery JSON of an existing plan file (:func:`dataset_file`, or ``dataset.json`` beside it for
    plans written before ``<stem>.dataset.json``); None where there is neither."""
    for dataset in (dataset_file(plan_path), plan_path.with_name("dataset.json")):
        if dataset.is_file():
            return dataset
    return None


def check_plan_device(
    device: str, plan: Mapping[str, Any], plan_path: Path, root: Path, option: str = "--device"
) -> None:
    """A device given with a plan file (``option``) must be what the plan was measured on (its
    trainer.accelerator): its batch, width and budget were chosen from that device's speed. ``cuda`` on a
    machine without a GPU fails as it does without a plan file."""
    from unetkit.devices import resolve_device

    device = resolve_device(device)
    accelerator = str((plan.get("trainer") or {}).get("accelerator") or "auto")
    planned = {"cpu": "cpu", "gpu": "cuda", "cuda": "cuda"}.get(accelerator)
    if planned is not None and planned != device:
        said = f"{option}{device!r}" if option.endswith("=") else f"{option} {device}"
        raise ValueError(
            f"{said}: the plan file {plan_path} was measured and planned on {planned}; drop "
            f"{option}, or plan again on {device} (unetkit plan {shlex.quote(str(root))} --device {device})"
        )


def plan_trainer_overrides(threads: int | None, precision: str | None) -> list[str]:
    """``--threads``/``--precision`` (``threads=``/``precision=``) with a plan file: the trainer keys they
    set over the plan's, to come before the caller's own overrides (which have the last word)."""
    trainer = [f"trainer.num_threads={threads}"] if threads is not None else []
    return trainer + ([f"trainer.precision={precision}"] if precision is not None else [])


def unused_plan_model_note(name: str, dropped: dict[str, Any], planned: str) -> str:
    """The line saying which of a plan's model keywords the overriding model ``name`` trains without
    (:func:`unetkit.training.config.unused_model_kwargs`), and why the plan chose them; '' when none."""
    from unetkit.training.config import unused_model_note

    return unused_model_note(
        name,
        dropped,
        "the plan's",
        f" (the plan measured {planned} candidates for {'it' if len(dropped) == 1 else 'them'}); the plan's "
        "data pipeline, loss, augmentation and schedule are kept",
    )


def planned_model(text: str) -> str:
    """The model a plan file ``text`` names (``model.name``; the config's default where it names none)."""
    import yaml

    from unetkit.training.config import ModelSection

    with contextlib.suppress(yaml.YAMLError, AttributeError):
        name = ((yaml.safe_load(text) or {}).get("model") or {}).get("name")
        if isinstance(name, str):
            return name
    return ModelSection().name


def reused_plan_files(
    plan_path: Path, text: str, changed: Sequence[str], call: str | None = None
) -> dict[str, str | bytes]:
    """The run folder's ``plan.yaml``, ``dataset.json`` and ``plan.png`` of a run that trains the plan file
    ``plan_path`` (its ``text``) with the overrides ``changed`` (those that change its config).

    plan.yaml is the file with the values trained in place of the plan's (each reason naming the plan's
    choice), under a line naming the file, the overrides and the ``call`` that trained it (the file's own
    header may name another run's overrides; config.yaml holds the values trained). dataset.json is copied
    when it exists. plan.png is copied, or drawn again for the values trained where the overrides changed
    the plan (drawn now: a failure comes before training, as a new plan's does).
    """
    from unetkit.planning.folder import overridden_plan_text, plan_figure_of_file
    from unetkit.training.config import unused_model_kwargs

    given = f" with {' '.join(changed)}" if changed else " as is"
    trained = overridden_plan_text(_without_run_header(text), changed)
    header = f"# this run trained {plan_path.resolve()}{given}{f': {call}' if call else ''}\n"
    with contextlib.suppress(ValueError, TypeError, OSError):  # a file the config check refuses, with its fix
        note = unused_plan_model_note(*unused_model_kwargs(plan_path, list(changed)), planned_model(text))
        header += f"# {note}\n" if note else ""
    files: dict[str, str | bytes] = {"plan.yaml": f"{header}{trained}"}
    dataset = plan_dataset_path(plan_path)
    if dataset is not None:
        files["dataset.json"] = dataset.read_text()
    figure = figure_file(plan_path)
    if figure.is_file():  # plans written before plan.png have none
        files["plan.png"] = figure.read_bytes()
        if changed and trained != text and dataset is not None:
            # A plan file or dataset.json of an older unetkit (no fingerprint, no measured rows): its figure
            # as it was; plan.yaml names the overrides.
            with contextlib.suppress(KeyError, TypeError, ValueError):
                files["plan.png"] = plan_figure_of_file(trained, text, json.loads(dataset.read_text()))
    return files


# The lines a run folder's plan.yaml starts with (cli.plan, reused_plan_files, fit --replay): its run's
# overrides. A run that trains that file has its own (a trial read "this run trained ... with
# model.name=unet" above "overridden on the command line: model.name=pixel_classifier").
_RUN_HEADERS = ("# this run trained ", "# this run replays ", "# overridden on the command line: ")


def _without_run_header(text: str) -> str:
    """``text`` (a plan.yaml) without the header lines an earlier run's folder gave it (:data:`_RUN_HEADERS`),
    which would name that run's overrides above this run's."""
    lines = text.splitlines(keepends=True)
    start = 0
    while start < len(lines) and lines[start].startswith(_RUN_HEADERS):
        start += 1
    return "".join(lines[start:])
