"""The one thin Qt adapter between the GUI and Qt-free engine calls.

An engine call is any callable ``task(report, cancel) -> result`` where ``report`` is a
progress callback (it receives :class:`engine.core.types.Progress`, a batch progress object, or
anything with ``done``/``total`` attributes) and ``cancel`` is the :class:`CancelToken` the
call must poll. :class:`Job` runs it in its own ``QThread`` and turns what happens into
signals emitted **in the GUI thread**:

- ``progress(done, total)`` and ``report(obj)`` (the raw progress object) while it runs;
- exactly one of ``finished(result)``, ``failed(message)`` or ``cancelled()`` at the end,
  followed by ``done()`` once the thread has stopped.

Every exception becomes ``failed``: a :class:`ClarityError` gives its own message (command-line
advice such as "use --device cpu" rewritten by :func:`gui.devices.gui_words`), anything
else ``"internal error: ..."`` with the traceback logged. The job never touches widgets.
Owners must call :meth:`Job.shutdown` (cancel + join) before they are destroyed; a job whose
owner forgets is still joined by :func:`shutdown_all` (called on application exit).
"""

from __future__ import annotations

import logging
import traceback
import weakref
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from engine.cancel import CancelToken
from engine.core.errors import CancelledError, ClarityError
from gui.devices import gui_words

log = logging.getLogger(__name__)

ReportCallback = Callable[[Any], None]
EngineTask = Callable[[ReportCallback, CancelToken], Any]

_live_jobs: weakref.WeakSet[Job] = weakref.WeakSet()


def describe_error(exc: BaseException) -> str:
    """The message the user sees for ``exc`` (and the traceback is logged for bugs)."""
    if isinstance(exc, ClarityError):
        return gui_words(str(exc))
    log.error("internal error in a background task:\n%s", "".join(traceback.format_exception(exc)))
    return f"internal error: {type(exc).__name__}: {exc} (this is a bug in Clarity Studio; details are in the log)"


class _Runner(QObject):
    """Lives in the worker thread; calls the task and emits raw outcome signals."""

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, task: EngineTask, token: CancelToken, keep_result_on_cancel: bool) -> None:
        super().__init__()
        self._task = task
        self._token = token
        self._keep = keep_result_on_cancel

    @Slot()
    def run(self) -> None:
        try:
            result = self._task(self.progress.emit, self._token)
        except CancelledError:
            self.cancelled.emit()
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the UI as a message
            if self._token.cancelled and not isinstance(exc, ClarityError):
                self.cancelled.emit()
            else:
                self.failed.emit(describe_error(exc))
        else:
            if self._token.cancelled and not self._keep:
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)
        finally:
            self.thread().quit()


class Job(QObject):
    """One engine call in one ``QThread``; lives in (and signals to) the GUI thread."""

    progress = Signal(int, int)
    report = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()

    def __init__(
        self,
        task: EngineTask,
        name: str = "clarity-job",
        parent: QObject | None = None,
        *,
        keep_result_on_cancel: bool = False,
    ) -> None:
        """``keep_result_on_cancel``: a task that returns normally after :meth:`cancel` still
        reports ``finished(result)`` (a batch returns its partial report); by default such a
        late result is dropped and ``cancelled`` is emitted instead."""
        super().__init__(parent)
        self.token = CancelToken()
        self._outcome: str | None = None
        self._thread = QThread()
        self._thread.setObjectName(name)
        self._runner = _Runner(task, self.token, keep_result_on_cancel)
        self._runner.moveToThread(self._thread)
        self._thread.started.connect(self._runner.run)
        self._runner.progress.connect(self._on_progress)
        self._runner.succeeded.connect(self._on_succeeded)
        self._runner.failed.connect(self._on_failed)
        self._runner.cancelled.connect(self._on_cancelled)
        self._thread.finished.connect(self._on_thread_finished)
        _live_jobs.add(self)

    # -- control (GUI thread) ---------------------------------------------------------------
    def start(self) -> Job:
        """Start the thread; returns ``self`` for chaining."""
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the engine to stop at the next tile boundary (non-blocking)."""
        self.token.cancel()

    def is_running(self) -> bool:
        """True while the thread runs."""
        return self._thread.isRunning()

    @property
    def outcome(self) -> str | None:
        """``"finished"``, ``"failed"``, ``"cancelled"`` or ``None`` while running."""
        return self._outcome

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until the thread stops (True) or ``msecs`` pass (False)."""
        if not self._thread.isRunning():
            return True
        return bool(self._thread.wait(msecs))

    def shutdown(self, msecs: int = 30_000) -> bool:
        """Cancel and join the thread; safe to call repeatedly. Returns True when stopped."""
        self.cancel()
        stopped = self.wait(msecs)
        if not stopped:
            log.error("background job %s did not stop within %d ms", self._thread.objectName(), msecs)
        return stopped

    # -- relays (queued into the GUI thread) -----------------------------------------------
    @Slot(object)
    def _on_progress(self, obj: object) -> None:
        self.report.emit(obj)
        done, total = getattr(obj, "done", None), getattr(obj, "total", None)
        if isinstance(done, int) and isinstance(total, int):
            self.progress.emit(done, total)

    @Slot(object)
    def _on_succeeded(self, result: object) -> None:
        self._outcome = "finished"
        self.finished.emit(result)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._outcome = "failed"
        self.failed.emit(message)

    @Slot()
    def _on_cancelled(self) -> None:
        self._outcome = "cancelled"
        self.cancelled.emit()

    @Slot()
    def _on_thread_finished(self) -> None:
        _live_jobs.discard(self)
        self.done.emit()


def run_job(task: EngineTask, *, name: str = "clarity-job", parent: QObject | None = None) -> Job:
    """Create and start a :class:`Job` for ``task``; connect its signals right after."""
    return Job(task, name=name, parent=parent).start()


def shutdown_all(msecs: int = 30_000) -> None:
    """Cancel and join every job still running (application exit, test teardown)."""
    for job in list(_live_jobs):
        job.shutdown(msecs)
