"""Edit > Preferences...: the undo history's step limit and memory budget.

The dialog edits :class:`gui.settings.AppSettings`; on OK it stores the values and the window
applies them to its :class:`gui.history.EditHistory` at once (lowering a limit forgets the
oldest steps right away).
"""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox, QWidget

from gui.settings import MAX_UNDO_MEMORY_MIB, MAX_UNDO_STEPS, MIN_UNDO_MEMORY_MIB, AppSettings


class PreferencesDialog(QDialog):
    """Undo steps and undo memory; :meth:`accept` writes them to ``settings``."""

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.settings = settings
        self.steps = QSpinBox()
        self.steps.setRange(1, MAX_UNDO_STEPS)
        self.steps.setValue(settings.undo_steps())
        self.memory = QSpinBox()
        self.memory.setRange(MIN_UNDO_MEMORY_MIB, MAX_UNDO_MEMORY_MIB)
        self.memory.setSingleStep(256)
        self.memory.setSuffix(" MiB")
        self.memory.setValue(settings.undo_memory_mib())
        note = QLabel("Each filter step keeps one copy of the pixels it changed. When either limit is "
                      "reached the oldest steps are forgotten; the last step can always be undone.")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Undo steps", self.steps)
        form.addRow("Undo memory", self.memory)
        form.addRow(note)
        form.addRow(buttons)

    def accept(self) -> None:
        self.settings.set_undo_steps(self.steps.value())
        self.settings.set_undo_memory_mib(self.memory.value())
        super().accept()


__all__ = ["PreferencesDialog"]
