"""Noise degradations: additive white Gaussian noise (fixed or blind sigma)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.training.degradations.base import DegradedBatch, check_clean, randn_like, uniform


@dataclass(frozen=True)
class AWGN:
    """White Gaussian noise with std ``sigma`` drawn per image uniformly in ``[sigma_min, sigma_max]``.

    Sigmas are on the 0-255 scale (``sigma_min == sigma_max`` is a fixed sigma). As in the
    evaluation protocol the noisy image is neither clipped nor quantised. ``sigma`` in the
    result is on the [0, 1] scale.
    """

    sigma_min: float
    sigma_max: float

    @property
    def name(self) -> str:
        """The spec that builds it: ``awgn:25`` or ``awgn:0-75``."""
        if self.sigma_min == self.sigma_max:
            return f"awgn:{self.sigma_min:g}"
        return f"awgn:{self.sigma_min:g}-{self.sigma_max:g}"

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> DegradedBatch:
        check_clean(clean, self.name)
        n = clean.shape[0]
        if self.sigma_min == self.sigma_max:
            sigma = torch.full((n,), self.sigma_min / 255.0, device=clean.device, dtype=clean.dtype)
        else:
            sigma = uniform(n, self.sigma_min / 255.0, self.sigma_max / 255.0, generator, clean)
        noisy = clean + randn_like(clean, generator) * sigma.view(n, 1, 1, 1)
        return DegradedBatch(degraded=noisy, clean=clean, kind=("awgn",) * n, sigma=sigma)
