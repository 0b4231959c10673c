"""DnCNN (Zhang et al., TIP 2017), the reference denoiser: ``denoise-dncnn``.

Network (as published): conv3x3(C->64)+ReLU, then ``depth - 2`` x [conv3x3(64->64, no bias)
+ BatchNorm + ReLU], then conv3x3(64->C). It predicts the noise (residual learning):
``output = input - net(input)``. Blind models: 17 layers for gray (DnCNN-S/B), 20 layers for
colour (CDnCNN-B), trained over sigma 0-55.

Two weights entries: ``gray`` (1 channel) and ``color`` (3 channels); the restorer picks the
network by the input's channel count. BatchNorm runs in eval mode (running statistics), so
the network is purely local: receptive-field radius = depth pixels (20 for the colour net).
"""

from __future__ import annotations

import torch
from torch import nn

from plugins.api import Manifest, ParamValues, Restorer, WeightsBundle
from plugins.nets.loading import load_networks


class DnCNN(nn.Module):
    """DnCNN with ``depth`` conv layers of ``features`` channels; ``forward`` returns the clean estimate.

    ``forward(x)``: ``(N, channels, H, W)`` in ``[0, 1]`` -> same shape, ``x - noise``.
    """

    def __init__(self, channels: int = 1, depth: int = 17, features: int = 64) -> None:
        super().__init__()
        if depth < 3:
            raise ValueError("DnCNN needs depth >= 3")
        self.channels = channels
        self.depth = depth
        layers: list[nn.Module] = [nn.Conv2d(channels, features, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [
                nn.Conv2d(features, features, 3, padding=1, bias=False),
                nn.BatchNorm2d(features, eps=1e-4, momentum=0.05),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.Conv2d(features, channels, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def context(self) -> int:
        """Receptive-field radius in pixels (one per 3x3 layer)."""
        return self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.body(x)


def dncnn_gray() -> DnCNN:
    """Blind gray DnCNN-B: 17 layers, 1 channel (weights entry ``gray``)."""
    return DnCNN(channels=1, depth=17)


def dncnn_color() -> DnCNN:
    """Blind colour CDnCNN-B: 20 layers, 3 channels (weights entry ``color``)."""
    return DnCNN(channels=3, depth=20)


class DnCNNRestorer(Restorer):
    """Runs the gray or colour DnCNN by channel count.

    ``forward(x, params)``: ``x`` ``(N, C, H, W)`` in ``[0, 1]``, ``C`` in ``{1, 3}``; returns the
    same shape. No parameters (blind model). Output is not clipped (the engine clips).
    """

    def forward(self, x: torch.Tensor, params: ParamValues) -> torch.Tensor:
        nets = self.network
        key = "gray" if x.shape[1] == 1 else "color"
        return nets[key](x)  # type: ignore[index]


def build(manifest: Manifest, weights: WeightsBundle) -> Restorer:
    """Load both networks from the hash-checked bundle (entries ``gray`` and ``color``)."""
    return DnCNNRestorer(manifest, load_networks(manifest, weights))
