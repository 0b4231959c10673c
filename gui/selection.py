"""Selections: rectangle, ellipse and lasso outlines turned into float masks.

A :class:`Selection` is an outline (a ``QPainterPath`` in image pixel coordinates, drawn as
marching ants by the canvas) plus a feather radius and an ``inverted`` flag. :meth:`mask`
rasterises it into a ``(H, W)`` float32 array in ``[0, 1]`` (1 = the filter applies fully),
antialiased, then blurred with a Gaussian of sigma ``feather`` pixels. ``None`` as the
document's selection means "the whole image".
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPolygonF

from engine.core.types import Region


class SelectionTool(str, enum.Enum):
    """Canvas tools: the hand pans; the others draw a selection outline."""

    HAND = "hand"
    RECTANGLE = "rectangle"
    ELLIPSE = "ellipse"
    LASSO = "lasso"


def path_for(tool: SelectionTool, points: Sequence[tuple[float, float]]) -> QPainterPath:
    """The outline a drag made with ``tool`` through ``points`` (image coordinates).

    Rectangle and ellipse use the first and last points as opposite corners; the lasso joins
    all points into a closed polygon. Fewer than 2 (3 for the lasso) points give an empty path.
    """
    path = QPainterPath()
    if tool in (SelectionTool.RECTANGLE, SelectionTool.ELLIPSE) and len(points) >= 2:
        (x0, y0), (x1, y1) = points[0], points[-1]
        rect = QRectF(QPointF(min(x0, x1), min(y0, y1)), QPointF(max(x0, x1), max(y0, y1)))
        if rect.width() >= 1 and rect.height() >= 1:
            if tool is SelectionTool.RECTANGLE:
                path.addRect(rect)
            else:
                path.addEllipse(rect)
    elif tool is SelectionTool.LASSO and len(points) >= 3:
        path.addPolygon(QPolygonF([QPointF(x, y) for x, y in points]))
        path.closeSubpath()
    return path


def rasterise(path: QPainterPath, width: int, height: int) -> np.ndarray:
    """Antialiased coverage of ``path`` as a ``(height, width)`` float32 array in [0, 1]."""
    image = QImage(width, height, QImage.Format.Format_Grayscale8)
    image.fill(0)
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(255, 255, 255))
        painter.drawPath(path)
    finally:
        painter.end()
    buf = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * height)
    return buf.reshape(height, image.bytesPerLine())[:, :width].astype(np.float32) / 255.0


def feather(mask: np.ndarray, radius: float) -> np.ndarray:
    """``mask`` blurred by a Gaussian of sigma ``radius`` pixels (unchanged for radius <= 0)."""
    if radius <= 0:
        return mask
    import cv2

    out = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigmaX=float(radius), borderType=cv2.BORDER_REPLICATE)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class Selection:
    """An outline in image coordinates, its feather radius and whether it is inverted."""

    path: QPainterPath
    feather: float = 0.0
    inverted: bool = False

    @classmethod
    def rectangle(cls, x: float, y: float, width: float, height: float, feather: float = 0.0) -> Selection:
        """A rectangular selection (``x``, ``y`` = top-left corner)."""
        path = QPainterPath()
        path.addRect(QRectF(x, y, width, height))
        return cls(path, feather)

    @classmethod
    def from_tool(cls, tool: SelectionTool, points: Sequence[tuple[float, float]], feather: float = 0.0) -> Selection | None:
        """The selection a drag made, or ``None`` if the drag was too small to enclose anything."""
        path = path_for(tool, points)
        return None if path.isEmpty() else cls(path, feather)

    def invert(self) -> Selection:
        """The complement of this selection (same outline)."""
        return Selection(self.path, self.feather, not self.inverted)

    def mask(self, width: int, height: int) -> np.ndarray:
        """The ``(height, width)`` float32 mask of this selection, feathered, in [0, 1]."""
        coverage = rasterise(self.path, width, height)
        if self.inverted:
            coverage = 1.0 - coverage
        return feather(coverage, self.feather)

    def bounding_box(self, width: int, height: int) -> Region | None:
        """The rectangle of the mask's non-zero pixels, or ``None`` if it selects nothing."""
        return Region.bounding(self.mask(width, height))
