"""The open image as a Qt-free model: pixels + file path + unsaved flag + selection mask.

:class:`EditorDocument` wraps an :class:`engine.io.ImageDocument` (pixels, alpha, bit depth,
ICC, EXIF...). Edits replace the pixels of a rectangle (:meth:`replace_region`) or the whole
image (:meth:`replace_image`); both mark the document dirty. Listeners registered with
:meth:`add_listener` are called after every change (the canvas redraws, the window updates
its title). Undo/redo is done by :mod:`gui.history` through the same two methods.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from engine.io import ImageDocument

Listener = Callable[["EditorDocument"], None]


class EditorDocument:
    """The image being edited in one window."""

    def __init__(self, image: ImageDocument, path: Path | None = None) -> None:
        self._image = image
        self.path: Path | None = Path(path) if path is not None else None
        self._dirty = False
        self.selection_mask: np.ndarray | None = None
        self.source_box: tuple[float, float, float, float] | None = None
        """``(x, y, w, h)`` of the opened original that the current pixels show, in the original's
        pixels (``None``: all of it). Super-resolution of a selection narrows it; compare uses it to
        set the same region of the original beside the result."""
        self._listeners: list[Listener] = []

    # -- state ------------------------------------------------------------------------------
    @property
    def image(self) -> ImageDocument:
        """The current :class:`engine.io.ImageDocument` (immutable; edits make a new one)."""
        return self._image

    @property
    def pixels(self) -> np.ndarray:
        """Current ``(H, W, C)`` float32 pixels."""
        return self._image.pixels

    @property
    def alpha(self) -> np.ndarray | None:
        """Current ``(H, W)`` alpha, or ``None``."""
        return self._image.alpha

    @property
    def width(self) -> int:
        return int(self._image.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self._image.pixels.shape[0])

    @property
    def dirty(self) -> bool:
        """True when there are unsaved changes."""
        return self._dirty

    @property
    def display_name(self) -> str:
        """File name for the title bar (``"Untitled"`` for a new image)."""
        return self.path.name if self.path is not None else "Untitled"

    def set_dirty(self, dirty: bool) -> None:
        """Mark saved (False) or modified (True) and notify listeners."""
        if dirty != self._dirty:
            self._dirty = dirty
            self._notify()

    # -- listeners ----------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(document)`` after every change."""
        self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener(self)

    # -- edits ----------------------------------------------------------------------------------
    def region(self, x: int, y: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Copies of the pixels (and alpha) of a rectangle."""
        px = self.pixels[y : y + height, x : x + width].copy()
        al = None if self.alpha is None else self.alpha[y : y + height, x : x + width].copy()
        return px, al

    def replace_region(self, x: int, y: int, pixels: np.ndarray, alpha: np.ndarray | None = None) -> None:
        """Write ``pixels`` (``(h, w, C)``) at ``(x, y)``; alpha too if given. Marks dirty."""
        h, w = pixels.shape[:2]
        if y < 0 or x < 0 or y + h > self.height or x + w > self.width:
            raise ValueError(f"region {x},{y},{w},{h} does not fit the {self.width}x{self.height} image")
        new_pixels = self.pixels.copy()
        new_pixels[y : y + h, x : x + w] = pixels
        new_alpha = self.alpha
        if alpha is not None and self.alpha is not None:
            new_alpha = self.alpha.copy()
            new_alpha[y : y + h, x : x + w] = alpha
        self._image = self._image.with_pixels(new_pixels, alpha=new_alpha)
        self._dirty = True
        self._notify()

    def replace_image(self, image: ImageDocument) -> None:
        """Swap the whole image (a size change such as super-resolution). Clears the selection
        if the size changed. Marks dirty."""
        if image.pixels.shape[:2] != self.pixels.shape[:2]:
            self.selection_mask = None
        self._image = image
        self._dirty = True
        self._notify()

    def mark_saved(self, path: Path) -> None:
        """After a successful save to ``path``."""
        self.path = Path(path)
        self._dirty = False
        self._notify()
