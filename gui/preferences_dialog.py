"""Edit > Preferences...: the undo history's step limit and memory budget, the largest
image the app opens (megapixels; the ``CLARITY_MAX_PIXELS`` environment variable, when set,
still wins), and the CPU backend (:mod:`engine.backends`).

The dialog edits :class:`gui.settings.AppSettings`; on OK it stores the values and the window
applies them to its :class:`gui.history.EditHistory` at once (lowering a limit forgets the
oldest steps right away).
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox, QWidget

from gui.settings import (
    MAX_MAX_MEGAPIXELS,
    MAX_UNDO_MEMORY_MIB,
    MAX_UNDO_STEPS,
    MIN_MAX_MEGAPIXELS,
    MIN_UNDO_MEMORY_MIB,
    AppSettings,
)


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
        self.max_megapixels = QSpinBox()
        self.max_megapixels.setRange(MIN_MAX_MEGAPIXELS, MAX_MAX_MEGAPIXELS)
        self.max_megapixels.setSingleStep(50)
        self.max_megapixels.setSuffix(" MP")
        self.max_megapixels.setValue(settings.max_megapixels())
        self.max_megapixels.setToolTip("Larger files are refused on open (protects against decompression bombs); "
                                       "raise it for very large panoramas you trust.")
        self.backend = QComboBox()
        for value, label in (("auto", "Automatic (fastest measured)"), ("torch", "PyTorch"), ("onnx", "ONNX Runtime")):
            self.backend.addItem(label, value)
        self.backend.setCurrentIndex(max(0, self.backend.findData(settings.cpu_backend())))
        self.backend.setToolTip("What runs filters on the CPU. Automatic measures both once per filter and keeps "
                                "the faster; a GPU always uses PyTorch.")
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
        form.addRow("Largest image", self.max_megapixels)
        form.addRow("CPU backend", self.backend)
        form.addRow(buttons)

    def accept(self) -> None:
        self.settings.set_undo_steps(self.steps.value())
        self.settings.set_undo_memory_mib(self.memory.value())
        self.settings.set_max_megapixels(self.max_megapixels.value())
        self.settings.set_cpu_backend(str(self.backend.currentData()))
        super().accept()


__all__ = ["PreferencesDialog"]
