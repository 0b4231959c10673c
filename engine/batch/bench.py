"""Batch throughput benchmark: images per second with and without I/O overlap.

``clarity bench --batch DIR`` (owned by ``engine/cli/bench_cmd.py``) calls :func:`bench_batch`.
Both runs process the same files with the same filter into fresh temporary folders (deleted
afterwards); the serial run reads, computes and writes one file after the other, the
overlapped run uses the reader/writer pools of :mod:`engine.batch.pipeline`. The plugin is
loaded and warmed up once before timing so that neither run pays for it.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.batch.job import DONE, BatchJob, FilterStep, ParamValue
from engine.batch.naming import plan_pairs
from engine.batch.pipeline import run_pipeline
from engine.batch.provenance import build_recipe
from engine.core.errors import ClarityError
from engine.core.types import RunOptions


@dataclass(frozen=True)
class BatchBenchResult:
    """Timings of one benchmark: ``images`` files, serial vs overlapped wall time."""

    plugin_id: str
    images: int
    workers: int
    serial_seconds: float
    overlap_seconds: float

    @property
    def serial_images_per_second(self) -> float:
        """Throughput without overlap."""
        return self.images / self.serial_seconds if self.serial_seconds > 0 else 0.0

    @property
    def overlap_images_per_second(self) -> float:
        """Throughput with reader/writer pools."""
        return self.images / self.overlap_seconds if self.overlap_seconds > 0 else 0.0

    @property
    def speedup(self) -> float:
        """Serial time over overlapped time (> 1 means the overlap helps)."""
        return self.serial_seconds / self.overlap_seconds if self.overlap_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        """The JSON form (``clarity bench --json``'s ``batch`` section)."""
        return {
            "plugin": self.plugin_id,
            "images": self.images,
            "workers": self.workers,
            "serial_seconds": round(self.serial_seconds, 4),
            "overlap_seconds": round(self.overlap_seconds, 4),
            "serial_images_per_second": round(self.serial_images_per_second, 3),
            "overlap_images_per_second": round(self.overlap_images_per_second, 3),
            "speedup": round(self.speedup, 3),
        }

    def table(self) -> str:
        """A two-row table (serial, overlapped) for the terminal, ending with a newline."""
        header = ("filter", "images", "mode", "threads", "seconds", "images/s", "speedup")
        rows = [
            (self.plugin_id, str(self.images), "serial", "0", f"{self.serial_seconds:.2f}",
             f"{self.serial_images_per_second:.2f}", "1.00x"),
            (self.plugin_id, str(self.images), "overlapped", str(self.workers), f"{self.overlap_seconds:.2f}",
             f"{self.overlap_images_per_second:.2f}", f"{self.speedup:.2f}x"),
        ]  # fmt: skip
        widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in (header, tuple("-" * w for w in widths), *rows)]
        return "\n".join(lines) + "\nthreads: reader and writer threads around the model; speedup = serial time / overlapped time\n"



def bench_batch(
    input_dir: Path,
    plugin_id: str,
    params: Mapping[str, ParamValue] | None = None,
    *,
    options: RunOptions | None = None,
    workers: int = 2,
    limit: int | None = None,
    recursive: bool = True,
    output_format: str | None = None,
) -> BatchBenchResult:
    """Time a batch of ``input_dir`` (first ``limit`` images) through ``plugin_id`` both ways.

    Raises :class:`ClarityError` when the folder holds no readable image or a file fails
    (a benchmark of failures would mean nothing).
    """
    scratch = Path(tempfile.mkdtemp(prefix="clarity-bench-batch-"))
    try:
        def job_for(name: str) -> BatchJob:
            return BatchJob(
                input_dir=Path(input_dir),
                output_dir=scratch / name,
                steps=(FilterStep(plugin_id, dict(params or {})),),
                recursive=recursive,
                output_format=output_format,
                options=options or RunOptions(),
                workers=workers,
                report_dir=scratch / "reports",
            )

        serial_job, overlap_job = job_for("serial"), job_for("overlap")
        pairs = plan_pairs(serial_job)[: limit if limit is not None else None]
        if not pairs:
            raise ClarityError(f"no images found in '{input_dir}' to benchmark; give a folder with PNG/JPEG/TIFF files")
        recipe = build_recipe(serial_job)

        def timed(job: BatchJob, overlap: bool, subset: int | None = None) -> float:
            job_pairs = [(s, job.output_dir / o.relative_to(serial_job.output_dir)) for s, o in pairs[:subset]]
            t0 = time.perf_counter()
            result = run_pipeline(job, job_pairs, recipe, overlap=overlap)
            seconds = time.perf_counter() - t0
            bad = [o for o in result.outcomes if o.status != DONE]
            if bad:
                raise ClarityError(f"benchmark file '{bad[0].source}' did not process: {bad[0].error or bad[0].status}")
            return seconds

        timed(job_for("warmup"), False, 1)  # first-call costs (allocator, kernels) outside the timings
        serial = timed(serial_job, False)
        overlapped = timed(overlap_job, True)
        return BatchBenchResult(plugin_id, len(pairs), workers, serial, overlapped)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
