"""File > Save, Save As and Export for the main window.

Save writes the same file in the same format (a file of a type the app cannot write, such as a
GIF, goes to Save As). Save As asks for a name and a type (:mod:`gui.save_export`; a bare name
gets the type's extension) and the document then refers to the new file. Export asks for a name,
a type and its options and writes a copy, leaving the document's file and unsaved state alone.
Before 16-bit data goes into an 8-bit file, both ask first. Every write is atomic (temp file +
rename, :func:`engine.io.write_image_report`); a failure becomes one message.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMessageBox

from gui import save_export
from gui.about import APP_NAME
from gui.worker import describe_error

if TYPE_CHECKING:  # pragma: no cover
    from gui.main_window import MainWindow

class FileActions:
    """Saving the window's document; every method returns True when a file was written."""

    def __init__(self, window: MainWindow) -> None:
        self._w = window

    def save(self) -> bool:
        """File > Save: the same file in the same format (Save As for a new image or a format
        the app cannot write, such as GIF)."""
        if self._w.document is None:
            return False
        path = self._w.document.path
        if path is None or save_export.type_for_path(path) is None:
            return self.save_as()
        return self.save_to(path)

    def _ask_path(self, caption: str) -> tuple[Path, save_export.FileType] | None:
        """The save dialog, pre-filled with the document's name and type (PNG for other types)."""
        doc = self._w.document
        assert doc is not None
        folder = Path(self._w.settings.last_folder("save") or (doc.path.parent if doc.path else Path.home()))
        start = (doc.path.parent if doc.path else folder) / (doc.path.name if doc.path else "Untitled.png")
        file_type = save_export.type_for_path(start) or save_export.FILE_TYPES[0]
        return save_export.ask_save_path(self._w, caption, start, file_type)

    def _depth_ok(self, path: Path, file_type: save_export.FileType, out_bits: int) -> bool:
        """Ask before 16-bit data goes into an 8-bit file; False means "do not write"."""
        assert self._w.document is not None
        question = save_export.depth_loss_warning(self._w.document.display_name, self._w.document.image.bit_depth,
                                                  file_type, out_bits)
        if not question:
            return True
        answer = QMessageBox.question(self._w, APP_NAME, question,
                                      QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Save

    def save_as(self) -> bool:
        """File > Save As...: a new file of the chosen type (its extension is added to a bare name)."""
        if self._w.document is None:
            return False
        chosen = self._ask_path("Save image as")
        if chosen is None:
            return False
        path, file_type = chosen
        out_bits = max(b for b in file_type.bit_depths if b <= max(8, self._w.document.image.bit_depth))
        if not self._depth_ok(path, file_type, out_bits):
            return False
        return self.save_to(path)

    def export(self) -> bool:
        """File > Export...: a copy in the chosen format with options; the document keeps its file."""
        if self._w.document is None:
            return False
        chosen = self._ask_path("Export image")
        if chosen is None:
            return False
        path, file_type = chosen
        options = save_export.ask_export_options(self._w, file_type, self._w.document.image.bit_depth)
        if options is None or not self._depth_ok(path, file_type, options.bit_depth):
            return False
        from engine.io import write_image_report

        try:
            report = write_image_report(path, self._w.document.image, format=options.format,
                                        bit_depth=options.bit_depth, quality=options.quality, overwrite=True)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            self._w.show_error("Cannot export image", describe_error(exc))
            return False
        self._w.settings.set_last_folder("save", path.parent)
        notes = "; ".join(report.warnings)
        self._w.statusBar().showMessage(f"Exported {report.path} ({report.bit_depth}-bit {report.format})"
                                     + (f": {notes}" if notes else ""), 8000)
        return True

    def save_to(self, path: Path) -> bool:
        """Write the document to ``path`` (atomic, keeps bit depth, alpha, ICC, EXIF)."""
        if self._w.document is None:
            return False
        from engine.io import write_image_report

        try:
            report = write_image_report(Path(path), self._w.document.image, overwrite=True)
            written = report.path
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            self._w.show_error("Cannot save image", describe_error(exc))
            return False
        self._w.undo_stack.set_clean()
        self._w.document.mark_saved(Path(written))
        self._w.settings.add_recent_file(Path(written))
        self._w.settings.set_last_folder("save", Path(written).parent)
        notes = "; ".join(report.warnings)
        self._w.statusBar().showMessage(f"Saved {written} ({report.bit_depth}-bit {report.format})" + (f": {notes}" if notes else ""), 8000)
        return True


__all__ = ["FileActions"]
