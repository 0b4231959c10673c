"""Typed, frozen configuration of one training (or distillation) run, loaded from TOML.

Schema (every table optional except ``[model]`` and ``[data]``; see docs/training.md)::

    name = "dncnn-gray-s25"
    seed = 0
    [model]
    arch = "plugins.denoise_dncnn.model:dncnn_gray"   # module:callable returning an nn.Module
    args = { depth = 17, features = 64 }            # scalar keyword arguments for the callable
    channels_last = true                            # on CUDA, and on the CPU with amp = "bf16"
    # how the network is called comes from its spec (plugins/nets/specs.py); only for a network
    # without one (your own module) declare it here:
    # input = "degraded"        # degraded | upsampled (pre-upsampled SR input)
    # noise_map = false         # true: net(x, sigma) with sigma (N,1,1,1)
    # scale_arg = false         # true: net(x, ..., scale=s) for multi-scale SR
    # size_multiple = 1         # validation input padded (reflect) to this
    [data]
    train = ["/work/shared/data/train/bsd400-gray"]
    gray = true
    patch = 40
    batch = 16
    degradation = ["awgn:25"]                       # several specs: one drawn per step, in turn
    [optim]
    optimizer = "adam"                              # adam | adamw
    lr = 1e-3
    ...
    [run]  steps, checkpoint_every, log_every, minutes, amp, device
    [val]  folders, degradation, every, limit, seed
    [export] plugin_dir, weights_name, fp16, use_ema
    [distill] ...                                   # only for ``clarity distill``

Unknown keys anywhere raise :class:`ConfigError` naming the key. Relative paths are kept
as written and resolved against the current directory when used.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import sys
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_type_hints

from pydantic import BeforeValidator, ConfigDict, Strict, StrictBool, StrictInt, StrictStr, TypeAdapter, ValidationError

from engine.core.errors import ClarityError
from plugins.nets.specs import spec_for
from plugins.spec import NetworkInput, NetworkSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

Float = Annotated[float, Strict()]
"""A TOML float; an integer is a valid float (``lr = 1``), ``true`` is not."""
Scalar = StrictBool | StrictInt | Float | StrictStr
"""A value of ``model.args``."""


def _one_or_many(value: object) -> object:
    return [value] if isinstance(value, str) else value


Strings = Annotated[tuple[StrictStr, ...], BeforeValidator(_one_or_many)]
"""A list of strings; a single string is a list of one."""
_TABLE = ConfigDict(extra="forbid")
"""Every table refuses unknown keys (pydantic config of the dataclasses below)."""


class ConfigError(ClarityError):
    """A training config file is invalid; the message names the file and the key."""


CALL_KEYS: tuple[str, ...] = ("input", "noise_map", "scale_arg", "size_multiple")
"""``[model]`` keys that describe how the network is called: facts of its :class:`NetworkSpec`."""


@dataclass(frozen=True)
class ModelConfig:
    """Which network to train; how it is called is its :attr:`spec`.

    A network with a built-in spec (:mod:`plugins.nets.specs`, keyed by ``arch``) is called as its
    spec says; ``input``, ``noise_map``, ``scale_arg`` and ``size_multiple`` may then be left out
    (older configs carry them: accepted when they agree with the spec, an error otherwise). For a
    network without a spec (a module of your own) they declare it, with the defaults
    ``"degraded"``, ``false``, ``false``, ``1`` (see :class:`plugins.spec.NetworkSpec`).
    ``None`` means "not given".
    """

    __pydantic_config__ = _TABLE

    arch: StrictStr
    args: dict[StrictStr, Scalar] = field(default_factory=dict)
    input: Literal["degraded", "upsampled"] | None = None
    noise_map: StrictBool | None = None
    scale_arg: StrictBool | None = None
    size_multiple: StrictInt | None = None
    channels_last: StrictBool = True

    @property
    def builtin_spec(self) -> NetworkSpec | None:
        """The spec registered for ``arch`` in :mod:`plugins.nets.specs`, or ``None``."""
        return spec_for(self.arch)

    @property
    def spec(self) -> NetworkSpec:
        """How the network is called: its built-in spec, else the one these keys declare."""
        builtin = self.builtin_spec
        if builtin is not None:
            return builtin
        return NetworkSpec(
            input=NetworkInput(self.input or NetworkInput.DEGRADED.value),
            noise_map=bool(self.noise_map),
            scale_arg=bool(self.scale_arg),
            size_multiple=self.size_multiple or 1,
        )


@dataclass(frozen=True)
class DataConfig:
    """Training images and how batches are made from them."""

    __pydantic_config__ = _TABLE

    train: Strings
    gray: StrictBool = False
    patch: StrictInt = 64
    batch: StrictInt = 16
    degradation: Strings = ("awgn:25",)
    rescale: tuple[Float, ...] = (1.0,)
    """Scales at which every training image is kept (MATLAB bicubic downscales, each copy drawn as
    often as an original): ``[1.0, 0.9, 0.8, 0.7]`` is DnCNN's and FFDNet's multi-scale patch set,
    more varied detail per pixel from a small photo set. Each scale in ``(0, 1]``."""


@dataclass(frozen=True)
class OptimConfig:
    """Optimizer, learning-rate schedule, loss and regularization.

    ``schedule``: ``cosine`` (warmup then cosine to ``min_lr``), ``multistep`` (warmup then
    multiply by ``gamma`` at each of ``milestones``) or ``constant`` (warmup then flat).
    ``grad_clip`` 0 disables clipping; ``ema_decay`` 0 disables the EMA copy.
    """

    __pydantic_config__ = _TABLE

    optimizer: Literal["adam", "adamw"] = "adam"
    lr: Float = 1e-3
    weight_decay: Float = 0.0
    betas: tuple[Float, Float] = (0.9, 0.999)
    warmup_steps: StrictInt = 0
    schedule: Literal["cosine", "multistep", "constant"] = "cosine"
    min_lr: Float = 0.0
    milestones: tuple[StrictInt, ...] = ()
    gamma: Float = 0.5
    loss: Literal["l1", "l2", "charbonnier", "psnr"] = "l1"
    charbonnier_eps: Float = 1e-3
    grad_clip: Float = 0.0
    ema_decay: Float = 0.0


@dataclass(frozen=True)
class RunConfig:
    """Length of the run, checkpoint cadence and hardware use.

    ``minutes``: time budget of one command (0 = none); the trainer stops cleanly and
    checkpoints before it runs out. ``device``: auto | cpu | cuda | mps.

    ``amp``, the autocast precision of the training step: ``auto`` = bf16 on CUDA (where the spec
    allows it), fp32 elsewhere; ``bf16`` = bf16 on CUDA and on the CPU (2.5-3.3x faster per step than
    fp32 on a CPU with AMX, measured in docs/training.md); ``fp16`` = CUDA only (fp32 elsewhere);
    ``none`` = fp32. Validation on the CPU always runs in fp32.
    """

    __pydantic_config__ = _TABLE

    steps: StrictInt = 1000
    checkpoint_every: StrictInt = 500
    log_every: StrictInt = 10
    minutes: Float = 0.0
    amp: Literal["auto", "bf16", "fp16", "none"] = "auto"
    device: StrictStr = "auto"


@dataclass(frozen=True)
class ValConfig:
    """Validation: whole-image inference on degraded val images with a fixed seed. ``every`` 0 = never."""

    __pydantic_config__ = _TABLE

    folders: Strings = ()
    degradation: StrictStr = ""
    every: StrictInt = 0
    limit: StrictInt = 8
    seed: StrictInt = 0


@dataclass(frozen=True)
class ExportConfig:
    """Where ``clarity export`` puts the weights by default (the command line may override)."""

    __pydantic_config__ = _TABLE

    plugin_dir: StrictStr = ""
    weights_name: StrictStr = "main"
    fp16: StrictBool = False
    use_ema: StrictBool = True


@dataclass(frozen=True)
class DistillConfig:
    """Two-stage knowledge distillation (Chen et al., CVPR 2022); only read by ``clarity distill``.

    ``teachers``: degradation kind -> weights file (``.safetensors`` state dict of ``model.arch``,
    e.g. an exported plugin weights file or a training checkpoint). ``feature_layers``: names of
    submodules (``dict(net.named_modules())`` keys) whose outputs are the features that CKT aligns;
    empty means the network's own ``forward_features(x) -> (out, [features])``.
    ``stage2_step``: first step of stage 2 (knowledge examination). ``contrast_features``:
    ``"pixel"`` | ``"teacher"`` | ``"encoder:PATH"``; ``contrast_weight`` 0 is the ablation switch.
    ``teacher_arch`` / ``teacher_args``: the teachers' network when it is not the student's (a grown
    student distilled from teachers of the original size); empty ``teacher_arch`` means ``model.arch``
    with ``model.args`` (the paper's setting), and then ``teacher_args`` must be empty too. The feature
    levels must match in number and size; their channel counts may differ (CKT projects both).
    """

    __pydantic_config__ = _TABLE

    teachers: dict[StrictStr, StrictStr] = field(default_factory=dict)
    feature_layers: Strings = ()
    common_channels: StrictInt = 64
    stage2_step: StrictInt = 0
    output_weight: Float = 1.0
    feature_weight: Float = 1.0
    recon_weight: Float = 1.0
    contrast_weight: Float = 0.1
    contrast_features: StrictStr = "pixel"
    teacher_arch: StrictStr = ""
    teacher_args: dict[StrictStr, Scalar] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Build it with :meth:`from_toml` or :meth:`from_dict`."""

    __pydantic_config__ = _TABLE

    name: StrictStr
    model: ModelConfig
    data: DataConfig
    seed: StrictInt = 0
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    val: ValConfig = field(default_factory=ValConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    distill: DistillConfig | None = None

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def from_toml(cls, path: Path | str) -> TrainConfig:
        """Read and validate a TOML config; errors name the file and the key."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read training config {p}: {exc.strerror or exc}") from exc
        return cls.from_toml_text(text, source=str(p))

    @classmethod
    def from_toml_text(cls, text: str, *, source: str = "<config>") -> TrainConfig:
        """Parse TOML text (kept verbatim in checkpoints so a resume needs no file)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
        return cls.from_dict(data, source=source)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<config>") -> TrainConfig:
        """Build from a parsed TOML mapping, validated by the pydantic schema the dataclasses declare.

        Unknown keys, missing keys, wrong types and the cross-field rules raise one
        :class:`ConfigError` that names ``source`` and the key (with a suggestion for a misspelt key).
        """
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: the top level must be a table")
        try:
            return _schema().validate_python(data)
        except ValidationError as exc:
            raise _config_error(exc, source) from None
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with top-level fields replaced."""
        return dataclasses.replace(self, **changes)


@functools.cache
def _schema() -> TypeAdapter[TrainConfig]:
    """The pydantic validator of :class:`TrainConfig` (built once, on first use)."""
    return TypeAdapter(TrainConfig)


_TYPE_WORDS = {
    "int_type": "an integer", "float_type": "a number", "bool_type": "true or false", "string_type": "a string",
    "tuple_type": "a list", "list_type": "a list", "dict_type": "a table", "dataclass_type": "a table",
}  # fmt: skip
_UNION_TAGS = frozenset({"int", "float", "bool", "str"})
_UNKNOWN_KEY = frozenset({"extra_forbidden", "unexpected_keyword_argument"})


def _config_error(exc: ValidationError, source: str) -> ConfigError:
    """The first pydantic error as one line: ``SOURCE: unknown key 'optim.learning_rate' (did you mean 'optim.lr'?)...``."""
    error = exc.errors(include_url=False)[0]
    loc = list(error["loc"])
    while loc and isinstance(loc[-1], str) and (loc[-1] in _UNION_TAGS or "[" in loc[-1]) and error["type"] not in _UNKNOWN_KEY:
        loc.pop()  # tags pydantic adds for the members of a union (model.args values)
    key = ".".join(str(p) for p in loc)
    kind, value = error["type"], error.get("input")
    if kind in _UNKNOWN_KEY:
        allowed = sorted(f.name for f in fields(_table_at(loc[:-1])))
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        hint = f" (did you mean '{'.'.join([*map(str, loc[:-1]), close[0]])}'?)" if close else ""
        return ConfigError(f"{source}: unknown key '{key}'{hint}; allowed here: {', '.join(allowed)}")
    if kind == "missing":
        if loc and isinstance(loc[-1], int):
            return ConfigError(f"{source}: '{'.'.join(str(p) for p in loc[:-1])}' has too few items")
        return ConfigError(f"{source}: missing required key '{key}'")
    if kind == "too_long":
        return ConfigError(f"{source}: '{key}' has too many items")
    if kind == "literal_error":
        return ConfigError(f"{source}: '{key}' = {value!r} is not one of {error['ctx']['expected'].replace(' or ', ', ')}")
    if error["loc"] != tuple(loc):  # a union member failed: model.args values
        return ConfigError(f"{source}: '{key}' = {value!r} must be a number, boolean or string")
    if kind in _TYPE_WORDS:
        return ConfigError(f"{source}: '{key}' = {value!r} must be {_TYPE_WORDS[kind]}")
    return ConfigError(f"{source}: '{key}' = {value!r}: {error['msg']}")


def _table_at(loc: list[str | int]) -> type:
    """The config dataclass of the table at ``loc`` (``[]``: :class:`TrainConfig`)."""
    table: type = TrainConfig
    for part in loc:
        hint = get_type_hints(table)[str(part)]
        table = next((a for a in (hint, *get_args(hint)) if dataclasses.is_dataclass(a)), table)
    return table


def _validate(cfg: TrainConfig) -> None:
    def bad(key: str, msg: str) -> ConfigError:
        return ConfigError(f"config '{cfg.name}': '{key}' {msg}")

    if ":" not in cfg.model.arch:
        raise bad("model.arch", f"= {cfg.model.arch!r} must be 'module:callable', e.g. 'plugins.denoise_dncnn.model:dncnn_gray'")
    for k, v in cfg.model.args.items():
        if not isinstance(v, (int, float, bool, str)):
            raise bad(f"model.args.{k}", "must be a number, boolean or string")
    if not cfg.data.train:
        raise bad("data.train", "needs at least one folder of training images")
    if cfg.data.patch < 8 or cfg.data.batch < 1:
        raise bad("data.patch/batch", "patch must be >= 8 and batch >= 1")
    if not cfg.data.degradation:
        raise bad("data.degradation", "needs at least one degradation spec, e.g. 'awgn:25'")
    if not cfg.data.rescale or not all(0.0 < s <= 1.0 for s in cfg.data.rescale):
        raise bad("data.rescale", "needs scales in (0, 1], e.g. [1.0, 0.9, 0.8, 0.7] (1.0 keeps the originals)")
    o = cfg.optim
    if o.lr <= 0 or o.min_lr < 0 or o.warmup_steps < 0 or o.grad_clip < 0:
        raise bad("optim", "lr must be > 0; min_lr, warmup_steps and grad_clip must be >= 0")
    if not 0.0 <= o.ema_decay < 1.0:
        raise bad("optim.ema_decay", "must be in [0, 1) (0 disables the EMA)")
    if cfg.run.steps < 1 or cfg.run.checkpoint_every < 1 or cfg.run.log_every < 1:
        raise bad("run", "steps, checkpoint_every and log_every must be >= 1")
    if cfg.run.minutes < 0:
        raise bad("run.minutes", "must be >= 0 (0 = no time budget)")
    if cfg.val.every > 0 and (not cfg.val.folders or not cfg.val.degradation):
        raise bad("val", "every > 0 needs folders and a degradation")
    if cfg.model.size_multiple is not None and cfg.model.size_multiple < 1:
        raise bad("model.size_multiple", "must be >= 1")
    _check_against_spec(cfg, bad)
    d = cfg.distill
    if d is not None:
        if not d.teachers:
            raise bad("distill.teachers", "needs kind = 'weights.safetensors' entries, e.g. rain = 'runs/rain/best.safetensors'")
        if not (d.contrast_features in ("pixel", "teacher") or d.contrast_features.startswith("encoder:")):
            raise bad("distill.contrast_features", "must be 'pixel', 'teacher' or 'encoder:PATH'")
        if d.contrast_features == "teacher" and not d.feature_layers:
            raise bad("distill.contrast_features", "'teacher' needs distill.feature_layers")
        if d.teacher_args and not d.teacher_arch:
            raise bad("distill.teacher_args", "needs distill.teacher_arch (without it the teachers are model.arch with model.args)")
        if not 0 <= d.stage2_step <= cfg.run.steps:
            raise bad("distill.stage2_step", f"must be within 0..run.steps ({cfg.run.steps})")


def _check_against_spec(cfg: TrainConfig, bad: typing.Callable[[str, str], ConfigError]) -> None:
    """Keys of ``[model]`` that contradict the network's built-in spec, a mixed precision it does not
    support (an explicit ``run.amp``), and data of the wrong channel count."""
    spec = cfg.model.builtin_spec
    if spec is None:
        return
    facts = spec.call_facts()
    for key in CALL_KEYS:
        given = getattr(cfg.model, key)
        if given is not None and given != facts[key]:
            raise bad(
                f"model.{key}",
                f"= {_toml(given)} contradicts the spec of network '{cfg.model.arch}' ({key} = {_toml(facts[key])}, "
                "in plugins/nets/specs.py); remove the key: the spec says how the network is called",
            )
    if cfg.run.amp in ("bf16", "fp16") and not getattr(spec, cfg.run.amp):
        raise bad(
            "run.amp",
            f"= \"{cfg.run.amp}\": network '{cfg.model.arch}' does not run in {cfg.run.amp} (its spec, plugins/nets/specs.py); "
            f"use amp = \"{'bf16' if spec.bf16 else 'fp16' if spec.fp16 else 'none'}\"",
        )
    if spec.channels_in == 1 and not cfg.data.gray:
        raise bad("data.gray", f"must be true: network '{cfg.model.arch}' takes 1-channel (gray) images")
    if spec.channels_in == 3 and cfg.data.gray:
        raise bad("data.gray", f"must be false: network '{cfg.model.arch}' takes 3-channel (RGB) images")


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)
