"""Persistent UI state through ``QSettings``: geometry, recent files, last folders, undo memory,
the last-used values of each filter, the last filter run (Filter > Repeat) and the pixel limit.

The window receives an :class:`AppSettings`; the app uses the platform's native location
(organisation "Clarity Studio", application "Clarity Studio"), tests pass a ``QSettings`` on a
temporary INI file so they never touch the user's settings.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from gui.history import DEFAULT_MAX_BYTES, DEFAULT_MAX_STEPS

ORGANIZATION = "Clarity Studio"
APPLICATION = "Clarity Studio"
MAX_RECENT = 10
DEFAULT_UNDO_STEPS = DEFAULT_MAX_STEPS
MAX_UNDO_STEPS = 200
DEFAULT_UNDO_MEMORY_MIB = DEFAULT_MAX_BYTES // (1024 * 1024)
MIN_UNDO_MEMORY_MIB = 64
MAX_UNDO_MEMORY_MIB = 1024 * 1024
DEFAULT_MAX_MEGAPIXELS = 200
"""Largest image opened, in megapixels (the engine's default limit; ``$CLARITY_MAX_PIXELS`` wins)."""
MIN_MAX_MEGAPIXELS = 1
MAX_MAX_MEGAPIXELS = 10_000


def default_settings() -> QSettings:
    """The user's settings store."""
    return QSettings(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


class AppSettings:
    """Typed accessors over a ``QSettings`` store."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else default_settings()

    # -- recent files -------------------------------------------------------------------------
    def recent_files(self) -> list[Path]:
        """Most recent first; files that no longer exist are dropped."""
        raw = self.store.value("recent_files", [])
        items = [raw] if isinstance(raw, str) else list(raw or [])
        return [Path(p) for p in items if p and Path(p).exists()][:MAX_RECENT]

    def add_recent_file(self, path: Path) -> None:
        """Put ``path`` first in the recent list."""
        path = Path(path).resolve()
        items = [str(path)] + [str(p) for p in self.recent_files() if p.resolve() != path]
        self.store.setValue("recent_files", items[:MAX_RECENT])

    def clear_recent_files(self) -> None:
        self.store.setValue("recent_files", [])

    # -- folders ---------------------------------------------------------------------------
    def last_folder(self, key: str) -> str:
        """Last folder used for ``key`` ("open", "save", "batch_input", "batch_output"), or ""."""
        value = self.store.value(f"folders/{key}", "")
        return str(value) if value else ""

    def set_last_folder(self, key: str, folder: Path) -> None:
        self.store.setValue(f"folders/{key}", str(folder))

    # -- undo history ------------------------------------------------------------------------
    def _int(self, key: str, default: int, low: int, high: int) -> int:
        """An integer setting clamped to ``[low, high]``; a missing or garbled value gives ``default``."""
        try:
            value = int(self.store.value(key, default))
        except (TypeError, ValueError):
            value = default
        return min(high, max(low, value))

    def undo_steps(self) -> int:
        """Filter applications kept for undo (``history/steps``, 1..200)."""
        return self._int("history/steps", DEFAULT_UNDO_STEPS, 1, MAX_UNDO_STEPS)

    def set_undo_steps(self, steps: int) -> None:
        self.store.setValue("history/steps", int(steps))

    def undo_memory_mib(self) -> int:
        """Pixel memory the undo history may hold, in MiB (``history/memory_mib``, at least 64)."""
        return self._int("history/memory_mib", DEFAULT_UNDO_MEMORY_MIB, MIN_UNDO_MEMORY_MIB, MAX_UNDO_MEMORY_MIB)

    def set_undo_memory_mib(self, mib: int) -> None:
        self.store.setValue("history/memory_mib", int(mib))

    # -- filters -------------------------------------------------------------------------------
    def filter_values(self, plugin_id: str) -> dict[str, object]:
        """The parameter values last used with ``plugin_id`` (``{}`` if none or unreadable)."""
        raw = self.store.value(f"filters/{plugin_id}/values", "")
        try:
            values = json.loads(str(raw)) if raw else {}
        except ValueError:
            return {}
        return values if isinstance(values, dict) else {}

    def set_filter_values(self, plugin_id: str, values: dict[str, object]) -> None:
        """Remember ``values`` (JSON-serialisable) as the last used with ``plugin_id``."""
        self.store.setValue(f"filters/{plugin_id}/values", json.dumps(values, sort_keys=True))

    def last_filter(self) -> str:
        """The id of the filter applied last ("" if none), for Filter > Repeat."""
        value = self.store.value("filters/last", "")
        return str(value) if value else ""

    def set_last_filter(self, plugin_id: str) -> None:
        self.store.setValue("filters/last", plugin_id)

    # -- image size limit --------------------------------------------------------------------
    def max_megapixels(self) -> int:
        """Images above this many megapixels are refused on open (``images/max_megapixels``)."""
        return self._int("images/max_megapixels", DEFAULT_MAX_MEGAPIXELS, MIN_MAX_MEGAPIXELS, MAX_MAX_MEGAPIXELS)

    def set_max_megapixels(self, megapixels: int) -> None:
        self.store.setValue("images/max_megapixels", int(megapixels))

    # -- CPU backend ---------------------------------------------------------------------------
    def cpu_backend(self) -> str:
        """What runs filters on the CPU (``engine/backend``): "auto" (default), "torch" or "onnx"."""
        value = str(self.store.value("engine/backend", "auto"))
        return value if value in ("auto", "torch", "onnx") else "auto"

    def set_cpu_backend(self, backend: str) -> None:
        self.store.setValue("engine/backend", str(backend))

    # -- geometry ------------------------------------------------------------------------------
    def geometry(self) -> QByteArray | None:
        value = self.store.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_geometry(self, geometry: QByteArray) -> None:
        self.store.setValue("window/geometry", geometry)

    def sync(self) -> None:
        self.store.sync()
