"""Receptive field of a network measured by autograd (used by tests and scripts/arch_speed.py).

The engine's tiling is exact only when a plugin's declared ``tiling.context`` covers the
input-pixel extent that can influence an output pixel. :func:`measured_context` finds that
extent empirically: it back-propagates from single output pixels and reports the farthest
input pixel with a non-zero gradient, in input pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

Forward = Callable[[torch.Tensor], torch.Tensor]


def measured_context(
    forward: Forward,
    channels: int,
    size: int,
    *,
    scale: int = 1,
    offsets: Sequence[int] = (0,),
    seed: int = 0,
) -> int:
    """Largest input-pixel distance from an output pixel's source location that affects it.

    ``forward`` maps ``(1, channels, size, size)`` to ``(1, C, size*scale, size*scale)``.
    For each offset ``o`` the output pixel at ``(size//2 + o) * scale`` (both axes) is
    differentiated; the radius is the Chebyshev distance from input pixel ``size//2 + o`` to
    the farthest input pixel whose gradient is non-zero. Several offsets matter for strided
    networks, whose receptive field depends on the pixel's phase. ``size`` must exceed twice
    the true radius, or the result is clipped by the image border.
    """
    gen = torch.Generator().manual_seed(seed)
    radius = 0
    for o in offsets:
        x = torch.rand((1, channels, size, size), generator=gen, dtype=torch.float32).requires_grad_(True)
        y = forward(x)
        c_in = size // 2 + o
        c_out = c_in * scale
        y[0, :, c_out, c_out].sum().backward()
        if x.grad is None:  # forward ignored its input
            continue
        hit = (x.grad[0].abs().sum(0) > 0).nonzero()
        if hit.numel() == 0:
            continue
        dist = (hit - c_in).abs().max().item()
        radius = max(radius, int(dist))
    return radius
