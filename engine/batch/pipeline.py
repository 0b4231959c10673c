"""Reader / compute / writer overlap for the local executor.

The calling thread runs the model on one file at a time, in plan order. A pool of ``workers``
reader threads decodes the next files ahead of it (at most ``workers + 1`` read ahead) and a
pool of ``workers`` writer threads encodes finished ones (at most ``workers + 1`` waiting), so
memory stays bounded while decoding and encoding overlap with compute. With ``overlap=False``
every stage runs inline (the baseline :mod:`engine.batch.bench` compares against).

Progress callbacks are called from the calling thread only. Cancellation stops after the
current tile: the current file becomes ``cancelled``, files not yet computed ``not-started``,
outputs already computed are still written (completely) so no work is lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from engine.batch.job import (
    CANCELLED,
    DONE,
    FAILED,
    NOT_STARTED,
    SKIPPED_COMPLETE,
    BatchJob,
    BatchProgress,
    FileOutcome,
)
from engine.batch.provenance import Recipe
from engine.batch.stages import Skip, compute_stage, describe_error, read_stage, write_stage
from engine.cancel import CancelToken
from engine.core.errors import CancelledError
from engine.core.types import Progress

T = TypeVar("T")


class _InlineExecutor(Executor):
    """Runs each task at submit time in the calling thread (no overlap)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:  # noqa: D401
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the future like a thread would
            future.set_exception(exc)
        return future


def _timed(fn: Callable[..., T], *args: Any) -> tuple[T | None, BaseException | None, float]:
    """Run ``fn``: (result, None, seconds) or (None, exception, seconds); never raises Exception."""
    start = time.perf_counter()
    try:
        return fn(*args), None, time.perf_counter() - start
    except Exception as exc:  # noqa: BLE001 - a bad file must never stop the batch
        return None, exc, time.perf_counter() - start


@dataclass(frozen=True)
class PipelineResult:
    """Outcomes in plan order, whether the run was cancelled and at which file."""

    outcomes: tuple[FileOutcome, ...]
    cancelled: bool
    stopped_at: Path | None


class _Tracker:
    """Counts and ETA for progress reports."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.start = time.perf_counter()
        self.done = self.failed = self.skipped = 0
        self.computed_files = 0.0  # files (or fractions) that went through the model
        self.compute_seconds = 0.0

    def record(self, status: str) -> None:
        if status == DONE:
            self.done += 1
        elif status == FAILED:
            self.failed += 1
        elif status == SKIPPED_COMPLETE:
            self.skipped += 1

    def eta(self, index: int, fraction: float) -> float | None:
        """Seconds left: mean wall time per computed file times the files left."""
        computed = self.computed_files + fraction
        if computed <= 0:
            return None
        per_file = (time.perf_counter() - self.start) / computed
        return max(0.0, per_file * (self.total - index - fraction))

    def progress(self, index: int, current: Path | None, file_progress: Progress | None) -> BatchProgress:
        fraction = file_progress.fraction if file_progress is not None else 0.0
        return BatchProgress(
            index=index,
            total=self.total,
            current=current,
            file_progress=file_progress,
            done=self.done,
            failed=self.failed,
            skipped=self.skipped,
            eta_seconds=self.eta(index, fraction),
        )


def run_pipeline(
    job: BatchJob,
    pairs: Sequence[tuple[Path, Path]],
    recipe: Recipe,
    *,
    progress: Callable[[BatchProgress], None] | None = None,
    cancel: CancelToken | None = None,
    overlap: bool = True,
) -> PipelineResult:
    """Process ``pairs`` (see the module docstring); never raises for a bad file."""
    n = len(pairs)
    outcomes: list[FileOutcome | None] = [None] * n
    tracker = _Tracker(n)
    ahead = job.workers + 1

    position = [0]  # index of the file the model is on (progress never goes backwards)

    def emit(index: int, current: Path | None, file_progress: Progress | None) -> None:
        position[0] = max(position[0], index)
        if progress is not None:
            progress(tracker.progress(position[0], current, file_progress))

    def finish(
        index: int, status: str, seconds: float, error: str = "", warnings: tuple[str, ...] = (),
        resolved: Mapping[str, Any] | None = None,
    ) -> None:  # fmt: skip
        source, output = pairs[index]
        outcomes[index] = FileOutcome(source, output, status, seconds, error, warnings, dict(resolved or {}))
        tracker.record(status)

    readers: Executor = ThreadPoolExecutor(job.workers, thread_name_prefix="clarity-batch-read") if overlap else _InlineExecutor()
    writers: Executor = ThreadPoolExecutor(job.workers, thread_name_prefix="clarity-batch-write") if overlap else _InlineExecutor()
    reads: dict[int, Future[tuple[Any, BaseException | None, float]]] = {}
    writes: dict[int, tuple[Future[tuple[Any, BaseException | None, float]], float, Mapping[str, Any]]] = {}
    submitted = 0
    cancelled = False
    stopped_at: Path | None = None

    def collect_writes(block_until_below: int | None = None) -> None:
        while writes:
            finished = [i for i, (f, *_) in writes.items() if f.done()]
            if not finished and block_until_below is not None and len(writes) >= block_until_below:
                wait([f for f, *_ in writes.values()], return_when=FIRST_COMPLETED)
                continue
            if not finished:
                return
            for i in sorted(finished):
                future, before, resolved = writes.pop(i)
                notes, exc, seconds = future.result()
                if exc is None:
                    finish(i, DONE, before + seconds, warnings=notes or (), resolved=resolved)
                else:
                    finish(i, FAILED, before + seconds, describe_error(exc))
                emit(i, None, None)

    try:
        for index, (source, output) in enumerate(pairs):
            while submitted < n and submitted <= index + ahead:
                s, o = pairs[submitted]
                reads[submitted] = readers.submit(_timed, read_stage, job, s, o, recipe)
                submitted += 1
            collect_writes()
            if cancel is not None and cancel.cancelled:
                cancelled, stopped_at = True, source
                break
            emit(index, source, Progress(0, 1, "reading"))
            loaded, exc, read_seconds = reads.pop(index).result()
            if exc is not None:
                finish(index, FAILED, read_seconds, describe_error(exc))
                emit(index, None, None)
                continue
            if isinstance(loaded, Skip):
                finish(index, SKIPPED_COMPLETE, read_seconds)
                emit(index, None, None)
                continue
            start = time.perf_counter()
            last: list[Progress] = [Progress(0, 1)]

            def on_tile(p: Progress, _index: int = index, _source: Path = source) -> None:
                last[0] = p
                emit(_index, _source, p)

            try:
                computed = compute_stage(job, loaded, progress=on_tile, cancel=cancel)
            except CancelledError:
                tracker.computed_files += last[0].fraction
                finish(index, CANCELLED, read_seconds + time.perf_counter() - start, "cancelled by the user")
                cancelled, stopped_at = True, source
                break
            except Exception as exc:  # noqa: BLE001 - a bad file must never stop the batch
                tracker.computed_files += 1
                finish(index, FAILED, read_seconds + time.perf_counter() - start, describe_error(exc))
                emit(index, None, None)
                continue
            del loaded
            tracker.computed_files += 1
            before = read_seconds + time.perf_counter() - start
            collect_writes(block_until_below=ahead)
            writes[index] = (writers.submit(_timed, write_stage, job, source, output, computed, recipe), before,
                             computed.resolved)  # fmt: skip
            del computed
            collect_writes()
    finally:
        for future in reads.values():
            future.cancel()
        readers.shutdown(wait=True, cancel_futures=True)
        # outputs already computed are written completely, even when cancelled
        writers.shutdown(wait=True)
        collect_writes()
    result = tuple(
        o if o is not None else FileOutcome(source=s, output=out, status=NOT_STARTED, seconds=0.0)
        for o, (s, out) in zip(outcomes, pairs)
    )
    return PipelineResult(outcomes=result, cancelled=cancelled, stopped_at=stopped_at)
