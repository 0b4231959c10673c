"""Undo/redo of filter applications with ``QUndoStack`` commands.

One filter application is one undo step. :class:`RegionEditCommand` stores only the changed
rectangle's before/after pixels (and alpha), so a small selection on a large photo costs
little memory. :class:`ReplaceImageCommand` stores the whole before/after images; it is used
when the size changes (super-resolution).

Commands are pushed *after* the edit has been computed: the first ``redo()`` (called by
``QUndoStack.push``) writes the new pixels into the document. The unsaved flag follows the
stack's clean state (the main window connects ``cleanChanged``), so undoing back to the
saved state clears it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtGui import QUndoCommand

from gui.document import EditorDocument
from gui.selection import mask_bbox

if TYPE_CHECKING:  # pragma: no cover
    from engine.io import ImageDocument


def changed_bbox(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x, y, w, h)`` of the pixels that differ between two same-sized images (``None``: none)."""
    diff = np.any(before != after, axis=2) if before.ndim == 3 else before != after
    return mask_bbox(diff.astype(np.float32))


class RegionEditCommand(QUndoCommand):
    """Before/after copies of one rectangle of the document."""

    def __init__(
        self,
        document: EditorDocument,
        x: int,
        y: int,
        before: np.ndarray,
        after: np.ndarray,
        text: str,
        before_alpha: np.ndarray | None = None,
        after_alpha: np.ndarray | None = None,
    ) -> None:
        super().__init__(text)
        self._doc = document
        self.x, self.y = x, y
        self._before, self._after = before, after
        self._before_alpha, self._after_alpha = before_alpha, after_alpha

    @classmethod
    def from_result(cls, document: EditorDocument, new_pixels: np.ndarray, text: str) -> RegionEditCommand | None:
        """The command turning the document's pixels into ``new_pixels`` (same size), storing
        only the bounding box of the pixels that changed; ``None`` when nothing changed."""
        box = changed_bbox(document.pixels, new_pixels)
        if box is None:
            return None
        x, y, w, h = box
        before, _ = document.region(x, y, w, h)
        after = new_pixels[y : y + h, x : x + w].copy()
        return cls(document, x, y, before, after, text)

    @property
    def stored_bytes(self) -> int:
        """Memory held by this step (both copies)."""
        return int(self._before.nbytes + self._after.nbytes)

    def redo(self) -> None:
        self._doc.replace_region(self.x, self.y, self._after, self._after_alpha)

    def undo(self) -> None:
        self._doc.replace_region(self.x, self.y, self._before, self._before_alpha)


class ReplaceImageCommand(QUndoCommand):
    """Whole before/after images (the size changed, e.g. super-resolution)."""

    def __init__(self, document: EditorDocument, after: ImageDocument, text: str) -> None:
        super().__init__(text)
        self._doc = document
        self._before = document.image
        self._before_selection = document.selection_mask
        self._after = after

    @property
    def stored_bytes(self) -> int:
        return int(self._before.pixels.nbytes + self._after.pixels.nbytes)

    def redo(self) -> None:
        self._doc.replace_image(self._after)

    def undo(self) -> None:
        self._doc.replace_image(self._before)
        self._doc.selection_mask = self._before_selection
