"""Synthetic snow: three particle layers (small dense flakes, medium flakes, large soft bokeh
blobs) with wind motion blur and transparency, over a veil of haze.

Per image: wind angle in [-50, 50] degrees from vertical (layers +- 8 degrees); a haze veil
``J t + A (1 - t)`` with ``t`` in [0.65, 0.95] (``snow:veil-to-clear``: [0.65, 1.0], so the lightest
snowfalls have no veil) modulated by smooth noise and bluish-white ``A`` in [0.75, 1.0]; then each
layer is alpha-blended with a snow colour in [0.9, 1.0]:

| layer  | sigma (px) | density (log-uniform) | motion length (px) | opacity   |
| small  | 0.5-1.0    | 0.002-0.012           | 0-5                | 0.6-1.0   |
| medium | 1.2-2.2    | 0.0003-0.002          | 0-8                | 0.5-0.95  |
| large  | 3.0-6.0    | 0.00003-0.0002        | 0-4                | 0.25-0.6  |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from engine.training.degradations.base import DegradedBatch, check_clean
from engine.training.degradations.filters import log_rand, rand, smooth_noise
from engine.training.degradations.haze import random_airlight
from engine.training.degradations.particles import particle_layer

# (sigma range, density range, length range, opacity range)
SNOW_LAYERS: tuple[tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]], ...] = (
    ((0.5, 1.0), (0.002, 0.012), (0.0, 5.0), (0.6, 1.0)),
    ((1.2, 2.2), (0.0003, 0.002), (0.0, 8.0), (0.5, 0.95)),
    ((3.0, 6.0), (0.00003, 0.0002), (0.0, 4.0), (0.25, 0.6)),
)


VEIL_T_RANGE = (0.65, 0.95)
VEIL_TO_CLEAR_T_RANGE = (0.65, 1.0)


@dataclass(frozen=True)
class Snow:
    """Synthetic snow (see the module docstring for the model and ranges)."""

    veil_t_range: tuple[float, float] = VEIL_T_RANGE
    name: str = "snow"

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> DegradedBatch:
        check_clean(clean, self.name)
        n, c, h, w = clean.shape
        dev = clean.device
        x = clean.float()
        t = rand(n, *self.veil_t_range, generator, dev).view(n, 1, 1, 1)
        t = (t + 0.05 * smooth_noise(n, h, w, 3, generator, dev)).clamp(0.0, 1.0)
        airlight = random_airlight(n, c, 0.75, 1.0, 0.03, generator, dev).view(n, c, 1, 1)
        out = x * t + airlight * (1.0 - t)
        wind = rand(n, -50.0, 50.0, generator, dev) * (math.pi / 180.0)
        for sigma, density, length, opacity in SNOW_LAYERS:
            angle = wind + rand(n, -8.0, 8.0, generator, dev) * (math.pi / 180.0)
            alpha = particle_layer(
                (n, h, w),
                log_rand(n, *density, generator, dev),
                rand(n, *length, generator, dev),
                rand(n, *sigma, generator, dev),
                angle,
                generator,
                dev,
            ) * rand(n, *opacity, generator, dev).view(n, 1, 1, 1)
            colour = rand(n, 0.9, 1.0, generator, dev).view(n, 1, 1, 1)
            out = out * (1.0 - alpha) + colour * alpha
        return DegradedBatch(degraded=out.clamp(0.0, 1.0).to(clean.dtype), clean=clean, kind=("snow",) * n)
