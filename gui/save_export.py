"""File types for Save As and Export, the save-file dialog that keeps name and type in
agreement, and the Export options dialog.

- :data:`FILE_TYPES` lists what the app writes; :func:`path_with_type` gives a typed name the
  chosen type's extension (``out1`` + "PNG" -> ``out1.png``; a name that already ends in one of
  the type's extensions is kept; another image extension is replaced, so the file is always
  of the chosen type).
- :class:`SaveFileDialog` pre-fills the current name with the extension of the pre-selected
  type and renames the extension when the user picks another type.
- :class:`ExportOptionsDialog` asks what Export writes: JPEG quality, WebP quality or lossless,
  PNG/TIFF 8 or 16 bits per channel (:class:`ExportOptions`).
- :func:`depth_loss_warning` is the question asked before 16-bit data goes into an 8-bit file.

Save (Ctrl+S) writes the same file in the same format; Save As writes a new file (of the chosen
type, default options) that the document then refers to; Export writes a copy in another
format with options and leaves the document's file and unsaved state alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QSpinBox,
    QWidget,
)


@dataclass(frozen=True)
class FileType:
    """One writable format: engine name, file-dialog filter, extensions (first = default)."""

    format: str
    label: str
    extensions: tuple[str, ...]
    bit_depths: tuple[int, ...]

    @property
    def name_filter(self) -> str:
        return f"{self.label} ({' '.join('*' + e for e in self.extensions)})"


FILE_TYPES: tuple[FileType, ...] = (
    FileType("PNG", "PNG", (".png",), (8, 16)),
    FileType("JPEG", "JPEG", (".jpg", ".jpeg"), (8,)),
    FileType("TIFF", "TIFF", (".tif", ".tiff"), (8, 16)),
    FileType("WEBP", "WebP", (".webp",), (8,)),
    FileType("BMP", "BMP", (".bmp",), (8,)),
)


@dataclass(frozen=True)
class ExportOptions:
    """What Export writes: ``format``, ``bit_depth`` per channel and ``quality`` (WebP 100 = lossless)."""

    format: str
    bit_depth: int
    quality: int = 95


def name_filters() -> str:
    """The ``;;``-joined filters for a file dialog."""
    return ";;".join(t.name_filter for t in FILE_TYPES)


def type_for_filter(name_filter: str) -> FileType:
    """The type of a file-dialog filter string (PNG when unknown)."""
    return next((t for t in FILE_TYPES if t.name_filter == name_filter), FILE_TYPES[0])


def type_for_path(path: Path | str) -> FileType | None:
    """The type whose extensions include ``path``'s, or ``None``."""
    ext = Path(path).suffix.lower()
    return next((t for t in FILE_TYPES if ext in t.extensions), None)


def path_with_type(path: Path | str, file_type: FileType) -> Path:
    """``path`` ending in one of ``file_type``'s extensions (appended, or replacing another image extension)."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext in file_type.extensions:
        return p
    if type_for_path(p) is not None:
        return p.with_suffix(file_type.extensions[0])
    return p.with_name(p.name + file_type.extensions[0])


def depth_loss_warning(name: str, bit_depth: int, file_type: FileType, out_bits: int) -> str:
    """The question before writing ``bit_depth``-bit data as ``out_bits`` ("" when nothing is lost)."""
    if bit_depth <= 8 or out_bits >= bit_depth:
        return ""
    return (f"{name} has {bit_depth} bits per channel; this {file_type.label} file will store only {out_bits}, "
            f"so smooth gradients may show bands. Save {out_bits}-bit anyway? (PNG and TIFF keep 16 bits.)")


class SaveFileDialog(QFileDialog):
    """A save dialog whose file name follows the chosen type's extension."""

    def __init__(self, parent: QWidget | None, caption: str, start: Path, file_type: FileType) -> None:
        super().__init__(parent, caption, str(start.parent))
        self.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        self.setFileMode(QFileDialog.FileMode.AnyFile)
        self.setNameFilters([t.name_filter for t in FILE_TYPES])
        self.selectNameFilter(file_type.name_filter)
        self.selectFile(path_with_type(start, file_type).name)
        self._name = path_with_type(start, file_type).name
        self.filterSelected.connect(self._type_changed)

    def _type_changed(self, name_filter: str) -> None:
        """Give the current name the new type's extension."""
        self._name = path_with_type(self._name, type_for_filter(name_filter)).name
        self.selectFile(self._name)

    @property
    def file_name(self) -> str:
        """The name currently proposed (follows the type)."""
        return self._name

    def chosen(self) -> tuple[Path, FileType] | None:
        """After ``exec()``: the path (with the type's extension) and the type, or ``None``."""
        files = self.selectedFiles()
        if not files:
            return None
        file_type = type_for_filter(self.selectedNameFilter())
        return path_with_type(files[0], file_type), file_type


def ask_save_path(parent: QWidget | None, caption: str, start: Path, file_type: FileType) -> tuple[Path, FileType] | None:
    """Show :class:`SaveFileDialog` modally; the chosen path and type, or ``None`` if cancelled."""
    dialog = SaveFileDialog(parent, caption, start, file_type)
    try:
        return dialog.chosen() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()


class ExportOptionsDialog(QDialog):
    """Quality (JPEG, WebP), lossless (WebP) and bits per channel (PNG, TIFF) for Export."""

    def __init__(self, file_type: FileType, source_bits: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Export as {file_type.label}")
        self.file_type = file_type
        form = QFormLayout(self)
        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setValue(92 if file_type.format == "JPEG" else 90)
        self.quality.setSuffix(" %")
        self.lossless = QCheckBox("Lossless")
        self.bits = QComboBox()
        for bits in file_type.bit_depths:
            self.bits.addItem(f"{bits} bits per channel", bits)
        self.bits.setCurrentIndex(self.bits.findData(max(b for b in file_type.bit_depths if b <= max(8, source_bits))))
        if file_type.format in ("JPEG", "WEBP"):
            form.addRow("Quality", self.quality)
        if file_type.format == "WEBP":
            self.lossless.toggled.connect(self.quality.setDisabled)
            form.addRow("", self.lossless)
        if len(file_type.bit_depths) > 1:
            form.addRow("Bit depth", self.bits)
        if len(file_type.bit_depths) == 1 and source_bits > 8:
            note = QLabel(f"{file_type.label} stores 8 bits per channel; this image has {source_bits}.")
            note.setWordWrap(True)
            form.addRow(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def options(self) -> ExportOptions:
        """The options as chosen."""
        quality = 100 if (self.file_type.format == "WEBP" and self.lossless.isChecked()) else self.quality.value()
        if self.file_type.format == "WEBP" and not self.lossless.isChecked():
            quality = min(quality, 99)  # the engine writes lossless WebP at 100
        return ExportOptions(self.file_type.format, int(self.bits.currentData()), quality)


def ask_export_options(parent: QWidget | None, file_type: FileType, source_bits: int) -> ExportOptions | None:
    """Show :class:`ExportOptionsDialog` modally; the options, or ``None`` if cancelled."""
    dialog = ExportOptionsDialog(file_type, source_bits, parent)
    try:
        return dialog.options() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()


__all__ = [
    "FILE_TYPES",
    "ExportOptions",
    "ExportOptionsDialog",
    "FileType",
    "SaveFileDialog",
    "ask_export_options",
    "ask_save_path",
    "depth_loss_warning",
    "name_filters",
    "path_with_type",
    "type_for_filter",
    "type_for_path",
]
