"""The three stages of processing one file, shared by the local and the Ray executors.

1. :func:`read_stage` (I/O, reader threads): resume check, stamp the source, decode it.
2. :func:`compute_stage` (the model, one at a time): run the filter chain.
3. :func:`write_stage` (I/O, writer threads): encode to a temp file, hash it, write the
   provenance record, then move the output into place (never clobbering a file that is not
   ours, nor one of ours that was edited or made with other settings, unless overwriting).

Each stage either returns its result or raises; :func:`describe_error` turns any exception
into the one-line reason stored in the report.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.batch.job import BatchJob, FileOutcome
from engine.batch.provenance import (
    OutputState,
    Recipe,
    SourceStamp,
    check_output,
    record_path,
    remove_legacy_sidecar,
    sha256_file,
    sidecar_document,
    write_record,
)
from engine.cancel import CancelToken
from engine.core.errors import ClarityError, ImageWriteError
from engine.core.hashing import sha256_file
from engine.core.types import Progress


@dataclass(frozen=True)
class Skip:
    """The read stage found a complete, up-to-date output: nothing to do."""


@dataclass(frozen=True)
class Loaded:
    """A decoded input ready for the model. ``replace`` allows replacing an existing output."""

    document: Any  # engine.io.ImageDocument
    stamp: SourceStamp
    replace: bool


@dataclass(frozen=True)
class Computed:
    """A filtered image ready to be written."""

    document: Any  # engine.io.ImageDocument with the filtered pixels
    stamp: SourceStamp
    replace: bool
    resolved: Mapping[str, Any] = field(default_factory=dict)
    """Values the filters resolved on this image, keyed ``"PLUGIN.PARAM"`` (``FileOutcome.resolved``)."""


def describe_error(exc: BaseException) -> str:
    """A one-line reason for the report: the message of a ClarityError, else type + message.

    Control characters (from file names, plugin messages) are escaped (:func:`engine.core.text.one_line`).
    """
    from engine.core.text import one_line

    if isinstance(exc, ClarityError):
        text = str(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        where = f" '{exc.filename}'" if exc.filename else ""
        text = f"{exc.strerror}{where} ({type(exc).__name__})"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return one_line(text) or type(exc).__name__


_REFUSALS: dict[OutputState, str] = {
    OutputState.FOREIGN: "already exists and was not written by this batch",
    OutputState.MODIFIED: "already exists and was changed since this batch wrote it (edited?)",
    OutputState.STALE: "already exists and was made from another version of the input or with other settings",
}


def read_stage(job: BatchJob, source: Path, output: Path, recipe: Recipe) -> Skip | Loaded:
    """Decide what to do with ``output`` and, if it must be (re)computed, decode ``source``.

    Raises :class:`ImageWriteError` when ``output`` exists and is not a complete output of
    this very recipe (someone's file, an edited output, an output of other settings or of a
    changed input) and the job may not overwrite; :class:`engine.core.errors.UnsupportedImageError`
    for a bad input, including one that is not a regular file (never opened).
    """
    from engine.core.errors import UnsupportedImageError
    from engine.core.files import regular_file_problem
    from engine.io import read_image

    if (kind := regular_file_problem(source)) is not None:
        raise UnsupportedImageError(f"cannot read '{source}': it is {kind}, not a regular file; skipped")
    state = check_output(source, output, recipe)
    if state is OutputState.COMPLETE:
        return Skip()
    if state in _REFUSALS and not job.overwrite:
        raise ImageWriteError(
            f"output '{output}' {_REFUSALS[state]}; it was kept: pass --overwrite to replace it, "
            "or choose another output folder or --name"
        )
    replace = job.overwrite
    before = os.stat(source)
    document = read_image(source)  # refuses a bad file from its first bytes, before it is hashed whole
    stamp = SourceStamp.of(source)
    if (stamp.size, stamp.mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise UnsupportedImageError(f"cannot read '{source}': it changed while it was being read; run the batch again")
    return Loaded(document=document, stamp=stamp, replace=replace)


def compute_stage(
    job: BatchJob,
    loaded: Loaded,
    *,
    progress: Callable[[Progress], None] | None = None,
    cancel: CancelToken | None = None,
) -> Computed:
    """Run the filter chain on a loaded image; ``progress`` gets tiles done over all steps.

    Raises :class:`engine.core.errors.CancelledError` between tiles when ``cancel`` is set.
    """
    from engine.api import apply_filter

    pixels = loaded.document.pixels
    resolved: dict[str, Any] = {}
    n = len(job.steps)
    for i, step in enumerate(job.steps):
        if cancel is not None:
            cancel.raise_if_cancelled()

        def on_tile(p: Progress, _i: int = i, _step: str = step.plugin_id) -> None:
            if progress is not None:
                # each step counts as an equal share of the file
                progress(Progress(_i * max(p.total, 1) + p.done, n * max(p.total, 1), f"{_step} ({_i + 1}/{n})"))

        result = apply_filter(pixels, step.plugin_id, step.params, options=job.options, progress=on_tile, cancel=cancel)
        pixels = result.image
        resolved.update({f"{step.plugin_id}.{k}": v for k, v in result.resolved.items()})
    return Computed(
        document=loaded.document.with_pixels(pixels), stamp=loaded.stamp, replace=loaded.replace, resolved=resolved
    )


def output_format_of(job: BatchJob, output: Path) -> str | None:
    """The format to encode: the job's, else ``None`` (``write_image`` follows the output's
    extension, so a mislabelled input, e.g. a PNG named ``.jpg``, gives an output whose
    content matches its name)."""
    return job.output_format


def write_stage(job: BatchJob, source: Path, output: Path, computed: Computed, recipe: Recipe) -> tuple[str, ...]:
    """Write ``output`` and its provenance record without ever leaving a partial or temp file.

    Inside :func:`engine.core.atomic.atomic_output`: encode to a temp file in the output folder,
    hash it, write the record (atomically); on leaving, the temp file is moved into place with
    ``os.replace`` when replacing is allowed, else hard-linked, which fails if a file appeared
    meanwhile (no clobbering). Raises :class:`ImageWriteError` (disk full, read-only folder...)
    naming the output, never the temp file. Returns the load and write warnings (one line each).
    """
    from engine.core.atomic import atomic_output
    from engine.io import write_image_report

    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from engine.core.atomic import describe_os_error

        raise ImageWriteError(describe_os_error(exc, output)) from exc
    record_written = False
    try:
        with atomic_output(output, overwrite=computed.replace) as tmp:
            try:
                written = write_image_report(tmp, computed.document, format=output_format_of(job, output), overwrite=True)
            except ImageWriteError as exc:  # name the output, not our hidden temp file
                raise ImageWriteError(str(exc).replace(str(tmp), str(output))) from exc
            document = sidecar_document(source, computed.stamp, recipe, sha256_file(tmp), tmp.stat().st_size)
            write_record(output, document)
            record_written = True
    except BaseException:
        if record_written and not computed.replace:
            # never leave our record for a file that is not ours (it would mark it as ours)
            record_path(output).unlink(missing_ok=True)
        raise
    remove_legacy_sidecar(output)
    notes = [*getattr(computed.document, "warnings", ()), *written.warnings]
    return tuple(" ".join(str(n).split()) for n in notes)


def process_one(
    job: BatchJob, source: Path, output: Path, recipe: Recipe, cancel: CancelToken | None = None
) -> FileOutcome:
    """All three stages for one file, in this process (what a Ray task runs).

    Never raises for a bad file: returns a :class:`FileOutcome` with the reason. With
    ``cancel`` set before the file starts it is ``not-started``; set during the filter chain,
    the file stops after the current tile and is ``cancelled`` (nothing written). Once the
    chain has finished, the output is written completely.
    """
    import time

    from engine.batch.job import CANCELLED, DONE, FAILED, NOT_STARTED, SKIPPED_COMPLETE
    from engine.core.errors import CancelledError

    start = time.perf_counter()
    if cancel is not None and cancel.cancelled:
        return FileOutcome(source, output, NOT_STARTED, 0.0)
    try:
        loaded = read_stage(job, source, output, recipe)
        if isinstance(loaded, Skip):
            return FileOutcome(source, output, SKIPPED_COMPLETE, time.perf_counter() - start)
        try:
            computed = compute_stage(job, loaded, cancel=cancel)
        except CancelledError:
            return FileOutcome(source, output, CANCELLED, time.perf_counter() - start, "cancelled by the user")
        del loaded
        notes = write_stage(job, source, output, computed, recipe)
    except Exception as exc:  # noqa: BLE001 - a bad file must never stop the batch
        return FileOutcome(source, output, FAILED, time.perf_counter() - start, describe_error(exc))
    return FileOutcome(source, output, DONE, time.perf_counter() - start, warnings=notes, resolved=computed.resolved)
