"""The default "Upscale" filter: a multi-scale post-upsampling residual network (EDSR-baseline / MDSR-lite).

Network (:class:`UpscaleNet`): conv3x3 (C->64) at low resolution, 16 residual blocks (20 in the
shipped ``main``: :func:`upscale_net_deep`) of conv-ReLU-conv without normalisation, a conv and a
long skip: the body of EDSR-baseline, shared by all scales (as in MDSR). Per-scale light tails:
conv3x3 (64 -> C*s*s) and PixelShuffle(s) (ESPCN-style, so almost all work stays at low
resolution), plus a bicubic upsampling of the input as a global residual (faster, more stable
training). One weights file ``main`` serves x2, x3 and x4 and is trained on all three at once
(``scale_arg = true``, ``bicubic:2,3,4``). A specialist entry named ``x<s>`` (same network,
fine-tuned on scale ``s`` alone, as EDSR trains one network per scale) serves scale ``s`` instead of
``main`` when the manifest lists it.

Receptive field in input pixels: ``2 * blocks + 3`` = 35 for 16 blocks, 43 for 20 (head, body,
body end, tail); the parallel bicubic skip needs only 2, and pixel shuffle maps each output pixel
to one input pixel.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from plugins.api import Manifest, ParamValues, Restorer, WeightsBundle
from plugins.nets.loading import load_networks
from plugins.nets.resunet import ResBlock

FEATURES = 64
BLOCKS = 16
DEEP_BLOCKS = 20
SCALES = (2, 3, 4)
"""Architecture (chosen with scripts/arch_speed.py; see MODEL.md)."""


class UpscaleNet(nn.Module):
    """Post-upsampling SR network with a shared body and one tail per scale in ``scales``.

    ``forward(x, scale=s)``: ``(N, channels, h, w)`` in ``[0, 1]`` -> ``(N, channels, h*s, w*s)``;
    ``s`` must be one of ``scales`` (default: the first).
    """

    def __init__(
        self, scales: Sequence[int] = SCALES, channels: int = 3, features: int = FEATURES, blocks: int = BLOCKS
    ) -> None:
        super().__init__()
        if not scales or min(scales) < 1:
            raise ValueError("scales must be a non-empty list of integers >= 1")
        self.scales = tuple(int(s) for s in scales)
        self.blocks = blocks
        self.head = nn.Conv2d(channels, features, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(features) for _ in range(blocks)])
        self.body_end = nn.Conv2d(features, features, 3, padding=1)
        self.tails = nn.ModuleDict(
            {str(s): nn.Conv2d(features, channels * s * s, 3, padding=1) for s in self.scales}
        )

    def context(self) -> int:
        """Receptive-field radius in input pixels: one per 3x3 conv on the longest path."""
        return max(2 * self.blocks + 3, 2)

    def forward(self, x: torch.Tensor, scale: int | None = None) -> torch.Tensor:
        s = self.scales[0] if scale is None else int(scale)
        if s not in self.scales:
            raise ValueError(f"scale {s} not in {self.scales}")
        h = self.head(x)
        h = h + self.body_end(self.body(h))
        up = F.interpolate(x, scale_factor=s, mode="bicubic", align_corners=False)
        return up + F.pixel_shuffle(self.tails[str(s)](h), s)


def upscale_net(blocks: int = BLOCKS, features: int = FEATURES) -> UpscaleNet:
    """The 16-block body (the ``main`` weights through stage 8); arguments only for ablations and training."""
    return UpscaleNet(SCALES, 3, features, blocks)


def upscale_net_deep() -> UpscaleNet:
    """The network of the ``main`` weights (x2, x3 and x4) since session 28: :data:`DEEP_BLOCKS` residual blocks,
    grown (``--grow``) from the trained :func:`upscale_net`; radius 43."""
    return UpscaleNet(SCALES, 3, FEATURES, DEEP_BLOCKS)


def weights_for_scale(names: Collection[str], scale: int) -> str:
    """The weights entry that serves ``scale``: the specialist ``x<scale>`` if in ``names``, else ``main``."""
    specialist = f"x{scale}"
    return specialist if specialist in names else "main"


class UpscaleRestorer(Restorer):
    """Runs the network of :func:`weights_for_scale` with the ``scale`` parameter.

    ``self.network`` is a ``ModuleDict`` keyed by weights entry (``main``, and ``x2`` etc. when
    shipped). ``forward(x, params)``: ``x`` ``(N, 3, h, w)`` in ``[0, 1]`` -> ``(N, 3, h*s, w*s)``
    (the engine feeds gray images as RGB and upscales alpha separately).
    """

    def forward(self, x: torch.Tensor, params: ParamValues) -> torch.Tensor:
        scale = self.scale(params)
        net = self.network[weights_for_scale(self.network.keys(), scale)]  # type: ignore[index]
        return net(x, scale=scale)


def build(manifest: Manifest, weights: WeightsBundle) -> Restorer:
    """Load every weights entry's network from the hash-checked bundle (``main``, plus any ``x<s>`` specialist)."""
    return UpscaleRestorer(manifest, load_networks(manifest, weights))
