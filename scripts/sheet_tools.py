"""Shared helpers of the contact-sheet scripts: crops, a grid with labels, and `clarity apply` runs.

The sheets are made through ``clarity apply`` (a subprocess), i.e. the same path a user takes, so
what a README sheet shows is what the command line and the app produce.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
LABEL_HEIGHT = 18
PAD = 4


def sheet_parser(description: str, crop: int) -> argparse.ArgumentParser:
    """A parser with the options every sheet script shares: ``--out``, ``--crop`` (default ``crop``), ``--keep``."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--out", type=Path, required=True, help="sheet PNG to write")
    ap.add_argument("--crop", type=int, default=crop, help=f"crop size in output pixels (default {crop})")
    ap.add_argument("--keep", type=Path, help="keep the full outputs in this folder")
    return ap


def work_folder(keep: Path | None, prefix: str) -> Path:
    """``keep`` (created if needed), or a fresh temporary folder named ``prefix...``."""
    work = keep or Path(tempfile.mkdtemp(prefix=prefix))
    work.mkdir(parents=True, exist_ok=True)
    return work


def centre_crop(im: Image.Image, size: int) -> Image.Image:
    """The central ``size`` x ``size`` crop (or the whole image when smaller)."""
    w, h = im.size
    s = min(size, w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return im.crop((left, top, left + s, top + s))


def apply_filter(src: Path, dst: Path, filter_id: str, params: Sequence[str] = ()) -> str:
    """Run ``clarity apply SRC DST --filter ID --param ...``; returns its printed summary.

    Raises ``SystemExit`` with the command's own message when it fails.
    """
    cmd = [sys.executable, "-m", "engine.cli.main", "apply", str(src), str(dst), "--filter", filter_id]
    for p in params:
        cmd += ["--param", p]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"clarity apply --filter {filter_id} failed on {src.name}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def grid(rows: Sequence[Sequence[tuple[str, Image.Image]]], crop: int) -> Image.Image:
    """A white sheet with one row per entry of ``rows``: each cell a centre crop with its label above."""
    columns = max(len(r) for r in rows)
    sheet = Image.new("RGB", (PAD + (crop + PAD) * columns, PAD + (crop + LABEL_HEIGHT + PAD) * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, cells in enumerate(rows):
        y = PAD + r * (crop + LABEL_HEIGHT + PAD)
        for c, (label, im) in enumerate(cells):
            x = PAD + c * (crop + PAD)
            sheet.paste(centre_crop(im.convert("RGB"), crop), (x, y + LABEL_HEIGHT))
            draw.text((x, y + 3), label, fill="black")
    return sheet


def save_sheet(rows: Sequence[Sequence[tuple[str, Image.Image]]], crop: int, out: Path) -> None:
    """Lay ``rows`` out with :func:`grid` and write the sheet to ``out`` (parent folders created)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    grid(rows, crop).save(out)
    print(f"sheet written to {out}")
