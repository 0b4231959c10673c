"""Print a run's "validation PSNR per CPU-hour" table (markdown) from its run folder.

CPU-hours are machine-hours of the whole 2-core machine at the job's uncontended rate
(``steps x --step-seconds``, measured alone with the recipe's batch and patch), so rows compare
across sessions whatever else shared the machine; the wall time the job really took is beside it.
``--offset-hours`` adds the CPU-hours of the run this one was initialised from (``--init``).

    python scripts/val_table.py .runs/derain-cpu --step-seconds 0.57 --offset-hours 0.43
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="run folder (with val.csv)")
    ap.add_argument("--step-seconds", type=float, required=True, help="uncontended seconds per training step")
    ap.add_argument("--offset-hours", type=float, default=0.0, help="CPU-hours already in the starting weights")
    args = ap.parse_args(argv)
    val = args.run / "val.csv"
    if not val.is_file():
        raise SystemExit(f"{val} does not exist: has the run validated yet?")
    with val.open(newline="") as f:
        rows = list(csv.DictReader(f))
    print("| step | CPU-hours | wall (h) | val PSNR (dB) | input (dB) |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        step = int(r["step"])
        cpu = args.offset_hours + step * args.step_seconds / 3600
        print(f"| {step} | {cpu:.2f} | {float(r['seconds']) / 3600:.2f} | {float(r['psnr']):.2f} | {float(r['input_psnr']):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
