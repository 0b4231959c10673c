"""Filter > Manage plugins: import a community model file as a plugin, remove imported plugins.

:class:`CommunityImport` owns the feature so the main window only needs three hooks:
``add_menu`` after each Filter-menu rebuild, ``import_dropped`` in its drop handler, and the
object itself. Importing is two steps: :func:`engine.model_import.inspect_model` (read with
the restricted loader, detect with spandrel, measure the tiling; seconds, under a wait cursor),
then :class:`ImportModelDialog` shows what was detected and asks for id, name and licence; only
"Import" writes the plugin, and ``changed`` fires so the Filter menu is rebuilt at once.
Removing an imported plugin is one click on its "Remove" entry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from gui.worker import describe_error
from plugins.community.importer import DEFAULT_LICENSE, ImportPlan, check_id_free, default_id, imported_plugins
from plugins.community.model_file import MODEL_SUFFIXES, is_model_file

if TYPE_CHECKING:  # pragma: no cover
    from plugins.registry import PluginRegistry

FILE_FILTER = "Model files (" + " ".join(f"*{s}" for s in sorted(MODEL_SUFFIXES)) + ");;All files (*)"


class ImportModelDialog(QDialog):
    """Shows an :class:`ImportPlan` and asks for id, name and licence; ``accept`` validates the id."""

    def __init__(self, plan: ImportPlan, parent_folder: Path, registry: PluginRegistry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Import {plan.source.name}")
        self.plan = plan
        self._parent_folder = parent_folder
        self._registry = registry
        self.detected = QLabel("\n".join(plan.summary_lines()))
        self.detected.setWordWrap(True)
        self.detected.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.id_edit = QLineEdit(default_id(plan.source))
        self.name_edit = QLineEdit(plan.source.stem)
        self.license_edit = QLineEdit()
        self.license_edit.setPlaceholderText(DEFAULT_LICENSE)
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #c0392b")
        self.error_label.setWordWrap(True)
        form = QFormLayout()
        form.addRow("ID", self.id_edit)
        form.addRow("Name", self.name_edit)
        form.addRow("Licence of the weights", self.license_edit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Detected</b>"))
        layout.addWidget(self.detected)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

    def accept(self) -> None:  # noqa: D102 - Qt API: stays open with the reason when the id is taken
        try:
            check_id_free(self.id_edit.text().strip(), self._parent_folder, self._registry)
        except Exception as exc:  # noqa: BLE001 - shown in the dialog
            self.error_label.setText(describe_error(exc))
            return
        super().accept()


class CommunityImport(QObject):
    """The "Manage plugins" sub-menu, model-file drops and the import/remove actions of one window.

    ``registry()`` returns the app's plugin registry; ``changed`` fires after an import or a
    removal (the window rebuilds its Filter menu); ``failed(title, message)`` reports errors.
    """

    changed = Signal()
    failed = Signal(str, str)

    def __init__(self, parent_widget: QWidget, registry: Callable[[], PluginRegistry]) -> None:
        super().__init__(parent_widget)
        self._widget = parent_widget
        self._registry = registry
        self.dialog: ImportModelDialog | None = None
        self.menu: QMenu | None = None

    def add_menu(self, filter_menu: QMenu) -> QMenu:
        """Append "Manage plugins" (Import model file..., one Remove entry per imported plugin).

        Called after every rebuild of the Filter menu; the previous sub-menu is deleted.
        """
        if self.menu is not None:
            self.menu.setParent(None)
            self.menu.deleteLater()
        menu = filter_menu.addMenu("Manage plugins")
        menu.setObjectName("manage-plugins")
        action = menu.addAction("Import model file...")
        action.setObjectName("import-model")
        action.triggered.connect(lambda _checked=False: self.choose_and_import())
        try:
            imported = imported_plugins(self._registry().plugins())
        except Exception:  # noqa: BLE001 - listing errors are shown by the Filter menu itself
            imported = []
        if imported:
            menu.addSeparator()
        for info in imported:
            remove = menu.addAction(f'Remove "{info.manifest.name}"')
            remove.setObjectName(f"remove:{info.id}")
            remove.setToolTip(f"Delete {info.location} (the original model file is kept)")
            remove.triggered.connect(lambda _checked=False, pid=info.id: self.remove(pid))
        self.menu = menu
        return menu

    def choose_and_import(self) -> ImportModelDialog | None:
        """Ask for a model file, then :meth:`import_file` it."""
        path, _ = QFileDialog.getOpenFileName(self._widget, "Import model file", "", FILE_FILTER)
        return self.import_file(Path(path)) if path else None

    def import_dropped(self, path: Path) -> bool:
        """Handle a dropped file if it is a model file (returns True), else leave it to the caller."""
        if not is_model_file(path):
            return False
        self.import_file(path)
        return True

    def import_file(self, path: Path) -> ImportModelDialog | None:
        """Inspect ``path`` and open the (non-blocking) confirmation dialog; ``None`` on error."""
        from engine.model_import import inspect_model

        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            plan = inspect_model(Path(path))
        except Exception as exc:  # noqa: BLE001 - every failure becomes one message
            self.failed.emit("Cannot import model", describe_error(exc))
            return None
        finally:
            QGuiApplication.restoreOverrideCursor()
        registry = self._registry()
        dialog = ImportModelDialog(plan, registry.user_plugin_dir(), registry, self._widget)
        dialog.accepted.connect(lambda d=dialog: self._write(d))
        self.dialog = dialog
        dialog.open()
        return dialog

    def _write(self, dialog: ImportModelDialog) -> None:
        from plugins.community.importer import write_plugin

        registry = self._registry()
        try:
            write_plugin(
                dialog.plan,
                registry.user_plugin_dir(),
                plugin_id=dialog.id_edit.text().strip(),
                name=dialog.name_edit.text(),
                license_text=dialog.license_edit.text(),
                registry=registry,
            )
        except Exception as exc:  # noqa: BLE001 - every failure becomes one message
            self.failed.emit("Cannot import model", describe_error(exc))
            return
        self.changed.emit()

    def remove(self, plugin_id: str) -> None:
        """Delete the imported plugin ``plugin_id`` (one click; the original file is untouched)."""
        from plugins.community.importer import remove_imported

        try:
            remove_imported(plugin_id, self._registry())
        except Exception as exc:  # noqa: BLE001 - every failure becomes one message
            self.failed.emit("Cannot remove plugin", describe_error(exc))
            return
        self.changed.emit()
