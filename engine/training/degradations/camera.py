"""Realistic camera noise: Poisson-Gaussian noise in linear raw space, demosaiced, gamma, JPEG.

Pipeline per image (colour):

1. linearise: ``lin = srgb ** gamma``, gamma uniform in [2.0, 2.4];
2. raw Bayer mosaic (RGGB with a random phase): noise with variance ``shot * lin + read``
   (heteroscedastic Poisson-Gaussian), ``shot`` log-uniform in ``shot_range`` (default
   [1e-4, 1.2e-2]) and ``log read = 2.18 log shot + 1.2 + N(0, 0.26)`` (Brooks et al.,
   "Unprocessing images", 2019). **Grain** (issue 20): on a share ``grain_probability`` (default
   0.5) of the images the unit raw noise is first low-passed by a Gaussian of ``grain`` px,
   uniform in ``grain_range`` (default [0.5, 2]), and rescaled to unit variance (the signal
   dependence is applied after, so the level is unchanged); the other half keep white raw noise.
   Why: the real noisy photos in ``../shared/data/real-noisy`` have coarser grain than the fine
   synthesis (film grain, scanned prints, noise reduction in camera). Measured by
   ``scripts/noise_grain_table.py`` (lag-1 / lag-2 autocorrelation of the residual in flat 16-px
   patches, luma): real photos 0.30-0.74 / -0.05-0.40, the fine synthesis 0.20 / -0.01 (gray) and
   0.57 / 0.00 (colour), grain 1 px 0.77 / 0.34, grain 2 px 0.88 / 0.64; so [0.5, 2] plus the fine
   half spans the real photos with margin on both sides (plugins/denoise/MODEL.md, "Grain");
3. demosaic of the noise mosaic (constant-hue: bilinear green, red and blue as green plus the
   bilinearly interpolated colour difference): noise becomes spatially correlated (2-3 px) and
   correlated across channels; then a random colour-correlation mix pulls each channel toward
   the common noise (weight rho uniform in [0.3, 0.8]) with per-channel gains in [0.8, 1.25]
   (white balance / colour-matrix amplification);
4. back to sRGB with ``1 / gamma``, clipped;
5. JPEG (torch DCT quantisation) at a quality uniform in [55, 95] with probability 0.75.

Gray images: no mosaic; the (grain-filtered) noise is blurred by a small Gaussian (sigma 0.4-0.8 px).
**Gray stored as RGB** (issue 20): with ``gray_probability > 0`` a colour batch turns that share of
its images into black-and-white scans saved as colour: the target becomes the image's luma (BT.601)
in all three channels and the noise comes from the gray path, the same in every channel. Why: all
six photos of ``../shared/data/real-noisy`` are such scans, the colour synthesis never shows the
network noise that is identical across channels, and the level sweep of
``scripts/camera_level_sweep.py --gray`` found coarse gray grain the case the weights handle worst.
All randomness comes from the generator passed in; ``grain_probability = 0`` draws nothing for the
grain and ``gray_probability = 0`` (the default) nothing for the gray share, so those reproduce the
synthesis from before each parameter exactly.
``sigma`` reports the measured standard deviation of the added noise (before JPEG), [0, 1] scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from engine.training.degradations.base import DegradedBatch, check_clean
from engine.training.degradations.filters import gaussian_kernels, log_rand, per_sample_conv, rand
from engine.training.degradations.jpeg import jpeg

_BILINEAR = torch.tensor([[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])
_LUMA = torch.tensor([0.299, 0.587, 0.114])
"""BT.601 luma weights: the gray image a colour photo becomes for the gray share."""


def _bayer_masks(n: int, h: int, w: int, phase: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``(N, 3, H, W)`` 0/1 masks of an RGGB mosaic shifted by per-sample ``phase`` in 0..3."""
    yy = torch.arange(h, device=device).view(1, h, 1)
    xx = torch.arange(w, device=device).view(1, 1, w)
    py = (phase // 2).view(n, 1, 1)
    px = (phase % 2).view(n, 1, 1)
    ey, ex = (yy + py) % 2 == 0, (xx + px) % 2 == 0
    red = ey & ex
    blue = ~ey & ~ex
    green = ~(red | blue)
    return torch.stack([red, green, blue], dim=1).float()


@dataclass(frozen=True)
class CameraNoise:
    """Signal-dependent, channel- and spatially-correlated noise plus JPEG (see module doc)."""

    jpeg_probability: float = 0.75
    quality_range: tuple[float, float] = (55.0, 95.0)
    shot_range: tuple[float, float] = (1e-4, 1.2e-2)
    grain_probability: float = 0.5
    grain_range: tuple[float, float] = (0.5, 2.0)
    gray_probability: float = 0.0
    name: str = "camera"

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> DegradedBatch:
        check_clean(clean, self.name)
        if clean.shape[1] == 3 and self.gray_probability > 0.0:
            as_gray = torch.rand(clean.shape[0], generator=generator, device=clean.device) < self.gray_probability
            if bool(as_gray.any()):
                return self._with_gray_share(clean, as_gray, generator)
        return self._synthesise(clean, generator)

    def _with_gray_share(self, clean: torch.Tensor, as_gray: torch.Tensor, generator: torch.Generator) -> DegradedBatch:
        """The colour synthesis on the images not in ``as_gray``; the others as gray scans stored as RGB."""
        plain = replace(self, gray_probability=0.0)
        n = clean.shape[0]
        luma = (clean.float() * _LUMA.to(clean.device).view(1, 3, 1, 1)).sum(dim=1, keepdim=True).to(clean.dtype)
        target = clean.clone()
        target[as_gray] = luma[as_gray].expand(-1, 3, -1, -1)
        degraded = torch.empty_like(clean)
        sigma = torch.empty(n, dtype=clean.dtype, device=clean.device)
        gray = plain._synthesise(luma[as_gray], generator)
        degraded[as_gray] = gray.degraded.expand(-1, 3, -1, -1)
        sigma[as_gray] = gray.sigma  # type: ignore[assignment]
        if not bool(as_gray.all()):
            colour = plain._synthesise(clean[~as_gray], generator)
            degraded[~as_gray] = colour.degraded
            sigma[~as_gray] = colour.sigma  # type: ignore[assignment]
        return DegradedBatch(degraded=degraded, clean=target, kind=("camera",) * n, sigma=sigma)

    def _synthesise(self, clean: torch.Tensor, generator: torch.Generator) -> DegradedBatch:
        """The pipeline of the module docstring on ``clean`` as it is (colour or gray)."""
        n, c, h, w = clean.shape
        dev = clean.device
        x = clean.float().clamp(0, 1)
        gamma = rand(n, 2.0, 2.4, generator, dev).view(n, 1, 1, 1)
        lin = x.pow(gamma)
        shot = log_rand(n, self.shot_range[0], self.shot_range[1], generator, dev)
        log_read = 2.18 * torch.log(shot) + 1.2 + 0.26 * torch.randn(n, generator=generator, device=dev)
        read = torch.exp(log_read).view(n, 1, 1, 1)
        shot = shot.view(n, 1, 1, 1)
        grain = self._grain(n, generator, dev)
        if c == 3:
            phase = torch.randint(0, 4, (n,), generator=generator, device=dev)
            masks = _bayer_masks(n, h, w, phase, dev)
            raw = (lin * masks).sum(dim=1, keepdim=True)
            std = (shot * raw + read).clamp_min(1e-10).sqrt()
            raw_noise = _grainy(torch.randn((n, 1, h, w), generator=generator, device=dev), grain) * std
            mosaic = raw_noise * masks  # (N, 3, H, W), zeros where a channel was not sampled
            kernel = _BILINEAR.to(dev).view(1, 1, 3, 3).repeat(3, 1, 1, 1)
            density = F.conv2d(F.pad(masks, (1, 1, 1, 1), mode="replicate"), kernel, groups=3)
            interp = F.conv2d(F.pad(mosaic, (1, 1, 1, 1), mode="replicate"), kernel, groups=3) / density
            # constant-hue demosaic: green bilinear, red/blue as green + interpolated (R - G) / (B - G)
            green = interp[:, 1:2]
            diff = (mosaic - green * masks)[:, 0::2]
            diff = F.conv2d(F.pad(diff, (1, 1, 1, 1), mode="replicate"), kernel[:2], groups=2) / density[:, 0::2]
            noise = torch.cat([green + diff[:, 0:1], green, green + diff[:, 1:2]], dim=1)
            # random colour correlation: pull every channel toward the common (luma-like) noise,
            # then per-channel gains (white balance / colour matrix amplification)
            rho = rand(n, 0.3, 0.8, generator, dev).view(n, 1, 1, 1)
            gains = rand(n * 3, 0.8, 1.25, generator, dev).view(n, 3, 1, 1)
            noise = gains * ((1.0 - rho) * noise + rho * noise.mean(dim=1, keepdim=True))
        else:
            std = (shot * lin + read).clamp_min(1e-10).sqrt()
            noise = _grainy(torch.randn((n, 1, h, w), generator=generator, device=dev), grain) * std
            blur = gaussian_kernels(rand(n, 0.4, 0.8, generator, dev), 5)
            noise = per_sample_conv(noise, blur) / blur.pow(2).sum(dim=(-2, -1)).sqrt().view(n, 1, 1, 1)
        noisy = (lin + noise).clamp(0, 1).pow(1.0 / gamma)
        sigma = (noisy - x).flatten(1).std(dim=1)
        use_jpeg = torch.rand(n, generator=generator, device=dev) < self.jpeg_probability
        quality = rand(n, self.quality_range[0], self.quality_range[1], generator, dev).round()
        if bool(use_jpeg.any()):
            compressed = jpeg(noisy, quality)
            noisy = torch.where(use_jpeg.view(n, 1, 1, 1), compressed, noisy)
        return DegradedBatch(degraded=noisy.to(clean.dtype), clean=clean, kind=("camera",) * n, sigma=sigma.to(clean.dtype))

    def _grain(self, n: int, generator: torch.Generator, dev: torch.device) -> torch.Tensor | None:
        """``(N,)`` grain scale in px per image (0: fine grain), or ``None`` when grain is off (no draws)."""
        if self.grain_probability <= 0.0:
            return None
        scale = rand(n, self.grain_range[0], self.grain_range[1], generator, dev)
        coarse = torch.rand(n, generator=generator, device=dev) < self.grain_probability
        return torch.where(coarse, scale, torch.zeros_like(scale))


def _grainy(unit: torch.Tensor, grain: torch.Tensor | None) -> torch.Tensor:
    """Unit-variance white noise ``(N, 1, H, W)`` low-passed by a Gaussian of ``grain[n]`` px, rescaled to unit variance.

    Images with ``grain == 0`` (or ``grain is None``) keep the white noise unchanged.
    """
    if grain is None or not bool((grain > 0).any()):
        return unit
    radius = max(1, math.ceil(3.0 * float(grain.max())))
    kernels = gaussian_kernels(grain.clamp_min(0.2), 2 * radius + 1)
    filtered = per_sample_conv(unit, kernels) / kernels.pow(2).sum(dim=(-2, -1)).sqrt().view(-1, 1, 1, 1)
    return torch.where((grain > 0).view(-1, 1, 1, 1), filtered, unit)
