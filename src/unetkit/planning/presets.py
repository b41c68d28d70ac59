"""Packaged presets as thin overrides of a plan (issue 12): the knowledge lives in the planner's rules.

A preset is a YAML config whose top level holds a ``plan:`` block naming the dataset folder and the options
of ``unetkit fit DIR`` (``time``, ``void``, ``classes``, ``split``, ``mask_kind``, ``threads``); its other
keys are the few choices made beyond the plan, each with the evidence in a comment, e.g.::

    plan: {dir: ../shared/data/isbi2012, time: 19m}
    trainer: {ema_decay: 0.99}   # chosen on validation: benchmarks/results/isbi_sweep/selection_on_val.md

``unetkit fit --config isbi2012`` then plans the folder on this machine (as ``unetkit fit DIR --time 19m``
would) and applies the preset's keys after the plan's and before the command line's. Torch-free.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from unetkit.data.datasets.registry import DATA_ENV
from unetkit.planning.plan import _flow  # one-line YAML, as the plan's overrides

__all__ = ["PLAN_FLAGS", "PlanPreset", "read_plan_preset"]

# plan: key -> the argparse dest of `unetkit fit DIR`'s option (cli/plan.py: add_discovery_arguments)
PLAN_FLAGS = {
    "time": "budget",
    "void": "void",
    "classes": "classes",
    "split": "split",
    "mask_kind": "mask_kind",
    "threads": "threads",
}


@dataclass(frozen=True)
class PlanPreset:
    """A preset file read: the folder to plan, ``fit DIR``'s options and the keys applied after the plan."""

    path: Path
    folder: Path
    flags: dict[str, Any] = field(default_factory=dict)  # argparse dest -> value
    overrides: list[str] = field(default_factory=list)  # "key.sub=value", YAML flow values

    def apply(self, args: argparse.Namespace) -> None:
        """``unetkit fit --config PRESET [DIR] [KEY=VALUE...]`` -> ``unetkit fit DIR [flags] PRESET-KEYS
        [KEY=VALUE...]``: a folder or an option given on the command line wins over the preset's."""
        given = list(args.overrides or [])
        folder = given.pop(0) if given and "=" not in given[0] else None
        # data.root=PATH names the data folder of a config; with a preset it is the folder to plan (a README
        # trial's data.root= was ignored and the preset's own folder reported missing).
        roots = [item for item in given if item.split("=", 1)[0].strip() == "data.root"]
        if roots and folder is None:
            folder = roots[-1].split("=", 1)[1].strip()
            given = [item for item in given if item not in roots]
        if folder is None:
            if not self.folder.is_dir():
                name = self.path.stem
                raise ValueError(
                    f"the {name} preset plans {self.folder}, which does not exist; give your copy's folder: "
                    f"unetkit fit /path/to/{self.folder.name} --config {name} (or set {DATA_ENV} to the "
                    f"folder that holds {self.folder.name}/)"
                )
            folder = str(self.folder)
        args.overrides = [folder, *self.overrides, *given]
        args.config = None
        for dest, value in self.flags.items():
            if getattr(args, dest, None) is None:
                setattr(args, dest, value)


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``{"trainer": {"ema_decay": 0.99}}`` -> ``["trainer.ema_decay=0.99"]`` (leaves in YAML flow style, so
    lists and mappings parse back as the config loader reads overrides)."""
    out: list[str] = []
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.extend(_flatten(value, dotted + "."))
        else:
            out.append(f"{dotted}={_flow(value)}")
    return out


def _resolve(value: str, base: Path) -> Path:
    """A path of the preset: as given (relative to the current folder), else relative to the preset file."""
    path = Path(value).expanduser()
    if path.is_absolute() or path.exists():
        return path
    beside = base / path
    return beside if beside.exists() else path


def read_plan_preset(path: str | Path) -> PlanPreset | None:
    """The preset at ``path`` (a file, or a packaged config name), or None when it has no ``plan:`` block.

    Raises:
        ValueError: a ``plan:`` block that is not a mapping, lacks ``dir`` or names an unknown option.
    """
    from unetkit.training.config import resolve_config_path

    file = resolve_config_path(path)
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{file}: not valid YAML ({exc}).") from exc
    if not isinstance(data, dict) or "plan" not in data:
        return None
    block = data.pop("plan")
    if not isinstance(block, dict) or not block.get("dir"):
        raise ValueError(
            f"{file}: plan: must be a mapping with dir: (the dataset folder), "
            "e.g. plan: {dir: DATA, time: 20m}"
        )
    unknown = sorted(set(block) - {"dir", *PLAN_FLAGS})
    if unknown:
        raise ValueError(
            f"{file}: plan: has unknown option(s) {', '.join(unknown)}; known: dir, {', '.join(PLAN_FLAGS)}"
        )
    flags: dict[str, Any] = {}
    for key, dest in PLAN_FLAGS.items():
        if key not in block:
            continue
        value = block[key]
        if key == "void":
            value = [int(v) for v in (value if isinstance(value, list) else [value])]
        elif key == "classes":
            value = _resolve(str(value), file.parent)
        elif key == "threads":
            value = int(value)
        else:
            value = str(value)
        flags[dest] = value
    folder = _resolve(str(block["dir"]), file.parent)
    # UNETKIT_DATA moves a preset's folder as it moves data.dataset=NAME's (registry.DATA_ENV): the copy
    # there wins when it exists, so a user whose data is not in ../shared/data needs no DIR argument.
    env = os.environ.get(DATA_ENV)
    if env and (Path(env) / folder.name).is_dir():
        folder = Path(env) / folder.name
    return PlanPreset(path=file, folder=folder, flags=flags, overrides=_flatten(data))
