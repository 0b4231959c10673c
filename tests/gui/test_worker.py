"""gui.worker.Job: results, errors and cancellation arrive as signals in the GUI thread."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QTimer

from engine.core.errors import ParameterError
from engine.core.types import Progress
from gui.worker import Job, run_job


def _collect(job: Job) -> dict:
    seen: dict = {"progress": [], "threads": set()}
    job.progress.connect(lambda d, t: (seen["progress"].append((d, t)), seen["threads"].add(threading.get_ident())))
    job.finished.connect(lambda r: seen.setdefault("finished", r))
    job.failed.connect(lambda m: seen.setdefault("failed", m))
    job.cancelled.connect(lambda: seen.setdefault("cancelled", True))
    return seen


def test_result_and_progress_arrive_in_gui_thread(qtbot) -> None:
    worker_threads: list[int] = []

    def task(report, cancel):
        worker_threads.append(threading.get_ident())
        for i in range(1, 4):
            report(Progress(i, 3))
        return 42

    job = Job(task)
    seen = _collect(job)
    with qtbot.waitSignal(job.done, timeout=5000):
        job.start()
    assert seen["finished"] == 42
    assert seen["progress"] == [(1, 3), (2, 3), (3, 3)]
    assert seen["threads"] == {threading.get_ident()}  # relayed into the GUI thread
    assert worker_threads and worker_threads[0] != threading.get_ident()
    assert job.outcome == "finished" and not job.is_running()


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ParameterError("amount 3 is outside 0..2; use a value in range"), "amount 3 is outside 0..2; use a value in range"),
        (ZeroDivisionError("division by zero"), "internal error: ZeroDivisionError: division by zero"),
    ],
)
def test_exceptions_become_failed_messages(qtbot, exc: Exception, expected: str) -> None:
    def task(report, cancel):
        raise exc

    job = Job(task)
    seen = _collect(job)
    with qtbot.waitSignal(job.done, timeout=5000):
        job.start()
    assert seen["failed"].startswith(expected)
    assert "finished" not in seen and "cancelled" not in seen
    assert job.outcome == "failed"


def test_cancel_stops_task_and_event_loop_keeps_running(qtbot) -> None:
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    steps: list[int] = []

    def task(report, cancel):
        for i in range(200):
            cancel.raise_if_cancelled()
            time.sleep(0.01)
            steps.append(i)
            report(Progress(i + 1, 200))
        return "not cancelled"

    job = run_job(task)
    seen = _collect(job)
    qtbot.waitUntil(lambda: len(seen["progress"]) >= 5, timeout=5000)
    ticks_before_cancel = len(ticks)
    job.cancel()
    with qtbot.waitSignal(job.done, timeout=5000):
        pass
    timer.stop()
    assert seen.get("cancelled") is True and "finished" not in seen
    assert len(steps) < 200
    assert ticks_before_cancel >= 2  # the GUI timer fired while the task ran
    assert job.wait(0)


def test_shutdown_joins_a_running_job(qtbot) -> None:
    started = threading.Event()

    def task(report, cancel):
        started.set()
        while not cancel.cancelled:
            time.sleep(0.005)
        cancel.raise_if_cancelled()

    job = run_job(task)
    assert started.wait(5)
    assert job.shutdown(5000)
    assert not job.is_running()
