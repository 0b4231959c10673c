"""Typed, frozen configuration of one training (or distillation) run, loaded from TOML.

Schema (every table optional except ``[model]`` and ``[data]``; see docs/training.md)::

    name = "dncnn-gray-s25"
    seed = 0
    [model]
    arch = "plugins.denoise_dncnn.model:dncnn_gray"   # module:callable returning an nn.Module
    args = { depth = 17, features = 64 }            # scalar keyword arguments for the callable
    channels_last = true                            # CUDA only
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
import sys
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from engine.core.errors import ClarityError
from plugins.nets.specs import spec_for
from plugins.spec import NetworkInput, NetworkSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

Scalar = int | float | bool | str


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

    arch: str
    args: dict[str, Scalar] = field(default_factory=dict)
    input: Literal["degraded", "upsampled"] | None = None
    noise_map: bool | None = None
    scale_arg: bool | None = None
    size_multiple: int | None = None
    channels_last: bool = True

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

    train: tuple[str, ...]
    gray: bool = False
    patch: int = 64
    batch: int = 16
    degradation: tuple[str, ...] = ("awgn:25",)


@dataclass(frozen=True)
class OptimConfig:
    """Optimizer, learning-rate schedule, loss and regularization.

    ``schedule``: ``cosine`` (warmup then cosine to ``min_lr``), ``multistep`` (warmup then
    multiply by ``gamma`` at each of ``milestones``) or ``constant`` (warmup then flat).
    ``grad_clip`` 0 disables clipping; ``ema_decay`` 0 disables the EMA copy.
    """

    optimizer: Literal["adam", "adamw"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 0
    schedule: Literal["cosine", "multistep", "constant"] = "cosine"
    min_lr: float = 0.0
    milestones: tuple[int, ...] = ()
    gamma: float = 0.5
    loss: Literal["l1", "l2", "charbonnier"] = "l1"
    charbonnier_eps: float = 1e-3
    grad_clip: float = 0.0
    ema_decay: float = 0.0


@dataclass(frozen=True)
class RunConfig:
    """Length of the run, checkpoint cadence and hardware use.

    ``minutes``: time budget of one command (0 = none); the trainer stops cleanly and
    checkpoints before it runs out. ``amp`` is used only on CUDA. ``device``: auto | cpu | cuda | mps.
    """

    steps: int = 1000
    checkpoint_every: int = 500
    log_every: int = 10
    minutes: float = 0.0
    amp: Literal["bf16", "fp16", "none"] = "bf16"
    device: str = "auto"


@dataclass(frozen=True)
class ValConfig:
    """Validation: whole-image inference on degraded val images with a fixed seed. ``every`` 0 = never."""

    folders: tuple[str, ...] = ()
    degradation: str = ""
    every: int = 0
    limit: int = 8
    seed: int = 0


@dataclass(frozen=True)
class ExportConfig:
    """Where ``clarity export`` puts the weights by default (the command line may override)."""

    plugin_dir: str = ""
    weights_name: str = "main"
    fp16: bool = False
    use_ema: bool = True


@dataclass(frozen=True)
class DistillConfig:
    """Two-stage knowledge distillation (Chen et al., CVPR 2022); only read by ``clarity distill``.

    ``teachers``: degradation kind -> weights file (``.safetensors`` state dict of ``model.arch``,
    e.g. an exported plugin weights file or a training checkpoint). ``feature_layers``: names of
    submodules (``dict(net.named_modules())`` keys) whose outputs are the features that CKT aligns;
    empty means the network's own ``forward_features(x) -> (out, [features])``.
    ``stage2_step``: first step of stage 2 (knowledge examination). ``contrast_features``:
    ``"pixel"`` | ``"teacher"`` | ``"encoder:PATH"``; ``contrast_weight`` 0 is the ablation switch.
    """

    teachers: dict[str, str] = field(default_factory=dict)
    feature_layers: tuple[str, ...] = ()
    common_channels: int = 64
    stage2_step: int = 0
    output_weight: float = 1.0
    feature_weight: float = 1.0
    recon_weight: float = 1.0
    contrast_weight: float = 0.1
    contrast_features: str = "pixel"


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Build it with :meth:`from_toml` or :meth:`from_dict`."""

    name: str
    model: ModelConfig
    data: DataConfig
    seed: int = 0
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
        """Build from a parsed TOML mapping; unknown keys and wrong types raise :class:`ConfigError`."""
        try:
            return _build(cls, data, source, "")
        except ConfigError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: {exc}") from exc

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with top-level fields replaced."""
        return dataclasses.replace(self, **changes)


def _build(cls: type, data: Any, source: str, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: '{where or 'top level'}' must be a table")
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(
                f"{source}: unknown key '{where + key}'; allowed here: {', '.join(sorted(known))}"
            )
    kwargs: dict[str, Any] = {}
    for name, f in known.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
                raise ConfigError(f"{source}: missing required key '{where + name}'")
            continue
        kwargs[name] = _coerce(hints[name], data[name], source, where + name)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, source: str, key: str) -> Any:
    origin = get_origin(tp)
    args = get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, source, key + ".")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{source}: '{key}' = {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if tp is type(None):
        return None
    if origin in (tuple,):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(f"{source}: '{key}' must be a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, source, key) for v in value)
        if len(value) != len(args):
            raise ConfigError(f"{source}: '{key}' must have {len(args)} items, got {len(value)}")
        return tuple(_coerce(a, v, source, key) for a, v in zip(args, value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: '{key}' must be a table")
        return {str(k): _coerce(args[1], v, source, f"{key}.{k}") for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        for a in args:
            if a is type(None):
                continue
            if get_origin(a) is Literal:
                if value in get_args(a):
                    return value
                raise ConfigError(f"{source}: '{key}' = {value!r} is not one of {', '.join(map(repr, get_args(a)))}")
            if dataclasses.is_dataclass(a) and isinstance(value, dict):
                return _build(a, value, source, key + ".")
            if isinstance(a, type) and _scalar_ok(a, value):
                return float(value) if a is float and not isinstance(value, bool) else value
        raise ConfigError(f"{source}: '{key}' = {value!r} has the wrong type")
    if isinstance(tp, type):
        if not _scalar_ok(tp, value):
            raise ConfigError(f"{source}: '{key}' = {value!r} must be of type {tp.__name__}")
        return float(value) if tp is float else value
    raise ConfigError(f"{source}: '{key}': unsupported type {tp}")  # pragma: no cover


def _scalar_ok(tp: type, value: Any) -> bool:
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    return isinstance(value, tp)


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
        if not 0 <= d.stage2_step <= cfg.run.steps:
            raise bad("distill.stage2_step", f"must be within 0..run.steps ({cfg.run.steps})")


def _check_against_spec(cfg: TrainConfig, bad: typing.Callable[[str, str], ConfigError]) -> None:
    """Keys of ``[model]`` that contradict the network's built-in spec, and data of the wrong channel count."""
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
