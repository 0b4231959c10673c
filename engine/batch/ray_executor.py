"""The Ray executor: the same batch, with files processed as tasks on a Ray cluster.

The driver (this process) plans the batch and builds the recipe exactly like the local
executor; each task runs :func:`engine.batch.stages.process_one` for one file (resume check,
read, filter chain, atomic write with sidecar) and returns its :class:`FileOutcome`; the
driver assembles the same report (same files, statuses and reasons as a local run; output
pixels equal up to one quantisation level in rare pixels, because torch's float summation
order depends on its thread count). A Ray run resumes a local one and vice versa.

Requirements on a real cluster (``address="ray://head:10001"``): ``clarity-studio`` and its
plugins (same ids, versions and weights) installed on every worker, and the input and output
folders on storage that the driver and every worker see at the same paths.

Ray is optional (``pip install clarity-studio[distributed]``); it is imported only here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.batch.job import CANCELLED, NOT_STARTED, BatchJob, BatchProgress, BatchReport, FileOutcome
from engine.batch.naming import plan_pairs
from engine.batch.provenance import build_recipe
from engine.batch.report import write_report
from engine.cancel import CancelToken
from engine.core.errors import CancelledError, ClarityError

FORWARDED_ENV: tuple[str, ...] = ("CLARITY_PLUGIN_PATH", "CLARITY_CACHE_DIR", "CLARITY_MAX_PIXELS")
"""Environment variables the driver forwards to Ray workers it starts."""


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ClarityError(
            "the Ray executor needs the optional 'ray' package; install it with "
            "`pip install clarity-studio[distributed]` or use --executor local"
        ) from exc
    return ray


def worker_runtime_env() -> dict[str, Any]:
    """``runtime_env`` for a Ray instance started by the driver: Clarity settings and import path."""
    repo_root = str(Path(__file__).resolve().parents[2])
    env = {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
    paths = [repo_root, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return {"env_vars": env}


class _CancelFlag:
    """A Ray actor holding the batch's cancel flag (set by the driver, polled by tasks)."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


class RemoteCancelToken(CancelToken):
    """A :class:`CancelToken` on a worker that mirrors the driver's flag actor.

    Polls the actor at most every ``interval`` seconds, so the runner's check between tiles
    stays cheap; once seen set, it stays set.
    """

    def __init__(self, flag: Any, interval: float = 0.1) -> None:
        super().__init__()
        self._flag = flag
        self._interval = interval
        self._checked = float("-inf")

    @property
    def cancelled(self) -> bool:
        """True once the driver has set the flag (checked over Ray, rate-limited)."""
        if not self._event.is_set():
            now = time.monotonic()
            if now - self._checked >= self._interval:
                self._checked = now
                import ray

                if ray.get(self._flag.is_set.remote()):
                    self._event.set()
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`engine.core.errors.CancelledError` if the driver cancelled the batch."""
        if self.cancelled:
            raise CancelledError()


def _task(job: BatchJob, source: Path, output: Path, recipe: Any, flag: Any) -> FileOutcome:
    """Body of one Ray task (runs on a worker): one file, cancellable between tiles."""
    from engine.batch.stages import process_one

    return process_one(job, source, output, recipe, cancel=RemoteCancelToken(flag))


def run_ray(
    job: BatchJob,
    *,
    progress: Callable[[BatchProgress], None] | None = None,
    cancel: CancelToken | None = None,
    address: str | None = None,
    poll_seconds: float = 0.2,
) -> BatchReport:
    """Run ``job`` on Ray (see the module docstring); same contract as the local executor.

    Uses the Ray instance this process is already connected to, else connects to ``address``
    (``None``: start a local instance, shut down again at the end). ``progress`` is called
    from this thread after every finished file (no tile progress from remote tasks).
    Cancelling sets a flag actor that every task polls between tiles: running files stop after
    their current tile (``cancelled``), queued ones do not start (``not-started``), outputs whose
    filter chain had finished are written completely; the driver waits for every task.
    """
    ray = _import_ray()
    start = time.perf_counter()
    pairs = plan_pairs(job)
    recipe = build_recipe(job)
    from engine.batch.cleanup import remove_stale_temps
    from engine.batch.report import check_report_location

    check_report_location(job)
    remove_stale_temps(pairs)
    started_here = False
    if not ray.is_initialized():
        try:
            if address is None:
                ray.init(include_dashboard=False, runtime_env=worker_runtime_env(), log_to_driver=False)
            else:
                ray.init(address=address, runtime_env=worker_runtime_env(), log_to_driver=False)
        except Exception as exc:  # noqa: BLE001 - connection problems become one user-facing line
            raise ClarityError(f"cannot start or join Ray at {address or 'a local instance'}: {exc}") from exc
        started_here = True
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(_task)
        flag = ray.remote(num_cpus=0)(_CancelFlag).remote()
        job_ref = ray.put(job)
        recipe_ref = ray.put(recipe)
        refs = [remote.remote(job_ref, s, o, recipe_ref, flag) for s, o in pairs]
        index_of = {ref: i for i, ref in enumerate(refs)}
        outcomes: list[FileOutcome | None] = [None] * len(pairs)
        counts = {"done": 0, "failed": 0, "skipped-complete": 0}
        pending = list(refs)
        cancel_sent = False
        finished = 0
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=poll_seconds)
            if ready and pending:  # collect everything else that is ready too
                more, pending = ray.wait(pending, num_returns=len(pending), timeout=0)
                ready += more
            for ref in ready:
                i = index_of[ref]
                try:
                    outcome = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a dead worker fails its file, not the batch
                    from engine.batch.stages import describe_error

                    outcome = FileOutcome(pairs[i][0], pairs[i][1], "failed", 0.0, f"Ray task failed: {describe_error(exc)}")
                outcomes[i] = outcome
                counts[outcome.status] = counts.get(outcome.status, 0) + 1
                finished += 1
                if progress is not None:
                    elapsed = time.perf_counter() - start
                    eta = elapsed / finished * (len(pairs) - finished)
                    progress(BatchProgress(i, len(pairs), None, None, counts["done"], counts["failed"],
                                           counts["skipped-complete"], eta))
            if cancel is not None and cancel.cancelled and not cancel_sent:
                # cooperative: running tasks stop after their current tile, queued ones do not
                # start; the driver still waits for every task, so no task is left writing
                cancel_sent = True
                ray.get(flag.set.remote())
        result = [
            o if o is not None else FileOutcome(s, out, NOT_STARTED, 0.0) for o, (s, out) in zip(outcomes, pairs)
        ]
        unfinished = [o for o in result if o.status in (CANCELLED, NOT_STARTED)]
        cancelled = bool(unfinished)
        stopped = next((o for o in unfinished if o.status == CANCELLED), unfinished[0] if unfinished else None)
        stopped_at: Path | None = stopped.source if stopped is not None else None
    finally:
        if started_here:
            ray.shutdown()
    return write_report(job, result, cancelled=cancelled, stopped_at=stopped_at, executor="ray",
                        seconds=time.perf_counter() - start)
