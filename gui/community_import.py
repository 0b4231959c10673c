"""Filter > Manage plugins: import a community model file as a plugin, remove imported plugins.

:class:`CommunityImport` owns the feature so the main window only needs three hooks:
``add_menu`` after each Filter-menu rebuild, ``import_dropped`` in its drop handler, and the
object itself. Importing is two steps, each a :class:`gui.worker.Job` (the app's one adapter for
engine work) so the window never freezes, with a progress dialog whose Cancel stops the job:

1. :func:`engine.model_import.inspect_model` (read with the restricted loader, detect with
   spandrel, measure the tiling: seconds for small models, a minute or more for large ones);
2. :class:`ImportModelDialog` shows what was detected and asks for id, name and licence; only
   "Import" runs :func:`plugins.community.importer.write_plugin` (converts the weights), and
   ``changed`` fires so the Filter menu is rebuilt at once.

Cancelling either step leaves nothing behind (the plugin is written into a hidden staging folder
that is removed, and renamed into place only at the very end). Errors become one message via
``failed``. One import runs at a time. Removing an imported plugin is one click on its "Remove" entry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressDialog,
    QVBoxLayout,
    QWidget,
)

from gui.worker import Job, describe_error
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


def progress_dialog(title: str, parent: QWidget) -> QProgressDialog:
    """A progress dialog with Cancel, shown after half a second; closed by its owner.

    Not modal: a modal QProgressDialog runs a nested event loop inside ``setValue``, and the
    window stays usable while a model is measured (a second import is refused meanwhile).
    """
    dialog = QProgressDialog(title, "Cancel", 0, 0, parent)
    dialog.setWindowTitle(title)
    dialog.setWindowModality(Qt.WindowModality.NonModal)
    dialog.setMinimumDuration(500)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    dialog.setValue(0)
    return dialog


class CommunityImport(QObject):
    """The "Manage plugins" sub-menu, model-file drops and the import/remove actions of one window.

    ``registry()`` returns the app's plugin registry; ``changed`` fires after an import or a
    removal (the window rebuilds its Filter menu); ``failed(title, message)`` reports errors;
    ``cancelled`` fires when the user cancelled an inspection or a write. ``job`` is the running
    :class:`Job` (``None`` when idle) and ``progress`` its dialog.
    """

    changed = Signal()
    failed = Signal(str, str)
    cancelled = Signal()

    def __init__(self, parent_widget: QWidget, registry: Callable[[], PluginRegistry]) -> None:
        super().__init__(parent_widget)
        self._widget = parent_widget
        self._registry = registry
        self.dialog: ImportModelDialog | None = None
        self.menu: QMenu | None = None
        self.job: Job | None = None
        self.progress: QProgressDialog | None = None

    def add_menu(self, filter_menu: QMenu) -> QMenu:
        """Append "Manage plugins" (Import model file..., one Remove entry per imported plugin).

        Called after every rebuild of the Filter menu; the previous sub-menu is deleted.
        """
        if self.menu is not None:
            self.menu.deleteLater()  # not at once: this may run inside one of its own actions
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

    def choose_and_import(self) -> Job | None:
        """Ask for a model file, then :meth:`import_file` it."""
        path, _ = QFileDialog.getOpenFileName(self._widget, "Import model file", "", FILE_FILTER)
        return self.import_file(Path(path)) if path else None

    def import_dropped(self, path: Path) -> bool:
        """Handle a dropped file if it is a model file (returns True), else leave it to the caller."""
        if not is_model_file(path):
            return False
        self.import_file(path)
        return True

    def busy(self) -> bool:
        """True from the start of an inspection or a write until its ``done`` has been handled.

        The worker thread stops a moment before its end is relayed to the GUI thread; until then
        the progress dialog is still open, so the import still counts as running. (A new import is
        refused only while the worker thread itself runs.)
        """
        return self.job is not None

    def import_file(self, path: Path) -> Job | None:
        """Start inspecting ``path`` on a worker; the confirmation dialog opens when it is done.

        Returns the job (``None`` when another import is still running: that is reported).
        """
        from engine.model_import import inspect_model

        path = Path(path)
        return self._start(
            lambda report, cancel: inspect_model(path, progress=report, cancel=cancel),
            f"Inspecting {path.name}",
            self._inspected,
        )

    def _start(self, task: Callable, title: str, on_finished: Callable[[object], None]) -> Job | None:  # type: ignore[type-arg]
        if self.job is not None and self.job.is_running():
            self.failed.emit("Cannot import model", "another model import is still running; wait for it or cancel it")
            return None
        job = Job(task, name="clarity-model-import", parent=self)
        progress = progress_dialog(title, self._widget)
        progress.canceled.connect(job.cancel)
        job.report.connect(lambda p: progress.setLabelText(f"{title}: {getattr(p, 'message', '')}"))
        job.progress.connect(lambda done, total: (progress.setMaximum(total), progress.setValue(done)))
        job.finished.connect(on_finished)
        job.failed.connect(lambda message: self.failed.emit("Cannot import model", message))
        job.cancelled.connect(self.cancelled.emit)
        job.done.connect(lambda: self._job_done(job, progress))
        self.job, self.progress = job, progress
        return job.start()

    def _job_done(self, job: Job, progress: QProgressDialog) -> None:
        progress.canceled.disconnect()  # closing a QProgressDialog emits canceled
        progress.close()
        progress.deleteLater()
        if self.progress is progress:
            self.progress = None
        if self.job is job:
            self.job = None

    def cancel(self) -> None:
        """Cancel the running inspection or write (as the progress dialog's Cancel does)."""
        if self.job is not None:
            self.job.cancel()

    def shutdown(self) -> None:
        """Cancel and join the running job (window closing)."""
        if self.job is not None:
            self.job.shutdown()

    def _inspected(self, plan: object) -> None:
        assert isinstance(plan, ImportPlan)
        registry = self._registry()
        dialog = ImportModelDialog(plan, registry.user_plugin_dir(), registry, self._widget)
        dialog.accepted.connect(lambda d=dialog: self._write(d))
        self.dialog = dialog
        dialog.open()

    def _write(self, dialog: ImportModelDialog) -> Job | None:
        from plugins.community.importer import write_plugin
        from plugins.community.measure import Steps

        registry = self._registry()
        parent = registry.user_plugin_dir()
        plugin_id, name, license_text = dialog.id_edit.text().strip(), dialog.name_edit.text(), dialog.license_edit.text()

        def task(_report: Callable, cancel: object) -> Path:  # type: ignore[type-arg]
            steps = Steps(None, lambda: bool(getattr(cancel, "cancelled", False)))
            return write_plugin(dialog.plan, parent, plugin_id=plugin_id, name=name, license_text=license_text,
                                registry=registry, steps=steps)  # fmt: skip

        return self._start(task, f"Writing plugin {plugin_id}", lambda _folder: self.changed.emit())

    def remove(self, plugin_id: str) -> None:
        """Delete the imported plugin ``plugin_id`` (one click; the original file is untouched)."""
        from plugins.community.importer import remove_imported

        try:
            remove_imported(plugin_id, self._registry())
        except Exception as exc:  # noqa: BLE001 - every failure becomes one message
            self.failed.emit("Cannot remove plugin", describe_error(exc))
            return
        self.changed.emit()
