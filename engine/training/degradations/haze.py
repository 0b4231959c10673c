"""Haze by the atmospheric scattering model ``I = J t + A (1 - t)``, ``t = exp(-beta d)``.

Depth ``d`` in [0, 1] (1 = far) per image: a vertical ramp that reaches 1 above a random
horizon (``horizon`` in [0.15, 0.6] of the height from the top) and falls to ``near`` in
[0, 0.35] at the bottom with a random curvature; plus low-frequency noise (amplitude
0.1-0.25) and a brightness cue (bright, smooth regions such as sky are pushed farther, weight
0-0.3). ``beta`` is uniform in [0.25, 1.3] (the far-field transmission ``exp(-beta)`` spans
0.78 to 0.27); the airlight ``A`` is uniform in [0.7, 1.0] with a per-channel tint of +-0.04.

``Haze(veil_probability=p)`` (spec ``haze:veil``, p = 0.5) makes a fraction of the images a
near-uniform veil instead: transmission ``t0`` uniform in [0.5, 0.95] over the whole frame, with
+-0.05 of smooth variation and no vertical ramp. The standard real-haze pairs look like that
(HSTS10 and SOTS-outdoor5, ``t`` fitted per pixel from input and target: medians 0.54-0.90,
10th-90th percentile spread ~0.1, no top-to-bottom trend), and a teacher trained only on the
ramp removed a ramp that was not there (docs/training.md). Plain ``haze`` (p = 0) draws exactly
the random numbers it always did, so the fixed-seed synthetic validation sets do not change.

``haze:veil-to-clear`` is ``haze:veil`` with ``t0`` reaching 1 (``veil_t_range = (0.5, 1.0)``): the
lightest veils are no haze at all, so a network trained on it need not lift a veil from every photo
(a Dehaze trained on ``haze:veil`` moves a clean photo to ~25 dB against itself; docs/training.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.training.degradations.base import DegradedBatch, check_clean
from engine.training.degradations.filters import gaussian_kernels, luminance, per_sample_conv, rand, smooth_noise


def random_depth(clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``(N, 1, H, W)`` plausible normalised depth in [0, 1] (see the module docstring)."""
    n, _, h, w = clean.shape
    dev = clean.device
    horizon = rand(n, 0.15, 0.6, generator, dev).view(n, 1, 1, 1)
    near = rand(n, 0.0, 0.35, generator, dev).view(n, 1, 1, 1)
    curve = rand(n, 0.5, 2.0, generator, dev).view(n, 1, 1, 1)
    y = torch.linspace(0.0, 1.0, h, device=dev).view(1, 1, h, 1)
    below = ((y - horizon) / (1.0 - horizon)).clamp(0.0, 1.0)
    ramp = 1.0 - (1.0 - near) * below.pow(curve)
    ramp = ramp.expand(n, 1, h, w)
    wiggle = rand(n, 0.1, 0.25, generator, dev).view(n, 1, 1, 1) * smooth_noise(n, h, w, 3, generator, dev)
    lum = luminance(clean.float())
    sigma = torch.full((n,), max(1.0, min(h, w) / 40.0), device=dev)
    size = min(2 * int(3 * float(sigma[0])) + 1, 2 * (min(h, w) // 2) - 1)
    smooth_lum = per_sample_conv(lum, gaussian_kernels(sigma, max(size, 1)), mode="replicate") if size > 1 else lum
    cue = rand(n, 0.0, 0.3, generator, dev).view(n, 1, 1, 1) * (smooth_lum - 0.5)
    return (ramp + wiggle + cue).clamp(0.0, 1.0)


VEIL_T_RANGE = (0.5, 0.95)
VEIL_TO_CLEAR_T_RANGE = (0.5, 1.0)


def veil_depth_and_beta(
    n: int, h: int, w: int, generator: torch.Generator, device: torch.device, t_range: tuple[float, float] = VEIL_T_RANGE
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(depth (N, 1, H, W), beta (N,))`` of a near-uniform veil: ``exp(-beta d)`` is ``t0`` in ``t_range`` +- 0.05.

    ``t0 = 1`` gives ``beta = 0``: no haze, whatever the depth.
    """
    t0 = rand(n, *t_range, generator, device)
    depth = (0.8 + 0.1 * smooth_noise(n, h, w, 3, generator, device)).clamp(0.0, 1.0)
    return depth, -torch.log(t0) / 0.8


def add_haze(clean: torch.Tensor, depth: torch.Tensor, beta: torch.Tensor, airlight: torch.Tensor) -> torch.Tensor:
    """``J t + A (1 - t)`` with ``t = exp(-beta d)``; ``beta`` ``(N,)``, ``airlight`` ``(N, C)``."""
    n = clean.shape[0]
    t = torch.exp(-beta.view(n, 1, 1, 1) * depth)
    a = airlight.view(n, -1, 1, 1)
    return clean * t + a * (1.0 - t)


def random_airlight(n: int, c: int, low: float, high: float, tint: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """``(N, C)`` airlight: a gray level in ``[low, high)`` plus a per-channel tint in ``+-tint``, clipped to 1."""
    base = rand(n, low, high, generator, device).view(n, 1)
    if c == 1:
        return base
    return (base + rand(n * c, -tint, tint, generator, device).view(n, c)).clamp(0.0, 1.0)


@dataclass(frozen=True)
class Haze:
    """Synthetic haze (see the module docstring for the model and ranges)."""

    beta_range: tuple[float, float] = (0.25, 1.3)
    airlight_range: tuple[float, float] = (0.7, 1.0)
    veil_probability: float = 0.0
    veil_t_range: tuple[float, float] = VEIL_T_RANGE
    name: str = "haze"

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> DegradedBatch:
        check_clean(clean, self.name)
        n, c, h, w = clean.shape
        dev = clean.device
        depth = random_depth(clean, generator)
        beta = rand(n, *self.beta_range, generator, dev)
        if self.veil_probability > 0.0:
            veil = (rand(n, 0.0, 1.0, generator, dev) < self.veil_probability).view(n, 1, 1, 1)
            veil_depth, veil_beta = veil_depth_and_beta(n, h, w, generator, dev, self.veil_t_range)
            depth = torch.where(veil, veil_depth, depth)
            beta = torch.where(veil.view(n), veil_beta, beta)
        airlight = random_airlight(n, c, *self.airlight_range, 0.04, generator, dev)
        hazy = add_haze(clean.float(), depth, beta, airlight).clamp(0.0, 1.0)
        return DegradedBatch(degraded=hazy.to(clean.dtype), clean=clean, kind=("haze",) * n)
