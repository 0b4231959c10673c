"""Before/after contact sheet of the Denoise filter on genuinely noisy photos.

For every image in ``--data`` (default ``../shared/data/real-noisy``) the sheet shows one row:
the input, then the output of each ``--model`` (default ``gaussian`` and ``camera``), all with the
filter's default ``noise_level`` (``auto``) unless ``--param`` says otherwise. Each column is a
centre crop of ``--crop`` pixels shown at 1:1, so noise and detail are visible. The outputs are made
with the ``clarity apply`` command (the same path a user takes) and kept in ``--keep`` if given.

    python scripts/denoise_sheet.py --out docs/img/denoise_real.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sheet_tools import IMAGE_SUFFIXES, apply_filter, save_sheet, sheet_parser, work_folder


def main(argv: list[str] | None = None) -> int:
    ap = sheet_parser(__doc__.splitlines()[0], crop=200)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/real-noisy"))
    ap.add_argument("--model", action="append", help="denoise model(s) to show (default gaussian, camera)")
    ap.add_argument("--param", action="append", default=[], help="extra NAME=VALUE for every run")
    args = ap.parse_args(argv)
    models = args.model or ["gaussian", "camera"]
    photos = sorted(p for p in args.data.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not photos:
        raise SystemExit(f"no images in {args.data}")
    work = work_folder(args.keep, "denoise-sheet-")
    rows = []
    for photo in photos:
        cells = [(f"{photo.name} (input)", Image.open(photo))]
        for model in models:
            dst = work / f"{photo.stem}_{model}.png"
            summary = apply_filter(photo, dst, "denoise", [f"model={model}", *args.param])
            print(f"{photo.name} {model}: {summary.splitlines()[-1] if summary else 'done'}")
            cells.append((model, Image.open(dst)))
        rows.append(cells)
    save_sheet(rows, args.crop, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
