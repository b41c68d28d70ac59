"""Training configuration: typed sections with their defaults, from YAML and ``key.sub=value`` overrides.

Every section is declared once, as a pydantic model (or, for sections owned by ``unetkit.data``, as the
dataclass that the data code itself takes: :class:`~unetkit.data.transforms.AugmentOptions`,
:class:`~unetkit.data.weight_map.WeightMapConfig`). The declaration holds the defaults, the types and the
checks; consumers read attributes (``config.trainer.max_epochs``). Pydantic (already a dependency of
albumentations) does the type checks and coercion; this module turns its errors into one line naming the
key, the value and the fix, with "did you mean" for unknown keys and names. Not LightningCLI: the resolved
config written into the run folder stays plain YAML that :func:`load_config` reads again.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import shlex
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from pydantic import model_validator as _model_validator

from unetkit.data.transforms import AugmentOptions
from unetkit.data.weight_map import WeightMapConfig
from unetkit.files import atomic_write_text
from unetkit.options import look_up_option, to_pair

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "poly", "plateau", "none")
SCHEDULE_BY = ("epoch", "time")


def _no_bool(value: Any) -> Any:
    # pydantic's lax mode reads True as 1.0; a boolean where a number belongs is always a mistake.
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    return value


# Strict ints: 2.0, "2" and True are refused (a float epoch count is a typo, not a wish).
Int = Annotated[int, Field(strict=True)]
PositiveInt = Annotated[int, Field(strict=True, ge=1)]
NonNegativeInt = Annotated[int, Field(strict=True, ge=0)]
# Floats accept ints and refuse NaN/inf (allow_inf_nan=False on every section).
Float = Annotated[float, BeforeValidator(_no_bool)]
PositiveFloat = Annotated[float, BeforeValidator(_no_bool), Field(gt=0)]
NonNegativeFloat = Annotated[float, BeforeValidator(_no_bool), Field(ge=0)]


class Section(BaseModel):
    """Base of every section: unknown keys, NaN/inf and bad types are errors; assignments are checked."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


def _name(options: tuple[str, ...] | None, what: str) -> Any:
    """A validator that looks ``value`` up in ``options`` (or in ``what``'s registry) with "did you mean"."""

    def check(value: Any) -> Any:
        if value is None and "none" in (options or ()):
            value = "none"
        try:
            return look_up_option(value, options if options is not None else _registry(what), what)
        except TypeError as exc:  # pydantic reports ValueError only
            raise ValueError(str(exc)) from exc

    return BeforeValidator(check)


def _doc(fix: str) -> Any:
    """Field metadata: ``fix`` completes the error message "expected <fix>"."""
    return Field(description=fix)


def _check_tta(value: Any) -> Any:
    """``evaluate.tta``: true (the 8 flips/rotations), false, "flips" or transform names ("identity,hflip"),
    normalised (unknown names list the options)."""
    if isinstance(value, bool):
        return value
    from unetkit.inference.tta import DIHEDRAL, resolve_tta

    try:
        names = resolve_tta(value)
    except (TypeError, ValueError) as exc:  # pydantic reports ValueError only
        raise ValueError(str(exc)) from exc
    return True if names == DIHEDRAL else (",".join(names) if names else False)


def _registry(what: str) -> list[str]:
    # Imported on use: the registries import torch (losses, models) or builder modules.
    if what == "dataset":
        from unetkit.data.datasets import list_datasets

        return list_datasets()
    from unetkit.models.registry import list_models

    return list_models()


class DataConfig(Section):
    dataset: Annotated[str, _name(None, "dataset")] = "synthetic"
    root: Annotated[Path | None, _doc("the dataset folder (null: the dataset's default location)")] = None
    options: Annotated[dict[str, Any], _doc("the dataset builder's options, e.g. {num_images: 10}")] = {}
    crop_size: Annotated[
        tuple[int, int] | None,
        _doc("[H, W] (or one int) of the random training crop, or null for whole images"),
    ] = (96, 96)
    repeat: Annotated[PositiveInt, _doc("how often each epoch visits every training image, e.g. 1")] = 1
    batch_size: Annotated[PositiveInt, _doc("a positive integer, e.g. 8")] = 8
    shuffle: Annotated[bool, _doc("true, or false for a fixed order (DDP against one process)")] = True
    num_workers: Annotated[NonNegativeInt, _doc("DataLoader worker processes, e.g. 0 or 4")] = 0
    cache: Annotated[
        bool | Literal["auto"],
        _doc("keep the decoded training images in memory: true, false, or auto (when they fit in 2 GiB and a "
             "quarter of the free memory, without loader workers)"),
    ] = "auto"  # fmt: skip
    val_images: Annotated[
        PositiveInt | None,
        _doc("validate during training on this many images of val, evenly spaced, or null for all (the "
             "final evaluation scores every image), e.g. 50"),
    ] = None  # fmt: skip
    augment: AugmentOptions = AugmentOptions()
    weight_map: Annotated[
        WeightMapConfig | None, _doc("null, or the U-Net paper's weight map, e.g. {w0: 10, sigma: 5}")
    ] = None

    @field_validator("crop_size", mode="before")
    @classmethod
    def _crop_pair(cls, value: Any) -> Any:
        try:
            return None if value is None else to_pair(value, "data.crop_size", minimum=1)
        except TypeError as exc:  # pydantic reports ValueError only
            raise ValueError(str(exc)) from exc

    @_model_validator(mode="after")
    def _options_fit_the_dataset(self) -> DataConfig:
        from unetkit.data.datasets.registry import split_overrides

        try:
            split_overrides(self.dataset, self.options)  # unknown options name the dataset's own list
        except ValueError as exc:
            raise ValueError(f"data.options: {exc}") from exc
        return self


class ModelSection(Section):
    name: Annotated[str, _name(None, "model")] = "unet"
    kwargs: Annotated[
        dict[str, Any], _doc("keyword arguments of create_model(name, ...), e.g. {depth: 4}")
    ] = {}


class OptimConfig(Section):
    name: Annotated[str, _name(OPTIMIZERS, "optimizer")] = "adamw"
    lr: Annotated[PositiveFloat, _doc("a positive finite number, e.g. 1e-3")] = 1e-3
    weight_decay: Annotated[NonNegativeFloat, _doc("a finite number >= 0, e.g. 1e-4")] = 1e-4
    momentum: Annotated[Float, Field(ge=0, lt=1), _doc("a number in [0, 1), e.g. 0.9 (sgd only)")] = 0.9


class ScheduleConfig(Section):
    name: Annotated[str, _name(SCHEDULES, "schedule")] = "cosine"
    # time: progress = the share of trainer.max_time_minutes used (or of max_epochs, whichever is further).
    by: Annotated[str, _name(SCHEDULE_BY, "schedule.by")] = "epoch"
    warmup_epochs: Annotated[NonNegativeInt, _doc("epochs of linear warmup from lr/10, e.g. 0 or 2")] = 0
    power: Annotated[PositiveFloat, _doc("the poly decay's exponent, e.g. 0.9")] = 0.9
    patience: Annotated[NonNegativeInt, _doc("plateau: epochs without improvement, e.g. 5")] = 5
    factor: Annotated[Float, Field(gt=0, lt=1), _doc("plateau: an LR factor in (0, 1), e.g. 0.5")] = 0.5


class TrainerConfig(Section):
    max_epochs: Annotated[PositiveInt, _doc("a positive integer, e.g. 20")] = 20
    max_time_minutes: Annotated[
        PositiveFloat | None, _doc("minutes after which training stops (and still evaluates), or null")
    ] = None
    precision: Annotated[str, _doc("auto (16-mixed on CUDA, else 32-true) or a Lightning value")] = "auto"
    gradient_clip_val: Annotated[NonNegativeFloat | None, _doc("a number >= 0, or null")] = 1.0
    accelerator: str = "auto"
    devices: Annotated[int | str | list[int], _doc("a count, 'auto' or a list of device ids")] = 1
    strategy: str = "auto"
    num_nodes: PositiveInt = 1
    early_stopping_patience: Annotated[PositiveInt | None, _doc("validations to wait, or null")] = None
    monitor: Annotated[str, _doc("a logged metric (best.ckpt, early stopping, plateau), e.g. val/miou")] = (
        "val/miou"
    )
    # NumPy's seeding bounds: a negative seed had passed here and failed in NumPy without naming the key.
    seed: Annotated[
        NonNegativeInt,
        Field(le=2**32 - 1),
        _doc("an integer from 0 to 4294967295: model init, augmentation and the DDP sampler"),
    ] = 0
    log_every_n_steps: PositiveInt = 5
    check_val_every_n_epoch: PositiveInt = 1
    progress_bar: bool = True
    limit_train_batches: Annotated[
        PositiveInt | Annotated[Float, Field(gt=0, le=1)] | None,
        _doc("a batch count, a fraction in (0, 1], or null"),
    ] = None
    channels_last: Annotated[bool, _doc("true for NHWC tensors (faster for small U-Nets on CPU)")] = False
    ema_decay: Annotated[
        Annotated[Float, Field(gt=0, lt=1)] | None,
        _doc("a number in (0, 1) such as 0.99 (moving average of the weights), or null"),
    ] = None
    num_threads: Annotated[
        PositiveInt | None,
        _doc(
            "torch intra-op threads while the run trains and scores, the caller's count put back after "
            "(null: torch's default)"
        ),
    ] = None

    @property
    def monitor_mode(self) -> Literal["min", "max"]:
        """Direction in which ``monitor`` improves (see :func:`monitor_mode`)."""
        return monitor_mode(self.monitor)


def monitor_mode(monitor: str) -> Literal["min", "max"]:
    """``"min"`` for a logged loss or error (``val/loss``, ``val/pixel_error``), ``"max"`` for scores."""
    return "min" if monitor.endswith(("loss", "error")) else "max"


class EvaluateConfig(Section):
    split: str = "test"
    tta: Annotated[
        bool | str,
        BeforeValidator(_check_tta),
        _doc('true (the 8 flips/rotations), false, "flips" or names such as "identity,hflip"'),
    ] = False
    num_figure_samples: NonNegativeInt = 4
    # Which weights become RUN/model and are evaluated: "best" (by trainer.monitor) or "last" (the end of the
    # schedule; steadier when the validation split is small, see benchmarks/configs/isbi2012.yaml).
    checkpoint: Annotated[str, _name(("best", "last"), "evaluate.checkpoint")] = "best"


class OutputConfig(Section):
    root: Path = Path("runs")
    name: Annotated[str | None, _doc("a run folder name (null: <dataset>-<model>-<time>)")] = None


LossSpec = Union[str, dict[str, Float]]  # noqa: UP007 (pydantic reads the annotation at runtime)


class Config(Section):
    """The resolved training config (see :func:`load_config`)."""

    data: DataConfig = DataConfig()
    model: ModelSection = ModelSection()
    loss: Annotated[LossSpec, _doc("a registered loss, a sum 'ce+dice' or {ce: 1, dice: 0.5}")] = "ce+dice"
    class_weights: Annotated[list[NonNegativeFloat] | None, _doc("one weight per class, or null")] = None
    optim: OptimConfig = OptimConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    trainer: TrainerConfig = TrainerConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    output: OutputConfig = OutputConfig()

    @field_validator("loss", mode="before")
    @classmethod
    def _known_losses(cls, value: Any) -> Any:
        from unetkit.losses.factory import parse_loss_spec

        try:
            parse_loss_spec(value)  # registered names, finite weights >= 0
        except TypeError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @_model_validator(mode="after")
    def _consistent(self) -> Config:
        sched, trainer = self.schedule, self.trainer
        if sched.by == "time" and sched.name == "plateau":
            raise ValueError("schedule.by=time works with schedule.name cosine, poly or none, got 'plateau'.")
        if sched.by == "time" and not trainer.max_time_minutes:
            raise ValueError(
                "schedule.by=time needs a time budget: set trainer.max_time_minutes (e.g. 19), "
                "or use schedule.by=epoch."
            )
        from unetkit.losses.factory import parse_loss_spec

        if "weighted_ce" in {name for name, _ in parse_loss_spec(self.loss)} and self.data.weight_map is None:
            raise ValueError(
                "loss weighted_ce needs the U-Net weight map: set data.weight_map (e.g. "
                "data.weight_map={w0: 10, sigma: 5}) or use loss=ce."
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON types (lists, str paths), the form written to ``RUN/config.yaml``."""
        return self.model_dump(mode="json")


# ------------------------------------------------------------------------------------------ loading


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-3`` (no dot) as a string; every such value in a config is meant as a number."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)

# Keys whose value replaces the earlier one instead of merging into it (a loss dict is one whole spec).
_REPLACE = {"loss"}


def _merge(base: dict[str, Any], update: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Deep-merge plain dicts: a later mapping updates an earlier one key by key; an empty one replaces it
    (``model.kwargs={}`` clears a plan's or a file's model keywords)."""
    for key, value in update.items():
        dotted = f"{prefix}{key}"
        # An empty mapping merged would change nothing: given explicitly, it can only mean "none of them".
        if isinstance(base.get(key), dict) and isinstance(value, dict) and value and dotted not in _REPLACE:
            _merge(base[key], value, prefix=f"{dotted}.")
        else:
            base[key] = value
    return base


def parse_override(item: str) -> dict[str, Any]:
    """``"trainer.max_epochs=3"`` -> ``{"trainer": {"max_epochs": 3}}`` (value parsed as YAML)."""
    if "=" not in item:
        raise ValueError(f"Override {item!r} must look like key.sub=value (e.g. trainer.max_epochs=3).")
    key, raw = item.split("=", 1)
    try:
        value = yaml.load(raw, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ValueError(f"Override {item!r}: value is not valid YAML ({exc}).") from exc
    out: dict[str, Any] = {}
    node = out
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


PACKAGED_CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def list_packaged_configs() -> list[str]:
    return sorted(p.stem for p in PACKAGED_CONFIGS.glob("*.yaml"))


def resolve_config_path(path: str | Path) -> Path:
    """A YAML path, or the name of a packaged config (``synthetic``, ``isbi2012``, ``camvid``)."""
    path = Path(path)
    if not path.exists() and path.suffix == "" and (PACKAGED_CONFIGS / f"{path.name}.yaml").is_file():
        return PACKAGED_CONFIGS / f"{path.name}.yaml"
    if not path.exists():
        raise FileNotFoundError(
            f"Config file {path} not found; pass a YAML path or one of: {', '.join(list_packaged_configs())}."
        )
    return path


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults, then the YAML file, then each ``key=value`` override; returns the checked config.

    A ``model.name`` override naming another model drops the keywords given with the former model's name
    (the file's ``model:`` section, or a ``model={name: ..., kwargs: ...}`` override, as a plan writes
    them) that the new model does not take (:func:`unused_model_kwargs` names them): ``unetkit fit DIR
    model.name=segnet`` trains SegNet on the plan's data pipeline, not with the plan's U-Net ``depth``
    and ``base_channels``. A keyword given on its own (``model.kwargs.depth=3``) is kept, and the model
    refuses it if it does not take it. An override's mapping updates the one before it key by key; an empty
    one replaces it (``model.kwargs={}``: the model's own defaults, none of the plan's keywords).

    Raises:
        ValueError: one line naming the bad key, its value and the fix (unknown keys: "did you mean").
        FileNotFoundError: ``path`` is neither a file nor a packaged config name.
    """
    raw, _ = _raw_config(path, overrides or [])
    return validate_config(raw)


def unused_model_kwargs(
    path: str | Path | None = None, overrides: list[str] | None = None
) -> tuple[str, dict[str, Any]]:
    """(the model ``load_config(path, overrides)`` names, the keywords of another model's that it drops
    because this model does not take them: ``{}`` when none)."""
    raw, dropped = _raw_config(path, overrides or [])
    model = raw.get("model")
    name = model.get("name") if isinstance(model, dict) else None
    return str(name if name is not None else ModelSection().name), dropped


def unused_model_note(name: str, dropped: dict[str, Any], whose: str = "the config's", why: str = "") -> str:
    """One line naming the keywords ``dropped`` of another model's that model ``name`` does not take
    (:func:`unused_model_kwargs`), ``whose`` they were and ``why`` they were chosen; '' when none."""
    if not dropped:
        return ""
    given = ", ".join(f"{key}={value}" for key, value in dropped.items())
    them = "it" if len(dropped) == 1 else "them"
    return f"model.name={name}: {whose} model.kwargs {given} not used: {name} does not take {them}{why}"


def _raw_config(path: str | Path | None, overrides: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`load_config`'s merged dict before it is checked, and the model keywords it dropped."""
    raw: dict[str, Any] = {}
    # model.kwargs given with their model's name: dropped where a new model does not take them.
    tied: set[str] = set()
    if path is not None:
        path = resolve_config_path(path)
        try:
            loaded = yaml.load(path.read_text(), Loader=_Loader) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML ({exc}).") from exc
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: top level must be a mapping, got {type(loaded).__name__}.")
        if "plan" in loaded:  # unetkit.planning.presets: planned on the machine first, then these keys
            raise ValueError(
                f"{path} is a plan preset (its plan: block names a folder to plan on this machine); train it "
                f"with unetkit fit --config {shlex.quote(str(path))}, or plan it with unetkit plan DIR "
                "and load that plan.yaml."
            )
        _merge(raw, loaded)
        tied |= _model_kwargs_keys(loaded.get("model"))
    dropped: dict[str, Any] = {}
    for item in overrides:
        parsed = parse_override(item)
        if "plan" in parsed:
            raise ValueError(_plan_key(item.split("=", 1)[0].strip()))
        model = parsed.get("model")
        if isinstance(model, dict) and isinstance(model.get("name"), str):
            dropped.update(_drop_untaken(raw, tied, model["name"]))
            tied |= _model_kwargs_keys(model)
        else:  # model.kwargs.depth=3 on its own: the caller's, for whatever model the config ends with
            tied -= _model_kwargs_keys(model)
        _merge(raw, parsed)
    return raw, dropped


def _model_kwargs_keys(model: Any) -> set[str]:
    """The keys of the kwargs of ``model`` (a config's ``model:`` mapping, or anything else: none)."""
    kwargs = model.get("kwargs") if isinstance(model, dict) else None
    return {str(k) for k in kwargs} if isinstance(kwargs, dict) else set()


def _drop_untaken(raw: dict[str, Any], tied: set[str], name: str) -> dict[str, Any]:
    """Remove from ``raw``'s model kwargs the ``tied`` ones that model ``name`` does not take, where ``name``
    is another registered model than ``raw`` names; returns them. The registry (torch) is imported only
    then; an unknown name drops nothing (the config check names it)."""
    model = raw.get("model")
    kwargs = model.get("kwargs") if isinstance(model, dict) else None
    if not isinstance(kwargs, dict) or not tied & set(kwargs):
        return {}
    from unetkit.models.registry import model_keywords, registered_name

    before = model.get("name", ModelSection().name) if isinstance(model, dict) else ModelSection().name
    new = registered_name(name)
    if new is None or new == registered_name(str(before)):
        return {}
    taken = model_keywords(new)
    if taken is None:  # a model taking **kwargs: every keyword is its own to refuse
        return {}
    return {key: kwargs.pop(key) for key in sorted(tied & set(kwargs)) if key not in taken}


# fit DIR's option for each key of a preset's plan: block (unetkit.planning.presets.PLAN_FLAGS).
_PLAN_OPTIONS = {
    "time": "--time",
    "void": "--void",
    "classes": "--classes",
    "split": "--split",
    "mask_kind": "--mask-kind",
    "threads": "--threads",
}


def _plan_key(key: str) -> str:
    """The refusal of a ``plan.*`` override: ``plan:`` is a preset file's block, read before any config
    exists (the folder to plan and fit DIR's options), so no override reaches it; the refusal names where
    the key goes instead (a trial's ``plan.dir=`` was meant to move a preset's folder). Worded "Unknown
    config key" so that :func:`unetkit.planning.checks.check_unknown_names` refuses it before the data is
    measured."""
    sub = key.split(".", 1)[1] if "." in key else ""
    if sub == "dir":
        fix = "give the folder as DIR: unetkit fit DIR --config PRESET"
    elif sub in _PLAN_OPTIONS:
        fix = f"give it as fit's option {_PLAN_OPTIONS[sub]}"
    else:
        fix = (
            f"give the folder as DIR (unetkit fit DIR) and its options as {', '.join(_PLAN_OPTIONS.values())}"
        )
    return (
        f"Unknown config key {key!r}: plan: is a preset file's block (the folder it plans and fit DIR's "
        f"options), not a training key; {fix}."
    )


def changed_overrides(config_path: str | Path | None, base: list[str], user: list[str]) -> list[str]:
    """The ``key=value`` overrides of ``user`` that change the config ``config_path`` and ``base`` make, in
    order (``--score val`` on a plan that scores val changes nothing, so is not named as an override)."""
    before = load_config(config_path, base).model_dump()
    return [o for o in user if load_config(config_path, [*base, o]).model_dump() != before]


def validate_config(raw: dict[str, Any]) -> Config:
    """A plain nested dict (as in YAML) -> :class:`Config`, with the one-line errors of ``load_config``."""
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(_one_line(exc)) from None


def save_config(config: Config, path: str | Path) -> None:
    """Write the resolved config as plain YAML (atomically); :func:`load_config` reads it back."""
    atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))


# ------------------------------------------------------------------------------------------ errors


def _one_line(exc: ValidationError) -> str:
    """The first error of ``exc`` as one line: key, value, what is wrong and the fix."""
    err = exc.errors(include_url=False)[0]
    loc = [str(p) for p in err["loc"] if not isinstance(p, int)]
    # Unions report one error per member, e.g. ('trainer', 'ema_decay', 'float'): keep the config key only.
    loc = _config_key(loc)
    key = ".".join(loc)
    value = err.get("input")
    if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        known = _known_keys(loc[:-1])
        close = difflib.get_close_matches(loc[-1], known, n=1)
        parent = ".".join(loc[:-1])
        hint = f" Did you mean '{parent + '.' if parent else ''}{close[0]}'?" if close else ""
        return f"Unknown config key {key!r}.{hint} Known keys: {', '.join(sorted(known))}."
    if err["type"] == "value_error":
        message = str(err.get("ctx", {}).get("error", err["msg"]))
        named = not key or re.search(rf"(?<![\w.]){re.escape(key)}(?![\w])", message)
        return message if named else f"{key}: {message}"
    if err["type"] in ("model_type", "dataclass_type", "model_attributes_type"):
        return f"Config key {key!r} must be a mapping, got {value!r}."
    fix = _description(loc)
    what = err["msg"][0].lower() + err["msg"][1:]
    return f"Config key {key}={value!r} is invalid ({what}); expected {fix}."


def _field_types(cls: Any) -> dict[str, Any]:
    """Field name -> annotation of a pydantic model or a dataclass (else empty)."""
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        return {name: f.annotation for name, f in cls.model_fields.items()}
    if dataclasses.is_dataclass(cls):
        return typing.get_type_hints(cls)
    return {}


def _section_class(annotation: Any) -> Any:
    """The model/dataclass inside ``annotation`` (``X | None`` -> X), or None."""
    if _field_types(annotation):
        return annotation
    if typing.get_origin(annotation) in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if _field_types(arg):
                return arg
    return None


def _config_key(loc: list[str]) -> list[str]:
    cls: Any = Config
    out: list[str] = []
    for part in loc:
        fields = _field_types(cls)
        if part not in fields:
            if fields:  # an unknown key: keep it, it is what the user wrote
                out.append(part)
            break
        out.append(part)
        cls = _section_class(fields[part])
    return out


def _known_keys(loc: list[str]) -> list[str]:
    cls: Any = Config
    for part in loc:
        cls = _section_class(_field_types(cls).get(part))
    return list(_field_types(cls))


def _description(loc: list[str]) -> str:
    cls: Any = Config
    for part in loc[:-1]:
        cls = _section_class(_field_types(cls).get(part))
    if isinstance(cls, type) and issubclass(cls, BaseModel) and loc and loc[-1] in cls.model_fields:
        info = cls.model_fields[loc[-1]]
        if info.description:
            return info.description
        return _type_name(info.annotation)
    return _type_name(_field_types(cls).get(loc[-1])) if loc else "a mapping"


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return f"a {annotation.__name__}"
    text = str(annotation).replace("typing.", "").replace("NoneType", "None")
    return re.sub(r"Annotated\[(\w+), [^\]]*\]", r"\1", text)
