"""How far is Denoise's automatic noise level from the truth? Prints a Markdown table (issue 20).

Three blocks, all levels on the 0-255 scale:

1. white Gaussian noise (AWGN) of known sigma on the first ``--limit`` images of ``--data``
   (default ``../shared/data/val/cbsd68``, centre crops of ``--crop`` px), as RGB, as gray and as
   gray stored as RGB: the estimator's ``sigma`` over the truth (mean, min, max);
2. the project's camera-noise synthesis (:mod:`engine.training.degradations.camera`) at fixed
   shot-noise levels (``--shots``), without JPEG and with JPEG at quality 75 and 95: the truth is
   the synthesis' own standard deviation of the added noise before JPEG (what the ``camera``
   weights were conditioned on in training); the row gives ``total`` and the level ``model=auto``
   resolves to (:func:`plugins.denoise.model.auto_level`), each over the truth, ``total`` net of
   the clean image's own ``total`` (subtracted in quadrature: the "clean" photos carry film grain
   and texture of a few levels, which dominates at low noise), and how often ``auto`` chose the
   ``camera`` weights;
3. each photo of ``--real`` (default ``../shared/data/real-noisy``; no truth): ``white``,
   ``total``, ``sigma``, and the model and level ``model=auto`` resolves to.

Only the estimator runs (no network), so it takes about a minute on a 2-core CPU::

    python scripts/noise_level_table.py --limit 6

Deterministic (seeded noise, seeded estimator).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from denoise_model_choice import camera_noise, load_images

from plugins.denoise.model import auto_level, auto_model
from plugins.denoise.noise_level import estimate_noise


def ratios(values: Iterable[float], truths: Iterable[float]) -> str:
    """``"mean (min-max)"`` of ``value / truth``."""
    r = np.asarray(list(values)) / np.asarray(list(truths))
    return f"{r.mean():.2f} ({r.min():.2f}-{r.max():.2f})"


def awgn_rows(images: list[np.ndarray], sigmas: list[float]) -> list[list[str]]:
    """One row per sigma: estimate / truth for RGB, gray and gray-as-RGB."""
    rows = []
    for sigma in sigmas:
        found: dict[str, list[float]] = {"rgb": [], "gray": [], "gray as rgb": []}
        for i, clean in enumerate(images):
            rng = np.random.default_rng(i)
            rgb = clean + rng.standard_normal(clean.shape) * sigma / 255.0
            gray = clean.mean(axis=2) + rng.standard_normal(clean.shape[:2]) * sigma / 255.0
            found["rgb"].append(estimate_noise(rgb).sigma * 255.0)
            found["gray"].append(estimate_noise(gray).sigma * 255.0)
            found["gray as rgb"].append(estimate_noise(np.repeat(gray[..., None], 3, axis=2)).sigma * 255.0)
        rows.append([f"{sigma:g}"] + [ratios(v, [sigma] * len(v)) for v in found.values()])
    return rows


def camera_rows(images: list[np.ndarray], shots: list[float], qualities: list[float | None]) -> list[list[str]]:
    """One row per (shot, quality): truth, ``total`` (raw, net of the clean image) and auto level over truth, camera choices."""
    rows = []
    bases = [estimate_noise(clean).total for clean in images]
    for shot in shots:
        for quality in qualities:
            truths, totals, nets, levels, choices = [], [], [], [], []
            for i, clean in enumerate(images):
                noisy, truth = camera_noise(clean, shot, quality, seed=i)
                estimate = estimate_noise(noisy)
                model = auto_model(estimate)
                truths.append(truth)
                totals.append(estimate.total * 255.0)
                nets.append(np.sqrt(max(estimate.total**2 - bases[i] ** 2, 0.0)) * 255.0)
                levels.append(auto_level(estimate, model))
                choices.append(model)
            jpeg = "none" if quality is None else f"{quality:g}"
            rows.append([f"{shot:g}", jpeg, f"{np.mean(truths):.1f}", ratios(totals, truths), ratios(nets, truths), ratios(levels, truths),
                         f"{choices.count('camera')}/{len(choices)}"])  # fmt: skip
    return rows


def real_rows(folder: Path) -> list[list[str]]:
    """One row per photo: white, total, sigma, auto's model and level."""
    from PIL import Image

    rows = []
    for f in sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"}):
        image = np.asarray(Image.open(f).convert("RGB"), np.float32) / 255.0
        estimate = estimate_noise(image)
        model = auto_model(estimate)
        e = estimate.scaled(255.0)
        rows.append([f.stem, f"{e.white:.1f}", f"{e.total:.1f}", f"{e.sigma:.1f}", model, f"{auto_level(estimate, model):.1f}"])
    return rows


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/val/cbsd68"))
    ap.add_argument("--real", type=Path, default=Path("../shared/data/real-noisy"))
    ap.add_argument("--limit", type=int, default=6, help="number of clean images (default 6)")
    ap.add_argument("--crop", type=int, default=256, help="centre crop in px (default 256)")
    ap.add_argument("--awgn", default="5,15,30,50", help="white-noise sigmas (default 5,15,30,50)")
    ap.add_argument("--shots", default="0.0003,0.001,0.003,0.012", help="camera shot-noise levels")
    args = ap.parse_args(argv)
    images = [im.astype(np.float64) for im in load_images(args.data, args.limit, args.crop)]
    sigmas = [float(s) for s in args.awgn.split(",") if s]
    shots = [float(s) for s in args.shots.split(",") if s]
    print(f"AWGN on {len(images)} images of {args.data} ({args.crop} px): estimate / true sigma, mean (min-max)\n")
    print(table(["sigma", "rgb", "gray", "gray as rgb"], awgn_rows(images, sigmas)))
    print("\nCamera-noise synthesis on the same images: true = std of the added noise before JPEG\n")
    header = ["shot", "jpeg", "true", "total / true", "net total / true", "auto level / true", "auto chose camera"]
    print(table(header, camera_rows([im.astype(np.float32) for im in images], shots, [None, 75.0, 95.0])))
    if args.real.is_dir():
        print(f"\nReal noisy photos ({args.real}), no truth\n")
        print(table(["photo", "white", "total", "sigma", "auto model", "auto level"], real_rows(args.real)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
