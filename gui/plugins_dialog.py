"""Help > Plugins...: every discovered plugin with its health, Reload, Open user plugin folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from plugins.api import PluginInfo

COLUMNS: tuple[str, ...] = ("Name", "ID", "Source", "Version", "Task", "License", "Weights", "Reason")


def plugin_row(info: PluginInfo) -> tuple[str, ...]:
    """The table cells for one plugin (invalid manifests show the folder name)."""
    m = info.manifest
    return (
        m.name if m else info.location.name,
        info.id,
        info.source.value,
        m.version if m else "",
        m.task.value if m else "",
        m.license if m else "",
        info.status.value,
        info.reason,
    )


class PluginsDialog(QDialog):
    """A table of plugins; ``reloaded`` fires after Reload rescanned the folders."""

    reloaded = Signal()

    def __init__(
        self,
        list_plugins: Callable[[bool], list[PluginInfo]],
        user_plugin_dir: Callable[[], Path],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Plugins")
        self.resize(900, 360)
        self._list_plugins = list_plugins
        self._user_plugin_dir = user_plugin_dir
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.summary = QLabel()
        self.reload_button = QPushButton("Reload")
        self.reload_button.clicked.connect(self.reload)
        self.open_folder_button = QPushButton("Open user plugin folder")
        self.open_folder_button.clicked.connect(self.open_user_folder)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.reload_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.open_folder_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.summary)
        layout.addWidget(buttons)
        self.populate(self._list_plugins(False))

    def populate(self, infos: list[PluginInfo]) -> None:
        """Fill the table from ``infos``."""
        self.table.setRowCount(len(infos))
        for row, info in enumerate(infos):
            for col, text in enumerate(plugin_row(info)):
                item = QTableWidgetItem(text)
                item.setToolTip(info.reason or str(info.location))
                self.table.setItem(row, col, item)
        usable = sum(1 for i in infos if i.usable)
        self.summary.setText(f"{len(infos)} plugin(s), {usable} usable. User plugin folder: {self._user_plugin_dir()}")

    def reload(self) -> None:
        """Rescan the plugin folders and refresh the table."""
        self.populate(self._list_plugins(True))
        self.reloaded.emit()

    def open_user_folder(self) -> Path:
        """Create the user plugin folder if needed and show it in the file manager."""
        folder = self._user_plugin_dir()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
        return folder
