"""How coarse is the noise? Grain statistics of real photos vs the camera-noise synthesis (issue 20).

Prints a Markdown table, one row per image (or synthesis variant) and plane:

- planes: ``Y`` (BT.601 luma) and, for colour images, ``C`` (the chroma planes Cb and Cr, their
  statistics averaged); a gray photo stored as RGB has no chroma row;
- residual: ``--patch`` px patches (default 16) at up to 20,000 seeded random positions, each minus
  its own plane fit (constant + x and y ramps); the *flat* patches are the self-consistent
  median set that the estimator's ``total`` level uses
  (:func:`plugins.denoise.noise_level._flat_variance`: keep the patches whose residual variance is
  at most 1.9 times the level, re-take the median, repeat). Liu et al.'s gradient threshold (the
  estimator's ``white`` selection) is not used: it is calibrated for white noise and rejects
  almost every patch of correlated noise;
- ``level``: the flat patches' residual standard deviation, 0-255 scale;
- ``r1..r4``: normalised autocorrelation of the residual at lags 1-4 px (horizontal and vertical
  averaged, over the flat patches);
- ``P<1/8`` ... ``P>3/8``: share (%) of the residual's power (Hann-windowed 2-D FFT, averaged over
  the flat patches) in the radial frequency bands [0, 1/8), [1/8, 1/4), [1/4, 3/8) and >= 3/8
  cycles/px. White noise puts 3/14/24/58 % there (measured, sigma 5, Hann window); coarser grain moves power
  to the low bands.

Rows: every photo of ``--real`` (default ``../shared/data/real-noisy``), then the camera synthesis
(:class:`engine.training.degradations.camera.CameraNoise`) on a smooth ramp (:func:`flat_base`),
gray and colour, at fixed shot levels (``--shots``) and grain scales (``--grains``, px; 0 is the
fine grain of the synthesis before issue 20's grain parameter), without JPEG and with JPEG 75
(each row: mean over ``--seeds`` draws).
Deterministic (seeded). About 25 CPU-seconds (5 minutes wall on the shared 2-core machine)::

    PYTHONPATH=. python scripts/noise_grain_table.py
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plugins.denoise.noise_level import _flat_variance, distinct_planes

BANDS = (0.0, 0.125, 0.25, 0.375, 10.0)
"""Radial frequency band edges in cycles/px (the last band takes the corners up to 0.71)."""
LAGS = (1, 2, 3, 4)


@dataclass(frozen=True)
class Grain:
    """Grain statistics of one plane: level (0-255), autocorrelation at :data:`LAGS`, band power shares."""

    level: float
    corr: tuple[float, ...]
    bands: tuple[float, ...]


def planes(image: np.ndarray) -> dict[str, list[np.ndarray]]:
    """``{"Y": [luma], "C": [Cb, Cr]}`` of an ``(H, W, 3)`` float image; gray (or gray-as-RGB): only ``Y``."""
    if image.ndim == 2 or len(distinct_planes(image)) == 1:
        return {"Y": [image if image.ndim == 2 else image[..., 0]]}
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return {"Y": [y], "C": [(b - y) * 0.564, (r - y) * 0.713]}


def _residuals(plane: np.ndarray, patch: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, patch, patch)`` detrended patches at up to 20,000 seeded random positions."""
    h, w = plane.shape
    ny, nx = h - patch + 1, w - patch + 1
    flat = rng.choice(ny * nx, size=min(20000, ny * nx), replace=False)
    ys, xs = flat // nx, flat % nx
    offs = np.arange(patch)
    p = plane[ys[:, None, None] + offs[None, :, None], xs[:, None, None] + offs[None, None, :]].astype(np.float64)
    yy, xx = np.mgrid[0:patch, 0:patch].astype(np.float64) - (patch - 1) / 2.0
    basis, _ = np.linalg.qr(np.stack([np.ones(patch * patch), yy.ravel(), xx.ravel()], axis=1))
    v = p.reshape(len(p), -1)
    return (v - (v @ basis) @ basis.T).reshape(p.shape)


def plane_grain(plane: np.ndarray, patch: int = 16, seed: int = 0) -> Grain:
    """Grain statistics of one ``(H, W)`` plane on the [0, 1] scale (see the module docstring)."""
    res = _residuals(plane, patch, np.random.default_rng(seed))
    variance = (res**2).sum(axis=(1, 2)) / (patch * patch - 3)
    level = _flat_variance(variance)
    flat = res[variance <= 1.9 * level]
    if len(flat) < 16 or level <= 0.0:
        return Grain(0.0, (0.0,) * len(LAGS), (0.0,) * (len(BANDS) - 1))
    var = float(np.mean(flat**2))
    corr = tuple(
        float((np.mean(flat[:, :, :-k] * flat[:, :, k:]) + np.mean(flat[:, :-k, :] * flat[:, k:, :])) / (2 * var))
        for k in LAGS
    )
    hann = np.outer(np.hanning(patch), np.hanning(patch))
    power = (np.abs(np.fft.fft2(flat * hann)) ** 2).mean(axis=0)
    f = np.fft.fftfreq(patch)
    radius = np.hypot(f[:, None], f[None, :])
    power[0, 0] = 0.0
    shares = tuple(
        float(power[(radius >= lo) & (radius < hi)].sum() / power.sum()) for lo, hi in pairwise(BANDS)
    )
    return Grain(float(np.sqrt(level)) * 255.0, corr, shares)


def image_grain(image: np.ndarray, patch: int = 16) -> dict[str, Grain]:
    """``{"Y": Grain, "C": Grain}`` (``C`` averaged over Cb and Cr; absent for gray images)."""
    out = {}
    for name, group in planes(image).items():
        stats = [plane_grain(p, patch) for p in group]
        out[name] = _mean(stats)
    return out


def _mean(stats: list[Grain]) -> Grain:
    """Element-wise mean of several :class:`Grain` (the level as an RMS)."""
    return Grain(
        float(np.sqrt(np.mean([s.level**2 for s in stats]))),
        tuple(float(np.mean(v)) for v in zip(*(s.corr for s in stats))),
        tuple(float(np.mean(v)) for v in zip(*(s.bands for s in stats))),
    )


def flat_base(channels: int, size: int = 256) -> np.ndarray:
    """A smooth clean image: a diagonal brightness ramp 0.2-0.8 (``(H, W)`` or ``(H, W, 3)`` with tinted channels).

    The synthesis rows are measured on it rather than on photos: a photo's own texture and film
    grain read as "noise" in its flattest 16-px patches (a clean CBSD68 crop reads a level of ~10
    with r1 0.7), which would mask the synthesis' grain.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    ramp = 0.2 + 0.6 * (xx + yy) / 2.0
    if channels == 1:
        return ramp
    return np.stack([ramp, 0.9 * ramp + 0.05, 0.8 * ramp + 0.1], axis=2)


def synth(clean: np.ndarray, shot: float, grain: float, quality: float | None, seed: int) -> np.ndarray:
    """The camera synthesis of ``clean`` ((H, W) or (H, W, 3)) at a fixed shot level and grain scale (0: fine)."""
    import torch

    from engine.training.degradations.camera import CameraNoise

    model = CameraNoise(
        jpeg_probability=0.0 if quality is None else 1.0,
        quality_range=(quality or 75.0,) * 2,
        shot_range=(shot, shot),
        grain_probability=1.0 if grain > 0 else 0.0,
        grain_range=(grain, grain) if grain > 0 else (0.5, 2.0),
    )
    x = torch.from_numpy(clean)
    x = (x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None]).contiguous()
    out = model(x, torch.Generator().manual_seed(seed)).degraded[0]
    return out[0].numpy() if out.shape[0] == 1 else out.permute(1, 2, 0).numpy()


def row(name: str, plane: str, g: Grain) -> str:
    """One Markdown row."""
    cells = [name, plane, f"{g.level:.1f}", *(f"{c:.2f}" for c in g.corr), *(f"{100 * b:.0f}" for b in g.bands)]
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    from PIL import Image

    root = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=root.parent / "shared/data/real-noisy")
    ap.add_argument("--patch", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=1, help="synthesis draws averaged per row")
    ap.add_argument("--shots", type=float, nargs="+", default=[0.003, 0.012])
    ap.add_argument("--grains", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
    args = ap.parse_args(argv)
    print("| image | plane | level | r1 | r2 | r3 | r4 | P<1/8 % | P1/8-1/4 % | P1/4-3/8 % | P>3/8 % |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for f in sorted(args.real.glob("*.png")):
        image = np.asarray(Image.open(f).convert("RGB"), np.float32) / 255.0
        for plane, g in image_grain(image, args.patch).items():
            print(row(f.stem, plane, g), flush=True)
    for channels, kind in ((1, "gray"), (3, "colour")):
        base = flat_base(channels)
        for shot in args.shots:
            for grain in args.grains:
                for quality in (None, 75.0):
                    jp = "" if quality is None else ", JPEG 75"
                    name = f"synth {kind}, shot {shot:g}, grain {grain:g}{jp}"
                    per_seed = [image_grain(synth(base, shot, grain, quality, s), args.patch) for s in range(args.seeds)]
                    for plane in per_seed[0]:
                        print(row(name, plane, _mean([p[plane] for p in per_seed])), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
