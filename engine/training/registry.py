"""Architecture lookup: ``"module:callable"`` (or a registered short name) -> ``nn.Module``.

``model.arch`` in a training config names a callable that returns a fresh network, e.g.
``"plugins.denoise_dncnn.model:dncnn_gray"``; ``model.args`` are passed as keyword arguments.
Short aliases can be registered with :func:`register_arch` (e.g. by recipes), so configs may
say ``arch = "dncnn"``. Import failures and wrong arguments become :class:`ArchError` with
the spec in the message.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping

import torch

from engine.core.errors import ClarityError
from plugins.nets.specs import LEGACY_ARCHES

__all__ = ["LEGACY_ARCHES", "ArchError", "build_model", "count_parameters", "register_arch", "registered_arches", "resolve_arch"]

_ALIASES: dict[str, str] = {}



class ArchError(ClarityError):
    """``model.arch`` cannot be resolved or called."""


def register_arch(alias: str, target: str) -> None:
    """Let configs write ``arch = alias`` for ``target`` (``"module:callable"``)."""
    if ":" not in target:
        raise ArchError(f"arch alias '{alias}' -> '{target}': target must be 'module:callable'")
    _ALIASES[alias] = target


def registered_arches() -> dict[str, str]:
    """A copy of the alias table."""
    return dict(_ALIASES)


def resolve_arch(spec: str) -> Callable[..., torch.nn.Module]:
    """Import and return the callable named by ``spec`` (alias or ``module:callable``)."""
    target = _ALIASES.get(spec, spec)
    target = LEGACY_ARCHES.get(target, target)
    if ":" not in target:
        raise ArchError(
            f"model.arch '{spec}' is neither a registered alias ({', '.join(sorted(_ALIASES)) or 'none'}) "
            "nor 'module:callable', e.g. 'plugins.denoise_dncnn.model:dncnn_gray'"
        )
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ArchError(f"model.arch '{spec}': cannot import module '{module_name}': {exc}; run from the repository root (PYTHONPATH=.)") from exc
    fn = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise ArchError(f"model.arch '{spec}': module '{module_name}' has no attribute '{attr}'")
    if not callable(fn):
        raise ArchError(f"model.arch '{spec}' is not callable")
    return fn  # type: ignore[return-value]


def build_model(spec: str, args: Mapping[str, object]) -> torch.nn.Module:
    """Call the architecture with ``args``; unknown argument names raise :class:`ArchError` listing the valid ones."""
    fn = resolve_arch(spec)
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        sig = None
    if sig is not None and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        unknown = [k for k in args if k not in sig.parameters]
        if unknown:
            raise ArchError(
                f"model.args {unknown} are not parameters of '{spec}'; it accepts: {', '.join(sig.parameters) or 'none'}"
            )
    net = fn(**dict(args))
    if not isinstance(net, torch.nn.Module):
        raise ArchError(f"model.arch '{spec}' returned {type(net).__name__}, not a torch.nn.Module")
    return net


def count_parameters(net: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
