"""gui.job_dialog.JobDialog: every way a dialog closes stops its jobs, and a running job is cancelled."""

from __future__ import annotations

import threading
import time

import pytest

from gui.job_dialog import JobDialog
from gui.worker import Job, run_job


class _OneJobDialog(JobDialog):
    """A dialog holding one long job, counting its shutdowns."""

    def __init__(self) -> None:
        super().__init__()
        self.shutdowns = 0
        self.started = threading.Event()

        def task(report, cancel):
            self.started.set()
            while True:
                cancel.raise_if_cancelled()
                time.sleep(0.005)

        self.job: Job = run_job(task)

    def shutdown(self) -> None:
        self.shutdowns += 1
        self.job.shutdown()


@pytest.mark.parametrize("close", ["accept", "reject", "close"])
def test_every_close_path_cancels_and_joins_the_job(qtbot, close: str) -> None:
    dialog = _OneJobDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.started.wait(5)
    getattr(dialog, close)()
    assert dialog.shutdowns >= 1
    assert not dialog.job.is_running() and dialog.job.token.cancelled
    assert not dialog.isVisible()
