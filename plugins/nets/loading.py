"""Build a plugin's networks from its manifest and its hash-checked weights bundle.

Each ``[[weights]]`` entry of a built-in manifest names the factory of the network its file holds
(``network = "module:callable"``, the key of its spec in :mod:`plugins.nets.specs`); this module
imports that factory, builds the network and loads the entry's state dict strictly.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

from torch import nn

from plugins.api import Manifest, WeightsBundle
from plugins.nets.specs import canonical


def network_factory(arch: str) -> Callable[..., nn.Module]:
    """The callable named ``module:callable`` (old names of moved factories included).

    Raises ``ImportError`` / ``AttributeError`` when the module or the callable does not exist.
    """
    module_name, _, attr = canonical(arch).partition(":")
    target: object = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"'{arch}' is not callable")
    return target  # type: ignore[return-value]


def network_factories(manifest: Manifest) -> Mapping[str, Callable[..., nn.Module]]:
    """Weights-entry name -> factory of the network its file holds (entries that name a network)."""
    return {w.name: network_factory(w.network) for w in manifest.weights if w.network}


def load_network(manifest: Manifest, weights: WeightsBundle, name: str) -> nn.Module:
    """The network of weights entry ``name``, built by its factory and loaded strictly with ``weights[name]``."""
    entry = next((w for w in manifest.weights if w.name == name), None)
    if entry is None or not entry.network:
        raise KeyError(f"weights entry '{name}' of plugin '{manifest.id}' names no network")
    net = network_factory(entry.network)()
    net.load_state_dict(dict(weights[name]))
    return net


def load_networks(manifest: Manifest, weights: WeightsBundle) -> nn.ModuleDict:
    """One network per weights entry (see :func:`load_network`), keyed by the entry's name."""
    return nn.ModuleDict({w.name: load_network(manifest, weights, w.name) for w in manifest.weights})
