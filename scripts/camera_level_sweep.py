"""Which noise level should the ``camera`` weights get? A sweep over grain and level (issue 20).

For each condition of the camera-noise synthesis (:class:`engine.training.degradations.camera.CameraNoise`
at a fixed shot level, a fixed grain scale, JPEG 75 or none) on the first ``--limit`` CBSD68
images (256-px centre crops), prints one JSON line: the true noise level (the synthesis' own
standard deviation, 0-255), the estimator's ``total`` (what ``noise_level = "auto"`` gives the
``camera`` weights), and the mean PSNR of the noisy input, of the filter with its defaults
(``model = "auto"``, ``noise_level = "auto"``), and of the ``camera`` weights at ``k x total``
for each factor ``k`` of ``--factors``. ``--gray``: the synthesis' gray path on the images' channel
mean, stored as RGB (a black-and-white scan saved as colour), scored against that gray image.

    PYTHONPATH=. python scripts/camera_level_sweep.py --gray --limit 4
    CLARITY_PLUGIN_PATH=/tmp/p PYTHONPATH=. python scripts/camera_level_sweep.py --plugin denoise-t   # other weights

Deterministic (seeded synthesis per image); one thread; about 3,000 network runs of 256x256 for
the defaults (~10 minutes on an idle 2-core machine).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from denoise_model_choice import camera_noise, load_images, psnr  # noqa: E402


def synthesise(
    clean: np.ndarray, shot: float, grain: float, quality: float | None, gray: bool, seed: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """``(noisy RGB, clean target RGB, true level 0-255)`` for one image and condition."""
    base = clean.mean(axis=2, keepdims=True) if gray else clean
    noisy, truth = camera_noise(np.ascontiguousarray(base, dtype=np.float32), shot, quality, seed, grain=grain)
    if gray:
        noisy, base = np.repeat(noisy, 3, axis=2), np.repeat(base, 3, axis=2)
    return noisy.astype(np.float32), base.astype(np.float32), truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data/val/cbsd68")
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--gray", action="store_true", help="gray synthesis stored as RGB")
    parser.add_argument("--plugin", default="denoise", help="plugin id with gaussian and camera weights")
    parser.add_argument("--factors", default="1,1.5,2,3,4", help="comma-separated k: camera at k x total")
    parser.add_argument("--shots", default="0.001,0.004,0.012")
    parser.add_argument("--grains", default="0,1,2", help="grain scales in px (0: fine)")
    args = parser.parse_args(argv)
    import torch

    from engine.api import apply_filter
    from engine.core.types import DeviceKind, RunOptions
    from plugins.denoise.noise_level import estimate_noise

    torch.set_num_threads(1)
    options = RunOptions(device=DeviceKind("cpu"))
    factors = [float(k) for k in args.factors.split(",")]
    images = load_images(args.data, args.limit, 256)
    shots = [float(s) for s in args.shots.split(",")]
    grains = [float(g) for g in args.grains.split(",")]
    for shot, grain, quality in itertools.product(shots, grains, (None, 75.0)):
        scores: dict[str, list[float]] = {"noisy": [], "defaults": [], **{f"k{k:g}": [] for k in factors}}
        truths, totals = [], []
        for i, clean in enumerate(images):
            noisy, target, truth = synthesise(clean, shot, grain, quality, args.gray, i)
            total = estimate_noise(noisy).total * 255.0
            truths.append(truth)
            totals.append(total)
            scores["noisy"].append(psnr(noisy, target))
            defaults = {"noise_level": "auto", "model": "auto"}
            scores["defaults"].append(psnr(apply_filter(noisy, args.plugin, defaults, options=options).image, target))
            for k in factors:
                params = {"noise_level": min(75.0, k * total), "model": "camera"}
                scores[f"k{k:g}"].append(psnr(apply_filter(noisy, args.plugin, params, options=options).image, target))
        line = {
            "gray": args.gray, "shot": shot, "grain": grain, "jpeg": quality,
            "true level": round(float(np.mean(truths)), 2), "total": round(float(np.mean(totals)), 2),
            **{name: round(float(np.mean(v)), 2) for name, v in scores.items()},
        }  # fmt: skip
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
