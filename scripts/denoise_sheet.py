"""Before/after contact sheet of the Denoise filter on genuinely noisy photos.

For every image in ``--data`` (default ``../shared/data/real-noisy``) the sheet shows one row:
the input, then the output of each ``--model`` (default ``gaussian`` and ``camera``), all with the
filter's default ``noise_level`` (``auto``) unless ``--param`` says otherwise. Each column is a
centre crop of ``--crop`` pixels shown at 1:1, so noise and detail are visible. The outputs are made
with the ``clarity apply`` command (the same path a user takes) and kept in ``--keep`` if given.

    python scripts/denoise_sheet.py --out docs/img/denoise_real.png
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def centre_crop(im: Image.Image, size: int) -> Image.Image:
    """The central ``size`` x ``size`` crop (or the whole image when smaller)."""
    w, h = im.size
    s = min(size, w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return im.crop((left, top, left + s, top + s))


def run_filter(src: Path, dst: Path, model: str, params: list[str]) -> str:
    """Run ``clarity apply`` on one photo; returns its printed summary (which names the resolved noise level)."""
    cmd = [sys.executable, "-m", "engine.cli.main", "apply", str(src), str(dst), "--filter", "denoise", "--param", f"model={model}"]
    for p in params:
        cmd += ["--param", p]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"clarity apply failed on {src.name}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/real-noisy"))
    ap.add_argument("--out", type=Path, required=True, help="sheet PNG to write")
    ap.add_argument("--model", action="append", help="denoise model(s) to show (default gaussian, camera)")
    ap.add_argument("--param", action="append", default=[], help="extra NAME=VALUE for every run")
    ap.add_argument("--crop", type=int, default=200, help="crop size in pixels (default 200)")
    ap.add_argument("--keep", type=Path, help="keep the full outputs in this folder")
    args = ap.parse_args(argv)
    models = args.model or ["gaussian", "camera"]
    photos = sorted(p for p in args.data.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not photos:
        raise SystemExit(f"no images in {args.data}")
    work = args.keep or Path(tempfile.mkdtemp(prefix="denoise-sheet-"))
    work.mkdir(parents=True, exist_ok=True)
    label_h, pad = 18, 4
    c = args.crop
    sheet = Image.new("RGB", (pad + (c + pad) * (1 + len(models)), pad + (c + label_h + pad) * len(photos)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, photo in enumerate(photos):
        y = pad + row * (c + label_h + pad)
        tiles = [(f"{photo.name} (input)", Image.open(photo).convert("RGB"))]
        for model in models:
            dst = work / f"{photo.stem}_{model}.png"
            summary = run_filter(photo, dst, model, args.param)
            print(f"{photo.name} {model}: {summary.splitlines()[-1] if summary else 'done'}")
            tiles.append((model, Image.open(dst).convert("RGB")))
        for col, (label, im) in enumerate(tiles):
            x = pad + col * (c + pad)
            sheet.paste(centre_crop(im, c), (x, y + label_h))
            draw.text((x, y + 3), label, fill="black")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"sheet written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
