"""x4 super-resolution contact sheet: the low-resolution input, bicubic, RED-Net and Upscale, the original.

Each row is a held-out photo (Set14, CBSD68: never trained on) reduced by 4 with the evaluation's
MATLAB bicubic (:mod:`engine.core.imresize`), then enlarged by 4 again by each method through
``clarity apply`` (the path a user takes). Cells are the same 1:1 crop of each enlargement; the
input is shown enlarged by pixel repetition so its real resolution is visible. A filter whose
weights are missing (``clarity list`` shows it unavailable) is left out with a note.

    python scripts/sr_sheet.py --out docs/img/upscale.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sheet_tools import apply_filter, save_sheet, sheet_parser, work_folder  # noqa: E402

from engine.core.imresize import imresize_uint8  # noqa: E402

SCALE = 4
PHOTOS = (
    Path("../shared/data/val/set14/comic.png"),
    Path("../shared/data/val/set14/baboon.png"),
    Path("../shared/data/val/cbsd68/102061.png"),
)


def crop_box(image: Image.Image, size: int) -> tuple[int, int, int, int]:
    """A ``size`` x ``size`` box at the centre of ``image``, on a multiple of :data:`SCALE`."""
    w, h = image.size
    s = min(size, w, h) // SCALE * SCALE
    left, top = (w - s) // 2 // SCALE * SCALE, (h - s) // 2 // SCALE * SCALE
    return left, top, left + s, top + s


def main(argv: list[str] | None = None) -> int:
    ap = sheet_parser(__doc__.splitlines()[0], crop=192)
    args = ap.parse_args(argv)
    work = work_folder(args.keep, "sr-sheet-")
    rows = []
    for photo in PHOTOS:
        hr = np.asarray(Image.open(photo).convert("RGB"))
        hr = hr[: hr.shape[0] // SCALE * SCALE, : hr.shape[1] // SCALE * SCALE]
        lr = imresize_uint8(hr, 1 / SCALE)
        src = work / f"{photo.stem}_x{SCALE}_lr.png"
        Image.fromarray(lr).save(src)
        target = Image.fromarray(hr)
        box = crop_box(target, args.crop)
        lr_img = Image.open(src)
        line = [(f"{photo.name} input (1/{SCALE})", lr_img.resize(target.size, Image.NEAREST).crop(box))]
        line.append(("bicubic", lr_img.resize(target.size, Image.BICUBIC).crop(box)))
        for filter_id, label in (("upscale-rednet", "RED-Net"), ("upscale", "Upscale")):
            dst = work / f"{photo.stem}_{filter_id}.png"
            try:
                apply_filter(src, dst, filter_id, [f"scale={SCALE}"])
            except SystemExit as exc:
                print(f"{label} left out: {exc}")
                continue
            line.append((label, Image.open(dst).crop(box)))
        line.append(("original", target.crop(box)))
        rows.append(line)
        print(f"{photo.name}: done")
    save_sheet(rows, args.crop, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
