"""Blind noise-level estimate for real photos (numpy only): :func:`estimate_noise`.

Real noise is not the white, channel-independent Gaussian noise that the whole-patch PCA
estimator :func:`estimate_sigma` (what ``"auto"`` used before issue 20) assumes: demosaicing, film grain and JPEG make it
spatially correlated (its high frequencies are weak), it is correlated across channels (a
gray photo stored as RGB has three identical channels) and its level depends on the
brightness. So this estimator works on each distinct colour plane separately and measures two
levels on *weak-texture* 8x8 patches:

- ``white``: the high-frequency (white-equivalent) level, by the weak-texture patch selection of
  Liu, Tanaka and Okutomi ("Single-image noise level estimation for blind denoising", IEEE TIP
  2013; patches whose gradient energy is consistent with noise alone, iterated) and the
  eigenvalue rule of Chen et al. (ICCV 2015) on the covariance of the selected patches. Exact for
  white noise, blind to noise that has little high-frequency energy.
- ``total``: the whole standard deviation of the noise. Per brightness quartile, the
  self-consistent median variance of the patches after removing each patch's plane fit (the
  noise-level function, ``levels``); ``total`` is the *quietest* quartile's level times
  :data:`TOTAL_CALIBRATION` (:func:`total_level`). Sees correlated noise (grain, demosaiced or
  JPEG'd noise). Texture raises the level of the quartiles it covers, while the noise, nearly flat
  in brightness after a camera's gamma, is in all of them: taking the quietest quartile rather
  than the RMS of the four (before session 9) lowered the level read on the 68 clean CBSD68
  photos from a median of 5.1 to 2.1 (0-255 scale; above 10: 18 -> 6 photos; a tiger in grass
  read 17.9, now 5.2, and was smeared by the filter's defaults). Near white the noise is
  compressed, not absent (a camera clips, a print's paper base carries no grain: a scan's
  paper-white quartile read 2.2 against 7.5 in the others and set its level), so quartiles
  brighter than :data:`HIGHLIGHT` take no part in the minimum unless all are (session 10).

The reported ``sigma`` is ``white`` when the noise is white (``white / total >= 0.5``),
``total`` when it is clearly correlated (ratio <= 0.3), and a linear blend in between. Saturated
patches (a quarter of their pixels at the image's minimum or maximum) carry no noise and are
left out; their share of the image scales ``total`` down, as in the measured standard
deviation of the camera-noise synthesis (:mod:`engine.training.degradations.camera`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PATCH = 8
"""Patch edge in pixels."""
_D = PATCH * PATCH
_MAX_PATCHES = 20000
_MIN_SELECTED = 4 * _D
"""Fewest selected patches a covariance is trusted with (fewer: keep the previous level)."""
_BINS = 4
TOTAL_CALIBRATION = 1.3
"""``total`` = this x the quietest quartile's level (highlight quartiles left out). 1.3 gave the
``camera`` weights their best balance of gain on camera noise and harm to clean photos
(plugins/denoise/MODEL.md, "Texture is not noise" and "Highlights")."""
HIGHLIGHT = 0.8
"""Quartiles whose mean brightness (``[0, 1]`` scale) is above this are left out of ``total``'s minimum
unless every quartile is: near white, clipping (cameras) and the paper base (prints) compress the noise."""
_WHITE_RATIO = 0.5
_CORRELATED_RATIO = 0.3
_QUANTISATION = 1.0 / (12.0 * 255.0**2)
"""Variance of 8-bit rounding: the floor of the texture threshold (a JPEG's flat blocks have no noise)."""
_MEDIAN_BIAS = (1.0 - 2.0 / (9.0 * (_D - 3))) ** 3
"""Median over mean of a chi-square variable with D - 3 degrees of freedom (Wilson-Hilferty)."""
_CONSISTENT = 1.9
"""Upper bound of a pure-noise patch variance relative to the level (chi-square 0.99 quantile for ~20 dof)."""
_GRAD_TRACE = 4.0 * PATCH * (PATCH - 1)
"""Trace of ``Dh'Dh + Dv'Dv`` for one patch (valid first differences): gradient energy per unit noise variance."""


@dataclass(frozen=True)
class NoiseEstimate:
    """A noise-level estimate on the image's own scale (``[0, 1]`` images: multiply by 255).

    - ``sigma``: the level to denoise with (see the module docstring for the white/total blend).
    - ``white``: high-frequency (white-equivalent) level, RMS over the planes.
    - ``total``: whole noise standard deviation, RMS over the planes of each plane's calibrated
      quietest-quartile level (module docstring).
    - ``planes``: ``(white, total)`` per distinct plane (1 for gray or gray-replicated RGB).
    - ``levels``: the noise-level function, ``(mean brightness, total level)`` per brightness
      quartile, averaged over the planes.
    """

    sigma: float
    white: float
    total: float
    planes: tuple[tuple[float, float], ...]
    levels: tuple[tuple[float, float], ...]

    def scaled(self, factor: float) -> NoiseEstimate:
        """The same estimate with every level multiplied by ``factor`` (e.g. 255)."""
        return NoiseEstimate(
            sigma=self.sigma * factor,
            white=self.white * factor,
            total=self.total * factor,
            planes=tuple((w * factor, t * factor) for w, t in self.planes),
            levels=tuple((b, t * factor) for b, t in self.levels),
        )


def distinct_planes(image: np.ndarray) -> list[np.ndarray]:
    """The channels of an ``(H, W)`` or ``(H, W, C)`` image, dropping exact duplicates.

    A gray photo stored as RGB yields one plane: its identical channels would otherwise make
    any cross-channel estimate see no noise at all.
    """
    arr = image if image.ndim == 3 else image[..., None]
    planes: list[np.ndarray] = []
    for c in range(arr.shape[2]):
        plane = arr[..., c]
        if not any(np.array_equal(plane, p) for p in planes):
            planes.append(plane)
    return planes


def estimate_noise(image: np.ndarray, seed: int = 0) -> NoiseEstimate:
    """Estimate the noise of an ``(H, W)`` or ``(H, W, C)`` float image in ``[0, 1]`` (module docstring).

    At most 20,000 seeded random patches per plane are used, so the cost does not grow with
    the image size beyond one pass for the minimum and maximum. Images under 16 pixels a side
    return zeros (too small to tell noise from content).
    """
    planes = measure_planes(image, seed)
    if not planes:
        return NoiseEstimate(0.0, 0.0, 0.0, (), ())
    totals = [total_level(p) for p in planes]
    white = float(np.sqrt(np.mean([p.white**2 for p in planes])))
    total = float(np.sqrt(np.mean(np.square(totals))))
    levels = tuple(
        (float(np.mean([p.levels[b][0] for p in planes])), float(np.sqrt(np.mean([p.levels[b][1] ** 2 for p in planes]))))
        for b in range(min(len(p.levels) for p in planes))
    )
    return NoiseEstimate(
        sigma=blend(white, total),
        white=white,
        total=total,
        planes=tuple((p.white, t) for p, t in zip(planes, totals)),
        levels=levels,
    )


@dataclass(frozen=True)
class PlaneLevels:
    """What one colour plane measures before the ``total`` rule (:func:`total_level`) is applied.

    - ``white``: its high-frequency (white-equivalent) level;
    - ``share``: the fraction of its sampled patches that are not saturated (0-1);
    - ``levels``: ``(mean brightness, level)`` per brightness quartile of the unsaturated patches,
      the level uncalibrated (the self-consistent median of the detrended patch variances).
    """

    white: float
    share: float
    levels: tuple[tuple[float, float], ...]


def measure_planes(image: np.ndarray, seed: int = 0) -> list[PlaneLevels]:
    """:class:`PlaneLevels` of each distinct plane of a ``[0, 1]`` image (empty under 16 px a side)."""
    arr = np.asarray(image)
    if arr.shape[0] < 2 * PATCH or arr.shape[1] < 2 * PATCH:
        return []
    rng = np.random.default_rng(seed)
    lo, hi = float(np.min(arr)), float(np.max(arr))
    return [_plane_levels(plane, lo, hi, rng) for plane in distinct_planes(arr)]


def total_level(
    plane: PlaneLevels, calibration: float = TOTAL_CALIBRATION, highlight: float = HIGHLIGHT
) -> float:
    """The plane's whole noise level: ``calibration`` x the quietest quartile at or below ``highlight``.

    Every quartile takes part when all are brighter than ``highlight``; the saturated share
    scales the level down (``sqrt(share)``). 0 when the plane had too few unsaturated patches.
    """
    if not plane.levels:
        return 0.0
    candidates = [level for mean, level in plane.levels if mean <= highlight] or [level for _, level in plane.levels]
    return calibration * float(np.sqrt(plane.share)) * min(candidates)


def blend(white: float, total: float) -> float:
    """``white`` for white noise, ``total`` for correlated noise, linear in ``white / total`` between."""
    if total <= 0.0:
        return white
    ratio = white / total
    weight = min(max((ratio - _CORRELATED_RATIO) / (_WHITE_RATIO - _CORRELATED_RATIO), 0.0), 1.0)
    return weight * white + (1.0 - weight) * total


def estimate_sigma(image: np.ndarray, seed: int = 0) -> float:
    """White-noise level by PCA over all channels together, in the image's own units.

    Chen, Zhu and Heng (ICCV 2015) on ``8 x 8 x C`` patches (192 dimensions for colour): the
    estimator ``"auto"`` used before issue 20, kept as the reference its tests compare against.
    Accurate for AWGN of one level in every channel (under 2 % on CBSD68 at sigma 5-50), but it
    assumes channel-independent noise: identical channels (a gray photo stored as RGB) give 0,
    and correlated real noise reads far too low. Images under 16 pixels a side return 0.
    """
    arr = np.asarray(image)
    if arr.shape[0] < 2 * PATCH or arr.shape[1] < 2 * PATCH:
        return 0.0
    return float(np.sqrt(_chen_variance(_sample_patches(arr, np.random.default_rng(seed)))))


# --- one plane ------------------------------------------------------------------------------------

_YY, _XX = np.mgrid[0:PATCH, 0:PATCH].astype(np.float64)
_TREND, _ = np.linalg.qr(np.stack([np.ones(_D), _YY.ravel() - 3.5, _XX.ravel() - 3.5], axis=1))
"""Orthonormal basis of the constant and linear ramps inside a patch (removed before the variance)."""


def _plane_levels(
    plane: np.ndarray, lo: float, hi: float, rng: np.random.Generator
) -> PlaneLevels:
    """The :class:`PlaneLevels` of one plane (``lo``, ``hi``: the image's saturation values)."""
    patches = _sample_patches(plane, rng)
    unsaturated = ((patches <= lo) | (patches >= hi)).mean(axis=1) < 0.25
    if np.count_nonzero(unsaturated) < _MIN_SELECTED:
        return PlaneLevels(0.0, 0.0, ())
    kept = patches[unsaturated]
    energy = _gradient_energy(kept)
    residual = kept - (kept @ _TREND) @ _TREND.T
    variance = np.einsum("ij,ij->i", residual, residual) / (_D - 3)
    means = kept.mean(axis=1)

    white2, _ = _weak_texture_level(kept, energy, max(_chen_variance(kept), _QUANTISATION))
    edges = np.quantile(means, np.linspace(0.0, 1.0, _BINS + 1))
    which = np.clip(np.searchsorted(edges, means, side="right") - 1, 0, _BINS - 1)
    levels = tuple(
        (float(np.mean(means[which == b])), float(np.sqrt(_flat_variance(variance[which == b]))))
        for b in range(_BINS)
        if np.any(which == b)
    )
    return PlaneLevels(float(np.sqrt(white2)), float(np.mean(unsaturated)), levels)


def _flat_variance(variance: np.ndarray) -> float:
    """Noise variance of a set of detrended patch variances: the self-consistent median.

    Starting from the median of all, keep the patches whose variance noise of the current level
    explains (below :data:`_CONSISTENT` times it, generous because correlated noise has fewer
    degrees of freedom than pixels), take the median of those over the chi-square median bias,
    and repeat: textured patches fall out, the level settles on the noise mode.
    """
    if variance.size == 0:
        return 0.0
    level = float(np.median(variance)) / _MEDIAN_BIAS
    for _ in range(20):
        kept = variance[variance <= _CONSISTENT * level]
        if kept.size < 16:
            break
        new = float(np.median(kept)) / _MEDIAN_BIAS
        if abs(new - level) <= 1e-3 * max(level, 1e-12):
            return new
        level = new
    return level


def _sample_patches(plane: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(n, 64 * C)`` float64 patches of an ``(H, W)`` or ``(H, W, C)`` array at seeded random positions.

    At most :data:`_MAX_PATCHES`; a colour patch holds all its channels (pixel-major).
    """
    h, w = plane.shape[:2]
    ny, nx = h - PATCH + 1, w - PATCH + 1
    count = min(_MAX_PATCHES, ny * nx)
    flat = rng.choice(ny * nx, size=count, replace=False)
    ys, xs = flat // nx, flat % nx
    offs = np.arange(PATCH)
    rows = ys[:, None, None] + offs[None, :, None]
    cols = xs[:, None, None] + offs[None, None, :]
    return plane[rows, cols].astype(np.float64).reshape(count, -1)


def _gradient_energy(patches: np.ndarray) -> np.ndarray:
    """Largest eigenvalue of each patch's 2x2 gradient covariance (Liu et al.'s texture measure)."""
    p = patches.reshape(-1, PATCH, PATCH)
    gx, gy = np.diff(p, axis=2), np.diff(p, axis=1)
    a = np.einsum("nij,nij->n", gx, gx)
    b = np.einsum("nij,nij->n", gy, gy)
    c = np.einsum("nij,nij->n", gx[:, :-1, :], gy[:, :, :-1])
    return (a + b) / 2.0 + np.sqrt(((a - b) / 2.0) ** 2 + c * c)


def _texture_threshold(variance: float) -> float:
    """0.99 quantile of the gradient energy of a pure-noise patch (Gamma(D/2, 2 var tr / D), Wilson-Hilferty)."""
    shape, scale = _D / 2.0, 2.0 * variance * _GRAD_TRACE / _D
    z = 2.3263478740408408
    return shape * scale * (1.0 - 1.0 / (9.0 * shape) + z * np.sqrt(1.0 / (9.0 * shape))) ** 3


def _weak_texture_level(patches: np.ndarray, energy: np.ndarray, start: float) -> tuple[float, np.ndarray]:
    """Liu et al.'s iteration: select patches whose gradient energy noise alone explains, re-estimate.

    Returns the white-noise variance and the final selection mask.
    """
    variance = start
    selected = energy < _texture_threshold(max(variance, _QUANTISATION))
    for _ in range(5):
        if np.count_nonzero(selected) < _MIN_SELECTED:
            break
        new = _chen_variance(patches[selected])
        done = abs(new - variance) <= 1e-3 * max(variance, 1e-12)
        variance = new
        chosen = energy < _texture_threshold(max(variance, _QUANTISATION))
        if done or np.count_nonzero(chosen) < _MIN_SELECTED:
            break
        selected = chosen
    return variance, selected


def _chen_variance(patches: np.ndarray) -> float:
    """Noise variance from the patch covariance's eigenvalues (Chen et al.: largest prefix whose mean is its median)."""
    centred = patches - patches.mean(axis=0, keepdims=True)
    eig = np.clip(np.sort(np.linalg.eigvalsh(centred.T @ centred / len(patches))), 0.0, None)
    for i in range(eig.size, 0, -1):
        head = eig[:i]
        tau = float(head.mean())
        if np.sum(head > tau) == np.sum(head < tau):
            return tau
    return float(eig[0])
