"""A residual U-Net without normalisation layers (tile-exact), shared by several plugins.

Layout (``L = len(widths)`` levels; level ``i`` runs at ``1 / (unshuffle * 2**i)`` resolution)::

    x (N, C, H, W) [+ noise-level map channel]
      -> PixelUnshuffle(unshuffle) -> conv3x3 -> widths[0]
      -> encoder level i: enc_blocks x ResBlock(widths[i]) -> conv2x2 stride 2 -> widths[i+1]
      -> bottom: one ResBlock per entry of ``bottom_dilations`` (dilated 3x3 convs), widths[-1]
      -> decoder level i: ConvTranspose2x2 stride 2 -> widths[i]; + encoder skip; dec_blocks x ResBlock
      -> conv3x3 -> C * unshuffle**2 -> PixelShuffle(unshuffle)
    output = x + that (residual learning)

Every layer is a convolution or ReLU, so the network is local: its receptive field is
finite and given by :meth:`ResUNet.context`, and, as long as tiles start at multiples of
:attr:`ResUNet.size_multiple` (the engine pads inputs to that multiple), a tile's central
part equals the whole-image output. No layer averages over H and W.

``forward_features(x)`` returns the output and the feature maps at the end of the
encoder (bottom) and of every decoder level, coarse to fine (the features aligned by
knowledge distillation, see ``engine/training/distill.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class UNetArch:
    """Hyper-parameters of a :class:`ResUNet` (see its constructor)."""

    widths: tuple[int, ...]
    enc_blocks: int = 1
    dec_blocks: int = 1
    bottom_dilations: tuple[int, ...] = (1, 1)
    unshuffle: int = 2

    def build(self, channels: int = 3, noise_map: bool = False) -> ResUNet:
        """A freshly initialised network with these hyper-parameters."""
        return ResUNet(
            channels=channels,
            widths=self.widths,
            enc_blocks=self.enc_blocks,
            dec_blocks=self.dec_blocks,
            bottom_dilations=self.bottom_dilations,
            unshuffle=self.unshuffle,
            noise_map=noise_map,
        )


class ResBlock(nn.Module):
    """``x + conv3x3(relu(conv3x3(x)))`` with optional dilation (no normalisation)."""

    def __init__(self, width: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))

    def make_identity(self) -> None:
        """Zero ``conv2``: the block returns its input until training moves it (used by ``clarity train --grow``)."""
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)


class ResUNet(nn.Module):
    """Residual U-Net; see the module docstring. ``noise_map`` adds a sigma input channel.

    ``forward(x, sigma=None)``: ``x`` is ``(N, channels, H, W)`` in ``[0, 1]`` with ``H``, ``W``
    multiples of :attr:`size_multiple`; ``sigma`` (only when ``noise_map``) is a tensor
    broadcastable to ``(N, 1, 1, 1)`` holding the noise standard deviation on the ``[0, 1]``
    scale (sigma/255). Returns ``(N, channels, H, W)``.
    """

    def __init__(
        self,
        channels: int = 3,
        widths: Sequence[int] = (64, 128, 256),
        enc_blocks: int = 1,
        dec_blocks: int = 1,
        bottom_dilations: Sequence[int] = (1, 1),
        unshuffle: int = 2,
        noise_map: bool = False,
    ) -> None:
        super().__init__()
        if not widths or unshuffle < 1:
            raise ValueError("ResUNet needs at least one width and unshuffle >= 1")
        self.channels = channels
        self.widths = tuple(int(w) for w in widths)
        self.enc_blocks = enc_blocks
        self.dec_blocks = dec_blocks
        self.bottom_dilations = tuple(int(d) for d in bottom_dilations)
        self.unshuffle = unshuffle
        self.noise_map = noise_map
        u2 = unshuffle * unshuffle
        in_ch = (channels + (1 if noise_map else 0)) * u2
        self.head = nn.Conv2d(in_ch, self.widths[0], 3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for w, w_next in zip(self.widths[:-1], self.widths[1:]):
            self.encoders.append(nn.Sequential(*[ResBlock(w) for _ in range(enc_blocks)]))
            self.downs.append(nn.Conv2d(w, w_next, 2, stride=2))
            self.ups.append(nn.ConvTranspose2d(w_next, w, 2, stride=2))
            self.decoders.append(nn.Sequential(*[ResBlock(w) for _ in range(dec_blocks)]))
        self.bottom = nn.Sequential(*[ResBlock(self.widths[-1], d) for d in self.bottom_dilations])
        self.tail = nn.Conv2d(self.widths[0], channels * u2, 3, padding=1)
        self.shuffle = nn.PixelShuffle(unshuffle)
        self.unshuffle_op = nn.PixelUnshuffle(unshuffle)

    @property
    def size_multiple(self) -> int:
        """Input H and W must be multiples of this (``unshuffle * 2**(levels-1)``)."""
        return self.unshuffle * 2 ** (len(self.widths) - 1)

    def context(self) -> int:
        """Receptive-field radius in input pixels for the worst pixel phase.

        Each 3x3 conv with dilation ``d`` at stride ``S`` adds ``d * S`` pixels; each 2x2
        down/up conv and the unshuffle/shuffle pair add up to ``S`` (``unshuffle - 1``) for some
        phase, but the phase-dependent parts cannot all be at their worst at once, which saves
        ``size_multiple - 1``. Equal to the autograd measurement over all phases
        (plugins.nets.receptive.measured_context) for the shipped configurations.
        """
        u = self.unshuffle
        r = 2 * (u - 1)  # pixel unshuffle + pixel shuffle phase
        r += 2 * u  # head and tail 3x3 convs at stride u
        for level in range(len(self.widths) - 1):
            s = u * 2**level
            r += 2 * s * (self.enc_blocks + self.dec_blocks)  # 2 convs per block
            r += 2 * s  # the 2x2 down conv (at stride s) and up conv (to stride s)
        s_bottom = u * 2 ** (len(self.widths) - 1)
        r += 2 * s_bottom * sum(self.bottom_dilations)
        return r - (self.size_multiple - 1)

    def _encode(self, x: torch.Tensor, sigma: torch.Tensor | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        inp = x
        if self.noise_map:
            if sigma is None:
                raise ValueError("this network needs the noise level: call net(x, sigma)")
            level = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
            inp = torch.cat([x, level.expand(x.shape[0], 1, x.shape[2], x.shape[3])], dim=1)
        h = self.head(self.unshuffle_op(inp))
        skips = []
        for enc, down in zip(self.encoders, self.downs):
            h = enc(h)
            skips.append(h)
            h = down(h)
        return self.bottom(h), skips

    def forward_features(
        self, x: torch.Tensor, sigma: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Output and features ``[bottom, decoder level L-2, ..., decoder level 0]`` (coarse to fine)."""
        h, skips = self._encode(x, sigma)
        feats = [h]
        for i in reversed(range(len(self.ups))):
            h = self.decoders[i](self.ups[i](h) + skips[i])
            feats.append(h)
        out = x + self.shuffle(self.tail(h))
        return out, feats

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_features(x, sigma)[0]
