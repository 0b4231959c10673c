"""The default "Denoise" filter: a noise-level-conditioned residual U-Net (FFDNet/DRUNet-lite).

Network (:class:`plugins.nets.resunet.ResUNet`): the noisy RGB image plus a constant
noise-level map (sigma/255) -> pixel-unshuffle by 2 -> U-Net with residual blocks at
1/2, 1/4 and 1/8 resolution (widths 64/128/256... see :data:`ARCH`) -> pixel-shuffle ->
residual (output = input + correction). No normalisation layers, so tiles are exact.

Weights entries: ``gaussian`` (trained on AWGN sigma 0-75) and ``camera`` (trained with the
realistic camera-noise model: signal-dependent Poisson-Gaussian noise). Both are colour
networks (their spec: :data:`plugins.nets.specs.DENOISE`); the engine feeds gray images as RGB.

Parameters: ``noise_level`` (0-75 on the 0-255 scale, or ``"auto"``: estimated on the whole
image by :func:`plugins.denoise.noise_level.estimate_noise`, which handles the correlated,
signal-dependent noise of real photos) and ``model`` (``gaussian`` | ``camera`` | ``auto``:
``camera`` when the estimate finds correlated noise, see :func:`auto_model`). A higher noise
level smooths more.

Gray content (a gray image, or an RGB one whose three channels are equal, such as a scanned
black-and-white photo saved as colour) carries the *same* noise in all three channels, while
both networks learnt noise that is independent between channels: averaged over the channels,
their training noise of level ``s`` has ``s / sqrt(3)`` left, the gray image's has all of ``s``.
So the ``gaussian`` weights get ``sqrt(3) * noise_level`` on a gray tile (:func:`network_sigma`);
measured on gray BSD68 with AWGN (first 6 images, seed 0): sigma 15: 28.61 -> 31.17 dB, 25:
24.89 -> 28.40, 50: 20.27 -> 24.65 (the level capped at 75). The ``camera`` weights learnt
noise that is already correlated between channels and do not gain (sigma 10: 32.11 -> 30.91,
25: 23.79 -> 24.28), so they keep the level. The level a user sets or sees stays the noise's own.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from plugins.api import AUTO, Manifest, ParamValues, Restorer, WeightsBundle
from plugins.denoise.noise_level import NoiseEstimate, estimate_noise
from plugins.nets.loading import load_networks
from plugins.nets.resunet import ResUNet, UNetArch

ARCH = UNetArch(widths=(64, 128, 256), enc_blocks=1, dec_blocks=1, bottom_dilations=(1, 1), unshuffle=2)
"""Architecture of both variants (chosen with scripts/arch_speed.py; see MODEL.md)."""

MAX_NOISE_LEVEL = 75.0
GRAY_LEVEL_FACTOR = math.sqrt(3.0)
"""The network's level for gray content is this times the noise level (see the module docstring)."""
GRAY_TOLERANCE = 2.0 / 255.0
"""Channels that differ by at most this everywhere in a tile count as gray (JPEG'd gray scans differ by ~1 level)."""
CORRELATED_RATIO = 0.5
"""``model = "auto"`` picks ``camera`` when ``white / total`` of the estimate is below this (correlated noise)."""


def denoise_net(
    widths: str = "", enc_blocks: int = -1, dec_blocks: int = -1, bottom_blocks: int = -1
) -> ResUNet:
    """The denoiser network; defaults from :data:`ARCH`. ``widths`` like ``"64,128,256"`` (for ablations)."""
    arch = replace(
        ARCH,
        widths=tuple(int(v) for v in widths.split(",")) if widths else ARCH.widths,
        enc_blocks=ARCH.enc_blocks if enc_blocks < 0 else enc_blocks,
        dec_blocks=ARCH.dec_blocks if dec_blocks < 0 else dec_blocks,
        bottom_dilations=ARCH.bottom_dilations if bottom_blocks < 0 else (1,) * bottom_blocks,
    )
    return arch.build(channels=3, noise_map=True)


def denoise_gaussian() -> ResUNet:
    """Network of the ``gaussian`` weights (AWGN sigma 0-75, called ``net(x, sigma)``)."""
    return denoise_net()


def denoise_camera() -> ResUNet:
    """Network of the ``camera`` weights (same architecture, camera-noise training data)."""
    return denoise_net()


def auto_model(estimate: NoiseEstimate) -> str:
    """The weights entry for ``model = "auto"``: ``camera`` for correlated noise, else ``gaussian``.

    Correlated noise (demosaiced sensor noise, grain, JPEG'd noise) has little high-frequency
    energy: its white-equivalent level is well below its total level. White noise has both equal.
    """
    if estimate.total > 0.0 and estimate.white < CORRELATED_RATIO * estimate.total:
        return "camera"
    return "gaussian"


def auto_level(estimate: NoiseEstimate, model: str) -> float:
    """The ``noise_level`` (0-255) for ``"auto"``: what the chosen weights were trained to take.

    ``camera`` was conditioned on the whole standard deviation of its synthetic noise, so it gets
    the estimate's ``total``; ``gaussian`` gets ``sigma`` (white level for white noise, total for
    correlated noise). Clipped to ``[0, MAX_NOISE_LEVEL]``.
    """
    level = estimate.total if model == "camera" else estimate.sigma
    return float(min(max(level * 255.0, 0.0), MAX_NOISE_LEVEL))


class DenoiseRestorer(Restorer):
    """Noise-level-conditioned denoiser.

    ``analyse`` resolves ``noise_level = "auto"`` and ``model = "auto"`` from one
    :func:`estimate_noise` of the whole image (see :func:`auto_level`, :func:`auto_model`). ``forward(x, params)``:
    ``x`` ``(N, 3, H, W)`` in ``[0, 1]``, ``H``, ``W`` multiples of 8; returns the same shape
    (not clipped).
    """

    def analyse(self, image: np.ndarray, params: ParamValues) -> ParamValues:
        level, model = params.get("noise_level"), params.get("model")
        if level != AUTO and model != AUTO:
            return params
        estimate = estimate_noise(image)
        model = auto_model(estimate) if model == AUTO else str(model)
        if level == AUTO:
            return params.replace(noise_level=auto_level(estimate, model), model=model)
        return params.replace(model=model)

    def forward(self, x: torch.Tensor, params: ParamValues) -> torch.Tensor:
        variant = str(params.get("model"))
        net = self.network[variant]  # type: ignore[index]
        gray_factor = GRAY_LEVEL_FACTOR if variant == "gaussian" else 1.0
        return net(x, network_sigma(x, params.float("noise_level"), gray_factor))


def network_sigma(x: torch.Tensor, noise_level: float, gray_factor: float = GRAY_LEVEL_FACTOR) -> torch.Tensor:
    """The ``(N, 1, 1, 1)`` level (0-1 scale) the network gets for each tile of ``x`` ``(N, 3, H, W)``.

    ``noise_level / 255``, times ``gray_factor`` for a tile whose channels agree within
    :data:`GRAY_TOLERANCE` (gray content: the noise is the same in every channel).
    """
    spread = (x.amax(dim=1) - x.amin(dim=1)).flatten(1).amax(dim=1)
    factor = torch.where(spread <= GRAY_TOLERANCE, gray_factor, 1.0).to(x.dtype)
    return (factor * (noise_level / 255.0)).view(-1, 1, 1, 1)


def build(manifest: Manifest, weights: WeightsBundle) -> Restorer:
    """Load the ``gaussian`` and ``camera`` networks (named by the manifest) from the hash-checked bundle."""
    return DenoiseRestorer(manifest, load_networks(manifest, weights))
