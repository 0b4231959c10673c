"""The filter dialog's preview: which part of the image it shows, and the widget that shows it.

:func:`preview_region` chooses the crop the preview computes: centred on the selection's
bounding box when there is a selection (so the preview always shows pixels that Apply will
change), else on the visible part of the canvas; at most ``side`` pixels a side, inside the image.

:class:`PreviewView` paints the preview fitted into its box and lets the user move and zoom
the region inside it: drag to pan (the picture follows the mouse, the dialog recomputes on
release through ``pan_finished(dx, dy)`` in image pixels) and the wheel or
:meth:`PreviewView.zoom_in`/:meth:`PreviewView.zoom_out` to step through :data:`PREVIEW_ZOOMS`
(``zoom_changed(zoom)``: the dialog shrinks the crop and the view enlarges it).
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from engine.core.types import Region

PREVIEW_ZOOMS: tuple[float, ...] = (1.0, 2.0, 4.0)
"""Display zooms of the preview: the crop is ``side / zoom`` image pixels shown ``zoom`` times larger."""


def clamp_rect(x: int, y: int, w: int, h: int, width: int, height: int) -> QRect:
    """A ``w`` x ``h`` rectangle moved (not shrunk, unless the image is smaller) to lie inside the image."""
    w, h = max(1, min(w, width)), max(1, min(h, height))
    x = min(max(0, x), width - w)
    y = min(max(0, y), height - h)
    return QRect(x, y, w, h)


def preview_region(
    visible: QRect,
    width: int,
    height: int,
    side: int,
    selection_box: Region | None = None,
) -> QRect:
    """The preview crop: ``side`` x ``side`` (clipped to the image), centred on the selection's
    bounding box when given, else on ``visible`` (empty: the whole image)."""
    if selection_box is not None:
        cx, cy = selection_box.x + selection_box.width // 2, selection_box.y + selection_box.height // 2
    else:
        if visible.isEmpty():
            visible = QRect(0, 0, width, height)
        cx, cy = visible.x() + visible.width() // 2, visible.y() + visible.height() // 2
        side_w, side_h = min(side, visible.width()), min(side, visible.height())
        return clamp_rect(cx - side_w // 2, cy - side_h // 2, side_w, side_h, width, height)
    return clamp_rect(cx - side // 2, cy - side // 2, side, side, width, height)


class PreviewView(QWidget):
    """Shows one preview image fitted into ``box`` pixels; drag pans, the wheel zooms."""

    pan_finished = Signal(int, int)  # dx, dy of the region, in image pixels
    zoom_changed = Signal(float)

    def __init__(self, box: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._box = box
        self._image: QImage | None = None
        self._source_size = QSize(1, 1)  # image pixels the shown picture covers (the crop)
        self._zoom_index = 0
        self._drag_start: QPoint | None = None
        self._drag = QPoint(0, 0)
        self.setMinimumSize(box // 2, box // 2)  # sizeHint asks for box x box (100 %); small screens shrink it
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.setToolTip("Drag to move the preview area; wheel to zoom")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(self._box, self._box)

    # -- content ---------------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        """The current display zoom (one of :data:`PREVIEW_ZOOMS`)."""
        return PREVIEW_ZOOMS[self._zoom_index]

    def set_image(self, image: QImage | None, source_size: QSize) -> None:
        """Show ``image``, which pictures ``source_size`` image pixels (the crop)."""
        self._image = image
        self._source_size = QSize(max(1, source_size.width()), max(1, source_size.height()))
        self._drag = QPoint(0, 0)
        self.update()

    def clear(self) -> None:
        self._image = None
        self.update()

    def target_rect(self) -> QRectF:
        """Where the picture is painted (fitted into the widget, centred, before any drag offset)."""
        if self._image is None:
            return QRectF()
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih, self._box / iw, self._box / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def image_pixels_per_screen_pixel(self) -> float:
        """Image (crop) pixels under one screen pixel of the painted picture."""
        target = self.target_rect()
        return self._source_size.width() / target.width() if target.width() > 0 else 1.0

    # -- zoom ------------------------------------------------------------------------------------
    def set_zoom_index(self, index: int) -> None:
        index = max(0, min(len(PREVIEW_ZOOMS) - 1, index))
        if index != self._zoom_index:
            self._zoom_index = index
            self.zoom_changed.emit(self.zoom)

    def zoom_in(self) -> None:
        self.set_zoom_index(self._zoom_index + 1)

    def zoom_out(self) -> None:
        self.set_zoom_index(self._zoom_index - 1)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt API
        delta = event.angleDelta().y() or event.pixelDelta().y()
        if delta > 0:
            self.zoom_in()
        elif delta < 0:
            self.zoom_out()
        event.accept()

    # -- pan -------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.MouseButton.LeftButton and self._image is not None:
            self._drag_start = event.position().toPoint()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if self._drag_start is not None:
            self._drag = event.position().toPoint() - self._drag_start
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if self._drag_start is None:
            return
        drag = event.position().toPoint() - self._drag_start
        self._drag_start = None
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        factor = self.image_pixels_per_screen_pixel()
        dx, dy = round(-drag.x() * factor), round(-drag.y() * factor)
        if dx or dy:
            self.pan_finished.emit(dx, dy)
        else:
            self._drag = QPoint(0, 0)
            self.update()

    # -- painting --------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), QColor(48, 48, 48))
            if self._image is None:
                return
            target = self.target_rect().translated(QPointF(self._drag))
            smooth = target.width() < self._image.width()
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
            painter.drawImage(target, self._image)
        finally:
            painter.end()


__all__ = ["PREVIEW_ZOOMS", "PreviewView", "clamp_rect", "preview_region"]
