"""Builds the Filter menu from the plugin registry's list.

One sub-menu per task (Denoise, Super-resolution, Derain, Dehaze, Desnow, Other) in the
registry's order, one entry per plugin labelled with its manifest ``menu``. Plugins that
cannot run (weights missing, hash mismatch, import error) appear disabled with the reason as
tooltip; plugins with an invalid manifest are listed under "Unavailable". The last entry is
"Reload plugins".
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from plugins.api import PluginInfo, Task

TASK_LABELS: dict[Task, str] = {
    Task.DENOISE: "Denoise",
    Task.SUPER_RESOLUTION: "Super-resolution",
    Task.DERAIN: "Derain",
    Task.DEHAZE: "Dehaze",
    Task.DESNOW: "Desnow",
    Task.OTHER: "Other",
}


def populate_filter_menu(
    menu: QMenu,
    infos: list[PluginInfo],
    on_trigger: Callable[[str], None],
    reload_action: QAction,
) -> dict[str, QAction]:
    """Clear ``menu`` and fill it; returns the plugin actions by plugin id."""
    menu.clear()
    menu.setToolTipsVisible(True)
    actions: dict[str, QAction] = {}
    submenus: dict[str, QMenu] = {}
    for info in infos:
        m = info.manifest
        group = TASK_LABELS[m.task] if m is not None else "Unavailable"
        sub = submenus.get(group)
        if sub is None:
            sub = menu.addMenu(group)
            sub.setToolTipsVisible(True)
            submenus[group] = sub
        label = (m.menu or m.name) if m is not None else info.location.name
        action = sub.addAction(label)
        action.setObjectName(f"filter:{info.id}")
        if info.usable:
            action.setToolTip(m.description if m and m.description else label)
            action.triggered.connect(lambda _checked=False, pid=info.id: on_trigger(pid))
        else:
            action.setEnabled(False)
            action.setToolTip(f"{info.status.value}: {info.reason}" if info.reason else info.status.value)
        actions[info.id] = action
    if not infos:
        empty = menu.addAction("No plugins found")
        empty.setEnabled(False)
    menu.addSeparator()
    menu.addAction(reload_action)
    return actions
