"""The main window's status bar fields: cursor position and pixel value, selection size, image
size, zoom, device and the last filter's time.

:class:`StatusFields` owns the labels and formats them; the window only hands it facts.
:func:`pixel_text` formats one pixel in the image's own scale (0-255 for 8-bit, 0-65535 for
16-bit, 0-1 for float). The time of the last filter is cleared whenever an image is opened or
closed, so it never describes another image.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QLabel, QStatusBar

CHANNEL_NAMES = {1: ("L",), 2: ("L", "A"), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}


def pixel_text(pixels: np.ndarray, alpha: np.ndarray | None, x: int, y: int, bit_depth: int) -> str:
    """``"R 12 G 200 B 7"`` (plus ``A``) for pixel ``(x, y)`` in the file's scale."""
    values = [float(v) for v in np.atleast_1d(pixels[y, x])]
    if alpha is not None:
        values.append(float(alpha[y, x]))
    names = CHANNEL_NAMES.get(len(values), tuple(f"C{i}" for i in range(len(values))))
    if bit_depth in (8, 16):
        top = 255 if bit_depth == 8 else 65535
        shown = [f"{int(np.floor(min(max(v, 0.0), 1.0) * top + 0.5))}" for v in values]
    else:
        shown = [f"{v:.4f}" for v in values]
    return " ".join(f"{n} {v}" for n, v in zip(names, shown, strict=False))


class StatusFields:
    """The permanent labels of a status bar, from left to right."""

    def __init__(self, bar: QStatusBar) -> None:
        self.cursor_label = QLabel()
        self.selection_label = QLabel()
        self.size_label = QLabel()
        self.zoom_label = QLabel()
        self.device_label = QLabel()
        self.time_label = QLabel()
        for label in (self.cursor_label, self.selection_label, self.size_label, self.zoom_label,
                      self.device_label, self.time_label):
            bar.addPermanentWidget(label)

    def show_cursor(self, text: str) -> None:
        """``"x, y: R .. G .. B .."`` under the mouse, or "" when it is off the image."""
        self.cursor_label.setText(text)

    def show_selection(self, size: tuple[int, int] | None) -> None:
        """The selection's bounding box size, or nothing without a selection."""
        self.selection_label.setText("" if size is None else f"Selection {size[0]} x {size[1]} px")

    def clear_timing(self) -> None:
        self.time_label.setText("")


__all__ = ["StatusFields", "pixel_text"]
