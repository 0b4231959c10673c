"""Training logs: ``train.csv`` + ``val.csv`` + ``log.jsonl`` in the run folder, and a plot PNG.

The CSV files have a header row; ``log.jsonl`` has one JSON object per line with a
``"type"`` of ``"train"`` or ``"val"``. When a run resumes from step ``s``, rows with a step
after ``s`` (written by the interrupted process after its last checkpoint) are dropped, so
the logs always describe the weights that exist. :func:`plot_history` draws loss and
validation PSNR with Pillow (no matplotlib); without Pillow it returns ``None``.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

TRAIN_FIELDS = ("step", "loss", "lr", "seconds")
VAL_FIELDS = ("step", "psnr", "ssim", "seconds", "input_psnr")


@dataclass(frozen=True)
class TrainRow:
    """One logged training step: mean loss since the last row, lr, wall seconds since the run began."""

    step: int
    loss: float
    lr: float
    seconds: float


@dataclass(frozen=True)
class ValRow:
    """One validation pass: mean PSNR (dB) and SSIM over the validation images.

    ``input_psnr``: mean PSNR of the network input itself (degraded, or upsampled for SR) against
    the target, the do-nothing baseline; NaN where sizes differ.
    """

    step: int
    psnr: float
    ssim: float
    seconds: float
    input_psnr: float = float("nan")


class TrainLog:
    """Append-only logs of one run folder (see the module docstring)."""

    def __init__(self, folder: Path, *, resume_step: int = 0) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.train_csv = self.folder / "train.csv"
        self.val_csv = self.folder / "val.csv"
        self.jsonl = self.folder / "log.jsonl"
        self._truncate(resume_step)

    def _truncate(self, step: int) -> None:
        for path, names in ((self.train_csv, TRAIN_FIELDS), (self.val_csv, VAL_FIELDS)):
            rows = [r for r in _read_csv(path) if int(float(r["step"])) <= step] if path.exists() else []
            with path.open("w", newline="", encoding="utf-8") as f:
                w = csv.DictWriter(f, fieldnames=names)
                w.writeheader()
                w.writerows(rows)
        if self.jsonl.exists():
            keep = [ln for ln in self.jsonl.read_text(encoding="utf-8").splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
            self.jsonl.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")

    def train(self, row: TrainRow, terms: dict[str, float] | None = None) -> None:
        """Append a training row to ``train.csv`` and ``log.jsonl`` (``terms``: named loss parts, JSON only)."""
        self._append(self.train_csv, TRAIN_FIELDS, row.__dict__, "train", terms)

    def val(self, row: ValRow) -> None:
        """Append a validation row to ``val.csv`` and ``log.jsonl``."""
        self._append(self.val_csv, VAL_FIELDS, row.__dict__, "val")

    def _append(self, path: Path, names: tuple[str, ...], values: dict[str, float], kind: str, terms: dict[str, float] | None = None) -> None:
        with path.open("a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, fieldnames=names).writerow(values)
        record = {"type": kind, **values, **({"terms": terms} if terms else {})}
        with self.jsonl.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def rows(self) -> tuple[list[TrainRow], list[ValRow]]:
        """Everything logged so far."""
        tr = [TrainRow(int(r["step"]), float(r["loss"]), float(r["lr"]), float(r["seconds"])) for r in _read_csv(self.train_csv)]
        va = [
            ValRow(int(r["step"]), float(r["psnr"]), float(r["ssim"]), float(r["seconds"]), float(r.get("input_psnr") or "nan"))
            for r in _read_csv(self.val_csv)
        ]
        return tr, va

    def plot(self, path: Path | None = None, title: str = "") -> Path | None:
        """Draw ``plot.png`` (or ``path``) from the logs; ``None`` when Pillow is missing."""
        tr, va = self.rows()
        return plot_history(tr, va, path or self.folder / "plot.png", title=title)


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def plot_history(train: list[TrainRow], val: list[ValRow], path: Path, *, title: str = "", size: tuple[int, int] = (640, 420)) -> Path | None:
    """Two stacked panels: training loss (log scale) and validation PSNR against the step; a dashed gray
    line marks the mean input PSNR (the do-nothing baseline) when it is known."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        return None
    w, h = size
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    if title:
        d.text((10, 4), title, fill="black")
    max_step = max([r.step for r in train] + [r.step for r in val] + [1])
    panels = [
        ("train loss (log)", [(r.step, math.log10(max(r.loss, 1e-12))) for r in train], (31, 119, 180), lambda v: f"{10 ** v:.3g}"),
        ("val PSNR (dB)", [(r.step, r.psnr) for r in val if math.isfinite(r.psnr)], (214, 39, 40), lambda v: f"{v:.2f}"),
    ]
    top = 20
    ph = (h - top - 10) // 2
    for i, (label, pts, colour, fmt) in enumerate(panels):
        x0, y0, x1, y1 = 70, top + i * ph + 8, w - 15, top + (i + 1) * ph - 18
        d.rectangle([x0, y0, x1, y1], outline="black")
        d.text((x1 - 6 * len(label) - 5 if i == 0 else x0 + 5, y0 + 3), label, fill=colour)
        d.text((x0, y1 + 3), "0", fill="black")
        d.text((x1 - 40, y1 + 3), f"step {max_step}", fill="black")
        if not pts:
            d.text((x0 + 5, y0 + 18), "no data yet", fill="gray")
            continue
        refs = [r.input_psnr for r in val if math.isfinite(r.input_psnr)] if i == 1 else []
        ref = sum(refs) / len(refs) if refs else None
        lo, hi = min(v for _, v in pts), max(v for _, v in pts)
        if ref is not None:
            lo, hi = min(lo, ref), max(hi, ref)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        d.text((5, y0), fmt(hi), fill="black")
        d.text((5, y1 - 10), fmt(lo), fill="black")

        def xy(s: float, v: float) -> tuple[float, float]:
            return (x0 + (x1 - x0) * s / max_step, y1 - (y1 - y0) * (v - lo) / (hi - lo))

        if ref is not None:
            _, ry = xy(0, ref)
            for sx in range(x0, x1, 8):
                d.line([(sx, ry), (min(sx + 4, x1), ry)], fill=(128, 128, 128))
            d.text((x1 - 150, ry - 12), f"input (no filter) {ref:.2f}", fill=(110, 110, 110))
        coords = [xy(s, v) for s, v in pts]
        if len(coords) > 1:
            d.line(coords, fill=colour, width=2)
        for cx, cy in coords if len(coords) <= 60 else coords[-1:]:
            d.ellipse([cx - 2, cy - 2, cx + 2, cy + 2], fill=colour)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
