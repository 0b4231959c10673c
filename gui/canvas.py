"""The image view: zoom, pan, compare split view, selection drawing with marching ants.

:class:`ImageCanvas` is a ``QAbstractScrollArea`` that paints the image itself:

- zoom with the wheel, anchored under the cursor (smooth: the factor follows the wheel
  delta), or with :meth:`zoom_in`/:meth:`zoom_out` through the usual stops
  (:data:`ZOOM_STOPS`: ..., 50, 66.7, 100, 150, 200, ... %), :meth:`fit` or :meth:`actual_size`;
- Fit never enlarges above 100 % and stays in force while the window is resized (a small
  image opened before the window reached its size grows up to 100 % with it) until the user
  zooms;
- an empty view says "Open or drop an image"; ``cursor_moved(x, y)`` reports the image pixel
  under the mouse (``-1, -1`` off the image) for the status bar;
- pan with the scroll bars, the hand tool, Space+drag or the middle button;
- pixels stay crisp above 100 % (no smoothing), are smoothed below;
- a checkerboard shows under transparent pixels (composited by :mod:`gui.qimage`);
- large images are drawn from a :class:`DisplayPyramid` level chosen by zoom (each level
  halves the previous one), and only the visible part of that level is drawn;
- compare mode shows the original left of a draggable split line; holding Backslash shows
  the original over the whole view;
- the rectangle, ellipse and lasso tools draw outlines; a finished drag emits
  ``selection_drawn(Selection | None)`` (``None``: a click without a drag = select none).
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QAbstractScrollArea, QWidget

from gui.qimage import downscale, to_qimage
from gui.selection import Selection, SelectionTool, path_for

MIN_ZOOM = 1.0 / 64
MAX_ZOOM = 64.0
ZOOM_STOPS: tuple[float, ...] = (
    1 / 64, 1 / 48, 1 / 32, 1 / 24, 1 / 16, 1 / 12, 1 / 8, 1 / 6, 1 / 4, 1 / 3, 1 / 2, 2 / 3,
    1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0,
)
"""Zoom In/Out steps: the usual editor stops (..., 25, 33.3, 50, 66.7, 100, 150, 200, 300 %, ...)."""
EMPTY_TEXT = "Open or drop an image"


def next_zoom_stop(zoom: float, direction: int) -> float:
    """The first stop above (``direction`` > 0) or below ``zoom``; stays at the end stops."""
    eps = 1e-6
    if direction > 0:
        return next((z for z in ZOOM_STOPS if z > zoom * (1 + eps)), ZOOM_STOPS[-1])
    return next((z for z in reversed(ZOOM_STOPS) if z < zoom * (1 - eps)), ZOOM_STOPS[0])
PYRAMID_MIN_SIDE = 256
TILE = 512
TILED_LEVEL0_PIXELS = 4_000_000
"""Above this many pixels, full resolution is converted for display tile by tile, on demand."""
BACKGROUND = QColor(48, 48, 48)


class DisplayPyramid:
    """Display ``QImage`` levels of one image: level ``k`` is the image shrunk by ``2**k``.

    Levels are built on first use and cached; level 0 is the full-resolution image.
    """

    def __init__(self, pixels: np.ndarray, alpha: np.ndarray | None = None, bits: int = 8) -> None:
        self.height, self.width = int(pixels.shape[0]), int(pixels.shape[1])
        self.pixels = pixels
        self._alpha = alpha
        self._bits = 16 if bits > 8 else 8
        self._levels: dict[int, QImage] = {}
        self._tiles: dict[tuple[int, int], QImage] = {}
        self.tiled = self.width * self.height > TILED_LEVEL0_PIXELS
        longest = max(self.width, self.height)
        self.count = 1 + max(0, int(math.floor(math.log2(max(1, longest) / PYRAMID_MIN_SIDE)))) if longest > PYRAMID_MIN_SIDE else 1

    def level_for_zoom(self, zoom: float) -> int:
        """The coarsest level that still has at least one image pixel per screen pixel."""
        if zoom >= 1.0:
            return 0
        k = int(math.floor(math.log2(1.0 / zoom)))
        return max(0, min(k, self.count - 1))

    def level(self, k: int) -> QImage:
        """The ``QImage`` of level ``k`` (built on first use)."""
        if k not in self._levels:
            factor = 2**k
            px = downscale(self.pixels, factor)
            al = None
            if self._alpha is not None:
                al = downscale(self._alpha[..., None], factor)[..., 0]
            self._levels[k] = to_qimage(px, al, bits=self._bits if k == 0 else 8)
        return self._levels[k]

    def tile(self, tx: int, ty: int) -> QImage:
        """Full-resolution display tile ``(tx, ty)`` of :data:`TILE` pixels (built on first use)."""
        key = (tx, ty)
        if key not in self._tiles:
            y0, x0 = ty * TILE, tx * TILE
            px = self.pixels[y0 : y0 + TILE, x0 : x0 + TILE]
            al = None if self._alpha is None else self._alpha[y0 : y0 + TILE, x0 : x0 + TILE]
            self._tiles[key] = to_qimage(px, al, bits=self._bits)
        return self._tiles[key]

    def _draw_tiles(self, painter: QPainter, target: QRectF, visible: QRectF) -> None:
        sx, sy = target.width() / visible.width(), target.height() / visible.height()
        tx0, ty0 = int(visible.left()) // TILE, int(visible.top()) // TILE
        tx1, ty1 = int(math.ceil(visible.right())) // TILE, int(math.ceil(visible.bottom())) // TILE
        for ty in range(ty0, ty1 + 1):
            for tx in range(tx0, tx1 + 1):
                part = QRectF(tx * TILE, ty * TILE, TILE, TILE).intersected(visible)
                if part.isEmpty():
                    continue
                dest = QRectF(
                    target.x() + (part.x() - visible.x()) * sx,
                    target.y() + (part.y() - visible.y()) * sy,
                    part.width() * sx,
                    part.height() * sy,
                )
                source = part.translated(-tx * TILE, -ty * TILE)
                painter.drawImage(dest, self.tile(tx, ty), source)

    def draw(self, painter: QPainter, target: QRectF, visible: QRectF, zoom: float) -> None:
        """Draw the part ``visible`` (image coordinates, already clipped) into ``target``."""
        k = self.level_for_zoom(zoom)
        if k == 0 and self.tiled:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, zoom < 1.0)
            self._draw_tiles(painter, target, visible)
            return
        image = self.level(k)
        sx, sy = image.width() / self.width, image.height() / self.height
        source = QRectF(visible.x() * sx, visible.y() * sy, visible.width() * sx, visible.height() * sy)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, zoom < 1.0)
        painter.drawImage(target, image, source)


class ImageCanvas(QAbstractScrollArea):
    """Scrollable, zoomable view of one image and its selection."""

    zoom_changed = Signal(float)
    selection_drawn = Signal(object)  # Selection | None
    compare_changed = Signal(bool)
    cursor_moved = Signal(int, int)  # image pixel under the mouse; -1, -1 off the image

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._current: DisplayPyramid | None = None
        self._original: DisplayPyramid | None = None
        self._zoom = 1.0
        self._tool = SelectionTool.RECTANGLE
        self.feather_radius = 0.0
        self._selection: Selection | None = None
        self._drag_points: list[tuple[float, float]] = []
        self._pan_anchor: QPoint | None = None
        self._space_down = False
        self._show_original = False
        self._compare = False
        self._split = 0.5
        self._dragging_split = False
        self._fit_mode = True
        self._ants_offset = 0
        self._ants = QTimer(self)
        self._ants.setInterval(150)
        self._ants.timeout.connect(self._march)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.viewport().setMouseTracking(True)
        self.setAcceptDrops(False)  # the main window handles drops

    # -- content -----------------------------------------------------------------------------
    def set_image(self, pixels: np.ndarray, alpha: np.ndarray | None = None, bits: int = 8, *, keep_view: bool = False) -> None:
        """Show new pixels; ``keep_view`` keeps zoom and scroll (after an edit), else fits."""
        size_changed = self._current is None or (self._current.width, self._current.height) != (pixels.shape[1], pixels.shape[0])
        self._current = DisplayPyramid(pixels, alpha, bits)
        if keep_view and not size_changed:
            self.viewport().update()
        else:
            self.fit()

    def set_original(self, pixels: np.ndarray | None, alpha: np.ndarray | None = None, bits: int = 8) -> None:
        """The "before" image shown by compare mode and while Backslash is held."""
        self._original = None if pixels is None else DisplayPyramid(pixels, alpha, bits)
        self.viewport().update()

    def clear(self) -> None:
        """Show nothing."""
        self._current = self._original = None
        self.set_selection(None)
        self._update_scrollbars()
        self.viewport().update()

    @property
    def original_pixels(self) -> np.ndarray | None:
        """The pixels compare shows as "before" (``None`` without an image)."""
        return None if self._original is None else self._original.pixels

    @property
    def image_size(self) -> tuple[int, int]:
        """``(width, height)`` of the shown image (0, 0 when empty)."""
        return (self._current.width, self._current.height) if self._current else (0, 0)

    # -- tools and selection -----------------------------------------------------------------
    @property
    def tool(self) -> SelectionTool:
        return self._tool

    def set_tool(self, tool: SelectionTool) -> None:
        """Choose what a left-button drag does."""
        self._tool = tool
        self._update_cursor()

    def set_selection(self, selection: Selection | None) -> None:
        """Outline to draw as marching ants (``None``: no selection)."""
        self._selection = selection
        if selection is None:
            self._ants.stop()
        elif not self._ants.isActive():
            self._ants.start()
        self.viewport().update()

    def _march(self) -> None:
        self._ants_offset = (self._ants_offset + 1) % 8
        self.viewport().update()

    # -- zoom ----------------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self._zoom

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom to ``zoom`` keeping the image point under ``anchor`` (viewport coords) fixed."""
        zoom = max(MIN_ZOOM, min(MAX_ZOOM, zoom))
        self._fit_mode = False
        if anchor is None:
            anchor = QPointF(self.viewport().width() / 2, self.viewport().height() / 2)
        fixed = self.view_to_image(anchor)
        self._zoom = zoom
        self._update_scrollbars()
        # scroll so that `fixed` lands under `anchor` again
        ox, oy = self._centering_offset()
        if ox == 0:
            self.horizontalScrollBar().setValue(round(fixed.x() * zoom - anchor.x()))
        if oy == 0:
            self.verticalScrollBar().setValue(round(fixed.y() * zoom - anchor.y()))
        self.viewport().update()
        self.zoom_changed.emit(self._zoom)

    def zoom_in(self) -> None:
        """The next larger of :data:`ZOOM_STOPS`."""
        self.set_zoom(next_zoom_stop(self._zoom, +1))

    def zoom_out(self) -> None:
        """The next smaller of :data:`ZOOM_STOPS`."""
        self.set_zoom(next_zoom_stop(self._zoom, -1))

    @property
    def fit_mode(self) -> bool:
        """True while Fit is in force (resizing the view re-fits); any zoom ends it."""
        return self._fit_mode

    def actual_size(self) -> None:
        """100 %: one image pixel per screen pixel."""
        self.set_zoom(1.0)

    def fit(self) -> None:
        """Zoom so the whole image fits the view (never above 100 %); stays fitted on resize."""
        self._fit_mode = True
        if self._current is None:
            self._zoom = 1.0
            self._update_scrollbars()
            return
        vw, vh = max(1, self.viewport().width()), max(1, self.viewport().height())
        z = min(vw / self._current.width, vh / self._current.height, 1.0)
        self._zoom = max(MIN_ZOOM, z)
        self._update_scrollbars()
        self.viewport().update()
        self.zoom_changed.emit(self._zoom)

    # -- compare ---------------------------------------------------------------------------
    @property
    def compare(self) -> bool:
        return self._compare

    def set_compare(self, enabled: bool) -> None:
        """Split view: original left of the split line, result right of it."""
        if enabled != self._compare:
            self._compare = enabled
            self.viewport().update()
            self.compare_changed.emit(enabled)

    @property
    def split(self) -> float:
        """Split line position as a fraction of the viewport width."""
        return self._split

    def set_split(self, fraction: float) -> None:
        self._split = max(0.0, min(1.0, fraction))
        self.viewport().update()

    @property
    def showing_original(self) -> bool:
        """True while Backslash is held."""
        return self._show_original

    # -- geometry ------------------------------------------------------------------------------
    def _centering_offset(self) -> tuple[float, float]:
        if self._current is None:
            return 0.0, 0.0
        cw, ch = self._current.width * self._zoom, self._current.height * self._zoom
        vw, vh = self.viewport().width(), self.viewport().height()
        return (max(0.0, (vw - cw) / 2), max(0.0, (vh - ch) / 2))

    def _origin(self) -> QPointF:
        """Viewport position of the image's top-left corner."""
        ox, oy = self._centering_offset()
        x = ox if ox > 0 else -self.horizontalScrollBar().value()
        y = oy if oy > 0 else -self.verticalScrollBar().value()
        return QPointF(x, y)

    def view_to_image(self, point: QPointF) -> QPointF:
        """Viewport coordinates -> image pixel coordinates."""
        o = self._origin()
        return QPointF((point.x() - o.x()) / self._zoom, (point.y() - o.y()) / self._zoom)

    def image_to_view(self, point: QPointF) -> QPointF:
        """Image pixel coordinates -> viewport coordinates."""
        o = self._origin()
        return QPointF(o.x() + point.x() * self._zoom, o.y() + point.y() * self._zoom)

    def visible_image_rect(self) -> QRect:
        """The part of the image currently visible, in image pixels (empty without an image)."""
        if self._current is None:
            return QRect()
        tl = self.view_to_image(QPointF(0, 0))
        br = self.view_to_image(QPointF(self.viewport().width(), self.viewport().height()))
        x0, y0 = max(0, math.floor(tl.x())), max(0, math.floor(tl.y()))
        x1 = min(self._current.width, math.ceil(br.x()))
        y1 = min(self._current.height, math.ceil(br.y()))
        return QRect(x0, y0, max(0, x1 - x0), max(0, y1 - y0))

    def _update_scrollbars(self) -> None:
        w, h = self.image_size
        vw, vh = self.viewport().width(), self.viewport().height()
        cw, ch = int(math.ceil(w * self._zoom)), int(math.ceil(h * self._zoom))
        for bar, content, view in ((self.horizontalScrollBar(), cw, vw), (self.verticalScrollBar(), ch, vh)):
            bar.setRange(0, max(0, content - view))
            bar.setPageStep(max(1, view))
            bar.setSingleStep(max(1, view // 20))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if self._fit_mode and self._current is not None:
            self.fit()
        else:
            self._update_scrollbars()

    def scrollContentsBy(self, dx: int, dy: int) -> None:  # noqa: N802 - Qt API
        self.viewport().update()

    # -- painting ------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self.viewport())
        try:
            painter.fillRect(self.viewport().rect(), BACKGROUND)
            if self._current is None:
                painter.setPen(QColor(190, 190, 190))
                font = painter.font()
                font.setPointSizeF(font.pointSizeF() * 1.6)
                painter.setFont(font)
                painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, EMPTY_TEXT)
                return
            visible = QRectF(self.visible_image_rect())
            if visible.isEmpty():
                return
            target = QRectF(self.image_to_view(visible.topLeft()), self.image_to_view(visible.bottomRight()))
            if self._show_original and self._original is not None:
                self._draw_scaled(painter, self._original, target, visible)
            elif self._compare and self._original is not None:
                split_x = self.viewport().width() * self._split
                painter.save()
                painter.setClipRect(QRectF(0, 0, split_x, self.viewport().height()))
                self._draw_scaled(painter, self._original, target, visible)
                painter.setClipRect(QRectF(split_x, 0, self.viewport().width() - split_x, self.viewport().height()))
                self._current.draw(painter, target, visible, self._zoom)
                painter.restore()
                painter.setPen(QPen(QColor(255, 255, 255), 2))
                painter.drawLine(QPointF(split_x, 0), QPointF(split_x, self.viewport().height()))
                self._paint_split_labels(painter, split_x)
            else:
                self._current.draw(painter, target, visible, self._zoom)
            self._paint_selection(painter)
        finally:
            painter.end()

    def _paint_split_labels(self, painter: QPainter, split_x: float) -> None:
        """"Original" and "Result" tags on either side of the split line."""
        metrics = painter.fontMetrics()
        for text, right_aligned in (("Original", True), ("Result", False)):
            w = metrics.horizontalAdvance(text) + 12
            h = metrics.height() + 6
            x = split_x - w - 6 if right_aligned else split_x + 6
            box = QRectF(x, 8, w, h)
            painter.fillRect(box, QColor(0, 0, 0, 150))
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _draw_scaled(self, painter: QPainter, layer: DisplayPyramid, target: QRectF, visible: QRectF) -> None:
        """Draw ``layer`` stretched over the current image's geometry (sizes may differ)."""
        if self._current is None:
            return
        fx, fy = layer.width / self._current.width, layer.height / self._current.height
        v = QRectF(visible.x() * fx, visible.y() * fy, visible.width() * fx, visible.height() * fy)
        layer.draw(painter, target, v, self._zoom / max(fx, 1e-9))

    def _paint_selection(self, painter: QPainter) -> None:
        path = QPainterPath()
        if self._drag_points and self._tool is not SelectionTool.HAND:
            path = path_for(self._tool, self._drag_points)
            if self._tool is SelectionTool.LASSO and len(self._drag_points) >= 2:
                path = QPainterPath()
                path.moveTo(QPointF(*self._drag_points[0]))
                for p in self._drag_points[1:]:
                    path.lineTo(QPointF(*p))
        elif self._selection is not None:
            path = self._selection.path
        if path.isEmpty():
            return
        o = self._origin()
        painter.save()
        painter.translate(o)
        painter.scale(self._zoom, self._zoom)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        white = QPen(QColor(255, 255, 255), 0)
        painter.setPen(white)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        black = QPen(QColor(0, 0, 0), 0)
        black.setDashPattern([4, 4])
        black.setDashOffset(self._ants_offset)
        painter.setPen(black)
        painter.drawPath(path)
        painter.restore()

    # -- input ---------------------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt API
        delta = event.angleDelta().y() or event.pixelDelta().y()
        if delta == 0 or self._current is None:
            return super().wheelEvent(event)
        self.set_zoom(self._zoom * (2.0 ** (delta / 480.0)), event.position())
        event.accept()

    def _panning_requested(self, event: QMouseEvent) -> bool:
        return (
            event.button() == Qt.MouseButton.MiddleButton
            or self._space_down
            or (self._tool is SelectionTool.HAND and event.button() == Qt.MouseButton.LeftButton)
        )

    def _near_split(self, x: float) -> bool:
        return self._compare and abs(x - self.viewport().width() * self._split) <= 6

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if self._current is None:
            return
        if self._panning_requested(event):
            self._pan_anchor = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        elif event.button() == Qt.MouseButton.LeftButton and self._near_split(event.position().x()):
            self._dragging_split = True
        elif event.button() == Qt.MouseButton.LeftButton:
            p = self.view_to_image(event.position())
            self._drag_points = [(p.x(), p.y())]
        event.accept()

    def _report_cursor(self, point: QPointF) -> None:
        w, h = self.image_size
        p = self.view_to_image(point)
        x, y = math.floor(p.x()), math.floor(p.y())
        inside = self._current is not None and 0 <= x < w and 0 <= y < h
        self.cursor_moved.emit(x if inside else -1, y if inside else -1)

    def viewportEvent(self, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Leave:
            self.cursor_moved.emit(-1, -1)
        return super().viewportEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        self._report_cursor(event.position())
        if self._pan_anchor is not None:
            d = event.position().toPoint() - self._pan_anchor
            self._pan_anchor = event.position().toPoint()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - d.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - d.y())
        elif self._dragging_split:
            self.set_split(event.position().x() / max(1, self.viewport().width()))
        elif self._drag_points:
            p = self.view_to_image(event.position())
            if self._tool is SelectionTool.LASSO:
                self._drag_points.append((p.x(), p.y()))
            else:
                self._drag_points = [self._drag_points[0], (p.x(), p.y())]
            self.viewport().update()
        else:
            self._update_cursor(event.position().x())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if self._pan_anchor is not None:
            self._pan_anchor = None
            self._update_cursor()
        elif self._dragging_split:
            self._dragging_split = False
        elif self._drag_points:
            points, self._drag_points = self._drag_points, []
            if self._tool is not SelectionTool.LASSO and len(points) == 2:
                w, h = self.image_size
                points = [(min(max(x, 0.0), w), min(max(y, 0.0), h)) for x, y in points]
            self.selection_drawn.emit(Selection.from_tool(self._tool, points, self.feather_radius))
            self.viewport().update()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        if event.isAutoRepeat():
            return super().keyPressEvent(event)
        if event.key() == Qt.Key.Key_Space:
            self._space_down = True
            self._update_cursor()
        elif event.key() == Qt.Key.Key_Backslash:
            self._show_original = True
            self.viewport().update()
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        if event.isAutoRepeat():
            return super().keyReleaseEvent(event)
        if event.key() == Qt.Key.Key_Space:
            self._space_down = False
            self._update_cursor()
        elif event.key() == Qt.Key.Key_Backslash:
            self._show_original = False
            self.viewport().update()
        else:
            super().keyReleaseEvent(event)

    def _update_cursor(self, x: float | None = None) -> None:
        if self._space_down or self._tool is SelectionTool.HAND:
            shape = Qt.CursorShape.OpenHandCursor
        elif x is not None and self._near_split(x):
            shape = Qt.CursorShape.SplitHCursor
        else:
            shape = Qt.CursorShape.CrossCursor
        self.viewport().setCursor(shape)
