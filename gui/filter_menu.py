"""Builds the Filter menu from the plugin registry's list.

One sub-menu per task (Denoise, Super-resolution, Derain, Dehaze, Desnow, Other) in the
registry's order, one entry per plugin labelled with its manifest ``menu``; inside a sub-menu
the default filters come before the reference ones (a menu label or name that says
"reference"). Plugins that cannot run (weights missing, hash mismatch, import error) appear
disabled, with a short reason in the label ("Denoise (no weights)") and the full reason as
tooltip; plugins with an invalid manifest are listed under "Unavailable". The last entries are
"Repeat" (given by the window) and "Reload plugins".

Rebuilding (after a reload, an import or a removal) deletes the previous task sub-menus: a
menu rebuilt any number of times holds exactly one sub-menu per task.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from plugins.api import PluginInfo, Task, WeightsStatus

TASK_LABELS: dict[Task, str] = {
    Task.DENOISE: "Denoise",
    Task.SUPER_RESOLUTION: "Super-resolution",
    Task.DERAIN: "Derain",
    Task.DEHAZE: "Dehaze",
    Task.DESNOW: "Desnow",
    Task.OTHER: "Other",
}

GROUP_PROPERTY = "clarity-filter-group"
"""Qt property naming the task of a sub-menu created by :func:`populate_filter_menu`."""

SHORT_REASONS: dict[WeightsStatus, str] = {
    WeightsStatus.MISSING: "no weights",
    WeightsStatus.HASH_MISMATCH: "weights damaged",
    WeightsStatus.IMPORT_ERROR: "failed to load",
    WeightsStatus.INVALID_MANIFEST: "invalid manifest",
}


def is_reference(info: PluginInfo) -> bool:
    """True for a reference (baseline) model, listed after the default filter of its task."""
    m = info.manifest
    return m is not None and "reference" in f"{m.menu} {m.name}".lower()


def menu_order(infos: list[PluginInfo]) -> list[PluginInfo]:
    """``infos`` with each task's reference models after its other filters (otherwise stable)."""
    return sorted(infos, key=is_reference)


def populate_filter_menu(
    menu: QMenu,
    infos: list[PluginInfo],
    on_trigger: Callable[[str], None],
    reload_action: QAction,
    repeat_action: QAction | None = None,
) -> dict[str, QAction]:
    """Clear ``menu`` and fill it; returns the plugin actions by plugin id.

    The task sub-menus of a previous call are deleted when control returns to the event loop
    (``deleteLater``: a rebuild may be triggered from one of their own actions), so they never
    accumulate.
    """
    for old in menu.findChildren(QMenu, options=Qt.FindChildOption.FindDirectChildrenOnly):
        if old.property(GROUP_PROPERTY) is not None:
            old.deleteLater()
    menu.clear()
    menu.setToolTipsVisible(True)
    actions: dict[str, QAction] = {}
    submenus: dict[str, QMenu] = {}
    if repeat_action is not None:
        menu.addAction(repeat_action)
        menu.addSeparator()
    for info in menu_order(infos):
        m = info.manifest
        group = TASK_LABELS[m.task] if m is not None else "Unavailable"
        sub = submenus.get(group)
        if sub is None:
            sub = menu.addMenu(group)
            sub.setProperty(GROUP_PROPERTY, group)
            sub.setToolTipsVisible(True)
            submenus[group] = sub
        label = (m.menu or m.name) if m is not None else info.location.name
        action = sub.addAction(label)
        action.setObjectName(f"filter:{info.id}")
        if info.usable:
            action.setToolTip(m.description if m and m.description else label)
            action.triggered.connect(lambda _checked=False, pid=info.id: on_trigger(pid))
        else:
            action.setText(f"{label} ({SHORT_REASONS.get(info.status, info.status.value)})")
            action.setEnabled(False)
            action.setToolTip(f"{info.status.value}: {info.reason}" if info.reason else info.status.value)
        actions[info.id] = action
    if not infos:
        empty = menu.addAction("No plugins found")
        empty.setEnabled(False)
    menu.addSeparator()
    menu.addAction(reload_action)
    return actions
