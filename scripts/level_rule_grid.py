"""Score rules for the automatic level's ``total`` with the network's own PSNR curves (issue 20).

How ``plugins/denoise/MODEL.md`` ("Texture is not noise", "Highlights") chose
``TOTAL_CALIBRATION`` and ``HIGHLIGHT``:

1. ``curves`` (the slow step: 168 images x 16 levels through ``engine.api.apply_filter``; not
   timed, session 9's curves were reused): the ``camera`` weights at fixed levels 0-50 on clean photos (the first 12
   images of ``--data`` as colour and as gray stored as RGB) and on camera-noise crops (4 crops
   of 256 px from images 48-51 x shot 0.001 / 0.004 / 0.012 x grain 0 / 1 / 2 px x JPEG none / 75
   x colour / gray), with each image's :class:`~plugins.denoise.noise_level.PlaneLevels`, saved
   to ``--cache`` (pickle; a git-ignored ``.runs/`` path by default);
2. ``score`` (seconds): for each rule (``calibration`` x the quietest quartile at or below
   ``highlight``, :func:`~plugins.denoise.noise_level.total_level`), the level it reads on each
   image, interpolated on that image's curve: the mean output PSNR on the clean photos (higher:
   clean photos left alone) and the mean gain over the input on the noise, and the session-9
   rule (``highlight`` 1, x1.5) for reference;
3. ``shadows`` (seconds): the shipped rule with quartiles darker than ``S`` on average also left
   out of the minimum (unless all are), for each ``S`` in ``SHADOWS``, with the level it reads on
   each photo of ``--real`` (session 12; not adopted, plugins/denoise/MODEL.md "Shadows").

    PYTHONPATH=. python scripts/level_rule_grid.py curves      # once
    PYTHONPATH=. python scripts/level_rule_grid.py score
    PYTHONPATH=. python scripts/level_rule_grid.py shadows

``--filter`` names a copy of the plugin under another id (e.g. other weights) on
``CLARITY_PLUGIN_PATH``. Deterministic (seeded synthesis and estimator).
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from plugins.denoise.noise_level import PlaneLevels

LEVELS = (0, 1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 32, 40, 50)
"""The fixed levels of each curve (0-255 scale)."""
CALIBRATIONS = (1.2, 1.25, 1.3, 1.4, 1.5)
HIGHLIGHTS = (0.7, 0.75, 0.8, 0.85, 1.0)
SHADOWS = (0.0, 0.15, 0.2, 0.25, 0.3)


def _items(folder: Path) -> list[tuple[str, dict, np.ndarray, np.ndarray]]:
    """``(kind, meta, noisy, target)`` for the clean photos and the camera-noise crops."""
    from denoise_model_choice import camera_noise
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    items = []
    for f in files[:12]:
        im = np.asarray(Image.open(f).convert("RGB"), np.float32) / 255
        gray = np.repeat(im.mean(axis=2, keepdims=True), 3, axis=2)
        items += [("clean", {"name": f.stem, "gray": False}, im, im), ("clean", {"name": f.stem, "gray": True}, gray, gray)]
    crops = []
    for f in files[48:52]:
        im = np.asarray(Image.open(f).convert("RGB"), np.float32) / 255
        y, x = (im.shape[0] - 256) // 2, (im.shape[1] - 256) // 2
        crops.append(np.ascontiguousarray(im[y : y + 256, x : x + 256]))
    for shot, grain, quality, gray in itertools.product((0.001, 0.004, 0.012), (0, 1, 2), (None, 75.0), (False, True)):
        for i, crop in enumerate(crops):
            base = crop.mean(axis=2, keepdims=True) if gray else crop
            noisy, truth = camera_noise(np.ascontiguousarray(base), shot, quality, i, grain=grain)
            if gray:
                noisy, base = np.repeat(noisy, 3, axis=2), np.repeat(base, 3, axis=2)
            meta = {"shot": shot, "grain": grain, "jpeg": quality, "gray": gray, "true": truth}
            items.append(("camera", meta, noisy.astype(np.float32), base.astype(np.float32)))
    return items


def collect(folder: Path, plugin: str, cache: Path) -> None:
    """Run the network at every level on every item; pickle the curves and the plane measurements."""
    from denoise_model_choice import psnr

    from engine.api import apply_filter
    from plugins.denoise.noise_level import measure_planes

    records = []
    items = _items(folder)
    for k, (kind, meta, noisy, target) in enumerate(items):
        curve = [
            psnr(apply_filter(noisy, plugin, {"noise_level": float(level), "model": "camera"}).image, target)
            for level in LEVELS
        ]
        planes = measure_planes(noisy.astype(np.float64))
        records.append({"kind": kind, "meta": meta, "input_psnr": psnr(noisy, target), "curve": curve, "planes": planes})
        print(f"{k + 1}/{len(items)}", file=sys.stderr, flush=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("wb") as f:
        pickle.dump({"levels": LEVELS, "records": records}, f)


def score(cache: Path) -> None:
    """Print the clean PSNR and the noise gain of every (highlight, calibration) rule."""
    from plugins.denoise.noise_level import total_level

    with cache.open("rb") as f:
        grid = pickle.load(f)
    levels = np.asarray(grid["levels"], float)
    records = grid["records"]

    def outcome(record: dict, highlight: float, calibration: float) -> float:
        totals = [total_level(p, calibration, highlight) for p in record["planes"]]
        level = 255.0 * float(np.sqrt(np.mean(np.square(totals)))) if totals else 0.0
        value = float(np.interp(min(level, levels[-1]), levels, record["curve"]))
        return value if record["kind"] == "clean" else value - record["input_psnr"]

    clean = [r for r in records if r["kind"] == "clean"]
    noisy = [r for r in records if r["kind"] == "camera"]
    best = np.mean([max(r["curve"]) - r["input_psnr"] for r in noisy])
    print(f"bounds: clean photos at level 0 {np.mean([r['curve'][0] for r in clean]):.2f} dB; oracle gain on noise {best:+.2f} dB")
    print("| highlight | calibration | clean photos: output PSNR (dB) | camera noise: gain (dB) |")
    print("| --- | --- | --- | --- |")
    for highlight, calibration in itertools.product(HIGHLIGHTS, CALIBRATIONS):
        a = np.mean([outcome(r, highlight, calibration) for r in clean])
        b = np.mean([outcome(r, highlight, calibration) for r in noisy])
        print(f"| {highlight:g} | {calibration:g} | {a:.2f} | {b:+.2f} |")


def _without_shadows(plane: PlaneLevels, shadow: float) -> PlaneLevels:
    """``plane`` with the quartiles darker than ``shadow`` on average dropped (all kept if all are)."""
    from dataclasses import replace

    kept = tuple(q for q in plane.levels if q[0] >= shadow)
    return replace(plane, levels=kept) if kept else plane


def shadows(cache: Path, real: Path) -> None:
    """Print clean PSNR, noise gain and the real photos' levels with dark quartiles left out too."""
    from PIL import Image

    from plugins.denoise.noise_level import measure_planes, total_level

    with cache.open("rb") as f:
        grid = pickle.load(f)
    levels = np.asarray(grid["levels"], float)
    records = grid["records"]
    photos = {p.stem: measure_planes(np.asarray(Image.open(p).convert("RGB"), np.float64) / 255) for p in sorted(real.glob("*.png"))}

    def level(planes: list[PlaneLevels], shadow: float) -> float:
        totals = [total_level(_without_shadows(p, shadow)) for p in planes]
        return 255.0 * float(np.sqrt(np.mean(np.square(totals)))) if totals else 0.0

    def outcome(record: dict, shadow: float) -> float:
        value = float(np.interp(min(level(record["planes"], shadow), levels[-1]), levels, record["curve"]))
        return value if record["kind"] == "clean" else value - record["input_psnr"]

    print("| shadow | clean photos: output PSNR (dB) | camera noise: gain (dB) | " + " | ".join(photos) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in photos) + " |")
    for shadow in SHADOWS:
        a = np.mean([outcome(r, shadow) for r in records if r["kind"] == "clean"])
        b = np.mean([outcome(r, shadow) for r in records if r["kind"] == "camera"])
        cells = " | ".join(f"{level(planes, shadow):.1f}" for planes in photos.values())
        print(f"| {shadow:g} | {a:.2f} | {b:+.2f} | {cells} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=("curves", "score", "shadows"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data/val/cbsd68"))
    parser.add_argument("--filter", default="denoise", help="plugin id (a copy with other weights on CLARITY_PLUGIN_PATH)")
    parser.add_argument("--cache", type=Path, default=Path(".runs/level-rule-grid.pkl"))
    parser.add_argument("--real", type=Path, default=Path("../shared/data/real-noisy"), help="photos for `shadows`")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    if args.step == "curves":
        collect(args.data, args.filter, args.cache)
    elif args.step == "shadows":
        shadows(args.cache, args.real)
    else:
        score(args.cache)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
