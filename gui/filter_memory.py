"""Last-used filter values: restored when a filter dialog opens, saved when it applies.

Values live in :class:`gui.settings.AppSettings` per plugin id (parameters by name plus the
strength under :data:`STRENGTH_KEY`). A remembered value the plugin no longer has, or one its
editor refuses, is skipped, so a plugin update never breaks its dialog.
"""

from __future__ import annotations

import logging

from gui.filter_dialog import FilterDialog
from gui.settings import AppSettings

log = logging.getLogger(__name__)

STRENGTH_KEY = "@strength"


def remember_values(dialog: FilterDialog, settings: AppSettings) -> None:
    """Store the dialog's parameters and strength as the last used with its plugin."""
    values: dict[str, object] = dict(dialog.params())
    values[STRENGTH_KEY] = dialog.options_form.strength.value()
    settings.set_filter_values(dialog.manifest.id, values)
    settings.set_last_filter(dialog.manifest.id)


def restore_values(dialog: FilterDialog, settings: AppSettings) -> None:
    """Put the remembered values of the dialog's plugin into its editors (unknown ones skipped)."""
    values = settings.filter_values(dialog.manifest.id)
    strength = values.pop(STRENGTH_KEY, None)
    if isinstance(strength, int | float):
        dialog.options_form.strength.setValue(int(strength))
    names = {spec.name for spec in dialog.manifest.parameters}
    for name, value in values.items():
        if name not in names or not isinstance(value, str | int | float | bool):
            continue
        try:
            dialog.form.set_value(name, value)
        except (KeyError, TypeError, ValueError) as exc:
            log.info("remembered value %s=%r of %s skipped: %s", name, value, dialog.manifest.id, exc)


__all__ = ["STRENGTH_KEY", "remember_values", "restore_values"]
