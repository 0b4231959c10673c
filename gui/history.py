"""Undo/redo of filter applications, bounded by steps *and* by memory.

One filter application is one :class:`EditCommand`. Each command keeps exactly one copy of the
pixels it changed: the state that is *not* currently in the document. ``redo`` and ``undo``
swap that copy with the document's pixels, so a step costs one copy of its changed region
instead of a before and an after copy.

- :class:`RegionEditCommand` stores only the bounding box of the pixels that changed, so a
  small selection on a large photo costs little.
- :class:`ReplaceImageCommand` stores a whole image; it is used when the size changes
  (super-resolution).

:class:`EditHistory` keeps at most ``max_steps`` steps and at most ``max_bytes`` of stored
pixels: after each push it forgets the oldest steps until both limits hold, but it always keeps
the last applied step, so the last filter can be undone even when it alone exceeds the budget. A
step count alone is not enough for a photo editor: thirty full-image steps of a 50-megapixel
photo would hold 18 GB.

Commands are pushed *after* the edit has been computed: :meth:`EditHistory.push` calls the
command's first ``redo()``, which writes the new pixels into the document. The unsaved flag
follows the history's clean state (``clean_changed``), so undoing back to the saved state
clears it; once the saved state's step has been forgotten the clean state is unreachable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.core.types import Region
from gui.document import EditorDocument

if TYPE_CHECKING:  # pragma: no cover
    from engine.io import ImageDocument

DEFAULT_MAX_STEPS = 30
"""Filter applications kept for undo."""
DEFAULT_MAX_BYTES = 1024 * 1024 * 1024
"""Pixel memory the undo history may hold (1 GiB); the newest step is kept even if larger."""


class EditCommand(Protocol):
    """One undoable edit. ``redo`` and ``undo`` are called strictly alternately, starting with
    ``redo``; ``stored_bytes`` is the pixel memory the command holds right now."""

    text: str

    @property
    def stored_bytes(self) -> int: ...

    def redo(self) -> None: ...

    def undo(self) -> None: ...


def changed_bbox(before: np.ndarray, after: np.ndarray) -> Region | None:
    """The rectangle of the pixels that differ between two same-sized images (``None``: none)."""
    diff = np.any(before != after, axis=2) if before.ndim == 3 else before != after
    return Region.bounding(diff)


class RegionEditCommand:
    """One rectangle of the document; holds the rectangle's pixels of the state not shown."""

    def __init__(self, document: EditorDocument, x: int, y: int, after: np.ndarray, text: str) -> None:
        """``after``: the rectangle's new pixels (owned by the command), written by the first ``redo``."""
        self.text = text
        self._doc = document
        self.x, self.y = x, y
        self._other = after

    @classmethod
    def from_result(cls, document: EditorDocument, new_pixels: np.ndarray, text: str) -> RegionEditCommand | None:
        """The command turning the document's pixels into ``new_pixels`` (same size), storing
        only the bounding box of the pixels that changed; ``None`` when nothing changed."""
        box = changed_bbox(document.pixels, new_pixels)
        if box is None:
            return None
        return cls(document, box.x, box.y, new_pixels[box.slices].copy(), text)

    @property
    def stored_bytes(self) -> int:
        return int(self._other.nbytes)

    def _swap(self) -> None:
        h, w = self._other.shape[:2]
        shown, _ = self._doc.region(self.x, self.y, w, h)
        self._doc.replace_region(self.x, self.y, self._other)
        self._other = shown

    def redo(self) -> None:
        self._swap()

    def undo(self) -> None:
        self._swap()


class ReplaceImageCommand:
    """A whole image (the size changed, e.g. super-resolution); holds the image not shown.

    ``source_box`` is the part of the opened original that ``after`` shows (see
    :attr:`gui.document.EditorDocument.source_box`); undo and redo swap it with the image.
    """

    def __init__(self, document: EditorDocument, after: ImageDocument, text: str,
                 source_box: tuple[float, float, float, float] | None = None) -> None:
        self.text = text
        self._doc = document
        self._other = after
        self._other_selection: np.ndarray | None = None
        self._other_source = source_box

    @property
    def stored_bytes(self) -> int:
        alpha = self._other.alpha
        return int(self._other.pixels.nbytes + (0 if alpha is None else alpha.nbytes))

    def _swap(self) -> None:
        shown, shown_selection, shown_source = self._doc.image, self._doc.selection_mask, self._doc.source_box
        self._doc.source_box = self._other_source  # before replace_image: its listeners read it
        self._doc.replace_image(self._other)
        if self._other_selection is not None and self._other_selection.shape == self._doc.pixels.shape[:2]:
            self._doc.selection_mask = self._other_selection
        self._other, self._other_selection, self._other_source = shown, shown_selection, shown_source

    def redo(self) -> None:
        self._swap()

    def undo(self) -> None:
        self._swap()


class EditHistory(QObject):
    """A linear undo history with a step limit and a memory budget.

    ``index`` is the number of steps currently applied (0..``count``); steps past it can be
    redone until the next push discards them.
    """

    changed = Signal()
    """Anything the Undo/Redo actions show may have changed."""
    clean_changed = Signal(bool)
    """The document reached (True) or left (False) the state marked by :meth:`set_clean`."""

    def __init__(self, max_steps: int = DEFAULT_MAX_STEPS, max_bytes: int = DEFAULT_MAX_BYTES, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._steps: list[EditCommand] = []
        self._index = 0
        self._clean_index: int | None = 0
        self.max_steps, self.max_bytes = DEFAULT_MAX_STEPS, DEFAULT_MAX_BYTES
        self.set_limits(max_steps, max_bytes)

    def set_limits(self, max_steps: int, max_bytes: int) -> None:
        """Change the limits; steps beyond the new ones are forgotten now (oldest first)."""
        if max_steps < 1 or max_bytes < 0:
            raise ValueError(f"the undo history needs max_steps >= 1 and max_bytes >= 0 (got {max_steps}, {max_bytes})")
        self.max_steps, self.max_bytes = max_steps, max_bytes
        was_clean = self.is_clean()
        if self._enforce_limits():
            self._changed(was_clean)

    # -- queries -----------------------------------------------------------------------------
    def count(self) -> int:
        """Steps held (applied plus redoable)."""
        return len(self._steps)

    def index(self) -> int:
        """Steps currently applied."""
        return self._index

    def can_undo(self) -> bool:
        return self._index > 0

    def can_redo(self) -> bool:
        return self._index < len(self._steps)

    def undo_text(self) -> str:
        return self._steps[self._index - 1].text if self.can_undo() else ""

    def redo_text(self) -> str:
        return self._steps[self._index].text if self.can_redo() else ""

    def stored_bytes(self) -> int:
        """Pixel memory held by every step."""
        return sum(step.stored_bytes for step in self._steps)

    def is_clean(self) -> bool:
        return self._clean_index == self._index

    # -- changes ---------------------------------------------------------------------------
    def push(self, command: EditCommand) -> None:
        """Apply ``command`` (its first ``redo``), drop the redoable steps, enforce the limits."""
        was_clean = self.is_clean()
        command.redo()
        del self._steps[self._index :]
        if self._clean_index is not None and self._clean_index > self._index:
            self._clean_index = None
        self._steps.append(command)
        self._index = len(self._steps)
        self._enforce_limits()
        self._changed(was_clean)

    def undo(self) -> None:
        if self.can_undo():
            was_clean = self.is_clean()
            self._index -= 1
            self._steps[self._index].undo()
            self._changed(was_clean)

    def redo(self) -> None:
        if self.can_redo():
            was_clean = self.is_clean()
            self._steps[self._index].redo()
            self._index += 1
            self._changed(was_clean)

    def clear(self) -> None:
        """Forget every step; the current state becomes the clean one."""
        was_clean = self.is_clean()
        self._steps.clear()
        self._index = 0
        self._clean_index = 0
        self._changed(was_clean)

    def set_clean(self) -> None:
        """Mark the current state as saved."""
        was_clean = self.is_clean()
        self._clean_index = self._index
        self._changed(was_clean)

    def _enforce_limits(self) -> int:
        """Forget the oldest steps until the limits hold; returns how many.

        Only applied steps are forgotten, and never the last applied one, so the latest edit can
        always be undone; redoable steps are kept (they go with the next push).
        """
        drop = 0
        total = self.stored_bytes()
        while drop < self._index - 1 and (len(self._steps) - drop > self.max_steps or total > self.max_bytes):
            total -= self._steps[drop].stored_bytes
            drop += 1
        if drop:
            del self._steps[:drop]
            self._index -= drop
            if self._clean_index is not None:
                self._clean_index = self._clean_index - drop if self._clean_index >= drop else None
        return drop

    def _changed(self, was_clean: bool) -> None:
        self.changed.emit()
        if self.is_clean() != was_clean:
            self.clean_changed.emit(self.is_clean())


__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_STEPS",
    "EditCommand",
    "EditHistory",
    "RegionEditCommand",
    "ReplaceImageCommand",
    "changed_bbox",
]
