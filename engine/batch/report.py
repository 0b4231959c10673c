"""The batch report: every planned file with status, time and error, as JSON and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.batch.job import STATUSES, BatchJob, BatchReport, FileOutcome
from engine.batch.provenance import write_json_atomic
from engine.core.types import format_resolved
from engine.core.errors import ImageWriteError

REPORT_STEM = "batch-report"
CSV_COLUMNS: tuple[str, ...] = ("source", "output", "status", "seconds", "error", "warnings", "resolved")


def job_to_json(job: BatchJob) -> dict[str, Any]:
    """The job as a JSON-ready dict (paths as strings)."""
    return {
        "input_dir": str(job.input_dir),
        "output_dir": str(job.output_dir),
        "steps": [{"plugin_id": s.plugin_id, "params": {k: v if isinstance(v, (bool, int, float)) else str(v)
                                                        for k, v in s.params.items()}} for s in job.steps],
        "recursive": job.recursive,
        "output_format": job.output_format,
        "name_template": job.name_template,
        "overwrite": job.overwrite,
        "options": {
            "tile": job.options.tile,
            "overlap": job.options.overlap,
            "device": job.options.device.value,
            "precision": job.options.precision.value,
            "ensemble": job.options.ensemble,
            "strength": job.options.strength,
        },
        "workers": job.workers,
    }


def outcome_to_json(outcome: FileOutcome) -> dict[str, Any]:
    """One report row as a JSON-ready dict."""
    return {
        "source": str(outcome.source),
        "output": str(outcome.output) if outcome.output is not None else None,
        "status": outcome.status,
        "seconds": round(outcome.seconds, 4),
        "error": outcome.error,
        "warnings": list(outcome.warnings),
        "resolved": dict(outcome.resolved),
    }


def check_report_location(job: BatchJob) -> None:
    """Make sure the report can be written, before any work: create the report folder and a
    probe file in it (removed at once). Raises :class:`ImageWriteError` saying how to fix it."""
    import os
    import tempfile

    from engine.core.atomic import describe_os_error

    folder = job.effective_report_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".~batch-report.", suffix=".probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ImageWriteError(
            describe_os_error(exc, folder / f"{REPORT_STEM}.json") + "; choose another folder with --report-dir"
        ) from exc


def write_report(
    job: BatchJob,
    outcomes: Sequence[FileOutcome],
    *,
    cancelled: bool,
    stopped_at: Path | None,
    executor: str = "local",
    seconds: float = 0.0,
) -> BatchReport:
    """Write ``batch-report.json`` and ``batch-report.csv`` to the job's report folder.

    Both are written atomically (temp file + rename). Never raises for a report that cannot be
    written (read-only folder, full disk): the returned report then has ``report_error`` set,
    so the outcomes and the summary are never lost.
    """
    from dataclasses import replace

    folder = job.effective_report_dir
    json_path = folder / f"{REPORT_STEM}.json"
    csv_path = folder / f"{REPORT_STEM}.csv"
    report = BatchReport(
        job=job, outcomes=tuple(outcomes), cancelled=cancelled, stopped_at=stopped_at, json_path=json_path, csv_path=csv_path
    )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_files(report, executor, seconds)
    except (ImageWriteError, OSError) as exc:
        from engine.core.atomic import describe_os_error
        from engine.core.text import one_line

        reason = describe_os_error(exc, json_path) if isinstance(exc, OSError) else str(exc)
        return replace(report, report_error=one_line(reason))
    return report


def _write_files(report: BatchReport, executor: str, seconds: float) -> None:
    job, outcomes = report.job, report.outcomes
    cancelled, stopped_at = report.cancelled, report.stopped_at
    json_path, csv_path = report.json_path, report.csv_path
    data = {
        "clarity_batch_report": 1,
        "executor": executor,
        "seconds": round(seconds, 3),
        "job": job_to_json(job),
        "summary": {
            "counts": {status: report.count(status) for status in STATUSES},
            "total": len(outcomes),
            "cancelled": cancelled,
            "stopped_at": str(stopped_at) if stopped_at else None,
            "ok": report.ok,
        },
        "files": [outcome_to_json(o) for o in outcomes],
    }
    write_json_atomic(json_path, data)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for o in outcomes:
        row = outcome_to_json(o)
        writer.writerow([row["source"], row["output"] or "", row["status"], f"{row['seconds']:.4f}", row["error"],
                         " | ".join(o.warnings), format_resolved(o.resolved)])
    from engine.core.atomic import atomic_write_bytes

    atomic_write_bytes(csv_path, buffer.getvalue().encode("utf-8"), overwrite=True)
