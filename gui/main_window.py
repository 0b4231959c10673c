"""The main window: menus, tool bar, status bar and the wiring between the parts.

The window owns one :class:`gui.document.EditorDocument` at a time, an :class:`ImageCanvas`,
an :class:`gui.history.EditHistory` (undo bounded by steps and memory) and the settings. Engine
work happens in the dialogs' background jobs; the window only turns finished results into undo
steps. Engine functions are looked up on their
modules at call time (``engine.api.apply_filter``...), so tests can monkeypatch them.

Keyboard: pressing Enter or Escape in the tool bar's Feather box hands the focus back to the
image, so Ctrl+Z and the other editing shortcuts act on the image unless the user is typing.
When no filter can run, a notice bar above the image says why and opens Help > Plugins....
"""

from __future__ import annotations

import logging
import os
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QRectF, Qt, QUrl
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QVBoxLayout,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QToolBar,
    QWidget,
)

from engine.core.types import Region, RunResult
from gui.about import APP_NAME, about_html
from gui.batch_dialog import BatchDialog
from gui.canvas import ImageCanvas
from gui.community_import import CommunityImport
from gui.document import EditorDocument
from gui.file_actions import FileActions
from gui.filter_dialog import FilterDialog
from gui.filter_memory import remember_values, restore_values
from gui.filter_menu import populate_filter_menu
from gui.history import EditHistory, RegionEditCommand, ReplaceImageCommand
from gui.notice_bar import NoticeBar, no_filter_notice
from gui.plugins_dialog import PluginsDialog
from gui.preferences_dialog import PreferencesDialog
from gui.selection import Selection, SelectionTool
from gui.settings import AppSettings
from gui.status_bar import StatusFields, pixel_text
from gui.worker import describe_error
from plugins.api import PluginInfo

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".gif")


def _engine_api() -> types.ModuleType:
    """``engine.api``, looked up at call time (tests monkeypatch its functions)."""
    import engine.api

    return engine.api


class MainWindow(QMainWindow):
    """Clarity Studio's window. ``settings`` defaults to the user's store."""

    def __init__(self, settings: AppSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else AppSettings()
        self.document: EditorDocument | None = None
        self.original_pixels: np.ndarray | None = None
        self._original_alpha: np.ndarray | None = None
        self._original_bits = 8
        self.selection: Selection | None = None
        self.undo_stack = EditHistory(parent=self)
        self.files = FileActions(self)
        self._apply_preferences()
        self.undo_stack.clean_changed.connect(self._clean_changed)
        self.undo_stack.changed.connect(self._update_undo_actions)
        self.filter_dialog: FilterDialog | None = None
        self.batch_dialog: BatchDialog | None = None
        self.plugins_dialog: PluginsDialog | None = None
        self.filter_actions: dict[str, QAction] = {}
        self.last_device = "auto"
        self.canvas = ImageCanvas(self)
        self.canvas.selection_drawn.connect(self.set_selection)
        self.canvas.zoom_changed.connect(lambda _z: self._update_status())
        self.canvas.cursor_moved.connect(self._cursor_moved)
        self.notice_bar = NoticeBar("Plugins...", self.open_plugins_dialog)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.notice_bar)
        column.addWidget(self.canvas, 1)
        self.setCentralWidget(central)
        self.setAcceptDrops(True)
        self.community = CommunityImport(self, lambda: _engine_api().get_registry())
        self.community.changed.connect(lambda: self.rebuild_filter_menu(refresh=True))
        self.community.failed.connect(self.show_error)
        self._build_actions()
        self._update_undo_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self.rebuild_filter_menu()
        geometry = self.settings.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 820)
        self._update_title()
        self._update_enabled()

    # ------------------------------------------------------------------ construction
    def _action(self, text: str, slot: Callable[[], object], shortcut: str | list[str] | None = None) -> QAction:
        action = QAction(text, self)
        if isinstance(shortcut, list):
            action.setShortcuts([QKeySequence(s) for s in shortcut])
        elif shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _build_actions(self) -> None:
        self.open_action = self._action("&Open...", self.open_dialog, "Ctrl+O")
        self.save_action = self._action("&Save", self.save, "Ctrl+S")
        self.save_as_action = self._action("Save &As...", self.save_as, "Ctrl+Shift+S")
        self.export_action = self._action("&Export...", self.export, "Ctrl+Shift+E")
        self.export_action.setToolTip("Write a copy in another format, with quality and bit-depth options")
        self.close_action = self._action("&Close", self.close_document, "Ctrl+W")
        self.quit_action = self._action("&Quit", self.close, "Ctrl+Q")
        self.undo_action = self._action("&Undo", self.undo_stack.undo, "Ctrl+Z")
        self.redo_action = self._action("&Redo", self.undo_stack.redo)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.select_all_action = self._action("Select &All", self.select_all, "Ctrl+A")
        self.select_none_action = self._action("Select &None", self.select_none, "Ctrl+D")
        self.invert_action = self._action("&Invert Selection", self.invert_selection, "Ctrl+Shift+I")
        self.preferences_action = self._action("&Preferences...", self.open_preferences)
        self.preferences_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.zoom_in_action = self._action("Zoom &In", self.canvas.zoom_in, ["Ctrl++", "Ctrl+="])
        self.zoom_out_action = self._action("Zoom &Out", self.canvas.zoom_out, "Ctrl+-")
        self.fit_action = self._action("&Fit", self.canvas.fit, "Ctrl+0")
        self.actual_action = self._action("&100%", self.canvas.actual_size, "Ctrl+1")
        self.compare_action = QAction("&Compare (split view)", self)
        self.compare_action.setCheckable(True)
        self.compare_action.setShortcut(QKeySequence("Ctrl+K"))
        self.compare_action.setToolTip("Original left of the split line; hold \\ to see the original everywhere")
        self.compare_action.toggled.connect(self.canvas.set_compare)
        self.reload_plugins_action = self._action("&Reload plugins", self.reload_plugins)
        self.repeat_action = self._action("Repeat last filter", self.repeat_last_filter, "Ctrl+F")
        self.batch_action = self._action("&Process Folder...", self.open_batch_dialog, "Ctrl+B")
        self.plugins_action = self._action("&Plugins...", self.open_plugins_dialog)
        self.about_action = self._action("&About", self.about)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        file_menu.addAction(self.save_action)
        file_menu.addAction(self.save_as_action)
        file_menu.addAction(self.export_action)
        file_menu.addAction(self.close_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit = bar.addMenu("&Edit")
        for a in (self.undo_action, self.redo_action, None, self.select_all_action, self.select_none_action, self.invert_action,
                  None, self.preferences_action):
            edit.addSeparator() if a is None else edit.addAction(a)
        self.filter_menu: QMenu = bar.addMenu("F&ilter")
        view = bar.addMenu("&View")
        for a in (self.zoom_in_action, self.zoom_out_action, self.fit_action, self.actual_action, None, self.compare_action):
            view.addSeparator() if a is None else view.addAction(a)
        batch = bar.addMenu("&Batch")
        batch.addAction(self.batch_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.plugins_action)
        help_menu.addAction(self.about_action)

    def _build_toolbar(self) -> None:
        tools = QToolBar("Tools", self)
        tools.setObjectName("tools")
        self.tool_group = QActionGroup(self)
        self.tool_actions: dict[SelectionTool, QAction] = {}
        for tool, label in (
            (SelectionTool.HAND, "Hand"),
            (SelectionTool.RECTANGLE, "Rectangle"),
            (SelectionTool.ELLIPSE, "Ellipse"),
            (SelectionTool.LASSO, "Lasso"),
        ):
            action = QAction(label, self)
            action.setCheckable(True)
            action.triggered.connect(lambda _c=False, t=tool: self.canvas.set_tool(t))
            self.tool_group.addAction(action)
            tools.addAction(action)
            self.tool_actions[tool] = action
        self.tool_actions[self.canvas.tool].setChecked(True)
        tools.addSeparator()
        tools.addWidget(QLabel(" Feather "))
        self.feather_spin = QDoubleSpinBox()
        self.feather_spin.setRange(0.0, 200.0)
        self.feather_spin.setSuffix(" px")
        self.feather_spin.setToolTip("Soft selection edge: Gaussian blur radius of the selection mask")
        self.feather_spin.valueChanged.connect(self._feather_changed)
        self.feather_spin.editingFinished.connect(self._feather_done)
        tools.addWidget(self.feather_spin)
        tools.addSeparator()
        tools.addAction(self.compare_action)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tools)

    def _build_status_bar(self) -> None:
        self.status_fields = StatusFields(self.statusBar())
        f = self.status_fields
        self.size_label, self.zoom_label, self.device_label, self.time_label = f.size_label, f.zoom_label, f.device_label, f.time_label
        self._update_status()

    # ------------------------------------------------------------------ state display
    def _update_title(self) -> None:
        name = self.document.display_name if self.document else "No image"
        self.setWindowTitle(f"{name}[*] - {APP_NAME}")
        self.setWindowModified(bool(self.document and self.document.dirty))

    def _update_status(self) -> None:
        doc = self.document
        if doc is None:
            self.size_label.setText("No image")
        else:
            alpha = " + alpha" if doc.alpha is not None else ""
            self.size_label.setText(f"{doc.width} x {doc.height} px, {doc.image.bit_depth}-bit{alpha}")
        zoom = self.canvas.zoom * 100
        self.zoom_label.setText(f"Zoom {zoom:.0f}%" if abs(zoom - round(zoom)) < 0.05 else f"Zoom {zoom:.1f}%")
        self.device_label.setText(f"Device: {self.last_device}")

    def _update_enabled(self) -> None:
        has = self.document is not None
        for a in (self.save_action, self.save_as_action, self.export_action, self.close_action, self.select_all_action,
                  self.select_none_action, self.invert_action, self.zoom_in_action, self.zoom_out_action,
                  self.fit_action, self.actual_action, self.compare_action):
            a.setEnabled(has)
        for a in self.filter_actions.values():
            a.setEnabled(has and a.property("usable") is True)
        last = self.filter_actions.get(self.settings.last_filter())
        self.repeat_action.setEnabled(has and last is not None and last.property("usable") is True)
        self.repeat_action.setText(f"Repeat {last.text()}" if last is not None else "Repeat last filter")

    def _document_changed(self, doc: EditorDocument) -> None:
        if doc.source_box != self._shown_source_box:
            self._show_original_region(doc)
        self.canvas.set_image(doc.pixels, doc.alpha, doc.image.bit_depth, keep_view=True)
        if doc.selection_mask is None and self.selection is not None and self._selection_size != (doc.width, doc.height):
            self.set_selection(None)
        self._update_title()
        self._update_status()

    _shown_source_box: tuple[float, float, float, float] | None = None

    def _show_original_region(self, doc: EditorDocument) -> None:
        """Compare's "before": the region of the opened original that the current image shows."""
        self._shown_source_box = doc.source_box
        original = self.original_pixels
        if original is None:
            return
        alpha = self._original_alpha
        if doc.source_box is not None:
            x, y, w, h = doc.source_box
            x0, y0 = int(np.floor(x)), int(np.floor(y))
            x1, y1 = int(np.ceil(x + w)), int(np.ceil(y + h))
            original = original[y0:y1, x0:x1]
            alpha = None if alpha is None else alpha[y0:y1, x0:x1]
        self.canvas.set_original(np.ascontiguousarray(original), alpha, self._original_bits)

    def _update_undo_actions(self) -> None:
        history = self.undo_stack
        self.undo_action.setEnabled(history.can_undo())
        self.undo_action.setText(f"&Undo {history.undo_text()}".rstrip())
        self.redo_action.setEnabled(history.can_redo())
        self.redo_action.setText(f"&Redo {history.redo_text()}".rstrip())

    def _clean_changed(self, clean: bool) -> None:
        if self.document is not None:
            self.document.set_dirty(not clean)

    # ------------------------------------------------------------------ files
    def open_dialog(self) -> None:
        """File > Open..."""
        pattern = " ".join(f"*{e}" for e in IMAGE_EXTENSIONS)
        path, _ = QFileDialog.getOpenFileName(self, "Open image", self.settings.last_folder("open"), f"Images ({pattern});;All files (*)")
        if path:
            self.open_file(Path(path))

    def open_file(self, path: Path) -> bool:
        """Open ``path`` (asks first when there are unsaved changes); errors become a message."""
        if not self.maybe_save():
            return False
        from engine.core.errors import ImageTooLargeError
        from engine.imageio.limits import ENV_MAX_PIXELS
        from engine.io import read_image

        limit = None if os.environ.get(ENV_MAX_PIXELS) else self.settings.max_megapixels() * 1_000_000
        try:
            image = read_image(Path(path), max_pixels=limit)
        except ImageTooLargeError as exc:
            message = str(exc).split("; if you trust the file")[0]
            self.show_error("Cannot open image", f"{message}. If you trust the file, raise "
                            "\"Largest image\" in Edit > Preferences and open it again.")
            return False
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            self.show_error("Cannot open image", describe_error(exc))
            return False
        self.set_document(EditorDocument(image, Path(path)))
        self.settings.add_recent_file(Path(path))
        self.settings.set_last_folder("open", Path(path).parent)
        for warning in image.warnings:
            self.statusBar().showMessage(warning, 8000)
        return True

    def set_document(self, doc: EditorDocument | None) -> None:
        """Show ``doc`` (``None``: close); clears the undo history and the selection."""
        self.undo_stack.clear()
        self.document = doc
        self.set_selection(None)
        self.status_fields.clear_timing()
        self.status_fields.show_cursor("")
        self._shown_source_box = None
        if doc is None:
            self.original_pixels = self._original_alpha = None
            self.canvas.clear()
        else:
            doc.add_listener(self._document_changed)
            self.original_pixels, self._original_alpha, self._original_bits = doc.pixels, doc.alpha, doc.image.bit_depth
            self.canvas.set_image(doc.pixels, doc.alpha, doc.image.bit_depth)
            self.canvas.set_original(doc.pixels, doc.alpha, doc.image.bit_depth)
        self.undo_stack.set_clean()
        self._update_title()
        self._update_status()
        self._update_enabled()

    def save(self) -> bool:
        """File > Save: the same file in the same format (see :class:`gui.file_actions.FileActions`)."""
        return self.files.save()

    def save_as(self) -> bool:
        """File > Save As...: a new file of the chosen type."""
        return self.files.save_as()

    def export(self) -> bool:
        """File > Export...: a copy in the chosen format with options."""
        return self.files.export()

    def save_to(self, path: Path) -> bool:
        """Write the document to ``path`` (atomic, keeps bit depth, alpha, ICC, EXIF)."""
        return self.files.save_to(path)

    def close_document(self) -> bool:
        """File > Close."""
        if not self.maybe_save():
            return False
        self.set_document(None)
        return True

    def maybe_save(self) -> bool:
        """Ask Save / Discard / Cancel when there are unsaved changes; False means "stop"."""
        if self.document is None or not self.document.dirty:
            return True
        answer = QMessageBox.question(
            self,
            APP_NAME,
            f"{self.document.display_name} has unsaved changes. Save them?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        self.recent_menu.setToolTipsVisible(True)  # the full path of each entry
        files = self.settings.recent_files()
        for path in files:
            action = self.recent_menu.addAction(path.name)
            action.setToolTip(str(path))
            action.triggered.connect(lambda _c=False, p=path: self.open_file(p))
        if not files:
            none = self.recent_menu.addAction("(none)")
            none.setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self.settings.clear_recent_files)

    # drag and drop ---------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if self._dropped_file(event.mimeData().urls()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        path = self._dropped_file(event.mimeData().urls())
        if path is not None:
            event.acceptProposedAction()
            if not self.community.import_dropped(path):
                self.open_file(path)

    @staticmethod
    def _dropped_file(urls: list[QUrl]) -> Path | None:
        for url in urls:
            if url.isLocalFile():
                return Path(url.toLocalFile())
        return None

    # ------------------------------------------------------------------ selection
    _selection_size: tuple[int, int] = (0, 0)

    def set_selection(self, selection: Selection | None) -> None:
        """Make ``selection`` current (``None``: the whole image)."""
        self.selection = selection
        if selection is not None and selection.feather != self.feather_spin.value():
            self.feather_spin.blockSignals(True)
            self.feather_spin.setValue(selection.feather)
            self.feather_spin.blockSignals(False)
        if self.document is not None:
            self._selection_size = (self.document.width, self.document.height)
            self.document.selection_mask = None
        self.canvas.set_selection(selection)
        self._show_selection_size()

    def _show_selection_size(self) -> None:
        box = None
        if self.selection is not None and self.document is not None:
            rect = self.selection.path.boundingRect().intersected(QRectF(0, 0, self.document.width, self.document.height))
            box = (round(rect.width()), round(rect.height())) if not self.selection.inverted else (self.document.width, self.document.height)
        self.status_fields.show_selection(box)

    def _cursor_moved(self, x: int, y: int) -> None:
        doc = self.document
        if doc is None or x < 0 or y >= doc.height or x >= doc.width:
            self.status_fields.show_cursor("")
            return
        self.status_fields.show_cursor(f"{x}, {y}: {pixel_text(doc.pixels, doc.alpha, x, y, doc.image.bit_depth)}")

    def selection_mask(self) -> np.ndarray | None:
        """The float mask of the current selection, or ``None`` (whole image)."""
        if self.document is None or self.selection is None:
            return None
        if self.document.selection_mask is None:
            self.document.selection_mask = self.selection.mask(self.document.width, self.document.height)
        return self.document.selection_mask

    def select_all(self) -> None:
        if self.document is not None:
            self.set_selection(Selection.rectangle(0, 0, self.document.width, self.document.height))

    def select_none(self) -> None:
        self.set_selection(None)

    def invert_selection(self) -> None:
        if self.document is None:
            return
        if self.selection is None:  # inverting "everything" selects nothing: keep the whole image
            return
        self.set_selection(self.selection.invert())

    def _feather_done(self) -> None:
        """Enter in the Feather box: give the keyboard back to the image (Ctrl+Z undoes the image)."""
        if self.feather_spin.hasFocus():
            self.canvas.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _feather_changed(self, value: float) -> None:
        self.canvas.feather_radius = value
        if self.selection is not None:
            self.set_selection(Selection(self.selection.path, value, self.selection.inverted))

    # ------------------------------------------------------------------ filters
    def rebuild_filter_menu(self, refresh: bool = False) -> None:
        """Rebuild the Filter menu from the registry (``refresh`` rescans the folders)."""
        try:
            infos = _engine_api().list_plugins(refresh=refresh)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            infos = []
            self.show_error("Cannot list plugins", describe_error(exc))
        self.filter_actions = populate_filter_menu(self.filter_menu, infos, self.open_filter_dialog,
                                                   self.reload_plugins_action, self.repeat_action)
        self.community.add_menu(self.filter_menu)
        for info in infos:
            self.filter_actions[info.id].setProperty("usable", info.usable)
        self.notice_bar.show_message(no_filter_notice(infos))
        self._update_enabled()

    def reload_plugins(self) -> None:
        """Filter > Reload plugins: rescan and rebuild the menu."""
        self.rebuild_filter_menu(refresh=True)
        self.statusBar().showMessage(f"{len(self.filter_actions)} plugin(s) found", 4000)

    def _plugin_info(self, plugin_id: str) -> PluginInfo | None:
        try:
            return _engine_api().get_registry().info(plugin_id)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            self.show_error("Filter unavailable", describe_error(exc))
            return None

    def repeat_last_filter(self) -> FilterDialog | None:
        """Filter > Repeat (Ctrl+F): apply the last filter again with its last values at once."""
        plugin_id = self.settings.last_filter()
        if not plugin_id or plugin_id not in self.filter_actions:
            return None
        dialog = self.open_filter_dialog(plugin_id)
        if dialog is not None:
            dialog.start_apply()
        return dialog

    def open_filter_dialog(self, plugin_id: str) -> FilterDialog | None:
        """Open the (window-modal, non-blocking) filter dialog for ``plugin_id`` with the values
        last used with it."""
        if self.document is None:
            return None
        info = self._plugin_info(plugin_id)
        if info is None or not info.usable:
            if info is not None:
                self.show_error("Filter unavailable", f"{info.id}: {info.status.value}. {info.reason}")
            return None
        self._close_filter_dialog()
        api = _engine_api()
        dialog = FilterDialog(info, self.document.pixels, self.selection_mask(), self.canvas.visible_image_rect(),
                              lambda *a, **k: api.apply_filter(*a, **k), self)
        restore_values(dialog, self.settings)
        dialog.applied.connect(lambda result, d=dialog: self.apply_result(d, result))
        dialog.failed.connect(lambda _message: self.rebuild_filter_menu())  # a plugin that failed to load shows disabled
        dialog.preview_ready.connect(lambda d=dialog: self._show_device(d.last_device))
        dialog.finished.connect(lambda _code, d=dialog: self._forget_filter_dialog(d))
        self.filter_dialog = dialog
        dialog.open()
        return dialog

    def _close_filter_dialog(self) -> None:
        if self.filter_dialog is not None:
            dialog = self.filter_dialog
            dialog.close()
            self._forget_filter_dialog(dialog)  # again if close() already did: harmless

    def _forget_filter_dialog(self, dialog: FilterDialog) -> None:
        """A closed filter dialog lets go of the image at once and is deleted by Qt later."""
        dialog.release_images()
        dialog.deleteLater()
        if self.filter_dialog is dialog:
            self.filter_dialog = None

    def apply_result(self, dialog: FilterDialog, result: RunResult) -> None:
        """Turn a finished filter run into one undo step."""
        doc = self.document
        if doc is None:
            return
        label = dialog.manifest.menu or dialog.manifest.name
        remember_values(dialog, self.settings)
        out = np.asarray(result.image, dtype=np.float32)
        if out.shape[:2] == doc.pixels.shape[:2]:
            command = RegionEditCommand.from_result(doc, out, label)
            if command is not None:
                self.undo_stack.push(command)
        else:
            base = doc.image
            area = result.area  # the part of the image the result covers (a selection's box when upscaling)
            box = None if (area.height, area.width) == base.pixels.shape[:2] else area
            if box is not None:
                alpha = None if base.alpha is None else np.ascontiguousarray(base.alpha[area.slices])
                base = base.with_pixels(np.ascontiguousarray(base.pixels[area.slices]), alpha=alpha)
            self.undo_stack.push(ReplaceImageCommand(doc, base.with_pixels(out), label, self._narrowed_source(doc, box)))
            self.canvas.fit()
        self.last_device = result.device
        self.time_label.setText(f"{label}: {result.seconds:.2f} s")
        for warning in result.warnings:
            self.statusBar().showMessage(warning, 8000)
        self._update_status()
        self._update_enabled()  # Filter > Repeat now names this filter

    @staticmethod
    def _narrowed_source(doc: EditorDocument, box: Region | None) -> tuple[float, float, float, float] | None:
        """The original's region a result shows when it replaces ``box`` of the current image."""
        if box is None:
            return doc.source_box
        sx, sy, sw, sh = doc.source_box if doc.source_box is not None else (0.0, 0.0, float(doc.width), float(doc.height))
        fx, fy = sw / doc.width, sh / doc.height
        return (sx + box.x * fx, sy + box.y * fy, box.width * fx, box.height * fy)

    def _show_device(self, device: str) -> None:
        if device:
            self.last_device = device
            self._update_status()

    # ------------------------------------------------------------------ other dialogs
    def open_preferences(self) -> PreferencesDialog:
        """Edit > Preferences... (window-modal); OK applies the undo limits at once."""
        dialog = PreferencesDialog(self.settings, self)
        dialog.accepted.connect(self._apply_preferences)
        dialog.finished.connect(lambda _code, d=dialog: d.deleteLater())
        dialog.open()
        return dialog

    def _apply_preferences(self) -> None:
        """Apply the settings' undo limits to the history and the CPU backend to the engine."""
        self.undo_stack.set_limits(self.settings.undo_steps(), self.settings.undo_memory_mib() * 1024 * 1024)
        _engine_api().set_default_backend(self.settings.cpu_backend())

    def open_batch_dialog(self) -> BatchDialog:
        """Batch > Process Folder... (non-blocking)."""
        from engine import batch

        if self.batch_dialog is None:
            try:
                infos = _engine_api().list_plugins()
            except Exception as exc:  # noqa: BLE001 - every failure becomes a message
                infos = []
                self.show_error("Cannot list plugins", describe_error(exc))
            self.batch_dialog = BatchDialog(infos, lambda *a, **k: batch.run_batch(*a, **k), self)
            self.batch_dialog.input_field.edit.setText(self.settings.last_folder("batch_input"))
            self.batch_dialog.output_field.edit.setText(self.settings.last_folder("batch_output"))
            self.batch_dialog.finished_report.connect(self._batch_finished)
        self.batch_dialog.open()
        return self.batch_dialog

    def _batch_finished(self, report: object) -> None:
        if self.batch_dialog is None:
            return
        for key, field in (("batch_input", self.batch_dialog.input_field), ("batch_output", self.batch_dialog.output_field)):
            path = field.path()
            if path is not None:
                self.settings.set_last_folder(key, path)

    def open_plugins_dialog(self) -> PluginsDialog:
        """Help > Plugins... (non-blocking); Reload there also rebuilds the Filter menu."""
        api = _engine_api()
        if self.plugins_dialog is None:
            self.plugins_dialog = PluginsDialog(
                lambda refresh: api.list_plugins(refresh=refresh), lambda: api.get_registry().user_plugin_dir(), self
            )
            self.plugins_dialog.reloaded.connect(lambda: self.rebuild_filter_menu(refresh=False))
        self.plugins_dialog.open()
        return self.plugins_dialog

    def about(self) -> None:
        """Help > About: version, the app's licence and each model's."""
        try:
            infos = _engine_api().list_plugins()
        except Exception:  # noqa: BLE001 - About still shows the app's part
            infos = []
        QMessageBox.about(self, f"About {APP_NAME}", about_html(APP_NAME, infos))

    def show_error(self, title: str, message: str) -> None:
        """A warning box (never an exception escaping into Qt)."""
        log.warning("%s: %s", title, message)
        QMessageBox.warning(self, title, message)

    # ------------------------------------------------------------------ closing
    def shutdown(self) -> None:
        """Cancel and join every background job owned by the window's dialogs (and a model import)."""
        for dialog in (self.filter_dialog, self.batch_dialog):
            if dialog is not None:
                dialog.shutdown()
        self.community.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if not self.maybe_save():
            event.ignore()
            return
        self.shutdown()
        self.settings.set_geometry(self.saveGeometry())
        self.settings.sync()
        event.accept()


__all__ = ["APP_NAME", "MainWindow"]
