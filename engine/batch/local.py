"""The local executor: plan, run the overlapped pipeline in this process, write the report."""

from __future__ import annotations

import time
from collections.abc import Callable

from engine.batch.job import BatchJob, BatchProgress, BatchReport
from engine.batch.naming import plan_pairs
from engine.batch.pipeline import run_pipeline
from engine.batch.provenance import build_recipe
from engine.batch.report import write_report
from engine.cancel import CancelToken


def run_local(
    job: BatchJob,
    *,
    progress: Callable[[BatchProgress], None] | None = None,
    cancel: CancelToken | None = None,
    overlap: bool = True,
) -> BatchReport:
    """Run ``job`` in this process (see :func:`engine.batch.run_batch`).

    Job-level problems (missing input folder, unknown plugin, bad parameter, outputs that
    would replace inputs, a device this machine lacks, a report folder that cannot be written)
    raise :class:`engine.core.errors.ClarityError` before any file is written; problems with single
    files end up in the report. Temp files an interrupted run left for the planned outputs
    are removed first (:mod:`engine.batch.cleanup`).
    """
    from engine.batch.cleanup import remove_stale_temps
    from engine.batch.report import check_report_location
    from engine.device import resolve_device

    start = time.perf_counter()
    pairs = plan_pairs(job)
    recipe = build_recipe(job)
    resolve_device(job.options.device)  # DeviceError (usage, exit 2) rather than every file failing
    check_report_location(job)
    remove_stale_temps(pairs)
    result = run_pipeline(job, pairs, recipe, progress=progress, cancel=cancel, overlap=overlap)
    return write_report(
        job,
        result.outcomes,
        cancelled=result.cancelled,
        stopped_at=result.stopped_at,
        executor="local",
        seconds=time.perf_counter() - start,
    )
