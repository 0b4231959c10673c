"""Batch processing: a folder of images through a chain of filters, never losing work.

Public interface (used by ``clarity batch`` and the GUI's batch dialog)::

    from engine.batch import BatchJob, FilterStep, plan_batch, run_batch
    job = BatchJob(Path("in"), Path("out"), (FilterStep("denoise", {"sigma": 25}),))
    pairs = plan_batch(job)                 # [(source, output), ...], validated, no I/O written
    report = run_batch(job, progress=print, cancel=token)   # BatchReport; report.ok

Guarantees: a bad file never stops the batch (``failed`` with a one-line reason); outputs are
written to a temp file and renamed, each with a provenance sidecar (``<output>.clarity.json``)
so that a re-run skips complete outputs and redoes partial or stale ones; an existing file
that is not ours, and any input, is never overwritten unless ``overwrite=True``; cancelling
stops after the current tile and leaves no partial or temp file. ``executor="ray"`` runs the
same batch on a Ray cluster with the same outputs and report.

Importing this package is cheap (no torch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.batch.job import (
    CANCELLED,
    DONE,
    FAILED,
    NOT_STARTED,
    OUTPUT_FORMATS,
    SKIPPED_COMPLETE,
    STATUSES,
    BatchJob,
    BatchProgress,
    BatchReport,
    FileOutcome,
    FilterStep,
)

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from engine.cancel import CancelToken

EXECUTORS: tuple[str, ...] = ("local", "ray")
"""Values accepted by ``run_batch(executor=...)``."""


def plan_batch(job: BatchJob) -> list[tuple[Path, Path]]:
    """The ``(source, output)`` pairs of ``job``, in sorted walk order, validated.

    Raises :class:`engine.core.errors.ClarityError` for job-level problems (input folder missing,
    output folder inside/equal to the input without overwrite, two inputs mapping to the same
    output, a bad name template, unknown plugin...). Writes nothing.
    """
    from engine.batch.naming import plan_pairs

    return plan_pairs(job)


def run_batch(
    job: BatchJob,
    *,
    progress: Callable[[BatchProgress], None] | None = None,
    cancel: CancelToken | None = None,
    executor: str = "local",
    ray_address: str | None = None,
) -> BatchReport:
    """Run ``job`` and return its report (also written as JSON and CSV to the report folder).

    ``progress`` is called (from the calling thread for the local executor) after every tile
    and file; ``cancel`` stops the batch after the current tile. ``executor`` is ``"local"``
    (reader/compute/writer overlap in this process) or ``"ray"`` (tasks on a Ray cluster at
    ``ray_address``; ``None`` starts or joins a local instance).
    """
    from engine.core.errors import ParameterError

    if executor == "local":
        from engine.batch.local import run_local

        return run_local(job, progress=progress, cancel=cancel)
    if executor == "ray":
        from engine.batch.ray_executor import run_ray

        return run_ray(job, progress=progress, cancel=cancel, address=ray_address)
    raise ParameterError(f"executor '{executor}' is unknown; use one of {', '.join(EXECUTORS)}")


__all__ = [
    "CANCELLED",
    "DONE",
    "EXECUTORS",
    "FAILED",
    "NOT_STARTED",
    "OUTPUT_FORMATS",
    "SKIPPED_COMPLETE",
    "STATUSES",
    "BatchJob",
    "BatchProgress",
    "BatchReport",
    "FileOutcome",
    "FilterStep",
    "plan_batch",
    "run_batch",
]
