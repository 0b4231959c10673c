"""Classical (non-learned) baselines for ``clarity eval --filter baseline:NAME``, in numpy.

Each baseline is a :data:`engine.training.evaluate.RestoreFn`: ``(image, scale) -> output``
with ``(H, W, C)`` float images on the [0, 1] scale.

- ``identity``: the input unchanged (bicubic upsampling when ``scale > 1``).
- ``bicubic``: MATLAB-style bicubic upsampling by ``scale`` (identity at scale 1).
- ``dcp``: dark channel prior dehazing (He, Sun, Tang, CVPR 2009 / TPAMI 2011) with the
  transmission refined by the guided filter (He, Sun, Tang, ECCV 2010).
- ``guided-derain``: rain-streak removal by a guided filter: the low-frequency layer keeps the
  scene, a median over a small window suppresses bright thin streaks in the detail layer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.core.errors import ClarityError
from engine.core.imresize import imresize_np

Baseline = Callable[[np.ndarray, int], np.ndarray]


def box_filter(img: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a ``(2r+1)^2`` window (edge-replicated borders) of an ``(H, W)`` or ``(H, W, C)`` array."""
    pad = [(radius, radius), (radius, radius)] + [(0, 0)] * (img.ndim - 2)
    p = np.pad(img.astype(np.float64), pad, mode="edge")
    c = np.cumsum(np.cumsum(p, axis=0), axis=1)
    c = np.pad(c, [(1, 0), (1, 0)] + [(0, 0)] * (img.ndim - 2))
    k = 2 * radius + 1
    h, w = img.shape[:2]
    s = c[k : k + h, k : k + w] - c[:h, k : k + w] - c[k : k + h, :w] + c[:h, :w]
    return s / (k * k)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Gray-guide guided filter (He et al. 2010): edge-preserving smoothing of ``src`` ``(H, W)`` by ``guide`` ``(H, W)``."""
    mean_i = box_filter(guide, radius)
    mean_p = box_filter(src, radius)
    cov_ip = box_filter(guide * src, radius) - mean_i * mean_p
    var_i = box_filter(guide * guide, radius) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box_filter(a, radius) * guide + box_filter(b, radius)


def min_filter(img: np.ndarray, radius: int) -> np.ndarray:
    """Minimum over a ``(2r+1)^2`` window of an ``(H, W)`` array (separable, edge-replicated)."""
    p = np.pad(img, radius, mode="edge")
    h, w = img.shape
    rows = np.min(np.stack([p[i : i + h, :] for i in range(2 * radius + 1)]), axis=0)
    return np.min(np.stack([rows[:, i : i + w] for i in range(2 * radius + 1)]), axis=0)


def _gray(img: np.ndarray) -> np.ndarray:
    if img.shape[2] == 1:
        return img[..., 0]
    return 0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]


def dark_channel_prior(img: np.ndarray, *, patch: int = 15, omega: float = 0.95, t0: float = 0.1,
                       radius: int = 40, eps: float = 1e-3) -> np.ndarray:
    """Dehaze ``(H, W, C)`` [0, 1] by the dark channel prior, transmission refined by a guided filter.

    Steps: dark channel (min over channels and a ``patch`` window); atmospheric light A = mean
    colour of the 0.1 % brightest dark-channel pixels' brightest input pixels (He: the
    highest-intensity pixel among them; the mean is more robust); ``t = 1 - omega *
    dark(I / A)``; guided-filter refinement with the gray image as guide; ``J = (I - A) /
    max(t, t0) + A``, clipped to [0, 1].
    """
    x = np.clip(img.astype(np.float64), 0.0, 1.0)
    r = patch // 2
    dark = min_filter(np.min(x, axis=2), r)
    n = max(1, dark.size // 1000)
    flat = np.argsort(dark.ravel())[-n:]
    candidates = x.reshape(-1, x.shape[2])[flat]
    brightest = candidates[np.argsort(candidates.sum(axis=1))[-max(1, n // 10):]]
    airlight = np.clip(brightest.mean(axis=0), 0.05, 1.0)
    t = 1.0 - omega * min_filter(np.min(x / airlight, axis=2), r)
    t = guided_filter(_gray(x), t, radius, eps)
    t = np.maximum(t, t0)[..., None]
    return np.clip((x - airlight) / t + airlight, 0.0, 1.0)


def guided_derain(img: np.ndarray, *, radius: int = 6, eps: float = 0.01, median: int = 2) -> np.ndarray:
    """Simple deraining: guided-filter base/detail split, rain removed from the detail layer.

    The base layer (guided self-filtering with a large ``eps``) holds the scene without thin
    streaks; the detail layer holds edges plus streaks. Streaks are bright and thin, so the
    detail is replaced by the smaller of itself and its ``(2m+1)^2`` median (removing positive
    spikes, keeping dark detail), then added back to the base.
    """
    x = np.clip(img.astype(np.float64), 0.0, 1.0)
    out = np.empty_like(x)
    for c in range(x.shape[2]):
        ch = x[..., c]
        base = guided_filter(ch, ch, radius, eps)
        detail = ch - base
        med = _median_filter(detail, median)
        out[..., c] = base + np.minimum(detail, med)
    return np.clip(out, 0.0, 1.0)


def _median_filter(img: np.ndarray, radius: int) -> np.ndarray:
    p = np.pad(img, radius, mode="reflect")
    h, w = img.shape
    k = 2 * radius + 1
    stack = np.stack([p[i : i + h, j : j + w] for i in range(k) for j in range(k)])
    return np.median(stack, axis=0)


def _upsample_or_identity(img: np.ndarray, scale: int) -> np.ndarray:
    if scale == 1:
        return img
    return np.clip(imresize_np(np.clip(np.round(img * 255.0), 0, 255), scale) / 255.0, 0.0, 1.0)


def _scale1(fn: Callable[[np.ndarray], np.ndarray], name: str) -> Baseline:
    def run(img: np.ndarray, scale: int) -> np.ndarray:
        if scale != 1:
            raise ClarityError(f"baseline:{name} does not upscale; use baseline:bicubic for super-resolution")
        return fn(img)

    return run


BASELINES: dict[str, Baseline] = {
    "identity": _upsample_or_identity,
    "bicubic": _upsample_or_identity,
    "dcp": _scale1(dark_channel_prior, "dcp"),
    "guided-derain": _scale1(guided_derain, "guided-derain"),
}


def get_baseline(name: str) -> Baseline:
    """The baseline called ``name`` (``identity``, ``bicubic``, ``dcp``, ``guided-derain``)."""
    try:
        return BASELINES[name]
    except KeyError:
        raise ClarityError(f"unknown baseline '{name}'; available: {', '.join('baseline:' + k for k in BASELINES)}") from None
