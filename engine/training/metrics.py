"""Image-quality metrics that match the literature's evaluation code.

- :func:`psnr`: ``10 log10(data_range^2 / MSE)`` in float64.
- :func:`ssim`: identical to scikit-image's ``structural_similarity(data_range=255,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`` (the original MATLAB
  SSIM): 11x11 Gaussian window (sigma 1.5, truncated at 3.5 sigma), statistics on the
  valid region only (5 px border dropped), per channel, averaged over channels.
- :func:`rgb_to_y`: ITU-R BT.601 luma as MATLAB's ``rgb2ycbcr`` (16..235 on the 0-255 scale).
- :func:`shave`: drop a border.

Pure numpy (no scipy / scikit-image), so it runs on the training machine; :func:`psnr_torch`
is a batched torch PSNR for validation inside training loops.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from engine.core.errors import ClarityError

if TYPE_CHECKING:  # pragma: no cover
    import torch

SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5


def _pair(a: np.ndarray, b: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    if a.shape != b.shape:
        raise ClarityError(f"{what}: images differ in shape {a.shape} vs {b.shape}; crop or resize them to match")
    return np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """PSNR in dB between two same-shape images on a ``data_range`` scale; ``inf`` if identical."""
    x, y = _pair(a, b, "psnr")
    mse = float(np.mean((x - y) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range * data_range / mse)


def gaussian_window(sigma: float = SSIM_SIGMA, truncate: float = SSIM_TRUNCATE) -> np.ndarray:
    """1-D normalised Gaussian taps as ``scipy.ndimage.gaussian_filter`` uses (radius ``int(truncate*sigma+0.5)``)."""
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def _filter_valid(img: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Separable correlation of a 2-D image with ``taps``, keeping only fully-inside positions."""
    k = taps.size
    h, w = img.shape
    rows = sum(taps[i] * img[i : h - k + 1 + i, :] for i in range(k))
    return sum(taps[i] * rows[:, i : w - k + 1 + i] for i in range(k))


def _ssim_channel(x: np.ndarray, y: np.ndarray, data_range: float, taps: np.ndarray) -> float:
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    ux, uy = _filter_valid(x, taps), _filter_valid(y, taps)
    uxx, uyy, uxy = _filter_valid(x * x, taps), _filter_valid(y * y, taps), _filter_valid(x * y, taps)
    vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
    num = (2 * ux * uy + c1) * (2 * vxy + c2)
    den = (ux * ux + uy * uy + c1) * (vx + vy + c2)
    return float(np.mean(num / den))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM of ``(H, W)`` or ``(H, W, C)`` images (channels averaged), as scikit-image computes it.

    Images must be at least 11x11 pixels.
    """
    x, y = _pair(a, b, "ssim")
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    if x.ndim != 3:
        raise ClarityError(f"ssim needs (H, W) or (H, W, C) images, got shape {a.shape}")
    taps = gaussian_window()
    if min(x.shape[:2]) < taps.size:
        raise ClarityError(f"ssim needs images of at least {taps.size}x{taps.size} pixels, got {x.shape[1]}x{x.shape[0]}")
    return float(np.mean([_ssim_channel(x[..., c], y[..., c], data_range, taps) for c in range(x.shape[2])]))


def rgb_to_y(img: np.ndarray, data_range: float = 255.0) -> np.ndarray:
    """BT.601 luma of an ``(H, W, 3)`` RGB image, on the 0-255 scale (16..235), float64.

    Same as MATLAB ``rgb2ycbcr``'s Y before rounding: ``16 + 65.481 R + 128.553 G + 24.966 B``
    with R, G, B in [0, 1] (``img / data_range``). Gray ``(H, W)`` / ``(H, W, 1)`` input is
    returned unchanged (as float64 on the 0-255 scale), since it is already luminance.
    """
    x = np.asarray(img, dtype=np.float64) * (255.0 / data_range)
    if x.ndim == 2 or (x.ndim == 3 and x.shape[2] == 1):
        return x.reshape(x.shape[:2])
    if x.ndim != 3 or x.shape[2] != 3:
        raise ClarityError(f"rgb_to_y needs an (H, W, 3) image, got shape {img.shape}")
    r, g, b = x[..., 0] / 255.0, x[..., 1] / 255.0, x[..., 2] / 255.0
    return 16.0 + 65.481 * r + 128.553 * g + 24.966 * b


def shave(img: np.ndarray, border: int) -> np.ndarray:
    """``img`` without ``border`` pixels on each side (H and W are the first two axes)."""
    if border < 0:
        raise ClarityError(f"shave border {border} must be >= 0")
    if border == 0:
        return img
    if img.shape[0] <= 2 * border or img.shape[1] <= 2 * border:
        raise ClarityError(f"cannot shave {border} px from a {img.shape[1]}x{img.shape[0]} image")
    return img[border:-border, border:-border]


def psnr_torch(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image PSNR (dB) of two ``(N, ...)`` tensors, computed in float32/float64; returns ``(N,)``."""
    import torch

    diff = (a.float() - b.float()).flatten(1)
    mse = diff.pow(2).mean(dim=1)
    return 10.0 * torch.log10(data_range * data_range / mse.clamp_min(1e-20))
