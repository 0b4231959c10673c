"""``clarity synth``: render a contact sheet of synthetic degradations to look at.

Each row shows a clean crop, then ``--variants`` degraded versions (different random draws),
labelled. Used to tune the degradation models against real benchmark images::

    clarity synth --task rain --images ../shared/data/val/cbsd68 --n 6 --out rain.png
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image

TASK_SPECS: dict[str, str] = {
    "noise": "awgn:5-55",
    "camera": "camera",
    "sr": "bicubic:2,3,4",
    "rain": "rain",
    "haze": "haze",
    "snow": "snow",
}
"""Default degradation spec per ``--task``."""

DEFAULT_IMAGES = Path(__file__).resolve().parents[2] / "resources"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``synth`` subcommand."""
    p = subparsers.add_parser("synth", help="write a contact sheet of synthetic degradations (clean | degraded)")
    p.add_argument("--task", required=True, choices=sorted(TASK_SPECS), help="which degradation to show")
    p.add_argument("--spec", default=None, help="degradation spec overriding the task default, e.g. awgn:25")
    p.add_argument("--images", type=Path, default=None, metavar="DIR", help="folder of clean images (default: bundled sample)")
    p.add_argument("--n", type=int, default=6, help="rows (images, cycling through the folder; default 6)")
    p.add_argument("--variants", type=int, default=2, help="degraded versions per row (default 2)")
    p.add_argument("--size", type=int, default=256, help="centre crop edge in pixels (default 256)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", type=Path, required=True, help="PNG file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Render and save the sheet; returns 0."""
    import numpy as np
    import torch

    from engine.core.errors import ClarityError, ImageWriteError
    from engine.core.imresize import imresize_torch
    from engine.training.data import list_images, read_uint8
    from engine.training.degradations import parse_degradation

    if args.n <= 0 or args.variants <= 0 or args.size < 16:
        raise ClarityError("--n and --variants must be positive and --size at least 16")
    spec = args.spec or TASK_SPECS[args.task]
    degradation = parse_degradation(spec)
    files = list_images(args.images or DEFAULT_IMAGES)
    rows: list[list[tuple[np.ndarray, str]]] = []
    for i in range(args.n):
        img = read_uint8(files[i % len(files)], gray=False)
        crop = _centre_crop(img, args.size)
        clean = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1))).float().div(255.0)[None]
        row = [(crop, f"clean {files[i % len(files)].stem}")]
        for v in range(args.variants):
            gen = torch.Generator().manual_seed(args.seed * 1000 + i * args.variants + v)
            batch = degradation(clean, gen)
            shown = batch.degraded
            label = batch.kind[0]
            if batch.scale > 1:
                shown = imresize_torch(batch.degraded, float(batch.scale))
                label += f" x{batch.scale} (bicubic up)"
            if batch.sigma is not None:
                label += f" sigma {float(batch.sigma[0]) * 255:.1f}"
            out = shown[0].clamp(0, 1).mul(255).round().byte().numpy().transpose(1, 2, 0)
            row.append((_fit(out, crop.shape[:2]), label))
        rows.append(row)
    sheet = _compose(rows)
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(args.out)
    except OSError as exc:
        raise ImageWriteError(f"cannot write '{args.out}': {exc}") from exc
    print(f"wrote {args.out} ({sheet.width}x{sheet.height}, {args.n} rows, degradation '{degradation.name}')")
    return 0


def _centre_crop(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    s_h, s_w = min(size, h), min(size, w)
    top, left = (h - s_h) // 2, (w - s_w) // 2
    return img[top : top + s_h, left : left + s_w]


def _fit(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import numpy as np

    out = np.zeros((shape[0], shape[1], 3), np.uint8)
    h, w = min(shape[0], img.shape[0]), min(shape[1], img.shape[1])
    out[:h, :w] = img[:h, :w]
    return out


def _compose(rows: list[list[tuple[np.ndarray, str]]]) -> Image.Image:
    from PIL import Image, ImageDraw

    label_h, gap = 14, 4
    cell_h = max(img.shape[0] for row in rows for img, _ in row)
    cell_w = max(img.shape[1] for row in rows for img, _ in row)
    cols = max(len(row) for row in rows)
    sheet = Image.new("RGB", (cols * (cell_w + gap) + gap, len(rows) * (cell_h + label_h + gap) + gap), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    for r, row in enumerate(rows):
        y = gap + r * (cell_h + label_h + gap)
        for c, (img, label) in enumerate(row):
            x = gap + c * (cell_w + gap)
            draw.text((x + 2, y + 1), label, fill=(230, 230, 230))
            sheet.paste(Image.fromarray(img), (x, y + label_h))
    return sheet
