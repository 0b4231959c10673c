"""``dehaze``: removes haze and fog with the shared weather network.

Network, receptive field and distillation features: :mod:`plugins.nets.weather` (a
normalisation-free residual U-Net, see docs/models.md). ``dehaze_net()`` is the training
factory (``arch = "plugins.dehaze.model:dehaze_net"``); the weights entry is ``main``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import nn

from plugins.api import Manifest, Restorer, WeightsBundle
from plugins.nets.resunet import ResUNet
from plugins.nets.weather import build_weather, weather_net


def dehaze_net() -> ResUNet:
    """The network of the ``main`` weights (the shared weather architecture)."""
    return weather_net()


NETWORKS: Mapping[str, Callable[[], nn.Module]] = {"main": dehaze_net}
"""Weights-entry name -> factory of the network whose state dict that file holds."""


def build(manifest: Manifest, weights: WeightsBundle) -> Restorer:
    """Load the weather network from the hash-checked bundle (entry ``main``)."""
    return build_weather(manifest, weights)
