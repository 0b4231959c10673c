"""Build a plugin's networks from its hash-checked weights bundle."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import nn

from plugins.api import WeightsBundle


def load_networks(factories: Mapping[str, Callable[[], nn.Module]], weights: WeightsBundle) -> nn.ModuleDict:
    """One network per weights entry: ``factories[name]()`` loaded strictly with ``weights[name]``."""
    nets = nn.ModuleDict()
    for name, factory in factories.items():
        net = factory()
        net.load_state_dict(dict(weights[name]))
        nets[name] = net
    return nets
