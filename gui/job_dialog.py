"""A dialog that owns background jobs and stops them however it closes."""

from __future__ import annotations

from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QDialog


class JobDialog(QDialog):
    """Base of the dialogs that run engine jobs (Filter, Batch).

    Contract: :meth:`shutdown` cancels and joins every job the dialog started and is safe to call
    any number of times; accept, reject and the window's close button all call it before the
    dialog goes away, so no worker outlives its dialog.
    """

    def shutdown(self) -> None:
        """Cancel and join the dialog's jobs (subclasses override; the base has none)."""

    def done(self, result: int) -> None:  # noqa: D401 - Qt API
        self.shutdown()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.shutdown()
        super().closeEvent(event)


__all__ = ["JobDialog"]
