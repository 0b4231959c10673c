"""The default "Upscale" filter: a post-upsampling residual network (EDSR-baseline-lite).

Network (:class:`UpscaleNet`): conv3x3 (C->F) at low resolution, ``blocks`` residual blocks
(conv-ReLU-conv, no normalisation, residual scaling 1), a conv, a long skip, then a light
tail: conv3x3 (F -> C*s*s) and PixelShuffle(s) (ESPCN-style, so almost all work stays at low
resolution), plus a bicubic upsampling of the input as a global residual (faster, more stable
training). One network per scale: weights entries ``x2``, ``x3``, ``x4`` (x3 and x4 are
fine-tuned from x2, as in EDSR). Receptive field in input pixels: ``2 * blocks + 3`` convs
(head, body, body-end, tail); the parallel bicubic skip needs only 2.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn
from torch.nn import functional as F

from plugins.api import Manifest, ParamValues, Restorer, WeightsBundle

FEATURES = 64
BLOCKS = 16
"""Architecture (chosen with scripts/arch_speed.py; see MODEL.md)."""


class _Block(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


class UpscaleNet(nn.Module):
    """Post-upsampling SR network for one integer ``scale``.

    ``forward(x)``: ``(N, channels, h, w)`` in ``[0, 1]`` -> ``(N, channels, h*scale, w*scale)``.
    """

    def __init__(self, scale: int = 2, channels: int = 3, features: int = FEATURES, blocks: int = BLOCKS) -> None:
        super().__init__()
        if scale < 1:
            raise ValueError("scale must be >= 1")
        self.scale = scale
        self.blocks = blocks
        self.head = nn.Conv2d(channels, features, 3, padding=1)
        self.body = nn.Sequential(*[_Block(features) for _ in range(blocks)])
        self.body_end = nn.Conv2d(features, features, 3, padding=1)
        self.tail = nn.Conv2d(features, channels * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)

    def context(self) -> int:
        """Receptive-field radius in input pixels: one per 3x3 conv on the longest path.

        The bicubic skip (support 2) runs in parallel and is shorter; pixel shuffle maps every
        output pixel to one input pixel, so it adds nothing.
        """
        return max(2 * self.blocks + 3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        h = h + self.body_end(self.body(h))
        up = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return up + self.shuffle(self.tail(h))


def upscale_x2() -> UpscaleNet:
    """Network of the ``x2`` weights."""
    return UpscaleNet(scale=2)


def upscale_x3() -> UpscaleNet:
    """Network of the ``x3`` weights."""
    return UpscaleNet(scale=3)


def upscale_x4() -> UpscaleNet:
    """Network of the ``x4`` weights."""
    return UpscaleNet(scale=4)


NETWORKS: Mapping[str, Callable[[], nn.Module]] = {"x2": upscale_x2, "x3": upscale_x3, "x4": upscale_x4}
"""Weights-entry name -> factory of the network whose state dict that file holds."""


class UpscaleRestorer(Restorer):
    """Runs the network of the ``scale`` parameter.

    ``forward(x, params)``: ``x`` ``(N, C, h, w)`` in ``[0, 1]``, ``C`` in ``{1, 3}`` -> ``(N, C, h*s, w*s)``.
    Gray input is replicated to RGB and the output channels averaged (RGBA alpha is upscaled
    separately by the engine).
    """

    def forward(self, x: torch.Tensor, params: ParamValues) -> torch.Tensor:
        net = self.network[f"x{self.scale(params)}"]  # type: ignore[index]
        if x.shape[1] == 1:
            return net(x.expand(-1, 3, -1, -1)).mean(dim=1, keepdim=True)
        return net(x)


def build(manifest: Manifest, weights: WeightsBundle) -> Restorer:
    """Load the three per-scale networks from the hash-checked bundle."""
    nets = nn.ModuleDict()
    for name, factory in NETWORKS.items():
        net = factory()
        net.load_state_dict(dict(weights[name]))
        nets[name] = net
    return UpscaleRestorer(manifest, nets)
