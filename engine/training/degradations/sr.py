"""Super-resolution degradation: MATLAB-style bicubic downscaling (as the SR benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.core.imresize import imresize_torch
from engine.training.degradations.base import DegradedBatch, check_clean


@dataclass(frozen=True)
class BicubicDown:
    """Downscale by a scale drawn per batch from ``scales`` with MATLAB's antialiased bicubic.

    The clean batch is cropped (top-left) to a multiple of the scale. Like the evaluation
    protocol (LR made from uint8 and rounded to uint8) the LR is quantised to 1/255 steps and
    clipped to [0, 1]. ``upsampled`` is the LR bicubic-upsampled back to HR size (clipped), the
    input of pre-upsampling networks.
    """

    scales: tuple[int, ...]

    @property
    def name(self) -> str:
        """``bicubic:S1,S2,...``."""
        return "bicubic:" + ",".join(str(s) for s in self.scales)

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> DegradedBatch:
        check_clean(clean, self.name)
        pick = 0
        if len(self.scales) > 1:
            pick = int(torch.randint(0, len(self.scales), (1,), generator=generator, device=clean.device).item())
        s = self.scales[pick]
        h, w = clean.shape[-2] - clean.shape[-2] % s, clean.shape[-1] - clean.shape[-1] % s
        hr = clean[..., :h, :w]
        lr = (imresize_torch(hr, 1.0 / s).clamp(0.0, 1.0) * 255.0).round() / 255.0
        up = imresize_torch(lr, float(s)).clamp(0.0, 1.0)
        return DegradedBatch(degraded=lr, clean=hr, kind=("sr",) * clean.shape[0], upsampled=up, scale=s)
