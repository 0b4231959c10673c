"""Which Denoise weights should "auto" use on camera noise? Prints a PSNR table (issue 20).

Clean images (``--data``, default ``../shared/data/val/cbsd68``, the first ``--limit``, centre
crops of ``--crop`` px) get the project's camera-noise synthesis
(:mod:`engine.training.degradations.camera`) at fixed shot-noise levels, with and without JPEG
(quality 75), and white Gaussian noise for reference. Each noisy image is denoised through
``engine.api.apply_filter`` (the path of ``clarity apply``) by:

- ``gaussian@auto``: the ``gaussian`` weights at the estimated level (``noise_level=auto``);
- ``camera@auto``: the ``camera`` weights at the estimated level (its ``total`` level);
- ``camera@true``: the ``camera`` weights at the synthesis' own standard deviation (what it was
  trained with: the cost of estimating it);
- ``auto``: ``model=auto`` (camera for correlated noise, gaussian for white noise).

The table shows the mean PSNR (dB) per condition, the true and estimated levels, and the
choice ``model=auto`` made. Needs trained weights for both entries: the built-in plugin once
they are exported into it, or a copy of ``plugins/denoise`` under another id (``--filter``)
in a folder on ``CLARITY_PLUGIN_PATH``, e.g.::

    CLARITY_PLUGIN_PATH=/tmp/scratch python scripts/denoise_model_choice.py --filter denoise-scratch --limit 8

Deterministic (seeded synthesis, seeded estimator).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

METHODS = ("gaussian@auto", "camera@auto", "camera@true", "auto")


def load_images(folder: Path, limit: int, crop: int) -> list[np.ndarray]:
    """The first ``limit`` images of ``folder`` (sorted), RGB float32, centre crops of ``crop`` px."""
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".tif", ".tiff"})
    images = []
    for f in files[:limit]:
        im = np.asarray(Image.open(f).convert("RGB"), np.float32) / 255.0
        h, w = im.shape[:2]
        s = min(crop, h, w) // 8 * 8
        y, x = (h - s) // 2, (w - s) // 2
        images.append(np.ascontiguousarray(im[y : y + s, x : x + s]))
    if not images:
        raise SystemExit(f"no images in {folder}")
    return images


def camera_noise(
    clean: np.ndarray, shot: float, quality: float | None, seed: int, grain: float = 0.0
) -> tuple[np.ndarray, float]:
    """The camera-noise synthesis at a fixed shot level; returns the noisy image and its true sigma (0-255).

    ``clean`` is ``(H, W, 3)`` (colour path) or ``(H, W, 1)`` (gray path); ``grain`` > 0 low-passes the
    raw noise by a Gaussian of that many px on every image (0: the fine grain).
    """
    import torch

    import engine.training.degradations.camera as camera

    original = camera.log_rand
    camera.log_rand = lambda n, lo, hi, gen, dev: torch.full((n,), shot)  # fix the level, keep the rest random
    try:
        model = camera.CameraNoise(
            jpeg_probability=0.0 if quality is None else 1.0,
            quality_range=(quality or 75.0,) * 2,
            grain_probability=1.0 if grain > 0 else 0.0,  # default 0: fine grain, as the MODEL.md tables were measured
            grain_range=(grain, grain),
        )
        x = torch.from_numpy(clean).permute(2, 0, 1)[None].contiguous()
        batch = model(x, torch.Generator().manual_seed(seed))
    finally:
        camera.log_rand = original
    return batch.degraded[0].permute(1, 2, 0).numpy().copy(), float(batch.sigma[0]) * 255.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of ``a`` against ``b`` (both in [0, 1], ``a`` clipped)."""
    mse = float(np.mean((np.clip(a, 0, 1).astype(np.float64) - b) ** 2))
    return 10.0 * np.log10(1.0 / max(mse, 1e-12))


def run_row(images: list[np.ndarray], kind: str, level: float, quality: float | None, device: str,
            plugin: str = "denoise") -> list[str]:  # fmt: skip
    """One table row: condition, true sigma, estimated sigma, auto's choice, PSNR per method."""
    from engine.api import analyse_filter, apply_filter
    from engine.core.types import DeviceKind, RunOptions

    options = RunOptions(device=DeviceKind(device))
    scores: dict[str, list[float]] = {m: [] for m in (*METHODS, "noisy")}
    truths, estimates, choices = [], [], []
    for i, clean in enumerate(images):
        if kind == "camera":
            noisy, truth = camera_noise(clean, level, quality, seed=i)
        else:
            noisy = (clean + np.random.default_rng(i).standard_normal(clean.shape) * level / 255.0).astype(np.float32)
            truth = level
        resolved = analyse_filter(noisy, plugin, {"noise_level": "auto", "model": "auto"})
        truths.append(truth)
        estimates.append(float(resolved["noise_level"]))
        choices.append(str(resolved["model"]))
        runs = {
            "gaussian@auto": {"noise_level": "auto", "model": "gaussian"},
            "camera@auto": {"noise_level": "auto", "model": "camera"},
            "camera@true": {"noise_level": min(truth, 75.0), "model": "camera"},
            "auto": {"noise_level": "auto", "model": "auto"},
        }
        for name, params in runs.items():
            scores[name].append(psnr(apply_filter(noisy, plugin, params, options=options).image, clean))
        scores["noisy"].append(psnr(noisy, clean))
    condition = f"{kind} {level:g}" + ("" if kind != "camera" else f" jpeg {quality:g}" if quality else " no jpeg")
    camera_share = f"camera {choices.count('camera')}/{len(choices)}"
    return [condition, f"{np.mean(truths):.1f}", f"{np.mean(estimates):.1f}", camera_share,
            f"{np.mean(scores['noisy']):.2f}", *(f"{np.mean(scores[m]):.2f}" for m in METHODS)]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/val/cbsd68"))
    ap.add_argument("--limit", type=int, default=8, help="number of images (default 8)")
    ap.add_argument("--crop", type=int, default=256, help="centre crop in px (default 256)")
    ap.add_argument("--device", default="auto", help="auto|cpu|cuda|mps (default auto)")
    ap.add_argument("--filter", default="denoise", help="plugin id: the Denoise plugin or a copy of it (default denoise)")
    ap.add_argument("--shots", default="0.001,0.003,0.012", help="camera shot-noise levels (default 0.001,0.003,0.012)")
    ap.add_argument("--awgn", default="15,30", help="white-noise sigmas for reference (default 15,30)")
    args = ap.parse_args(argv)
    images = load_images(args.data, args.limit, args.crop)
    header = ["noise", "true", "estimate", "auto chose", "noisy", *METHODS]
    rows = []
    for shot in (float(s) for s in args.shots.split(",") if s):
        for quality in (None, 75.0):
            rows.append(run_row(images, "camera", shot, quality, args.device, args.filter))
    for sigma in (float(s) for s in args.awgn.split(",") if s):
        rows.append(run_row(images, "awgn", sigma, None, args.device, args.filter))
    print(f"Denoise on {len(images)} images of {args.data} ({args.crop} px crops): mean PSNR (dB); levels on 0-255")
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
