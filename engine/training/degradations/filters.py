"""Batched torch building blocks for the weather and camera degradations.

Every function works per sample (each image of the batch has its own kernel) on the
tensor's device, and draws randomness only from the generator it is given.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def per_sample_conv(x: torch.Tensor, kernels: torch.Tensor, *, mode: str = "reflect") -> torch.Tensor:
    """Correlate each image ``x[n]`` (all channels) with its own ``kernels[n, 0]`` (odd ``K x K``).

    ``x`` is ``(N, C, H, W)``, ``kernels`` ``(N, 1, K, K)``; output has ``x``'s shape. Borders use
    ``mode`` padding (``"reflect"`` needs ``K // 2 < H, W``; falls back to ``"replicate"``).
    """
    n, c, h, w = x.shape
    k = kernels.shape[-1]
    r = k // 2
    pad_mode = mode if (mode != "reflect" or (r < h and r < w)) else "replicate"
    xp = F.pad(x.reshape(1, n * c, h, w), (r, r, r, r), mode=pad_mode) if r else x.reshape(1, n * c, h, w)
    weight = kernels.to(x.dtype).repeat_interleave(c, dim=0)  # (N*C, 1, K, K)
    return F.conv2d(xp, weight, groups=n * c).reshape(n, c, h, w)


def capsule_kernels(length: torch.Tensor, width: torch.Tensor, angle: torch.Tensor, size: int) -> torch.Tensor:
    """``(N, 1, size, size)`` kernels: a Gaussian-profile line segment (a "capsule").

    Per sample: ``length`` in px (0 gives a round Gaussian blob), ``width`` = Gaussian sigma of
    the cross-section in px, ``angle`` in radians from the vertical (positive leans right).
    The peak value is 1 (not normalised: the result is an opacity / streak profile).
    """
    size = size if size % 2 == 1 else size + 1
    r = size // 2
    dev, dt = length.device, torch.float32
    coords = torch.arange(-r, r + 1, device=dev, dtype=dt)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    ang = angle.to(dt).view(-1, 1, 1)
    # unit vector along the streak: vertical rotated by angle
    uy, ux = torch.cos(ang), torch.sin(ang)
    along = yy * uy + xx * ux
    across = -yy * ux + xx * uy
    half = (length.to(dt) / 2).view(-1, 1, 1)
    outside = (along.abs() - half).clamp_min(0.0)
    dist2 = across * across + outside * outside
    w = width.to(dt).clamp_min(0.2).view(-1, 1, 1)
    return torch.exp(-0.5 * dist2 / (w * w)).unsqueeze(1)


def gaussian_kernels(sigma: torch.Tensor, size: int) -> torch.Tensor:
    """``(N, 1, size, size)`` normalised Gaussian kernels with per-sample ``sigma`` (px)."""
    k = capsule_kernels(torch.zeros_like(sigma), sigma, torch.zeros_like(sigma), size)
    return k / k.sum(dim=(-2, -1), keepdim=True)


def smooth_noise(n: int, h: int, w: int, cells: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """``(N, 1, H, W)`` smooth random field in about [-1, 1]: uniform noise on a coarse grid of
    about ``cells`` cells along the longer side, bicubic-upsampled (two octaves summed)."""
    out = torch.zeros((n, 1, h, w), device=device)
    amp = 1.0
    for octave in range(2):
        c = max(2, cells * (2**octave))
        gh = max(2, round(c * h / max(h, w)))
        gw = max(2, round(c * w / max(h, w)))
        grid = torch.rand((n, 1, gh + 1, gw + 1), generator=generator, device=device) * 2 - 1
        out += amp * F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=True)
        amp *= 0.5
    return (out / 1.5).clamp(-1.0, 1.0)


def luminance(x: torch.Tensor) -> torch.Tensor:
    """``(N, 1, H, W)`` BT.601 luma of an RGB batch (gray batches returned as is)."""
    if x.shape[1] == 1:
        return x
    return 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def rand(n: int, low: float, high: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """``(n,)`` float32 uniform in ``[low, high)``."""
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def log_rand(n: int, low: float, high: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """``(n,)`` float32 log-uniform in ``[low, high)`` (both > 0)."""
    return torch.exp(rand(n, math.log(low), math.log(high), generator, device))
