"""Issue 16: the app as a photographer meets it (preview region, save types, compare, devices,
batch dialog state, no-filter banner, keyboard focus, and the basics of a photo editor)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from gui.filter_dialog import PREVIEW_MAX, FilterDialog
from gui.main_window import MainWindow
from gui.selection import Selection


def _big_photo(tmp_path: Path, size: int = 512) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:size, 0:size]
    base = np.stack([xx % 256, yy % 256, (xx + yy) % 256], axis=-1).astype(np.float64)
    noisy = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    path = tmp_path / "big.png"
    Image.fromarray(noisy).save(path)
    return path, noisy.astype(np.float32) / 255.0


def _open_dialog(window: MainWindow, plugin_id: str = "tiny") -> FilterDialog:
    window.filter_actions[plugin_id].trigger()
    dialog = window.filter_dialog
    assert dialog is not None
    return dialog


# -- item 1: the preview shows what Apply will do ------------------------------------------------
def test_preview_centres_on_selection_and_leaves_unselected_pixels(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    path, original = _big_photo(tmp_path)
    assert window.open_file(path)
    window.set_selection(Selection.rectangle(0, 0, 40, 40))
    mask = window.selection_mask()
    dialog = _open_dialog(window)
    crop = dialog.crop
    assert (crop.x(), crop.y(), crop.width(), crop.height()) == (0, 0, PREVIEW_MAX, PREVIEW_MAX)  # clamped at the corner
    with qtbot.waitSignal(dialog.preview_ready, timeout=20000):
        pass
    preview = dialog.preview_result
    before = original[:PREVIEW_MAX, :PREVIEW_MAX]
    inside = mask[:PREVIEW_MAX, :PREVIEW_MAX] > 0
    changed = np.any(preview != before, axis=-1)
    assert changed[~inside].sum() == 0  # unselected pixels stay unfiltered in the preview
    assert changed[inside].mean() > 0.9
    assert "outside the selection stay unfiltered" in dialog.preview_note.text()
    assert dialog.preview_status.text().startswith("Preview:")  # timing has its own line; the note stays

    # Apply changes exactly the pixels the preview changed
    with qtbot.waitSignal(dialog.applied, timeout=20000):
        dialog.start_apply()
    after = window.document.pixels
    np.testing.assert_array_equal(np.any(after != original, axis=-1)[:PREVIEW_MAX, :PREVIEW_MAX], changed)
    np.testing.assert_allclose(after[:PREVIEW_MAX, :PREVIEW_MAX], preview, atol=1e-5)


def test_preview_pans_and_zooms_and_says_when_the_area_has_no_selection(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    path, original = _big_photo(tmp_path)
    assert window.open_file(path)
    window.set_selection(Selection.rectangle(0, 0, 40, 40))
    dialog = _open_dialog(window)
    with qtbot.waitSignal(dialog.preview_ready, timeout=20000):
        pass
    view = dialog.preview_view
    qtbot.waitExposed(dialog)
    factor = view.image_pixels_per_screen_pixel()
    start = view.rect().center()
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view, pos=start - QPoint(100, 0))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=start - QPoint(100, 0))
    assert dialog.crop.x() == min(512 - PREVIEW_MAX, round(100 * factor))  # dragging left moves the area right
    dialog.pan_preview(512, 512)  # to the far corner: no selected pixel there
    assert (dialog.crop.x(), dialog.crop.y()) == (512 - PREVIEW_MAX, 512 - PREVIEW_MAX)
    qtbot.waitUntil(lambda: "outside the preview area" in dialog.preview_note.text(), timeout=5000)
    assert "nothing here changes" in dialog.preview_note.text()
    np.testing.assert_array_equal(dialog.shown_preview(), original[128:, 128:])
    view.zoom_in()
    assert view.zoom == 2.0 and dialog.crop.width() == PREVIEW_MAX // 2
    centre = dialog.crop.center()
    assert (centre.x(), centre.y()) == pytest.approx((320, 320), abs=2)  # zoom keeps the centre


def test_preview_before_after_toggle(qtbot, window: MainWindow, photo) -> None:  # noqa: ANN001
    path, original = photo
    assert window.open_file(path)
    dialog = _open_dialog(window)
    with qtbot.waitSignal(dialog.preview_ready, timeout=20000):
        pass
    assert not np.array_equal(dialog.shown_preview(), original)
    dialog.show_before.setChecked(True)
    np.testing.assert_array_equal(dialog.shown_preview(), original)
