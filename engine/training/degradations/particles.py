"""Random particle / streak layers shared by rain and snow."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.training.degradations.filters import capsule_kernels


def particle_layer(
    shape: tuple[int, int, int],
    density: torch.Tensor,
    length: torch.Tensor,
    width: torch.Tensor,
    angle: torch.Tensor,
    generator: torch.Generator,
    device: torch.device,
) -> torch.Tensor:
    """``(N, 1, H, W)`` opacity layer in [0, 1] of randomly placed capsule-shaped particles.

    Per sample (all ``(N,)``): ``density`` = probability that a pixel seeds a particle,
    ``length`` (px, motion-blur length; 0 gives round blobs), ``width`` (Gaussian sigma of the
    cross-section, px) and ``angle`` (radians from vertical). Each seed has a random strength
    in [0.5, 1]. Seeds are drawn on a canvas larger by the kernel radius so particles enter
    from outside the frame; overlapping particles add up, clipped to 1.
    """
    n, h, w = shape
    reach = float((length / 2 + 3 * width).max())
    size = 2 * int(reach + 1) + 1
    r = size // 2
    u = torch.rand((n, 1, h + 2 * r, w + 2 * r), generator=generator, device=device)
    strength = torch.rand((n, 1, h + 2 * r, w + 2 * r), generator=generator, device=device)
    seeds = (u < density.view(n, 1, 1, 1)).float() * (0.5 + 0.5 * strength)
    kernels = capsule_kernels(length, width, angle, size)
    out = F.conv2d(seeds.reshape(1, n, h + 2 * r, w + 2 * r), kernels, groups=n)
    return out.reshape(n, 1, h, w).clamp(0.0, 1.0)
