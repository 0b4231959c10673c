"""Checkpoints without pickle: tensors in ``<stem>.safetensors``, scalar state in ``<stem>.json``.

Tensor keys: ``model.*`` (network), ``ema.*`` (EMA shadow, optional), ``aux.*`` (extra trained
modules, e.g. distillation projectors), ``optim.<param index>.<name>`` (optimizer state) and
``rng.<name>`` (torch generator states as uint8). The JSON sidecar holds a
:class:`CheckpointMeta`: step, the config TOML text, the optimizer's param groups and
per-parameter scalars, numpy / Python RNG states, GradScaler state, best metric, the command
lines used so far, wall time and device. Both files are written atomically (temp + rename),
the tensors first; the step is stored in both so a mismatched pair is detected.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.core.atomic import atomic_output, atomic_write_text
from engine.core.errors import ClarityError

FORMAT_VERSION = 1


class CheckpointError(ClarityError):
    """A checkpoint is missing, incomplete or does not match the run."""


@dataclass(frozen=True)
class CheckpointMeta:
    """The JSON half of a checkpoint (see the module docstring)."""

    step: int
    config_toml: str
    optimizer: dict[str, Any] = field(default_factory=dict)
    py_random: list[Any] = field(default_factory=list)
    np_random: dict[str, Any] = field(default_factory=dict)
    scaler: dict[str, Any] = field(default_factory=dict)
    best_metric: float | None = None
    best_step: int | None = None
    commands: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    device: str = "cpu"
    stage: int = 1
    val_history: list[dict[str, float]] = field(default_factory=list)
    format: int = FORMAT_VERSION

    def to_json(self) -> str:
        """Stable, human-readable JSON."""
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CheckpointMeta:
        """Parse a sidecar; unknown keys are an error (they mean a newer format)."""
        data = json.loads(text)
        known = set(cls.__dataclass_fields__)
        extra = set(data) - known
        if extra:
            raise CheckpointError(f"checkpoint sidecar has unknown keys {sorted(extra)}; written by a newer Clarity Studio?")
        return cls(**data)


def stem_of(path: Path | str) -> Path:
    """``run/last.safetensors`` / ``run/last.json`` / ``run/last`` -> ``run/last``."""
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".safetensors", ".json") else p


def save_checkpoint(path: Path | str, tensors: dict[str, torch.Tensor], meta: CheckpointMeta) -> Path:
    """Write ``<stem>.safetensors`` and ``<stem>.json`` atomically; returns the ``.safetensors`` path."""
    from safetensors.torch import save_file

    stem = stem_of(path)
    stem.parent.mkdir(parents=True, exist_ok=True)
    st = stem.with_suffix(".safetensors")
    js = stem.with_suffix(".json")
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    with atomic_output(st, overwrite=True) as tmp:
        save_file(cpu, str(tmp), metadata={"step": str(meta.step), "format": str(FORMAT_VERSION)})
    atomic_write_text(js, meta.to_json())
    return st


def read_meta(path: Path | str) -> CheckpointMeta:
    """Only the JSON sidecar of a checkpoint (cheap: no tensors are read)."""
    js = stem_of(path).with_suffix(".json")
    if not js.is_file():
        raise CheckpointError(f"checkpoint sidecar {js} is missing; pass the .safetensors of a checkpoint written by `clarity train`")
    try:
        return CheckpointMeta.from_json(js.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint sidecar {js} cannot be read: {exc}") from exc


def load_checkpoint(path: Path | str, device: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], CheckpointMeta]:
    """Read a checkpoint pair written by :func:`save_checkpoint`."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    stem = stem_of(path)
    st, js = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    for f in (st, js):
        if not f.is_file():
            raise CheckpointError(f"checkpoint file {f} is missing; pass the .safetensors of a checkpoint written by `clarity train`")
    try:
        meta = CheckpointMeta.from_json(js.read_text(encoding="utf-8"))
        with safe_open(str(st), framework="pt") as f:
            file_meta = f.metadata() or {}
        tensors = load_file(str(st), device=str(device))
    except (OSError, ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {st} cannot be read: {exc}") from exc
    if file_meta.get("step") != str(meta.step):
        raise CheckpointError(
            f"checkpoint {st} (step {file_meta.get('step')}) and {js} (step {meta.step}) do not belong together; "
            "a write was interrupted: resume from the other checkpoint (best/last)"
        )
    return tensors, meta


def prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``{prefix + "." + key: tensor}``."""
    return {f"{prefix}.{k}": v for k, v in state.items()}


def unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The entries of ``tensors`` under ``prefix.``, with the prefix removed."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


# ----------------------------------------------------------------------------- optimizer


def flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``opt.state_dict()`` into tensors (``optim.<i>.<name>``) and JSON-able scalars."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for name, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{name}"] = value
            else:
                scalars.setdefault(str(idx), {})[name] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Inverse of :func:`flatten_optimizer`."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for idx, sc in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(sc)
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    opt.load_state_dict({"state": state, "param_groups": groups})


# ----------------------------------------------------------------------------- RNG


def capture_rng(generators: dict[str, torch.Generator]) -> tuple[dict[str, torch.Tensor], list[Any], dict[str, Any]]:
    """Torch (global CPU, CUDA and the given generators), Python and numpy RNG states.

    Returns ``(tensors, py_random_state, numpy_state)``; tensors are keyed ``rng.<name>``.
    """
    tensors = {"rng.torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda{i}"] = s
    for name, g in generators.items():
        tensors[f"rng.gen.{name}"] = g.get_state()
    version, internal, gauss = random.getstate()
    py = [version, list(internal), gauss]
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    npst = {"kind": kind, "keys": [int(k) for k in keys], "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)}
    return tensors, py, npst


def restore_rng(tensors: dict[str, torch.Tensor], py: list[Any], npst: dict[str, Any], generators: dict[str, torch.Generator]) -> None:
    """Inverse of :func:`capture_rng` (missing CUDA states are ignored, e.g. when resuming on a CPU)."""
    if "rng.torch_cpu" in tensors:
        torch.set_rng_state(tensors["rng.torch_cpu"].to("cpu", torch.uint8))
    if torch.cuda.is_available():
        states = [tensors[f"rng.cuda{i}"] for i in range(torch.cuda.device_count()) if f"rng.cuda{i}" in tensors]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.to("cpu", torch.uint8) for s in states])
    for name, g in generators.items():
        key = f"rng.gen.{name}"
        if key in tensors:
            g.set_state(tensors[key].to("cpu", torch.uint8))
    if py:
        random.setstate((py[0], tuple(py[1]), py[2]))
    if npst:
        np.random.set_state((npst["kind"], np.array(npst["keys"], dtype=np.uint32), npst["pos"], npst["has_gauss"], npst["cached"]))


def load_state_file(path: Path | str) -> dict[str, torch.Tensor]:
    """A network state dict from exported weights (plain keys) or a training checkpoint.

    Checkpoints hold ``ema.`` and ``model.`` keys; the EMA copy is preferred. Floating-point
    tensors are returned as float32 (exported fp16 weights included). Safetensors only: no
    pickle is ever read.
    """
    from safetensors.torch import load_file

    p = Path(path)
    if not p.is_file():
        raise ClarityError(f"weights file {p} does not exist")
    tensors = load_file(str(p))
    for prefix in ("ema.", "model."):
        sub = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if sub:
            return {k: (v.float() if v.is_floating_point() else v) for k, v in sub.items()}
    return {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}
