"""``clarity eval``: score a plugin or a classical baseline on a dataset (project protocol).

Examples::

    clarity eval --filter baseline:bicubic --data val/set5 --degrade bicubic:4
    clarity eval --filter dncnn --data val/bsd68 --degrade awgn:25 --json
    clarity eval --filter baseline:dcp --pairs dehaze/hsts10/input dehaze/hsts10/target

The protocol itself lives in :mod:`engine.training.evaluate`; this module only parses and prints.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from engine.cli.options import add_run_options, parse_params

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``eval`` subcommand."""
    p = subparsers.add_parser("eval", help="measure PSNR/SSIM of a filter or baseline on a dataset")
    p.add_argument("--filter", required=True, dest="method", metavar="ID",
                   help="plugin id, or baseline:bicubic | baseline:identity | baseline:dcp | baseline:guided-derain")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, metavar="DIR", help="folder of clean images to degrade")
    src.add_argument("--pairs", nargs=2, type=Path, metavar=("INPUT_DIR", "TARGET_DIR"),
                     help="degraded/clean folders, files matched by stem")
    p.add_argument("--degrade", default="none", metavar="SPEC",
                   help="with --data: awgn:SIGMA | bicubic:S | rain | haze | haze:veil[-to-clear] | snow[:veil-to-clear] | camera | camera:grain | camera:mixed | none (default none)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="plugin parameter (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="noise / synthesis seed, fresh per image (default 0)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N images (sorted)")
    p.add_argument("--channels", choices=("auto", "gray", "rgb"), default="auto",
                   help="read images as gray or RGB (default: as stored)")
    p.add_argument("--save", type=Path, default=None, metavar="DIR", help="write each output as DIR/<stem>.png")
    add_run_options(p, overlap=False, note=" (plugins only)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print a table (or JSON); returns 0."""
    from engine.training.evaluate import ImageScore, evaluate, method_restore

    passes = int(args.ensemble)
    restore = method_restore(
        args.method, parse_params(args.param), tile=args.tile, device=args.device, precision=args.precision,
        ensemble=passes,
    )  # fmt: skip
    saver = None
    if args.save is not None:
        saver = _saver(args.save)
    gray = {"auto": None, "gray": True, "rgb": False}[args.channels]

    def show(score: ImageScore) -> None:
        if not args.json:
            print(f"{score.name:<24} {score.psnr:8.3f} {score.ssim:7.4f}   {score.baseline_psnr:8.3f} {score.baseline_ssim:7.4f}   {score.seconds:6.2f}s", flush=True)

    if not args.json:
        print(f"{'image':<24} {'PSNR':>8} {'SSIM':>7}   {'base':>8} {'SSIM':>7}")
    report = evaluate(
        restore,
        method=args.method if passes == 1 else f"{args.method} x{passes} ensemble",
        data=args.data,
        degrade=args.degrade,
        pairs=tuple(args.pairs) if args.pairs else None,
        seed=args.seed,
        limit=args.limit,
        gray=gray,
        save=saver,
        progress=show,
    )
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0
    space = {"y": "Y", "gray": "gray", "rgb+gray": "all channels, colour and gray images"}.get(report.metric_space, "all channels")
    print(f"{'mean':<24} {report.mean_psnr:8.3f} {report.mean_ssim:7.4f}   {report.mean_baseline_psnr:8.3f} {report.mean_baseline_ssim:7.4f}")
    print(
        f"{report.method} on {report.dataset} ({report.degrade}, {len(report.images)} images, {space}, shave {report.shave}): "
        f"PSNR {report.mean_psnr:.2f} dB / SSIM {report.mean_ssim:.4f}; "
        f"baseline ({report.baseline}) {report.mean_baseline_psnr:.2f} dB / {report.mean_baseline_ssim:.4f}"
    )
    return 0


def _saver(folder: Path) -> Callable[[str, np.ndarray], None]:
    from PIL import Image

    from engine.core.errors import ImageWriteError

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageWriteError(f"cannot create --save folder '{folder}': {exc}") from exc

    def save(name: str, image: np.ndarray) -> None:
        arr = image[..., 0] if image.shape[2] == 1 else image
        Image.fromarray(arr).save(folder / f"{name}.png")

    return save
