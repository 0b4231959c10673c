"""Before/after contact sheet of the weather filters: input, its teacher, Remove Weather (direct, distilled), target.

Rows: rainy, hazy and (synthetic) snowy photos. Rain and haze come from the standard benchmark pairs
in ``../shared/data/weather`` (rendered by other authors, never trained on); no paired real snow set
exists, so the snow rows are the project's snow synthesis on held-out CBSD68 photos (seeded). Each
output is made with ``clarity apply`` (the path a user takes); each cell is a 1:1 centre crop.

    python scripts/weather_sheet.py --out docs/img/weather.png
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sheet_tools import apply_filter, save_sheet, sheet_parser, work_folder

WEATHER = Path("../shared/data/weather")
CBSD68 = Path("../shared/data/val/cbsd68")


@dataclass(frozen=True)
class Row:
    """One sheet row: a degraded photo, its clean target (if known) and the teacher filter for it."""

    label: str
    degraded: Path
    target: Path | None
    teacher: str


def pair(kind_dir: str, stem: str, teacher: str) -> Row:
    """A row from a benchmark pair folder (``input/`` and ``target/``, matched by stem)."""
    folder = WEATHER / kind_dir
    src = next((folder / "input").glob(f"{stem}.*"))
    tgt = next((folder / "target").glob(f"{stem}.*"), None)
    return Row(f"{folder.name}/{src.name}", src, tgt, teacher)


def synthetic_snow(image: Path, work: Path, seed: int) -> Row:
    """A row made by the project's snow synthesis on a held-out photo (fixed seed)."""
    import torch

    from engine.training.degradations.parse import parse_degradation

    clean = torch.from_numpy(np.asarray(Image.open(image).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)[None]
    batch = parse_degradation("snow")(clean, torch.Generator().manual_seed(seed))
    out = (batch.degraded[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
    dst = work / f"{image.stem}_snow.png"
    Image.fromarray(out).save(dst)
    return Row(f"synthetic snow, {image.name}", dst, image, "desnow")


def main(argv: list[str] | None = None) -> int:
    ap = sheet_parser(__doc__.splitlines()[0], crop=240)
    args = ap.parse_args(argv)
    work = work_folder(args.keep, "weather-sheet-")
    snow_photos = sorted(CBSD68.glob("*.png"))
    rows = [
        pair("derain/rain12", "001", "derain"),
        pair("derain/sirr-test20", "input5", "derain"),
        pair("dehaze/hsts10", "1381", "dehaze"),
        pair("dehaze/sots-outdoor5", "0018_0.9_0.2", "dehaze"),
        synthetic_snow(snow_photos[10], work, seed=0),
        synthetic_snow(snow_photos[40], work, seed=1),
    ]
    cells = []
    for row in rows:
        line = [(f"{row.label} (input)", Image.open(row.degraded))]
        runs = [(row.teacher, None, f"{row.teacher} (teacher)")]
        runs += [("all-weather", model, f"all-weather, {model}") for model in ("direct", "distilled")]
        for filter_id, model, label in runs:
            dst = work / f"{row.degraded.stem}_{filter_id}{f'_{model}' if model else ''}.png"
            apply_filter(row.degraded, dst, filter_id, [f"model={model}"] if model else [])
            line.append((label, Image.open(dst)))
        if row.target is not None:
            line.append(("target", Image.open(row.target)))
        cells.append(line)
        print(f"{row.label}: done")
    save_sheet(cells, args.crop, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
