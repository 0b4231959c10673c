"""Display conversion, selection masks, the display pyramid and undo commands (exact numbers)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtGui import QImage

from engine.imageio.document import ImageDocument
from gui.canvas import DisplayPyramid
from gui.document import EditorDocument
from gui.history import EditHistory, RegionEditCommand, ReplaceImageCommand
from gui.qimage import CHECKER_DARK, CHECKER_LIGHT, from_qimage, to_qimage
from engine.core.types import Region
from gui.selection import Selection, SelectionTool


def _doc(pixels: np.ndarray, alpha: np.ndarray | None = None) -> ImageDocument:
    return ImageDocument(pixels.astype(np.float32), alpha, 8, None, None, "PNG")


def test_to_qimage_rgb8_roundtrip_exact(small_rgb: np.ndarray) -> None:
    image = to_qimage(small_rgb)
    assert image.format() == QImage.Format.Format_RGB888
    assert (image.width(), image.height()) == (53, 37)
    back = from_qimage(image)
    np.testing.assert_array_equal(np.rint(back * 255), np.rint(small_rgb * 255))


def test_to_qimage_gray16_keeps_16_bit_levels() -> None:
    gray = np.array([[[0.0], [1 / 65535], [0.5]]], np.float32)
    image = to_qimage(gray, bits=16)
    assert image.format() == QImage.Format.Format_Grayscale16
    row = np.frombuffer(image.constBits(), np.uint16, count=3)
    assert row.tolist() == [0, 1, 32768]


def test_alpha_composited_on_checkerboard() -> None:
    px = np.ones((16, 16, 3), np.float32)  # white
    alpha = np.zeros((16, 16), np.float32)
    alpha[:, 8:] = 1.0  # right half opaque
    back = from_qimage(to_qimage(px, alpha, checker_cell=4))
    assert back[0, 0, 0] == pytest.approx(round(CHECKER_LIGHT * 255) / 255)  # transparent: checker light
    assert back[0, 4, 0] == pytest.approx(round(CHECKER_DARK * 255) / 255)  # next cell: dark
    assert np.all(back[:, 8:] == 1.0)  # opaque white


def test_rectangle_mask_is_exact_and_feather_blurs() -> None:
    sel = Selection.rectangle(10, 5, 20, 8)
    mask = sel.mask(40, 30)
    assert mask.dtype == np.float32 and mask.shape == (30, 40)
    assert mask.sum() == 20 * 8 and mask[5:13, 10:30].min() == 1.0
    assert Region.bounding(mask) == Region(10, 5, 20, 8)
    soft = Selection.rectangle(10, 5, 20, 8, feather=2.0).mask(40, 30)
    assert 0.0 < soft[9, 8] < 1.0  # just outside the left edge is partly selected
    assert soft.sum() == pytest.approx(160, rel=0.02)  # blur preserves the mass away from borders
    inv = sel.invert().mask(40, 30)
    np.testing.assert_array_equal(inv, 1.0 - mask)


def test_ellipse_and_lasso_areas() -> None:
    ellipse = Selection.from_tool(SelectionTool.ELLIPSE, [(10, 10), (50, 50)])
    assert ellipse is not None
    assert ellipse.mask(64, 64).sum() == pytest.approx(math.pi * 20 * 20, rel=0.01)
    lasso = Selection.from_tool(SelectionTool.LASSO, [(0, 0), (40, 0), (0, 40)])
    assert lasso is not None
    assert lasso.mask(64, 64).sum() == pytest.approx(800, rel=0.01)  # right triangle 40x40/2
    assert Selection.from_tool(SelectionTool.RECTANGLE, [(3, 3), (3.2, 3.1)]) is None  # a click


def test_pyramid_level_choice_and_sizes() -> None:
    pyr = DisplayPyramid(np.zeros((2000, 3000, 3), np.float32))
    assert pyr.level_for_zoom(2.0) == 0 and pyr.level_for_zoom(1.0) == 0
    assert pyr.level_for_zoom(0.5) == 1 and pyr.level_for_zoom(0.3) == 1 and pyr.level_for_zoom(0.25) == 2
    assert pyr.level_for_zoom(0.001) == pyr.count - 1
    level2 = pyr.level(2)
    assert (level2.width(), level2.height()) == (750, 500)


def test_region_command_stores_one_copy_of_changed_box_and_undoes_exactly(small_rgb: np.ndarray) -> None:
    doc = EditorDocument(_doc(small_rgb))
    after = small_rgb.copy()
    after[10:14, 20:31] = 0.25
    history = EditHistory()
    cmd = RegionEditCommand.from_result(doc, after, "Tiny")
    assert cmd is not None and (cmd.x, cmd.y) == (20, 10)
    assert cmd.stored_bytes == 4 * 11 * 3 * 4  # one 4x11x3 float32 copy: the state not shown
    history.push(cmd)
    np.testing.assert_array_equal(doc.pixels, after)
    assert doc.dirty and history.undo_text() == "Tiny" and not history.can_redo()
    for _ in range(2):  # undo/redo swap the stored copy; twice checks the swap is stable
        history.undo()
        np.testing.assert_array_equal(doc.pixels, small_rgb)
        assert history.redo_text() == "Tiny" and cmd.stored_bytes == 4 * 11 * 3 * 4
        history.redo()
        np.testing.assert_array_equal(doc.pixels, after)
    assert RegionEditCommand.from_result(doc, after.copy(), "noop") is None


def test_replace_image_command_resizes_alpha_and_undoes(small_rgb: np.ndarray) -> None:
    alpha = np.full(small_rgb.shape[:2], 0.5, np.float32)
    doc = EditorDocument(_doc(small_rgb, alpha))
    selection = np.zeros(small_rgb.shape[:2], np.float32)
    selection[2:5, 3:9] = 1
    doc.selection_mask = selection
    big = np.zeros((74, 106, 3), np.float32)
    history = EditHistory()
    history.push(ReplaceImageCommand(doc, doc.image.with_pixels(big), "x2"))
    assert (doc.width, doc.height) == (106, 74) and doc.alpha is not None and doc.alpha.shape == (74, 106)
    assert doc.selection_mask is None
    history.undo()
    np.testing.assert_array_equal(doc.pixels, small_rgb)
    np.testing.assert_array_equal(doc.alpha, alpha)
    np.testing.assert_array_equal(doc.selection_mask, selection)
    history.redo()
    assert (doc.width, doc.height) == (106, 74)


class _Step:
    """A command of a given size that records the order of calls."""

    def __init__(self, name: str, nbytes: int, log: list[str]) -> None:
        self.text, self._nbytes, self._log = name, nbytes, log

    @property
    def stored_bytes(self) -> int:
        return self._nbytes

    def redo(self) -> None:
        self._log.append(f"redo {self.text}")

    def undo(self) -> None:
        self._log.append(f"undo {self.text}")


def test_history_forgets_oldest_steps_beyond_step_limit_and_memory_budget() -> None:
    log: list[str] = []
    history = EditHistory(max_steps=3, max_bytes=100)
    for i in range(5):
        history.push(_Step(f"s{i}", 30, log))
    assert history.count() == 3 and history.stored_bytes() == 90  # step limit
    history.push(_Step("big", 50, log))  # 30 + 30 + 50 > 100: two oldest go
    assert history.count() == 2 and history.stored_bytes() == 80
    history.push(_Step("huge", 500, log))  # over budget alone: still undoable
    assert history.count() == 1 and history.undo_text() == "huge"
    history.undo()
    assert not history.can_undo() and log[-1] == "undo huge"
    with pytest.raises(ValueError, match="max_steps"):
        EditHistory(max_steps=0)


def test_history_lower_limits_forget_only_applied_steps() -> None:
    log: list[str] = []
    history = EditHistory(max_steps=10)
    for name in "abcd":
        history.push(_Step(name, 10, log))
    history.undo()  # "d" is redoable
    changes: list[bool] = []
    history.changed.connect(lambda: changes.append(True))
    history.set_limits(max_steps=2, max_bytes=10**6)
    assert (history.count(), history.index(), history.undo_text(), history.redo_text()) == (2, 1, "c", "d")
    assert changes == [True]
    history.set_limits(max_steps=1, max_bytes=0)  # only the one applied step left: it stays
    assert (history.count(), history.index()) == (2, 1)


def test_history_clean_state_and_redo_tail() -> None:
    log: list[str] = []
    history = EditHistory(max_steps=2)
    cleanness: list[bool] = []
    history.clean_changed.connect(cleanness.append)
    history.push(_Step("a", 1, log))
    history.set_clean()
    history.push(_Step("b", 1, log))
    history.undo()
    assert history.is_clean() and cleanness == [False, True, False, True]
    history.push(_Step("c", 1, log))  # discards redoable "b"
    assert (history.count(), history.index(), history.can_redo()) == (2, 2, False)
    assert log == ["redo a", "redo b", "undo b", "redo c"]
    history.push(_Step("d", 1, log))  # "a" is forgotten; the state after it (saved) is the oldest
    history.undo()
    history.undo()
    assert not history.can_undo() and history.is_clean()
    history.clear()  # a new document: clean; then the saved state falls off the history
    for name in "xyz":
        history.push(_Step(name, 1, log))
    while history.can_undo():
        history.undo()
    assert history.undo_text() == "" and history.redo_text() == "y" and not history.is_clean()


def test_tiled_full_resolution_drawing_matches_single_image(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large images are converted tile by tile; at 100 % and 300 % the result is pixel-identical."""
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QPainter

    import gui.canvas as canvas_mod

    rng = np.random.default_rng(5)
    px = rng.random((70, 90, 3), dtype=np.float32)

    def render(tiled: bool, zoom: int) -> np.ndarray:
        monkeypatch.setattr(canvas_mod, "TILE", 32)
        monkeypatch.setattr(canvas_mod, "TILED_LEVEL0_PIXELS", 0 if tiled else 10**9)
        pyr = DisplayPyramid(px)
        assert pyr.tiled is tiled
        out = QImage(60 * zoom, 50 * zoom, QImage.Format.Format_RGB888)
        out.fill(0)
        painter = QPainter(out)
        pyr.draw(painter, QRectF(0, 0, 60 * zoom, 50 * zoom), QRectF(20, 10, 60, 50), float(zoom))
        painter.end()
        return from_qimage(out)

    for zoom in (1, 3):
        a, b = render(False, zoom), render(True, zoom)
        np.testing.assert_array_equal(a, b)
    expected = np.rint(px[10:60, 20:80] * 255) / 255
    np.testing.assert_allclose(render(True, 1), expected, atol=1e-6)
    crisp = np.repeat(np.repeat(expected, 3, axis=0), 3, axis=1)  # 300 %: each pixel a sharp 3x3 block
    np.testing.assert_allclose(render(True, 3), crisp, atol=1e-6)
