"""Synthetic rain in the style of Rain100/Rain12: 1-3 streak layers, sometimes over a light veil.

Per image: a main falling angle in [-20, 20] degrees from vertical; 1-3 layers, each with its
own angle (main +- 4 degrees), seed density log-uniform in [0.001, 0.008] per pixel, streak
length in [8, 40] px (motion blur), width (Gaussian sigma) in [0.35, 0.9] px and brightness in
[0.15, 0.6]. Streaks are rendered as Gaussian-profile line segments (impulses -> line
kernel -> Gaussian widening) and composited on the image, either additively (``clip(I + R)``)
or by screen blending (``1 - (1 - I)(1 - R)``), half the time each. With probability
``veil_probability`` (0.25) the streaks fall over a veil of rain mist first (``J t + A (1 - t)``,
``t`` in [0.9, 1.0], ``A`` in [0.75, 1.0]).

Why the veil is the exception: with a veil on every image (``t`` in [0.85, 1.0], the first
version) the trained models learned to darken every rainy photo, and the standard pairs have no
veil (Rain12's inputs are 2-6 grey levels brighter than their targets, streaks included): the
derain teacher lost 5-7 dB on Rain12's light-rain images by a uniform shift of about -10 levels
(image 006: 25.5 dB, 27.7 dB with its mean corrected, input 32.8; see docs/training.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from engine.training.degradations.base import DegradedBatch, check_clean
from engine.training.degradations.filters import log_rand, rand
from engine.training.degradations.particles import particle_layer


def rain_layers(n: int, h: int, w: int, generator: torch.Generator, device: torch.device, *,
                density: tuple[float, float] = (0.001, 0.008), length: tuple[float, float] = (8.0, 40.0),
                width: tuple[float, float] = (0.35, 0.9), brightness: tuple[float, float] = (0.15, 0.6),
                max_angle_deg: float = 20.0) -> torch.Tensor:
    """``(N, 1, H, W)`` rain streak intensity in [0, 1] (1 to 3 layers per image)."""
    main = rand(n, -max_angle_deg, max_angle_deg, generator, device) * (math.pi / 180.0)
    count = torch.randint(1, 4, (n,), generator=generator, device=device)
    total = torch.zeros((n, 1, h, w), device=device)
    for layer in range(3):
        angle = main + rand(n, -4.0, 4.0, generator, device) * (math.pi / 180.0)
        dens = log_rand(n, *density, generator, device) * (count > layer).float()
        streak = particle_layer(
            (n, h, w), dens, rand(n, *length, generator, device), rand(n, *width, generator, device), angle, generator, device
        )
        total = total + streak * rand(n, *brightness, generator, device).view(n, 1, 1, 1)
    return total.clamp(0.0, 1.0)


@dataclass(frozen=True)
class Rain:
    """Synthetic rain (see the module docstring for the model and ranges)."""

    name: str = "rain"
    veil_probability: float = 0.25

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> DegradedBatch:
        check_clean(clean, self.name)
        n, c, h, w = clean.shape
        dev = clean.device
        x = clean.float()
        streaks = rain_layers(n, h, w, generator, dev)
        t = rand(n, 0.9, 1.0, generator, dev).view(n, 1, 1, 1)
        veil = rand(n, 0.75, 1.0, generator, dev).view(n, 1, 1, 1)
        veiled = torch.rand(n, generator=generator, device=dev).view(n, 1, 1, 1) < self.veil_probability
        misty = torch.where(veiled, x * t + veil * (1.0 - t), x)
        screen = torch.rand(n, generator=generator, device=dev).view(n, 1, 1, 1) < 0.5
        added = (misty + streaks).clamp(0.0, 1.0)
        screened = 1.0 - (1.0 - misty) * (1.0 - streaks)
        rainy = torch.where(screen, screened, added).clamp(0.0, 1.0)
        return DegradedBatch(degraded=rainy.to(clean.dtype), clean=clean, kind=("rain",) * n)
